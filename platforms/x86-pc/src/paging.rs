//! `paging_init` for x86-32: two-level non-PAE paging with Linux's 3G/1G split, the linear map
//! of lowmem, and the pkmap and fixmap windows through which HighMem is reached.
//!
//! Virtual layout (Linux `arch/x86/include/asm/pgtable_32_areas.h` and `fixmap.h`, 2-level,
//! CONFIG_HIGHMEM, as before the CPU entry area existed), top down:
//!
//! ```text
//! FIXADDR_TOP 0xfffff000 ─┐ fixmap: FIX_HOLE, then KM_TYPE_NR kmap_atomic slots (one page
//! FIXADDR_START           ┘ table, the last PDE)
//! PKMAP_BASE + 4 MiB     ─┐ pkmap: LAST_PKMAP = 1024 kmap slots (one page table)
//! PKMAP_BASE 0xff800000  ─┘
//! VMALLOC_END = PKMAP_BASE - 2 pages
//!                           vmalloc: left unmapped for a later vmalloc
//! VMALLOC_START = high_memory + VMALLOC_OFFSET (8 MiB hole that catches overruns)
//! high_memory = PAGE_OFFSET + lowmem end
//!                           lowmem: physical [0, lowmem end) linearly (the kernel image in it)
//! PAGE_OFFSET 0xc0000000
//!                           user space: nothing mapped (address 0 faults)
//! ```
//!
//! Lowmem ends at `min(end of RAM, MAXMEM)` with `MAXMEM = VMALLOC_END - PAGE_OFFSET -
//! VMALLOC_RESERVE` (128 MiB of vmalloc space at least): 0x377fe000, just under 888 MiB (Linux
//! prints `lowmem : 0xc0000000 - 0xf77fe000 ( 887 MB)` on such a machine). RAM above it is
//! HighMem: it has no kernel address until [`kmap`] or [`kmap_atomic`] gives it one.
//!
//! The linear map (Linux `kernel_physical_mapping_init`) covers memblock's RAM regions below the
//! lowmem end with 4 MiB PSE pages wherever a whole aligned 4 MiB is RAM and holds no part of the
//! image, and 4 KiB pages elsewhere: always in the first 4 MiB (page 0 stays unmapped, so NULL
//! faults) and over the image, whose .text and .rodata are read-only (CR0.WP, set by `boot`,
//! makes ring 0 honour that). Non-PAE paging has no NX bit: everything mapped is executable.
//!
//! Lifecycle: `boot` runs on its own page directory (4 MiB pages over `[0, MAXMEM)`); until
//! [`paging_init`] switches CR3, [`phys_to_virt`] answers for that range. Page-table pages come
//! from memblock below the lowmem end (`set_current_limit` first), so they stay reserved and
//! are written through the linear map of either directory. pkmap is one set of slots behind a
//! lock; kmap_atomic has [`KM_TYPE_NR`] fixmap slots per CPU and a depth per CPU, so every CPU
//! can use it at once (each CPU flushes only its own slots). Besides the kmap
//! slots the fixmap holds the local APIC's registers ([`set_fixmap_nocache`]) and one window for
//! reading firmware tables ([`copy_from_phys`]); `smpboot` builds the trampoline page directory
//! through [`build_trampoline_pgd`] without touching the kernel's.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use memblock::{Memblock, NUMA_NO_NODE};
use mm_init::{PagingInfo, PlatformError};
use mm_types::LineSink;

/// Start of the kernel's quarter of the address space (Linux `__PAGE_OFFSET`, 3G/1G split).
pub const PAGE_OFFSET: u32 = 0xC000_0000;
const PAGE_SIZE: u32 = 4096;
const PAGE_SHIFT: u32 = 12;
/// Bytes one page-directory entry maps: 4 MiB (a PSE page, or one page table).
pub const PMD_SIZE: u32 = 1 << 22;
const PTRS_PER_PTE: usize = 1024;

/// Top of the fixmap (Linux `__FIXADDR_TOP` on 32-bit): fixmap index 0 is the page here.
pub const FIXADDR_TOP: u32 = 0xFFFF_F000;
/// kmap_atomic slots per CPU (Linux `KM_MAX_IDX`): how deeply atomic mappings may nest.
pub const KM_TYPE_NR: u32 = 16;
/// Linux `enum fixed_addresses`, reduced to what exists here: index 0 is `FIX_HOLE` (never
/// mapped), then the local APIC's registers (`FIX_APIC_BASE`, uncached), one window through
/// which firmware tables are read (`FIX_FW_READ`, Linux's `FIX_BTMAP` slots of
/// `early_memremap`, one page here), then the kmap_atomic slots.
pub const FIX_APIC_BASE: u32 = 1;
const FIX_FW_READ: u32 = 2;
const FIX_KMAP_BEGIN: u32 = 3;
/// Linux: `FIX_KMAP_BEGIN + KM_MAX_IDX * NR_CPUS - 1`: every CPU has its own slots.
const FIX_KMAP_END: u32 = FIX_KMAP_BEGIN + KM_TYPE_NR * crate::cpu::MAX_CPUS as u32 - 1;
const END_OF_FIXED_ADDRESSES: u32 = FIX_KMAP_END + 1;
/// The fixmap: `[FIXADDR_START, FIXADDR_TOP)` (Linux `FIXADDR_SIZE`, `FIXADDR_START`).
pub const FIXADDR_SIZE: u32 = END_OF_FIXED_ADDRESSES << PAGE_SHIFT;
pub const FIXADDR_START: u32 = FIXADDR_TOP - FIXADDR_SIZE;
/// pkmap slots: one page table's worth in non-PAE mode (Linux `LAST_PKMAP`).
pub const LAST_PKMAP: u32 = 1024;
/// Start of the pkmap window, one PDE below the fixmap's (Linux `PKMAP_BASE` before the CPU
/// entry area: `(FIXADDR_START - PAGE_SIZE * (LAST_PKMAP + 1)) & PMD_MASK`).
pub const PKMAP_BASE: u32 = (FIXADDR_START - PAGE_SIZE * (LAST_PKMAP + 1)) & !(PMD_SIZE - 1);
/// The hole between the linear map and vmalloc (Linux `VMALLOC_OFFSET`).
pub const VMALLOC_OFFSET: u32 = 8 << 20;
/// End of the vmalloc range: two guard pages below pkmap (Linux `VMALLOC_END` with HIGHMEM).
pub const VMALLOC_END: u32 = PKMAP_BASE - 2 * PAGE_SIZE;
/// The least vmalloc space kept when RAM would fill the kernel's gigabyte (Linux
/// `__VMALLOC_RESERVE`).
pub const VMALLOC_RESERVE: u32 = 128 << 20;
/// Most physical memory the linear map can hold (Linux `MAXMEM`).
pub const MAXMEM: u32 = VMALLOC_END - PAGE_OFFSET - VMALLOC_RESERVE;
/// 4 MiB pages `boot` maps at `PAGE_OFFSET`: enough to cover `MAXMEM`.
pub const BOOT_PDES: u32 = MAXMEM.div_ceil(PMD_SIZE);
/// Page frames a 32-bit physical address reaches (Linux `MAX_NONPAE_PFN`).
const MAX_NONPAE_PFN: u64 = 1 << 20;

