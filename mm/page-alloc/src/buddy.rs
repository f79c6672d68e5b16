//! The buddy allocator of one zone: free lists, merging, splitting, migratetype fallback, and
//! the zonelist walk of `alloc_pages`.
//!
//! Mirrors (Linux 6.1 `mm/page_alloc.c`): `add_to_free_list{,_tail}`, `move_to_free_list`,
//! `del_page_from_free_list`, `page_is_buddy`/`find_buddy_page_pfn`, `__free_one_page`
//! (merge while the buddy is a free block of the same order in the same zone, then add to the
//! head, or to the tail when `FPI_TO_TAIL` or `buddy_merge_likely`), `expand`,
//! `__rmqueue_smallest`, `__rmqueue_fallback` with `find_suitable_fallback`,
//! `can_steal_fallback`, `steal_suitable_fallback` and `move_freepages_block`, `__rmqueue`,
//! `__zone_watermark_ok` and `get_page_from_freelist`.
//!
//! Invariants: a free block's head has `BUDDY`, its order and the migratetype of the list it
//! is on; `nr_free` and the zone's free-page count change only in `add`/`del`, so they always
//! match the lists.
//!
//! The zonelist of a request is the node's populated zones from the highest allowed one down
//! (`HighMem → Normal → DMA32 → DMA`). Each zone is tried against the `low` watermark
//! (`ALLOC_WMARK_LOW`, the fast path), then all against `min` (the slow path after waking
//! kswapd; halved for `__GFP_HIGH`), then, for `__GFP_NOFAIL`, with no watermark at all
//! (`__alloc_pages_cpuset_fallback(ALLOC_NO_WATERMARKS)`). `lowmem_reserve` is applied as in
//! Linux.
use core::sync::atomic::Ordering::Relaxed;

use crate::page::{MemMap, Page, PageFlags, State};
use crate::zone::{add, add_i, sub, Locked, Zone, WMARK_LOW, WMARK_MIN};
use crate::{AllocError, FreeError, Gfp, Migratetype, Node, Pfn, MAX_ORDER, MIGRATE_TYPES};

/// Links the free block at `pfn` into `mt`'s list of `order` (at the tail if `tail`) and marks
/// it Buddy (`add_to_free_list` + `set_buddy_order`).
#[inline(always)]
pub(crate) fn add_to_free_list(map: &MemMap<'_>, zone: &mut Locked<'_>, pfn: u64, order: u32, mt: Migratetype, tail: bool) {
    let idx = map.idx(pfn).expect("free block inside the map");
    let list = &mut zone.free_area[order as usize].free_list[mt as usize];
    let (old_head, old_tail) = (list.head, list.tail);
    {
        let p = map.at(idx);
        p.set_state(PageFlags::BUDDY, order, mt);
        if tail {
            p.set_next(Page::NONE);
            p.set_prev(old_tail);
        } else {
            p.set_next(old_head);
            p.set_prev(Page::NONE);
        }
    }
    if tail {
        if old_tail == Page::NONE {
            list.head = idx;
        } else {
            map.at(old_tail).set_next(idx);
        }
        list.tail = idx;
    } else {
        if old_head == Page::NONE {
            list.tail = idx;
        } else {
            map.at(old_head).set_prev(idx);
        }
        list.head = idx;
    }
    zone.free_area[order as usize].nr_free += 1;
    sync_free_order(zone, order, mt, true);
    add(&zone.nr_free_pages, 1 << order);
    if mt == Migratetype::Cma {
        add(&zone.nr_free_cma_pages, 1 << order);
    }
}

