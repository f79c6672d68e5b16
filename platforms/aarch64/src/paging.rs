//! `paging_init` for AArch64: the MMU on with a 4 KiB granule and a linear map of all RAM.
//!
//! Layout (ARM ARM D8, VMSAv8-64, 4 KiB granule):
//! - TTBR0_EL1 only, T0SZ = 25: a 39-bit (512 GiB) address space walked in three levels (L1
//!   entries cover 1 GiB, L2 2 MiB, L3 4 KiB). TTBR1 walks are disabled (EPD1).
//! - The linear map is the identity (virtual = physical): every memblock memory region that is
//!   not NOMAP is mapped Normal write-back, read-write, execute-never, with 2 MiB blocks where a
//!   whole aligned block is RAM and 4 KiB pages elsewhere. NOMAP regions stay unmapped, as in
//!   Linux's `map_mem`.
//! - The kernel image with 4 KiB pages and section permissions: .text read-only executable,
//!   .rodata read-only execute-never, .data/.bss read-write execute-never (W^X).
//! - MMIO the platform uses (the console) as Device-nGnRnE, execute-never.
//! - Nothing else is mapped: address 0 faults. Where RAM starts at physical 0 (the Raspberry
//!   Pi), its first page is left out of the linear map for that reason; memblock keeps it from
//!   the allocators (`reserve_early`).
//! - A fixmap window above vmalloc, one L3 table whose entries are set for a moment to reach a
//!   physical page the linear map does not cover (Linux's fixmap and early `ioremap`): the
//!   spin-table release addresses in page 0 ([`with_fixmap`]).
//!
//! Table pages come from memblock (so they stay reserved) and are written through their
//! physical addresses while the MMU is still off.
#![allow(unsafe_code)]

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{Readable, Writeable, ID_AA64MMFR0_EL1, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1};
use memblock::{Memblock, RegionFlags, NUMA_NO_NODE};
use mm_init::PlatformError;
use mm_types::{LineSink, MemRange, PAGE_SIZE};

const ENTRIES: usize = 512;
const BLOCK_2M: u64 = 2 << 20;
/// Highest physical address the 39-bit identity map can reach.
pub const VA_LIMIT: u64 = 1 << 39;
/// The vmalloc range: one gigabyte at 256 GiB, above any RAM the identity map holds
/// (RAM must end below it; `paging_init` checks).
pub const VMALLOC_START: u64 = 1 << 38;
/// End of the vmalloc range.
pub const VMALLOC_END: u64 = VMALLOC_START + (1 << 30);
/// The fixmap window: one L3 table's worth (2 MiB) right above vmalloc, its own L1 entry.
pub const FIXMAP_START: u64 = VMALLOC_END;
/// End of the fixmap window.
pub const FIXMAP_END: u64 = FIXMAP_START + BLOCK_2M;

/// Physical (= virtual) address of the L1 table, once the MMU is on.
static ROOT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// Serialises changes to the vmalloc tables.
static VMALLOC_LOCK: spin::Mutex<()> = spin::Mutex::new(());
/// Physical (= virtual) address of the fixmap's L3 table; the lock is held while a slot is used.
static FIXMAP_L3: spin::Mutex<u64> = spin::Mutex::new(0);

// Descriptor bits (ARM ARM D8.3).
const VALID: u64 = 1 << 0;
const TABLE: u64 = 1 << 1; // table descriptor at L1/L2, page descriptor at L3
const AF: u64 = 1 << 10;
const SH_INNER: u64 = 3 << 8;
const AP_RO: u64 = 1 << 7; // AP[2]: read-only at EL1
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
const ATTR_DEVICE: u64 = 0 << 2; // MAIR index 0
const ATTR_NORMAL: u64 = 1 << 2; // MAIR index 1
const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// What a mapping is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prot {
    /// .text: read-only, executable.
    Text,
    /// .rodata: read-only.
    ReadOnly,
    /// RAM, .data, .bss: read-write, never executable.
    ReadWrite,
    /// MMIO: Device-nGnRnE, read-write, never executable.
    Device,
}

impl Prot {
    const fn attrs(self) -> u64 {
        match self {
            Self::Text => ATTR_NORMAL | SH_INNER | AF | AP_RO | UXN,
            Self::ReadOnly => ATTR_NORMAL | SH_INNER | AF | AP_RO | PXN | UXN,
            Self::ReadWrite => ATTR_NORMAL | SH_INNER | AF | PXN | UXN,
            Self::Device => ATTR_DEVICE | AF | PXN | UXN,
        }
    }
}