const _: () = {
    assert!(PKMAP_BASE.is_multiple_of(PMD_SIZE) && PKMAP_BASE + LAST_PKMAP * PAGE_SIZE <= FIXADDR_START);
    assert!(FIXADDR_START / PMD_SIZE == FIXADDR_TOP / PMD_SIZE, "the fixmap must fit one page table");
    assert!(LAST_PKMAP as usize == PTRS_PER_PTE, "the pkmap window is one page table");
    assert!(BOOT_PDES + PAGE_OFFSET / PMD_SIZE <= PKMAP_BASE / PMD_SIZE);
};

// Page-directory and page-table entry bits (Intel SDM vol. 3, 4.3, tables 4-5 and 4-6). There is
// no NX bit without PAE.
const _PAGE_PRESENT: u32 = 0x001;
const _PAGE_RW: u32 = 0x002;
const _PAGE_PWT: u32 = 0x008;
const _PAGE_PCD: u32 = 0x010;
const _PAGE_PSE: u32 = 0x080;
const PAGE_KERNEL: u32 = _PAGE_PRESENT | _PAGE_RW;
const PAGE_KERNEL_RO: u32 = _PAGE_PRESENT;
/// A PDE pointing at a page table: the table's entries decide the permissions.
const PDE_TABLE: u32 = _PAGE_PRESENT | _PAGE_RW;
const FRAME_MASK: u32 = !(PAGE_SIZE - 1);

/// Physical end of what [`phys_to_virt`] answers for: `MAXMEM` under the boot page directory,
/// the lowmem end once [`paging_init`] has switched.
static LINEAR_END: AtomicU32 = AtomicU32::new(MAXMEM);
/// Lowmem end in page frames (`max_low_pfn`); 0 before `paging_init`.
static MAX_LOW_PFN: AtomicU32 = AtomicU32::new(0);
/// Start of the vmalloc range (`high_memory + VMALLOC_OFFSET`); 0 before `paging_init`.
static VMALLOC_START: AtomicU32 = AtomicU32::new(0);
/// Serialises changes to the vmalloc part of the kernel page directory.
static VMALLOC_LOCK: spin::Mutex<()> = spin::Mutex::new(());
/// Virtual addresses of the pkmap and fixmap page tables; 0 before `paging_init`.
static PKMAP_PTES: AtomicUsize = AtomicUsize::new(0);
static FIXMAP_PTES: AtomicUsize = AtomicUsize::new(0);

/// The kernel virtual address of physical `phys` through the linear map, or `None` above it
/// (HighMem, or beyond RAM). Before `paging_init` the boot directory's range counts; afterwards
/// the lowmem end. An address in a hole between RAM regions is not mapped and faults.
pub fn phys_to_virt(phys: u64) -> Option<usize> {
    (phys < u64::from(LINEAR_END.load(Ordering::Acquire))).then(|| (phys as u32 + PAGE_OFFSET) as usize)
}

/// The physical address behind a linear-map address (`__pa`).
pub fn virt_to_phys(vaddr: usize) -> Option<u64> {
    let off = (vaddr as u32).checked_sub(PAGE_OFFSET)?;
    (off < LINEAR_END.load(Ordering::Acquire)).then_some(u64::from(off))
}

/// As [`phys_to_virt`] for the whole range `[phys, phys + size)`.
pub fn phys_range_to_virt(phys: u64, size: u64) -> Option<usize> {
    let end = phys.checked_add(size)?;
    (end <= u64::from(LINEAR_END.load(Ordering::Acquire))).then(|| (phys as u32 + PAGE_OFFSET) as usize)
}

/// One page-directory or page-table page, by its kernel virtual address.
#[derive(Clone, Copy, Debug)]
struct Table(usize);

impl Table {
    /// # Safety
    /// `virt` must be the linear-map address of a page that holds a page directory or page
    /// table owned by this module (reserved in memblock, referenced by nothing else), and stay
    /// mapped for as long as the `Table` is used.
    const unsafe fn new_unchecked(virt: usize) -> Self {
        Self(virt)
    }

    fn get(self, index: usize) -> u32 {
        assert!(index < PTRS_PER_PTE);
        // SAFETY: `new_unchecked`'s contract: a mapped 4 KiB table of 1024 entries; `index` is
        // checked above.
        unsafe { core::ptr::read_volatile((self.0 as *const u32).add(index)) }
    }

    fn set(self, index: usize, value: u32) {
        assert!(index < PTRS_PER_PTE);
        // SAFETY: as in `get`; this module is the only writer of its tables, and the CPU only
        // reads them (the accessed/dirty bits it may set are not relied on).
        unsafe { core::ptr::write_volatile((self.0 as *mut u32).add(index), value) }
    }
}

/// Invalidates this CPU's TLB entry for `vaddr`.
fn invlpg(vaddr: usize) {
    // SAFETY: `invlpg` only drops a cached translation; it touches no memory.
    unsafe { core::arch::asm!("invlpg [{0}]", in(reg) vaddr, options(nostack, preserves_flags)) };
}

/// Builds the kernel page directory in memblock pages.
struct Builder<'m, 'a> {
    mb: &'m mut Memblock<'a>,
    /// Allocation ceiling: the lowmem end, so every table is in the linear map.
    limit: u64,
    pgd_phys: u32,
    pgd: Table,
    nr_table_pages: usize,
    nr_4m: usize,
    nr_4k: usize,
}

