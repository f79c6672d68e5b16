//! Allocation: top-down, bottom-up, limits, nodes, mirror (Linux `alloc_api.c`,
//! `alloc_nid_api.c`, `alloc_helpers_api.c`).
use super::*;
use crate::{MemblockError, ALLOC_ACCESSIBLE, ALLOC_ANYWHERE, NUMA_NO_NODE, SMP_CACHE_BYTES};

/// Base and size of the memory the simple cases use: `[16M, 32M)`.
const BASE: u64 = SZ_16M;
const END: u64 = 2 * SZ_16M;

fn with_memory(st: &mut Storage) -> Memblock<'_> {
    let mut mb = st.memblock();
    mb.add(BASE, SZ_16M).unwrap();
    mb
}

/// Top-down: a small block goes at the very top of memory.
///
/// ```text
///   |             M              |
///   |                        |rr|
/// ```
/// Expect: [END - 2K, END) reserved, one reserved region.
#[test]
fn top_down_simple() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    assert_eq!(mb.phys_alloc(SZ_2K, SMP_CACHE_BYTES), Ok(END - SZ_2K));
    assert_eq!(mb.reserved(), &[r(END - SZ_2K, SZ_2K)]);
    assert_eq!(mb.reserved_size(), SZ_2K);
}

/// Top-down: two blocks in a row stack downwards and merge into one reservation.
///
/// Expect: one reserved region of both sizes.
#[test]
fn top_down_stacks_and_merges() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    assert_eq!(mb.phys_alloc(SZ_4K, SZ_4K), Ok(END - SZ_4K));
    assert_eq!(mb.phys_alloc(SZ_8K, SZ_4K), Ok(END - SZ_4K - SZ_8K));
    assert_eq!(mb.reserved(), &[r(END - SZ_8K - SZ_4K, SZ_8K + SZ_4K)]);
}

/// Top-down: the top is taken and a gap below fits the block exactly.
///
/// ```text
///   |             M                    |
///   |              |r2|  gap   |  r1  |
///   |              |r2|  new   |  r1  |  -> one region
/// ```
/// Expect: the block fills the gap and the three reservations merge.
#[test]
fn top_down_fills_exact_gap() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    mb.reserve(END - SZ_4K, SZ_4K).unwrap();
    mb.reserve(END - SZ_4K - SZ_64K - SZ_8K, SZ_8K).unwrap();
    assert_eq!(mb.phys_alloc(SZ_64K, SZ_4K), Ok(END - SZ_4K - SZ_64K));
    assert_eq!(
        mb.reserved(),
        &[r(END - SZ_4K - SZ_64K - SZ_8K, SZ_64K + SZ_8K + SZ_4K)]
    );
}

/// Top-down: the gap between reservations is too small, so the block goes below them.
///
/// ```text
///   |        M                     |
///   |   |new|  |r2| small |  r1   |
/// ```
/// Expect: block ends where r2 starts.
#[test]
fn top_down_skips_small_gap() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    mb.reserve(END - SZ_4K, SZ_4K).unwrap();
    mb.reserve(END - SZ_4K - SZ_16K - SZ_4K, SZ_4K).unwrap();
    let r2 = END - SZ_4K - SZ_16K - SZ_4K;
    assert_eq!(mb.phys_alloc(SZ_32K, SZ_4K), Ok(r2 - SZ_32K));
    assert_eq!(
        mb.reserved(),
        &[r(r2 - SZ_32K, SZ_32K + SZ_4K), r(END - SZ_4K, SZ_4K)]
    );
}

/// Top-down: no free range is big enough.
///
/// ```text
///   |rrrrrrrrrrrrr|free 4K|rrrrrrrrr|
/// ```
/// Expect: NoMemory, reserved unchanged.
#[test]
fn top_down_no_space() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    mb.reserve(BASE, SZ_8M).unwrap();
    mb.reserve(BASE + SZ_8M + SZ_4K, SZ_8M - SZ_4K).unwrap();
    assert_eq!(mb.phys_alloc(SZ_8K, SZ_4K), Err(MemblockError::NoMemory));
    assert_eq!(mb.reserved_size(), SZ_16M - SZ_4K);
    assert_eq!(mb.reserved().len(), 2);
    assert_eq!(mb.phys_alloc(SZ_4K, SZ_4K), Ok(BASE + SZ_8M));
    assert_eq!(mb.reserved(), &[r(BASE, SZ_16M)]);
}

/// No memory at all.
///
/// Expect: NoMemory.
#[test]
fn alloc_without_memory() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    assert_eq!(mb.phys_alloc(SZ_4K, SZ_4K), Err(MemblockError::NoMemory));
    assert!(mb.reserved().is_empty());
}

