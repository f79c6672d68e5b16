//! Region arrays: insertion, isolation, removal, merging and doubling (`struct memblock_type`).
//!
//! Mirrors `memblock_add_range` (two passes: count the pieces, grow the array if needed, then
//! insert them and merge), `memblock_isolate_range` (split regions at the range edges so whole
//! regions can be removed or changed), `memblock_remove_range`, `memblock_merge_regions` and
//! `memblock_double_array`.
//!
//! Invariant: `regions[..cnt]` is sorted, non-overlapping, free of zero-size entries and minimal
//! (touching neighbours differ in nid or flags) between public calls; `total_size` is the sum of
//! their sizes. `regions[cnt..]` is spare capacity (`max = regions.len()`).
//!
//! Doubling: the new array (twice the regions, `region_array_bytes` rounded to a page) is found
//! with memblock's own allocator below `current_limit`. When the reserved array grows while a
//! range `[new_area_start, +new_area_size)` waits to be reserved, the new array is placed above
//! that range, or else below it, never inside it. After copying, the old array is freed if
//! memblock allocated it (never the initial static one) and the new one is reserved.
//!
//! Order: as in Linux for the reserved array (copy, switch, free old, reserve new, which cannot
//! fail as the array just doubled). The memory array's new home is reserved *before* the switch,
//! so a failure (reserved array full and unable to grow, where Linux `BUG()`s) leaves memblock
//! unchanged instead of using unreserved memory; the mapped storage is then simply not used.

use crate::{
    cap_size, last, region_array_bytes, Memblock, MemblockError, Region, RegionFlags, MAX_NUMNODES,
};
use mm_types::PAGE_SIZE;

/// Which of the two arrays an internal operation works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Memory,
    Reserved,
}

/// One array of regions (`struct memblock_type`).
pub(crate) struct RegionArray<'a> {
    /// Storage; its length is the capacity (`max`).
    pub(crate) regions: &'a mut [Region],
    /// Regions in use (`cnt`, but 0 rather than Linux's 1 when empty).
    pub(crate) cnt: usize,
    /// Sum of the sizes of `regions[..cnt]`.
    pub(crate) total_size: u64,
    /// `"memory"` or `"reserved"`, for reports.
    pub(crate) name: &'static str,
    /// Physical base when memblock allocated the storage; `None` for the static array.
    pub(crate) array_phys: Option<u64>,
    /// nid of Linux's dummy entry when empty: 0 in the static initialiser, `MAX_NUMNODES` once
    /// `memblock_remove_region` emptied the array. Only `dump_all` shows it.
    pub(crate) empty_nid: i32,
}

impl<'a> RegionArray<'a> {
    pub(crate) fn new(regions: &'a mut [Region], name: &'static str) -> Self {
        Self {
            regions,
            cnt: 0,
            total_size: 0,
            name,
            array_phys: None,
            empty_nid: 0,
        }
    }

    pub(crate) fn as_slice(&self) -> &[Region] {
        &self.regions[..self.cnt]
    }

    pub(crate) fn max(&self) -> usize {
        self.regions.len()
    }

    /// Inserts a region at `idx`; the caller guarantees room and order
    /// (`memblock_insert_region`).
    fn insert_region(&mut self, idx: usize, base: u64, size: u64, nid: i32, flags: RegionFlags) {
        assert!(
            self.cnt < self.max(),
            "memblock: insert into a full {} array",
            self.name
        );
        self.regions.copy_within(idx..self.cnt, idx + 1);
        self.regions[idx] = Region {
            base,
            size,
            nid,
            flags,
        };
        self.cnt += 1;
        self.total_size += size;
    }

    /// Removes region `r` (`memblock_remove_region`).
    pub(crate) fn remove_region(&mut self, r: usize) {
        self.total_size -= self.regions[r].size;
        self.regions.copy_within(r + 1..self.cnt, r);
        self.cnt -= 1;
        if self.cnt == 0 {
            debug_assert_eq!(self.total_size, 0);
            self.empty_nid = MAX_NUMNODES;
        }
    }

    /// Merges touching neighbours with equal nid and flags (`memblock_merge_regions`).
    pub(crate) fn merge_regions(&mut self) {
        let mut i = 0;
        while i + 1 < self.cnt {
            let this = self.regions[i];
            let next = self.regions[i + 1];
            if this.end() != next.base || this.nid != next.nid || this.flags != next.flags {
                assert!(
                    this.end() <= next.base,
                    "memblock: {} regions overlap",
                    self.name
                );
                i += 1;
                continue;
            }
            self.regions[i].size += next.size;
            self.regions.copy_within(i + 2..self.cnt, i + 1);
            self.cnt -= 1;
        }
    }