/// A zeroed page for a page directory or table, reserved in memblock below `limit`.
fn alloc_table(mb: &mut Memblock<'_>, limit: u64) -> Result<(u32, Table), PlatformError> {
    let size = u64::from(PAGE_SIZE);
    let phys = mb
        .alloc_range(size, size, 0, limit, NUMA_NO_NODE, false)
        .map_err(|_| PlatformError::Memblock("no lowmem left for a page-table page"))?;
    let virt =
        phys_range_to_virt(phys, size).ok_or(PlatformError::Memblock("page-table page outside the linear map"))?;
    // SAFETY: memblock just reserved this page for us (nothing else owns it) and it lies below
    // `limit`, inside the linear map of the current directory and of the one being built.
    let table = unsafe { Table::new_unchecked(virt) };
    for i in 0..PTRS_PER_PTE {
        table.set(i, 0);
    }
    Ok((phys as u32, table))
}

impl<'m, 'a> Builder<'m, 'a> {
    fn new(mb: &'m mut Memblock<'a>, limit: u64) -> Result<Self, PlatformError> {
        let (pgd_phys, pgd) = alloc_table(mb, limit)?;
        Ok(Self { mb, limit, pgd_phys, pgd, nr_table_pages: 1, nr_4m: 0, nr_4k: 0 })
    }

    /// The page table behind the PDE for `vaddr`, created if absent.
    fn pte_table(&mut self, vaddr: u32) -> Result<Table, PlatformError> {
        let pdi = (vaddr >> 22) as usize;
        let pde = self.pgd.get(pdi);
        if pde & _PAGE_PRESENT != 0 {
            assert!(pde & _PAGE_PSE == 0, "a 4 MiB page where a page table is needed");
            let virt = phys_to_virt(u64::from(pde & FRAME_MASK)).ok_or(PlatformError::Memblock("page table outside the linear map"))?;
            // SAFETY: the PDE was written below from `alloc_table`: a table page of ours.
            return Ok(unsafe { Table::new_unchecked(virt) });
        }
        let (phys, table) = alloc_table(self.mb, self.limit)?;
        self.nr_table_pages += 1;
        self.pgd.set(pdi, phys | PDE_TABLE);
        Ok(table)
    }

    /// Maps the 4 KiB page at `vaddr` to `phys`.
    fn map_4k(&mut self, vaddr: u32, phys: u32, flags: u32) -> Result<(), PlatformError> {
        let table = self.pte_table(vaddr)?;
        let i = ((vaddr >> PAGE_SHIFT) as usize) & (PTRS_PER_PTE - 1);
        if table.get(i) == 0 {
            self.nr_4k += 1;
        }
        table.set(i, phys | flags);
        Ok(())
    }

    /// Leaves `vaddr` unmapped (its 4 KiB entry cleared, e.g. after `map_linear` set it).
    fn unmap_4k(&mut self, vaddr: u32) -> Result<(), PlatformError> {
        let table = self.pte_table(vaddr)?;
        let i = ((vaddr >> PAGE_SHIFT) as usize) & (PTRS_PER_PTE - 1);
        if table.get(i) != 0 {
            self.nr_4k -= 1;
        }
        table.set(i, 0);
        Ok(())
    }

    /// Maps physical `[start, end)` (page aligned) at `PAGE_OFFSET + start`: 4 MiB pages where an
    /// aligned 4 MiB lies inside the range and outside `small_only`, 4 KiB pages elsewhere.
    fn map_linear(&mut self, start: u32, end: u32, small_only: (u32, u32)) -> Result<(), PlatformError> {
        let mut phys = start;
        while phys < end {
            let big = phys.is_multiple_of(PMD_SIZE)
                && end - phys >= PMD_SIZE
                && (phys + PMD_SIZE <= small_only.0 || phys >= small_only.1);
            if big {
                self.pgd.set(((phys + PAGE_OFFSET) >> 22) as usize, phys | PAGE_KERNEL | _PAGE_PSE);
                self.nr_4m += 1;
                phys += PMD_SIZE;
            } else {
                self.map_4k(phys + PAGE_OFFSET, phys, PAGE_KERNEL)?;
                phys += PAGE_SIZE;
            }
        }
        Ok(())
    }
}

extern "C" {
    static __kernel_start: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
    static __bss_start: u8;
    static __kernel_end: u8;
    static __boot_stack_guard: u8;
    static __boot_stack_bottom: u8;
    static __boot_stack_top: u8;
}

/// A kernel stack with an unmapped guard page below it.
#[derive(Clone, Copy, Debug)]
pub struct StackGuard {
    pub name: &'static str,
    /// The stack, `[bottom, top)`; the guard page is the page below `bottom`.
    pub bottom: u32,
    pub top: u32,
}

/// The stack whose guard page holds `addr`, if any: the boot stack's (the page `paging_init`
/// leaves out below it). Other CPUs' stacks are vmalloc areas between unmapped guard pages
/// (see [`in_vmalloc_range`]).
pub fn stack_guard_page(addr: u32) -> Option<StackGuard> {
    // Only the addresses of the linker-script symbols are taken.
    let guard = &raw const __boot_stack_guard as u32;
    let (bottom, top) = (&raw const __boot_stack_bottom as u32, &raw const __boot_stack_top as u32);
    (guard..guard + PAGE_SIZE).contains(&addr).then_some(StackGuard { name: "boot stack", bottom, top })
}

/// The image's parts, as virtual `[start, end)` pairs.
#[derive(Clone, Copy, Debug)]
pub struct Sections {
    pub image: (u32, u32),
    pub text: (u32, u32),
    pub rodata: (u32, u32),
    pub data: (u32, u32),
    /// .bss, the boot stack included.
    pub bss: (u32, u32),
}

/// Where the linker put the sections.
pub fn sections() -> Sections {
    // Only the addresses of the linker-script symbols are taken, never their contents.
    let a = |s: *const u8| s as u32;
    Sections {
        image: (a(&raw const __kernel_start), a(&raw const __kernel_end)),
        text: (a(&raw const __text_start), a(&raw const __text_end)),
        rodata: (a(&raw const __rodata_start), a(&raw const __rodata_end)),
        data: (a(&raw const __data_start), a(&raw const __data_end)),
        bss: (a(&raw const __bss_start), a(&raw const __kernel_end)),
    }
}