/// Top-down alignment: the block's base is rounded down to the alignment.
///
/// ```text
///   |          M          |r(3K)|
///   |     |new|  ...            |     new aligned to 1M
/// ```
/// Expect: base = END - 1M.
#[test]
fn top_down_alignment() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    mb.reserve(END - 3 * SZ_1K, 3 * SZ_1K).unwrap();
    assert_eq!(mb.phys_alloc(SZ_4K, SZ_1M), Ok(END - SZ_1M));
}

/// align = 0 means SMP_CACHE_BYTES (Linux dumps a stack and uses it); a non power of two is
/// an error.
///
/// Expect: 64-byte aligned; InvalidArgument.
#[test]
fn alignment_zero_and_invalid() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    mb.reserve(END - 100, 100).unwrap();
    assert_eq!(mb.phys_alloc(8, 0), Ok(END - 128));
    assert!(matches!(
        mb.phys_alloc(8, 3 * SZ_1K),
        Err(MemblockError::InvalidArgument { .. })
    ));
    assert_eq!(
        mb.find_in_range(8, 3, 0, ALLOC_ANYWHERE, NUMA_NO_NODE),
        None
    );
}

/// Bottom-up: a block goes at the bottom of memory.
///
/// ```text
///   |             M              |
///   |rr|                         |
/// ```
/// Expect: [BASE, BASE + 2K).
#[test]
fn bottom_up_simple() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    mb.set_bottom_up(true);
    assert!(mb.bottom_up());
    assert_eq!(mb.phys_alloc(SZ_2K, SMP_CACHE_BYTES), Ok(BASE));
    assert_eq!(mb.reserved(), &[r(BASE, SZ_2K)]);
}

/// Bottom-up: gaps between reservations are filled from the bottom, small gaps skipped.
///
/// ```text
///   |r1| small |r2|   gap   |r3|
///              |r2|new|
/// ```
/// Expect: block right after r2.
#[test]
fn bottom_up_skips_small_gap() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    mb.set_bottom_up(true);
    mb.reserve(BASE, SZ_4K).unwrap();
    mb.reserve(BASE + SZ_8K, SZ_4K).unwrap();
    mb.reserve(BASE + SZ_1M, SZ_4K).unwrap();
    assert_eq!(mb.phys_alloc(SZ_8K, SZ_4K), Ok(BASE + SZ_8K + SZ_4K));
    assert_eq!(
        mb.reserved(),
        &[
            r(BASE, SZ_4K),
            r(BASE + SZ_8K, SZ_4K + SZ_8K),
            r(BASE + SZ_1M, SZ_4K)
        ]
    );
}

/// Bottom-up alignment rounds the base up.
///
/// Expect: the first 1M-aligned address above the reservation.
#[test]
fn bottom_up_alignment() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    mb.set_bottom_up(true);
    mb.reserve(BASE, SZ_4K).unwrap();
    assert_eq!(mb.phys_alloc(SZ_4K, SZ_1M), Ok(BASE + SZ_1M));
}

/// The first page is never handed out, even bottom-up from address 0.
///
/// ```text
///   |page 0|  M  ...
///          |new|
/// ```
/// Expect: PAGE_SIZE.
#[test]
fn first_page_never_allocated() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0, SZ_64K).unwrap();
    mb.set_bottom_up(true);
    assert_eq!(mb.phys_alloc(SZ_1K, SZ_1K), Ok(SZ_4K));
    mb.remove(SZ_4K, SZ_64K).unwrap();
    assert_eq!(mb.phys_alloc(SZ_1K, SZ_1K), Err(MemblockError::NoMemory));
}

/// Both directions honour [start, end) of alloc_range.
///
/// ```text
///   |               M                  |
///        +--start    end--+
///        |new(bu)|  |new(td)|
/// ```
/// Expect: bottom-up at start, top-down ending at end.
#[test]
fn range_limits_both_directions() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    let (start, end) = (BASE + SZ_1M, BASE + SZ_2M);
    assert_eq!(
        mb.alloc_range(SZ_4K, SZ_4K, start, end, NUMA_NO_NODE, false),
        Ok(end - SZ_4K)
    );
    mb.set_bottom_up(true);
    assert_eq!(
        mb.alloc_range(SZ_4K, SZ_4K, start, end, NUMA_NO_NODE, false),
        Ok(start)
    );
    // A range smaller than the block.
    assert_eq!(
        mb.alloc_range(
            SZ_8K,
            SZ_4K,
            start + SZ_8K,
            start + SZ_8K + SZ_4K,
            NUMA_NO_NODE,
            false
        ),
        Err(MemblockError::NoMemory)
    );
    // end below start finds nothing.
    assert_eq!(
        mb.alloc_range(SZ_4K, SZ_4K, end, start, NUMA_NO_NODE, false),
        Err(MemblockError::NoMemory)
    );
}

