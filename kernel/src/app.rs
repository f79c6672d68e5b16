//! The application entry: what a firmware built on memfw runs once memory management is up on
//! every CPU, and the [`Kernel`] handle it gets.
//!
//! An image runs exactly one [`App`]. [`crate::start_kernel`] brings the machine up (memblock,
//! `paging_init`, zones, the buddy allocator, per-CPU pagesets, slab, vmalloc, SMP), then calls
//! [`App::main`] on the boot CPU with a [`Kernel`]; the value it returns ends the run through
//! the platform's exit device ([`crate::Firmware::exit`], after the `exit:` frame of
//! [`crate::log_exit`]): `Ok` is a success, `Err` a failure whose reason is logged first.
//!
//! ```no_run
//! use kernel::app::{App, AppResult, Kernel};
//!
//! fn hello(k: &Kernel) -> AppResult {
//!     defmt::info!("hello from CPU{=usize} of {=usize}", k.cpu_id(), k.online_cpus());
//!     Ok(())
//! }
//!
//! pub static APP: App = App::new("hello", hello);
//! ```
//!
//! What the handle offers, each with Linux's name where the concept is Linux's:
//! - `alloc` (`Box`, `Vec`, `BTreeMap`) works on every CPU without the handle: the slab
//!   allocator is the `#[global_allocator]`;
//! - pages: [`Kernel::alloc_pages`] / [`Kernel::free_pages`] with a [`Gfp`], and
//!   [`Kernel::kmap`] to reach any page of a block (x86-32 HighMem through the CPU's own
//!   `kmap_atomic` slots);
//! - [`Kernel::vmalloc`] / [`Kernel::vfree`] (the other CPUs' TLBs are shot down on x86);
//! - CPUs: [`Kernel::call_on`], [`Kernel::on_each_cpu`], [`Kernel::cpu_id`],
//!   [`Kernel::numa_node_id`], [`crate::percpu::PerCpu`] for typed per-CPU variables;
//! - time: [`Kernel::now_ns`] and [`Kernel::delay`] (`embedded-hal`'s `DelayNs`);
//! - boot facts: [`Kernel::memory_regions`], [`Kernel::reserved_regions`], [`Kernel::zones`],
//!   [`Kernel::cmdline`], [`Kernel::board`].
//!
//! The handle is `Sync`: a closure given to [`Kernel::on_each_cpu`] may use it on every CPU.
#![allow(unsafe_code)]

pub use page_alloc::cma::CmaArea;
pub use page_alloc::{Gfp, Migratetype, ZoneType, MAX_ORDER};
/// Bytes in a page (4 KiB on every platform).
pub const PAGE_SIZE: u64 = mm_types::PAGE_SIZE;

pub use crate::smp::CallError;
use crate::{clock, percpu};

/// What an application returns: `Ok(())` ends the run with success, `Err` with failure.
pub type AppResult = Result<(), AppError>;

/// Why an application failed: one sentence, logged as `app NAME: failed: WHY` before the run
/// ends with the failure status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppError(pub &'static str);

impl From<&'static str> for AppError {
    fn from(why: &'static str) -> Self {
        Self(why)
    }
}

impl core::fmt::Display for AppError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0)
    }
}

/// An application: its name (printed when it starts and ends) and its entry.
///
/// ```
/// use kernel::app::{App, Kernel, AppResult};
/// fn noop(_k: &Kernel) -> AppResult { Ok(()) }
/// static APP: App = App::new("noop", noop);
/// assert_eq!(APP.name, "noop");
/// assert!(!APP.boot_selfchecks);
/// assert!(APP.with_boot_selfchecks().boot_selfchecks);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct App {
    /// The name `cargo xtask run --app` uses.
    pub name: &'static str,
    /// Runs on the boot CPU once memory management is up on every CPU; the run ends with
    /// what it returns.
    pub main: fn(&Kernel) -> AppResult,
    /// Run the boot path's own self-checks at the points of the boot where they must run (the
    /// buddy drain/restore check and the buddy self-test before the allocator goes behind its
    /// lock, x86's HighMem `kmap` check in `paging_init`). Only the self-test application asks
    /// for them; [`App::new`] leaves them off.
    pub boot_selfchecks: bool,
}

