//! The generic kernel: the boot path every platform hands over to ([`start_kernel`]: memblock,
//! paging_init, mem_init, per-CPU areas, the secondary CPUs, then the application), and the
//! services an application uses ([`app`]).
//!
//! A platform crate (`platform-x86-pc`, `platform-aarch64`, `platform-armv7a`) owns the CPU:
//! boot entry, exception vectors, the console hardware, memory discovery and the way the machine
//! is ended. The kernel only sees it through the [`Firmware`] trait (its memory side,
//! `mm_init::Platform`, is host-testable and lives in `mm/init`) and offers it the helpers here:
//!
//! - [`logger`]: the defmt global logger over whatever console the platform installs, safe
//!   against other CPUs and interrupts;
//! - [`ExitCode`]: how a boot ends, which the platform turns into a QEMU exit status.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod app;
pub mod bench;
pub mod board;
pub mod clock;
pub mod console_mmio;
pub mod fdt;
pub mod heap;
pub mod initrd;
pub mod logger;
mod page_map;
pub mod percpu;
pub mod smp;
mod selftest;
pub mod vmalloc;

use memblock::{Region, RegionArrayMapper, RegionFlags, INIT_MEMBLOCK_REGIONS, MAX_NUMNODES};
use mm_init::{BoardReserve, MemblockStorage};

/// How the firmware ends. The platform maps it onto its exit device (isa-debug-exit on x86,
/// semihosting on ARM) so that the host sees a distinct status for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum ExitCode {
    /// All boot work done and every self-check passed.
    Success,
    /// A panic, an unexpected exception or a failed self-check.
    Failure,
}

impl ExitCode {
    fn name(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// Logs the run's last frame: how it ends, and a check over every byte logged before it
/// (frames started, bytes, CRC-32: see [`logger::stream_check`]). Every platform's `exit` calls
/// it just before writing its exit device. The host believes a success only when this line is
/// the last one and its check matches what it received, so neither a stray write to the exit
/// device nor a QEMU ended from outside can pass for a successful run.
pub fn log_exit(code: ExitCode) {
    let (frames, bytes, crc) = logger::stream_check();
    defmt::info!(
        "exit: {=str}; log check: {=u32} frames, {=u32} bytes, CRC-32 {=u32:#010x}",
        code.name(),
        frames,
        bytes,
        crc
    );
}

/// A [`mm_types::LineSink`] that sends each line to the defmt log at `info` level.
///
/// Lines are formatted into a fixed buffer first (reports such as `dump_all` are built with
/// `core::fmt`); a line longer than the buffer is cut and marked with `…`, never dropped.
#[derive(Debug, Default)]
pub struct DefmtSink;

impl mm_types::LineSink for DefmtSink {
    fn line(&mut self, args: core::fmt::Arguments<'_>) {
        let mut buf: heapless::String<192> = heapless::String::new();
        if core::fmt::write(&mut buf, args).is_err() {
            // The buffer filled up: keep what fits and say it was cut.
            while buf.len() > 188 {
                buf.pop();
            }
            let _ = buf.push_str("…");
        }
        defmt::info!("{=str}", buf.as_str());
    }
}

/// One CPU as the firmware describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuDesc {
    /// Hardware id: local APIC id on x86, MPIDR affinity bits on AArch64.
    pub hw_id: u64,
    /// NUMA node (0 without NUMA information).
    pub nid: i32,
}

/// Reads this CPU's per-CPU base (see [`Firmware::set_percpu_base`]); 0 before it is set.
/// Each platform provides it as a plain function for the logger and per-CPU accessors.
pub type PercpuBaseFn = fn() -> usize;

/// Logs a panic's message and location (every platform's `#[panic_handler]` calls this, then
/// ends the run with a failure status).
pub fn report_panic(info: &core::panic::PanicInfo<'_>) {
    match info.location() {
        Some(loc) => defmt::error!(
            "panicked at {=str}:{=u32}:{=u32}: {}",
            loc.file(),
            loc.line(),
            loc.column(),
            defmt::Display2Format(&info.message())
        ),
        None => defmt::error!("panicked: {}", defmt::Display2Format(&info.message())),
    }
}

/// What the generic boot path needs from a platform beyond memory discovery.
pub trait Firmware: mm_init::Platform {
    /// Ends the run with `code`.
    fn exit(&self, code: ExitCode) -> !;