/// ALLOC_ACCESSIBLE stops at current_limit; ALLOC_ANYWHERE ignores it.
///
/// ```text
///   |        M        limit           |
///   |           |new|   |             |new(anywhere)|
/// ```
/// Expect: the accessible block ends at the limit, the anywhere block at END.
#[test]
fn current_limit() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    let limit = BASE + SZ_4M;
    mb.set_current_limit(limit);
    assert_eq!(mb.current_limit(), limit);
    assert_eq!(mb.phys_alloc(SZ_4K, SZ_4K), Ok(limit - SZ_4K));
    assert_eq!(
        mb.alloc_range(SZ_4K, SZ_4K, 0, ALLOC_ACCESSIBLE, NUMA_NO_NODE, false),
        Ok(limit - SZ_8K)
    );
    assert_eq!(
        mb.alloc_range(SZ_4K, SZ_4K, 0, ALLOC_ANYWHERE, NUMA_NO_NODE, false),
        Ok(END - SZ_4K)
    );
    mb.set_current_limit(BASE);
    assert_eq!(mb.phys_alloc(SZ_4K, SZ_4K), Err(MemblockError::NoMemory));
}

/// alloc_try_nid caps max_addr at current_limit.
///
/// Expect: the block ends at the limit although max_addr is higher.
#[test]
fn try_nid_caps_max_addr() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    mb.set_current_limit(BASE + SZ_1M);
    assert_eq!(
        mb.alloc_try_nid(SZ_4K, SZ_4K, 0, END, NUMA_NO_NODE),
        Ok(BASE + SZ_1M - SZ_4K)
    );
}

/// alloc_try_nid drops min_addr when nothing fits above it.
///
/// ```text
///   |     M      |rrrrrrrrrrrrrrrr|
///                  ^min_addr
///   |        |new|rrrrrrrrrrrrrrrr|
/// ```
/// Expect: the block lands below min_addr.
#[test]
fn try_nid_retries_without_min_addr() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    mb.reserve(BASE + SZ_8M, SZ_8M).unwrap();
    let min = BASE + SZ_8M + SZ_1M;
    assert_eq!(
        mb.alloc_try_nid(SZ_4K, SZ_4K, min, ALLOC_ACCESSIBLE, NUMA_NO_NODE),
        Ok(BASE + SZ_8M - SZ_4K)
    );
    // alloc_range does not retry.
    assert_eq!(
        mb.alloc_range(SZ_4K, SZ_4K, min, ALLOC_ACCESSIBLE, NUMA_NO_NODE, false),
        Err(MemblockError::NoMemory)
    );
}

/// find_in_range looks but does not reserve.
///
/// Expect: same answer twice, reserved empty.
#[test]
fn find_does_not_reserve() {
    let mut st = Storage::new();
    let mb = with_memory(&mut st);
    let a = mb.find_in_range(SZ_4K, SZ_4K, 0, ALLOC_ANYWHERE, NUMA_NO_NODE);
    assert_eq!(a, Some(END - SZ_4K));
    assert_eq!(
        mb.find_in_range(SZ_4K, SZ_4K, 0, ALLOC_ANYWHERE, NUMA_NO_NODE),
        a
    );
    assert!(mb.reserved().is_empty());
}

/// A size-0 request succeeds and reserves nothing, as in Linux.
///
/// Expect: END (top-down), reserved empty.
#[test]
fn size_zero_alloc() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    assert_eq!(mb.phys_alloc(0, SZ_4K), Ok(END));
    assert!(mb.reserved().is_empty());
}

/// NOMAP memory is never allocated.
///
/// ```text
///   |     M      |NOMAP|
///   |       |new|
/// ```
/// Expect: the block ends where NOMAP starts.
#[test]
fn nomap_is_skipped() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    mb.mark_nomap(END - SZ_1M, SZ_1M).unwrap();
    assert_eq!(mb.phys_alloc(SZ_4K, SZ_4K), Ok(END - SZ_1M - SZ_4K));
}

/// A block never straddles two memory regions, even touching ones.
///
/// ```text
///   | n0 (4K) | n1 (4K) |      alloc 8K
/// ```
/// Expect: NoMemory; after set_node merges them, it fits.
#[test]
fn no_straddling_regions() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add_node(SZ_1M, SZ_4K, 0, RegionFlags::NONE).unwrap();
    mb.add_node(SZ_1M + SZ_4K, SZ_4K, 1, RegionFlags::NONE)
        .unwrap();
    assert_eq!(mb.phys_alloc(SZ_8K, SZ_4K), Err(MemblockError::NoMemory));
    mb.set_node(SZ_1M, SZ_8K, 0).unwrap();
    assert_eq!(mb.phys_alloc(SZ_8K, SZ_4K), Ok(SZ_1M));
}