impl App {
    /// An application without the boot self-checks.
    pub const fn new(name: &'static str, main: fn(&Kernel) -> AppResult) -> Self {
        Self { name, main, boot_selfchecks: false }
    }

    /// The same application with the boot self-checks on (see [`App::boot_selfchecks`]).
    pub const fn with_boot_selfchecks(self) -> Self {
        Self { boot_selfchecks: true, ..self }
    }
}

/// What the handle needs from the platform, as plain functions (the platform's associated
/// functions, taken once by `start_kernel`), so that applications are not generic.
#[derive(Clone, Copy)]
pub(crate) struct Ops {
    pub irq_save: fn() -> usize,
    pub irq_restore: fn(usize),
    pub kmap_local: fn(u64) -> Option<usize>,
    pub kunmap_local: fn(usize) -> Result<(), &'static str>,
    pub vmalloc: fn(&page_alloc::PageAllocator<'_>, usize, i32, usize) -> Result<usize, &'static str>,
    pub vfree: fn(&page_alloc::PageAllocator<'_>, usize, usize) -> Result<(), &'static str>,
    pub kick_cpu: fn(u64),
}

/// A memblock region as it stood when memblock handed its memory to the buddy allocator:
/// `[base, base + size)`, its node and flags.
pub type Region = memblock::Region;

/// Most regions of each memblock type [`Kernel::memory_regions`] keeps.
pub const MAX_BOOT_REGIONS: usize = 128;

/// memblock's final state, copied before the hand-off.
#[derive(Debug)]
pub(crate) struct BootRegions {
    pub memory: heapless::Vec<Region, MAX_BOOT_REGIONS>,
    pub reserved: heapless::Vec<Region, MAX_BOOT_REGIONS>,
}

/// One populated zone: where it is, what it manages and what is free now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneInfo {
    /// NUMA node.
    pub nid: i32,
    /// Which zone (`DMA`, `Normal`, `HighMem`, …: [`ZoneType::name`]).
    pub zone: ZoneType,
    /// First page frame spanned (`zone_start_pfn`).
    pub start_pfn: u64,
    /// Page frames spanned, holes included.
    pub spanned_pages: u64,
    /// Pages the buddy allocator manages (`managed_pages`).
    pub managed_pages: u64,
    /// Free pages in the buddy lists plus pages on the per-CPU lists (exact when no other CPU
    /// allocates meanwhile).
    pub free_pages: u64,
    /// The `min` watermark: pages ordinary allocations leave free (`min_free_kbytes` share).
    pub min_watermark: u64,
}

/// Physically contiguous pages: a block of `2^order` pages from [`Kernel::alloc_pages`], or a
/// range of a CMA area from [`Kernel::cma_alloc`]. Owning one is what allows mapping its pages
/// ([`Kernel::kmap`]); give it back with [`Kernel::free_pages`].
#[derive(Debug, PartialEq, Eq)]
pub struct Pages {
    pfn: u64,
    nr_pages: u64,
    from: Source,
}

/// Where a [`Pages`] came from, so that [`Kernel::free_pages`] gives it back there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Buddy { order: u32 },
    Cma { area: usize },
}

impl Pages {
    /// The first page frame number.
    pub fn pfn(&self) -> u64 {
        self.pfn
    }
    /// `log2` of the number of pages of a buddy block; `None` for a CMA range.
    pub fn order(&self) -> Option<u32> {
        match self.from {
            Source::Buddy { order } => Some(order),
            Source::Cma { .. } => None,
        }
    }
    /// Number of pages.
    pub fn nr_pages(&self) -> u64 {
        self.nr_pages
    }
    /// Physical address of the first byte.
    pub fn phys(&self) -> u64 {
        self.pfn << mm_types::PAGE_SHIFT
    }
    /// Size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.nr_pages() << mm_types::PAGE_SHIFT
    }
}

/// Number of `usize` words in a page.
pub const WORDS_PER_PAGE: usize = mm_types::PAGE_SIZE as usize / core::mem::size_of::<usize>();

