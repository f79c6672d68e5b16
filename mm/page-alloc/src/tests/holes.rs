//! Holes far apart: `init_unavailable_range` costs per valid interval, not per pfn, so a
//! hole that spans most of the address space is as cheap as a small one.
use super::numa::NumaMachine;
use super::*;

/// ```text
/// pfn 0x40000 (1 GiB)                       2^40 (2^52 bytes)
///     | node 0: 64 MiB (DMA) | ... hole of 2^52 bytes ... | node 1: 64 MiB (Normal) |.. |
/// ```
/// arm64 (SPARSEMEM, 128 MiB sections): the hole between the nodes lies in sections without
/// memory, so Linux counts nothing there; the tail of node 1's section (64 MiB = 16384 pages)
/// is counted to its last zone, as is the tail of node 0's section in the gap.
/// Expect: node 0's section tail, then node 1's, each 16384 pages; no count for the 2^52-byte
/// gap; and the walk finishes (per page, it took 2^31 pageblock steps).
#[test]
fn a_hole_across_most_of_the_address_space_is_walked_per_range() {
    let far = 1u64 << 52;
    let end = (far + 64 * SZ_1M) >> 12;
    let m = NumaMachine {
        config: ArchConfig::ARM64_4K,
        memory: vec![(SZ_1G, 64 * SZ_1M, 0), (far, 64 * SZ_1M, 1)],
        reserved: vec![],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, 0x10_0000), (ZoneType::Dma32, 0x10_0000), (ZoneType::Normal, end)]),
    };
    let mut storage = m.map_storage();
    let mut log = Lines::default();
    let _set = m.init(&mut storage, &mut log);
    let holes: Vec<&String> = log.0.iter().filter(|l| l.contains("unavailable ranges")).collect();
    assert_eq!(
        holes,
        ["On node 1, zone Normal: 16384 pages in unavailable ranges", "On node 1, zone Normal: 16384 pages in unavailable ranges"],
        "{:#?}",
        log.0
    );
}
