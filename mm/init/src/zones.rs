//! Where each architecture puts its zone boundaries and its lowmem end (Linux `zone_sizes_init`
//! and `find_low_pfn_range`), as plain functions of memblock, so the firmware and the host
//! simulation (`cargo xtask memmap --simulate`) compute the same zones.

use memblock::Memblock;
use mm_types::{pfn_down, PAGE_SHIFT};

use crate::PagingInfo;

/// x86-32, 3G/1G split without PAE: the most RAM the linear map holds (`MAXMEM =
/// VMALLOC_END - PAGE_OFFSET - __VMALLOC_RESERVE`), just under 888 MiB.
pub const X86_32_MAXMEM: u64 = 0x377f_e000;
/// x86 `MAX_DMA_PFN`: ZONE_DMA is the first 16 MiB.
pub const X86_MAX_DMA_PFN: u64 = (16 << 20) >> PAGE_SHIFT;
/// arm64 without a smaller `dma-ranges`: ZONE_DMA (and the empty ZONE_DMA32) end at 4 GiB.
pub const ARM64_DMA_LIMIT: u64 = 1 << 32;

/// x86-32: `max_low_pfn = min(max_pfn, MAXMEM)`; zones DMA [0, 16 MiB), Normal up to
/// `max_low_pfn`, HighMem up to `max_pfn`.
pub fn x86_32(mb: &Memblock<'_>) -> PagingInfo {
    let max_pfn = pfn_down(mb.end_of_dram());
    let max_low_pfn = max_pfn.min(X86_32_MAXMEM >> PAGE_SHIFT);
    PagingInfo { max_low_pfn, max_pfn, max_zone_pfns: [X86_MAX_DMA_PFN.min(max_low_pfn), max_low_pfn, max_pfn] }
}

/// arm64 (64-bit: everything is lowmem): DMA below 4 GiB, Normal above, no HighMem.
pub fn arm64(mb: &Memblock<'_>) -> PagingInfo {
    let max_pfn = pfn_down(mb.end_of_dram());
    let dma = max_pfn.min(ARM64_DMA_LIMIT >> PAGE_SHIFT);
    PagingInfo { max_low_pfn: max_pfn, max_pfn, max_zone_pfns: [dma, max_pfn, max_pfn] }
}

/// 32-bit ARM (`arch/arm/mm/mmu.c`, VMSPLIT_3G): the lowest virtual address lowmem may not
/// reach with the default 240 MiB vmalloc area, `vmalloc_min = VMALLOC_END - (240 << 20) -
/// VMALLOC_OFFSET` = 0xf0000000.
pub const ARM32_VMALLOC_MIN: u64 = 0xff80_0000 - (240 << 20) - (8 << 20);
/// 32-bit ARM `PAGE_OFFSET` (VMSPLIT_3G).
pub const ARM32_PAGE_OFFSET: u64 = 0xc000_0000;
/// 32-bit ARM without LPAE: `PMD_SIZE`, two 1 MiB sections.
pub const ARM32_PMD_SIZE: u64 = 2 << 20;

/// What 32-bit ARM's `adjust_lowmem_bounds` decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arm32Lowmem {
    /// `arm_lowmem_limit`: the end of lowmem (exclusive).
    pub lowmem_limit: u64,
    /// What `memblock_set_current_limit` gets: the first address that may not be mapped yet,
    /// rounded down to `PMD_SIZE`.
    pub memblock_limit: u64,
}

/// Linux 6.1 `adjust_lowmem_bounds` with `phys_offset` mapped at `PAGE_OFFSET`: lowmem is every
/// memory region's part below `vmalloc_min`'s physical address, and the memblock limit is the
/// first address that breaks PMD alignment inside it (or the lowmem end), rounded down to a PMD.
/// (Linux also marks an unaligned start of the first region NOMAP; a platform whose RAM start
/// is not PMD-aligned handles that before.)
pub fn arm32_lowmem(mb: &Memblock<'_>, phys_offset: u64) -> Arm32Lowmem {
    let vmalloc_limit = ARM32_VMALLOC_MIN - ARM32_PAGE_OFFSET + phys_offset;
    let (mut lowmem_limit, mut memblock_limit) = (0u64, 0u64);
    for r in mb.memory() {
        let (start, end) = (r.base, r.base + r.size);
        if start >= vmalloc_limit {
            continue;
        }
        if end > lowmem_limit {
            lowmem_limit = vmalloc_limit.min(end);
        }
        if memblock_limit == 0 {
            if !start.is_multiple_of(ARM32_PMD_SIZE) {
                memblock_limit = start;
            } else if !end.is_multiple_of(ARM32_PMD_SIZE) {
                memblock_limit = lowmem_limit;
            }
        }
    }
    if memblock_limit == 0 {
        memblock_limit = lowmem_limit;
    }
    Arm32Lowmem { lowmem_limit, memblock_limit: memblock_limit & !(ARM32_PMD_SIZE - 1) }
}

/// 32-bit ARM (`find_limits` + `zone_sizes_init`): `max_low_pfn` is the memblock limit's page,
/// Normal ends there, HighMem at the end of RAM; no ZONE_DMA (Debian's `armmp`), so its limit is
/// 0 (and CMA gets no DMA limit: `arm_dma_limit` is `~0`).
pub fn arm32(mb: &Memblock<'_>, lowmem: Arm32Lowmem) -> PagingInfo {
    let max_pfn = pfn_down(mb.end_of_dram());
    let max_low_pfn = pfn_down(lowmem.memblock_limit).min(max_pfn);
    PagingInfo { max_low_pfn, max_pfn, max_zone_pfns: [0, max_low_pfn, max_pfn] }
}