/// One page of a block mapped on the calling CPU ([`Kernel::kmap`]); unmapped when dropped
/// (`kunmap_local`). Word accesses are volatile: each is a real load or store of memory, which
/// a memory tester needs. Nested mappings must be dropped in reverse order. A mapping belongs
/// to the CPU that made it (x86-32 HighMem: one of that CPU's own slots), so it is neither
/// `Send` nor `Sync`.
#[derive(Debug)]
pub struct Kmap<'p> {
    virt: usize,
    phys: u64,
    unmap: fn(usize) -> Result<(), &'static str>,
    _block: core::marker::PhantomData<&'p mut Pages>,
    /// Keeps the guard on its CPU (raw pointers are neither `Send` nor `Sync`).
    _this_cpu: core::marker::PhantomData<*const ()>,
}

impl Kmap<'_> {
    /// The kernel virtual address of the page.
    pub fn addr(&self) -> usize {
        self.virt
    }
    /// The physical address of the page.
    pub fn phys(&self) -> u64 {
        self.phys
    }
    /// Writes the page's words from `words`, in order, until the page is full or `words` ends
    /// (one volatile store each: the loop a memory tester spends its time in).
    #[inline]
    pub fn fill(&mut self, words: impl Iterator<Item = usize>) {
        let p = self.virt as *mut usize;
        for (i, v) in (0..WORDS_PER_PAGE).zip(words) {
            // SAFETY: as in `write`, for every word of the page (`i < WORDS_PER_PAGE`).
            unsafe { core::ptr::write_volatile(p.add(i), v) }
        }
    }

    /// Compares the page's words with `expected`, in order (one volatile load each), and calls
    /// `bad(index, expected, found)` for each word that differs; returns how many did.
    #[inline]
    pub fn verify(&self, expected: impl Iterator<Item = usize>, mut bad: impl FnMut(usize, usize, usize)) -> u64 {
        let p = self.virt as *const usize;
        let mut n = 0;
        for (i, want) in (0..WORDS_PER_PAGE).zip(expected) {
            // SAFETY: as in `read`, for every word of the page (`i < WORDS_PER_PAGE`).
            let found = unsafe { core::ptr::read_volatile(p.add(i)) };
            if found != want {
                n += 1;
                bad(i, want, found);
            }
        }
        n
    }

    /// Reads word `i` (`0..WORDS_PER_PAGE`).
    ///
    /// # Panics
    /// If `i` is outside the page.
    pub fn read(&self, i: usize) -> usize {
        assert!(i < WORDS_PER_PAGE, "word {i} is outside the page");
        // SAFETY: `virt` maps the whole page (kmap_local) and the page belongs to the block the
        // caller owns exclusively (`&mut Pages` borrowed for the guard's lifetime); `i` is in
        // the page and word-aligned.
        unsafe { core::ptr::read_volatile((self.virt as *const usize).add(i)) }
    }
    /// Writes word `i` (`0..WORDS_PER_PAGE`).
    ///
    /// # Panics
    /// If `i` is outside the page.
    pub fn write(&mut self, i: usize, v: usize) {
        assert!(i < WORDS_PER_PAGE, "word {i} is outside the page");
        // SAFETY: as in `read`; the guard is borrowed mutably, so no other access aliases it.
        unsafe { core::ptr::write_volatile((self.virt as *mut usize).add(i), v) }
    }
}

/// ```compile_fail,E0277
/// fn send<T: Send>(_: T) {}
/// fn f(k: &kernel::app::Kernel, block: &mut kernel::app::Pages) {
///     send(k.kmap(block, 0)); // a mapping cannot move to another CPU
/// }
/// ```
const _KMAP_IS_NOT_SEND: () = ();

impl Drop for Kmap<'_> {
    fn drop(&mut self) {
        if let Err(why) = (self.unmap)(self.virt) {
            defmt::error!("kunmap_local of {=u64:#x}: {=str}", self.virt as u64, why);
        }
    }
}

/// A virtually contiguous area from [`Kernel::vmalloc`]; give it back with [`Kernel::vfree`].
#[derive(Debug, PartialEq, Eq)]
pub struct VmArea {
    addr: usize,
    size: usize,
}