/// Linux `paging_init` + the layout half of `mem_init` for x86-32: finds `max_pfn` and
/// `max_low_pfn`, builds the kernel page directory (linear map, image permissions, pkmap and
/// fixmap page tables), switches CR3 to it, logs the layout and runs the kmap self-check.
///
/// # Errors
/// [`PlatformError::Memblock`] when a page-table page cannot be allocated below the lowmem end;
/// [`PlatformError::NoMemoryMap`] when memblock holds no RAM.
pub fn paging_init(mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<PagingInfo, PlatformError> {
    let end_of_ram = mb.end_of_dram();
    if end_of_ram == 0 {
        return Err(PlatformError::NoMemoryMap("memblock holds no RAM at paging_init"));
    }
    // Linux find_low_pfn_range / highmem_pfn_init / lowmem_pfn_init, shared with the host
    // simulation. memblock never holds RAM at or above 4 GiB here (e820::setup_memory drops it
    // without PAE), so max_pfn needs no further cap.
    const _: () = assert!(MAXMEM as u64 == mm_init::zones::X86_32_MAXMEM);
    let info = mm_init::zones::x86_32(mb);
    let (max_pfn, max_low_pfn) = (info.max_pfn, info.max_low_pfn);
    debug_assert!(max_pfn <= MAX_NONPAE_PFN);
    // Linux initmem_init (CONFIG_HIGHMEM): highstart_pfn = highend_pfn = max_pfn, lowered to
    // max_low_pfn when there is HighMem; printed either way ("0MB HIGHMEM available.").
    log.line(format_args!("{}MB HIGHMEM available.", max_pfn.saturating_sub(max_low_pfn) >> (20 - PAGE_SHIFT)));
    log.line(format_args!("{}MB LOWMEM available.", max_low_pfn >> (20 - PAGE_SHIFT)));
    let lowmem_end = (max_low_pfn << PAGE_SHIFT) as u32;
    mb.set_current_limit(u64::from(lowmem_end));

    let s = sections();
    let phys = |v: u32| v - PAGE_OFFSET;
    let image = (phys(s.image.0), phys(s.image.1));
    // The RAM to map, page-aligned inwards and clipped to [PAGE_SIZE, lowmem end): page 0 is
    // never mapped.
    let ram: heapless::Vec<(u32, u32), 128> = mb
        .mem_ranges()
        .filter_map(|(base, end, _)| {
            let start = mm_types::align_up(base, u64::from(PAGE_SIZE)).max(u64::from(PAGE_SIZE));
            let end = mm_types::align_down(end, u64::from(PAGE_SIZE)).min(u64::from(lowmem_end));
            (start < end).then_some((start as u32, end as u32))
        })
        .collect();

    let mut b = Builder::new(mb, u64::from(lowmem_end))?;
    for &(start, end) in &ram {
        b.map_linear(start, end, image)?;
    }
    // The image with 4 KiB pages and its permissions: .text and .rodata read-only, the page
    // below the boot stack unmapped (a stack overflow faults there). The image is lowmem, which
    // the linear map above has just mapped with the same virtual addresses: the guard page's
    // entry must be cleared, not merely skipped.
    let guard = &raw const __boot_stack_guard as u32;
    let mut v = s.image.0;
    while v < s.image.1 {
        let ro = (s.text.0..s.rodata.1).contains(&v);
        if v == guard {
            b.unmap_4k(v)?;
        } else {
            b.map_4k(v, phys(v), if ro { PAGE_KERNEL_RO } else { PAGE_KERNEL })?;
        }
        v += PAGE_SIZE;
    }
    // Linux permanent_kmaps_init and the fixmap's page table (early_ioremap_page_table_range_init):
    // empty tables whose entries kmap and kmap_atomic fill.
    let pkmap = b.pte_table(PKMAP_BASE)?;
    let fixmap = b.pte_table(FIXADDR_START)?;
    let (pgd_phys, nr_table_pages, nr_4m, nr_4k) = (b.pgd_phys, b.nr_table_pages, b.nr_4m, b.nr_4k);

    // SAFETY: the new directory maps everything this code touches at the same virtual address
    // as the boot directory: the image (code, .rodata, .data, .bss with the stack and the
    // memblock arrays) and the RAM below the lowmem end, where every page memblock has handed out
    // lies (its limit was MAXMEM, then the lowmem end). CR4.PSE is already on. Loading CR3
    // flushes all TLB entries (none are global).
    unsafe { core::arch::asm!("mov cr3, {0}", in(reg) pgd_phys, options(nostack, preserves_flags)) };
    // The boot CPU's double-fault task switches to this directory too (the others load theirs
    // after this).
    crate::doublefault::set_kernel_cr3(0, pgd_phys);
    LINEAR_END.store(lowmem_end, Ordering::Release);
    MAX_LOW_PFN.store(max_low_pfn as u32, Ordering::Release);
    PKMAP_PTES.store(pkmap.0, Ordering::Release);
    FIXMAP_PTES.store(fixmap.0, Ordering::Release);

    print_layout(lowmem_end, &s, log);
    log.line(format_args!(
        "paging_init: paging on, {nr_table_pages} page-table page(s) from memblock; lowmem mapped with {nr_4m} 4 MiB and {nr_4k} 4 KiB pages"
    ));

    if BOOT_SELFCHECKS.load(Ordering::Acquire) {
        selftest_kmap(mb, max_low_pfn, max_pfn, log);
    }

    Ok(info)
}

/// Whether `paging_init` runs the kmap self-check (`Firmware::set_boot_selfchecks`: only for
/// the application that asks for the boot self-checks).
pub static BOOT_SELFCHECKS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

/// The virtual kernel memory layout, in the form Linux 32-bit `mem_init` printed it.
fn print_layout(lowmem_end: u32, s: &Sections, log: &mut dyn LineSink) {
    let high_memory = PAGE_OFFSET + lowmem_end;
    let vmalloc_start = high_memory + VMALLOC_OFFSET;
    VMALLOC_START.store(vmalloc_start, Ordering::Release);
    let kb = |r: (u32, u32)| (r.1 - r.0) >> 10;
    log.line(format_args!("virtual kernel memory layout:"));
    log.line(format_args!(
        "    fixmap  : {:#010x} - {:#010x}   ({:>4} kB)",
        FIXADDR_START,
        FIXADDR_TOP,
        FIXADDR_SIZE >> 10
    ));
    log.line(format_args!(
        "    pkmap   : {:#010x} - {:#010x}   ({:>4} kB)",
        PKMAP_BASE,
        PKMAP_BASE + LAST_PKMAP * PAGE_SIZE,
        (LAST_PKMAP * PAGE_SIZE) >> 10
    ));
    log.line(format_args!(
        "    vmalloc : {:#010x} - {:#010x}   ({:>4} MB)",
        vmalloc_start,
        VMALLOC_END,
        (VMALLOC_END - vmalloc_start) >> 20
    ));
    log.line(format_args!(
        "    lowmem  : {:#010x} - {:#010x}   ({:>4} MB)",
        PAGE_OFFSET,
        high_memory,
        lowmem_end >> 20
    ));
    log.line(format_args!(
        "    .rodata : {:#010x} - {:#010x}   ({:>4} kB)   (no .init section: .rodata reported in its place)",
        s.rodata.0,
        s.rodata.1,
        kb(s.rodata)
    ));
    let data_bss = (s.data.0, s.bss.1);
    log.line(format_args!("      .data : {:#010x} - {:#010x}   ({:>4} kB)   (.data and .bss)", data_bss.0, data_bss.1, kb(data_bss)));
    log.line(format_args!("      .text : {:#010x} - {:#010x}   ({:>4} kB)", s.text.0, s.text.1, kb(s.text)));
    log.line(format_args!(
        "    NX      : not available without PAE (two-level paging): only .text and .rodata are protected, read-only"
    ));
}

/// Why a kmap request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KmapError {
    /// `paging_init` has not built the pkmap and fixmap tables yet.
    NotReady,
    /// The frame lies above 4 GiB, out of reach without PAE.
    PfnTooHigh(u64),
    /// Every pkmap slot, or every kmap_atomic slot, is in use (Linux would sleep in kmap).
    NoFreeSlot,
    /// The address is not one kmap or kmap_atomic returned (or not the last kmap_atomic one).
    NotMapped(usize),
}

