//! Hand-off from memblock to the buddy allocator (`memblock_free_all`, mm/memblock.c 6.1).
//!
//! `memblock_free_all` → `free_low_memory_core_early` walks the free memblock ranges
//! (`for_each_free_mem_range(NUMA_NO_NODE, MEMBLOCK_NONE)`), rounds each inward to whole pages
//! (`__free_memory_core`: `PFN_UP(start)`, `PFN_DOWN(end)`) and frees it in the largest
//! naturally aligned chunks (`__free_pages_memory`: `order = min(MAX_ORDER - 1, __ffs(start))`,
//! lowered while the chunk would pass the end). Each chunk goes through `__free_pages_core`,
//! which clears `PG_reserved`, adds the pages to `managed_pages` and frees them with
//! `FPI_TO_TAIL`. Reserved ranges are never touched and stay Reserved.
//!
//! Difference: a range is first cut at zone boundaries so that no chunk spans two zones
//! (Linux relies on zone boundaries being `MAX_ORDER`-aligned). Highmem is freed here too,
//! where x86-32 Linux clamps to `max_low_pfn` and frees highmem page by page later.
use memblock::{Memblock, NUMA_NO_NODE};
use mm_types::{pfn_down, pfn_up};

use crate::buddy::{free_one_page, pageblock_mt};
use crate::page::{Page, PageFlags};
use crate::{FreeError, Node, Pfn, MAX_ORDER};

impl Node<'_> {
    /// Hands the reserved, not-yet-managed block `[pfn, pfn + 1 << order)` to the buddy
    /// allocator (`__free_pages_core`): clears Reserved, counts the pages in `managed_pages`,
    /// frees the block to the tail of its list.
    ///
    /// # Errors
    /// Bad order or alignment, a page outside the map or in a hole, a block outside one zone,
    /// or a page that is not Reserved ([`FreeError::NotReserved`]). Nothing changes on error.
    pub fn free_pages_core(&mut self, pfn: Pfn, order: u32) -> Result<(), FreeError> {
        let Pfn(start) = pfn;
        if order >= MAX_ORDER {
            return Err(FreeError::InvalidOrder { order });
        }
        if start & ((1 << order) - 1) != 0 {
            return Err(FreeError::Misaligned { pfn, order });
        }
        let end = start + (1 << order);
        let (Some(first), Some(last)) = (self.mem_map.idx(start), self.mem_map.idx(end - 1)) else {
            return Err(FreeError::OutsideMap { pfn });
        };
        let zi = self.page_zone_idx(start).ok_or(FreeError::ZoneMismatch { pfn })?;
        let zone = &self.zones[zi];
        if !zone.spans(start) || !zone.spans(end - 1) {
            return Err(FreeError::ZoneMismatch { pfn });
        }
        // The block's pages as one slice. The common case: every page holds the first page's
        // state word, Reserved and nothing else of HOLE/RESERVED (memmap_init leaves a range's
        // pages alike): one pass that compares and stores (`Page::hand_off_uniform`).
        let block = &self.mem_map.pages[first as usize..=last as usize];
        let st = block[0].state();
        let uniform = st.flags().0 & (PageFlags::HOLE.0 | PageFlags::RESERVED.0) == PageFlags::RESERVED.0
            && Page::hand_off_uniform(block, st, st.with_flags(PageFlags(0)));
        if !uniform {
            if let Some(k) = block.iter().position(|p| p.flags().0 & (PageFlags::HOLE.0 | PageFlags::RESERVED.0) != PageFlags::RESERVED.0) {
                // A hole anywhere in the block is the error named first.
                return Err(match block.iter().position(Page::is_hole) {
                    Some(h) => FreeError::Hole { pfn: Pfn(start + h as u64) },
                    None => FreeError::NotReserved { pfn: Pfn(start + k as u64) },
                });
            }
            for page in block {
                page.clear_flags();
            }
        }
        let Node { zones, mem_map, .. } = self;
        zones[zi].managed_pages += 1 << order;
        let mt = pageblock_mt(mem_map, zones[zi].pageblock_order, start);
        free_one_page(mem_map, &mut zones[zi].lock(), start, order, mt, true);
        Ok(())
    }

    /// Frees the pfn range `[start_pfn, end_pfn)` in the largest aligned chunks, cut at zone
    /// boundaries (`__free_pages_memory`). Pages outside every zone or the map are skipped, as
    /// are chunks [`Node::free_pages_core`] refuses (already managed, or a hole). Returns the
    /// pages handed over.
    pub fn free_range(&mut self, start_pfn: u64, end_pfn: u64) -> u64 {
        let mut freed = 0;
        for zi in 0..self.zones.len() {
            let zone = &self.zones[zi];
            if !zone.populated() {
                continue;
            }
            let s = start_pfn.clamp(zone.zone_start_pfn, zone.zone_end_pfn()).max(self.mem_map.start_pfn());
            let e = end_pfn.clamp(zone.zone_start_pfn, zone.zone_end_pfn()).min(self.mem_map.end_pfn());
            let mut start = s;
            while start < e {
                let mut order = if start == 0 { MAX_ORDER - 1 } else { (MAX_ORDER - 1).min(start.trailing_zeros()) };
                while start + (1 << order) > e {
                    order -= 1;
                }
                if self.free_pages_core(Pfn(start), order).is_ok() {
                    freed += 1 << order;
                }
                start += 1 << order;
            }
        }
        freed
    }

    /// Releases all free memblock memory to the buddy allocator (`memblock_free_all`); returns
    /// the pages freed (added to `totalram_pages`). Reserved memory stays Reserved.
    pub fn memblock_free_all(&mut self, memblock: &Memblock<'_>) -> u64 {
        let mut count = 0;
        for (start, end, _) in memblock.free_ranges(NUMA_NO_NODE) {
            let (s, e) = (pfn_up(start), pfn_down(end));
            if s < e {
                count += self.free_range(s, e);
            }
        }
        count
    }

    /// Whether `pfn` is Reserved in the map (`PageReserved`); `None` outside the map.
    pub fn page_reserved(&self, pfn: u64) -> Option<bool> {
        self.mem_map.get(pfn).map(|p| p.flags().contains(PageFlags::RESERVED))
    }
}