impl VmArea {
    /// Its kernel virtual address.
    pub fn addr(&self) -> usize {
        self.addr
    }
    /// Its size in bytes (what was asked; the mapping is page-granular).
    pub fn len(&self) -> usize {
        self.size
    }
    /// Whether it is empty (never: `vmalloc(0)` is refused).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    /// The area as bytes, for reading (on any CPU: a closure may borrow the area).
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: as in `as_mut_slice`; the shared borrow of the area excludes a mutable one.
        unsafe { core::slice::from_raw_parts(self.addr as *const u8, self.size) }
    }

    /// The area as bytes.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: vmalloc mapped [addr, addr + size) read-write for this area alone, and it stays
        // mapped until `vfree` consumes the `VmArea`; the slice borrows the area mutably.
        unsafe { core::slice::from_raw_parts_mut(self.addr as *mut u8, self.size) }
    }
}

/// The handle an application gets: the machine with memory management up on every CPU.
pub struct Kernel {
    pub(crate) allocator: &'static page_alloc::PageAllocator<'static>,
    pub(crate) ops: Ops,
    pub(crate) regions: &'static BootRegions,
    pub(crate) cma: &'static page_alloc::cma::CmaAreas,
    pub(crate) cmdline: &'static str,
    pub(crate) board: &'static crate::board::BoardConfig,
}

impl core::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Kernel").field("board", &self.board.name).field("online_cpus", &self.online_cpus()).finish_non_exhaustive()
    }
}

impl Kernel {
    /// Allocates `2^order` contiguous pages on the calling CPU (its per-CPU lists for orders up
    /// to 3), preferring the CPU's node (Linux `alloc_pages`). HighMem pages (x86-32, with
    /// `gfp.highest_zone = ZoneType::HighMem`) have no permanent mapping: use [`Kernel::kmap`].
    ///
    /// ```no_run
    /// # fn f(k: &kernel::app::Kernel) -> Result<(), page_alloc::AllocError> {
    /// use kernel::app::Gfp;
    /// let block = k.alloc_pages(2, Gfp::KERNEL)?; // 4 pages
    /// assert_eq!(block.nr_pages(), 4);
    /// k.free_pages(block).expect("a block the allocator handed out");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`page_alloc::AllocError`]: no block of that order left above the watermarks, or an order
    /// of `MAX_ORDER` (11) or more.
    pub fn alloc_pages(&self, order: u32, gfp: Gfp) -> Result<Pages, page_alloc::AllocError> {
        let irq = (self.ops.irq_save)();
        let r = self.allocator.alloc_pages(percpu::smp_processor_id(), percpu::numa_node_id(), gfp, order);
        (self.ops.irq_restore)(irq);
        Ok(Pages { pfn: r?.0, nr_pages: 1 << order, from: Source::Buddy { order } })
    }

    /// The CMA areas (Linux `cma_areas[]`): device-tree `linux,cma`/reusable pools and the
    /// default area; empty where the architecture has no CMA (x86-32, as Debian's kernel).
    pub fn cma_areas(&self) -> &[CmaArea] {
        self.cma.areas()
    }

