//! CMA: reservation (`cma_declare_contiguous`, `cma_init_reserved_mem`), the `Memory:` line's
//! `cma-reserved`, activation as `MIGRATE_CMA` pageblocks, `cma_alloc`/`cma_release`, and the
//! rule that nothing else takes pages from CMA pageblocks.
//!
//! The machine: arm64 with 4 KiB pages (pageblock_order 9, so CMA_MIN_ALIGNMENT_BYTES is
//! 512 x 4 KiB = 2 MiB), RAM `[0x40000000, 0x50000000)` (256 MiB, 65536 pages), the kernel at
//! `[0x40200000, 0x40400000)` (512 pages).
//!
//! ```text
//! 0x40000000   0x40200000 0x40400000            0x4c000000          0x50000000
//! | free       | kernel r | free                 | CMA 64 MiB (top)  |
//! ```
use super::*;
use crate::cma::{CmaAreas, CmaError, MAX_CMA_AREAS};
use crate::{AllocError, FreeError, Gfp, KernelSections, Migratetype, NodeSet, Pfn};
use memblock::Region;

const RAM: (u64, u64) = (0x4000_0000, 0x1000_0000);
const KERNEL: (u64, u64) = (0x4020_0000, 0x20_0000);
const PB_ORDER: u32 = 9;
const CMA_MIN_ALIGN: u64 = 4096 << PB_ORDER;

