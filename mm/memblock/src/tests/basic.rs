//! memblock_add/reserve/remove/free, flags, nodes and queries (Linux `basic_api.c`).
use super::*;
use crate::{MemblockError, NUMA_NO_NODE};

/// A new memblock is empty: no regions, zero totals, default limit and top-down.
///
/// Expect: both arrays empty (Linux: cnt 1 with a dummy), capacity 128, totals 0.
#[test]
fn init_empty() {
    let mut st = Storage::new();
    let mb = st.memblock();
    assert!(mb.memory().is_empty() && mb.reserved().is_empty());
    assert_eq!((mb.memory_capacity(), mb.reserved_capacity()), (128, 128));
    assert_eq!((mb.phys_mem_size(), mb.reserved_size()), (0, 0));
    assert_eq!(mb.current_limit(), crate::ALLOC_ANYWHERE);
    assert!(!mb.bottom_up());
    assert_eq!((mb.start_of_dram(), mb.end_of_dram()), (0, 0));
}

/// Arrays shorter than 2 entries are refused by `try_new`.
///
/// Expect: InvalidArgument.
#[test]
fn try_new_rejects_tiny_arrays() {
    let mut a = [Region::EMPTY; 1];
    let mut b = [Region::EMPTY; 4];
    assert!(matches!(
        Memblock::try_new(&mut a, &mut b),
        Err(MemblockError::InvalidArgument { .. })
    ));
}

/// Add one region to an empty array.
///
/// ```text
///   |  M  |
/// ```
/// Expect: one region with no node (MAX_NUMNODES), flags 0, total = size.
#[test]
fn add_simple() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_1G, SZ_4M).unwrap();
    assert_eq!(mb.memory(), &[r(SZ_1G, SZ_4M)]);
    assert_eq!(mb.phys_mem_size(), SZ_4M);
}

/// Add one region on a node with flags.
///
/// Expect: the region carries nid 1 and HOTPLUG.
#[test]
fn add_node_simple() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add_node(SZ_1M, SZ_16M, 1, RegionFlags::HOTPLUG).unwrap();
    assert_eq!(mb.memory(), &[rn(SZ_1M, SZ_16M, 1, RegionFlags::HOTPLUG)]);
    assert_eq!(mb.phys_mem_size(), SZ_16M);
}

/// Two disjoint regions.
///
/// ```text
///   |  r1  |      |  r2  |
/// ```
/// Expect: two regions in address order, total the sum.
#[test]
fn add_disjoint() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0x2000_0000, SZ_8K).unwrap();
    mb.add(0x1000_0000, SZ_16K).unwrap();
    assert_eq!(
        mb.memory(),
        &[r(0x1000_0000, SZ_16K), r(0x2000_0000, SZ_8K)]
    );
    assert_eq!(mb.phys_mem_size(), SZ_16K + SZ_8K);
}

/// The new region overlaps the top of an existing one.
///
/// ```text
///        |    r1    |
///   |    r2    |
///   |       M       |
/// ```
/// Expect: one merged region from r2's base to r1's end.
#[test]
fn add_overlap_top() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0x1000_0000, SZ_512K).unwrap();
    mb.add(0x0ff0_0000, SZ_1M + SZ_256K).unwrap();
    assert_eq!(mb.memory(), &[r(0x0ff0_0000, 0x1008_0000 - 0x0ff0_0000)]);
    assert_eq!(mb.phys_mem_size(), 0x1008_0000 - 0x0ff0_0000);
}

/// The new region overlaps the bottom of an existing one.
///
/// ```text
///   |    r1    |
///        |    r2    |
///   |       M       |
/// ```
/// Expect: one region from r1's base to r2's end.
#[test]
fn add_overlap_bottom() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0x1000_0000, SZ_2M).unwrap();
    mb.add(0x1010_0000, SZ_2M).unwrap();
    assert_eq!(mb.memory(), &[r(0x1000_0000, SZ_2M + SZ_1M)]);
    assert_eq!(mb.phys_mem_size(), SZ_2M + SZ_1M);
}

