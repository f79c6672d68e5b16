//! `paging_init` for 32-bit ARM without LPAE: short-descriptor tables, the 3G/1G split, lowmem
//! mapped with 1 MiB sections, HighMem reached through fixmap `kmap_local` slots.
//!
//! Virtual layout (Linux 6.1 `arch/arm`, VMSPLIT_3G, Documentation/arm/memory.rst):
//! ```text
//! 0xfff00000 FIXADDR_END   ─┐ fixmap: FIXADDR_TOP = 0xffeff000 is slot 0; slot 0 is Linux's
//! 0xffc80000 FIXADDR_START ┘  earlycon (unused here), then KM_MAX_IDX kmap_local slots per CPU
//! 0xff800000 VMALLOC_END
//!                            vmalloc
//! VMALLOC_START = high_memory + VMALLOC_OFFSET (8 MiB), 8 MiB-aligned
//! high_memory = PAGE_OFFSET + (arm_lowmem_limit - PHYS_OFFSET)
//!                            lowmem: physical [PHYS_OFFSET, arm_lowmem_limit) with sections
//! 0xc0000000 PAGE_OFFSET
//! 0xbfe00000 PKMAP_BASE     pkmap: LAST_PKMAP = 512 `kmap` slots (Linux: PAGE_OFFSET - PMD_SIZE)
//!                            below: the physical addresses of lowmem and the console (identity)
//! ```
//!
//! `arm_lowmem_limit` is Linux's `adjust_lowmem_bounds` (`mm_init::zones::arm32_lowmem`):
//! `vmalloc_min = VMALLOC_END - 240 MiB - VMALLOC_OFFSET` = 0xf0000000, so at most 768 MiB of
//! RAM are lowmem; the rest is HighMem, which has no kernel address until [`kmap`] gives it a
//! pkmap slot (shared by every CPU, counted, flushed on every CPU when the last user goes) or
//! [`kmap_local`] maps it in one of this CPU's fixmap slots (nested like a stack).
//!
//! The image runs at its physical address (it was loaded there and runs there with the MMU
//! off), so besides the linear map at `PAGE_OFFSET` lowmem is also mapped at its physical
//! address, with the same permissions (Linux keeps such an identity map for the code that turns
//! the MMU on; here it also keeps valid every pointer made while the MMU was off: memblock's
//! doubled region arrays, the page tables, the image's statics). Identity and linear aliases of
//! the image carry the section permissions: .text read-only (executable at its identity address
//! only), .rodata read-only, .data/.bss read-write, every data mapping execute-never (XN); the
//! guard page below the boot stack is unmapped. Page 0 is never mapped.
//!
//! Tables: the first-level table (4096 word entries, one per MiB, 16 KiB) is Linux's
//! `swapper_pg_dir`, in the 16 KiB below the image (reserved by `reserve_early` as Linux's
//! `arm_mm_memblock_reserve` does). Second-level tables are 1 KiB (256 small pages); one 4 KiB
//! page holds the four tables of an aligned 4 MiB, as Linux pairs its hardware tables. Every
//! table page is in lowmem and is written through its identity address.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use aarch32_cpu::register::{SysReg, SysRegRead, SysRegWrite};
use memblock::{Memblock, RegionFlags, NUMA_NO_NODE};
use mm_init::PlatformError;
use mm_types::{LineSink, MemRange};

/// Start of the kernel's quarter of the address space (`PAGE_OFFSET`, VMSPLIT_3G).
pub const PAGE_OFFSET: u32 = 0xC000_0000;
const PAGE_SIZE: u32 = 4096;
const SECTION_SIZE: u32 = 1 << 20;
/// `VMALLOC_OFFSET`: the hole between the linear map and vmalloc.
pub const VMALLOC_OFFSET: u32 = 8 << 20;
/// `VMALLOC_END` on 32-bit ARM.
pub const VMALLOC_END: u32 = 0xFF80_0000;
/// `FIXADDR_START`/`FIXADDR_END` (arch/arm/include/asm/fixmap.h).
pub const FIXADDR_START: u32 = 0xFFC8_0000;
pub const FIXADDR_END: u32 = 0xFFF0_0000;
/// Slot 0 of the fixmap.
pub const FIXADDR_TOP: u32 = FIXADDR_END - PAGE_SIZE;
/// kmap_local slots per CPU (Linux `KM_MAX_IDX`).
pub const KM_MAX_IDX: u32 = 16;
/// pkmap slots (Linux `LAST_PKMAP`: `PTRS_PER_PTE`, two hardware tables).
pub const LAST_PKMAP: u32 = 512;
/// Start of the pkmap window (Linux `PKMAP_BASE = PAGE_OFFSET - PMD_SIZE`).
pub const PKMAP_BASE: u32 = PAGE_OFFSET - LAST_PKMAP * PAGE_SIZE;
/// `FIX_KMAP_BEGIN`: after `FIX_EARLYCON_MEM_BASE`.
const FIX_KMAP_BEGIN: u32 = 1;
const FIX_KMAP_END: u32 = FIX_KMAP_BEGIN + KM_MAX_IDX * kernel::percpu::NR_CPUS as u32 - 1;
const _: () = assert!(FIXADDR_TOP - FIX_KMAP_END * PAGE_SIZE >= FIXADDR_START);