impl core::fmt::Display for KmapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotReady => f.write_str("kmap before paging_init"),
            Self::PfnTooHigh(pfn) => write!(f, "pfn {pfn:#x} is above 4 GiB, out of reach without PAE"),
            Self::NoFreeSlot => f.write_str("no free kmap slot"),
            Self::NotMapped(v) => write!(f, "{v:#010x} is not a live kmap address"),
        }
    }
}

/// The pkmap slots (Linux `pkmap_count` and `last_pkmap_nr`): slot `i` maps the page at
/// `PKMAP_BASE + i * 4 KiB`; `count[i]` is its number of users, 0 when free (the entry is then
/// clear and its TLB entry flushed, so unlike Linux there is no "unmapped, flush pending" state).
struct Pkmap {
    count: [u16; LAST_PKMAP as usize],
    pfn: [u32; LAST_PKMAP as usize],
    last_pkmap_nr: usize,
}

static PKMAP: spin::Mutex<Pkmap> =
    spin::Mutex::new(Pkmap { count: [0; LAST_PKMAP as usize], pfn: [0; LAST_PKMAP as usize], last_pkmap_nr: 0 });
/// kmap_atomic slots in use on each CPU: CPU `c`'s slot `i` is fixmap index
/// `FIX_KMAP_BEGIN + c * KM_TYPE_NR + i`.
static KMAP_ATOMIC_DEPTH: [AtomicU32; crate::cpu::MAX_CPUS] = [const { AtomicU32::new(0) }; crate::cpu::MAX_CPUS];

/// The calling CPU's kmap_atomic depth and the fixmap index of its slot `i`.
fn kmap_slot(i: u32) -> (&'static AtomicU32, u32) {
    let cpu = crate::cpu::smp_processor_id().min(crate::cpu::MAX_CPUS - 1);
    (&KMAP_ATOMIC_DEPTH[cpu], FIX_KMAP_BEGIN + cpu as u32 * KM_TYPE_NR + i)
}

fn table(cell: &AtomicUsize) -> Result<Table, KmapError> {
    match cell.load(Ordering::Acquire) {
        0 => Err(KmapError::NotReady),
        // SAFETY: set by `paging_init` to a page table it allocated and mapped, never freed.
        v => Ok(unsafe { Table::new_unchecked(v) }),
    }
}

fn check_pfn(pfn: u64) -> Result<u32, KmapError> {
    if MAX_LOW_PFN.load(Ordering::Acquire) == 0 {
        return Err(KmapError::NotReady);
    }
    if pfn >= MAX_NONPAE_PFN {
        return Err(KmapError::PfnTooHigh(pfn));
    }
    Ok(pfn as u32)
}

fn lowmem_addr(pfn: u32) -> Option<usize> {
    (pfn < MAX_LOW_PFN.load(Ordering::Acquire)).then(|| (PAGE_OFFSET + (pfn << PAGE_SHIFT)) as usize)
}

/// True for a kernel address inside the linear map (what kmap returns for lowmem).
fn in_linear_map(vaddr: usize) -> bool {
    let linear_end = PAGE_OFFSET as usize + LINEAR_END.load(Ordering::Acquire) as usize;
    (PAGE_OFFSET as usize..linear_end).contains(&vaddr)
}

/// A kernel address for page frame `pfn` until the matching [`kunmap`] (Linux `kmap`): the
/// linear address for lowmem, a pkmap slot (shared and counted when the page is already there)
/// for HighMem.
///
/// # Errors
/// [`KmapError::NotReady`] before `paging_init`, [`KmapError::PfnTooHigh`] above 4 GiB,
/// [`KmapError::NoFreeSlot`] when all 1024 slots are in use.
pub fn kmap(pfn: u64) -> Result<usize, KmapError> {
    let pfn = check_pfn(pfn)?;
    match lowmem_addr(pfn) {
        Some(v) => Ok(v),
        None => kmap_high(pfn),
    }
}