    /// One pass of `memblock_add_range` over `[base, end)`: returns how many new regions the
    /// uncovered parts need, and inserts them when `insert` is set.
    fn add_pass(
        &mut self,
        mut base: u64,
        end: u64,
        nid: i32,
        flags: RegionFlags,
        insert: bool,
    ) -> usize {
        let mut nr_new = 0;
        let mut idx = 0;
        while idx < self.cnt {
            let r = self.regions[idx];
            if r.base >= end {
                break;
            }
            if r.end() <= base {
                idx += 1;
                continue;
            }
            // `r` overlaps: the part of the new range below it (if any) is a new region.
            if r.base > base {
                nr_new += 1;
                if insert {
                    self.insert_region(idx, base, r.base - base, nid, flags);
                    idx += 1;
                }
            }
            base = r.end().min(end);
            idx += 1;
        }
        if base < end {
            nr_new += 1;
            if insert {
                self.insert_region(idx, base, end - base, nid, flags);
            }
        }
        nr_new
    }

    /// Index of the region containing `addr` (`memblock_search`).
    pub(crate) fn search(&self, addr: u64) -> Option<usize> {
        let regions = self.as_slice();
        let (mut left, mut right) = (0, regions.len());
        while left < right {
            let mid = (left + right) / 2;
            if addr < regions[mid].base {
                right = mid;
            } else if addr >= regions[mid].end() {
                left = mid + 1;
            } else {
                return Some(mid);
            }
        }
        None
    }

    /// True if `[base, base + size)` intersects a region (`memblock_overlaps_region`).
    pub(crate) fn overlaps(&self, base: u64, size: u64) -> bool {
        let size = cap_size(base, size);
        self.as_slice()
            .iter()
            .any(|r| base < r.end() && r.base < base + size)
    }
}