/// Size of the first-level table (`swapper_pg_dir`), which sits right below the image.
pub const L1_TABLE_BYTES: u64 = 16 << 10;

/// `fix_to_virt`.
pub const fn fix_to_virt(idx: u32) -> u32 {
    FIXADDR_TOP - idx * PAGE_SIZE
}

// Short-descriptor bits (ARM ARM B3.5.1), TEX remap off, access flag off.
const SECT: u32 = 0b10;
const SECT_B: u32 = 1 << 2;
const SECT_C: u32 = 1 << 3;
const SECT_XN: u32 = 1 << 4;
const SECT_AP01: u32 = 1 << 10; // AP[1:0] = 01: PL1 access only
const SECT_TEX1: u32 = 1 << 12;
const SECT_APX: u32 = 1 << 15; // AP[2]: read-only
const SECT_S: u32 = 1 << 16;
const L1_TABLE: u32 = 0b01;
const PTE_XN: u32 = 1 << 0;
const PTE_SMALL: u32 = 1 << 1;
const PTE_B: u32 = 1 << 2;
const PTE_C: u32 = 1 << 3;
const PTE_AP01: u32 = 1 << 4;
const PTE_TEX1: u32 = 1 << 6;
const PTE_APX: u32 = 1 << 9;
const PTE_S: u32 = 1 << 10;

/// What a mapping is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prot {
    /// .text at its identity address: read-only, executable.
    Text,
    /// Read-only, never executable.
    ReadOnly,
    /// RAM, .data, .bss: read-write, never executable.
    ReadWrite,
    /// MMIO: shareable Device, read-write, never executable.
    Device,
}

impl Prot {
    const ALL: [Self; 4] = [Self::Text, Self::ReadOnly, Self::ReadWrite, Self::Device];

    /// Normal memory is write-back write-allocate (TEX 001, C, B), shareable.
    const fn section(self) -> u32 {
        let normal = SECT_TEX1 | SECT_C | SECT_B | SECT_S | SECT_AP01 | SECT;
        match self {
            Self::Text => normal | SECT_APX,
            Self::ReadOnly => normal | SECT_APX | SECT_XN,
            Self::ReadWrite => normal | SECT_XN,
            Self::Device => SECT_B | SECT_AP01 | SECT_XN | SECT,
        }
    }

    const fn page(self) -> u32 {
        let normal = PTE_TEX1 | PTE_C | PTE_B | PTE_S | PTE_AP01 | PTE_SMALL;
        match self {
            Self::Text => normal | PTE_APX,
            Self::ReadOnly => normal | PTE_APX | PTE_XN,
            Self::ReadWrite => normal | PTE_XN,
            Self::Device => PTE_B | PTE_AP01 | PTE_XN | PTE_SMALL,
        }
    }

    /// The permission of a section descriptor this module wrote.
    fn of_section(desc: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.section() == desc & 0x000f_ffff)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Text => "RO X",
            Self::ReadOnly => "RO NX",
            Self::ReadWrite => "RW NX",
            Self::Device => "device",
        }
    }
}

/// TTBCR (ARM ARM B4.1.153), which aarch32-cpu does not model: described with its `SysReg`.
struct Ttbcr;
impl SysReg for Ttbcr {
    const CP: u32 = 15;
    const CRN: u32 = 2;
    const OP1: u32 = 0;
    const CRM: u32 = 0;
    const OP2: u32 = 2;
}
impl SysRegRead for Ttbcr {}
impl SysRegWrite for Ttbcr {}

/// TLBIMVAAIS: invalidate a VA, all ASIDs, inner shareable (every CPU).
struct TlbiMvaaIs;
impl SysReg for TlbiMvaaIs {
    const CP: u32 = 15;
    const CRN: u32 = 8;
    const OP1: u32 = 0;
    const CRM: u32 = 3;
    const OP2: u32 = 3;
}
impl SysRegWrite for TlbiMvaaIs {}

/// TLBIMVAA: invalidate a VA, all ASIDs, this CPU only.
struct TlbiMvaa;
impl SysReg for TlbiMvaa {
    const CP: u32 = 15;
    const CRN: u32 = 8;
    const OP1: u32 = 0;
    const CRM: u32 = 7;
    const OP2: u32 = 3;
}
impl SysRegWrite for TlbiMvaa {}

/// TTBR0 flags: inner and outer write-back write-allocate walks, inner shareable (Linux
/// `TTB_FLAGS_SMP`).
const TTB_FLAGS_SMP: u32 = (1 << 6) | (1 << 5) | (1 << 3) | (1 << 1);

