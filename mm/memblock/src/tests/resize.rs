//! Growing the region arrays (`memblock_double_array`, `memblock_allow_resize`).
use super::*;
use crate::model::PoolMapper;
use crate::{region_array_bytes, MemblockError, RegionArrayMapper, REGION_BYTES};
use std::vec;

/// A mapper that can never map anything.
struct NoMapper;

impl<'a> RegionArrayMapper<'a> for NoMapper {
    fn map(&mut self, _phys_base: u64, _count: usize) -> Option<&'a mut [Region]> {
        None
    }
}

/// Array sizes are whole pages: 256 regions = 6144 bytes -> 8 KiB.
///
/// Expect: region_array_bytes rounds up to PAGE_SIZE.
#[test]
fn array_bytes() {
    assert_eq!(REGION_BYTES, 24);
    assert_eq!(region_array_bytes(128), SZ_4K);
    assert_eq!(region_array_bytes(256), SZ_8K);
    assert_eq!(region_array_bytes(512), 3 * SZ_4K);
}

/// The 129th reserved region doubles the reserved array into memory memblock allocates
/// top-down, and reserves it.
///
/// ```text
///   | M ..................................................... |
///   |r|r|r| ... (129 small reservations)           |array 8K|
/// ```
/// Expect: capacity 256, the array at the top of memory and reserved, all 129 regions kept.
#[test]
fn reserved_array_doubles() {
    let mut st = Storage::new();
    let mut pool = vec![Region::EMPTY; 4096];
    let mut mapper = PoolMapper::new(&mut pool);
    let mut mb = st.memblock();
    mb.add(0, SZ_16M).unwrap();
    mb.allow_resize(&mut mapper);
    for i in 0..129 {
        mb.reserve(SZ_1M + i * SZ_8K, SZ_4K).unwrap();
    }
    assert_eq!(mb.reserved_capacity(), 256);
    assert_eq!(mb.reserved_array_base(), Some(SZ_16M - SZ_8K));
    assert_eq!(mb.reserved().len(), 130);
    assert_eq!(*mb.reserved().last().unwrap(), r(SZ_16M - SZ_8K, SZ_8K));
    assert_eq!(mb.reserved_size(), 129 * SZ_4K + SZ_8K);
    for i in 0..129 {
        assert_eq!(mb.reserved()[i as usize], r(SZ_1M + i * SZ_8K, SZ_4K));
    }
    assert_eq!(mb.memory_capacity(), 128, "memory array untouched");
}

/// The doubled reserved array never lies inside the range being reserved: with nothing free
/// above it, the array goes below it (the `new_area_start`/`new_area_size` exclusion).
///
/// ```text
///   |                     M  [0, 4M)                       |
///   |      |r|r|...|r| (128)     |  array |+---- X [3M,4M) ---+|
/// ```
/// Expect: the array ends at 3M, not at the top of memory where plain top-down would put it.
#[test]
fn doubled_array_avoids_range_being_reserved() {
    let mut st = Storage::new();
    let mut pool = vec![Region::EMPTY; 4096];
    let mut mapper = PoolMapper::new(&mut pool);
    let mut mb = st.memblock();
    mb.add(0, SZ_4M).unwrap();
    mb.allow_resize(&mut mapper);
    for i in 0..128 {
        mb.reserve(SZ_1M + i * SZ_8K, SZ_4K).unwrap();
    }
    assert_eq!(mb.reserved_capacity(), 128);
    mb.reserve(3 * SZ_1M, SZ_1M).unwrap();
    let array = mb.reserved_array_base().unwrap();
    assert_eq!(array, 3 * SZ_1M - SZ_8K);
    assert!(array + SZ_8K <= 3 * SZ_1M);
    // The array's reservation merged with the range reserved after it.
    assert_eq!(
        *mb.reserved().last().unwrap(),
        r(3 * SZ_1M - SZ_8K, SZ_1M + SZ_8K)
    );
}

/// With free memory above the range being reserved, the array goes above it.
///
/// ```text
///   |                     M  [0, 8M)                                |
///   | |r|...|r|      +--- X [3M,4M) ---+                   |array|
/// ```
/// Expect: the array at the top of memory.
#[test]
fn doubled_array_above_range_being_reserved() {
    let mut st = Storage::new();
    let mut pool = vec![Region::EMPTY; 4096];
    let mut mapper = PoolMapper::new(&mut pool);
    let mut mb = st.memblock();
    mb.add(0, SZ_8M).unwrap();
    mb.allow_resize(&mut mapper);
    for i in 0..128 {
        mb.reserve(SZ_1M + i * SZ_8K, SZ_4K).unwrap();
    }
    mb.reserve(3 * SZ_1M, SZ_1M).unwrap();
    assert_eq!(mb.reserved_array_base(), Some(SZ_8M - SZ_8K));
}