/// The new region lies within an existing one.
///
/// ```text
///   |        r1        |
///        |  r2  |
/// ```
/// Expect: r1 unchanged.
#[test]
fn add_within() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0x2000_0000, SZ_8M).unwrap();
    mb.add(0x2010_0000, SZ_1M).unwrap();
    assert_eq!(mb.memory(), &[r(0x2000_0000, SZ_8M)]);
    assert_eq!(mb.phys_mem_size(), SZ_8M);
}

/// The same region twice.
///
/// Expect: one region, total counted once.
#[test]
fn add_twice() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_16K, SZ_2M).unwrap();
    mb.add(SZ_16K, SZ_2M).unwrap();
    assert_eq!(mb.memory(), &[r(SZ_16K, SZ_2M)]);
    assert_eq!(mb.phys_mem_size(), SZ_2M);
}

/// A region exactly filling the gap between two others.
///
/// ```text
///   | r1 |  r3  | r2 |
/// ```
/// Expect: all three merge into one.
#[test]
fn add_between() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_1G, SZ_8K).unwrap();
    mb.add(SZ_1G + SZ_16K, SZ_8K).unwrap();
    mb.add(SZ_1G + SZ_8K, SZ_8K).unwrap();
    assert_eq!(mb.memory(), &[r(SZ_1G, 3 * SZ_8K)]);
    assert_eq!(mb.phys_mem_size(), 3 * SZ_8K);
}

/// A region spanning several existing ones fills every hole.
///
/// ```text
///     |r1|   |r2|   |r3|
///   +------X-------------+
/// ```
/// Expect: one region covering the union.
#[test]
fn add_spanning_many() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    for i in 1..4 {
        mb.add(i * SZ_64K, SZ_4K).unwrap();
    }
    mb.add(SZ_32K, 4 * SZ_64K).unwrap();
    assert_eq!(mb.memory(), &[r(SZ_32K, 4 * SZ_64K)]);
}

/// A region reaching past the top of the address space is clamped (`memblock_cap_size`).
///
/// ```text
///                       |   M   |..... past u64::MAX
/// ```
/// Expect: size = u64::MAX - base; the last byte is never covered.
#[test]
fn add_near_max() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    let base = u64::MAX - SZ_1M;
    mb.add(base, SZ_2M).unwrap();
    assert_eq!(mb.memory(), &[r(base, SZ_1M)]);
    assert_eq!(mb.phys_mem_size(), SZ_1M);
    assert_eq!(mb.end_of_dram(), u64::MAX);
}

/// Zero size is a no-op for every call.
///
/// Expect: nothing changes, no error.
#[test]
fn zero_size_is_noop() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_1M, 0).unwrap();
    mb.reserve(SZ_1M, 0).unwrap();
    assert!(mb.memory().is_empty() && mb.reserved().is_empty());
    mb.add(SZ_1M, SZ_1M).unwrap();
    mb.remove(SZ_1M, 0).unwrap();
    mb.mark_nomap(SZ_1M, 0).unwrap();
    mb.set_node(SZ_1M, 0, 3).unwrap();
    assert_eq!(mb.memory(), &[r(SZ_1M, SZ_1M)]);
}

/// Different nodes never merge, even when touching.
///
/// ```text
///   | n0 | n1 |
/// ```
/// Expect: two regions.
#[test]
fn add_touching_different_nid_does_not_merge() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add_node(0, SZ_1M, 0, RegionFlags::NONE).unwrap();
    mb.add_node(SZ_1M, SZ_1M, 1, RegionFlags::NONE).unwrap();
    assert_eq!(
        mb.memory(),
        &[
            rn(0, SZ_1M, 0, RegionFlags::NONE),
            rn(SZ_1M, SZ_1M, 1, RegionFlags::NONE)
        ]
    );
}