/// Physical (= identity) address of the first-level table once built; 0 before.
static L1: AtomicU32 = AtomicU32::new(0);
/// Physical address mapped at `PAGE_OFFSET` (`PHYS_OFFSET`).
static PHYS_OFFSET: AtomicU32 = AtomicU32::new(0);
/// `arm_lowmem_limit` (exclusive), 0 before `paging_init`.
static LOWMEM_LIMIT: AtomicU32 = AtomicU32::new(0);
/// `VMALLOC_START`, 0 before `paging_init`.
static VMALLOC_START: AtomicU32 = AtomicU32::new(0);
static MMU_ON: AtomicBool = AtomicBool::new(false);
/// Serialises changes to the vmalloc tables.
static VMALLOC_LOCK: spin::Mutex<()> = spin::Mutex::new(());
/// The pkmap slots: use counts and the page each holds (Linux `pkmap_count`, `page_address`),
/// and where the last search ended (`last_pkmap_nr`).
struct Pkmap {
    count: [u16; LAST_PKMAP as usize],
    phys: [u32; LAST_PKMAP as usize],
    last: usize,
}
static PKMAP: spin::Mutex<Pkmap> = spin::Mutex::new(Pkmap { count: [0; LAST_PKMAP as usize], phys: [0; LAST_PKMAP as usize], last: 0 });
/// Each CPU's kmap_local depth.
static KMAP_DEPTH: [AtomicU32; kernel::percpu::NR_CPUS] = [const { AtomicU32::new(0) }; kernel::percpu::NR_CPUS];

/// `[VMALLOC_START, VMALLOC_END)`; empty before `paging_init`.
pub fn vmalloc_bounds() -> (usize, usize) {
    match VMALLOC_START.load(Ordering::Acquire) {
        0 => (0, 0),
        s => (s as usize, VMALLOC_END as usize),
    }
}

/// The linear-map address of a lowmem physical address; identity while the MMU is off.
pub fn phys_to_virt(phys: u64) -> Option<usize> {
    if !MMU_ON.load(Ordering::Acquire) {
        return u32::try_from(phys).ok().map(|p| p as usize);
    }
    let (off, limit) = (u64::from(PHYS_OFFSET.load(Ordering::Acquire)), u64::from(LOWMEM_LIMIT.load(Ordering::Acquire)));
    (off..limit).contains(&phys).then(|| (u64::from(PAGE_OFFSET) + phys - off) as usize)
}

/// The physical address behind a linear-map address, or behind an identity address of lowmem
/// (the image's statics).
pub fn virt_to_phys(vaddr: usize) -> Option<u64> {
    let v = vaddr as u64;
    if !MMU_ON.load(Ordering::Acquire) {
        return Some(v);
    }
    let (off, limit) = (u64::from(PHYS_OFFSET.load(Ordering::Acquire)), u64::from(LOWMEM_LIMIT.load(Ordering::Acquire)));
    let page_offset = u64::from(PAGE_OFFSET);
    if v >= page_offset {
        let phys = v - page_offset + off;
        return (phys < limit).then_some(phys);
    }
    (off..limit).contains(&v).then_some(v)
}

fn entry_ptr(table: u32, index: usize) -> *mut u32 {
    (table as usize as *mut u32).wrapping_add(index)
}

fn read_entry(table: u32, index: usize) -> u32 {
    // SAFETY: `table` is a translation-table page this module allocated in lowmem, reachable
    // at its physical address (MMU off, or the identity map of lowmem); callers keep `index`
    // inside it (4096 entries for the first level, 1024 for a second-level page).
    unsafe { core::ptr::read_volatile(entry_ptr(table, index)) }
}

fn write_entry(table: u32, index: usize, value: u32) {
    // SAFETY: as in `read_entry`; the table lock or the single-threaded build keeps other
    // writers away.
    unsafe { core::ptr::write_volatile(entry_ptr(table, index), value) }
}

/// Makes table writes visible to the walker.
fn sync_tables() {
    aarch32_cpu::asm::dsb();
    aarch32_cpu::asm::isb();
}

/// The second-level table page of the 4 MiB group holding `va`, if one of the group's four
/// first-level entries points into one.
fn group_page(l1: u32, va: u32) -> Option<u32> {
    let first = (va >> 20) as usize & !3;
    (first..first + 4).map(|i| read_entry(l1, i)).find(|e| e & 0b11 == L1_TABLE).map(|e| e & !0xfff)
}

/// The second-level table for the MiB holding `va`, made (from `alloc`, a zeroed-here page) if
/// absent; a section there is split into 256 pages of the same permissions.
fn l2_table(l1: u32, va: u32, alloc: &mut dyn FnMut() -> Option<u32>) -> Result<u32, &'static str> {
    let i = (va >> 20) as usize;
    let e = read_entry(l1, i);
    if e & 0b11 == L1_TABLE {
        return Ok(e & !0x3ff);
    }
    let page = match group_page(l1, va) {
        Some(p) => p,
        None => {
            let p = alloc().ok_or("no memory for a page-table page")?;
            for k in 0..1024 {
                write_entry(p, k, 0);
            }
            p
        }
    };
    let table = page + (i as u32 & 3) * 1024;
    if e & 0b11 == SECT {
        let prot = Prot::of_section(e).ok_or("a section of unknown attributes cannot be split")?;
        let base = e & 0xfff0_0000;
        for k in 0..256 {
            write_entry(table, k, (base + k as u32 * PAGE_SIZE) | prot.page());
        }
    }
    aarch32_cpu::asm::dsb();
    write_entry(l1, i, table | L1_TABLE);
    Ok(table)
}