    /// Whether the platform runs its own boot self-checks (x86-32: the HighMem `kmap`
    /// self-check at the end of `paging_init`). [`start_kernel`] calls it before discovery with
    /// what the application asked for ([`app::App::boot_selfchecks`]): off for a user's image.
    /// The default has none to switch.
    fn set_boot_selfchecks(&mut self, _on: bool) {}

    /// The board description this image was built from.
    fn board(&self) -> &'static board::BoardConfig;

    /// Turns physical addresses memblock chooses for its doubled arrays into storage (identity
    /// while the MMU is off, the linear map afterwards). Called once.
    fn region_mapper(&mut self) -> &'static mut dyn RegionArrayMapper<'static>;

    /// Builds the kernel's page tables (Linux `paging_init`): the linear map of RAM, the kernel
    /// sections with their permissions, device memory, and (x86-32) the pkmap and fixmap areas.
    /// Page-table pages come from `mb` (so they stay reserved). Prints the virtual kernel memory
    /// layout the way Linux's `mem_init` does. After it returns, the region mapper and
    /// [`Firmware::phys_to_virt`] use the new mapping.
    ///
    /// # Errors
    /// [`mm_init::PlatformError::Memblock`] when page-table pages cannot be allocated.
    fn paging_init(
        &mut self,
        mb: &mut memblock::Memblock<'_>,
        log: &mut dyn mm_types::LineSink,
    ) -> Result<mm_init::PagingInfo, mm_init::PlatformError>;

    /// The kernel virtual address of physical `phys` through the linear map, or `None` when it
    /// is not linearly mapped (x86-32 HighMem, or outside RAM).
    fn phys_to_virt(&self, phys: u64) -> Option<usize>;

    /// Zones, pageblock order and memory model of this architecture.
    const MM_ARCH: page_alloc::ArchConfig;

    /// The kernel configuration's CMA (`CONFIG_DMA_CMA` with its default size), `None` where the
    /// Linux configuration followed has no CMA (Debian's x86 kernels): then `cma=` is ignored
    /// and no area is reserved. See `mm_init::cma`.
    const CMA: Option<mm_init::cma::CmaConfig> = None;

    /// Sizes of the kernel image's sections, for the `Memory:` line.
    fn kernel_sections(&self) -> page_alloc::KernelSections;

    /// The CPUs the firmware describes (ACPI MADT / MP table on x86, `/cpus` on ARM), boot CPU
    /// first: the logical CPU id is the index. Known after `paging_init`.
    fn possible_cpus(&self) -> &[CpuDesc];

    /// Makes `base` this CPU's per-CPU base (x86-32: a GDT segment with that base loaded into
    /// FS; AArch64: `TPIDR_EL1`). `base` is the virtual address of the CPU's per-CPU area, whose
    /// first word holds the area's own address.
    fn set_percpu_base(&self, base: usize);

    /// Starts secondary CPU `cpu` (a logical id, index into [`Firmware::possible_cpus`]) so that
    /// it runs `entry(cpu)` on the stack ending at `stack_top`, with interrupts masked, paging
    /// (MMU) on with the kernel's tables, and its per-CPU base already set to `percpu_base`.
    /// Returns once the CPU runs Rust code, or an error naming what failed (the caller reports
    /// it and carries on with the other CPUs).
    ///
    /// # Errors
    /// A sentence, e.g. "no answer to INIT-SIPI-SIPI within 10 s", "PSCI CPU_ON returned -2".
    fn start_cpu(
        &mut self,
        cpu: usize,
        stack_top: usize,
        percpu_base: usize,
        entry: extern "C" fn(usize) -> !,
    ) -> Result<(), &'static str>;