/// Linux `kmap_high`: maps `pfn` into a pkmap slot, even a lowmem one.
fn kmap_high(pfn: u32) -> Result<usize, KmapError> {
    let ptes = table(&PKMAP_PTES)?;
    let mut pk = PKMAP.lock();
    let slot_addr = |i: usize| PKMAP_BASE as usize + (i << PAGE_SHIFT);
    if let Some(i) = (0..LAST_PKMAP as usize).find(|&i| pk.count[i] > 0 && pk.pfn[i] == pfn) {
        pk.count[i] = pk.count[i].checked_add(1).ok_or(KmapError::NoFreeSlot)?;
        return Ok(slot_addr(i));
    }
    // Linux map_new_virtual: search on from the slot after the last one handed out.
    let n = LAST_PKMAP as usize;
    let start = pk.last_pkmap_nr;
    let i = (1..=n).map(|k| (start + k) % n).find(|&i| pk.count[i] == 0).ok_or(KmapError::NoFreeSlot)?;
    ptes.set(i, (pfn << PAGE_SHIFT) | PAGE_KERNEL);
    pk.count[i] = 1;
    pk.pfn[i] = pfn;
    pk.last_pkmap_nr = i;
    Ok(slot_addr(i))
}

/// Ends one [`kmap`] of the page at `vaddr` (Linux `kunmap`); the slot is freed, its entry
/// cleared and its TLB entry flushed when the last user goes.
///
/// # Errors
/// [`KmapError::NotMapped`] when `vaddr` is neither a lowmem address nor a live pkmap slot.
pub fn kunmap(vaddr: usize) -> Result<(), KmapError> {
    if in_linear_map(vaddr) {
        return Ok(());
    }
    let base = PKMAP_BASE as usize;
    if !(base..base + (LAST_PKMAP * PAGE_SIZE) as usize).contains(&vaddr) {
        return Err(KmapError::NotMapped(vaddr));
    }
    let ptes = table(&PKMAP_PTES)?;
    let i = (vaddr - base) >> PAGE_SHIFT;
    let mut pk = PKMAP.lock();
    if pk.count[i] == 0 {
        return Err(KmapError::NotMapped(vaddr));
    }
    pk.count[i] -= 1;
    if pk.count[i] == 0 {
        ptes.set(i, 0);
        invlpg(vaddr & !(PAGE_SIZE as usize - 1));
    }
    Ok(())
}

/// A short-lived kernel address for `pfn` through a fixmap slot (Linux `kmap_atomic`, now
/// `kmap_local_page`): the linear address for lowmem; for HighMem the next of [`KM_TYPE_NR`]
/// per-CPU slots, which nest like a stack. Unmap with [`kunmap_atomic`] in reverse order, before
/// anything that might take another CPU's turn.
///
/// # Errors
/// [`KmapError::NotReady`] before `paging_init`, [`KmapError::PfnTooHigh`] above 4 GiB,
/// [`KmapError::NoFreeSlot`] when `KM_TYPE_NR` atomic mappings are already live.
pub fn kmap_atomic(pfn: u64) -> Result<usize, KmapError> {
    let pfn = check_pfn(pfn)?;
    if let Some(v) = lowmem_addr(pfn) {
        return Ok(v);
    }
    let ptes = table(&FIXMAP_PTES)?;
    let (depth_cell, _) = kmap_slot(0);
    let depth = depth_cell.load(Ordering::Acquire);
    if depth >= KM_TYPE_NR {
        return Err(KmapError::NoFreeSlot);
    }
    let vaddr = fix_to_virt(kmap_slot(depth).1);
    ptes.set(pte_index(vaddr), (pfn << PAGE_SHIFT) | PAGE_KERNEL);
    // The slot's previous user flushed it on unmap; flushing again costs little and keeps a
    // stale entry from ever surviving.
    invlpg(vaddr as usize);
    depth_cell.store(depth + 1, Ordering::Release);
    Ok(vaddr as usize)
}

/// Ends the most recent [`kmap_atomic`] (Linux `kunmap_atomic`): clears the slot and flushes it.
///
/// # Errors
/// [`KmapError::NotMapped`] when `vaddr` is not the most recent live atomic mapping.
pub fn kunmap_atomic(vaddr: usize) -> Result<(), KmapError> {
    if in_linear_map(vaddr) {
        return Ok(());
    }
    let ptes = table(&FIXMAP_PTES)?;
    let (depth_cell, _) = kmap_slot(0);
    let depth = depth_cell.load(Ordering::Acquire);
    if depth == 0 {
        return Err(KmapError::NotMapped(vaddr));
    }
    let top = fix_to_virt(kmap_slot(depth - 1).1) as usize;
    if vaddr & !(PAGE_SIZE as usize - 1) != top {
        return Err(KmapError::NotMapped(vaddr));
    }
    ptes.set(pte_index(top as u32), 0);
    invlpg(top);
    depth_cell.store(depth - 1, Ordering::Release);
    Ok(())
}

/// Linux `set_fixmap_nocache`: maps the page at physical `phys` (page aligned) at fixmap
/// index `idx`, uncached (PCD | PWT), for device registers such as the local APIC's, and
/// returns its virtual address. Mappings here are shared by every CPU (one kernel page
/// directory).
///
/// # Errors
/// [`KmapError::NotReady`] before `paging_init`.
pub fn set_fixmap_nocache(idx: u32, phys: u32) -> Result<usize, KmapError> {
    assert!(idx == FIX_APIC_BASE, "fixmap index {idx} is not a device slot");
    let ptes = table(&FIXMAP_PTES)?;
    let vaddr = fix_to_virt(idx);
    ptes.set(pte_index(vaddr), (phys & FRAME_MASK) | PAGE_KERNEL | _PAGE_PCD | _PAGE_PWT);
    invlpg(vaddr as usize);
    Ok(vaddr as usize)
}

/// The early_memremap window's state; the lock makes one reader at a time.
static FW_READ: spin::Mutex<()> = spin::Mutex::new(());