/// Different flags never merge, even when touching.
///
/// ```text
///   | NONE | HOTPLUG |
/// ```
/// Expect: two regions; touching with equal flags and nid merges.
#[test]
fn add_touching_different_flags_does_not_merge() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add_node(0, SZ_1M, 0, RegionFlags::NONE).unwrap();
    mb.add_node(SZ_1M, SZ_1M, 0, RegionFlags::HOTPLUG).unwrap();
    mb.add_node(SZ_2M, SZ_1M, 0, RegionFlags::HOTPLUG).unwrap();
    assert_eq!(
        mb.memory(),
        &[
            rn(0, SZ_1M, 0, RegionFlags::NONE),
            rn(SZ_1M, SZ_2M, 0, RegionFlags::HOTPLUG)
        ]
    );
}

/// Overlapping an existing region keeps the existing nid/flags for the overlap and gives the
/// new ones only to the uncovered parts.
///
/// ```text
///        | n0  |
///   +------n1-------+
///   | n1 | n0  | n1 |
/// ```
/// Expect: three regions.
#[test]
fn add_overlap_keeps_existing_attributes() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add_node(SZ_1M, SZ_1M, 0, RegionFlags::NONE).unwrap();
    mb.add_node(0, SZ_4M, 1, RegionFlags::NONE).unwrap();
    assert_eq!(
        mb.memory(),
        &[
            rn(0, SZ_1M, 1, RegionFlags::NONE),
            rn(SZ_1M, SZ_1M, 0, RegionFlags::NONE),
            rn(SZ_2M, SZ_2M, 1, RegionFlags::NONE),
        ]
    );
    assert_eq!(mb.phys_mem_size(), SZ_4M);
}

/// Reserve the same cases as add: simple, disjoint, overlap top/bottom, within, twice, between.
///
/// ```text
///   |r1|  |r2|          -> |r1|  |r2|
///    +X+                   |r1 |  |r2|    (overlap bottom of r1 ... etc.)
/// ```
/// Expect: reserved behaves exactly like memory: merged, sorted, totals exact.
#[test]
fn reserve_cases() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.reserve(SZ_1G, SZ_128K).unwrap();
    assert_eq!(mb.reserved(), &[r(SZ_1G, SZ_128K)]);
    // disjoint, below
    mb.reserve(SZ_16M, SZ_64K).unwrap();
    assert_eq!(mb.reserved(), &[r(SZ_16M, SZ_64K), r(SZ_1G, SZ_128K)]);
    // overlap top of the first
    mb.reserve(SZ_16M - SZ_4K, SZ_8K).unwrap();
    assert_eq!(
        mb.reserved(),
        &[r(SZ_16M - SZ_4K, SZ_64K + SZ_4K), r(SZ_1G, SZ_128K)]
    );
    // overlap bottom of the second
    mb.reserve(SZ_1G + SZ_64K, SZ_128K).unwrap();
    assert_eq!(
        mb.reserved(),
        &[
            r(SZ_16M - SZ_4K, SZ_64K + SZ_4K),
            r(SZ_1G, SZ_128K + SZ_64K)
        ]
    );
    // within and twice
    mb.reserve(SZ_1G + SZ_4K, SZ_4K).unwrap();
    mb.reserve(SZ_1G, SZ_128K + SZ_64K).unwrap();
    assert_eq!(mb.reserved().len(), 2);
    assert_eq!(mb.reserved_size(), SZ_64K + SZ_4K + SZ_128K + SZ_64K);
    // between: fill the gap
    let gap_start = SZ_16M + SZ_64K;
    mb.reserve(gap_start, SZ_1G - gap_start).unwrap();
    assert_eq!(
        mb.reserved(),
        &[r(
            SZ_16M - SZ_4K,
            SZ_1G + SZ_128K + SZ_64K - (SZ_16M - SZ_4K)
        )]
    );
}

/// Reserving near the top clamps like add.
///
/// Expect: size u64::MAX - base.
#[test]
fn reserve_near_max() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    let base = u64::MAX - SZ_1K;
    mb.reserve(base, SZ_1M).unwrap();
    assert_eq!(mb.reserved(), &[r(base, SZ_1K)]);
    assert_eq!(mb.reserved_size(), SZ_1K);
}