/// Builds the kernel's tables in memblock pages.
struct Builder<'m, 'a> {
    mb: &'m mut Memblock<'a>,
    l1: u32,
    limit: u64,
    pages: usize,
}

impl Builder<'_, '_> {
    fn alloc(&mut self) -> Option<u32> {
        let p = self.mb.alloc_range(u64::from(PAGE_SIZE), u64::from(PAGE_SIZE), 0, self.limit, NUMA_NO_NODE, false).ok()?;
        self.pages += 1;
        Some(p as u32)
    }

    fn map_page(&mut self, va: u32, pa: u32, prot: Prot) -> Result<(), PlatformError> {
        let l1 = self.l1;
        let table = l2_table(l1, va, &mut || self.alloc()).map_err(PlatformError::Memblock)?;
        write_entry(table, ((va >> 12) & 0xff) as usize, pa | prot.page());
        Ok(())
    }

    fn unmap_page(&mut self, va: u32) -> Result<(), PlatformError> {
        let l1 = self.l1;
        let table = l2_table(l1, va, &mut || self.alloc()).map_err(PlatformError::Memblock)?;
        write_entry(table, ((va >> 12) & 0xff) as usize, 0);
        Ok(())
    }

    /// Maps physical `[pa, pa + size)` (page-aligned) at `va` with sections where a whole
    /// aligned MiB fits and `sections`, pages elsewhere.
    fn map(&mut self, va: u32, pa: u64, size: u64, prot: Prot, sections: bool) -> Result<(), PlatformError> {
        let (mut va, mut pa, end) = (u64::from(va), pa, pa + size);
        while pa < end {
            let whole = pa.is_multiple_of(u64::from(SECTION_SIZE)) && va.is_multiple_of(u64::from(SECTION_SIZE)) && end - pa >= u64::from(SECTION_SIZE);
            if sections && whole && read_entry(self.l1, (va >> 20) as usize) & 0b11 != L1_TABLE {
                write_entry(self.l1, (va >> 20) as usize, pa as u32 | prot.section());
                pa += u64::from(SECTION_SIZE);
                va += u64::from(SECTION_SIZE);
                continue;
            }
            self.map_page(va as u32, pa as u32, prot)?;
            pa += u64::from(PAGE_SIZE);
            va += u64::from(PAGE_SIZE);
        }
        Ok(())
    }
}

extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __bss_start: u8;
    static __kernel_end: u8;
    static __boot_stack_guard: u8;
}

/// .bss, boot stack included.
pub fn bss() -> MemRange {
    let (s, e) = (&raw const __bss_start as u64, &raw const __kernel_end as u64);
    MemRange::new(s, e - s)
}

/// The image's sections (physical = identity addresses).
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
    Sections { text: MemRange::new(ks, te - ks), rodata: MemRange::new(rs, re - rs), data: MemRange::new(ds, ke - ds) }
}

/// The first-level table's physical address: the 16 KiB below the image (`swapper_pg_dir`).
pub fn swapper_pg_dir() -> u64 {
    (&raw const __kernel_start as u64) - L1_TABLE_BYTES
}