    /// What the firmware says about NUMA nodes (asked only on a NUMA build,
    /// [`page_alloc::ArchConfig::numa`]). Without a description: no configuration, one fake node.
    fn firmware_numa(&self) -> mm_init::numa::FirmwareNuma {
        mm_init::numa::FirmwareNuma::Fallback(mm_init::numa::NumaFallback::NoConfig)
    }

    /// NUMA distance between two nodes (Linux `node_distance`): the firmware's table where it
    /// has one, else 10 local / 20 remote.
    fn node_distance(&self, a: i32, b: i32) -> u8 {
        page_alloc::default_distance(a, b)
    }

    /// This CPU's per-CPU base register (see [`Firmware::set_percpu_base`]).
    const PERCPU_BASE: PercpuBaseFn;

    /// The linear-map address of a physical address (as [`Firmware::phys_to_virt`], callable
    /// without the platform object: the heap uses it).
    const PHYS_TO_VIRT: fn(u64) -> Option<usize>;
    /// The physical address behind a linear-map address.
    const VIRT_TO_PHYS: fn(usize) -> Option<u64>;

    /// Masks interrupts on this CPU; returns the previous state.
    const IRQ_SAVE: fn() -> usize;
    /// Restores what [`Firmware::IRQ_SAVE`] returned.
    const IRQ_RESTORE: fn(usize);

    /// The kernel virtual range `paging_init` left for vmalloc, `[start, end)`.
    fn vmalloc_range() -> (usize, usize);

    /// Maps the 4 KiB page at `vaddr` (in the vmalloc range) to `phys`, read-write and never
    /// executable; a missing page table is made from the page `alloc_table` returns.
    ///
    /// # Errors
    /// A sentence naming the problem.
    fn map_kernel_page(vaddr: usize, phys: u64, alloc_table: &mut dyn FnMut() -> Option<u64>) -> Result<(), &'static str>;

    /// Unmaps the page at `vaddr`: what it mapped, and a page-table page that became empty
    /// (unhooked) for the caller to free.
    fn unmap_kernel_page(vaddr: usize) -> Option<(u64, Option<u64>)>;

    /// Stops the calling CPU for good (interrupts masked).
    fn park_this_cpu() -> !;

    /// Waits on the calling CPU, interrupts masked on entry and on return, until another CPU
    /// kicks it ([`Firmware::kick_cpu`]) or something else wakes it; may return early. An
    /// idle CPU calls it in a loop around checking its mailbox (`smp::idle_loop`), so a kick
    /// sent between the check and the wait must still end the wait (x86: `sti; hlt`, whose
    /// interrupt shadow delivers a pending IPI only once `hlt` waits; ARM: `wfe`, whose event
    /// register remembers an earlier `sev`).
    fn wait_for_kick();

    /// Wakes the CPU with hardware id `hw_id` from [`Firmware::wait_for_kick`] (x86: a fixed
    /// IPI; ARM: `sev`, which wakes every CPU).
    fn kick_cpu(hw_id: u64);

    /// Makes every other online CPU forget its TLB entries for the kernel range `[start, end)`
    /// before the pages behind it are reused (Linux `flush_tlb_kernel_range`). ARM's `TLBI
    /// ...IS` already reached every CPU of the inner-shareable domain when the entries were
    /// unmapped; x86 sends an IPI and waits for every CPU's answer.
    ///
    /// # Errors
    /// A sentence naming a CPU that did not answer.
    fn flush_tlb_kernel_range(_start: usize, _end: usize) -> Result<(), &'static str> {
        Ok(())
    }

    /// A kernel address for the page at `phys` on the calling CPU, until [`Firmware::kunmap_local`]
    /// (Linux `kmap_local_page`): the linear map where it reaches, else (x86-32 HighMem) the
    /// next of this CPU's own atomic slots; nested mappings end in reverse order. Any CPU may
    /// call it. `None` when the page cannot be mapped.
    fn kmap_local(phys: u64) -> Option<usize> {
        Self::PHYS_TO_VIRT(phys)
    }