/// Builds translation tables in memblock-allocated pages.
pub struct Tables<'m, 'a> {
    mb: &'m mut Memblock<'a>,
    root: u64,
    /// Table pages allocated.
    pub nr_table_pages: usize,
}

fn entry_ptr(table: u64, index: usize) -> *mut u64 {
    (table as usize as *mut u64).wrapping_add(index)
}

fn read_entry(table: u64, index: usize) -> u64 {
    debug_assert!(index < ENTRIES);
    // SAFETY: `table` is a page memblock gave us for a translation table (identity-mapped with
    // the MMU off, or through the identity map once on) and `index` < 512 keeps the access in it.
    unsafe { core::ptr::read_volatile(entry_ptr(table, index)) }
}

fn write_entry(table: u64, index: usize, value: u64) {
    debug_assert!(index < ENTRIES);
    // SAFETY: as in `read_entry`; nothing else references the table page while it is built.
    unsafe { core::ptr::write_volatile(entry_ptr(table, index), value) }
}

impl<'m, 'a> Tables<'m, 'a> {
    /// A fresh, empty L1 table.
    pub fn new(mb: &'m mut Memblock<'a>) -> Result<Self, PlatformError> {
        let mut t = Self { mb, root: 0, nr_table_pages: 0 };
        t.root = t.alloc_table()?;
        Ok(t)
    }

    fn alloc_table(&mut self) -> Result<u64, PlatformError> {
        let phys = self
            .mb
            .alloc_range(PAGE_SIZE, PAGE_SIZE, 0, VA_LIMIT, NUMA_NO_NODE, false)
            .map_err(|_| PlatformError::Memblock("no memory for a page-table page"))?;
        for i in 0..ENTRIES {
            write_entry(phys, i, 0);
        }
        self.nr_table_pages += 1;
        Ok(phys)
    }

    /// The next-level table under `table[index]`, created if absent; splits a 2 MiB block
    /// into 512 pages with the same attributes if one is there.
    fn next_level(&mut self, table: u64, index: usize, level: u32) -> Result<u64, PlatformError> {
        let e = read_entry(table, index);
        if e & (VALID | TABLE) == VALID | TABLE {
            return Ok(e & ADDR_MASK);
        }
        let next = self.alloc_table()?;
        if e & VALID != 0 && level == 2 {
            // A 2 MiB block becomes 512 pages of the same attributes.
            let base = e & ADDR_MASK & !(BLOCK_2M - 1);
            let attrs = e & !ADDR_MASK & !(VALID | TABLE);
            for i in 0..ENTRIES {
                write_entry(next, i, (base + i as u64 * PAGE_SIZE) | attrs | VALID | TABLE);
            }
        }
        write_entry(table, index, next | VALID | TABLE);
        Ok(next)
    }

    /// Maps `[base, base + size)` (page-aligned outwards) identity with `prot`, using 2 MiB
    /// blocks where possible unless `pages_only`.
    pub fn map(&mut self, range: MemRange, prot: Prot, pages_only: bool) -> Result<(), PlatformError> {
        let start = range.base & !(PAGE_SIZE - 1);
        let end = mm_types::align_up(range.end(), PAGE_SIZE);
        if end > VA_LIMIT {
            return Err(PlatformError::BadFirmwareData("RAM or MMIO above the 39-bit address space"));
        }
        let mut addr = start;
        while addr < end {
            let l1i = ((addr >> 30) & 0x1ff) as usize;
            let l1 = self.root;
            let l2 = self.next_level(l1, l1i, 1)?;
            let l2i = ((addr >> 21) & 0x1ff) as usize;
            if !pages_only && addr.is_multiple_of(BLOCK_2M) && end - addr >= BLOCK_2M {
                let existing = read_entry(l2, l2i);
                if existing & (VALID | TABLE) != VALID | TABLE {
                    write_entry(l2, l2i, addr | prot.attrs() | VALID);
                    addr += BLOCK_2M;
                    continue;
                }
            }
            let l3 = self.next_level(l2, l2i, 2)?;
            let l3i = ((addr >> 12) & 0x1ff) as usize;
            write_entry(l3, l3i, addr | prot.attrs() | VALID | TABLE);
            addr += PAGE_SIZE;
        }
        Ok(())
    }

