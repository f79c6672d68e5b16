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

/// `memblock_cap_size` with a 32-bit `phys_addr_t` (no LPAE): a region may end at
/// `PHYS_ADDR_MAX` = 0xffffffff at most, so RAM reaching 4 GiB loses its last byte (and the
/// page it starts): QEMU virt with 3 GiB is `[0x40000000-0xfffffffe]` in Linux's memblock. The
/// device-tree code has already cut banks at `MAX_MEMBLOCK_ADDR`; this is the byte memblock
/// itself drops. Returns whether anything was removed.
///
/// # Errors
/// memblock could not remove the range.
pub fn arm32_cap_phys_addr(mb: &mut Memblock<'_>) -> Result<bool, memblock::MemblockError> {
    const PHYS_ADDR_MAX: u64 = 0xffff_ffff;
    let end = mb.end_of_dram();
    if end <= PHYS_ADDR_MAX {
        return Ok(false);
    }
    mb.remove(PHYS_ADDR_MAX, end - PHYS_ADDR_MAX)?;
    Ok(true)
}

/// 32-bit ARM (`find_limits` + `zone_sizes_init`): `max_low_pfn` is the memblock limit's page,
/// Normal ends there, HighMem at the end of RAM; no ZONE_DMA (Debian's `armmp`), so its limit is
/// 0 (and CMA gets no DMA limit: `arm_dma_limit` is `~0`).
pub fn arm32(mb: &Memblock<'_>, lowmem: Arm32Lowmem) -> PagingInfo {
    let max_pfn = pfn_down(mb.end_of_dram());
    let max_low_pfn = pfn_down(lowmem.memblock_limit).min(max_pfn);
    PagingInfo { max_low_pfn, max_pfn, max_zone_pfns: [0, max_low_pfn, max_pfn] }
}

#[cfg(test)]
mod arm32_tests {
    extern crate std;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    use super::*;
    use crate::test_support::EMPTY;

    /// Linux 6.1 on QEMU's 32-bit virt (Debian armmp: VMSPLIT_3G, HIGHMEM, no ZONE_DMA,
    /// FLATMEM, 36-byte `struct page`), computed from the formulas alone for one bank at
    /// `[base, base + size)` as the device tree gives it: memblock's 32-bit cap, lowmem
    /// `min(end, PHYS_OFFSET + 0xf0000000 - 0xc0000000)`, Normal below it and HighMem above, the
    /// `Memory:` total (every RAM page), `Total pages` (Normal present minus its memmap pages,
    /// HighMem whole). Returns the lines Linux prints and the two figures.
    fn linux_arm32(base: u64, size: u64) -> (Vec<String>, u64, u64) {
        let end = (base + size).min(0xffff_ffff); // memblock_cap_size
        let lowmem_end = end.min(base + (0xf000_0000 - 0xc000_0000));
        let pfn = |a: u64| a >> 12;
        let (first, last, low) = (pfn(base), pfn(end), pfn(lowmem_end));
        let zone = |name: &str, s: u64, e: u64| {
            if s >= e {
                format!("  {name:<8} empty")
            } else {
                format!("  {name:<8} [mem {:#018x}-{:#018x}]", s << 12, (e << 12) - 1)
            }
        };
        let lines = std::vec![
            format!(" memory[0x0]\t[{:#010x}-{:#010x}], {:#010x} bytes flags: 0x0", base, end - 1, end - base),
            zone("Normal", first, low),
            zone("HighMem", low, last),
            format!("  node   0: [mem {:#018x}-{:#018x}]", base, (last << 12) - 1),
        ];
        let memmap = ((low - first) * 36).div_ceil(4096);
        (lines, (last - first) * 4, (low - first - memmap) + (last - low))
    }