/// Keeps bit `order` of `free_orders` (read without the lock by the watermark check) equal to
/// "a list of a `MIGRATE_PCPTYPES` type of this order is not empty", after `mt`'s list of
/// `order` gained (`added`) or lost a block: a gain can only set the bit, and a loss can only
/// clear it when that list became empty.
#[inline(always)]
fn sync_free_order(zone: &Locked<'_>, order: u32, mt: Migratetype, added: bool) {
    if mt as usize >= MIGRATE_TYPES {
        return; // MIGRATE_CMA lists do not count for the watermark check
    }
    let area = &zone.free_area[order as usize];
    let bit = 1u32 << order;
    let old = zone.free_orders.load(Relaxed);
    let new = if added {
        old | bit
    } else if !area.free_list[mt as usize].is_empty() {
        return;
    } else if (0..MIGRATE_TYPES).any(|t| !area.free_list[t].is_empty()) {
        old | bit
    } else {
        old & !bit
    };
    if new != old {
        zone.free_orders.store(new, Relaxed); // only under the zone lock
    }
}

/// Unlinks the block at map index `idx` from `mt`'s list of `order` without touching its
/// flags.
#[inline(always)]
fn unlink(map: &MemMap<'_>, zone: &mut Locked<'_>, idx: u32, order: u32, mt: Migratetype) {
    let p = map.at(idx);
    let (next, prev) = (p.next(), p.prev());
    let list = &mut zone.free_area[order as usize].free_list[mt as usize];
    if prev == Page::NONE {
        list.head = next;
    } else {
        map.at(prev).set_next(next);
    }
    if next == Page::NONE {
        list.tail = prev;
    } else {
        map.at(next).set_prev(prev);
    }
    p.set_next(Page::NONE);
    p.set_prev(Page::NONE);
}

/// Takes the free block at `pfn` off its list and clears Buddy (`del_page_from_free_list`).
#[inline(always)]
pub(crate) fn del_page_from_free_list(map: &MemMap<'_>, zone: &mut Locked<'_>, pfn: u64, order: u32) {
    let idx = map.idx(pfn).expect("free block inside the map");
    let p = map.at(idx);
    let st = p.state();
    let mt = Migratetype::from_bits(st.mt());
    if mt == Migratetype::Cma {
        sub(&zone.nr_free_cma_pages, 1 << order);
    }
    unlink(map, zone, idx, order, mt);
    p.clear_flags_and_order(st);
    zone.free_area[order as usize].nr_free -= 1;
    sync_free_order(zone, order, mt, false);
    sub(&zone.nr_free_pages, 1 << order);
}

/// Moves the free block at `pfn` to the tail of `mt`'s list (`move_to_free_list`).
fn move_to_free_list(map: &MemMap<'_>, zone: &mut Locked<'_>, pfn: u64, order: u32, mt: Migratetype) {
    del_page_from_free_list(map, zone, pfn, order);
    add_to_free_list(map, zone, pfn, order, mt, true);
}

/// True if `pfn` is the head of a free block of `order` in zone `zone_idx` (`page_is_buddy`);
/// false outside the map or in a hole (holes are never Buddy).
#[inline(always)]
fn page_is_buddy(map: &MemMap<'_>, zone_idx: u8, pfn: u64, order: u32) -> bool {
    map.get(pfn).is_some_and(|p| {
        let s = p.state();
        s.flags().contains(PageFlags::BUDDY) && s.order() == order && s.zone() == zone_idx
    })
}

/// `get_pageblock_migratetype`.
#[inline(always)]
pub(crate) fn pageblock_mt(map: &MemMap<'_>, pageblock_order: u32, pfn: u64) -> Migratetype {
    map.pageblock_mt(pfn & !((1u64 << pageblock_order) - 1))
}

fn set_pageblock_mt(map: &MemMap<'_>, pageblock_order: u32, pfn: u64, mt: Migratetype) {
    map.set_pageblock_mt(pfn & !((1u64 << pageblock_order) - 1), mt);
}