    /// Leaves the page at `addr` unmapped, splitting a block that covers it (a guard page inside
    /// RAM the linear map covers).
    pub fn unmap_page(&mut self, addr: u64) -> Result<(), PlatformError> {
        let l2 = self.next_level(self.root, ((addr >> 30) & 0x1ff) as usize, 1)?;
        let l3 = self.next_level(l2, ((addr >> 21) & 0x1ff) as usize, 2)?;
        write_entry(l3, ((addr >> 12) & 0x1ff) as usize, 0);
        Ok(())
    }

    /// Creates the L2 table covering the vmalloc gigabyte, so that later mappings there only
    /// ever add and remove L3 tables.
    pub fn prepare_vmalloc(&mut self) -> Result<(), PlatformError> {
        let l1i = ((VMALLOC_START >> 30) & 0x1ff) as usize;
        self.next_level(self.root, l1i, 1).map(|_| ())
    }

    /// Creates the L2 and L3 tables of the fixmap window (all entries invalid) and returns the
    /// L3 table.
    pub fn prepare_fixmap(&mut self) -> Result<u64, PlatformError> {
        let l2 = self.next_level(self.root, ((FIXMAP_START >> 30) & 0x1ff) as usize, 1)?;
        self.next_level(l2, ((FIXMAP_START >> 21) & 0x1ff) as usize, 2)
    }

    /// Turns the MMU on with these tables. Caches on too.
    pub fn activate(self) -> usize {
        ROOT.store(self.root, core::sync::atomic::Ordering::Release);
        let pa_range = ID_AA64MMFR0_EL1.get() & 0xf;
        // MAIR: attr0 Device-nGnRnE, attr1 Normal write-back read/write-allocate, attr2 Normal
        // non-cacheable.
        MAIR_EL1.set(0x00 | (0xff << 8) | (0x44 << 16));
        let tcr = 25 // T0SZ: 39-bit VA
            | (1 << 8) // IRGN0: write-back write-allocate
            | (1 << 10) // ORGN0: write-back write-allocate
            | (3 << 12) // SH0: inner shareable
            | (0 << 14) // TG0: 4 KiB
            | (1 << 23) // EPD1: no TTBR1 walks
            | (pa_range << 32); // IPS = what the CPU supports
        TCR_EL1.set(tcr);
        TTBR0_EL1.set(self.root);
        barrier::dsb(barrier::ISH);
        barrier::isb(barrier::SY);
        // SAFETY: invalidating this CPU's TLB entries has no memory effect; required before the
        // first enable since the reset TLB contents are unknown.
        unsafe { core::arch::asm!("tlbi vmalle1", "dsb nsh", "isb", options(nostack)) };
        let sctlr = SCTLR_EL1.get() | (1 << 0) | (1 << 2) | (1 << 12); // M, C, I
        SCTLR_EL1.set(sctlr);
        barrier::isb(barrier::SY);
        self.nr_table_pages
    }
}

extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __bss_start: u8;
    static __bss_end: u8;
    static __kernel_end: u8;
    static __boot_stack_guard: u8;
}

/// .bss, boot stack included.
pub fn bss() -> MemRange {
    let (s, e) = (&raw const __bss_start as u64, &raw const __bss_end as u64);
    MemRange::new(s, e - s)
}

/// The image's sections, physical = virtual.
#[derive(Clone, Copy, Debug)]
pub struct Sections {
    pub text: MemRange,
    pub rodata: MemRange,
    pub data: MemRange,
}

/// Where the linker put the sections.
pub fn sections() -> Sections {
    let a = |s: *const u8| s as u64;
    let (ks, te, rs, re, ds, ke) = (
        a(&raw const __kernel_start),
        a(&raw const __text_end),
        a(&raw const __rodata_start),
        a(&raw const __rodata_end),
        a(&raw const __data_start),
        a(&raw const __kernel_end),
    );
    Sections {
        text: MemRange::new(ks, te - ks),
        rodata: MemRange::new(rs, re - rs),
        data: MemRange::new(ds, ke - ds),
    }
}

