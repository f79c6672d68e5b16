//! Exact merge and split cases (`__free_one_page`, `expand`).
use super::*;
use crate::{FreeError, Gfp, Pfn};

/// 4 MiB of memory at 0, everything reserved: nothing is free until a test hands pages over
/// with `free_pages_core`. DMA up to `dma_limit_pfn`, Normal above.
fn all_reserved(memory: Vec<(u64, u64)>, dma_limit_pfn: u64) -> Machine {
    Machine {
        config: ArchConfig::X86_32,
        reserved: vec![(0, 0x40_0000)],
        memory,
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, dma_limit_pfn), (ZoneType::Normal, 0x400), (ZoneType::HighMem, 0x400)]),
    }
}

/// Two buddies freed one after the other merge.
///
/// ```text
/// pfn   2 3            2 3
///       f r    ->      [f f]   one order-1 block at 2
/// ```
/// Expect: after the first free one order-0 block; after the second one order-1 block at 2
/// and no order-0 block.
#[test]
fn free_two_buddies_merges() {
    let m = all_reserved(vec![(0, 0x40_0000)], 0x400);
    let (mut pages, start) = m.map_storage();
    let (mut node, freed) = m.boot(&mut pages, start, &mut Lines::default());
    assert_eq!(freed, 0);
    node.free_pages_core(Pfn(2), 0).unwrap();
    assert_eq!(nr_free(&node, ZoneType::Dma)[..2], [1, 0]);
    node.free_pages_core(Pfn(3), 0).unwrap();
    assert_eq!(nr_free(&node, ZoneType::Dma)[..2], [0, 1]);
    assert_eq!(node.free_block_containing(3), Some((2, 1)));
    assert_eq!(node.zone(ZoneType::Dma).managed_pages, 2);
    node.check().unwrap();
    // Two more orders: 0,1 then the order-1 block at 0 merges with 2 into order 2.
    node.free_pages_core(Pfn(0), 1).unwrap();
    assert_eq!(node.free_block_containing(0), Some((0, 2)));
    node.check().unwrap();
}

/// A buddy in a hole is never merged.
///
/// ```text
/// pfn   0 1 2 3
///       f f f .      memory [0, 3), pfn 3 is a hole
/// ```
/// Expect: order-1 at 0 and order-0 at 2; pfn 3 stays a hole; freeing it is an error.
#[test]
fn buddy_in_hole_never_merged() {
    let m = all_reserved(vec![(0, 0x3000), (0x10_0000, 0x10_0000)], 0x400);
    let (mut pages, start) = m.map_storage();
    let (mut node, _) = m.boot(&mut pages, start, &mut Lines::default());
    for pfn in 0..3 {
        node.free_pages_core(Pfn(pfn), 0).unwrap();
    }
    assert_eq!(node.free_block_containing(1), Some((0, 1)));
    assert_eq!(node.free_block_containing(2), Some((2, 0)));
    assert!(node.mem_map().get(3).unwrap().is_hole());
    assert_eq!(node.free_pages_core(Pfn(3), 0), Err(FreeError::Hole { pfn: Pfn(3) }));
    assert_eq!(node.free_pages_core(Pfn(2), 1), Err(FreeError::Hole { pfn: Pfn(3) }));
    node.check().unwrap();
}