/// Frees the block `[pfn, pfn + 1 << order)` into `zone`, merging with free buddies
/// (`__free_one_page`). `to_tail` is `FPI_TO_TAIL`. From `pageblock_order` up, a block does
/// not merge with a buddy of another pageblock type unless both types are mergeable
/// ([`Migratetype::is_mergeable`]): `MIGRATE_CMA` blocks merge only with each other.
#[inline]
pub(crate) fn free_one_page(map: &MemMap<'_>, zone: &mut Locked<'_>, mut pfn: u64, mut order: u32, mt: Migratetype, to_tail: bool) {
    let zone_idx = zone.zone_type as u8;
    while order < MAX_ORDER - 1 {
        let buddy = pfn ^ (1 << order);
        if !page_is_buddy(map, zone_idx, buddy, order) {
            break;
        }
        if order >= zone.pageblock_order {
            let buddy_mt = pageblock_mt(map, zone.pageblock_order, buddy);
            if mt != buddy_mt && (!mt.is_mergeable() || !buddy_mt.is_mergeable()) {
                break;
            }
        }
        del_page_from_free_list(map, zone, buddy, order);
        pfn &= buddy;
        order += 1;
    }
    let to_tail = to_tail || buddy_merge_likely(map, zone_idx, pfn, order);
    add_to_free_list(map, zone, pfn, order, mt, to_tail);
}

/// `buddy_merge_likely`: the block's parent has a free buddy one order up, so this block will
/// probably merge soon; queue it at the tail so it is not reused first.
#[inline(always)]
fn buddy_merge_likely(map: &MemMap<'_>, zone_idx: u8, pfn: u64, order: u32) -> bool {
    if order >= MAX_ORDER - 2 {
        return false;
    }
    let combined = pfn & !(1 << order);
    page_is_buddy(map, zone_idx, combined ^ (1 << (order + 1)), order + 1)
}

/// Splits a block of order `high` at `pfn` down to `low`, putting the upper halves back on
/// `mt`'s lists (`expand`).
#[inline(always)]
fn expand(map: &MemMap<'_>, zone: &mut Locked<'_>, pfn: u64, low: u32, mut high: u32, mt: Migratetype) {
    while high > low {
        high -= 1;
        add_to_free_list(map, zone, pfn + (1 << high), high, mt, false);
    }
}

/// Takes the smallest free block of at least `order` from `mt`'s lists (`__rmqueue_smallest`).
#[inline(always)]
fn rmqueue_smallest(map: &MemMap<'_>, zone: &mut Locked<'_>, order: u32, mt: Migratetype) -> Option<u64> {
    for current in order..MAX_ORDER {
        let head = zone.free_area[current as usize].free_list[mt as usize].head;
        if head == Page::NONE {
            continue;
        }
        let pfn = map.pfn_of(head);
        del_page_from_free_list(map, zone, pfn, current);
        expand(map, zone, pfn, order, current, mt);
        return Some(pfn);
    }
    None
}

/// `can_steal_fallback`: may a `start_mt` allocation of `order` claim the whole pageblock?
fn can_steal_fallback(pageblock_order: u32, order: u32, start_mt: Migratetype) -> bool {
    order >= pageblock_order
        || order >= pageblock_order / 2
        || matches!(start_mt, Migratetype::Reclaimable | Migratetype::Unmovable)
}

/// `find_suitable_fallback`: the first type in `fallbacks[mt]` with a free block of `order`,
/// and whether its pageblock may be stolen.
pub(crate) fn find_suitable_fallback(zone: &Locked<'_>, order: u32, mt: Migratetype, only_stealable: bool) -> Option<(Migratetype, bool)> {
    let area = &zone.free_area[order as usize];
    if area.nr_free == 0 {
        return None;
    }
    for &fallback in mt.fallbacks() {
        if area.is_empty(fallback) {
            continue;
        }
        let can_steal = can_steal_fallback(zone.pageblock_order, order, mt);
        if !only_stealable || can_steal {
            return Some((fallback, can_steal));
        }
    }
    None
}