    /// Ends the most recent [`Firmware::kmap_local`] of this CPU.
    ///
    /// # Errors
    /// `vaddr` is not this CPU's most recent local mapping.
    fn kunmap_local(_vaddr: usize) -> Result<(), &'static str> {
        Ok(())
    }

    /// Runs `f` on the page at `phys` mapped at a kernel virtual address (the linear map, or a
    /// temporary kmap for x86-32 HighMem); `None` when the page cannot be mapped.
    fn with_page_mapped(&mut self, phys: u64, f: &mut dyn FnMut(*mut u8)) -> Option<()> {
        let virt = self.phys_to_virt(phys)?;
        f(virt as *mut u8);
        Some(())
    }
}

const EMPTY_REGION: Region = Region { base: 0, size: 0, nid: MAX_NUMNODES, flags: RegionFlags::NONE };
static MEMORY_REGIONS: spin::Mutex<[Region; INIT_MEMBLOCK_REGIONS]> =
    spin::Mutex::new([EMPTY_REGION; INIT_MEMBLOCK_REGIONS]);
static RESERVED_REGIONS: spin::Mutex<[Region; INIT_MEMBLOCK_REGIONS]> =
    spin::Mutex::new([EMPTY_REGION; INIT_MEMBLOCK_REGIONS]);

/// The node-distance table, read from the platform once (the zonelist builder calls the
/// distance function without access to the platform).
struct NodeDistances([[u8; page_alloc::MAX_NODES]; page_alloc::MAX_NODES]);

impl NodeDistances {
    fn of<P: Firmware>(platform: &P) -> Self {
        let mut t = [[0u8; page_alloc::MAX_NODES]; page_alloc::MAX_NODES];
        for (a, row) in t.iter_mut().enumerate() {
            for (b, d) in row.iter_mut().enumerate() {
                *d = platform.node_distance(a as i32, b as i32);
            }
        }
        Self(t)
    }

    fn get(&self, a: i32, b: i32) -> u8 {
        self.0.get(a as usize).and_then(|r| r.get(b as usize)).copied().unwrap_or_else(|| page_alloc::default_distance(a, b))
    }
}

/// The page allocator every CPU uses after boot.
static ALLOCATOR: spin::Once<page_alloc::PageAllocator<'static>> = spin::Once::new();
/// Each CPU's pagesets, in CPU order, for the allocator.
static PCP_REFS: spin::Mutex<heapless::Vec<&'static page_alloc::PerCpuPagesets, { percpu::NR_CPUS }>> =
    spin::Mutex::new(heapless::Vec::new());

/// Scratch space for the drain self-check: one entry per free block after the hand-off.
static DRAIN_BLOCKS: spin::Mutex<[mm_init::selfcheck::Block; 8192]> = spin::Mutex::new([(0, 0); 8192]);

/// The CMA areas (`cma_areas[]`): device-tree regions join them during the early reservations,
/// the default area after `paging_init`; `mem_init` activates them.
static CMA_AREAS: spin::Mutex<Option<page_alloc::cma::CmaAreas>> = spin::Mutex::new(None);

/// Runs `f` on the CMA areas (created empty for `P`'s pageblock order on first use).
pub fn with_cma_areas<P: Firmware, R>(f: impl FnOnce(&mut page_alloc::cma::CmaAreas) -> R) -> R {
    let mut guard = CMA_AREAS.lock();
    let wide = P::CMA.is_some_and(|c| c.phys_addr_64bit);
    f(guard.get_or_insert_with(|| page_alloc::cma::CmaAreas::new(P::MM_ARCH.pageblock_order, wide)))
}