/// Builds the tables (linear and identity maps of lowmem, the image with its permissions,
/// `extra` at their identity addresses, the fixmap's second-level tables), turns the MMU on and
/// logs the layout. `phys_offset` is what `PAGE_OFFSET` maps, `lowmem_limit` is
/// `arm_lowmem_limit`. Returns the number of second-level table pages taken from memblock.
pub fn paging_init(
    mb: &mut Memblock<'_>,
    phys_offset: u64,
    lowmem_limit: u64,
    extra: &[(&str, MemRange, Prot)],
    log: &mut dyn LineSink,
) -> Result<usize, PlatformError> {
    let lowmem_bytes = lowmem_limit - phys_offset;
    if lowmem_limit > u64::from(PKMAP_BASE) || lowmem_bytes > u64::from(PAGE_OFFSET.wrapping_neg()) {
        return Err(PlatformError::BadFirmwareData("lowmem reaches PKMAP_BASE: its identity map would overlap the kernel's addresses"));
    }
    let ram: heapless::Vec<(MemRange, bool), 128> =
        mb.memory().iter().map(|r| (MemRange::new(r.base, r.size), r.flags.contains(RegionFlags::NOMAP))).collect();
    let l1 = swapper_pg_dir() as u32;
    for i in 0..4096 {
        write_entry(l1, i, 0);
    }
    let mut b = Builder { mb, l1, limit: lowmem_limit, pages: 0 };
    let linear = |pa: u64| (u64::from(PAGE_OFFSET) + pa - phys_offset) as u32;
    for (r, nomap) in &ram {
        let end = (r.end() & !u64::from(PAGE_SIZE - 1)).min(lowmem_limit);
        let start = r.base.max(phys_offset);
        if *nomap || start >= end {
            continue;
        }
        b.map(linear(start), start, end - start, Prot::ReadWrite, true)?;
        // Page 0 stays unmapped at its identity address, so that NULL faults.
        let istart = start.max(u64::from(PAGE_SIZE));
        if istart < end {
            b.map(istart as u32, istart, end - istart, Prot::ReadWrite, true)?;
        }
    }
    let s = sections();
    let guard = &raw const __boot_stack_guard as u64;
    for (r, identity, alias) in [
        (s.text, Prot::Text, Prot::ReadOnly),
        (s.rodata, Prot::ReadOnly, Prot::ReadOnly),
        (MemRange::new(s.data.base, guard - s.data.base), Prot::ReadWrite, Prot::ReadWrite),
        (MemRange::new(guard + u64::from(PAGE_SIZE), s.data.end() - guard - u64::from(PAGE_SIZE)), Prot::ReadWrite, Prot::ReadWrite),
    ] {
        b.map(r.base as u32, r.base, r.size, identity, false)?;
        if (phys_offset..lowmem_limit).contains(&r.base) {
            b.map(linear(r.base), r.base, r.size, alias, false)?;
        }
    }
    b.unmap_page(guard as u32)?;
    if (phys_offset..lowmem_limit).contains(&guard) {
        b.unmap_page(linear(guard))?;
    }
    for (_, r, prot) in extra {
        let first = r.base & !u64::from(PAGE_SIZE - 1);
        let end = r.end().next_multiple_of(u64::from(PAGE_SIZE));
        if end > u64::from(PKMAP_BASE) {
            return Err(PlatformError::BadFirmwareData("a device or the device tree lies above PKMAP_BASE"));
        }
        b.map(first as u32, first, end - first, *prot, false)?;
    }
    // The pkmap's and the fixmap's tables exist from the start, so kmap never allocates.
    for (start, end) in [(PKMAP_BASE, PAGE_OFFSET), (FIXADDR_START, FIXADDR_END)] {
        for mib in (start >> 20)..=((end - 1) >> 20) {
            l2_table(l1, mib << 20, &mut || b.alloc()).map_err(PlatformError::Memblock)?;
        }
    }
    let pages = b.pages;
    let vmalloc_start = (PAGE_OFFSET + lowmem_bytes as u32 + VMALLOC_OFFSET) & !(VMALLOC_OFFSET - 1);
    PHYS_OFFSET.store(phys_offset as u32, Ordering::Release);
    LOWMEM_LIMIT.store(lowmem_limit as u32, Ordering::Release);
    VMALLOC_START.store(vmalloc_start, Ordering::Release);
    activate(l1);
    let high_memory = PAGE_OFFSET + lowmem_bytes as u32;
    log.line(format_args!("Virtual kernel memory layout (short descriptors, VMSPLIT_3G, PHYS_OFFSET {phys_offset:#010x}):"));
    log.line(format_args!("    fixmap  : {FIXADDR_START:#010x} - {FIXADDR_END:#010x}   ({:>4} kB)", (FIXADDR_END - FIXADDR_START) >> 10));
    log.line(format_args!("    vmalloc : {vmalloc_start:#010x} - {VMALLOC_END:#010x}   ({:>4} MB)", (VMALLOC_END - vmalloc_start) >> 20));
    log.line(format_args!("    lowmem  : {PAGE_OFFSET:#010x} - {high_memory:#010x}   ({:>4} MB) sections, RW NX", lowmem_bytes >> 20));
    log.line(format_args!("    pkmap   : {PKMAP_BASE:#010x} - {PAGE_OFFSET:#010x}   ({:>4} kB)", (PAGE_OFFSET - PKMAP_BASE) >> 10));
    for (name, r, prot) in [(".text", s.text, Prot::Text), (".rodata", s.rodata, Prot::ReadOnly), (".data", s.data, Prot::ReadWrite)] {
        log.line(format_args!("    {name:<8}: {:#010x} - {:#010x}   ({:>4} kB) {} (identity; {} at {:#010x})", r.base, r.end(), r.size >> 10, prot.name(), if prot == Prot::Text { "RO NX" } else { prot.name() }, linear(r.base)));
    }
    for (name, r, prot) in extra {
        log.line(format_args!("    {name:<8}: {:#010x} - {:#010x}   ({:>4} kB) {} (identity)", r.base, r.end(), r.size >> 10, prot.name()));
    }
    log.line(format_args!(
        "paging_init: MMU on, swapper_pg_dir at {l1:#010x}, {pages} second-level table page(s) from memblock; HighMem above {lowmem_limit:#010x} through kmap and kmap_local"
    ));
    highmem_kmap_self_check(mb, lowmem_limit, log)?;
    Ok(pages)
}

/// The values a CPU loads to run on the kernel's tables: TTBR0, TTBCR, DACR, SCTLR.
pub fn mmu_registers() -> [u32; 4] {
    let l1 = L1.load(Ordering::Acquire);
    [l1 | TTB_FLAGS_SMP, 0, 1, sctlr_on(aarch32_cpu::register::Sctlr::read().raw_value())]
}

/// SCTLR with the MMU, caches and branch prediction on; alignment checks, TEX remap and the
/// access flag off.
const fn sctlr_on(sctlr: u32) -> u32 {
    (sctlr | (1 << 0) | (1 << 2) | (1 << 11) | (1 << 12)) & !((1 << 1) | (1 << 28) | (1 << 29))
}

