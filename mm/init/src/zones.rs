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