/// Remove a whole region.
///
/// ```text
///   | r1 |    | r2 |   ->   | r2 |
///   +-X--+
/// ```
/// Expect: one region left.
#[test]
fn remove_simple() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_2K, SZ_4K).unwrap();
    mb.add(SZ_128K, SZ_4M).unwrap();
    mb.remove(SZ_2K, SZ_4K).unwrap();
    assert_eq!(mb.memory(), &[r(SZ_128K, SZ_4M)]);
    assert_eq!(mb.phys_mem_size(), SZ_4M);
}

/// Remove a range that is not memory.
///
/// ```text
///   | r1 |      +-X-+
/// ```
/// Expect: nothing changes, Ok.
#[test]
fn remove_absent() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_2K, SZ_4K).unwrap();
    mb.remove(SZ_128K, SZ_4M).unwrap();
    assert_eq!(mb.memory(), &[r(SZ_2K, SZ_4K)]);
    assert_eq!(mb.phys_mem_size(), SZ_4K);
}

/// The removed range overlaps the top of a region (its base lies below the region).
///
/// ```text
///        |   r1   |
///   +---X---+
///           |  M  |
/// ```
/// Expect: r1 starts where the removed range ends.
#[test]
fn remove_overlap_top() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_1G, SZ_32K).unwrap();
    mb.remove(SZ_1G - SZ_16K, SZ_32K).unwrap();
    assert_eq!(mb.memory(), &[r(SZ_1G + SZ_16K, SZ_16K)]);
    assert_eq!(mb.phys_mem_size(), SZ_16K);
}

/// The removed range overlaps the bottom of a region.
///
/// ```text
///   |   r1   |
///        +---X---+
///   | M  |
/// ```
/// Expect: r1 ends where the removed range starts.
#[test]
fn remove_overlap_bottom() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_2M, SZ_64K).unwrap();
    mb.remove(SZ_2M + SZ_32K, SZ_256K).unwrap();
    assert_eq!(mb.memory(), &[r(SZ_2M, SZ_32K)]);
    assert_eq!(mb.phys_mem_size(), SZ_32K);
}

/// The removed range lies within a region, splitting it.
///
/// ```text
///   |        r1        |
///        +--X--+
///   | M  |     |  M    |
/// ```
/// Expect: two regions, same nid and flags as r1.
#[test]
fn remove_within() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add_node(SZ_1M, SZ_1M, 2, RegionFlags::HOTPLUG).unwrap();
    mb.remove(SZ_1M + SZ_256K, SZ_4K).unwrap();
    assert_eq!(
        mb.memory(),
        &[
            rn(SZ_1M, SZ_256K, 2, RegionFlags::HOTPLUG),
            rn(
                SZ_1M + SZ_256K + SZ_4K,
                SZ_1M - SZ_256K - SZ_4K,
                2,
                RegionFlags::HOTPLUG
            ),
        ]
    );
    assert_eq!(mb.phys_mem_size(), SZ_1M - SZ_4K);
}

/// The removed range covers several regions and cuts the outer ones.
///
/// ```text
///   | r1 |  | r2 |  | r3 |
///      +--------X-----+
///   |M |              |M |
/// ```
/// Expect: the middle region is gone, the outer two trimmed.
#[test]
fn remove_spanning() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0, SZ_64K).unwrap();
    mb.add(SZ_128K, SZ_64K).unwrap();
    mb.add(SZ_256K, SZ_64K).unwrap();
    mb.remove(SZ_32K, SZ_256K).unwrap();
    assert_eq!(mb.memory(), &[r(0, SZ_32K), r(SZ_256K + SZ_32K, SZ_32K)]);
    assert_eq!(mb.phys_mem_size(), SZ_64K);
}