fn activate(l1: u32) {
    L1.store(l1, Ordering::Release);
    let [ttbr0, ttbcr, dacr, _] = mmu_registers();
    // SAFETY: the tables map this code, its stack and data at the addresses in use now (identity
    // map of lowmem and of the image) with the permissions it needs, so execution continues
    // after the MMU comes on; domain 0 is a client domain, so the descriptors' permissions hold.
    unsafe {
        <Ttbcr as SysRegWrite>::write_raw(ttbcr);
        aarch32_cpu::register::Ttbr0::write(aarch32_cpu::register::Ttbr0::new_with_raw_value(ttbr0));
        aarch32_cpu::register::Dacr::write(aarch32_cpu::register::Dacr::new_with_raw_value(dacr));
    }
    aarch32_cpu::register::TlbIAll::write();
    aarch32_cpu::register::BpIAll::write();
    aarch32_cpu::register::Iciallu::write();
    sync_tables();
    let sctlr = sctlr_on(aarch32_cpu::register::Sctlr::read().raw_value());
    aarch32_cpu::register::Sctlr::write(aarch32_cpu::register::Sctlr::new_with_raw_value(sctlr));
    aarch32_cpu::asm::isb();
    MMU_ON.store(true, Ordering::Release);
}

/// Maps the 4 KiB page at `vaddr` (inside the vmalloc range) to `phys`, read-write,
/// execute-never; a missing second-level table page is made from the page `alloc_table` returns.
///
/// # Errors
/// A sentence naming the problem.
pub fn map_kernel_page(vaddr: usize, phys: u64, alloc_table: &mut dyn FnMut() -> Option<u64>) -> Result<(), &'static str> {
    let start = VMALLOC_START.load(Ordering::Acquire) as usize;
    if start == 0 {
        return Err("map_kernel_page: MMU not on yet");
    }
    if !(start..VMALLOC_END as usize).contains(&vaddr) || !vaddr.is_multiple_of(PAGE_SIZE as usize) {
        return Err("map_kernel_page: address outside the vmalloc range or not page-aligned");
    }
    let phys = u32::try_from(phys).map_err(|_| "map_kernel_page: physical address above 4 GiB")?;
    let _guard = VMALLOC_LOCK.lock();
    let l1 = L1.load(Ordering::Acquire);
    let limit = LOWMEM_LIMIT.load(Ordering::Acquire);
    let mut alloc = || alloc_table().and_then(|p| u32::try_from(p).ok()).filter(|&p| p < limit);
    let table = l2_table(l1, vaddr as u32, &mut alloc).map_err(|_| "map_kernel_page: no lowmem page for a page table")?;
    let i = (vaddr >> 12) & 0xff;
    if read_entry(table, i) != 0 {
        return Err("map_kernel_page: address already mapped");
    }
    write_entry(table, i, phys | Prot::ReadWrite.page());
    sync_tables();
    Ok(())
}

/// Unmaps the page at `vaddr` in the vmalloc range: the physical address it mapped and, when
/// its table page (four 1 KiB tables) became empty, that page (unhooked, TLBs invalidated on
/// every CPU).
pub fn unmap_kernel_page(vaddr: usize) -> Option<(u64, Option<u64>)> {
    let start = VMALLOC_START.load(Ordering::Acquire) as usize;
    if start == 0 || !(start..VMALLOC_END as usize).contains(&vaddr) {
        return None;
    }
    let _guard = VMALLOC_LOCK.lock();
    let l1 = L1.load(Ordering::Acquire);
    let va = vaddr as u32 & !(PAGE_SIZE - 1);
    let e = read_entry(l1, (va >> 20) as usize);
    if e & 0b11 != L1_TABLE {
        return None;
    }
    let table = e & !0x3ff;
    let i = ((va >> 12) & 0xff) as usize;
    let pte = read_entry(table, i);
    if pte & PTE_SMALL == 0 {
        return None;
    }
    write_entry(table, i, 0);
    let page = table & !0xfff;
    let empty = (0..1024).all(|k| read_entry(page, k) == 0);
    if empty {
        let first = (va >> 20) as usize & !3;
        for k in first..first + 4 {
            if read_entry(l1, k) & 0b11 == L1_TABLE {
                write_entry(l1, k, 0);
            }
        }
    }
    aarch32_cpu::asm::dsb();
    // SAFETY: broadcast TLB invalidation of this address (all ASIDs, every CPU of the inner
    // shareable domain, walk caches included); no memory effect.
    unsafe { <TlbiMvaaIs as SysRegWrite>::write_raw(va) };
    if empty {
        for k in 0..4u32 {
            // SAFETY: as above, for the other MiBs whose tables the page held.
            unsafe { <TlbiMvaaIs as SysRegWrite>::write_raw((va & !(4 * SECTION_SIZE - 1)) + k * SECTION_SIZE) };
        }
    }
    aarch32_cpu::register::BpIAll::write();
    sync_tables();
    Some((u64::from(pte & !0xfff), empty.then_some(u64::from(page))))
}

