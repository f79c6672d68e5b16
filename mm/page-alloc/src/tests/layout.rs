//! Zone layouts from memblock: the boot lines, spanned/present/managed, and the hand-off.
use super::*;
use crate::{Migratetype, Pfn};

/// The lines Linux 6.1 prints on a 128 MiB i386 PC (FLATMEM), as in a real boot log:
/// no tail hole is reported (6.1 FLATMEM has none).
const PC128_FLATMEM_LINES: &[&str] = &[
    "Zone ranges:",
    "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
    "  Normal   [mem 0x0000000001000000-0x0000000007fdffff]",
    "  HighMem  empty",
    "Movable zone start for each node",
    "Early memory node ranges",
    "  node   0: [mem 0x0000000000001000-0x000000000009efff]",
    "  node   0: [mem 0x0000000000100000-0x0000000007fdffff]",
    "Initmem setup node 0 [mem 0x0000000000001000-0x0000000007fdffff]",
    "On node 0, zone DMA: 1 pages in unavailable ranges",
    "On node 0, zone DMA: 97 pages in unavailable ranges",
];

/// 128 MiB PC, FLATMEM.
///
/// ```text
/// pfn  0   1        0x9f  0x100   0x125              0x1000                    0x7fe0
///      | . | f f f f | . . . | r r r | f f f f f f f f | f f f f f f f f f f f f |
///      |<------------------- DMA ------------------->|<-------- Normal -------->|
/// ```
/// Expect: the lines above; DMA spans 4095 pages (pfn 1..0x1000), 3998 present (4095 - 97
/// hole), 3961 managed (3998 - 37 reserved, pfns 0x100..0x125); Normal spans = present =
/// managed = 0x7fe0 - 0x1000 = 28640; free_all hands out 32601 pages = the free ranges.
#[test]
fn pc128_flatmem_zones_and_lines() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let mut log = Lines::default();
    let node = m.init(&mut pages, start, &mut log);
    assert_eq!(log.0, PC128_FLATMEM_LINES);
    let dma = node.zone(ZoneType::Dma);
    assert_eq!((dma.zone_start_pfn, dma.spanned_pages, dma.present_pages, dma.managed_pages), (1, 4095, 3998, 0));
    let normal = node.zone(ZoneType::Normal);
    assert_eq!((normal.zone_start_pfn, normal.spanned_pages, normal.present_pages), (0x1000, 28640, 28640));
    assert!(!node.zone(ZoneType::HighMem).populated());
    assert_eq!((node.node_start_pfn, node.node_spanned_pages, node.node_present_pages), (1, 0x7fdf, 32638));
    // Before the hand-off everything is Reserved and nothing is free.
    assert_eq!(node.nr_free_pages(), 0);
    assert!(node.mem_map().get(0).unwrap().is_hole());
    assert!(node.mem_map().get(0x9f).unwrap().is_hole());
    assert!(!node.mem_map().get(0x100).unwrap().is_hole());
    node.check().unwrap();
}

/// The same PC with SPARSEMEM (64 MiB sections): the tail [0x7fe0, 0x8000) up to the section
/// end is a hole of the last zone.
///
/// Expect: the FLATMEM lines plus `On node 0, zone Normal: 32 pages in unavailable ranges`.
#[test]
fn pc128_sparsemem_reports_tail_hole() {
    let m = pc128(ArchConfig::X86_32_SPARSEMEM);
    let (mut pages, start) = m.map_storage();
    let mut log = Lines::default();
    let node = m.init(&mut pages, start, &mut log);
    let mut want: Vec<&str> = PC128_FLATMEM_LINES.to_vec();
    want.push("On node 0, zone Normal: 32 pages in unavailable ranges");
    assert_eq!(log.0, want);
    assert_eq!(node.mem_map().get(0x7fe0).unwrap().zone(), Some(ZoneType::Normal));
    node.check().unwrap();
}

/// memblock_free_all on the 128 MiB PC.
///
/// ```text
/// DMA free ranges:  [0x1, 0x9f)   -> 1@0 2@1 4@2 8@3 16@4 32@5 64@6 16@4 8@3 4@2 2@1 1@0
///                   [0x125,0x1000) -> o0 o1 o3 o4 o6 o7 o9 o10 o10 o10
/// Normal:           [0x1000,0x7fe0) -> 27 x o10, then o9 o8 o7 o6 o5
/// ```
/// Expect: 32601 pages freed (= managed = free), the largest aligned blocks, reserved pages
/// still Reserved, pageblock 0 (first pfn in a hole) Unmovable, the others Movable.
#[test]
fn pc128_free_all_largest_blocks() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let mut log = Lines::default();
    let (node, freed) = m.boot(&mut pages, start, &mut log);
    let free_range_pages: u64 = m.with_memblock(|mb| {
        mb.free_ranges(memblock::NUMA_NO_NODE).map(|(s, e, _)| mm_types::pfn_down(e).saturating_sub(mm_types::pfn_up(s))).sum()
    });
    assert_eq!(freed, 32601);
    assert_eq!(freed, free_range_pages);
    assert_eq!(node.totalram_pages(), freed);
    assert_eq!(node.nr_free_pages(), freed);
    assert_eq!(node.zone(ZoneType::Dma).managed_pages, 3961);
    assert_eq!(node.zone(ZoneType::Normal).managed_pages, 28640);
    assert_eq!(nr_free(&node, ZoneType::Dma), [3, 3, 2, 3, 3, 1, 2, 1, 0, 1, 3]);
    assert_eq!(nr_free(&node, ZoneType::Normal), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 27]);
    for pfn in 0x100..0x125 {
        assert_eq!(node.page_reserved(pfn), Some(true), "pfn {pfn:#x}");
    }
    assert_eq!(node.free_block_containing(0x9e), Some((0x9e, 0)));
    assert_eq!(node.free_block_containing(0x7fdf), Some((0x7fc0, 5)));
    assert_eq!(node.pageblock_migratetype(0x10), Some(Migratetype::Unmovable));
    assert_eq!(node.pageblock_migratetype(0x400), Some(Migratetype::Movable));
    node.check().unwrap();
    let _ = Pfn(0);
}

