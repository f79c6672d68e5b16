//! Migratetype fallback (`fallbacks[]`, `__rmqueue_fallback`) and pageblock stealing
//! (`steal_suitable_fallback`).
use super::*;
use crate::buddy::find_suitable_fallback;
use crate::{Gfp, Migratetype, Pfn};

/// arm64 4K (pageblock_order 9) with `size` bytes of RAM at 1 GiB, nothing reserved.
fn arm64(size: u64) -> Machine {
    Machine {
        config: ArchConfig::ARM64_4K,
        memory: vec![(SZ_1G, size)],
        reserved: vec![],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, 0x10_0000), (ZoneType::Dma32, 0x10_0000), (ZoneType::Normal, 0x10_0000)]),
    }
}

/// The fallback order is Linux's `fallbacks[]`.
#[test]
fn fallback_table() {
    use Migratetype::*;
    assert_eq!(Unmovable.fallbacks(), [Reclaimable, Movable]);
    assert_eq!(Movable.fallbacks(), [Reclaimable, Unmovable]);
    assert_eq!(Reclaimable.fallbacks(), [Unmovable, Movable]);
}

/// An unmovable request finding only a MAX_ORDER movable block takes ownership of both of its
/// pageblocks (`change_pageblock_range`, order >= pageblock_order).
///
/// ```text
/// pageblocks   [0x40000 M][0x40200 M]  --alloc U order 0-->  [U][U]
/// ```
/// Expect: pfn 0x40000 returned; both pageblocks Unmovable; the split remainder is on the
/// Unmovable lists.
#[test]
fn large_fallback_steals_whole_pageblocks() {
    let m = arm64(4 * SZ_1M);
    let (mut pages, start) = m.map_storage();
    let (node, freed) = m.boot(&mut pages, start, &mut Lines::default());
    assert_eq!(freed, 1024);
    assert_eq!(node.pageblock_migratetype(0x40200), Some(Migratetype::Movable));
    let p = node.alloc_pages(Gfp::KERNEL.nofail(), 0).unwrap();
    assert_eq!(p, Pfn(0x40000));
    assert_eq!(node.pageblock_migratetype(0x40000), Some(Migratetype::Unmovable));
    assert_eq!(node.pageblock_migratetype(0x40200), Some(Migratetype::Unmovable));
    let dma = node.zone(ZoneType::Dma);
    for o in 0..10 {
        assert!(!dma.free_area()[o].is_empty(Migratetype::Unmovable), "order {o}");
        assert!(dma.free_area()[o].is_empty(Migratetype::Movable), "order {o}");
    }
    node.check().unwrap();
}

/// A small unmovable fallback claims the pageblock when enough of it is free or alike
/// (`move_freepages_block`, `free + alike >= pageblock_nr_pages / 2`).
///
/// ```text
/// 0x40000 [ A (movable, order 9)            ]  pageblock M
/// 0x40200 [ A movable o8 | f o8 (movable)    ]  pageblock M  --alloc U o0-->  pageblock U
/// ```
/// Expect: free 256 + alike 512 - (256 + 256) = 256 >= 256, so pageblock 0x40200 becomes
/// Unmovable and the allocation is 0x40300; pageblock 0x40000 stays Movable.
#[test]
fn small_fallback_steals_pageblock_when_half_free() {
    let m = arm64(4 * SZ_1M);
    let (mut pages, start) = m.map_storage();
    let (node, _) = m.boot(&mut pages, start, &mut Lines::default());
    let mv = Gfp::HIGHUSER_MOVABLE.nofail();
    assert_eq!(node.alloc_pages(mv, 9), Ok(Pfn(0x40000)));
    assert_eq!(node.alloc_pages(mv, 8), Ok(Pfn(0x40200)));
    let p = node.alloc_pages(Gfp::KERNEL.nofail(), 0).unwrap();
    assert_eq!(p, Pfn(0x40300));
    assert_eq!(node.pageblock_migratetype(0x40200), Some(Migratetype::Unmovable));
    assert_eq!(node.pageblock_migratetype(0x40000), Some(Migratetype::Movable));
    node.check().unwrap();
}

/// When the pageblock reaches past the zone, only the block itself moves
/// (`move_freepages_block` returns 0 → `single_page`), and a movable request that may not
/// steal takes the smallest fallback block (`find_smallest`).
///
/// ```text
/// 16 pages at 0x40000 (the pageblock is 512 pages, the zone 16):
///   free o4 (M) --U o0--> A f [f f][f f f f][f f f f f f f f]   all on Unmovable lists
///   --U o1, U o2-->       A f  A A  A A A A [f ... o3 ...]
///   --M o0-->  takes pfn 0x40001 (order 0), not a piece of the order-3 block
/// ```
/// Expect: the pageblock stays Movable throughout; the order-3 block stays Unmovable.
#[test]
fn zone_edge_single_page_and_find_smallest() {
    let m = arm64(64 * 1024);
    let (mut pages, start) = m.map_storage();
    let (node, freed) = m.boot(&mut pages, start, &mut Lines::default());
    assert_eq!(freed, 16);
    let k = Gfp::KERNEL.nofail();
    assert_eq!(node.alloc_pages(k, 0), Ok(Pfn(0x40000)));
    assert_eq!(node.pageblock_migratetype(0x40000), Some(Migratetype::Movable));
    assert_eq!(node.alloc_pages(k, 1), Ok(Pfn(0x40002)));
    assert_eq!(node.alloc_pages(k, 2), Ok(Pfn(0x40004)));
    let dma = node.zone(ZoneType::Dma);
    assert!(!dma.free_area()[0].is_empty(Migratetype::Unmovable));
    assert!(!dma.free_area()[3].is_empty(Migratetype::Unmovable));
    // A movable order-0 request: order 3 is found first but may not be stolen, so the
    // smallest fallback block is taken.
    assert_eq!(find_suitable_fallback(&dma.lock(), 3, Migratetype::Movable, false), Some((Migratetype::Unmovable, false)));
    assert_eq!(node.alloc_pages(Gfp::HIGHUSER_MOVABLE.nofail(), 0), Ok(Pfn(0x40001)));
    assert!(!node.zone(ZoneType::Dma).free_area()[3].is_empty(Migratetype::Unmovable));
    assert_eq!(node.pageblock_migratetype(0x40000), Some(Migratetype::Movable));
    node.check().unwrap();
}

/// Reclaimable requests fall back to Unmovable first.
#[test]
fn reclaimable_prefers_unmovable() {
    let m = arm64(4 * SZ_1M);
    let (mut pages, start) = m.map_storage();
    let (node, _) = m.boot(&mut pages, start, &mut Lines::default());
    // Make pageblock 0x40000 Unmovable with some free pages in it.
    let u = node.alloc_pages(Gfp::KERNEL.nofail(), 0).unwrap();
    assert_eq!(u, Pfn(0x40000));
    let r = node.alloc_pages(Gfp::RECLAIMABLE.nofail(), 0).unwrap();
    // The Unmovable lists hold the split pieces; the reclaimable request steals from them.
    assert_eq!(node.pageblock_migratetype(r.0), Some(Migratetype::Reclaimable));
    assert!(r.0 < 0x40200 + 0x200);
    node.check().unwrap();
}