/// This CPU's logical id (0 before per-CPU areas exist).
fn this_cpu() -> usize {
    kernel::percpu::cpu_id_from_base(crate::percpu_base()).min(kernel::percpu::NR_CPUS - 1)
}

/// The second-level entry of fixmap slot `idx`: (table, index).
fn fixmap_pte(idx: u32) -> Option<(u32, usize)> {
    let va = fix_to_virt(idx);
    let e = read_entry(L1.load(Ordering::Acquire), (va >> 20) as usize);
    (e & 0b11 == L1_TABLE).then_some((e & !0x3ff, ((va >> 12) & 0xff) as usize))
}

/// `kmap_local_page` for a page the linear map does not reach (HighMem): the next of this
/// CPU's fixmap slots.
pub fn kmap_local(phys: u64) -> Option<usize> {
    // Lowmem through the linear map (any RAM at its physical address while the MMU is off).
    if let Some(v) = phys_to_virt(phys) {
        return Some(v);
    }
    let phys = u32::try_from(phys).ok()? & !(PAGE_SIZE - 1);
    let saved = crate::cpu::irq_save();
    let cpu = this_cpu();
    let depth = KMAP_DEPTH[cpu].load(Ordering::Relaxed);
    let r = if depth >= KM_MAX_IDX {
        None
    } else {
        let idx = FIX_KMAP_BEGIN + cpu as u32 * KM_MAX_IDX + depth;
        fixmap_pte(idx).map(|(table, i)| {
            write_entry(table, i, phys | Prot::ReadWrite.page());
            sync_tables();
            KMAP_DEPTH[cpu].store(depth + 1, Ordering::Relaxed);
            fix_to_virt(idx) as usize
        })
    };
    crate::cpu::irq_restore(saved);
    r
}

/// `kunmap_local`: ends this CPU's most recent [`kmap_local`] (a linear-map address needs
/// nothing).
///
/// # Errors
/// `vaddr` is not this CPU's most recent local mapping.
pub fn kunmap_local(vaddr: usize) -> Result<(), &'static str> {
    // The linear map needs no unmapping.
    if vaddr < FIXADDR_START as usize {
        return Ok(());
    }
    let saved = crate::cpu::irq_save();
    let cpu = this_cpu();
    let depth = KMAP_DEPTH[cpu].load(Ordering::Relaxed);
    let r = match depth.checked_sub(1) {
        Some(d) if fix_to_virt(FIX_KMAP_BEGIN + cpu as u32 * KM_MAX_IDX + d) as usize == vaddr & !(PAGE_SIZE as usize - 1) => {
            if let Some((table, i)) = fixmap_pte(FIX_KMAP_BEGIN + cpu as u32 * KM_MAX_IDX + d) {
                write_entry(table, i, 0);
                aarch32_cpu::asm::dsb();
                // SAFETY: invalidates this CPU's TLB entry for its own slot (Linux
                // `local_flush_tlb_kernel_page`); no memory effect.
                unsafe { <TlbiMvaa as SysRegWrite>::write_raw(vaddr as u32 & !(PAGE_SIZE - 1)) };
                sync_tables();
            }
            KMAP_DEPTH[cpu].store(d, Ordering::Relaxed);
            Ok(())
        }
        _ => Err("kunmap_local: not this CPU's most recent local mapping"),
    };
    crate::cpu::irq_restore(saved);
    r
}

/// Why [`kmap`] or [`kunmap`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KmapError {
    /// Before `paging_init`.
    NotReady,
    /// Above 4 GiB: no 32-bit physical address.
    PhysTooHigh,
    /// Every pkmap slot is in use.
    NoFreeSlot,
    /// `kunmap` of an address that is no live pkmap slot.
    NotMapped,
}

/// A kernel address for the page at `phys` that stays valid until [`kunmap`] (Linux `kmap`):
/// the linear map for lowmem; for HighMem a pkmap slot, shared by every CPU, with a use count
/// (a page already mapped gets its slot again).
///
/// # Errors
/// [`KmapError`], naming the problem.
pub fn kmap(phys: u64) -> Result<usize, KmapError> {
    if !MMU_ON.load(Ordering::Acquire) {
        return Err(KmapError::NotReady);
    }
    if let Some(v) = phys_to_virt(phys) {
        return Ok(v);
    }
    let phys = u32::try_from(phys).map_err(|_| KmapError::PhysTooHigh)? & !(PAGE_SIZE - 1);
    let mut pk = PKMAP.lock();
    let slot = |i: usize| PKMAP_BASE as usize + i * PAGE_SIZE as usize;
    if let Some(i) = (0..LAST_PKMAP as usize).find(|&i| pk.count[i] > 0 && pk.phys[i] == phys) {
        pk.count[i] = pk.count[i].checked_add(1).ok_or(KmapError::NoFreeSlot)?;
        return Ok(slot(i));
    }
    // Linux map_new_virtual: search on from the slot after the last one handed out.
    let n = LAST_PKMAP as usize;
    let start = pk.last;
    let i = (1..=n).map(|k| (start + k) % n).find(|&i| pk.count[i] == 0).ok_or(KmapError::NoFreeSlot)?;
    let va = slot(i) as u32;
    let e = read_entry(L1.load(Ordering::Acquire), (va >> 20) as usize);
    if e & 0b11 != L1_TABLE {
        return Err(KmapError::NotReady);
    }
    write_entry(e & !0x3ff, ((va >> 12) & 0xff) as usize, phys | Prot::ReadWrite.page());
    sync_tables();
    pk.count[i] = 1;
    pk.phys[i] = phys;
    pk.last = i;
    Ok(va as usize)
}