/// Two nodes: n0 = [16M, 24M), n1 = [24M, 32M).
fn two_nodes(st: &mut Storage) -> Memblock<'_> {
    let mut mb = st.memblock();
    mb.add_node(BASE, SZ_8M, 0, RegionFlags::NONE).unwrap();
    mb.add_node(BASE + SZ_8M, SZ_8M, 1, RegionFlags::NONE)
        .unwrap();
    mb
}

/// Node-local allocation takes the top of the requested node.
///
/// ```text
///   |     n0     |     n1     |
///   |        |new|
/// ```
/// Expect: block ends at n0's end.
#[test]
fn nid_top_down_picks_node() {
    let mut st = Storage::new();
    let mut mb = two_nodes(&mut st);
    assert_eq!(
        mb.alloc_range(SZ_4K, SZ_4K, 0, ALLOC_ACCESSIBLE, 0, true),
        Ok(BASE + SZ_8M - SZ_4K)
    );
    mb.set_bottom_up(true);
    assert_eq!(
        mb.alloc_range(SZ_4K, SZ_4K, 0, ALLOC_ACCESSIBLE, 1, true),
        Ok(BASE + SZ_8M)
    );
}

/// When the node is full: exact_nid fails, otherwise the allocation falls back to any node.
///
/// ```text
///   |rrrrrrrrrrrr|     n1     |
///                         |new|     (fallback)
/// ```
/// Expect: NoMemory with exact_nid, the top of n1 without.
#[test]
fn nid_exact_vs_fallback() {
    let mut st = Storage::new();
    let mut mb = two_nodes(&mut st);
    mb.reserve(BASE, SZ_8M).unwrap();
    assert_eq!(
        mb.alloc_range(SZ_4K, SZ_4K, 0, ALLOC_ACCESSIBLE, 0, true),
        Err(MemblockError::NoMemory)
    );
    assert_eq!(
        mb.alloc_range(SZ_4K, SZ_4K, 0, ALLOC_ACCESSIBLE, 0, false),
        Ok(END - SZ_4K)
    );
    assert_eq!(
        mb.alloc_try_nid(SZ_4K, SZ_4K, 0, ALLOC_ACCESSIBLE, 0),
        Ok(END - SZ_8K)
    );
}

/// MAX_NUMNODES as nid means any node (Linux warns and uses NUMA_NO_NODE).
///
/// Expect: top of all memory.
#[test]
fn nid_max_numnodes_means_any() {
    let mut st = Storage::new();
    let mut mb = two_nodes(&mut st);
    assert_eq!(
        mb.alloc_range(SZ_4K, SZ_4K, 0, ALLOC_ACCESSIBLE, MAX_NUMNODES, true),
        Ok(END - SZ_4K)
    );
}

/// Once some memory is mirrored, allocations prefer it and fall back when it is full.
///
/// ```text
///   |MIRROR|            M            |
///   |   |new|                        |
/// ```
/// Expect: the first block at the top of the mirrored range; when that is full, the top of
/// memory.
#[test]
fn mirror_first_then_fallback() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    mb.mark_mirror(BASE, SZ_8K).unwrap();
    assert_eq!(mb.phys_alloc(SZ_4K, SZ_4K), Ok(BASE + SZ_4K));
    assert_eq!(mb.phys_alloc(SZ_4K, SZ_4K), Ok(BASE));
    assert_eq!(mb.phys_alloc(SZ_4K, SZ_4K), Ok(END - SZ_4K));
    assert_eq!(
        mb.find_in_range(SZ_4K, SZ_4K, 0, ALLOC_ANYWHERE, NUMA_NO_NODE),
        Some(END - SZ_8K)
    );
}

/// Allocations are recorded in reserved and can be freed again.
///
/// Expect: the freed block is handed out again.
#[test]
fn alloc_free_alloc() {
    let mut st = Storage::new();
    let mut mb = with_memory(&mut st);
    let a = mb.phys_alloc(SZ_64K, SZ_4K).unwrap();
    assert!(mb.is_region_reserved(a, SZ_64K));
    mb.free(a, SZ_64K).unwrap();
    assert!(mb.reserved().is_empty());
    assert_eq!(mb.phys_alloc(SZ_64K, SZ_4K), Ok(a));
}

/// phys_alloc_range restricts to [start, end) on any node.
///
/// Expect: block at the top of the range.
#[test]
fn phys_alloc_range() {
    let mut st = Storage::new();
    let mut mb = two_nodes(&mut st);
    assert_eq!(
        mb.phys_alloc_range(SZ_4K, SZ_4K, BASE, BASE + SZ_1M),
        Ok(BASE + SZ_1M - SZ_4K)
    );
}