/// Removing the only region leaves the array empty.
///
/// Expect: no regions, total 0 (Linux: cnt 1, dummy region).
#[test]
fn remove_only_region() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_2K, SZ_4K).unwrap();
    mb.remove(SZ_2K, SZ_4K).unwrap();
    assert!(mb.memory().is_empty());
    assert_eq!(mb.phys_mem_size(), 0);
}

/// Removing up to the top of the address space clamps the size.
///
/// ```text
///   |  r1  |     |  r2  |
///      +--------X-------------> u64::MAX
/// ```
/// Expect: only the bottom of r1 is left.
#[test]
fn remove_near_max() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_1M, SZ_1M).unwrap();
    mb.add(u64::MAX - SZ_1M, SZ_1M).unwrap();
    mb.remove(SZ_1M + SZ_4K, u64::MAX).unwrap();
    assert_eq!(mb.memory(), &[r(SZ_1M, SZ_4K)]);
}

/// Free the whole of one reserved region.
///
/// Expect: the other stays.
#[test]
fn free_simple() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.reserve(SZ_4M, SZ_1M).unwrap();
    mb.reserve(SZ_8M, SZ_1M).unwrap();
    mb.free(SZ_4M, SZ_1M).unwrap();
    assert_eq!(mb.reserved(), &[r(SZ_8M, SZ_1M)]);
    assert_eq!(mb.reserved_size(), SZ_1M);
}

/// Free the same overlap cases as remove: top, bottom, within, absent.
///
/// ```text
///   |   r1   |       |  r2  |           |  r3  |
///   +X+          +---X--+        +X+          (absent)
/// ```
/// Expect: r1 loses its head, r2 its head, r3 is split, absent changes nothing.
#[test]
fn free_overlaps() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.reserve(SZ_1M, SZ_64K).unwrap();
    mb.reserve(SZ_2M, SZ_64K).unwrap();
    mb.reserve(SZ_4M, SZ_64K).unwrap();
    mb.free(SZ_1M, SZ_4K).unwrap();
    mb.free(SZ_2M - SZ_4K, SZ_8K).unwrap();
    mb.free(SZ_4M + SZ_16K, SZ_16K).unwrap();
    mb.free(SZ_16M, SZ_1M).unwrap();
    assert_eq!(
        mb.reserved(),
        &[
            r(SZ_1M + SZ_4K, SZ_64K - SZ_4K),
            r(SZ_2M + SZ_4K, SZ_64K - SZ_4K),
            r(SZ_4M, SZ_16K),
            r(SZ_4M + SZ_32K, SZ_32K),
        ]
    );
    assert_eq!(mb.reserved_size(), 2 * (SZ_64K - SZ_4K) + SZ_16K + SZ_32K);
}

/// Free everything.
///
/// Expect: reserved empty.
#[test]
fn free_only_region() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.reserve(SZ_2K, SZ_4K).unwrap();
    mb.free(0, SZ_1M).unwrap();
    assert!(mb.reserved().is_empty());
    assert_eq!(mb.reserved_size(), 0);
}

/// mark_nomap in the middle of a region splits it into three; clear_nomap merges them back.
///
/// ```text
///   |          M          |
///        +---X---+
///   | M  | NOMAP |   M    |
/// ```
/// Expect: three regions, then one again.
#[test]
fn mark_and_clear_nomap() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0, SZ_4M).unwrap();
    mb.mark_nomap(SZ_1M, SZ_1M).unwrap();
    assert_eq!(
        mb.memory(),
        &[
            r(0, SZ_1M),
            rn(SZ_1M, SZ_1M, MAX_NUMNODES, RegionFlags::NOMAP),
            r(SZ_2M, SZ_2M)
        ]
    );
    assert_eq!(mb.phys_mem_size(), SZ_4M);
    assert!(mb.is_memory(SZ_1M) && !mb.is_map_memory(SZ_1M) && mb.is_map_memory(0));
    mb.clear_nomap(SZ_1M, SZ_1M).unwrap();
    assert_eq!(mb.memory(), &[r(0, SZ_4M)]);
}