/// Copies physical `[phys, phys + dst.len())` into `dst` through the `FIX_FW_READ` fixmap slot,
/// one page at a time (Linux `early_memremap` + `memcpy` + `early_memunmap`). Works for any
/// address below 4 GiB whether or not the linear map covers it: BIOS ROM, ACPI tables in
/// reserved RAM or above lowmem. The slot is cleared and flushed afterwards.
///
/// # Errors
/// [`KmapError::NotReady`] before `paging_init`, [`KmapError::PfnTooHigh`] for a range
/// reaching past 4 GiB.
pub fn copy_from_phys(phys: u64, dst: &mut [u8]) -> Result<(), KmapError> {
    let end = phys.checked_add(dst.len() as u64).filter(|&e| e <= 1 << 32).ok_or(KmapError::PfnTooHigh(phys >> PAGE_SHIFT))?;
    let ptes = table(&FIXMAP_PTES)?;
    let _guard = FW_READ.lock();
    let vaddr = fix_to_virt(FIX_FW_READ);
    let mut p = phys;
    let mut done = 0;
    while p < end {
        let page = p & !u64::from(PAGE_SIZE - 1);
        let off = (p - page) as usize;
        let n = ((page + u64::from(PAGE_SIZE)).min(end) - p) as usize;
        ptes.set(pte_index(vaddr), page as u32 | PAGE_KERNEL_RO);
        invlpg(vaddr as usize);
        // SAFETY: the slot maps physical `page` read-only for this loop step; `off + n` stays
        // within the page and `done + n` within `dst`. Firmware tables are ordinary memory.
        unsafe {
            core::ptr::copy_nonoverlapping((vaddr as usize + off) as *const u8, dst[done..].as_mut_ptr(), n);
        }
        done += n;
        p += n as u64;
    }
    ptes.set(pte_index(vaddr), 0);
    invlpg(vaddr as usize);
    Ok(())
}

/// Physical address of the kernel page directory this CPU runs on (CR3).
pub fn current_pgd_phys() -> u32 {
    let cr3: u32;
    // SAFETY: reading CR3 has no side effects; ring 0.
    unsafe { core::arch::asm!("mov {0}, cr3", out(reg) cr3, options(nomem, nostack, preserves_flags)) };
    cr3 & FRAME_MASK
}

/// Fills the trampoline page directory (Linux `trampoline_pgd`, `init_trampoline`): the kernel
/// half (PDEs 768..1024) copied from `kernel_pgd_phys`, which shares its page tables, and one
/// identity 4 KiB mapping of the trampoline page at `tramp_phys` through the page table at
/// `pt_phys`, so that an AP can turn paging on while it still runs at the trampoline's physical
/// address. The kernel directory is left alone: NULL keeps faulting there.
///
/// # Safety
/// `pgd_phys` and `pt_phys` must be pages reserved for this use, inside the linear map, that no
/// CPU is using as page tables while they are written; `kernel_pgd_phys` must be the kernel
/// page directory.
pub unsafe fn build_trampoline_pgd(pgd_phys: u32, pt_phys: u32, tramp_phys: u32, kernel_pgd_phys: u32) {
    let virt = |p: u32| phys_to_virt(u64::from(p)).expect("trampoline page tables are in the linear map");
    // SAFETY: the caller's contract: three page-table pages of ours, mapped at `virt`.
    let (pgd, pt, kpgd) = unsafe {
        (Table::new_unchecked(virt(pgd_phys)), Table::new_unchecked(virt(pt_phys)), Table::new_unchecked(virt(kernel_pgd_phys)))
    };
    for i in 0..PTRS_PER_PTE {
        pgd.set(i, if i >= (PAGE_OFFSET >> 22) as usize { kpgd.get(i) } else { 0 });
        pt.set(i, 0);
    }
    assert!(tramp_phys < PMD_SIZE, "the trampoline lies below 1 MiB");
    pt.set(pte_index(tramp_phys), (tramp_phys & FRAME_MASK) | PAGE_KERNEL);
    pgd.set(0, pt_phys | PDE_TABLE);
}

/// Linux `__fix_to_virt`: fixmap index `idx` is the page `idx` pages below `FIXADDR_TOP`.
pub const fn fix_to_virt(idx: u32) -> u32 {
    FIXADDR_TOP - (idx << PAGE_SHIFT)
}

const fn pte_index(vaddr: u32) -> usize {
    ((vaddr >> PAGE_SHIFT) as usize) & (PTRS_PER_PTE - 1)
}

/// The word the self-check writes at `index` of page `pfn`.
fn pattern(pfn: u32, index: usize) -> u32 {
    (pfn.rotate_left(index as u32) ^ 0xA5C3_0000).wrapping_add(index as u32 * 0x0101)
}

/// Writes a pattern into a free page through one mapping and reads it back through others.
/// With HighMem: the top free HighMem page through pkmap (twice, in different slots) and through
/// kmap_atomic's fixmap slot. Without: a free lowmem page written through a pkmap slot and read
/// through the linear map, which checks the pkmap machinery all the same. A failure is a broken
/// page table: panic, which ends the run with its location.
fn selftest_kmap(mb: &Memblock<'_>, max_low_pfn: u64, max_pfn: u64, log: &mut dyn LineSink) {
    let lowmem_end = max_low_pfn << PAGE_SHIFT;
    let highmem = max_pfn > max_low_pfn;
    // The highest free page of the wanted kind; nothing owns it and the check leaves it free.
    let (lo, hi) = if highmem { (lowmem_end, max_pfn << PAGE_SHIFT) } else { (1 << 20, lowmem_end) };
    let Some(page) = mb.free_ranges_rev(NUMA_NO_NODE).find_map(|(s, e, _)| {
        let e = mm_types::align_down(e.min(hi), u64::from(PAGE_SIZE));
        (e >= u64::from(PAGE_SIZE) && e - u64::from(PAGE_SIZE) >= s.max(lo)).then(|| e - u64::from(PAGE_SIZE))
    }) else {
        log.line(format_args!("kmap self-check: no free page to test with, skipped"));
        return;
    };
    let pfn = (page >> PAGE_SHIFT) as u32;
    let words = PTRS_PER_PTE;
    let write = |va: usize| {
        for i in 0..words {
            // SAFETY: `va` maps the free page `pfn` read-write for the duration (kmap below) and
            // nothing else uses a free page while paging_init runs.
            unsafe { core::ptr::write_volatile((va as *mut u32).add(i), pattern(pfn, i)) };
        }
    };
    let bad = |va: usize| {
        (0..words)
            // SAFETY: as in `write`: `va` maps page `pfn` while the caller holds the mapping.
            .filter(|&i| unsafe { core::ptr::read_volatile((va as *const u32).add(i)) } != pattern(pfn, i))
            .count()
    };
    let expect = |r: Result<usize, KmapError>| r.unwrap_or_else(|e| panic!("kmap self-check: {e}"));
    let done = |r: Result<(), KmapError>| r.unwrap_or_else(|e| panic!("kmap self-check: {e}"));

    if highmem {
        let va1 = expect(kmap(u64::from(pfn)));
        assert!((PKMAP_BASE as usize..FIXADDR_START as usize).contains(&va1), "HighMem kmap gave {va1:#x}");
        write(va1);
        done(kunmap(va1));
        let va2 = expect(kmap(u64::from(pfn)));
        let bad2 = bad(va2);
        done(kunmap(va2));
        let va3 = expect(kmap_atomic(u64::from(pfn)));
        let bad3 = bad(va3);
        done(kunmap_atomic(va3));
        if bad2 + bad3 != 0 {
            panic!("HighMem kmap self-check on pfn {pfn:#x}: {bad2} word(s) wrong through pkmap {va2:#x}, {bad3} through fixmap {va3:#x}");
        }
        log.line(format_args!(
            "HighMem kmap self-check: pfn {pfn:#x} written through pkmap {va1:#010x}, read back through pkmap {va2:#010x} and kmap_atomic {va3:#010x}: passed"
        ));
    } else {
        let va1 = expect(kmap_high(pfn));
        write(va1);
        done(kunmap(va1));
        let linear = lowmem_addr(pfn).unwrap_or_else(|| panic!("pfn {pfn:#x} is not lowmem"));
        let bad1 = bad(linear);
        if bad1 != 0 {
            panic!("kmap self-check on pfn {pfn:#x}: {bad1} word(s) wrong through the linear map after writing through pkmap {va1:#x}");
        }
        log.line(format_args!(
            "kmap self-check (no HighMem): lowmem pfn {pfn:#x} written through pkmap {va1:#010x}, read back through the linear map {linear:#010x}: passed"
        ));
    }
}