/// Builds the tables for RAM, the image and `extra` (MMIO, and the device tree, which must stay
/// readable even when `mem=` cut it out of RAM, as Linux's `fixmap_remap_fdt` ensures), turns
/// the MMU on, and logs the layout. Returns the number of table pages.
pub fn paging_init(
    mb: &mut Memblock<'_>,
    extra: &[(&str, MemRange, Prot)],
    log: &mut dyn LineSink,
) -> Result<usize, PlatformError> {
    let ram: heapless::Vec<(MemRange, bool), 128> = mb
        .memory()
        .iter()
        .map(|r| (MemRange::new(r.base, r.size), r.flags.contains(RegionFlags::NOMAP)))
        .collect();
    let mut t = Tables::new(mb)?;
    for (r, nomap) in &ram {
        if r.end() > VMALLOC_START {
            return Err(PlatformError::BadFirmwareData("RAM above 256 GiB collides with the vmalloc range"));
        }
        // Page 0 stays unmapped even where it is RAM, so that a NULL dereference faults.
        let r = if r.base == 0 { MemRange::new(PAGE_SIZE, r.size.saturating_sub(PAGE_SIZE)) } else { *r };
        if !nomap && r.size > 0 {
            t.map(r, Prot::ReadWrite, false)?;
        }
    }
    t.prepare_vmalloc()?;
    let fixmap_l3 = t.prepare_fixmap()?;
    let s = sections();
    t.map(s.text, Prot::Text, true)?;
    t.map(s.rodata, Prot::ReadOnly, true)?;
    // .data and .bss, without the guard page below the boot stack: the image lies in RAM, which
    // the linear map above already covers, so the guard page is unmapped explicitly.
    let guard = &raw const __boot_stack_guard as u64;
    t.map(MemRange::new(s.data.base, guard - s.data.base), Prot::ReadWrite, true)?;
    t.map(MemRange::new(guard + PAGE_SIZE, s.data.end() - guard - PAGE_SIZE), Prot::ReadWrite, true)?;
    t.unmap_page(guard)?;
    for (_, r, prot) in extra {
        t.map(*r, *prot, true)?;
    }
    *FIXMAP_L3.lock() = fixmap_l3;
    let pages = t.activate();
    log.line(format_args!("Virtual kernel memory layout (identity linear map, 4 KiB granule, 39-bit VA):"));
    for (r, nomap) in &ram {
        let what = match (*nomap, r.base) {
            (true, _) => "not mapped (NOMAP)",
            (false, 0) => "linear map, RW NX; page 0 unmapped (NULL faults)",
            (false, _) => "linear map, RW NX",
        };
        log.line(format_args!("    memory  : {:#018x} - {:#018x}   ({:>6} MB) {what}", r.base, r.end(), r.size >> 20));
    }
    for (name, r, prot) in [(".text", s.text, "RO X"), (".rodata", s.rodata, "RO NX"), (".data", s.data, "RW NX")] {
        log.line(format_args!("    {name:<8}: {:#018x} - {:#018x}   ({:>6} kB) {prot}", r.base, r.end(), r.size >> 10));
    }
    log.line(format_args!("    vmalloc : {:#018x} - {:#018x}   ({:>6} MB)", VMALLOC_START, VMALLOC_END, (VMALLOC_END - VMALLOC_START) >> 20));
    log.line(format_args!("    fixmap  : {:#018x} - {:#018x}   ({:>6} kB)", FIXMAP_START, FIXMAP_END, (FIXMAP_END - FIXMAP_START) >> 10));
    for (name, r, prot) in extra {
        let how = match prot {
            Prot::Device => "device nGnRnE",
            Prot::ReadOnly => "RO NX",
            Prot::ReadWrite => "RW NX",
            Prot::Text => "RO X",
        };
        log.line(format_args!("    {name:<8}: {:#018x} - {:#018x}   ({:>6} kB) {how}", r.base, r.end(), r.size >> 10));
    }
    log.line(format_args!("paging_init: MMU on, {pages} page-table page(s) from memblock"));
    Ok(pages)
}