/// Marking a range that covers the edge of a region and a hole only touches memory.
///
/// ```text
///   |   M   |         |  M  |
///       +------X------+
/// ```
/// Expect: the top of the first region is NOMAP, the hole stays a hole.
#[test]
fn mark_nomap_over_hole() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0, SZ_1M).unwrap();
    mb.add(SZ_2M, SZ_1M).unwrap();
    mb.mark_nomap(SZ_512K, SZ_2M - SZ_512K).unwrap();
    assert_eq!(
        mb.memory(),
        &[
            r(0, SZ_512K),
            rn(SZ_512K, SZ_512K, MAX_NUMNODES, RegionFlags::NOMAP),
            r(SZ_2M, SZ_1M)
        ]
    );
}

/// Hotplug: mark a whole region, then clear half of it.
///
/// Expect: [HOTPLUG][NONE] after clearing the top half.
#[test]
fn mark_and_clear_hotplug() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_1G, SZ_2M).unwrap();
    mb.mark_hotplug(SZ_1G, SZ_2M).unwrap();
    assert_eq!(
        mb.memory(),
        &[rn(SZ_1G, SZ_2M, MAX_NUMNODES, RegionFlags::HOTPLUG)]
    );
    mb.clear_hotplug(SZ_1G + SZ_1M, SZ_1M).unwrap();
    assert_eq!(
        mb.memory(),
        &[
            rn(SZ_1G, SZ_1M, MAX_NUMNODES, RegionFlags::HOTPLUG),
            r(SZ_1G + SZ_1M, SZ_1M)
        ]
    );
}

/// Flags combine: a NOMAP range inside a HOTPLUG region has both.
///
/// Expect: flags 0x5 in the middle.
#[test]
fn flags_combine() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add_node(0, SZ_4M, 0, RegionFlags::HOTPLUG).unwrap();
    mb.mark_nomap(SZ_1M, SZ_1M).unwrap();
    assert_eq!(mb.memory()[1], rn(SZ_1M, SZ_1M, 0, RegionFlags(0x5)));
    assert_eq!(mb.memory().len(), 3);
}

/// Mirror: mark a range of one region.
///
/// Expect: the range gets MIRROR; the region splits in two.
#[test]
fn mark_mirror() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0, SZ_4M).unwrap();
    mb.mark_mirror(0, SZ_1M).unwrap();
    assert_eq!(
        mb.memory(),
        &[
            rn(0, SZ_1M, MAX_NUMNODES, RegionFlags::MIRROR),
            r(SZ_1M, SZ_4M - SZ_1M)
        ]
    );
}

/// set_node on part of a region splits it; on the whole of two touching regions merges them.
///
/// ```text
///   |            M (no node)            |
///   +----n0----+----------n1------------+
///   |   n0     |          n1            |
/// ```
/// Expect: two regions with their nodes; then both to n1 merges into one.
#[test]
fn set_node_splits_and_merges() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0, SZ_4M).unwrap();
    mb.set_node(0, SZ_1M, 0).unwrap();
    mb.set_node(SZ_1M, SZ_4M, 1).unwrap();
    assert_eq!(
        mb.memory(),
        &[
            rn(0, SZ_1M, 0, RegionFlags::NONE),
            rn(SZ_1M, SZ_4M - SZ_1M, 1, RegionFlags::NONE)
        ]
    );
    mb.set_node(0, SZ_4M, 1).unwrap();
    assert_eq!(mb.memory(), &[rn(0, SZ_4M, 1, RegionFlags::NONE)]);
    assert_eq!(mb.phys_mem_size(), SZ_4M);
}

/// set_node in the middle of a region creates three regions.
///
/// Expect: [none][n3][none].
#[test]
fn set_node_within() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0, SZ_4M).unwrap();
    mb.set_node(SZ_1M, SZ_1M, 3).unwrap();
    assert_eq!(
        mb.memory(),
        &[
            r(0, SZ_1M),
            rn(SZ_1M, SZ_1M, 3, RegionFlags::NONE),
            r(SZ_2M, SZ_2M)
        ]
    );
}