/// Whether `addr` lies in the vmalloc range (where the secondary CPUs' stacks are) or in the
/// page below it (the first area's guard page is the top of the hole below the range).
pub fn in_vmalloc_range(addr: u32) -> bool {
    let (start, end) = vmalloc_range();
    (start.saturating_sub(PAGE_SIZE as usize)..end).contains(&(addr as usize))
}

/// The vmalloc range `[VMALLOC_START, VMALLOC_END)`; empty before `paging_init`.
pub fn vmalloc_range() -> (usize, usize) {
    let start = VMALLOC_START.load(Ordering::Acquire);
    if start == 0 {
        return (0, 0);
    }
    (start as usize, VMALLOC_END as usize)
}

/// The kernel page directory as a [`Table`].
fn kernel_pgd() -> Option<Table> {
    let virt = phys_to_virt(u64::from(current_pgd_phys()))?;
    // SAFETY: CR3 holds the kernel page directory `paging_init` built in a reserved lowmem page.
    Some(unsafe { Table::new_unchecked(virt) })
}

/// Maps the 4 KiB page at `vaddr` (inside the vmalloc range) to `phys`, read-write. A missing
/// page table is made from the page `alloc_table` returns (a free lowmem page; zeroed here).
///
/// # Errors
/// A sentence naming the problem (outside the range, already mapped, no table page).
pub fn map_kernel_page(vaddr: usize, phys: u64, alloc_table: &mut dyn FnMut() -> Option<u64>) -> Result<(), &'static str> {
    let (start, end) = vmalloc_range();
    if vaddr < start || vaddr >= end || vaddr % PAGE_SIZE as usize != 0 {
        return Err("map_kernel_page: address outside the vmalloc range or not page-aligned");
    }
    let phys = u32::try_from(phys).map_err(|_| "map_kernel_page: page above 4 GiB (no PAE)")?;
    let _guard = VMALLOC_LOCK.lock();
    let pgd = kernel_pgd().ok_or("map_kernel_page: no kernel page directory")?;
    let pdi = vaddr >> 22;
    let mut pde = pgd.get(pdi);
    if pde & _PAGE_PRESENT == 0 {
        let t = alloc_table().ok_or("map_kernel_page: no memory for a page table")?;
        let tv = phys_to_virt(t).ok_or("map_kernel_page: page-table page outside the linear map")?;
        // SAFETY: the caller handed us a free lowmem page for this table; nothing else uses it.
        let table = unsafe { Table::new_unchecked(tv) };
        for i in 0..PTRS_PER_PTE {
            table.set(i, 0);
        }
        pde = t as u32 | PDE_TABLE;
        // Every CPU runs on this one directory, and x86 never caches a not-present entry, so
        // the new table is visible everywhere at once.
        pgd.set(pdi, pde);
    }
    let tv = phys_to_virt(u64::from(pde & FRAME_MASK)).ok_or("map_kernel_page: page table outside the linear map")?;
    // SAFETY: the PDE points at a page table this module created (above, or at paging_init).
    let table = unsafe { Table::new_unchecked(tv) };
    let i = pte_index(vaddr as u32);
    if table.get(i) & _PAGE_PRESENT != 0 {
        return Err("map_kernel_page: address already mapped");
    }
    table.set(i, (phys & FRAME_MASK) | PAGE_KERNEL);
    Ok(())
}

/// Unmaps the page at `vaddr` in the vmalloc range: returns the physical address it mapped and,
/// when its page table became empty, that table's page (unhooked from the directory, for the
/// caller to free). Flushes this CPU's TLB entry; other CPUs are not told (no IPIs yet).
pub fn unmap_kernel_page(vaddr: usize) -> Option<(u64, Option<u64>)> {
    let (start, end) = vmalloc_range();
    if vaddr < start || vaddr >= end {
        return None;
    }
    let _guard = VMALLOC_LOCK.lock();
    let pgd = kernel_pgd()?;
    let pdi = vaddr >> 22;
    let pde = pgd.get(pdi);
    if pde & _PAGE_PRESENT == 0 {
        return None;
    }
    let tv = phys_to_virt(u64::from(pde & FRAME_MASK))?;
    // SAFETY: as in `map_kernel_page`.
    let table = unsafe { Table::new_unchecked(tv) };
    let i = pte_index(vaddr as u32);
    let pte = table.get(i);
    if pte & _PAGE_PRESENT == 0 {
        return None;
    }
    table.set(i, 0);
    invlpg(vaddr);
    let freed_table = if (0..PTRS_PER_PTE).all(|k| table.get(k) == 0) {
        pgd.set(pdi, 0);
        Some(u64::from(pde & FRAME_MASK))
    } else {
        None
    };
    Some((u64::from(pte & FRAME_MASK), freed_table))
}