/// Hands out the `'static` contents of `cell` the first time, `None` after that.
pub fn take_static<T>(cell: &'static spin::Mutex<T>) -> Option<&'static mut T> {
    cell.try_lock().map(spin::MutexGuard::leak)
}

fn memblock_debug_line(args: core::fmt::Arguments<'_>) {
    mm_types::LineSink::line(&mut DefmtSink, args);
}

/// memblock's final regions, copied for [`app::Kernel::memory_regions`] at the hand-off to
/// the buddy allocator (`mem_init_at_handoff`), before memblock is retired.
static BOOT_REGIONS: spin::Once<app::BootRegions> = spin::Once::new();
/// The command line, copied for [`app::Kernel::cmdline`] (x86's `COMMAND_LINE_SIZE`).
static CMDLINE: spin::Once<heapless::String<2048>> = spin::Once::new();
/// The CMA areas as `mem_init` activated them, for [`app::Kernel::cma_alloc`].
static CMA_SNAPSHOT: spin::Once<page_alloc::cma::CmaAreas> = spin::Once::new();

/// The generic boot path after the platform is up (Linux's `start_kernel`, memory part):
/// command line, discovery, early reservations, the board's hook, `mem=`, memblock resizing,
/// `memblock_dump_all`, `paging_init`, zones and the buddy hand-off, per-CPU pagesets, the
/// heap, vmalloc and SMP; then `app`'s entry on the boot CPU ([`app::App`]), whose result
/// ends the run (success or failure through [`Firmware::exit`]). A failed boot step ends the
/// run with failure before the application runs.
///
/// The boot's own self-checks run only when `app` asks for them ([`app::App::boot_selfchecks`]):
/// they must run at fixed points of the boot, which an application never sees (the buddy
/// drain/restore check and the buddy self-test need the allocator before it goes behind its
/// lock, where nothing else runs; x86's HighMem kmap check runs inside `paging_init`). The
/// `selftest=` fault injections and the benchmark are asked for on the command line and run
/// for any application, at their own points: `null`, `write-text`
/// and `stack-overflow` right after `paging_init`, `oom` and `slab-redzone` once the heap
/// exists, `stack-overflow-cpu1` on CPU 1 as it comes up, `bench` once every CPU is up.
pub fn start_kernel<P: Firmware>(platform: &mut P, board_reserve: Option<BoardReserve>, app: &app::App) -> ! {
    let (Some(memory), Some(reserved)) = (take_static(&MEMORY_REGIONS), take_static(&RESERVED_REGIONS)) else {
        defmt::error!("start_kernel called twice");
        platform.exit(ExitCode::Failure)
    };
    platform.set_boot_selfchecks(app.boot_selfchecks);
    let storage = MemblockStorage { memory, reserved, mapper: platform.region_mapper() };
    let board = platform.board();
    let board_memory = mm_init::BoardMemory { ram: board.ram, reserve: board.reserve, hook: board_reserve };
    match mm_init::setup_memblock(platform, storage, &board_memory, memblock_debug_line, &mut DefmtSink) {
        Ok(mut memblock) => {
            let before_paging = mm_init::mem_init::ReservedSnapshot::take(&memblock);
            let paging = match platform.paging_init(&mut memblock, &mut DefmtSink) {
                Ok(p) => p,
                Err(e) => {
                    defmt::error!("paging_init failed: {}", defmt::Display2Format(&e));
                    platform.exit(ExitCode::Failure)
                }
            };
            // Page tables are all paging_init takes from memblock; Linux does not say where.
            before_paging.report_new(&memblock, "paging_init: page-table pages", &mut DefmtSink);
            // arm64 bootmem_init: dma_contiguous_reserve(arm64_dma_phys_limit).
            if let Some(config) = P::CMA {
                match mm_init::Cmdline::new(platform.cmdline()).cma() {
                    Ok(cmdline) => {
                        let limit = paging.max_zone_pfns[0] << mm_types::PAGE_SHIFT;
                        let highmem_start = paging.max_low_pfn << mm_types::PAGE_SHIFT;
                        with_cma_areas::<P, _>(|areas| {
                            mm_init::cma::dma_contiguous_reserve(&mut memblock, areas, cmdline, &config, limit, highmem_start, &mut DefmtSink)
                        });
                    }
                    Err(e) => {
                        defmt::error!("command line: {}", defmt::Display2Format(&e));
                        platform.exit(ExitCode::Failure)
                    }
                }
            }
            fault_injection(mm_init::Cmdline::new(platform.cmdline()).selftest());
            let node_data = match node_data(platform, &mut memblock) {
                Ok(d) => d,
                Err(e) => {
                    defmt::error!("NUMA init failed: {}", defmt::Display2Format(&e));
                    platform.exit(ExitCode::Failure)
                }
            };
            let zones = page_alloc::populated_zones(&P::MM_ARCH, mm_init::mem_init::max_zone_pfn(&paging), &memblock);
            let max_low = paging.max_low_pfn << mm_types::PAGE_SHIFT;
            if let Err(e) = percpu::setup_per_cpu_areas(platform, P::PERCPU_BASE, &mut memblock, max_low, &zones, &mut DefmtSink) {
                defmt::error!("setup_per_cpu_areas failed: {}", defmt::Display2Format(&e));
                platform.exit(ExitCode::Failure)
            }
            let sections = platform.kernel_sections();
            let mut map = |phys: u64, count: usize| {
                let virt = platform.phys_to_virt(phys)?;
                // SAFETY: memblock allocated `[phys, +count pages of metadata)` for mem_map just
                // now, below max_low_pfn, so it is linearly mapped read-write at `virt` and
                // nothing else owns it; it stays reserved for the rest of the run.
                #[allow(unsafe_code)]
                unsafe {
                    page_map::page_array(virt, count)
                }
            };
            let distances = NodeDistances::of(platform);
            let distance = |a: i32, b: i32| distances.get(a, b);
            let result = with_cma_areas::<P, _>(|cma| {
                let mut keep = |mb: &memblock::Memblock<'_>| {
                    BOOT_REGIONS.call_once(|| app::BootRegions {
                        memory: mb.memory().iter().copied().take(app::MAX_BOOT_REGIONS).collect(),
                        reserved: mb.reserved().iter().copied().take(app::MAX_BOOT_REGIONS).collect(),
                    });
                };
                mm_init::mem_init::mem_init_at_handoff(P::MM_ARCH, &paging, memblock, node_data, &mut map, &sections, &distance, cma, &mut DefmtSink, &mut keep)
            });
            let (mut node, _report) = match result {
                Ok(r) => r,
                Err(e) => {
                    defmt::error!("boot failed: {}", defmt::Display2Format(&e));
                    platform.exit(ExitCode::Failure)
                }
            };
            let mem_init_us = clock::now_us();
            node.buddyinfo(&mut DefmtSink);
            if app.boot_selfchecks {
                let Some(scratch) = take_static(&DRAIN_BLOCKS) else { platform.exit(ExitCode::Failure) };
                if let Err(why) = mm_init::selfcheck::drain_and_restore(&mut node, scratch, &mut DefmtSink) {
                    defmt::error!("buddy self-check failed: {=str}", why);
                    platform.exit(ExitCode::Failure)
                }
                if let Err(why) = selftest::buddy(&mut node, platform) {
                    defmt::error!("buddy self-test failed: {=str}", why);
                    platform.exit(ExitCode::Failure)
                }
            }
            // The buddy allocator goes behind its lock, with each CPU's pagesets (in its
            // per-CPU area) in front: setup_per_cpu_pageset, then the other CPUs.
            let nr_cpus = percpu::nr_cpu_ids();
            let nr_nodes = node.nr_online_nodes();
            let Some(refs) = take_static(&PCP_REFS) else { platform.exit(ExitCode::Failure) };
            for area in (0..nr_cpus).filter_map(percpu::per_cpu) {
                let _ = refs.push(area.pagesets);
            }
            let allocator = ALLOCATOR.call_once(|| page_alloc::PageAllocator::new(node, refs.as_slice()));
            allocator.setup_per_cpu_pageset(nr_cpus, &|cpu| percpu::per_cpu(cpu).map_or(0, |a| a.nid), &mut DefmtSink);
            heap::init::<P>(allocator);
            heap_fault_injection(mm_init::Cmdline::new(platform.cmdline()).selftest());
            let bench = mm_init::Cmdline::new(platform.cmdline()).selftest() == Some("bench");
            if bench {
                bench::prepare(allocator);
            }
            if mm_init::Cmdline::new(platform.cmdline()).selftest() == Some("stack-overflow-cpu1") {
                smp::OVERFLOW_ON_CPU1.store(true, core::sync::atomic::Ordering::Release);
            }
            // vmalloc first: the secondary CPUs' stacks are vmalloc areas.
            vmalloc::vmalloc_init::<P>();
            let up = smp::smp_init(platform, allocator, nr_nodes);
            let up_us = clock::now_us();
            defmt::info!(
                "boot: memory management up on {=usize} CPU(s) {=u64}.{=u64:06} s after the first instruction (buddy hand-off done at {=u64}.{=u64:06} s; {=str})",
                up,
                up_us / 1_000_000,
                up_us % 1_000_000,
                mem_init_us / 1_000_000,
                mem_init_us % 1_000_000,
                if app.boot_selfchecks { "the boot self-checks are included" } else { "no boot self-checks" }
            );
            if bench {
                if let Err(why) = bench::run::<P>(up) {
                    defmt::error!("{=str}", why);
                    platform.exit(ExitCode::Failure)
                }
            }
            let cmdline = CMDLINE.call_once(|| {
                let mut s = heapless::String::new();
                for c in platform.cmdline().chars() {
                    if s.push(c).is_err() {
                        break;
                    }
                }
                s
            });
            let Some(regions) = BOOT_REGIONS.get() else { platform.exit(ExitCode::Failure) };
            let cma = CMA_SNAPSHOT.call_once(|| with_cma_areas::<P, _>(|a| a.clone()));
            let kernel = app::Kernel {
                allocator,
                ops: app::Ops {
                    irq_save: P::IRQ_SAVE,
                    irq_restore: P::IRQ_RESTORE,
                    kmap_local: P::kmap_local,
                    kunmap_local: P::kunmap_local,
                    vmalloc: vmalloc::vmalloc::<P>,
                    vfree: vmalloc::vfree::<P>,
                    kick_cpu: P::kick_cpu,
                },
                regions,
                cma,
                cmdline: cmdline.as_str(),
                board,
            };
            defmt::info!("app {=str}: started on CPU{=usize}, {=usize} CPU(s) online", app.name, percpu::smp_processor_id(), up);
            match (app.main)(&kernel) {
                Ok(()) => {
                    defmt::info!("app {=str}: done", app.name);
                    platform.exit(ExitCode::Success)
                }
                Err(why) => {
                    defmt::error!("app {=str}: failed: {=str}", app.name, why.0);
                    platform.exit(ExitCode::Failure)
                }
            }
        }
        Err(e) => {
            defmt::error!("boot failed: {}", defmt::Display2Format(&e));
            platform.exit(ExitCode::Failure)
        }
    }
}