/// Moves the free blocks of the pageblock holding `pfn` to `mt`'s lists; returns the pages
/// moved and the pages of the pageblock allocated as Movable (`move_freepages_block`).
fn move_freepages_block(map: &MemMap<'_>, zone: &mut Locked<'_>, pfn: u64, mt: Migratetype) -> (u64, u64) {
    let pb = 1u64 << zone.pageblock_order;
    let mut start = pfn & !(pb - 1);
    let end = start + pb - 1;
    // Do not cross zone boundaries.
    if !zone.spans(start) {
        start = pfn;
    }
    if !zone.spans(end) {
        return (0, 0);
    }
    let (mut moved, mut movable) = (0, 0);
    let mut p = start;
    while p <= end {
        let page = map.page(p);
        if page.is_buddy() {
            let order = page.order();
            move_to_free_list(map, zone, p, order, mt);
            p += 1 << order;
            moved += 1 << order;
        } else if page.is_head() {
            let n = (1u64 << page.order()).min(end + 1 - p);
            if page.migratetype() == Migratetype::Movable {
                movable += n;
            }
            p += n;
        } else {
            p += 1;
        }
    }
    (moved, movable)
}

/// `steal_suitable_fallback`: claim the block at `pfn` (of another type) for `start_mt`,
/// taking its whole pageblock when the order is large enough or when enough of the pageblock
/// is free or alike.
fn steal_suitable_fallback(map: &MemMap<'_>, zone: &mut Locked<'_>, pfn: u64, start_mt: Migratetype, whole_block: bool) {
    let current_order = map.page(pfn).order();
    let pb_order = zone.pageblock_order;
    let old_block_type = pageblock_mt(map, pb_order, pfn);
    if current_order >= pb_order {
        // change_pageblock_range: take ownership of every pageblock of the block.
        let mut p = pfn;
        while p < pfn + (1 << current_order) {
            set_pageblock_mt(map, pb_order, p, start_mt);
            p += 1 << pb_order;
        }
    } else if whole_block {
        let (free_pages, movable_pages) = move_freepages_block(map, zone, pfn, start_mt);
        if free_pages != 0 {
            let alike = if start_mt == Migratetype::Movable {
                movable_pages
            } else if old_block_type == Migratetype::Movable {
                (1u64 << pb_order) - (free_pages + movable_pages)
            } else {
                0
            };
            if free_pages + alike >= 1 << (pb_order - 1) {
                set_pageblock_mt(map, pb_order, pfn, start_mt);
            }
            return;
        }
    }
    move_to_free_list(map, zone, pfn, current_order, start_mt);
}

/// `__rmqueue_fallback`: steal from another migratetype, largest block first (or, for a
/// movable request that may not steal, the smallest block). Returns false if nothing is free.
/// Out of line: the common allocation finds a block of its own type.
#[cold]
#[inline(never)]
fn rmqueue_fallback(map: &MemMap<'_>, zone: &mut Locked<'_>, order: u32, start_mt: Migratetype) -> bool {
    let mut found = None;
    for current in (order..MAX_ORDER).rev() {
        let Some((fallback, can_steal)) = find_suitable_fallback(zone, current, start_mt, false) else {
            continue;
        };
        if !can_steal && start_mt == Migratetype::Movable && current > order {
            // find_smallest: do not break up a large block for nothing.
            found = (order..MAX_ORDER).find_map(|o| find_suitable_fallback(zone, o, start_mt, false).map(|f| (o, f.0, f.1)));
        } else {
            found = Some((current, fallback, can_steal));
        }
        break;
    }
    let Some((current, fallback, can_steal)) = found else {
        return false;
    };
    let head = zone.free_area[current as usize].free_list[fallback as usize].head;
    let pfn = map.pfn_of(head);
    steal_suitable_fallback(map, zone, pfn, start_mt, can_steal);
    true
}

/// `__rmqueue`: the smallest block of `mt`, else steal and retry.
#[inline]
pub(crate) fn rmqueue(map: &MemMap<'_>, zone: &mut Locked<'_>, order: u32, mt: Migratetype) -> Option<u64> {
    loop {
        if let Some(pfn) = rmqueue_smallest(map, zone, order, mt) {
            return Some(pfn);
        }
        if !rmqueue_fallback(map, zone, order, mt) {
            return None;
        }
    }
}