/// Handing over a block one page of which is already managed is refused wherever that page
/// lies, and changes nothing: the hand-off's one-pass fast path checks the block a chunk at a
/// time and puts back the chunks it had already cleared.
///
/// ```text
/// pfn   0x200 ........ 0x2c3 ........ 0x3ff
///       R R R ........   f   ........   R      (one page managed, 0x2c3)
/// ```
/// Expect: `free_pages_core(0x200, 9)` is `NotReserved { 0x2c3 }`; every other page of the
/// block is still Reserved with refcount 0; then each half that holds no managed page goes.
#[test]
fn hand_off_of_a_partly_managed_block_changes_nothing() {
    let m = all_reserved(vec![(0, 0x40_0000)], 0x400);
    let (mut pages, start) = m.map_storage();
    let (mut node, _) = m.boot(&mut pages, start, &mut Lines::default());
    node.free_pages_core(Pfn(0x2c3), 0).unwrap();
    let before = nr_free(&node, ZoneType::Dma);
    assert_eq!(node.free_pages_core(Pfn(0x200), 9), Err(FreeError::NotReserved { pfn: Pfn(0x2c3) }));
    assert_eq!(nr_free(&node, ZoneType::Dma), before);
    assert_eq!(node.zone(ZoneType::Dma).managed_pages, 1);
    for pfn in (0x200..0x400).filter(|&p| p != 0x2c3) {
        let p = node.mem_map().get(pfn).unwrap();
        assert_eq!((p.flags(), p.refcount()), (crate::PageFlags::RESERVED, 0), "pfn {pfn:#x}");
    }
    node.check().unwrap();
    node.free_pages_core(Pfn(0x200), 7).unwrap();
    node.free_pages_core(Pfn(0x300), 8).unwrap();
    assert_eq!(node.free_block_containing(0x3ff), Some((0x300, 8)));
    assert_eq!(node.zone(ZoneType::Dma).managed_pages, 0x181);
    node.check().unwrap();
}

/// A buddy in another zone is never merged.
///
/// ```text
/// pfn     0x100 | 0x101
///          DMA  | Normal     (DMA limit pfn 0x101)
/// ```
/// Expect: two order-0 blocks, one per zone.
#[test]
fn buddy_in_other_zone_never_merged() {
    let m = all_reserved(vec![(0, 0x40_0000)], 0x101);
    let (mut pages, start) = m.map_storage();
    let (mut node, _) = m.boot(&mut pages, start, &mut Lines::default());
    node.free_pages_core(Pfn(0x100), 0).unwrap();
    node.free_pages_core(Pfn(0x101), 0).unwrap();
    assert_eq!(node.free_block_containing(0x100), Some((0x100, 0)));
    assert_eq!(node.free_block_containing(0x101), Some((0x101, 0)));
    assert_eq!(nr_free(&node, ZoneType::Dma)[0], 1);
    assert_eq!(nr_free(&node, ZoneType::Normal)[0], 1);
    // A block crossing the boundary is refused.
    assert_eq!(node.free_pages_core(Pfn(0x100), 1), Err(FreeError::ZoneMismatch { pfn: Pfn(0x100) }));
    node.check().unwrap();
}

/// `expand`: an order-0 allocation from the only free block, order 3 at pfn 8.
///
/// ```text
/// pfn   8 9 10 11 12 13 14 15
///       A f [f  f][f  f  f  f]
/// ```
/// Expect: pfn 8 returned; free blocks order 0 at 9, order 1 at 10, order 2 at 12.
#[test]
fn expand_splits_into_lower_orders() {
    let m = all_reserved(vec![(0, 0x40_0000)], 0x400);
    let (mut pages, start) = m.map_storage();
    let (mut node, _) = m.boot(&mut pages, start, &mut Lines::default());
    node.free_pages_core(Pfn(8), 3).unwrap();
    let p = node.alloc_pages(Gfp::KERNEL.nofail(), 0).unwrap();
    assert_eq!(p, Pfn(8));
    assert_eq!(node.free_block_containing(9), Some((9, 0)));
    assert_eq!(node.free_block_containing(11), Some((10, 1)));
    assert_eq!(node.free_block_containing(15), Some((12, 2)));
    assert_eq!(nr_free(&node, ZoneType::Dma)[..4], [1, 1, 1, 0]);
    assert_eq!(node.allocated_block_containing(8), Some((8, 0)));
    node.check().unwrap();
    // Freeing it merges everything back into one order-3 block.
    node.free_pages(p, 0).unwrap();
    assert_eq!(node.free_block_containing(13), Some((8, 3)));
    node.check().unwrap();
}