/// Node 0 of a non-NUMA build (Linux's static `contig_page_data`).
static CONTIG_PAGE_DATA: spin::Mutex<Option<page_alloc::Node<'static>>> = spin::Mutex::new(None);

/// Every online node's data (`NODE_DATA`): on a NUMA build from `arch_numa_init` (allocated
/// from memblock on each node, with Linux's `NUMA:` lines), else node 0 in a static.
fn node_data<P: Firmware>(
    platform: &P,
    mb: &mut memblock::Memblock<'_>,
) -> Result<[Option<&'static mut page_alloc::Node<'static>>; page_alloc::MAX_NODES], mm_init::PlatformError> {
    let mut data: [Option<&'static mut page_alloc::Node<'static>>; page_alloc::MAX_NODES] = [const { None }; page_alloc::MAX_NODES];
    if !P::MM_ARCH.numa {
        let slot = take_static(&CONTIG_PAGE_DATA).ok_or(mm_init::PlatformError::Memblock("node data set up twice"))?;
        data[0] = Some(slot.insert(page_alloc::Node::memoryless(P::MM_ARCH, 0)));
        return Ok(data);
    }
    let phys = mm_init::numa::arch_numa_init(platform.firmware_numa(), mb, &mut DefmtSink)?;
    for (nid, (slot, pa)) in data.iter_mut().zip(phys).enumerate() {
        let Some(pa) = pa else { continue };
        let virt = platform.phys_to_virt(pa).ok_or(mm_init::PlatformError::Memblock("node data outside the linear map"))?;
        // SAFETY: memblock just allocated [pa, pa + node_data_bytes()) for this node's data and
        // keeps it reserved for good; `virt` is its linear-map alias (mapped read-write by
        // paging_init), and nothing else refers to it.
        #[allow(unsafe_code)]
        let node = unsafe { page_map::node_data(virt, P::MM_ARCH, nid as i32) };
        *slot = Some(node.ok_or(mm_init::PlatformError::Memblock("node data misaligned"))?);
    }
    Ok(data)
}