/// arm64 (6.1, 4K pages), 256 MiB of RAM at 1 GiB, all below 4 GiB so all ZONE_DMA.
///
/// Expect: DMA reaches up to 4 GiB, DMA32 and Normal empty, no unavailable ranges (the
/// sections below RAM hold no memory, so pfn_valid skips them); 65536 pages present; kernel
/// image and DTB stay reserved.
#[test]
fn arm64_256m_all_dma() {
    let m = Machine {
        config: ArchConfig::ARM64_4K,
        memory: vec![(SZ_1G, 256 * SZ_1M)],
        reserved: vec![(SZ_1G + 0x20_0000, 0x180_0000), (SZ_1G + 0x800_0000, 0x10_0000)],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, 0x10_0000), (ZoneType::Dma32, 0x10_0000), (ZoneType::Normal, 0x5_0000)]),
    };
    let (mut pages, start) = m.map_storage();
    let mut log = Lines::default();
    let (node, freed) = m.boot(&mut pages, start, &mut log);
    assert_eq!(
        log.0,
        [
            "Zone ranges:",
            "  DMA      [mem 0x0000000040000000-0x00000000ffffffff]",
            "  DMA32    empty",
            "  Normal   empty",
            "Movable zone start for each node",
            "Early memory node ranges",
            "  node   0: [mem 0x0000000040000000-0x000000004fffffff]",
            "Initmem setup node 0 [mem 0x0000000040000000-0x000000004fffffff]",
        ]
    );
    let dma = node.zone(ZoneType::Dma);
    assert_eq!((dma.zone_start_pfn, dma.spanned_pages, dma.present_pages), (0x40000, 65536, 65536));
    // 24 MiB + 1 MiB reserved = 6400 pages.
    assert_eq!(freed, 65536 - 6400);
    assert_eq!(dma.managed_pages, freed);
    assert_eq!(node.page_reserved(0x40200), Some(true));
    assert_eq!(node.page_reserved(0x40000), Some(false));
    node.check().unwrap();
}

/// arm64 with 8 GiB at 1 GiB: DMA below 4 GiB, Normal above.
///
/// Expect: DMA [1 GiB, 4 GiB) = 786432 pages, Normal [4 GiB, 9 GiB) = 1310720 pages, all
/// present and managed (nothing reserved); only order-10 blocks.
#[test]
fn arm64_8g_dma_and_normal() {
    let m = Machine {
        config: ArchConfig::ARM64_4K,
        memory: vec![(SZ_1G, 8 * SZ_1G)],
        reserved: vec![],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, 0x10_0000), (ZoneType::Dma32, 0x10_0000), (ZoneType::Normal, 0x24_0000)]),
    };
    let (mut pages, start) = m.map_storage();
    let mut log = Lines::default();
    let (node, freed) = m.boot(&mut pages, start, &mut log);
    assert_eq!(
        log.0[..4],
        [
            "Zone ranges:",
            "  DMA      [mem 0x0000000040000000-0x00000000ffffffff]",
            "  DMA32    empty",
            "  Normal   [mem 0x0000000100000000-0x000000023fffffff]",
        ]
    );
    let dma = node.zone(ZoneType::Dma);
    let normal = node.zone(ZoneType::Normal);
    assert_eq!((dma.spanned_pages, dma.present_pages, dma.managed_pages), (786_432, 786_432, 786_432));
    assert_eq!((normal.zone_start_pfn, normal.spanned_pages, normal.managed_pages), (0x10_0000, 1_310_720, 1_310_720));
    assert_eq!(freed, 8 * 262_144);
    assert_eq!(nr_free(&node, ZoneType::Dma)[10], 768);
    assert_eq!(nr_free(&node, ZoneType::Normal)[10], 1280);
    // A GFP_KERNEL allocation comes from Normal, a GFP_DMA one from DMA.
    let node = node;
    let p = node.alloc_pages(crate::Gfp::KERNEL, 0).unwrap();
    assert_eq!(node.zone_of(p.0), Some(ZoneType::Normal));
    let p = node.alloc_pages(crate::Gfp::DMA, 0).unwrap();
    assert_eq!(node.zone_of(p.0), Some(ZoneType::Dma));
    node.check().unwrap();
}