/// Queries: is_memory / is_reserved / is_region_memory / is_region_reserved / DRAM bounds.
///
/// ```text
///   |  M1  |    |  M2  |
///      |r|
/// ```
/// Expect: exact answers at the edges (half-open ranges).
#[test]
fn queries() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_1M, SZ_1M).unwrap();
    mb.add(SZ_4M, SZ_1M).unwrap();
    mb.reserve(SZ_1M + SZ_4K, SZ_4K).unwrap();
    assert!(mb.is_memory(SZ_1M) && mb.is_memory(SZ_2M - 1) && !mb.is_memory(SZ_2M));
    assert!(mb.is_reserved(SZ_1M + SZ_4K) && !mb.is_reserved(SZ_1M + SZ_8K));
    assert!(mb.is_region_memory(SZ_1M, SZ_1M));
    assert!(!mb.is_region_memory(SZ_1M, SZ_1M + 1));
    assert!(!mb.is_region_memory(SZ_1M, SZ_4M), "spans a hole");
    assert!(mb.is_region_reserved(SZ_1M, SZ_8K));
    assert!(
        !mb.is_region_reserved(SZ_1M, SZ_4K),
        "ends where the reservation starts"
    );
    assert_eq!(
        (mb.start_of_dram(), mb.end_of_dram()),
        (SZ_1M, SZ_4M + SZ_1M)
    );
    let _ = NUMA_NO_NODE;
}

/// enforce_memory_limit (mem=): keep the first `limit` bytes of memory, drop memory and
/// reservations above.
///
/// ```text
///   | M1 (1M) |   | M2 (4M)            |
///                        ^ 1M + 2M of memory
///   | M1      |   | M2   |   (r above dropped)
/// ```
/// Expect: memory ends at M2.base + 2M, reservations above are gone.
#[test]
fn enforce_memory_limit() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_1M, SZ_1M).unwrap();
    mb.add(SZ_16M, SZ_4M).unwrap();
    mb.reserve(SZ_16M + SZ_1M, SZ_2M).unwrap();
    mb.enforce_memory_limit(SZ_1M + SZ_2M);
    assert_eq!(mb.memory(), &[r(SZ_1M, SZ_1M), r(SZ_16M, SZ_2M)]);
    assert_eq!(mb.reserved(), &[r(SZ_16M + SZ_1M, SZ_1M)]);
    assert_eq!(mb.phys_mem_size(), SZ_1M + SZ_2M);
}

/// A limit of 0 or above the memory size does nothing.
///
/// Expect: unchanged.
#[test]
fn enforce_memory_limit_noop() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(SZ_1M, SZ_1M).unwrap();
    mb.enforce_memory_limit(0);
    mb.enforce_memory_limit(SZ_2M);
    assert_eq!(mb.memory(), &[r(SZ_1M, SZ_1M)]);
}

/// cap_memory_range keeps only the range (plus NOMAP memory outside it) and the reservations
/// inside it.
///
/// ```text
///   | M |  |NOMAP|  |      M       |
///                      +---X---+
///          |NOMAP|     |   M   |
/// ```
/// Expect: NOMAP region survives, memory outside the range is removed, reserved clipped.
#[test]
fn cap_memory_range() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0, SZ_1M).unwrap();
    mb.add_node(SZ_2M, SZ_1M, MAX_NUMNODES, RegionFlags::NOMAP)
        .unwrap();
    mb.add(SZ_4M, SZ_16M).unwrap();
    mb.reserve(0, SZ_16M).unwrap();
    mb.cap_memory_range(SZ_8M, SZ_4M);
    assert_eq!(
        mb.memory(),
        &[
            rn(SZ_2M, SZ_1M, MAX_NUMNODES, RegionFlags::NOMAP),
            r(SZ_8M, SZ_4M)
        ]
    );
    assert_eq!(mb.reserved(), &[r(SZ_8M, SZ_4M)]);
    assert_eq!(mb.phys_mem_size(), SZ_1M + SZ_4M);
}