/// `__zone_watermark_ok` with `free_pages = NR_FREE_PAGES`: after taking `1 << order` pages
/// the zone must keep more than `mark + lowmem_reserve[highest_zoneidx]` free, and for
/// `order > 0` a free block of at least `order` must exist. Free CMA pages do not count
/// (`__zone_watermark_unusable_free` without `ALLOC_CMA`, which no request has here).
#[inline]
pub(crate) fn zone_watermark_ok(zone: &Zone, order: u32, mark: u64, highest_zoneidx: usize, alloc_high: bool) -> bool {
    let mut min = mark as i64;
    if alloc_high {
        min -= min / 2;
    }
    let free = zone.free_pages() as i64 - zone.free_cma_pages() as i64 - ((1i64 << order) - 1);
    if free <= min + zone.lowmem_reserve[highest_zoneidx] as i64 {
        return false;
    }
    if order == 0 {
        return true;
    }
    // Some list of a MIGRATE_PCPTYPES type of order >= `order` is not empty.
    zone.free_orders.load(Relaxed) >> order != 0
}

/// Which watermark an attempt checks (`ALLOC_WMARK_LOW`, `ALLOC_WMARK_MIN`,
/// `ALLOC_NO_WATERMARKS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wmark {
    Low,
    Min,
    None,
}

impl Wmark {
    /// The passes of a request: the fast path (low), the slow path (min), and for
    /// `__GFP_NOFAIL` the no-watermark fallback.
    pub(crate) fn passes(gfp: Gfp) -> &'static [Self] {
        if gfp.nofail {
            &[Self::Low, Self::Min, Self::None]
        } else {
            &[Self::Low, Self::Min]
        }
    }
}

/// The error of a request that no zone could serve.
pub(crate) const fn alloc_failure(gfp: Gfp, order: u32) -> AllocError {
    if matches!(gfp.migratetype, Migratetype::Cma) {
        AllocError::CmaMigratetype { order }
    } else if gfp.nofail {
        AllocError::NoFailUnsatisfied { order }
    } else {
        AllocError::NoMemory { order }
    }
}

