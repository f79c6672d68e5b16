//! Bad frees are errors that change nothing.
use super::*;
use crate::{FreeError, Gfp, Pfn};

/// Double free, freeing reserved pages, pfns outside the map or in a hole, misaligned pfns,
/// a wrong order, a tail page: each is reported and the accounting check still passes with
/// the free counts unchanged.
#[test]
fn bad_frees_are_reported_and_harmless() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let (mut node, _) = m.boot(&mut pages, start, &mut Lines::default());
    let a = node.alloc_pages(Gfp::KERNEL, 2).unwrap();
    let before = (nr_free(&node, ZoneType::Dma), nr_free(&node, ZoneType::Normal), node.nr_free_pages());
    let snapshot = |n: &Node<'_>| (nr_free(n, ZoneType::Dma), nr_free(n, ZoneType::Normal), n.nr_free_pages());

    let cases = [
        (Pfn(0x110), 0, FreeError::Reserved { pfn: Pfn(0x110) }),
        (Pfn(0x50), 0, FreeError::DoubleFree { pfn: Pfn(0x50) }),
        (Pfn(0x9f), 0, FreeError::Hole { pfn: Pfn(0x9f) }),
        (Pfn(0x10_0000), 0, FreeError::OutsideMap { pfn: Pfn(0x10_0000) }),
        (Pfn(a.0 + 1), 2, FreeError::Misaligned { pfn: Pfn(a.0 + 1), order: 2 }),
        (Pfn(a.0 + 1), 0, FreeError::NotAllocatedAs { pfn: Pfn(a.0 + 1), order: 0 }),
        (a, 1, FreeError::NotAllocatedAs { pfn: a, order: 1 }),
        (a, 11, FreeError::InvalidOrder { order: 11 }),
        (Pfn(0x2000), 0, FreeError::DoubleFree { pfn: Pfn(0x2000) }),
    ];
    for (pfn, order, want) in cases {
        assert_eq!(node.free_pages(pfn, order), Err(want), "{pfn} order {order}");
        assert_eq!(snapshot(&node), before);
        node.check().unwrap();
    }
    node.free_pages(a, 2).unwrap();
    assert_eq!(node.free_pages(a, 2), Err(FreeError::DoubleFree { pfn: a }));
    assert_eq!(node.nr_free_pages(), node.totalram_pages());
    node.check().unwrap();
    // Handing a managed page over again is refused too.
    assert_eq!(node.free_pages_core(Pfn(0x2000), 0), Err(FreeError::NotReserved { pfn: Pfn(0x2000) }));
    node.check().unwrap();
}

/// Hole page (pfn 0 of the PC) and a pfn before the map.
#[test]
fn hole_and_outside_map() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let (node, _) = m.boot(&mut pages, start, &mut Lines::default());
    assert_eq!(node.free_pages(Pfn(0), 0), Err(FreeError::Hole { pfn: Pfn(0) }));
    assert_eq!(node.free_pages(Pfn(0xa0), 0), Err(FreeError::Hole { pfn: Pfn(0xa0) }));
    assert_eq!(node.free_pages(Pfn(0x8000), 0), Err(FreeError::OutsideMap { pfn: Pfn(0x8000) }));
    node.check().unwrap();
}

/// `check()` notices corrupted accounting and metadata.
#[test]
fn check_detects_corruption() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let (mut node, _) = m.boot(&mut pages, start, &mut Lines::default());
    node.check().unwrap();

    node.zones[ZoneType::Dma as usize].free_area.get_mut()[0].nr_free += 1;
    assert_eq!(node.check().unwrap_err().what, "nr_free differs from the blocks on the lists");
    node.zones[ZoneType::Dma as usize].free_area.get_mut()[0].nr_free -= 1;

    // A tail page of a free block claiming to be a Buddy head.
    node.mem_map.page(0x1001).set_flags(crate::PageFlags::BUDDY);
    assert!(node.check().is_err());
    node.mem_map.page(0x1001).set_flags(crate::PageFlags(0));

    // A reserved page losing its flag.
    node.mem_map.page(0x110).set_flags(crate::PageFlags(0));
    assert_eq!(node.check().unwrap_err().pfn, Some(0x110));
    node.mem_map.page(0x110).set_flags(crate::PageFlags::RESERVED);

    node.zones[ZoneType::Normal as usize].managed_pages += 1;
    assert_eq!(node.check().unwrap_err().what, "managed_pages != free + allocated + on per-CPU lists");
    node.zones[ZoneType::Normal as usize].managed_pages -= 1;
    node.check().unwrap();
}
