//! Finding and allocating free memory (`memblock_find_in_range_node`, `memblock_alloc_range_nid`).
//!
//! The search walks the free ranges (memory minus reserved, minus `NOMAP`/driver-managed) from
//! the top (`__memblock_find_range_top_down`, the default) or from the bottom
//! (`__memblock_find_range_bottom_up`), clamps each range to `[start, end)` and takes the
//! highest (lowest) aligned block that fits in one range. An allocation never straddles two
//! memory regions, even touching ones.
//!
//! Rules shared with Linux:
//! - `end` of [`ALLOC_ACCESSIBLE`] or [`ALLOC_NOLEAKTRACE`] means `current_limit`;
//! - the first page is never handed out (`start` is raised to `PAGE_SIZE`), so 0 is never a
//!   valid result;
//! - once some memory is marked mirrored, every search first asks for mirrored memory and then
//!   retries without the requirement;
//! - `memblock_alloc_range_nid` first tries `nid`, then (unless `exact_nid`) any node, and
//!   records the block in `reserved`; `memblock_alloc_try_nid_raw` caps `max_addr` at
//!   `current_limit` and retries with `min_addr = 0`.
//!
//! A size-0 request succeeds with the address the search found and reserves nothing, as in
//! Linux.

use crate::iter::{FreeRanges, FreeRangesRev};
use crate::{
    Memblock, MemblockError, RegionFlags, ALLOC_ACCESSIBLE, ALLOC_NOLEAKTRACE, MAX_NUMNODES,
    NUMA_NO_NODE, SMP_CACHE_BYTES,
};
use mm_types::PAGE_SIZE;

/// Linux warns and treats `MAX_NUMNODES` as `NUMA_NO_NODE` in every node-filtered walk.
pub(crate) const fn any_node(nid: i32) -> i32 {
    if nid == MAX_NUMNODES {
        NUMA_NO_NODE
    } else {
        nid
    }
}

fn check_align(align: u64) -> Result<u64, MemblockError> {
    let align = if align == 0 { SMP_CACHE_BYTES } else { align };
    if align.is_power_of_two() {
        Ok(align)
    } else {
        Err(MemblockError::InvalidArgument {
            what: "alignment must be a power of two",
        })
    }
}