    fn run(base: u64, size: u64) -> (Vec<String>, u64, u64) {
        let (mut mem, mut res) = ([EMPTY; 8], [EMPTY; 8]);
        let mut mb = Memblock::new(&mut mem, &mut res);
        mb.set_phys_addr_width(memblock::PhysAddrWidth::Bits32);
        mb.add(base, size).unwrap();
        arm32_cap_phys_addr(&mut mb).unwrap();
        let low = arm32_lowmem(&mb, base);
        let p = arm32(&mb, low);
        assert_eq!(p.max_zone_pfns[0], 0, "no ZONE_DMA");
        let r = mb.memory()[0];
        let zone = |name: &str, s: u64, e: u64| {
            if s >= e {
                format!("  {name:<8} empty")
            } else {
                format!("  {name:<8} [mem {:#018x}-{:#018x}]", s << 12, (e << 12) - 1)
            }
        };
        let first = pfn_down(base);
        let lines = std::vec![
            format!(" memory[0x0]\t[{:#010x}-{:#010x}], {:#010x} bytes flags: 0x0", r.base, r.base + r.size - 1, r.size),
            zone("Normal", first, p.max_zone_pfns[1]),
            zone("HighMem", p.max_zone_pfns[1], p.max_zone_pfns[2]),
            format!("  node   0: [mem {:#018x}-{:#018x}]", base, (p.max_pfn << 12) - 1),
        ];
        let memmap = ((p.max_low_pfn - first) * 36).div_ceil(4096);
        (lines, (p.max_pfn - first) * 4, (p.max_low_pfn - first - memmap) + (p.max_pfn - p.max_low_pfn))
    }

    /// ```text
    /// 0x40000000        0x70000000 (arm_lowmem_limit)          end of RAM
    ///     | Normal (lowmem) | HighMem                               |
    /// ```
    /// Expect the banks of ../shared/testdata/dtb-truth/qemu__arm-virt-{512M-smp2,1G,
    /// highmem-off-3G}.json and the 256M/2G boots to give Linux's lines and figures, by hand:
    /// 2G: Normal to 0x6fffffff, HighMem to 0xbfffffff, 2097152K, 196608 - 1728 + 327680 =
    /// 522560; 3G: memblock `[0x40000000-0xfffffffe]`, HighMem to 0xffffefff (the last page is
    /// not whole), 3145724K, 194880 + 589823 = 784703.
    #[test]
    fn arm32_virt_figures_are_linux_figures() {
        for (size, total_k, total_pages) in [
            (256u64 << 20, 262_144u64, 64_960u64),
            (512 << 20, 524_288, 129_920),
            (1 << 30, 1_048_576, 260_416),
            (2 << 30, 2_097_152, 522_560),
            (3 << 30, 3_145_724, 784_703),
        ] {
            let want = linux_arm32(0x4000_0000, size);
            assert_eq!((want.1, want.2), (total_k, total_pages), "formula and hand derivation, {size:#x}");
            assert_eq!(run(0x4000_0000, size), want, "{size:#x}");
        }
        let (lines, _, _) = run(0x4000_0000, 2 << 30);
        assert_eq!(lines[1..3], ["  Normal   [mem 0x0000000040000000-0x000000006fffffff]", "  HighMem  [mem 0x0000000070000000-0x00000000bfffffff]"]);
        let (lines, _, _) = run(0x4000_0000, 3 << 30);
        assert_eq!(lines[0], " memory[0x0]\t[0x40000000-0xfffffffe], 0xbfffffff bytes flags: 0x0");
        assert_eq!(lines[2], "  HighMem  [mem 0x0000000070000000-0x00000000ffffefff]");
    }

    /// adjust_lowmem_bounds: the memblock limit is the first address that breaks PMD alignment
    /// inside lowmem, rounded down to a PMD; lowmem ends at vmalloc_min's physical address.
    ///
    /// ```text
    /// 0x0   0x10100000 (unaligned end)  0x20000000          0x40000000
    /// |RAM   |                           |RAM                |
    /// ```
    /// Expect lowmem to end at 0x30000000 (RAM at 0: 768 MiB), the memblock limit at 0x10000000.
    #[test]
    fn arm32_memblock_limit_stops_at_the_first_unaligned_end() {
        let (mut mem, mut res) = ([EMPTY; 8], [EMPTY; 8]);
        let mut mb = Memblock::new(&mut mem, &mut res);
        mb.add(0, 0x1010_0000).unwrap();
        mb.add(0x2000_0000, 0x2000_0000).unwrap();
        let low = arm32_lowmem(&mb, 0);
        assert_eq!(low, Arm32Lowmem { lowmem_limit: 0x3000_0000, memblock_limit: 0x1000_0000 });
        assert!(!arm32_cap_phys_addr(&mut mb).unwrap(), "nothing reaches 4 GiB");
    }
}