impl Node<'_> {
    /// Checks `zone`'s watermark `mark` (pages) for an allocation of `order` whose highest
    /// allowed zone is `highest_zone` (`zone_watermark_ok`).
    #[inline]
    pub fn zone_watermark_ok(&self, zone: crate::ZoneType, order: u32, mark: u64, highest_zone: crate::ZoneType) -> bool {
        order < MAX_ORDER && zone_watermark_ok(&self.zones[zone as usize], order, mark, highest_zone as usize, false)
    }

    /// May zone `zi` serve `order` in this pass (populated, managed, watermark met)? Never
    /// for a [`Migratetype::Cma`] request ([`alloc_failure`] then names it).
    #[inline]
    pub(crate) fn zone_usable(&self, zi: usize, order: u32, gfp: Gfp, highest: usize, pass: Wmark) -> bool {
        let zone = &self.zones[zi];
        if !zone.populated() || zone.managed_pages == 0 || gfp.migratetype == Migratetype::Cma {
            return false;
        }
        match pass {
            Wmark::Low => zone_watermark_ok(zone, order, zone.watermark[WMARK_LOW], highest, gfp.high),
            Wmark::Min => zone_watermark_ok(zone, order, zone.watermark[WMARK_MIN], highest, gfp.high),
            Wmark::None => true,
        }
    }

    /// Marks `[pfn, pfn + 1 << order)` of zone `zi` as an allocated block (head refcount 1).
    /// The block is off every list (caller holds the zone lock): marks it allocated and
    /// counts it in the zone.
    #[inline]
    pub(crate) fn mark_allocated(&self, zi: usize, pfn: u64, order: u32, mt: Migratetype) {
        self.set_allocated(pfn, order, mt);
        add_i(&self.zones[zi].nr_allocated_pages, 1 << order);
    }

    /// Marks the block at `pfn` allocated (head refcount 1), counting nothing (caller owns it).
    #[inline]
    pub(crate) fn set_allocated(&self, pfn: u64, order: u32, mt: Migratetype) {
        let p = self.mem_map.page(pfn);
        p.set_state(PageFlags::HEAD, order, mt);
    }

    /// `rmqueue_buddy`: one block of `order` from zone `zi`'s free lists, marked allocated.
    /// Takes zone `zi`'s lock.
    #[inline]
    pub(crate) fn rmqueue_buddy(&self, zi: usize, order: u32, mt: Migratetype) -> Option<u64> {
        let mut zone = self.zones[zi].lock();
        let pfn = rmqueue(&self.mem_map, &mut zone, order, mt)?;
        self.mark_allocated(zi, pfn, order, mt);
        Some(pfn)
    }

    /// Allocates `1 << order` contiguous pages (`alloc_pages` / `__alloc_pages`), walking the
    /// zonelist from `gfp.highest_zone` down. Returns the first pfn. The head page gets
    /// refcount 1. (This is the node-local zonelist; [`crate::NodeSet::alloc_pages`] walks the
    /// NUMA one.)
    ///
    /// # Errors
    /// [`AllocError::InvalidOrder`] for `order >= MAX_ORDER`; [`AllocError::NoMemory`] when no
    /// zone can serve it; [`AllocError::NoFailUnsatisfied`] when a `nofail` request cannot be
    /// served even below the watermarks. Nothing changes on error.
    pub fn alloc_pages(&self, gfp: Gfp, order: u32) -> Result<Pfn, AllocError> {
        if order >= MAX_ORDER {
            return Err(AllocError::InvalidOrder { order });
        }
        let highest = self.config.resolve_zone(gfp.highest_zone) as usize;
        for &pass in Wmark::passes(gfp) {
            for zi in (0..=highest).rev() {
                if !self.zone_usable(zi, order, gfp, highest, pass) {
                    continue;
                }
                if let Some(pfn) = self.rmqueue_buddy(zi, order, gfp.migratetype) {
                    return Ok(Pfn(pfn));
                }
            }
        }
        Err(alloc_failure(gfp, order))
    }

    /// `free_pages_prepare`'s checks: the zone index of the allocated block `[pfn, pfn + 1 <<
    /// order)`, or why it cannot be freed.
    #[inline]
    pub(crate) fn check_free(&self, pfn: Pfn, order: u32) -> Result<usize, FreeError> {
        let Pfn(p) = pfn;
        if order >= MAX_ORDER {
            return Err(FreeError::InvalidOrder { order });
        }
        if p & ((1 << order) - 1) != 0 {
            return Err(FreeError::Misaligned { pfn, order });
        }
        let Some(page) = self.mem_map.get(p) else {
            return Err(FreeError::OutsideMap { pfn });
        };
        let st = page.state();
        // The common case, decided by the head page alone: exactly the flags of an allocated
        // head (no Reserved, Hole, Buddy or PCP bit) with this order. Merging clears the flags
        // of every head it absorbs and splitting sets those of every block it makes, so such a
        // page heads an allocated block and lies in no free or listed block (`Node::check`
        // verifies that invariant); only a refusal needs the search below to say why.
        if st.flags() == PageFlags::HEAD && st.order() == order {
            if pageblock_mt(&self.mem_map, self.config.pageblock_order, p) == Migratetype::Cma {
                return Err(FreeError::Cma { pfn });
            }
            return Ok(st.zone() as usize);
        }
        if page.is_hole() {
            return Err(FreeError::Hole { pfn });
        }
        if page.is_reserved() {
            return Err(FreeError::Reserved { pfn });
        }
        if pageblock_mt(&self.mem_map, self.config.pageblock_order, p) == Migratetype::Cma {
            return Err(FreeError::Cma { pfn });
        }
        if self.free_block_containing(p).is_some() || self.block_containing(p, Page::is_pcp).is_some() {
            return Err(FreeError::DoubleFree { pfn });
        }
        if !page.is_head() || page.order() != order {
            return Err(FreeError::NotAllocatedAs { pfn, order });
        }
        Ok(page.zone_idx() as usize)
    }

    /// The free block containing `pfn`, if any (`is_free_buddy_page`): `(head, order)`.
    pub fn free_block_containing(&self, pfn: u64) -> Option<(u64, u32)> {
        self.block_containing(pfn, Page::is_buddy)
    }

    /// The allocated block containing `pfn`, if any: `(head, order)`.
    pub fn allocated_block_containing(&self, pfn: u64) -> Option<(u64, u32)> {
        self.block_containing(pfn, Page::is_head)
    }

    fn block_containing(&self, pfn: u64, is: fn(&Page) -> bool) -> Option<(u64, u32)> {
        for order in 0..MAX_ORDER {
            let head = pfn & !((1u64 << order) - 1);
            if let Some(p) = self.mem_map.get(head) {
                if is(p) && p.order() >= order {
                    return (pfn < head + (1 << p.order())).then_some((head, p.order()));
                }
            }
        }
        None
    }

    /// Frees a block returned by [`Node::alloc_pages`] (`__free_pages`): checks it, then merges
    /// it back into its zone's free lists (head of the list, as Linux's non-`FPI_TO_TAIL` path).
    ///
    /// # Errors
    /// See [`FreeError`]: bad order, misalignment, a pfn outside the map or in a hole, a
    /// reserved page, a page already free (double free), or a page that is not the head of an
    /// allocated block of this order. Nothing changes on error.
    pub fn free_pages(&self, pfn: Pfn, order: u32) -> Result<(), FreeError> {
        // Every check is made under the zone lock (free_pages_locked): without it another CPU
        // may be moving the page between a per-CPU list and the buddy lists. A page in no
        // zone (or a bad order or alignment) is refused without a lock, saying why.
        let zi = match self.page_zone_idx(pfn.0) {
            Some(zi) if order < MAX_ORDER && pfn.0 & ((1 << order) - 1) == 0 => zi,
            _ => return self.check_free(pfn, order).and(Err(FreeError::ZoneMismatch { pfn })),
        };
        let mut zone = self.zones[zi].lock();
        self.free_pages_locked(&mut zone, pfn, order)
    }

    /// [`Node::free_pages`] with the zone lock of the page's zone held: checks again (the
    /// page may have changed before the lock was taken), then claims the head atomically
    /// (`HEAD` of this order to no flags), so that of two concurrent frees of one block, one
    /// on a per-CPU fast path that takes no zone lock, exactly one succeeds and the other is a
    /// double free.
    #[inline]
    pub(crate) fn free_pages_locked(&self, zone: &mut Locked<'_>, pfn: Pfn, order: u32) -> Result<(), FreeError> {
        let p = pfn.0;
        let head = self.mem_map.page(p);
        let mt = loop {
            let st = head.state();
            // The common case, as check_free's first test: the head of an allocated block of
            // this order (so aligned, and the order valid) in this zone, outside CMA.
            if st.flags() == PageFlags::HEAD && st.order() == order && st.zone() == zone.zone_type as u8 {
                let mt = pageblock_mt(&self.mem_map, zone.pageblock_order, p);
                if mt == Migratetype::Cma {
                    return Err(FreeError::Cma { pfn });
                }
                if head.cas_state(st, State::new(PageFlags(0), 0, st.mt(), st.zone())).is_ok() {
                    break mt;
                }
                continue; // changed under us
            }
            // Anything else: the full check says why (or the state changed under us: again).
            let zi = self.check_free(pfn, order)?;
            if zi != zone.zone_type as usize {
                return Err(FreeError::ZoneMismatch { pfn });
            }
        };
        add_i(&zone.nr_allocated_pages, -(1 << order));
        free_one_page(&self.mem_map, zone, p, order, mt, false);
        Ok(())
    }
}