/// Boots the machine with one CMA area of `cma_size` bytes declared with `declare(mb, areas,
/// log)`; returns (set, areas, present, managed after the hand-off, Memory line, log).
fn with_booted<R>(
    zone_limit_pfn: u64,
    declare: impl FnOnce(&mut Memblock<'_>, &mut CmaAreas, &mut Lines),
    f: impl FnOnce(&mut NodeSet<'_>, &mut CmaAreas, &mut Lines) -> R,
) -> R {
    let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
    let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
    let mut mb = Memblock::new(&mut mem, &mut res);
    mb.add(RAM.0, RAM.1).unwrap();
    mb.reserve(KERNEL.0, KERNEL.1).unwrap();
    let mut areas = CmaAreas::new(PB_ORDER, true);
    let mut log = Lines::default();
    declare(&mut mb, &mut areas, &mut log);
    let mut pages = vec![Page::INIT; MemMap::storage_len((RAM.1 >> 12) as usize)];
    let limits = zone_limits(&[(ZoneType::Dma, zone_limit_pfn), (ZoneType::Dma32, zone_limit_pfn), (ZoneType::Normal, 0x5_0000)]);
    let mut node = free_area_init(ArchConfig::ARM64_4K, 0, limits, &mb, MemMap::new(&mut pages, RAM.0 >> 12), &mut log).unwrap();
    let mut set = NodeSet::from_node(&mut node);
    set.memblock_free_all(&mb);
    f(&mut set, &mut areas, &mut log)
}

fn default_area(mb: &mut Memblock<'_>, areas: &mut CmaAreas, log: &mut Lines) {
    let end = mb.end_of_dram();
    let i = areas.declare_contiguous(mb, 0, 64 << 20, 0, 0, 0, false, "reserved", end, log).unwrap();
    areas.set_default_area(i);
}

/// Expect: the 64 MiB default area goes top-down to the end of RAM, 0x50000000 - 64 MiB;
/// Linux's line names it; it counts as `cma-reserved`, not `reserved`; activation makes its
/// 32 pageblocks MIGRATE_CMA, merged into 16 order-10 blocks on the CMA lists; cma_alloc of the
/// whole area succeeds and release restores every count.
#[test]
fn default_area_handed_over_and_allocated_whole() {
    with_booted(0x5_0000, default_area, |set, areas, log| {
        let base = RAM.0 + RAM.1 - (64 << 20);
        assert!(log.0.contains(&std::format!("cma: Reserved 64 MiB at {base:#018x}")), "{:#?}", log.0);
        assert_eq!(areas.totalcma_pages(), 16384);
        let area = areas.get(0).unwrap().clone();
        assert_eq!((area.base(), area.count(), area.name()), (base, 16384, "reserved"));

        // Memory line before activation: present 65536 pages; managed = present - kernel - CMA.
        let present = RAM.1 >> 12;
        let managed = present - (KERNEL.1 >> 12) - 16384;
        assert_eq!((set.physpages(), set.totalram_pages(), set.nr_free_pages()), (present, managed, managed));
        let mut mline = Lines::default();
        set.mem_init_print_info_cma(&KernelSections::default(), areas.totalcma_pages(), &mut mline);
        let reserved_k = (present - managed - 16384) * 4;
        assert_eq!(
            mline.0[0],
            std::format!(
                "Memory: {}K/{}K available (0K kernel code, 0K rwdata, 0K rodata, 0K init, 0K bss, {reserved_k}K reserved, 65536K cma-reserved)",
                managed * 4,
                present * 4
            )
        );
        assert_eq!(reserved_k, 2048, "only the kernel stays reserved");

        // Activation.
        assert_eq!(set.cma_init_reserved_areas(areas, log), 16384);
        let node = set.node(0).unwrap();
        let z = node.zone(ZoneType::Dma);
        assert_eq!((z.cma_pages, z.free_cma_pages()), (16384, 16384));
        assert_eq!(set.totalram_pages(), managed + 16384);
        assert_eq!(set.nr_free_pages(), managed + 16384);
        for pb in (area.base_pfn()..area.base_pfn() + 16384).step_by(512) {
            assert_eq!(node.pageblock_migratetype(pb), Some(Migratetype::Cma));
        }
        assert_eq!(node.pageblock_migratetype(area.base_pfn() - 1), Some(Migratetype::Movable));
        // 64 MiB of order-10 (4 MiB) blocks: 16 on the CMA list, merged across pageblocks.
        let mut fa = Lines::default();
        node.show_free_areas(&mut fa);
        assert!(fa.0[0].contains("4096kB (MC)"), "{}", fa.0[0]);
        let mut zi = Lines::default();
        node.zoneinfo(&mut zi);
        assert!(zi.0.contains(&"        cma      16384".into()), "{:#?}", zi.0);
        assert!(zi.0.contains(&std::format!("        managed  {}", managed + 16384)), "{:#?}", zi.0);
        set.check().unwrap();

        // The whole area.
        let pfn = set.cma_alloc(&area, 16384, 0, log).unwrap();
        assert_eq!(pfn, Pfn(area.base_pfn()));
        assert_eq!(set.node(0).unwrap().zone(ZoneType::Dma).free_cma_pages(), 0);
        assert_eq!(set.nr_free_pages(), managed);
        set.check().unwrap();
        // Nothing left: one more page fails with Linux's line.
        assert_eq!(set.cma_alloc(&area, 1, 0, log), Err(CmaError::NoMemory));
        assert_eq!(log.0.last().unwrap(), "cma: cma_alloc: reserved: alloc failed, req-size: 1 pages, ret: -12");
        assert_eq!(set.cma_release(&area, pfn, 16384), Ok(true));
        assert_eq!(set.node(0).unwrap().zone(ZoneType::Dma).free_cma_pages(), 16384);
        assert_eq!(set.nr_free_pages(), managed + 16384);
        assert_eq!(set.cma_free_pages(&area), 16384);
        set.check().unwrap();
        // present = managed + reserved, exactly.
        let map = set.node(0).unwrap().mem_map();
        let reserved = (map.start_pfn()..map.end_pfn()).filter(|&p| map.get(p).is_some_and(|pg| pg.is_reserved() && !pg.is_hole())).count() as u64;
        assert_eq!(set.physpages(), set.totalram_pages() + reserved);
    });
}

/// Expect: ordinary allocations, even `__GFP_NOFAIL` movable ones that drain the zone below
/// every watermark, never get a page of the CMA area; naming MIGRATE_CMA is refused; freeing a
/// CMA page through free_pages is refused; after all that cma_alloc still gets the whole area.
#[test]
fn ordinary_allocations_never_borrow_cma_pageblocks() {
    with_booted(0x5_0000, default_area, |set, areas, log| {
        set.cma_init_reserved_areas(areas, log);
        let area = areas.get(0).unwrap().clone();
        let mut got = Vec::new();
        for order in (0..=10).rev() {
            while let Ok(p) = set.alloc_pages(0, Gfp::HIGHUSER_MOVABLE.nofail(), order) {
                assert!(!(area.base_pfn()..area.base_pfn() + area.count()).contains(&p.0), "pfn {:#x} from CMA", p.0);
                got.push((p, order));
            }
        }
        let node = set.node(0).unwrap();
        assert_eq!(node.nr_free_pages(), 16384, "only the CMA pages are left free");
        assert_eq!(set.alloc_pages(0, Gfp::KERNEL.with_migratetype(Migratetype::Cma), 0), Err(AllocError::CmaMigratetype { order: 0 }));
        let pfn = set.cma_alloc(&area, 16384, 0, log).unwrap();
        assert_eq!(set.free_pages(pfn, 0), Err(FreeError::Cma { pfn }));
        set.check().unwrap();
        assert_eq!(set.cma_release(&area, pfn, 16384), Ok(true));
        for (p, o) in got {
            set.free_pages(p, o).unwrap();
        }
        set.check().unwrap();
    });
}

/// Expect (bitmap_find_next_zero_area_off over pfns): 3 pages at the base; 5 pages aligned to
/// 16 pages at base + 16; 1 page at base + 3; 600 pages aligned to a pageblock at base + 512;
/// releasing the 5 (in two parts, as Linux allows) lets 16 aligned pages land at base + 16
/// again; bad releases change nothing.
#[test]
fn partial_allocations_with_alignment_and_release() {
    with_booted(0x5_0000, default_area, |set, areas, log| {
        set.cma_init_reserved_areas(areas, log);
        let after_activation = nr_free(set.node(0).unwrap(), ZoneType::Dma);
        let area = areas.get(0).unwrap().clone();
        let b = area.base_pfn();
        let a3 = set.cma_alloc(&area, 3, 0, log).unwrap();
        let a5 = set.cma_alloc(&area, 5, 4, log).unwrap();
        let a1 = set.cma_alloc(&area, 1, 0, log).unwrap();
        let a600 = set.cma_alloc(&area, 600, 9, log).unwrap();
        assert_eq!((a3.0, a5.0, a1.0, a600.0), (b, b + 16, b + 3, b + 512));
        let total = 3 + 5 + 1 + 600;
        assert_eq!(set.node(0).unwrap().zone(ZoneType::Dma).free_cma_pages(), 16384 - total);
        set.check().unwrap();
        // Free pages, an address outside the area, a range past the end: refused, nothing changed.
        assert_eq!(set.cma_release(&area, Pfn(b + 8), 1), Err(CmaError::Busy));
        assert_eq!(set.cma_release(&area, a5, 6), Err(CmaError::Busy), "page b + 21 is free");
        assert_eq!(set.cma_release(&area, Pfn(b - 1), 1), Ok(false));
        assert_eq!(set.cma_release(&area, a600, 16384), Err(CmaError::Invalid("cma_release range runs past the area")));
        assert_eq!(set.cma_alloc(&area, 16385, 0, log), Err(CmaError::Invalid("cma_alloc of more pages than the area has")));
        assert_eq!(set.cma_alloc(&area, 0, 0, log), Err(CmaError::Invalid("cma_alloc of 0 pages")));
        assert_eq!(set.cma_release(&area, a5, 3), Ok(true));
        assert_eq!(set.cma_release(&area, Pfn(a5.0 + 3), 2), Ok(true));
        assert_eq!(set.cma_release(&area, a5, 5), Err(CmaError::Busy), "released twice");
        let a16 = set.cma_alloc(&area, 16, 4, log).unwrap();
        assert_eq!(a16.0, b + 16);
        set.check().unwrap();
        for (p, n) in [(a3, 3), (a1, 1), (a600, 600), (a16, 16)] {
            assert_eq!(set.cma_release(&area, p, n), Ok(true));
        }
        assert_eq!(set.node(0).unwrap().zone(ZoneType::Dma).free_cma_pages(), 16384);
        // Merged back: the free areas are exactly as after activation.
        let node = set.node(0).unwrap();
        assert_eq!(nr_free(node, ZoneType::Dma), after_activation);
        let mut fa = Lines::default();
        node.show_free_areas(&mut fa);
        assert!(fa.0[0].contains("4096kB (MC)"), "{}", fa.0[0]);
        set.check().unwrap();
    });
}

/// Expect: free CMA pages do not count for the watermark of ordinary requests
/// (`__zone_watermark_unusable_free` without ALLOC_CMA).
#[test]
fn free_cma_pages_do_not_meet_watermarks() {
    with_booted(0x5_0000, default_area, |set, areas, log| {
        set.cma_init_reserved_areas(areas, log);
        set.init_per_zone_wmark_min();
        let node = set.node(0).unwrap();
        let z = node.zone(ZoneType::Dma);
        let usable = z.free_pages() - z.free_cma_pages();
        // A mark just below the usable free pages passes, one just above fails although the
        // zone has 16384 more free (CMA) pages.
        assert!(node.zone_watermark_ok(ZoneType::Dma, 0, usable - 1, ZoneType::Dma));
        assert!(!node.zone_watermark_ok(ZoneType::Dma, 0, usable, ZoneType::Dma));
        assert!(z.free_pages() > usable + 16000);
    });
}

/// Expect: an area across the DMA/Normal boundary (0x48000000) cannot be activated
/// (`not_in_zone`): Linux's line, its pages go to the buddy allocator as ordinary pages and
/// leave `totalcma_pages`; accounting stays exact.
#[test]
fn area_across_zones_is_not_activated_and_handed_over() {
    let declare = |mb: &mut Memblock<'_>, areas: &mut CmaAreas, log: &mut Lines| {
        let end = mb.end_of_dram();
        areas.declare_contiguous(mb, 0x4600_0000, 64 << 20, 0x4a00_0000, 0, 0, true, "split", end, log).unwrap();
    };
    with_booted(0x4_8000, declare, |set, areas, log| {
        assert!(log.0.contains(&"cma: Reserved 64 MiB at 0x0000000046000000".into()), "{:#?}", log.0);
        let managed = set.totalram_pages();
        assert_eq!(set.cma_init_reserved_areas(areas, log), 0);
        assert!(log.0.contains(&"cma: CMA area split could not be activated".into()), "{:#?}", log.0);
        assert_eq!((areas.totalcma_pages(), areas.get(0).unwrap().count()), (0, 0));
        assert_eq!(set.totalram_pages(), managed + 16384);
        let area = areas.get(0).unwrap().clone();
        assert_eq!(set.cma_alloc(&area, 1, 0, log), Err(CmaError::NoArea));
        set.check().unwrap();
    });
}

/// Expect: cma_declare_contiguous's and cma_init_reserved_mem's checks, with Linux's lines.
#[test]
fn declaration_errors() {
    let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
    let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
    let mut mb = Memblock::new(&mut mem, &mut res);
    mb.add(RAM.0, RAM.1).unwrap();
    mb.reserve(KERNEL.0, KERNEL.1).unwrap();
    let end = RAM.0 + RAM.1;
    let mut areas = CmaAreas::new(PB_ORDER, true);
    let mut log = Lines::default();
    // Fixed base not aligned to the 2 MiB minimum.
    let e = areas.declare_contiguous(&mut mb, 0x4010_0000, 4 << 20, 0, 0, 0, true, "x", end, &mut log);
    assert_eq!(e, Err(CmaError::Invalid("fixed base not aligned")));
    assert_eq!(log.0, ["cma: Region at 0x0000000040100000 must be aligned to 0x0000000000200000 bytes", "cma: Failed to reserve 4 MiB"]);
    // Fixed over the kernel: busy.
    assert_eq!(areas.declare_contiguous(&mut mb, 0x4020_0000, 4 << 20, 0, 0, 0, true, "x", end, &mut log), Err(CmaError::Busy));
    // Across the end of low memory (arm64: the end of RAM).
    log.0.clear();
    let e = areas.declare_contiguous(&mut mb, 0x4f00_0000, 32 << 20, 0, 0, 0, true, "x", end, &mut log);
    assert_eq!(e, Err(CmaError::Invalid("fixed region across the low/high memory boundary")));
    assert_eq!(log.0[0], "cma: Region at 0x000000004f000000 defined on low/high memory boundary (0x0000000050000000)");
    // Past the limit.
    log.0.clear();
    let e = areas.declare_contiguous(&mut mb, 0x4600_0000, 64 << 20, 0x4800_0000, 0, 0, true, "x", end, &mut log);
    assert_eq!(e, Err(CmaError::Invalid("region exceeds the limit")));
    assert_eq!(log.0, ["cma: Size (0x0000000004000000) of region at 0x0000000046000000 exceeds limit (0x0000000048000000)", "cma: Failed to reserve 64 MiB"]);
    // Too large to place anywhere.
    assert_eq!(areas.declare_contiguous(&mut mb, 0, 512 << 20, 0, 0, 0, false, "x", end, &mut log), Err(CmaError::NoMemory));
    // Non-power-of-two alignment.
    assert_eq!(areas.declare_contiguous(&mut mb, 0, 4 << 20, 0, 3 << 20, 0, false, "x", end, &mut log), Err(CmaError::Invalid("alignment not a power of two")));
    // A size is rounded up to the alignment: 3 MiB becomes 4 MiB, below the 0x48000000 limit.
    let i = areas.declare_contiguous(&mut mb, 0, 3 << 20, 0x4800_0000, 0, 0, false, "r", end, &mut log).unwrap();
    assert_eq!((areas.get(i).unwrap().base(), areas.get(i).unwrap().size()), (0x4800_0000 - (4 << 20), 4 << 20));
    assert_eq!(log.0.last().unwrap(), "cma: Reserved 4 MiB at 0x0000000047c00000");
    assert_eq!(areas.totalcma_pages(), 1024);
    // cma_init_reserved_mem: a range memblock did not reserve, a misaligned one.
    assert_eq!(areas.init_reserved_mem(&mb, 0x4100_0000, CMA_MIN_ALIGN, 0, None, &mut log), Err(CmaError::Invalid("CMA region empty or not reserved")));
    mb.reserve(0x4100_1000, CMA_MIN_ALIGN).unwrap();
    assert_eq!(
        areas.init_reserved_mem(&mb, 0x4100_1000, CMA_MIN_ALIGN, 0, None, &mut log),
        Err(CmaError::Invalid("CMA region not aligned to a pageblock"))
    );
    // Slots run out after MAX_CMA_AREAS.
    mb.reserve(0x4400_0000, CMA_MIN_ALIGN * MAX_CMA_AREAS as u64).unwrap();
    for n in 1..MAX_CMA_AREAS {
        let i = areas.init_reserved_mem(&mb, 0x4400_0000 + n as u64 * CMA_MIN_ALIGN, CMA_MIN_ALIGN, 0, None, &mut log).unwrap();
        assert_eq!(areas.get(i).unwrap().name(), std::format!("cma{n}"));
    }
    log.0.clear();
    assert_eq!(areas.init_reserved_mem(&mb, 0x4400_0000, CMA_MIN_ALIGN, 0, None, &mut log), Err(CmaError::NoSlots));
    assert_eq!(log.0, ["cma: Not enough slots for CMA reserved regions!"]);
}