/// A second doubling frees the first dynamic array (the static one is never freed).
///
/// ```text
///   | r r r ... (257)                 |arr512 16K|arr256 8K|
///   | r r r ... (257)                 |arr512 16K|  free   |
/// ```
/// Expect: capacity 512, only the new array reserved at the top, the old one free again.
#[test]
fn second_doubling_frees_old_array() {
    let mut st = Storage::new();
    let mut pool = vec![Region::EMPTY; 4096];
    let mut mapper = PoolMapper::new(&mut pool);
    let mut mb = st.memblock();
    mb.add(0, SZ_16M).unwrap();
    mb.allow_resize(&mut mapper);
    for i in 0..257 {
        mb.reserve(SZ_1M + i * SZ_8K, SZ_4K).unwrap();
    }
    assert_eq!(mb.reserved_capacity(), 512);
    let new = SZ_16M - SZ_8K - region_array_bytes(512);
    assert_eq!(mb.reserved_array_base(), Some(new));
    assert_eq!(
        *mb.reserved().last().unwrap(),
        r(new, region_array_bytes(512))
    );
    assert!(
        !mb.is_region_reserved(SZ_16M - SZ_8K, SZ_8K),
        "old array freed"
    );
    assert_eq!(mb.reserved().len(), 258);
    assert_eq!(mb.reserved_size(), 257 * SZ_4K + region_array_bytes(512));
}

/// The memory array doubles too, and its storage is reserved.
///
/// ```text
///   | m | m | ... (128 small)     |        M [16M, 32M)     |array|
/// ```
/// Expect: memory capacity 256, 129 memory regions, the array reserved at the top.
#[test]
fn memory_array_doubles() {
    let mut st = Storage::new();
    let mut pool = vec![Region::EMPTY; 4096];
    let mut mapper = PoolMapper::new(&mut pool);
    let mut mb = st.memblock();
    mb.allow_resize(&mut mapper);
    mb.add(SZ_16M, SZ_16M).unwrap();
    for i in 0..128 {
        mb.add(SZ_1M + i * SZ_8K, SZ_4K).unwrap();
    }
    assert_eq!(mb.memory_capacity(), 256);
    assert_eq!(mb.memory().len(), 129);
    assert_eq!(mb.memory_array_base(), Some(2 * SZ_16M - SZ_8K));
    assert_eq!(mb.reserved(), &[r(2 * SZ_16M - SZ_8K, SZ_8K)]);
    assert_eq!(mb.phys_mem_size(), SZ_16M + 128 * SZ_4K);
}

/// Splitting a full array (free in the middle of a region) doubles it after allow_resize.
///
/// Expect: Ok, capacity 256.
#[test]
fn isolate_doubles() {
    let mut st = Storage::new();
    let mut pool = vec![Region::EMPTY; 4096];
    let mut mapper = PoolMapper::new(&mut pool);
    let mut mb = st.memblock();
    mb.add(0, SZ_16M).unwrap();
    for i in 0..128 {
        mb.reserve(SZ_1M + i * SZ_8K, SZ_4K).unwrap();
    }
    assert_eq!(mb.free(SZ_1M + SZ_1K, SZ_1K), Err(MemblockError::NoMemory));
    mb.allow_resize(&mut mapper);
    mb.free(SZ_1M + SZ_1K, SZ_1K).unwrap();
    assert_eq!(mb.reserved_capacity(), 256);
    assert_eq!(
        &mb.reserved()[..2],
        &[r(SZ_1M, SZ_1K), r(SZ_1M + SZ_2K, SZ_2K)]
    );
}

/// No free memory for the doubled array: NoMemory, nothing changes.
///
/// Expect: the 129th reservation fails, capacity stays 128.
#[test]
fn doubling_without_free_memory_fails() {
    let mut st = Storage::new();
    let mut pool = vec![Region::EMPTY; 4096];
    let mut mapper = PoolMapper::new(&mut pool);
    let mut mb = st.memblock();
    mb.allow_resize(&mut mapper);
    for i in 0..128 {
        mb.reserve(SZ_1M + i * SZ_8K, SZ_4K).unwrap();
    }
    assert_eq!(mb.reserve(SZ_1G, SZ_4K), Err(MemblockError::NoMemory));
    assert_eq!(mb.reserved_capacity(), 128);
    assert_eq!(mb.reserved().len(), 128);
}