/// i386 with 3 GiB and the default 896 MiB lowmem limit: HighMem above max_low_pfn.
///
/// Expect: `HighMem  [mem 0x0000000038000000-0x00000000bfffffff]`; HighMem spans 557056
/// pages, all present and freed; its min watermark is clamp(557056 / 1024, 32, 128) = 128;
/// GFP_HIGHUSER_MOVABLE takes HighMem first, GFP_KERNEL never does.
#[test]
fn x86_32_3g_highmem() {
    let m = Machine {
        config: ArchConfig::X86_32,
        memory: vec![(0x1000, 0x9e000), (SZ_1M, 3 * SZ_1G - SZ_1M)],
        reserved: vec![(0, 0x1000), (0x9f000, 0x124038 - 0x9f000)],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, 0x1000), (ZoneType::Normal, 0x38000), (ZoneType::HighMem, 0xc0000)]),
    };
    let (mut pages, start) = m.map_storage();
    let mut log = Lines::default();
    let (node, freed) = m.boot(&mut pages, start, &mut log);
    assert_eq!(log.0[1..4], [
        "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
        "  Normal   [mem 0x0000000001000000-0x0000000037ffffff]",
        "  HighMem  [mem 0x0000000038000000-0x00000000bfffffff]",
    ]);
    let high = node.zone(ZoneType::HighMem);
    assert_eq!((high.zone_start_pfn, high.spanned_pages, high.present_pages, high.managed_pages), (0x38000, 557_056, 557_056, 557_056));
    assert_eq!(high.min_wmark_pages(), 128);
    assert_eq!(freed, 3961 + (0x38000 - 0x1000) + 557_056);
    assert_eq!(node.totalhigh_pages(), 557_056);
    let p = node.alloc_pages(crate::Gfp::HIGHUSER_MOVABLE, 3).unwrap();
    assert_eq!(node.zone_of(p.0), Some(ZoneType::HighMem));
    let k = node.alloc_pages(crate::Gfp::KERNEL, 3).unwrap();
    assert_eq!(node.zone_of(k.0), Some(ZoneType::Normal));
    node.check().unwrap();
}

/// `free_range` cuts at zone boundaries: a zone limit that is not MAX_ORDER aligned
/// (DMA up to pfn 0x1001) splits the range so no block spans two zones.
///
/// Expect: DMA ends with an order-0 block at 0x1000; Normal starts with 0x1001 (order 0),
/// 0x1002 (order 1), …; check() passes.
#[test]
fn free_range_splits_at_zone_boundary() {
    let m = Machine {
        config: ArchConfig::X86_32,
        memory: vec![(0, 0x200_0000)],
        reserved: vec![],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, 0x1001), (ZoneType::Normal, 0x2000), (ZoneType::HighMem, 0x2000)]),
    };
    let (mut pages, start) = m.map_storage();
    let mut log = Lines::default();
    let (node, freed) = m.boot(&mut pages, start, &mut log);
    assert_eq!(freed, 0x2000);
    assert_eq!(node.free_block_containing(0x1000), Some((0x1000, 0)));
    assert_eq!(node.free_block_containing(0x1001), Some((0x1001, 0)));
    assert_eq!(node.free_block_containing(0x1003), Some((0x1002, 1)));
    assert_eq!(node.zone(ZoneType::Dma).managed_pages, 0x1001);
    node.check().unwrap();
}

/// A map that does not cover the node is refused.
#[test]
fn map_too_small_is_an_error() {
    let m = pc128(ArchConfig::X86_32);
    let mut pages = vec![Page::INIT; MemMap::storage_len(1024)];
    let mut log = Lines::default();
    let r = m.with_memblock(|mb| {
        free_area_init(m.config, 0, m.max_zone_pfn, mb, MemMap::new(&mut pages, 0), &mut log).map(|_| ())
    });
    assert_eq!(r, Err(crate::InitError::MapTooSmall { node_start_pfn: 1, node_end_pfn: 0x7fe0 }));
    assert_eq!(MemMap::try_new(&mut pages, 1).map(|_| ()), Err(crate::MemMapError::MisalignedStart));
}

/// The usemap after the pages: `storage_len` and its inverse agree for every page count up to
/// a few usemap entries, and a length that is no `storage_len` is refused.
#[test]
fn mem_map_storage_len_round_trips() {
    for n in 0..5000usize {
        assert_eq!(MemMap::pages_for_storage(MemMap::storage_len(n)), Some(n), "n = {n}");
    }
    // 512 pages need 513 entries, 513 pages need 515: 514 fits no page count.
    assert_eq!(MemMap::storage_len(512), 513);
    assert_eq!(MemMap::storage_len(513), 515);
    assert_eq!(MemMap::pages_for_storage(514), None);
    let mut odd = vec![Page::INIT; 514];
    assert_eq!(MemMap::try_new(&mut odd, 0).err(), Some(crate::MemMapError::StorageLength));
}