/// `selftest=null` and `selftest=write-text`: after paging_init, touch what the page tables must
/// forbid. Each ends the run through the exception handler, whose report the boot tests check;
/// returning from here means the protection is missing.
#[allow(unsafe_code)]
fn fault_injection(selftest: Option<&str>) {
    match selftest {
        Some("null") => {
            defmt::info!("selftest: reading address 0, which must fault");
            // SAFETY: deliberately invalid: page 0 is unmapped, so the read faults and the
            // exception handler ends the run before any value is produced.
            let v = unsafe { core::ptr::read_volatile(core::ptr::null::<u32>()) };
            defmt::error!("selftest=null: reading address 0 gave {=u32:#x} instead of faulting", v);
        }
        Some("write-text") => {
            let target = fault_injection as fn(Option<&str>) as *const () as *mut u32;
            defmt::info!("selftest: writing kernel text at {=usize:#x}, which must fault", target as usize);
            // SAFETY: deliberately invalid: .text is mapped read-only, so the write faults and
            // the exception handler ends the run before anything changes.
            unsafe { core::ptr::write_volatile(target, 0) };
            defmt::error!("selftest=write-text: kernel text is writable");
        }
        Some("stack-overflow") => {
            defmt::info!("selftest: unbounded recursion on the boot stack, which must fault at the guard page");
            let depth = recurse(0);
            defmt::error!("selftest=stack-overflow: recursion returned at depth {=u64} without faulting", depth);
        }
        _ => {}
    }
}