/// A mapper that cannot map the chosen address: NoMemory, nothing reserved for the array.
///
/// Expect: error, reserved unchanged.
#[test]
fn doubling_with_failing_mapper() {
    let mut st = Storage::new();
    let mut mapper = NoMapper;
    let mut mb = st.memblock();
    mb.add(0, SZ_16M).unwrap();
    mb.allow_resize(&mut mapper);
    for i in 0..128 {
        mb.reserve(SZ_1M + i * SZ_8K, SZ_4K).unwrap();
    }
    assert_eq!(mb.reserve(SZ_1G, SZ_4K), Err(MemblockError::NoMemory));
    assert_eq!(mb.reserved().len(), 128);
    assert_eq!(mb.reserved_array_base(), None);
}

/// The doubled arrays respect current_limit.
///
/// Expect: the array ends at the limit.
#[test]
fn doubling_respects_current_limit() {
    let mut st = Storage::new();
    let mut pool = vec![Region::EMPTY; 4096];
    let mut mapper = PoolMapper::new(&mut pool);
    let mut mb = st.memblock();
    mb.add(0, SZ_16M).unwrap();
    mb.set_current_limit(SZ_8M);
    mb.allow_resize(&mut mapper);
    for i in 0..129 {
        mb.reserve(SZ_1M + i * SZ_8K, SZ_4K).unwrap();
    }
    assert_eq!(mb.reserved_array_base(), Some(SZ_8M - SZ_8K));
}

/// Regression (model finding): reserving a range that starts at 0 when nothing fits above it.
/// Linux's fallback searches `[0, min(0, limit))`, where end 0 means "accessible", and can put
/// the new array inside the range being reserved; here the doubling fails instead.
///
/// ```text
///   |                 M  [0, 64K)                    |
///   +----------- X [0, 40K) -----------+  limit 39.5K
///   |r|r|... (full)
/// ```
/// Expect: NoMemory, and no array inside [0, 40K).
#[test]
fn doubling_never_inside_range_starting_at_zero() {
    let mut mem = [Region::EMPTY; 2];
    let mut res = [Region::EMPTY; 2];
    let mut pool = vec![Region::EMPTY; 64];
    let mut mapper = PoolMapper::new(&mut pool);
    let mut mb = Memblock::new(&mut mem, &mut res);
    mb.add(0, SZ_64K).unwrap();
    mb.allow_resize(&mut mapper);
    mb.reserve(SZ_32K + SZ_16K, SZ_1K).unwrap();
    mb.reserve(SZ_32K + SZ_16K + SZ_4K, SZ_1K).unwrap();
    mb.set_current_limit(40 * SZ_1K - 512);
    assert_eq!(mb.reserve(0, 40 * SZ_1K), Err(MemblockError::NoMemory));
    assert_eq!(mb.reserved_array_base(), None);
    assert_eq!(mb.reserved().len(), 2);
}

/// Regression (model finding): when the reserved array is full and cannot grow, doubling the
/// memory array fails cleanly instead of using an unreserved array (Linux BUG()s).
///
/// ```text
///   | M | M |  (memory full, 2 entries)    reserved full, no room for its array
/// ```
/// Expect: NoMemory, memory array unchanged and nothing reserved for it.
#[test]
fn memory_doubling_fails_cleanly_when_reserved_cannot_grow() {
    let mut mem = [Region::EMPTY; 2];
    let mut res = [Region::EMPTY; 2];
    let mut pool = vec![Region::EMPTY; 64];
    let mut mapper = PoolMapper::new(&mut pool);
    let mut mb = Memblock::new(&mut mem, &mut res);
    // One 4K hole of free memory: enough for a 4-entry memory array, not for two arrays.
    mb.add(0, SZ_16K).unwrap();
    mb.add(SZ_32K, SZ_4K).unwrap();
    mb.reserve(0, SZ_16K).unwrap();
    mb.reserve(SZ_64K, SZ_4K).unwrap();
    mb.allow_resize(&mut mapper);
    assert_eq!(mb.add(SZ_1M, SZ_4K), Err(MemblockError::NoMemory));
    assert_eq!(mb.memory_array_base(), None);
    assert_eq!(mb.memory_capacity(), 2);
    assert_eq!(mb.memory(), &[r(0, SZ_16K), r(SZ_32K, SZ_4K)]);
    assert_eq!(mb.reserved(), &[r(0, SZ_16K), r(SZ_64K, SZ_4K)]);
}