/// cap_memory_range with no memory, or size 0, does nothing.
///
/// Expect: reserved untouched.
#[test]
fn cap_memory_range_noop() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.reserve(0, SZ_1M).unwrap();
    mb.cap_memory_range(SZ_2M, SZ_1M);
    assert_eq!(mb.reserved(), &[r(0, SZ_1M)]);
    mb.add(0, SZ_1M).unwrap();
    mb.cap_memory_range(SZ_2M, 0);
    assert_eq!(mb.reserved(), &[r(0, SZ_1M)]);
}

/// trim_memory rounds regions inward and drops those smaller than the alignment.
///
/// ```text
///   |aligned|  |.unaligned.|  |tiny|  |unaligned top.|
///   |aligned|   |aligned|             |aligned|
/// ```
/// Expect: three regions left, totals follow (unlike Linux, see the crate docs).
#[test]
fn trim_memory() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0, SZ_64K).unwrap();
    mb.add(SZ_1M - SZ_1K, SZ_64K + SZ_2K).unwrap();
    mb.add(SZ_2M + SZ_1K, SZ_2K).unwrap();
    mb.add(SZ_4M, SZ_64K + SZ_1K).unwrap();
    mb.trim_memory(SZ_4K);
    assert_eq!(
        mb.memory(),
        &[r(0, SZ_64K), r(SZ_1M, SZ_64K), r(SZ_4M, SZ_64K)]
    );
    assert_eq!(mb.phys_mem_size(), 3 * SZ_64K);
}

/// Before allow_resize, a full static array is an error and nothing changes.
///
/// ```text
///   |r|  |r|  |r| ... (128)   +X+ 129th
/// ```
/// Expect: NoMemory on the 129th disjoint region and on a split or an extension; 128 regions
/// kept.
#[test]
fn full_static_array_is_an_error() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    for i in 0..128 {
        mb.reserve(i * SZ_64K, SZ_4K).unwrap();
    }
    assert_eq!(
        mb.reserve(128 * SZ_64K, SZ_4K),
        Err(MemblockError::NoMemory)
    );
    assert_eq!(mb.reserved().len(), 128);
    assert_eq!(mb.reserved_size(), 128 * SZ_4K);
    // Isolating needs two spare entries: a split of a full array fails too.
    assert_eq!(mb.free(SZ_1K, SZ_1K), Err(MemblockError::NoMemory));
    assert_eq!(mb.reserved_size(), 128 * SZ_4K);
    // Like Linux, extending a region counts a new entry before merging, so it fails too...
    assert_eq!(mb.reserve(SZ_4K, SZ_4K), Err(MemblockError::NoMemory));
    // ...while a range already fully reserved needs no entry at all.
    mb.reserve(0, SZ_4K).unwrap();
    assert_eq!(mb.reserved().len(), 128);
}

/// Errors print as text.
///
/// Expect: readable Display.
#[test]
fn error_display() {
    extern crate std;
    use std::string::ToString;
    assert!(MemblockError::NoMemory
        .to_string()
        .contains("out of memory"));
    let e = MemblockError::InvalidArgument {
        what: "alignment must be a power of two",
    };
    assert_eq!(
        e.to_string(),
        "memblock: invalid argument: alignment must be a power of two"
    );
    assert_eq!(e.as_str(), "alignment must be a power of two");
}

/// Regression (model finding): cap_memory_range splits NOMAP memory at the cap edges; Linux
/// leaves the pieces unmerged, here they merge back.
///
/// ```text
///   |        NOMAP        |
///         +--X--+
///   |        NOMAP        |   (one region, not three)
/// ```
/// Expect: one NOMAP region.
#[test]
fn cap_memory_range_keeps_array_minimal() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add_node(0, SZ_4M, 1, RegionFlags::NOMAP).unwrap();
    mb.cap_memory_range(SZ_1M, SZ_1M);
    assert_eq!(mb.memory(), &[rn(0, SZ_4M, 1, RegionFlags::NOMAP)]);
}
