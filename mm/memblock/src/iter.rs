//! Walking free and usable memory (`__next_mem_range`, `__next_mem_range_rev`).
//!
//! A free range is the intersection of one memory region with one gap between reserved
//! regions; the gaps of `reserved` are numbered `0..=cnt`, gap `i` being `[end of region i-1,
//! base of region i)` with 0 and `u64::MAX` at the ends. The walk advances the memory index and
//! the gap index in lockstep, as both arrays are sorted, so it is linear and allocation-free.
//!
//! Memory regions are filtered like `should_skip_region`: by node (unless `NUMA_NO_NODE`), to
//! mirrored memory when `MIRROR` is requested, and `NOMAP`/driver-managed memory is skipped
//! unless asked for. Ranges are half-open `[start, end)` and never empty.

use crate::find::any_node;
use crate::{Memblock, Region, RegionFlags, NUMA_NO_NODE};

/// `should_skip_region` for a memory region.
fn skip(m: &Region, nid: i32, flags: RegionFlags) -> bool {
    if nid != NUMA_NO_NODE && nid != m.nid {
        return true;
    }
    if flags.contains(RegionFlags::MIRROR) && !m.flags.contains(RegionFlags::MIRROR) {
        return true;
    }
    if !flags.contains(RegionFlags::NOMAP) && m.flags.contains(RegionFlags::NOMAP) {
        return true;
    }
    !flags.contains(RegionFlags::DRIVER_MANAGED) && m.flags.contains(RegionFlags::DRIVER_MANAGED)
}

/// Bounds of gap `i` between reserved regions.
fn gap(reserved: &[Region], i: usize) -> (u64, u64) {
    let start = if i == 0 { 0 } else { reserved[i - 1].end() };
    let end = if i < reserved.len() {
        reserved[i].base
    } else {
        u64::MAX
    };
    (start, end)
}

/// Free ranges in ascending order, `(start, end, nid)` (`for_each_free_mem_range`).
#[derive(Clone, Debug)]
pub struct FreeRanges<'m> {
    memory: &'m [Region],
    reserved: &'m [Region],
    nid: i32,
    flags: RegionFlags,
    idx_a: usize,
    idx_b: usize,
}

impl<'m> FreeRanges<'m> {
    pub(crate) fn new(
        memory: &'m [Region],
        reserved: &'m [Region],
        nid: i32,
        flags: RegionFlags,
    ) -> Self {
        Self {
            memory,
            reserved,
            nid: any_node(nid),
            flags,
            idx_a: 0,
            idx_b: 0,
        }
    }
}

impl Iterator for FreeRanges<'_> {
    type Item = (u64, u64, i32);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(m) = self.memory.get(self.idx_a) {
            if skip(m, self.nid, self.flags) {
                self.idx_a += 1;
                continue;
            }
            while self.idx_b <= self.reserved.len() {
                let (r_start, r_end) = gap(self.reserved, self.idx_b);
                if r_start >= m.end() {
                    break;
                }
                if m.base < r_end {
                    let out = (m.base.max(r_start), m.end().min(r_end), m.nid);
                    // Advance whichever of the two ends first.
                    if m.end() <= r_end {
                        self.idx_a += 1;
                    } else {
                        self.idx_b += 1;
                    }
                    return Some(out);
                }
                self.idx_b += 1;
            }
            self.idx_a += 1;
        }
        None
    }
}

/// Free ranges in descending order, `(start, end, nid)` (`for_each_free_mem_range_reverse`).
#[derive(Clone, Debug)]
pub struct FreeRangesRev<'m> {
    memory: &'m [Region],
    reserved: &'m [Region],
    nid: i32,
    flags: RegionFlags,
    /// One past the memory region to look at next (0 = done).
    idx_a: usize,
    /// Gap index to look at next, plus one (0 = no gap left).
    idx_b: usize,
}

impl<'m> FreeRangesRev<'m> {
    pub(crate) fn new(
        memory: &'m [Region],
        reserved: &'m [Region],
        nid: i32,
        flags: RegionFlags,
    ) -> Self {
        Self {
            memory,
            reserved,
            nid: any_node(nid),
            flags,
            idx_a: memory.len(),
            idx_b: reserved.len() + 1,
        }
    }
}

impl Iterator for FreeRangesRev<'_> {
    type Item = (u64, u64, i32);

    fn next(&mut self) -> Option<Self::Item> {
        while self.idx_a > 0 {
            let m = self.memory[self.idx_a - 1];
            if skip(&m, self.nid, self.flags) {
                self.idx_a -= 1;
                continue;
            }
            while self.idx_b > 0 {
                let (r_start, r_end) = gap(self.reserved, self.idx_b - 1);
                if r_end <= m.base {
                    break;
                }
                if m.end() > r_start {
                    let out = (m.base.max(r_start), m.end().min(r_end), m.nid);
                    // Step back whichever of the two starts last.
                    if m.base >= r_start {
                        self.idx_a -= 1;
                    } else {
                        self.idx_b -= 1;
                    }
                    return Some(out);
                }
                self.idx_b -= 1;
            }
            self.idx_a -= 1;
        }
        None
    }
}

impl Memblock<'_> {
    /// Free memory on node `nid` ([`NUMA_NO_NODE`] for all), ascending, as `(start, end, nid)`
    /// half-open ranges (`for_each_free_mem_range(i, nid, MEMBLOCK_NONE, ...)`): memory minus
    /// reserved, without `NOMAP` and driver-managed memory.
    pub fn free_ranges(&self, nid: i32) -> impl Iterator<Item = (u64, u64, i32)> + '_ {
        FreeRanges::new(self.memory(), self.reserved(), nid, RegionFlags::NONE)
    }

    /// As [`Memblock::free_ranges`], descending (`for_each_free_mem_range_reverse`).
    pub fn free_ranges_rev(&self, nid: i32) -> impl Iterator<Item = (u64, u64, i32)> + '_ {
        FreeRangesRev::new(self.memory(), self.reserved(), nid, RegionFlags::NONE)
    }

    /// Every memory region except `NOMAP` ones, ascending, as `(start, end, nid)`
    /// (`for_each_mem_range`, which passes `MEMBLOCK_HOTPLUG | MEMBLOCK_DRIVER_MANAGED`).
    pub fn mem_ranges(&self) -> impl Iterator<Item = (u64, u64, i32)> + '_ {
        let flags = RegionFlags::HOTPLUG | RegionFlags::DRIVER_MANAGED;
        self.memory()
            .iter()
            .filter(move |m| !skip(m, NUMA_NO_NODE, flags))
            .map(|m| (m.base, m.end(), m.nid))
    }
}