/// Maps the 4 KiB page at `vaddr` (inside the vmalloc range) to `phys`, read-write,
/// execute-never; a missing L3 table is made from the page `alloc_table` returns (zeroed here).
///
/// # Errors
/// A sentence naming the problem.
pub fn map_kernel_page(vaddr: usize, phys: u64, alloc_table: &mut dyn FnMut() -> Option<u64>) -> Result<(), &'static str> {
    let va = vaddr as u64;
    if !(VMALLOC_START..VMALLOC_END).contains(&va) || !va.is_multiple_of(PAGE_SIZE) {
        return Err("map_kernel_page: address outside the vmalloc range or not page-aligned");
    }
    let _guard = VMALLOC_LOCK.lock();
    let root = ROOT.load(core::sync::atomic::Ordering::Acquire);
    if root == 0 {
        return Err("map_kernel_page: MMU not on yet");
    }
    let l1 = read_entry(root, ((va >> 30) & 0x1ff) as usize);
    if l1 & (VALID | TABLE) != VALID | TABLE {
        return Err("map_kernel_page: no L2 table for the vmalloc range");
    }
    let l2 = l1 & ADDR_MASK;
    let l2i = ((va >> 21) & 0x1ff) as usize;
    let mut e2 = read_entry(l2, l2i);
    if e2 & VALID == 0 {
        let t = alloc_table().ok_or("map_kernel_page: no memory for a page table")?;
        for i in 0..ENTRIES {
            write_entry(t, i, 0);
        }
        barrier::dsb(barrier::ISHST);
        e2 = t | VALID | TABLE;
        write_entry(l2, l2i, e2);
    }
    let l3 = e2 & ADDR_MASK;
    let l3i = ((va >> 12) & 0x1ff) as usize;
    if read_entry(l3, l3i) & VALID != 0 {
        return Err("map_kernel_page: address already mapped");
    }
    write_entry(l3, l3i, (phys & ADDR_MASK) | Prot::ReadWrite.attrs() | VALID | TABLE);
    barrier::dsb(barrier::ISHST);
    barrier::isb(barrier::SY);
    Ok(())
}

/// Unmaps the page at `vaddr` in the vmalloc range: the physical address it mapped and, when its
/// L3 table became empty, that table's page (unhooked, TLBs invalidated on every CPU).
pub fn unmap_kernel_page(vaddr: usize) -> Option<(u64, Option<u64>)> {
    let va = vaddr as u64;
    if !(VMALLOC_START..VMALLOC_END).contains(&va) {
        return None;
    }
    let _guard = VMALLOC_LOCK.lock();
    let root = ROOT.load(core::sync::atomic::Ordering::Acquire);
    let l1 = read_entry(root, ((va >> 30) & 0x1ff) as usize);
    let l2 = l1 & ADDR_MASK;
    let l2i = ((va >> 21) & 0x1ff) as usize;
    let e2 = read_entry(l2, l2i);
    if e2 & VALID == 0 {
        return None;
    }
    let l3 = e2 & ADDR_MASK;
    let l3i = ((va >> 12) & 0x1ff) as usize;
    let e3 = read_entry(l3, l3i);
    if e3 & VALID == 0 {
        return None;
    }
    write_entry(l3, l3i, 0);
    let empty = (0..ENTRIES).all(|i| read_entry(l3, i) == 0);
    if empty {
        write_entry(l2, l2i, 0);
    }
    // SAFETY: broadcast TLB invalidation of this address (all levels, all CPUs); no memory
    // effect besides dropping cached translations.
    unsafe {
        core::arch::asm!("dsb ishst", "tlbi vaae1is, {0}", "dsb ish", "isb", in(reg) va >> 12, options(nostack));
    }
    Some((e3 & ADDR_MASK, empty.then_some(l3)))
}

/// Maps the physical page holding `phys` at the fixmap window with `prot`, calls `f` with the
/// virtual address of `phys` itself, and unmaps the page again (TLBs invalidated on every CPU)
/// before returning what `f` returned. For pages the linear map does not cover, like page 0;
/// one user at a time (a lock is held across `f`).
///
/// # Errors
/// The MMU is not on yet (there is no window before `paging_init`).
pub fn with_fixmap<R>(phys: u64, prot: Prot, f: impl FnOnce(usize) -> R) -> Result<R, &'static str> {
    let l3 = FIXMAP_L3.lock();
    if *l3 == 0 || ROOT.load(core::sync::atomic::Ordering::Acquire) == 0 {
        return Err("fixmap: the MMU is not on yet");
    }
    let va = FIXMAP_START;
    let index = ((va >> 12) & 0x1ff) as usize;
    write_entry(*l3, index, (phys & ADDR_MASK) | prot.attrs() | VALID | TABLE);
    // The entry was invalid, so no TLB holds it: a barrier makes the walk see the new one.
    barrier::dsb(barrier::ISHST);
    barrier::isb(barrier::SY);
    let r = f(va as usize + (phys % PAGE_SIZE) as usize);
    write_entry(*l3, index, 0);
    // SAFETY: broadcast TLB invalidation of the window's address; no memory effect besides
    // dropping cached translations.
    unsafe {
        core::arch::asm!("dsb ishst", "tlbi vaae1is, {0}", "dsb ish", "isb", in(reg) va >> 12, options(nostack));
    }
    Ok(r)
}
