//! The accounting check: every invariant of the crate, verified from scratch.
//!
//! Per zone: each free list is a well-formed doubly-linked list (prev of next is self, the
//! tail is the last element, no cycles), its blocks are Buddy heads of the right order,
//! migratetype and zone, aligned and inside the zone; `nr_free` of each order equals the blocks
//! on its lists; `NR_FREE_PAGES` equals the pages they hold. A linear walk of the zone span
//! then classifies every page as hole, Reserved, free block or allocated block, checks that
//! tail pages carry no flags, and that the Buddy heads found are exactly the listed blocks
//! (same count; the link checks rule out a block listed twice). No two free buddies of the
//! same order below `MAX_ORDER - 1` are left unmerged (except across pageblocks of types that
//! may not merge: `MIGRATE_CMA` next to another type). `managed_pages` = free + allocated.
//! Pages outside every zone must be Reserved.
//!
//! CMA: a block is on the `MIGRATE_CMA` lists exactly when its pageblocks are `MIGRATE_CMA`;
//! an allocated block in a CMA pageblock was allocated as `MIGRATE_CMA` (by `cma_alloc`) and
//! nothing else was; `NR_FREE_CMA_PAGES` equals the pages on the CMA lists; `cma_pages` equals
//! the pages of the zone's CMA pageblocks.
//!
//! Linux has pieces of this under `CONFIG_DEBUG_VM` (`check_new_page`, `bad_page`); here it is
//! one function that tests and firmware self-tests can call.
use core::fmt;

use crate::buddy::pageblock_mt;
use crate::page::{MemMap, Page, NO_ZONE};
use crate::{Migratetype, Node, ZoneType, MAX_ORDER};

/// True if every pageblock of the block `[pfn, pfn + 1 << order)` is `MIGRATE_CMA` (`Some(true)`),
/// none is (`Some(false)`), or they differ (`None`).
fn block_is_cma(map: &MemMap<'_>, pb_order: u32, pfn: u64, order: u32) -> Option<bool> {
    let first = pageblock_mt(map, pb_order, pfn) == Migratetype::Cma;
    let step = 1u64 << pb_order;
    let mut p = (pfn & !(step - 1)) + step;
    while p < pfn + (1 << order) {
        if (pageblock_mt(map, pb_order, p) == Migratetype::Cma) != first {
            return None;
        }
        p += step;
    }
    Some(first)
}

/// The first broken invariant [`Node::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckError {
    /// The zone concerned, if any.
    pub zone: Option<ZoneType>,
    /// The page concerned, if any.
    pub pfn: Option<u64>,
    /// What is wrong.
    pub what: &'static str,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("page-alloc check: ")?;
        if let Some(z) = self.zone {
            write!(f, "zone {}: ", z.name())?;
        }
        if let Some(p) = self.pfn {
            write!(f, "pfn {p:#x}: ")?;
        }
        f.write_str(self.what)
    }
}