/// Ends one [`kmap`] of the page at `vaddr` (Linux `kunmap`): when the last user goes, the
/// slot's entry is cleared and its TLB entries dropped on every CPU.
///
/// # Errors
/// [`KmapError::NotMapped`] when `vaddr` is neither a lowmem address nor a live pkmap slot.
pub fn kunmap(vaddr: usize) -> Result<(), KmapError> {
    if virt_to_phys(vaddr).is_some_and(|_| vaddr >= PAGE_OFFSET as usize) {
        return Ok(());
    }
    if !(PKMAP_BASE as usize..PAGE_OFFSET as usize).contains(&vaddr) {
        return Err(KmapError::NotMapped);
    }
    let i = (vaddr - PKMAP_BASE as usize) / PAGE_SIZE as usize;
    let mut pk = PKMAP.lock();
    if pk.count[i] == 0 {
        return Err(KmapError::NotMapped);
    }
    pk.count[i] -= 1;
    if pk.count[i] == 0 {
        let va = vaddr as u32 & !(PAGE_SIZE - 1);
        let e = read_entry(L1.load(Ordering::Acquire), (va >> 20) as usize);
        write_entry(e & !0x3ff, ((va >> 12) & 0xff) as usize, 0);
        aarch32_cpu::asm::dsb();
        // SAFETY: broadcast TLB invalidation of the slot's address; no memory effect.
        unsafe { <TlbiMvaaIs as SysRegWrite>::write_raw(va) };
        sync_tables();
    }
    Ok(())
}

/// A word of the self-check's pattern.
fn pattern(phys: u32, i: usize) -> u32 {
    phys ^ (i as u32).wrapping_mul(0x9e37_79b9)
}

/// Right after the MMU is on: the highest free HighMem page is written through a pkmap slot,
/// unmapped, mapped again (the same page, maybe another slot) and read back, then read through
/// this CPU's `kmap_local` fixmap slot. Nothing owns a free page yet, and the check leaves it
/// free. Skipped (and said so) without HighMem.
fn highmem_kmap_self_check(mb: &Memblock<'_>, lowmem_limit: u64, log: &mut dyn LineSink) -> Result<(), PlatformError> {
    let Some(page) = mb.free_ranges_rev(NUMA_NO_NODE).find_map(|(s, e, _)| {
        let e = (e.min(1 << 32)) & !u64::from(PAGE_SIZE - 1);
        (e >= u64::from(PAGE_SIZE) && e - u64::from(PAGE_SIZE) >= s.max(lowmem_limit)).then(|| e - u64::from(PAGE_SIZE))
    }) else {
        log.line(format_args!("HighMem kmap self-check: no HighMem, nothing to map"));
        return Ok(());
    };
    let phys = page as u32;
    let words = (PAGE_SIZE / 4) as usize;
    let fail = |_| PlatformError::BadFirmwareData("HighMem kmap self-check: a HighMem page could not be mapped");
    let va1 = kmap(page).map_err(fail)?;
    for i in 0..words {
        // SAFETY: `va1` maps the free page `phys` read-write until the kunmap below, and
        // nothing else uses a free page while paging_init runs.
        unsafe { core::ptr::write_volatile((va1 as *mut u32).add(i), pattern(phys, i)) };
    }
    kunmap(va1).map_err(fail)?;
    let bad = |va: usize| {
        (0..words)
            // SAFETY: as above: `va` maps page `phys` while the caller holds the mapping.
            .filter(|&i| unsafe { core::ptr::read_volatile((va as *const u32).add(i)) } != pattern(phys, i))
            .count()
    };
    let va2 = kmap(page).map_err(fail)?;
    let bad2 = bad(va2);
    kunmap(va2).map_err(fail)?;
    let va3 = kmap_local(page).ok_or(PlatformError::BadFirmwareData("HighMem kmap self-check: no kmap_local slot"))?;
    let bad3 = bad(va3);
    kunmap_local(va3).map_err(PlatformError::BadFirmwareData)?;
    if bad2 + bad3 != 0 || !(PKMAP_BASE as usize..PAGE_OFFSET as usize).contains(&va1) {
        log.line(format_args!(
            "HighMem kmap self-check: {phys:#010x}: {bad2} word(s) wrong through pkmap {va2:#010x}, {bad3} through kmap_local {va3:#010x}"
        ));
        return Err(PlatformError::BadFirmwareData("HighMem kmap self-check failed"));
    }
    log.line(format_args!(
        "HighMem kmap self-check: page {phys:#010x} written through pkmap {va1:#010x}, read back through pkmap {va2:#010x} and kmap_local {va3:#010x}: passed"
    ));
    Ok(())
}