impl Memblock<'_> {
    /// `choose_memblock_flags`: ask for mirrored memory once the system has some.
    fn choose_flags(&self) -> RegionFlags {
        if self.has_mirror {
            RegionFlags::MIRROR
        } else {
            RegionFlags::NONE
        }
    }

    /// `memblock_find_in_range_node`: one search with fixed `nid` and `flags`.
    fn find_in_range_node(
        &self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: i32,
        flags: RegionFlags,
    ) -> Option<u64> {
        let end = if end == ALLOC_ACCESSIBLE || end == ALLOC_NOLEAKTRACE {
            self.current_limit()
        } else {
            end
        };
        let start = start.max(PAGE_SIZE);
        let end = end.max(start);
        if self.bottom_up() {
            FreeRanges::new(self.memory(), self.reserved(), nid, flags).find_map(|(s, e, _)| {
                let (s, e) = (s.clamp(start, end), e.clamp(start, end));
                let cand = s.checked_add(align - 1)? & !(align - 1);
                (cand < e && e - cand >= size).then_some(cand)
            })
        } else {
            FreeRangesRev::new(self.memory(), self.reserved(), nid, flags).find_map(|(s, e, _)| {
                let (s, e) = (s.clamp(start, end), e.clamp(start, end));
                if e < size {
                    return None;
                }
                let cand = (e - size) & !(align - 1);
                (cand >= s).then_some(cand)
            })
        }
    }

    /// Finds (without reserving) `size` free bytes aligned to `align` inside `[start, end)` on
    /// node `nid` ([`NUMA_NO_NODE`] for any), as `memblock_find_in_range` does: with the mirror
    /// fallback, in the current direction, `end = ALLOC_ACCESSIBLE` meaning `current_limit`.
    /// `align = 0` means [`SMP_CACHE_BYTES`]; an alignment that is not a power of two finds
    /// nothing.
    pub fn find_in_range(
        &self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: i32,
    ) -> Option<u64> {
        let align = check_align(align).ok()?;
        let nid = any_node(nid);
        let flags = self.choose_flags();
        self.find_in_range_node(size, align, start, end, nid, flags)
            .or_else(|| {
                if flags.contains(RegionFlags::MIRROR) {
                    self.dbg(format_args!("Could not allocate {} bytes of mirrored memory", self.pa(size)));
                    self.find_in_range_node(size, align, start, end, nid, RegionFlags::NONE)
                } else {
                    None
                }
            })
    }

    /// Allocates and reserves `size` bytes aligned to `align` inside `[start, end)`
    /// (`memblock_alloc_range_nid`): first on `nid`, then on any node unless `exact_nid`, first
    /// from mirrored memory if there is any, then from any memory. `align = 0` means
    /// [`SMP_CACHE_BYTES`]; `end = ALLOC_ACCESSIBLE` means `current_limit`.
    pub fn alloc_range(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: i32,
        exact_nid: bool,
    ) -> Result<u64, MemblockError> {
        let align = check_align(align)?;
        let nid = any_node(nid);
        let mut flags = self.choose_flags();
        loop {
            if let Some(found) = self.find_in_range_node(size, align, start, end, nid, flags) {
                if self.reserve(found, size).is_ok() {
                    return Ok(found);
                }
            }
            if nid != NUMA_NO_NODE && !exact_nid {
                if let Some(found) =
                    self.find_in_range_node(size, align, start, end, NUMA_NO_NODE, flags)
                {
                    if self.reserve(found, size).is_ok() {
                        return Ok(found);
                    }
                }
            }
            if !flags.contains(RegionFlags::MIRROR) {
                return Err(MemblockError::NoMemory);
            }
            flags = flags.difference(RegionFlags::MIRROR);
            self.dbg(format_args!("Could not allocate {} bytes of mirrored memory", self.pa(size)));
        }
    }

    /// `memblock_alloc_try_nid_raw`: like [`Memblock::alloc_range`] with node fallback, but
    /// `max_addr` is capped at `current_limit` and a failed search is retried from address 0
    /// when `min_addr` is not 0.
    pub fn alloc_try_nid(
        &mut self,
        size: u64,
        align: u64,
        min_addr: u64,
        max_addr: u64,
        nid: i32,
    ) -> Result<u64, MemblockError> {
        self.dbg(format_args!(
            "memblock_alloc_try_nid_raw: {size} bytes align={align:#x} nid={nid} from={} max_addr={}",
            self.pa(min_addr),
            self.pa(max_addr)
        ));
        let max_addr = max_addr.min(self.current_limit());
        match self.alloc_range(size, align, min_addr, max_addr, nid, false) {
            Err(MemblockError::NoMemory) if min_addr != 0 => {
                self.alloc_range(size, align, 0, max_addr, nid, false)
            }
            other => other,
        }
    }

    /// `memblock_phys_alloc_range`: any node, inside `[start, end)`.
    pub fn phys_alloc_range(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
    ) -> Result<u64, MemblockError> {
        self.dbg(format_args!(
            "memblock_phys_alloc_range: {size} bytes align={align:#x} from={} max_addr={}",
            self.pa(start),
            self.pa(end)
        ));
        self.alloc_range(size, align, start, end, NUMA_NO_NODE, false)
    }

    /// `memblock_phys_alloc`: any node, below `current_limit`.
    pub fn phys_alloc(&mut self, size: u64, align: u64) -> Result<u64, MemblockError> {
        self.phys_alloc_range(size, align, 0, ALLOC_ACCESSIBLE)
    }
}