impl<'a> Memblock<'a> {
    pub(crate) fn array(&self, kind: Kind) -> &RegionArray<'a> {
        match kind {
            Kind::Memory => &self.memory,
            Kind::Reserved => &self.reserved,
        }
    }

    fn array_mut(&mut self, kind: Kind) -> &mut RegionArray<'a> {
        match kind {
            Kind::Memory => &mut self.memory,
            Kind::Reserved => &mut self.reserved,
        }
    }

    /// Adds `[base, base + size)` to `kind` (`memblock_add_range`); overlaps with existing
    /// regions keep the existing regions' nid and flags. On error nothing in `kind` changed
    /// (the array may have grown).
    pub(crate) fn add_range(
        &mut self,
        kind: Kind,
        base: u64,
        size: u64,
        nid: i32,
        flags: RegionFlags,
    ) -> Result<(), MemblockError> {
        let size = cap_size(base, size);
        if size == 0 {
            return Ok(());
        }
        let end = base + size;
        // Count, grow, and count again: doubling the reserved array frees the old array, which
        // may lie inside [base, end) and add a piece (Linux does not recount and would BUG()).
        loop {
            let nr_new = self.array_mut(kind).add_pass(base, end, nid, flags, false);
            if nr_new == 0 {
                return Ok(());
            }
            if self.array(kind).cnt + nr_new <= self.array(kind).max() {
                break;
            }
            self.double_array(kind, base, size)?;
        }
        let t = self.array_mut(kind);
        t.add_pass(base, end, nid, flags, true);
        t.merge_regions();
        Ok(())
    }

    /// Splits the regions of `kind` at `base` and `base + size` and returns the index range of
    /// the regions inside (`memblock_isolate_range`); `(0, 0)` when none are.
    pub(crate) fn isolate_range(
        &mut self,
        kind: Kind,
        base: u64,
        size: u64,
    ) -> Result<(usize, usize), MemblockError> {
        let size = cap_size(base, size);
        if size == 0 {
            return Ok((0, 0));
        }
        let end = base + size;
        // At most two more regions: one split at each edge.
        while self.array(kind).cnt + 2 > self.array(kind).max() {
            self.double_array(kind, base, size)?;
        }
        let t = self.array_mut(kind);
        let (mut start_rgn, mut end_rgn) = (0, 0);
        let mut idx = 0;
        while idx < t.cnt {
            let r = t.regions[idx];
            if r.base >= end {
                break;
            }
            if r.end() <= base {
                idx += 1;
                continue;
            }
            if r.base < base {
                // Crosses the lower edge: split off the part below and go on with the top half.
                t.regions[idx].base = base;
                t.regions[idx].size -= base - r.base;
                t.total_size -= base - r.base;
                t.insert_region(idx, r.base, base - r.base, r.nid, r.flags);
                idx += 1;
            } else if r.end() > end {
                // Crosses the upper edge: split off the part below `end` and look at it again.
                t.regions[idx].base = end;
                t.regions[idx].size -= end - r.base;
                t.total_size -= end - r.base;
                t.insert_region(idx, r.base, end - r.base, r.nid, r.flags);
            } else {
                if end_rgn == 0 {
                    start_rgn = idx;
                }
                end_rgn = idx + 1;
                idx += 1;
            }
        }
        Ok((start_rgn, end_rgn))
    }

    /// Removes `[base, base + size)` from `kind` (`memblock_remove_range`).
    pub(crate) fn remove_range(
        &mut self,
        kind: Kind,
        base: u64,
        size: u64,
    ) -> Result<(), MemblockError> {
        let (start, end) = self.isolate_range(kind, base, size)?;
        let t = self.array_mut(kind);
        for i in (start..end).rev() {
            t.remove_region(i);
        }
        Ok(())
    }

    /// Doubles the capacity of `kind` (`memblock_double_array`), keeping the new array out of
    /// `[new_area_start, new_area_start + new_area_size)` when `kind` is the reserved array.
    fn double_array(
        &mut self,
        kind: Kind,
        new_area_start: u64,
        new_area_size: u64,
    ) -> Result<(), MemblockError> {
        if self.mapper.is_none() {
            return Err(MemblockError::NoMemory);
        }
        let (name, old_max) = (self.array(kind).name, self.array(kind).max());
        let new_max = old_max * 2;
        let old_alloc_size = region_array_bytes(old_max);
        let new_alloc_size = region_array_bytes(new_max);

        // Only the reserved array has a range waiting to be added that it must avoid.
        let (area_start, area_size) = match kind {
            Kind::Reserved => (new_area_start, new_area_size),
            Kind::Memory => (0, 0),
        };
        let limit = self.current_limit();
        let mut addr = self.find_in_range(
            new_alloc_size,
            PAGE_SIZE,
            area_start + area_size,
            limit,
            crate::NUMA_NO_NODE,
        );
        // Linux also tries below the range when it starts at 0; `min(0, limit)` = 0 then reads
        // as ALLOC_ACCESSIBLE and the array may land inside the very range being reserved.
        if addr.is_none() && area_size != 0 && area_start != 0 {
            addr = self.find_in_range(
                new_alloc_size,
                PAGE_SIZE,
                0,
                area_start.min(limit),
                crate::NUMA_NO_NODE,
            );
        }
        let storage = match (addr, self.mapper.as_deref_mut()) {
            (Some(a), Some(mapper)) => mapper.map(a, new_max).filter(|s| s.len() >= new_max),
            _ => None,
        };
        let (Some(addr), Some(storage)) = (addr, storage) else {
            self.dbg(format_args!(
                "memblock: Failed to double {name} array from {old_max} to {new_max} entries !"
            ));
            return Err(MemblockError::NoMemory);
        };
        let storage = storage.split_at_mut(new_max).0;
        self.dbg(format_args!(
            "memblock: {name} is doubled to {new_max} at [{}-{}]",
            self.pa(addr),
            self.pa(last(addr, new_max as u64 * crate::REGION_BYTES))
        ));

        // The memory array's new home is reserved before it is used: Linux reserves it last
        // and BUG()s if that fails, which here would leave an array in use but unreserved.
        if kind == Kind::Memory && self.reserve(addr, new_alloc_size).is_err() {
            self.dbg(format_args!(
                "memblock: Failed to double {name} array from {old_max} to {new_max} entries !"
            ));
            return Err(MemblockError::NoMemory);
        }
        // Move the regions over before touching `reserved`: it may be this very array.
        let t = self.array_mut(kind);
        storage[..t.cnt].copy_from_slice(&t.regions[..t.cnt]);
        storage[t.cnt..].fill(Region::EMPTY);
        t.regions = storage;
        let old_phys = t.array_phys.replace(addr);

        // The initial static array is never freed; an array memblock allocated is. Linux
        // ignores a failure here as well (the old array then simply stays reserved).
        if let Some(old) = old_phys {
            let _ = self.free(old, old_alloc_size);
        }
        // The reserved array has just doubled, so this cannot run out of entries.
        if kind == Kind::Reserved {
            self.reserve(addr, new_alloc_size)?;
        }
        Ok(())
    }
}