    /// `count` contiguous pages of CMA area `area` (an index into [`Kernel::cma_areas`]): the
    /// lowest free range (Linux `cma_alloc`). CMA pageblocks serve only this: ordinary
    /// allocations never take them, since memfw cannot migrate pages out of the way.
    ///
    /// ```no_run
    /// # fn f(k: &kernel::app::Kernel) -> Result<(), &'static str> {
    /// if let Some(area) = k.cma_areas().first() {
    ///     let range = k.cma_alloc(0, area.count())?; // the whole area
    ///     k.free_pages(range)?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A sentence: no such area, or no free range of `count` pages in it.
    pub fn cma_alloc(&self, area: usize, count: u64) -> Result<Pages, &'static str> {
        let a = self.cma.areas().get(area).ok_or("cma_alloc: no such CMA area")?;
        let irq = (self.ops.irq_save)();
        let r = self.allocator.with_nodes(|ns| ns.cma_alloc(a, count, 0, &mut crate::DefmtSink));
        (self.ops.irq_restore)(irq);
        let pfn = r.map_err(|_| "cma_alloc: no free range of that size in the area")?;
        Ok(Pages { pfn: pfn.0, nr_pages: count, from: Source::Cma { area } })
    }

    /// Gives pages back: a buddy block to the calling CPU's lists (Linux `__free_pages`), a CMA
    /// range to its area (`cma_release`).
    ///
    /// # Errors
    /// A sentence when the allocator refuses them (it cannot, for a [`Pages`] it handed out: the
    /// check is kept so that a corrupted allocator is reported).
    pub fn free_pages(&self, block: Pages) -> Result<(), &'static str> {
        let irq = (self.ops.irq_save)();
        let r = match block.from {
            Source::Buddy { order } => self
                .allocator
                .free_pages(percpu::smp_processor_id(), page_alloc::Pfn(block.pfn), order)
                .map_err(|_| "free_pages: the allocator refused the block"),
            Source::Cma { area } => match self.cma.areas().get(area) {
                Some(a) => match self.allocator.with_nodes(|ns| ns.cma_release(a, page_alloc::Pfn(block.pfn), block.nr_pages)) {
                    Ok(true) => Ok(()),
                    _ => Err("cma_release: the area refused the range"),
                },
                None => Err("cma_release: no such CMA area"),
            },
        };
        (self.ops.irq_restore)(irq);
        r
    }

    /// Maps page `index` of `block` on the calling CPU (Linux `kmap_local_page`): the linear map
    /// where it reaches, else (x86-32 HighMem) one of this CPU's own `kmap_atomic` slots, so
    /// every CPU can map pages at once. `None` when `index` is outside the block or the CPU's
    /// slots are all in use.
    ///
    /// ```no_run
    /// # fn f(k: &kernel::app::Kernel) {
    /// use kernel::app::{Gfp, ZoneType};
    /// let gfp = Gfp { highest_zone: ZoneType::HighMem, ..Gfp::HIGHUSER };
    /// let mut block = k.alloc_pages(0, gfp).unwrap();
    /// {
    ///     let mut page = k.kmap(&mut block, 0).unwrap();
    ///     page.write(0, 0x5a5a);
    ///     assert_eq!(page.read(0), 0x5a5a);
    /// } // kunmap
    /// k.free_pages(block).unwrap();
    /// # }
    /// ```
    pub fn kmap<'p>(&self, block: &'p mut Pages, index: u64) -> Option<Kmap<'p>> {
        if index >= block.nr_pages() {
            return None;
        }
        let phys = (block.pfn + index) << mm_types::PAGE_SHIFT;
        let virt = (self.ops.kmap_local)(phys)?;
        Some(Kmap { virt, phys, unmap: self.ops.kunmap_local, _block: core::marker::PhantomData, _this_cpu: core::marker::PhantomData })
    }

    /// Allocates `size` bytes of virtually contiguous memory from single pages (HighMem
    /// included on x86-32), between unmapped guard pages (Linux `vmalloc`). Usable on every CPU.
    ///
    /// ```no_run
    /// # fn f(k: &kernel::app::Kernel) -> Result<(), &'static str> {
    /// let mut area = k.vmalloc(1 << 20)?;
    /// area.as_mut_slice().fill(0xa5);
    /// k.vfree(area)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A sentence: `size` is 0, no virtual space or no pages left (what was taken is given back).
    pub fn vmalloc(&self, size: usize) -> Result<VmArea, &'static str> {
        if size == 0 {
            return Err("vmalloc: size 0");
        }
        let irq = (self.ops.irq_save)();
        let r = (self.ops.vmalloc)(self.allocator, percpu::smp_processor_id(), percpu::numa_node_id(), size);
        (self.ops.irq_restore)(irq);
        r.map(|addr| VmArea { addr, size })
    }

    /// Unmaps and frees an area (Linux `vfree`): on x86 every other CPU flushes the range from
    /// its TLB before the pages can be reused (ARM's `TLBI …IS` broadcasts). Call it while the
    /// other CPUs are idle, not from a closure [`Kernel::on_each_cpu`] runs on several CPUs: an
    /// x86 CPU answers the shoot-down IPI in its idle loop, not while it runs a closure with
    /// interrupts masked. An area made on another CPU may be freed here (return it from the
    /// closure).
    ///
    /// # Errors
    /// A sentence: a CPU did not flush within a second (the pages then stay allocated, never
    /// reused while a stale mapping may remain).
    pub fn vfree(&self, area: VmArea) -> Result<(), &'static str> {
        (self.ops.vfree)(self.allocator, percpu::smp_processor_id(), area.addr)
    }

    /// Runs `f(cpu)` on CPU `cpu` and returns its result (Linux `smp_call_function_single` with
    /// `wait`); on the caller at once when `cpu` is the calling CPU. `f` runs with interrupts
    /// masked and must not call [`Kernel::call_on`] or [`Kernel::on_each_cpu`] itself.
    ///
    /// ```no_run
    /// # fn f(k: &kernel::app::Kernel) {
    /// use kernel::app::CallError;
    /// assert_eq!(k.call_on(1, |cpu| cpu * 10), Ok(10));
    /// assert_eq!(k.call_on(7, |cpu| cpu), Err(CallError::NotOnline { cpu: 7 })); // on a 2-CPU machine
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`CallError::NotOnline`] for a CPU that does not exist or never started;
    /// [`CallError::NoAnswer`] for an online CPU that did not take the work (busy elsewhere for
    /// more than a second, or no answer within a second).
    pub fn call_on<R: Send, F: Fn(usize) -> R + Sync>(&self, cpu: usize, f: F) -> Result<R, CallError> {
        if cpu >= percpu::NR_CPUS || !crate::smp::cpu_online(cpu) {
            return Err(CallError::NotOnline { cpu });
        }
        let mut results = crate::smp::run_closure(self.ops.kick_cpu, &|c| c == cpu, &f);
        core::mem::replace(&mut results[cpu], Err(CallError::NotOnline { cpu }))
    }

    /// Runs `f(cpu)` on every online CPU at once, the calling CPU included, and waits for all
    /// (Linux `on_each_cpu` with `wait`); there is no time limit once a CPU has started `f`. The
    /// results come in CPU order. `f` must not call [`Kernel::call_on`] or
    /// [`Kernel::on_each_cpu`] itself.
    ///
    /// ```no_run
    /// # fn f(k: &kernel::app::Kernel) {
    /// let ids = k.on_each_cpu(|cpu| (cpu, k.numa_node_id())).unwrap();
    /// assert_eq!(ids.len(), k.online_cpus());
    /// # }
    /// ```
    ///
    /// # Errors
    /// The first online CPU that did not run it ([`CallError::NoAnswer`]); the others' results
    /// are dropped (a closure that allocates should give back what it took in every case).
    pub fn on_each_cpu<R: Send, F: Fn(usize) -> R + Sync>(&self, f: F) -> Result<heapless::Vec<(usize, R), { percpu::NR_CPUS }>, CallError> {
        let results = crate::smp::run_closure(self.ops.kick_cpu, &crate::smp::cpu_online, &f);
        let mut out = heapless::Vec::new();
        for (cpu, r) in results.into_iter().enumerate() {
            match r {
                Ok(v) => {
                    let _ = out.push((cpu, v));
                }
                Err(CallError::NotOnline { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The calling CPU's logical id (`smp_processor_id`); the boot CPU is 0.
    pub fn cpu_id(&self) -> usize {
        percpu::smp_processor_id()
    }

    /// The calling CPU's NUMA node (`numa_node_id`).
    pub fn numa_node_id(&self) -> i32 {
        percpu::numa_node_id()
    }

    /// How many CPUs are online (the boot CPU included): the CPUs [`Kernel::on_each_cpu`] runs
    /// on.
    pub fn online_cpus(&self) -> usize {
        (0..percpu::NR_CPUS).filter(|&c| crate::smp::cpu_online(c)).count()
    }

    /// Whether CPU `cpu` is online.
    pub fn cpu_online(&self, cpu: usize) -> bool {
        crate::smp::cpu_online(cpu)
    }

    /// Nanoseconds since the firmware's first instruction, from the CPU's counter (the TSC
    /// calibrated against the PIT on x86, `CNTVCT_EL0`/`CNTFRQ_EL0` on ARM); monotonic, the same
    /// on every CPU.
    ///
    /// ```no_run
    /// # fn f(k: &kernel::app::Kernel) {
    /// let t0 = k.now_ns();
    /// let took_ns = k.now_ns() - t0;
    /// # }
    /// ```
    pub fn now_ns(&self) -> u64 {
        clock::now_ns()
    }

    /// A busy-wait delay on the same clock, `embedded-hal`'s `DelayNs`, for drivers.
    ///
    /// ```no_run
    /// # fn f(k: &kernel::app::Kernel) {
    /// use embedded_hal::delay::DelayNs;
    /// k.delay().delay_ms(10);
    /// # }
    /// ```
    pub fn delay(&self) -> clock::Delay {
        // The clock runs once memory management is up (x86 calibrates its TSC in setup_arch).
        clock::Delay::new().unwrap_or_else(|| panic!("the boot clock does not run"))
    }

    /// memblock's memory regions as they stood at the hand-off to the buddy allocator (the RAM
    /// the firmware found, after `mem=`), at most [`MAX_BOOT_REGIONS`].
    pub fn memory_regions(&self) -> &[Region] {
        &self.regions.memory
    }

    /// memblock's reserved regions at the hand-off (kernel image, page tables, `mem_map`,
    /// per-CPU areas, firmware areas, …), at most [`MAX_BOOT_REGIONS`].
    pub fn reserved_regions(&self) -> &[Region] {
        &self.regions.reserved
    }

    /// Every populated zone of every node, with managed and free pages now.
    ///
    /// ```no_run
    /// # fn f(k: &kernel::app::Kernel) {
    /// for z in k.zones() {
    ///     defmt::info!("node {=i32} {=str}: {=u64} of {=u64} pages free", z.nid, z.zone.name(), z.free_pages, z.managed_pages);
    /// }
    /// # }
    /// ```
    pub fn zones(&self) -> heapless::Vec<ZoneInfo, { page_alloc::MAX_NODES * page_alloc::MAX_NR_ZONES }> {
        let zones: heapless::Vec<ZoneInfo, { page_alloc::MAX_NODES * page_alloc::MAX_NR_ZONES }> = self.allocator.with_nodes(|ns| {
            ns.nodes()
                .flat_map(|n| n.zones().iter())
                .filter(|z| z.populated())
                .map(|z| ZoneInfo {
                    nid: z.nid,
                    zone: z.zone_type,
                    start_pfn: z.zone_start_pfn,
                    spanned_pages: z.spanned_pages,
                    managed_pages: z.managed_pages,
                    free_pages: 0,
                    min_watermark: z.min_wmark_pages(),
                })
                .collect()
        });
        zones
            .into_iter()
            .map(|mut z| {
                z.free_pages = self.allocator.zone_counts(z.nid, z.zone).map_or(0, |(free, listed, _)| free + listed);
                z
            })
            .collect()
    }

    /// Free pages of all zones together (buddy lists and per-CPU lists).
    pub fn nr_free_pages(&self) -> u64 {
        self.allocator.nr_free_pages_including_pcp()
    }

    /// Returns every CPU's cached pages to the buddy lists and every empty slab to the page
    /// allocator (`drain_all_pages`, `kmem_cache_shrink`): free counts read afterwards are
    /// exact, and the largest blocks are whole again.
    pub fn drain_all(&self) {
        crate::heap::flush_all();
        self.allocator.drain_all();
    }

    /// Checks the page allocator's consistency (free lists, counts, per-CPU lists).
    ///
    /// # Errors
    /// A sentence naming what is inconsistent.
    pub fn check_allocator(&self) -> Result<(), &'static str> {
        self.allocator.check().map_err(|_| "the page allocator is inconsistent")
    }

    /// The boot command line as the boot loader handed it over.
    pub fn cmdline(&self) -> &'static str {
        self.cmdline
    }

    /// The value of the last `key=value` on the command line (Linux's rule: a later parameter
    /// overrides an earlier one).
    ///
    /// ```no_run
    /// # fn f(k: &kernel::app::Kernel) {
    /// let passes = k.cmdline_value("memtest.passes").unwrap_or("1");
    /// # }
    /// ```
    pub fn cmdline_value(&self, key: &str) -> Option<&'static str> {
        mm_init::Cmdline::new(self.cmdline).get(key)
    }

    /// The board this image was built for (its `board.toml`).
    pub fn board(&self) -> &'static crate::board::BoardConfig {
        self.board
    }

    /// The page allocator itself, for what the handle does not wrap (zone counts, `check`,
    /// `cma_alloc`). Every call must pass the calling CPU ([`Kernel::cpu_id`]).
    pub fn page_allocator(&self) -> &'static page_alloc::PageAllocator<'static> {
        self.allocator
    }
}