/// `selftest=slab-redzone`: write one byte past a heap object; freeing it must be refused by
/// the slab allocator's red-zone check (the report names the cache and address).
#[allow(unsafe_code)]
fn heap_fault_injection(selftest: Option<&str>) {
    if selftest == Some("oom") {
        defmt::info!("selftest: a 1 GiB Vec, which the heap cannot provide: alloc's error path must report the size");
        let v = alloc::vec![0u8; 1 << 30];
        defmt::error!("selftest=oom: a 1 GiB allocation succeeded ({=usize} bytes)", v.len());
    }
    if selftest == Some("slab-redzone") {
        let b = alloc::boxed::Box::new([0u8; 32]);
        let p = alloc::boxed::Box::into_raw(b).cast::<u8>();
        defmt::info!("selftest: writing one byte past a 32-byte heap object (kmalloc-32), which kfree must catch");
        // SAFETY: deliberately invalid: the byte after the object is its red zone, inside the
        // slab (mapped); the allocator must detect the overwrite when the object is freed.
        unsafe {
            p.add(32).write_volatile(0x42);
            drop(alloc::boxed::Box::from_raw(p.cast::<[u8; 32]>()));
        }
        defmt::error!("selftest=slab-redzone: the red-zone overwrite went unnoticed");
    }
}

/// Recurses until the stack runs out (1 KiB of frame per level, kept alive with `black_box`).
pub(crate) fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 128]);
    if depth > 1 << 40 {
        return depth;
    }
    recurse(depth + 1) + core::hint::black_box(frame[3]) - depth
}
