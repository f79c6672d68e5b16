//! Free-range and memory-range walks (`for_each_free_mem_range[_reverse]`, `for_each_mem_range`).
use super::*;
use crate::NUMA_NO_NODE;
use std::vec::Vec;

/// Memory with holes and reservations, walked both ways.
///
/// ```text
///   |    M1 (n0)     |      |    M2 (n1)    |
///      |r1|      |r2 ..................|r3|
///   |f |  |  f   |                     |  | f |
/// ```
/// Expect: exactly the gaps, ascending and descending, each tagged with its region's node.
#[test]
fn free_ranges_both_directions() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add_node(0, SZ_1M, 0, RegionFlags::NONE).unwrap();
    mb.add_node(SZ_2M, SZ_1M, 1, RegionFlags::NONE).unwrap();
    mb.reserve(SZ_64K, SZ_64K).unwrap();
    mb.reserve(SZ_512K, SZ_2M).unwrap();
    mb.reserve(SZ_2M + SZ_512K, SZ_64K).unwrap();
    // r2 covers the top of M1 and runs into M2 up to where r3 starts: M2's first free byte
    // is after r3.
    let want = [
        (0, SZ_64K, 0),
        (SZ_128K, SZ_512K, 0),
        (SZ_2M + SZ_512K + SZ_64K, SZ_2M + SZ_1M, 1),
    ];
    let fwd: Vec<_> = mb.free_ranges(NUMA_NO_NODE).collect();
    assert_eq!(fwd, want);
    let mut rev: Vec<_> = mb.free_ranges_rev(NUMA_NO_NODE).collect();
    rev.reverse();
    assert_eq!(rev, want);
}

/// Per-node walks only see that node's memory; MAX_NUMNODES means all.
///
/// ```text
///   |  n0  |  n1  |  n0  |
/// ```
/// Expect: node 0 yields two ranges, node 1 one, node 2 none.
#[test]
fn free_ranges_per_node() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add_node(0, SZ_1M, 0, RegionFlags::NONE).unwrap();
    mb.add_node(SZ_1M, SZ_1M, 1, RegionFlags::NONE).unwrap();
    mb.add_node(SZ_2M, SZ_1M, 0, RegionFlags::NONE).unwrap();
    let n0: Vec<_> = mb.free_ranges(0).collect();
    assert_eq!(n0, [(0, SZ_1M, 0), (SZ_2M, SZ_2M + SZ_1M, 0)]);
    let n1: Vec<_> = mb.free_ranges_rev(1).collect();
    assert_eq!(n1, [(SZ_1M, SZ_2M, 1)]);
    assert_eq!(mb.free_ranges(2).count(), 0);
    assert_eq!(mb.free_ranges(MAX_NUMNODES).count(), 3);
    let rev0: Vec<_> = mb.free_ranges_rev(0).collect();
    assert_eq!(rev0, [(SZ_2M, SZ_2M + SZ_1M, 0), (0, SZ_1M, 0)]);
}

/// NOMAP memory is not free and not in mem_ranges; HOTPLUG memory is in both.
///
/// ```text
///   |  M  |NOMAP|HOTPLUG|
/// ```
/// Expect: free ranges and mem ranges skip the NOMAP region only.
#[test]
fn nomap_skipped_hotplug_kept() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0, SZ_1M).unwrap();
    mb.add_node(SZ_1M, SZ_1M, MAX_NUMNODES, RegionFlags::NOMAP)
        .unwrap();
    mb.add_node(SZ_2M, SZ_1M, MAX_NUMNODES, RegionFlags::HOTPLUG)
        .unwrap();
    let free: Vec<_> = mb.free_ranges(NUMA_NO_NODE).collect();
    assert_eq!(
        free,
        [
            (0, SZ_1M, MAX_NUMNODES),
            (SZ_2M, SZ_2M + SZ_1M, MAX_NUMNODES)
        ]
    );
    let mem: Vec<_> = mb.mem_ranges().collect();
    assert_eq!(mem, free);
    mb.add_node(SZ_4M, SZ_1M, 0, RegionFlags::DRIVER_MANAGED)
        .unwrap();
    assert_eq!(
        mb.free_ranges(NUMA_NO_NODE).count(),
        2,
        "driver-managed memory is not free"
    );
    assert_eq!(mb.mem_ranges().count(), 3, "but it is memory");
}

/// Reservations outside memory and at address 0 do not disturb the walk.
///
/// ```text
///   r0|  M  |      r-outside
/// ```
/// Expect: one free range starting where r0 ends.
#[test]
fn reservations_outside_memory() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0, SZ_1M).unwrap();
    mb.reserve(0, SZ_4K).unwrap();
    mb.reserve(SZ_16M, SZ_1M).unwrap();
    let fwd: Vec<_> = mb.free_ranges(NUMA_NO_NODE).collect();
    assert_eq!(fwd, [(SZ_4K, SZ_1M, MAX_NUMNODES)]);
    let rev: Vec<_> = mb.free_ranges_rev(NUMA_NO_NODE).collect();
    assert_eq!(rev, fwd);
}

/// Empty memblock: no ranges at all (Linux's dummy entry yields nothing either for the free
/// walk; `mem_ranges` does not yield Linux's zero-length dummy).
///
/// Expect: empty walks.
#[test]
fn empty_walks() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    assert_eq!(mb.free_ranges(NUMA_NO_NODE).count(), 0);
    assert_eq!(mb.free_ranges_rev(NUMA_NO_NODE).count(), 0);
    assert_eq!(mb.mem_ranges().count(), 0);
    mb.reserve(0, SZ_1M).unwrap();
    assert_eq!(mb.free_ranges(NUMA_NO_NODE).count(), 0);
}

/// A region fully reserved yields nothing; a reservation spanning two regions cuts both.
///
/// ```text
///   | M1 |   | M2 |
///      +---r---+
/// ```
/// Expect: the head of M1 and the tail of M2.
#[test]
fn reservation_spanning_regions() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0, SZ_1M).unwrap();
    mb.add(SZ_2M, SZ_1M).unwrap();
    mb.reserve(SZ_512K, SZ_2M).unwrap();
    let fwd: Vec<_> = mb.free_ranges(NUMA_NO_NODE).collect();
    assert_eq!(
        fwd,
        [
            (0, SZ_512K, MAX_NUMNODES),
            (SZ_2M + SZ_512K, SZ_2M + SZ_1M, MAX_NUMNODES)
        ]
    );
    let mut rev: Vec<_> = mb.free_ranges_rev(NUMA_NO_NODE).collect();
    rev.reverse();
    assert_eq!(rev, fwd);
}