impl Node<'_> {
    /// Verifies all accounting invariants (see the module documentation).
    ///
    /// # Errors
    /// The first violation found.
    pub fn check(&self) -> Result<(), CheckError> {
        self.check_with(None)
    }

    /// [`Node::check`]; with `pcp_delta`, also the split between allocated pages and pages on
    /// per-CPU lists: `pcp_delta(zone)` is the sum over the zone's pagesets of the pages they
    /// turned from listed to allocated (minus the other way) since they last folded their
    /// counts into the zone's ([`crate::PageAllocator::check`] passes it with every pageset
    /// locked). Without it only their sum is checked, which per-CPU traffic never changes.
    pub(crate) fn check_with(&self, pcp_delta: Option<&dyn Fn(ZoneType) -> i64>) -> Result<(), CheckError> {
        let map = &self.mem_map;
        for zone in &self.zones {
            let locked = zone.lock();
            let zt = Some(zone.zone_type);
            let err = |pfn: Option<u64>, what| Err(CheckError { zone: zt, pfn, what });
            let mut listed_blocks = 0u64;
            let mut listed_pages = 0u64;
            let mut listed_cma_pages = 0u64;
            let pb_order = zone.pageblock_order;
            for order in 0..MAX_ORDER {
                let area = &locked.free_area[order as usize];
                let mut blocks = 0u64;
                for mt in Migratetype::FREE_LISTS {
                    let list = area.free_list[mt as usize];
                    let mut prev = Page::NONE;
                    let mut cur = list.head;
                    let mut steps = 0usize;
                    while cur != Page::NONE {
                        steps += 1;
                        if steps > map.pages.len() || cur as usize >= map.pages.len() {
                            return err(None, "free list has a cycle or a bad link");
                        }
                        let pfn = map.pfn_of(cur);
                        let p = map.at(cur);
                        if p.prev() != prev {
                            return err(Some(pfn), "free list prev link broken");
                        }
                        if !p.is_buddy() || p.is_reserved() || p.is_head() {
                            return err(Some(pfn), "listed page is not a Buddy head");
                        }
                        if p.order() != order || p.migratetype() != mt {
                            return err(Some(pfn), "listed page has the wrong order or migratetype");
                        }
                        if p.zone_idx() != zone.zone_type as u8 {
                            return err(Some(pfn), "listed page belongs to another zone");
                        }
                        if pfn & ((1 << order) - 1) != 0 {
                            return err(Some(pfn), "free block not aligned to its order");
                        }
                        if !zone.spans(pfn) || !zone.spans(pfn + (1 << order) - 1) {
                            return err(Some(pfn), "free block outside its zone");
                        }
                        if block_is_cma(map, pb_order, pfn, order) != Some(mt == Migratetype::Cma) {
                            return err(Some(pfn), "free block on a CMA list outside CMA pageblocks, or in CMA pageblocks on another list");
                        }
                        if mt == Migratetype::Cma {
                            listed_cma_pages += 1 << order;
                        }
                        blocks += 1;
                        prev = cur;
                        cur = p.next();
                    }
                    if list.tail != prev {
                        return err(None, "free list tail is not its last element");
                    }
                }
                if blocks != area.nr_free {
                    return err(None, "nr_free differs from the blocks on the lists");
                }
                let pcptypes_listed = (0..crate::MIGRATE_TYPES).any(|t| !area.free_list[t].is_empty());
                if (zone.free_orders.load(core::sync::atomic::Ordering::Relaxed) >> order) & 1 != u32::from(pcptypes_listed) {
                    return err(None, "free_orders bit differs from the lists of that order");
                }
                listed_blocks += blocks;
                listed_pages += blocks << order;
            }
            if listed_pages != zone.free_pages() {
                return err(None, "NR_FREE_PAGES differs from the pages on the lists");
            }
            if listed_cma_pages != zone.free_cma_pages() {
                return err(None, "NR_FREE_CMA_PAGES differs from the pages on the CMA lists");
            }

            // Linear walk over the span.
            let (mut buddy_heads, mut buddy_pages, mut alloc_pages, mut pcp_pages) = (0u64, 0u64, 0u64, 0u64);
            let mut pfn = zone.zone_start_pfn;
            while pfn < zone.zone_end_pfn() {
                let Some(p) = map.get(pfn) else {
                    return err(Some(pfn), "zone page outside the map");
                };
                if p.is_hole() {
                    if !p.is_reserved() || p.is_buddy() || p.is_head() {
                        return err(Some(pfn), "hole page not plain Reserved");
                    }
                    pfn += 1;
                } else if p.is_reserved() {
                    if p.flags().0 != crate::PageFlags::RESERVED.0 {
                        return err(Some(pfn), "reserved page has other flags");
                    }
                    pfn += 1;
                } else if p.is_pcp() {
                    let order = p.order();
                    if p.flags().0 != crate::PageFlags::PCP.0 || order > crate::PAGE_ALLOC_COSTLY_ORDER {
                        return err(Some(pfn), "per-CPU list page has other flags or a costly order");
                    }
                    if pfn & ((1 << order) - 1) != 0 || !zone.spans(pfn + (1 << order) - 1) {
                        return err(Some(pfn), "per-CPU list block misaligned or across the zone end");
                    }
                    for t in pfn + 1..pfn + (1 << order) {
                        match map.get(t) {
                            Some(tp) if tp.flags().0 == 0 && tp.zone_idx() == p.zone_idx() => {}
                            _ => return err(Some(t), "tail page of a per-CPU list block has flags or another zone"),
                        }
                    }
                    if block_is_cma(map, pb_order, pfn, order) != Some(false) {
                        return err(Some(pfn), "per-CPU list block in a CMA pageblock");
                    }
                    pcp_pages += 1 << order;
                    pfn += 1 << order;
                } else if p.is_buddy() || p.is_head() {
                    let order = p.order();
                    if order >= MAX_ORDER || pfn & ((1 << order) - 1) != 0 {
                        return err(Some(pfn), "block head with a bad order or alignment");
                    }
                    let n = 1u64 << order;
                    if !zone.spans(pfn + n - 1) {
                        return err(Some(pfn), "block crosses the zone end");
                    }
                    for t in pfn + 1..pfn + n {
                        match map.get(t) {
                            Some(tp) if tp.flags().0 == 0 && tp.zone_idx() == p.zone_idx() => {}
                            _ => return err(Some(t), "tail page of a block has flags or another zone"),
                        }
                    }
                    if p.is_buddy() {
                        buddy_heads += 1;
                        buddy_pages += n;
                        if order < MAX_ORDER - 1 {
                            let b = pfn ^ n;
                            let (mt, bmt) = (pageblock_mt(map, pb_order, pfn), pageblock_mt(map, pb_order, b));
                            let may_merge =
                                order < pb_order || mt == bmt || (mt.is_mergeable() && bmt.is_mergeable());
                            if may_merge && map.get(b).is_some_and(|bp| bp.is_buddy() && bp.order() == order && bp.zone_idx() == p.zone_idx()) {
                                return err(Some(pfn), "two free buddies left unmerged");
                            }
                        }
                    } else {
                        if block_is_cma(map, pb_order, pfn, order) != Some(p.migratetype() == Migratetype::Cma) {
                            return err(Some(pfn), "allocated block in CMA pageblocks not from cma_alloc, or a CMA allocation outside them");
                        }
                        alloc_pages += n;
                    }
                    pfn += n;
                } else {
                    return err(Some(pfn), "page is neither hole, reserved, free nor allocated");
                }
            }
            if buddy_heads != listed_blocks || buddy_pages != listed_pages {
                return err(None, "Buddy pages differ from the listed blocks");
            }
            let (raw_alloc, raw_pcp) = (zone.raw_allocated(), zone.raw_pcp());
            if (alloc_pages + pcp_pages) as i64 != raw_alloc + raw_pcp {
                return err(None, "allocated and per-CPU list pages differ from the zone's counts");
            }
            if let Some(delta) = pcp_delta {
                let d = delta(zone.zone_type);
                if alloc_pages as i64 != raw_alloc + d {
                    return err(None, "allocated pages differ from the allocation count");
                }
                if pcp_pages as i64 != raw_pcp - d {
                    return err(None, "per-CPU list pages differ from the zone's pcp count");
                }
            }
            if zone.managed_pages != listed_pages + alloc_pages + pcp_pages {
                return err(None, "managed_pages != free + allocated + on per-CPU lists");
            }
            let pb = 1u64 << pb_order;
            let mut cma_pageblocks = 0u64;
            let mut s = zone.zone_start_pfn.next_multiple_of(pb);
            while s < zone.zone_end_pfn() {
                if map.get(s).is_some_and(|p| !p.is_hole()) && pageblock_mt(map, pb_order, s) == Migratetype::Cma {
                    cma_pageblocks += 1;
                }
                s += pb;
            }
            if cma_pageblocks * pb != zone.cma_pages {
                return err(None, "cma_pages differs from the zone's MIGRATE_CMA pageblocks");
            }
        }
        // Pages outside every zone.
        for (i, p) in map.pages.iter().enumerate() {
            let pfn = map.pfn_of(i as u32);
            let in_zone = self.zones.iter().any(|z| z.spans(pfn));
            if !in_zone && (!p.is_reserved() || p.is_buddy() || p.is_head() || p.is_pcp() || (p.zone_idx() != NO_ZONE && !p.is_hole())) {
                return Err(CheckError { zone: None, pfn: Some(pfn), what: "page outside every zone is not Reserved" });
            }
        }
        Ok(())
    }
}