/// Allocations come from the smallest sufficient block, and an order-10 request takes a
/// whole MAX_ORDER block.
#[test]
fn smallest_block_first_and_max_order() {
    let m = Machine {
        config: ArchConfig::X86_32,
        memory: vec![(0, 0x80_0000)],
        reserved: vec![(0x40_0000, 0x1000)],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, 0x800), (ZoneType::Normal, 0x800), (ZoneType::HighMem, 0x800)]),
    };
    let (mut pages, start) = m.map_storage();
    let (node, freed) = m.boot(&mut pages, start, &mut Lines::default());
    assert_eq!(freed, 0x7ff);
    // Free, all Movable: order 10 at 0, and 0x401 (o0), 0x402 (o1), ... 0x600 (o9).
    let mv = Gfp::HIGHUSER_MOVABLE.nofail();
    assert_eq!(node.alloc_pages(mv, 0), Ok(Pfn(0x401)));
    assert_eq!(node.alloc_pages(mv, 10), Ok(Pfn(0)));
    assert_eq!(node.alloc_pages(mv, 10), Err(crate::AllocError::NoFailUnsatisfied { order: 10 }));
    // An unmovable request finds no Unmovable block and steals from the largest Movable
    // block (order 9 at 0x600): its pageblock [0x400, 0x800) is 1022/1024 free, so every
    // free block of it moves to the Unmovable lists and the pageblock turns Unmovable; the
    // retry then takes the smallest, pfn 0x402 (split from the order-1 block).
    assert_eq!(node.alloc_pages(Gfp::KERNEL.nofail(), 0), Ok(Pfn(0x402)));
    assert_eq!(node.pageblock_migratetype(0x400), Some(crate::Migratetype::Unmovable));
    assert_eq!(node.free_block_containing(0x403), Some((0x403, 0)));
    assert_eq!(node.alloc_pages(Gfp::KERNEL, 11), Err(crate::AllocError::InvalidOrder { order: 11 }));
    node.check().unwrap();
}

/// `gfp_zone` without `CONFIG_ZONE_DMA` (32-bit ARM, Debian armmp): `OPT_ZONE_DMA` is
/// `ZONE_NORMAL`, so a `GFP_DMA` request is served from Normal.
///
/// ```text
/// pfn 0x40000                0x50000
///     | Normal (no DMA zone) |
/// ```
/// Expect (a 32-bit ARM kernel built without `CONFIG_ZONE_DMA`, as `sunxi_defconfig`; Debian's
/// `armmp` has the zone): DMA resolves to Normal there, stays DMA on x86-32 and on `armmp`; a
/// `GFP_DMA` order-2 allocation succeeds from the one Normal zone.
#[test]
fn gfp_dma_without_zone_dma_is_normal() {
    let no_dma = ArchConfig { zones: [false, false, true, true, false], ..ArchConfig::ARMV7A };
    assert_eq!(no_dma.resolve_zone(ZoneType::Dma), ZoneType::Normal);
    assert_eq!(ArchConfig::ARMV7A.resolve_zone(ZoneType::Dma), ZoneType::Dma);
    assert_eq!(ArchConfig::X86_32.resolve_zone(ZoneType::Dma), ZoneType::Dma);
    assert_eq!(no_dma.resolve_zone(ZoneType::HighMem), ZoneType::HighMem);
    let m = Machine {
        config: no_dma,
        reserved: vec![],
        memory: vec![(0x4000_0000, 0x1000_0000)],
        max_zone_pfn: zone_limits(&[(ZoneType::Normal, 0x50000), (ZoneType::HighMem, 0x50000)]),
    };
    let (mut pages, start) = m.map_storage();
    let (node, freed) = m.boot(&mut pages, start, &mut Lines::default());
    assert_eq!(freed, 0x10000);
    let pfn = node.alloc_pages(Gfp::DMA, 2).expect("GFP_DMA is served from Normal");
    assert_eq!(node.zone_of(pfn.0), Some(ZoneType::Normal));
}
