//! Per-CPU pagesets (`struct per_cpu_pages`, mm/page_alloc.c 6.1) for orders
//! `0..=PAGE_ALLOC_COSTLY_ORDER`, and [`PageAllocator`], the multi-CPU facade over a [`NodeSet`].
//!
//! # Pagesets
//! Each CPU has one [`PerCpuPages`] per populated zone of every node (a memoryless node's CPUs
//! use the pagesets of the zones their zonelist falls back to): `count` pages on
//! [`NR_PCP_LISTS`] LIFO lists, one per migratetype and order (`order_to_pindex`), refilled
//! from the buddy lists `batch` pages at a time (`rmqueue_bulk`, `batch >> order` but at least
//! 2 blocks for `order > 0`, appended at the tail in pfn order) and emptied back to them
//! (`free_pcppages_bulk`: round-robin over the lists starting with the one just freed to,
//! taking from the tail) when `count` reaches `high` (`free_unref_page_commit`, with 6.1's
//! `nr_pcp_free` doubling via `free_factor`, halved again on every allocation; a high-order
//! free while `free_factor` is raised empties the whole pageset, 6.1's `free_high`).
//! - `batch` = [`zone_batchsize`], `high` = [`zone_highsize`] (`percpu_pagelist_high_fraction`
//!   = 0: the zone's low watermark split across the CPUs of the zone's node), set by
//!   [`PageAllocator::setup_per_cpu_pageset`], exactly as 6.1 computes them, no cap; until then
//!   every pageset is the boot pageset (`batch` 1, `high` 0): a free goes straight back to the
//!   buddy and an allocation takes one block through the list.
//! - The lists are linked through the page metadata, as Linux's `page->pcp_list`: the head
//!   page of a listed block carries [`crate::PageFlags::PCP`], its order and the migratetype it
//!   is listed under (`pcppage_migratetype`) and its `next`/`prev` links (indices into the
//!   node's map; free blocks use the same links for the buddy lists, a page is never on both).
//!   A pageset is a few list heads; `high` has no bound but the zone's memory.
//! - A listed page is neither free in the buddy sense (`NR_FREE_PAGES` and the watermarks
//!   exclude it, as in Linux) nor allocated; its zone counts it in [`crate::Zone::free_pcp`],
//!   so [`Node::check`] accounts for it (`managed = buddy free + allocated + pcp`) and a second
//!   free of it is a double free.
//! - The migratetype a block is listed under: its pageblock's at free (`free_unref_page`), the
//!   requested one at refill (`__rmqueue_smallest` sets `pcppage_migratetype`); that is the
//!   buddy list it returns to on drain. `MIGRATE_CMA` pageblocks have no per-CPU lists (see
//!   [`crate::cma`]).
//! - Linux 6.1 also keeps THP-order blocks on a list of their own (`NR_PCP_THP`); there is no
//!   THP here, so there is no such list.
//!
//! # Locking (Linux: `pcp->lock`, then `zone->lock`)
//! - Each pageset is behind its own `spin::Mutex` (`pcp->lock`); each zone's free lists behind
//!   the zone's own lock (`zone->lock`, [`crate::Zone`]). Node and zone layout, zonelists,
//!   watermarks and `lowmem_reserve` are fixed once the [`PageAllocator`] exists and are read
//!   without a lock; `NR_FREE_PAGES` is an atomic counter read without the lock by the
//!   watermark checks, as Linux reads `vm_stat`.
//! - The fast path (an allocation served from the CPU's own pageset, a free into it) takes
//!   that pageset's lock and no other lock. The page metadata are atomics: the free claims the
//!   block with one compare-and-swap (allocated head of this order → listed), so a double free,
//!   a free of a listed, free or reserved page, or of the wrong order is caught there and then
//!   reported with the pfn by the checked slow path ([`Node::free_pages`], under the zone
//!   lock), and of two CPUs freeing one block at the same time exactly one succeeds.
//! - A refill (`rmqueue_bulk`) and a spill or drain (`free_pcppages_bulk`) take the zone lock
//!   once for the whole batch. Order is always pageset lock, then zone lock; never the
//!   reverse, and a CPU never holds two zone locks except in [`PageAllocator::check`] (every
//!   pageset, then the zones in node and zone order).
//! - A page freed on another CPU than the one that allocated it (a remote free) goes to the
//!   freeing CPU's pageset, as in Linux.
//! - Like Linux's `pcp_spin_trylock`, [`PageAllocator`] only *tries* the local pageset lock:
//!   if another CPU is draining it, the request goes straight to the buddy lists.
//! - Interrupts: Linux disables them (or uses `pcp_trylock_prepare`) around pageset access.
//!   This crate cannot; a caller that allocates or frees pages from interrupt context must mask
//!   interrupts on the current CPU around every [`PageAllocator`] call, else an interrupt
//!   arriving while its CPU holds a lock would spin forever.
use core::fmt;

use mm_types::LineSink;

use crate::buddy::{alloc_failure, free_one_page, pageblock_mt, rmqueue, Wmark};
use crate::page::{MemMap, Page, PageFlags, State};
use crate::report::k;
use crate::zone::{add_i, Locked};
use crate::{
    AllocError, CheckError, FreeError, Gfp, Migratetype, Node, NodeSet, Pfn, ZoneType, MAX_NODES, MAX_NR_ZONES,
    MAX_ORDER, MIGRATE_TYPES,
};

/// `PAGE_ALLOC_COSTLY_ORDER`: the highest order kept on per-CPU lists.
pub const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;
/// `NR_PCP_LISTS` (6.1 without THP): one list per migratetype and order `0..=3`.
pub const NR_PCP_LISTS: usize = MIGRATE_TYPES * (PAGE_ALLOC_COSTLY_ORDER as usize + 1);
/// Most pagesets a CPU can have: one per zone of every node. A CPU has one per *populated*
/// zone ([`NodeSet::populated_zones`]), so storage is sized by the machine, not by this bound.
pub const PCP_SLOTS: usize = MAX_NODES * MAX_NR_ZONES;
/// Most CPUs whose pagesets a report collects at once.
pub const MAX_REPORT_CPUS: usize = 16;
/// Most pagesets (over all CPUs) [`PageAllocator::check`] holds locked at once (their guards
/// live on the stack, 16 bytes each on a 64-bit target): 8 CPUs with a pageset for each of 3
/// zones of 16 nodes. A machine with more makes the check fail rather than pass unchecked.
pub const MAX_CHECK_PAGESETS: usize = 8 * 3 * MAX_NODES;
/// No pageset for a zone in [`PageAllocator`]'s slot table.
const NO_SLOT: u8 = u8::MAX;

/// One CPU's pagesets, one per populated zone, each recording its `(nid, zone)`; Linux keeps
/// them in per-CPU memory (`zone->per_cpu_pageset`), and so does the firmware: the caller
/// provides the storage (a few list heads each), sized by [`crate::populated_zones`].
pub type PerCpuPagesets = [spin::Mutex<PerCpuPages>];

/// `pcp_allowed_order`.
pub const fn pcp_allowed_order(order: u32) -> bool {
    order <= PAGE_ALLOC_COSTLY_ORDER
}

/// `order_to_pindex` (6.1): `MIGRATE_PCPTYPES * order + migratetype`.
pub const fn order_to_pindex(mt: Migratetype, order: u32) -> usize {
    MIGRATE_TYPES * order as usize + mt as usize
}

/// `pindex_to_order`.
pub const fn pindex_to_order(pindex: usize) -> u32 {
    (pindex / MIGRATE_TYPES) as u32
}

/// `zone_batchsize` (6.1, MMU): `min(managed >> 10, 1 MiB / PAGE_SIZE) / 4`, at least 1,
/// then `rounddown_pow_of_two(batch + batch / 2) - 1`. May be 0 for tiny zones (the caller
/// uses `max(1, …)` as `zone_set_high_and_batch` does).
pub fn zone_batchsize(zone: &crate::Zone) -> u32 {
    let pages_per_mib = (1u64 << 20) >> mm_types::PAGE_SHIFT;
    let batch = ((zone.managed_pages >> 10).min(pages_per_mib) / 4).max(1);
    let x = batch + batch / 2;
    let pow = 1u64 << (63 - x.leading_zeros());
    (pow - 1) as u32
}

/// `zone_highsize` (6.1, `percpu_pagelist_high_fraction` = 0, `cpu_online` = 0): the zone's
/// low watermark split across `cpus_in_node` CPUs (all `nr_online_cpus` if the node has none),
/// at least `batch * 4`.
pub fn zone_highsize(zone: &crate::Zone, batch: u32, cpus_in_node: u32, nr_online_cpus: u32) -> u32 {
    let total_pages = zone.low_wmark_pages();
    let split = if cpus_in_node == 0 { nr_online_cpus.max(1) } else { cpus_in_node };
    let high = (total_pages / u64::from(split)) as u32;
    high.max(batch << 2)
}

/// One list of a pageset (a `list_head`): map indices of the head pages at its ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PcpList {
    head: u32,
    tail: u32,
}

impl PcpList {
    const EMPTY: Self = Self { head: Page::NONE, tail: Page::NONE };
    const fn is_empty(self) -> bool {
        self.head == Page::NONE
    }
}

/// One CPU's pageset for one zone (`struct per_cpu_pages`). See the module documentation.
/// Cache-line aligned as Linux's (`____cacheline_aligned_in_smp`), so that two CPUs' pagesets
/// never share a line however the caller lays them out.
#[repr(align(64))]
pub struct PerCpuPages {
    nid: i32,
    zone: ZoneType,
    count: u32,
    high: u32,
    batch: u32,
    free_factor: u8,
    /// Pages this pageset turned from listed to allocated minus the other way since its last
    /// fold into the zone's counts (Linux's per-CPU `vm_stat_diff`): the fast path changes
    /// no shared counter.
    alloc_delta: i64,
    lists: [PcpList; NR_PCP_LISTS],
}

impl fmt::Debug for PerCpuPages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerCpuPages")
            .field("nid", &self.nid)
            .field("zone", &self.zone)
            .field("count", &self.count)
            .field("high", &self.high)
            .field("batch", &self.batch)
            .finish()
    }
}

impl PerCpuPages {
    /// The boot pageset of zone `(nid, zone)` (`boot_pageset`): `batch` 1, `high` 0, empty.
    pub const fn boot(nid: i32, zone: ZoneType) -> Self {
        Self { nid, zone, count: 0, high: 0, batch: 1, free_factor: 0, alloc_delta: 0, lists: [PcpList::EMPTY; NR_PCP_LISTS] }
    }

    /// The node of the zone this pageset serves.
    pub const fn nid(&self) -> i32 {
        self.nid
    }
    /// The zone this pageset serves.
    pub const fn zone(&self) -> ZoneType {
        self.zone
    }
    /// Pages on the lists (`count`; a listed block of order `o` counts `1 << o`).
    pub const fn count(&self) -> u32 {
        self.count
    }
    /// `high`.
    pub const fn high(&self) -> u32 {
        self.high
    }
    /// `batch`.
    pub const fn batch(&self) -> u32 {
        self.batch
    }

    /// Sets `high` and `batch` (at least 1) (`pageset_update`). Pages already listed stay.
    pub fn set_high_and_batch(&mut self, high: u32, batch: u32) {
        self.high = high;
        self.batch = batch.max(1);
    }

    /// Folds `alloc_delta` into the zone's allocated and pcp counts (caller holds the zone
    /// lock, as Linux folds `vm_stat_diff` under it).
    fn fold(&mut self, zone: &Locked<'_>) {
        if self.alloc_delta != 0 {
            add_i(&zone.nr_allocated_pages, self.alloc_delta);
            add_i(&zone.nr_pcp_pages, -self.alloc_delta);
            self.alloc_delta = 0;
        }
    }

    /// Links the block with head `idx` at the head (`list_add`) or tail (`list_add_tail`) of
    /// list `pindex`.
    fn push(&mut self, map: &MemMap<'_>, pindex: usize, idx: u32, tail: bool) {
        let list = &mut self.lists[pindex];
        let p = map.at(idx);
        if tail {
            p.set_next(Page::NONE);
            p.set_prev(list.tail);
            match list.tail {
                Page::NONE => list.head = idx,
                t => map.at(t).set_next(idx),
            }
            list.tail = idx;
        } else {
            p.set_prev(Page::NONE);
            p.set_next(list.head);
            match list.head {
                Page::NONE => list.tail = idx,
                h => map.at(h).set_prev(idx),
            }
            list.head = idx;
        }
    }

    /// Unlinks the head (`list_first_entry`) or tail (`list_last_entry`) of list `pindex`.
    fn pop(&mut self, map: &MemMap<'_>, pindex: usize, tail: bool) -> Option<u32> {
        let list = &mut self.lists[pindex];
        let idx = if tail { list.tail } else { list.head };
        if idx == Page::NONE {
            return None;
        }
        let p = map.at(idx);
        let (prev, next) = (p.prev(), p.next());
        match prev {
            Page::NONE => list.head = next,
            q => map.at(q).set_next(next),
        }
        match next {
            Page::NONE => list.tail = prev,
            q => map.at(q).set_prev(prev),
        }
        p.set_next(Page::NONE);
        p.set_prev(Page::NONE);
        Some(idx)
    }

    /// The head pages on list `pindex`, head first, as map indices (caller holds the lock).
    fn walk<'m>(&self, map: &'m MemMap<'_>, pindex: usize) -> impl Iterator<Item = u32> + 'm {
        let mut cur = self.lists[pindex].head;
        let mut steps = 0usize;
        core::iter::from_fn(move || {
            if cur == Page::NONE || cur as usize >= map.pages.len() || steps > map.pages.len() {
                return None;
            }
            steps += 1;
            let i = cur;
            cur = map.at(i).next();
            Some(i)
        })
    }

    /// `nr_pcp_free` (6.1): how many pages to give back once `count` reached `high`.
    fn nr_pcp_free(&mut self, high: u32, free_high: bool) -> u32 {
        let batch = self.batch;
        if free_high {
            return self.count;
        }
        if high < batch {
            return 1;
        }
        let (min_nr_free, max_nr_free) = (batch, high - batch);
        let scaled = batch.checked_shl(u32::from(self.free_factor)).unwrap_or(u32::MAX);
        if scaled < max_nr_free {
            self.free_factor += 1;
        }
        scaled.max(min_nr_free).min(max_nr_free)
    }
}

impl Node<'_> {
    fn check_pcp(&self, pcp: &PerCpuPages) {
        debug_assert!(pcp.nid == self.nid, "pageset of node {} used on node {}", pcp.nid, self.nid);
    }

    /// `rmqueue_pcplist` (caller holds `pcp`'s lock): pops the head of list
    /// `(mt, order)`, refilling it first from the zone when empty (`rmqueue_bulk`, the only
    /// step that takes the zone lock). The block comes back allocated (refcount 1). `None`
    /// when the zone has no block of any type left. Watermarks are the caller's business
    /// (Linux checks them in `get_page_from_freelist` before `rmqueue`).
    pub(crate) fn rmqueue_pcplist(&self, pcp: &mut PerCpuPages, order: u32, mt: Migratetype) -> Option<Pfn> {
        self.check_pcp(pcp);
        if mt == Migratetype::Cma || !pcp_allowed_order(order) {
            return None; // CMA pageblocks have no per-CPU lists: cma_alloc only.
        }
        let zi = pcp.zone as usize;
        pcp.free_factor >>= 1;
        let pindex = order_to_pindex(mt, order);
        if pcp.lists[pindex].is_empty() {
            let mut batch = pcp.batch;
            if batch > 1 {
                batch = (batch >> order).max(2);
            }
            let mut zone = self.zones[zi].lock();
            self.rmqueue_bulk(&mut zone, pcp, order, batch, mt);
        }
        let idx = pcp.pop(&self.mem_map, pindex, false)?;
        pcp.count -= 1 << order;
        pcp.alloc_delta += 1 << order;
        // The listed block belongs to this pageset alone: no other CPU changes its state.
        self.set_allocated(self.mem_map.pfn_of(idx), order, mt);
        Some(Pfn(self.mem_map.pfn_of(idx)))
    }

    /// `rmqueue_bulk`: up to `count` blocks of `order` and `mt` (with fallback stealing) from
    /// the zone onto the tail of list `(mt, order)` (caller holds both locks). Returns the
    /// blocks added.
    fn rmqueue_bulk(&self, zone: &mut Locked<'_>, pcp: &mut PerCpuPages, order: u32, count: u32, mt: Migratetype) -> u32 {
        let pindex = order_to_pindex(mt, order);
        pcp.fold(zone);
        let mut added = 0;
        for _ in 0..count {
            let Some(pfn) = rmqueue(&self.mem_map, zone, order, mt) else { break };
            let idx = self.mem_map.idx(pfn).expect("block inside the map");
            let page = self.mem_map.at(idx);
            page.set_state(PageFlags::PCP, order, mt);
            pcp.push(&self.mem_map, pindex, idx, true);
            add_i(&zone.nr_pcp_pages, 1 << order);
            pcp.count += 1 << order;
            added += 1;
        }
        added
    }

    /// `free_unref_page` for a block of `order <= PAGE_ALLOC_COSTLY_ORDER` of `pcp`'s zone
    /// (caller holds `pcp`'s lock; no other lock is taken unless the pageset spills): claims
    /// the allocated head atomically, lists it under its pageblock's migratetype, and once
    /// `count >= high` gives `nr_pcp_free` pages back (`free_pcppages_bulk`).
    ///
    /// # Errors
    /// `Err(())` when the block is not an allocated head of this order in `pcp`'s zone outside
    /// CMA pageblocks (or another CPU freed it first): nothing changed, and the caller's
    /// checked free ([`Node::free_pages`]) says why.
    pub(crate) fn free_unref_page(&self, pcp: &mut PerCpuPages, pfn: u64, order: u32) -> Result<(), ()> {
        self.check_pcp(pcp);
        if !pcp_allowed_order(order) || pfn & ((1 << order) - 1) != 0 {
            return Err(());
        }
        let idx = self.mem_map.idx(pfn).ok_or(())?;
        let page = self.mem_map.at(idx);
        let st = page.state();
        let zi = pcp.zone as usize;
        if st.flags() != PageFlags::HEAD || st.order() != order || st.zone() != zi as u8 {
            return Err(());
        }
        let zone = &self.zones[zi];
        let mt = pageblock_mt(&self.mem_map, zone.pageblock_order, pfn);
        if mt == Migratetype::Cma {
            return Err(());
        }
        let listed = State::new(PageFlags::PCP, order as u8, mt as u8, st.zone());
        page.cas_state(st, listed).map_err(|_| ())?;
        pcp.alloc_delta -= 1 << order;
        let pindex = order_to_pindex(mt, order);
        pcp.push(&self.mem_map, pindex, idx, false);
        pcp.count += 1 << order;
        // free_unref_page_commit: nr_pcp_high without reclaim is `high`, 0 for free_high.
        let free_high = pcp.free_factor != 0 && order != 0;
        let high = if free_high { 0 } else { pcp.high };
        if pcp.count >= high {
            let n = pcp.nr_pcp_free(high, free_high);
            self.free_pcppages_bulk(pcp, n, pindex);
        }
        Ok(())
    }

    /// `free_pcppages_bulk`: gives up to `count` pages of `pcp` back to the buddy lists, list
    /// by list round-robin starting with `pindex`, each from its tail, each to the buddy list
    /// of the migratetype it was listed under (caller holds `pcp`'s lock; takes the zone lock
    /// once).
    fn free_pcppages_bulk(&self, pcp: &mut PerCpuPages, count: u32, pindex: usize) {
        let mut count = i64::from(count.min(pcp.count));
        if count == 0 {
            return;
        }
        let (mut min_pindex, mut max_pindex) = (0usize, NR_PCP_LISTS - 1);
        let mut pindex = pindex as isize - 1;
        let zi = pcp.zone as usize;
        let mut zone = self.zones[zi].lock();
        pcp.fold(&zone);
        while count > 0 {
            loop {
                pindex += 1;
                if pindex as usize > max_pindex {
                    pindex = min_pindex as isize;
                }
                let p = pindex as usize;
                if !pcp.lists[p].is_empty() {
                    break;
                }
                if p == max_pindex {
                    max_pindex -= 1;
                }
                if p == min_pindex {
                    min_pindex += 1;
                }
            }
            let p = pindex as usize;
            let order = pindex_to_order(p);
            let nr_pages = 1u32 << order;
            while count > 0 {
                let Some(idx) = pcp.pop(&self.mem_map, p, true) else { break };
                count -= i64::from(nr_pages);
                pcp.count -= nr_pages;
                let page = self.mem_map.at(idx);
                let mt = page.migratetype();
                page.set_flags(PageFlags(0));
                page.set_order(0);
                add_i(&zone.nr_pcp_pages, -i64::from(nr_pages));
                free_one_page(&self.mem_map, &mut zone, self.mem_map.pfn_of(idx), order, mt, false);
            }
        }
    }

    /// `drain_pages_zone`: every page of `pcp` back to the buddy lists.
    fn drain_pages_zone(&self, pcp: &mut PerCpuPages) {
        if pcp.count != 0 {
            self.free_pcppages_bulk(pcp, pcp.count, 0);
        } else if pcp.alloc_delta != 0 {
            pcp.fold(&self.zones[pcp.zone as usize].lock());
        }
    }
}

impl<'a> NodeSet<'a> {
    fn pcp_node(&self, pcp: &PerCpuPages) -> &Node<'a> {
        self.node(pcp.nid).expect("pageset of a node that is not online")
    }
}

/// The multi-CPU page allocator: a [`NodeSet`] whose zones each have their own lock and,
/// per CPU, a [`PerCpuPages`] per populated zone, each behind its own spin lock. The pagesets
/// live in caller-provided storage, one [`PerCpuPagesets`] per CPU; every CPU lists the same
/// `(nid, zone)` pairs in the same order. A populated zone without a pageset (storage sized
/// before the nodes existed, wrongly) is served by the buddy lists directly.
/// Construct once (e.g. in a `spin::Once`) after `memblock_free_all`,
/// `init_per_zone_wmark_min` and `build_all_zonelists`; then call
/// [`PageAllocator::setup_per_cpu_pageset`]. See the module documentation for locking and
/// interrupt masking.
pub struct PageAllocator<'a> {
    nodes: NodeSet<'a>,
    pcp: &'a [&'a PerCpuPagesets],
    /// Index of zone `(nid, zone)`'s pageset in every CPU's [`PerCpuPagesets`], or [`NO_SLOT`].
    slots: [[u8; MAX_NR_ZONES]; MAX_NODES],
}

impl fmt::Debug for PageAllocator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageAllocator").field("cpus", &self.pcp.len()).finish()
    }
}

impl<'a> PageAllocator<'a> {
    /// Wraps `nodes` with one set of pagesets per CPU in `pcp` (`pcp.len()` CPUs, each in that
    /// CPU's own memory), which should hold boot pagesets ([`PerCpuPages::boot`]), one per
    /// populated zone ([`NodeSet::populated_zones`]).
    ///
    /// # Panics
    /// If the CPUs' pagesets do not list the same `(nid, zone)` pairs in the same order, if a
    /// pair repeats or names a node `>= MAX_NODES`, or if a CPU has more than [`PCP_SLOTS`].
    pub fn new(nodes: NodeSet<'a>, pcp: &'a [&'a PerCpuPagesets]) -> Self {
        let mut slots = [[NO_SLOT; MAX_NR_ZONES]; MAX_NODES];
        if let Some(first) = pcp.first() {
            assert!(first.len() <= PCP_SLOTS, "{} pagesets per CPU, more than {PCP_SLOTS}", first.len());
            for (i, m) in first.iter().enumerate() {
                let p = m.lock();
                let slot = usize::try_from(p.nid)
                    .ok()
                    .and_then(|n| slots.get_mut(n))
                    .map(|row| &mut row[p.zone as usize])
                    .unwrap_or_else(|| panic!("pageset {i} names node {} >= MAX_NODES", p.nid));
                assert!(*slot == NO_SLOT, "two pagesets for node {} zone {}", p.nid, p.zone.name());
                *slot = i as u8;
            }
            for (cpu, sets) in pcp.iter().enumerate() {
                let same = sets.len() == first.len()
                    && sets.iter().zip(first.iter()).all(|(a, b)| {
                        let key = |m: &spin::Mutex<PerCpuPages>| {
                            let p = m.lock();
                            (p.nid, p.zone)
                        };
                        key(a) == key(b)
                    });
                assert!(same, "CPU {cpu}'s pagesets are not laid out like CPU 0's");
            }
        }
        Self { nodes, pcp, slots }
    }

    /// The index of zone `(nid, zone)`'s pageset, if it has one.
    fn slot(&self, nid: i32, zone: ZoneType) -> Option<usize> {
        let s = *self.slots.get(usize::try_from(nid).ok()?)?.get(zone as usize)?;
        (s != NO_SLOT).then_some(s as usize)
    }

    /// Runs `f` on the node set. Every zone has its own lock, taken by the methods that need
    /// it; [`NodeSet::check`] and the reports are exact only while no CPU allocates or frees.
    pub fn with_nodes<R>(&self, f: impl FnOnce(&NodeSet<'a>) -> R) -> R {
        f(&self.nodes)
    }

    /// Runs `f` with CPU `cpu`'s pageset of zone `(nid, zone)` locked.
    ///
    /// # Panics
    /// If `cpu` has no pagesets or the zone has no pageset (not populated).
    pub fn with_pageset<R>(&self, cpu: usize, nid: i32, zone: ZoneType, f: impl FnOnce(&PerCpuPages) -> R) -> R {
        let s = self.slot(nid, zone).unwrap_or_else(|| panic!("node {nid} zone {} has no pageset", zone.name()));
        f(&self.pcp[cpu][s].lock())
    }

    /// The `(batch, high)` 6.1's `zone_set_high_and_batch` gives zone `(nid, zone)` with
    /// CPUs `0..nr_cpus` and `cpu_to_node`: `batch = max(1, zone_batchsize)`, `high =
    /// zone_highsize(zone, batch, CPUs of the zone's node)`.
    pub fn pageset_high_and_batch(&self, nid: i32, zone: ZoneType, nr_cpus: usize, cpu_to_node: &dyn Fn(usize) -> i32) -> Option<(u32, u32)> {
        let z = self.nodes.zone(nid, zone)?;
        let in_node = (0..nr_cpus).filter(|&c| cpu_to_node(c) == nid).count() as u32;
        let batch = zone_batchsize(z).max(1);
        Some((zone_highsize(z, batch, in_node, nr_cpus as u32), batch))
    }

    /// `setup_per_cpu_pageset`: for CPUs `0..nr_cpus` and every populated zone, `batch` and
    /// `high` from [`PageAllocator::pageset_high_and_batch`]; `cpu_to_node(cpu)` gives each
    /// CPU's node. Other CPUs keep the boot pageset. Prints one line per zone, with the values
    /// in use:
    ///
    /// ```text
    /// Node 0, zone   Normal: pageset batch 63 high 6709
    /// ```
    pub fn setup_per_cpu_pageset(&self, nr_cpus: usize, cpu_to_node: &dyn Fn(usize) -> i32, log: &mut dyn LineSink) {
        let nr_cpus = nr_cpus.min(self.pcp.len());
        let mut settings: heapless::Vec<(i32, ZoneType, u32, u32), PCP_SLOTS> = heapless::Vec::new();
        for (nid, z) in self.nodes.populated_zones() {
            let Some((high, batch)) = self.pageset_high_and_batch(nid, z, nr_cpus, cpu_to_node) else { continue };
            let _ = settings.push((nid, z, high, batch));
            log.line(format_args!("Node {}, zone {:>8}: pageset batch {} high {}", nid, z.name(), batch, high));
        }
        for cpu in &self.pcp[..nr_cpus] {
            for &(nid, z, high, batch) in &settings {
                if let Some(s) = self.slot(nid, z) {
                    cpu[s].lock().set_high_and_batch(high, batch);
                }
            }
        }
    }

    /// One zone's attempt of the zonelist walk (`zone_watermark_fast` + `rmqueue`): orders up
    /// to `PAGE_ALLOC_COSTLY_ORDER` through CPU `cpu`'s pageset when its lock is free, else
    /// (or for higher orders, or when the refill found nothing) the buddy lists.
    fn try_zone(&self, cpu: usize, (nid, z): (i32, ZoneType), order: u32, gfp: Gfp, highest: usize, pass: Wmark) -> Option<Pfn> {
        let node = self.nodes.node(nid)?;
        if !node.zone_usable(z as usize, order, gfp, highest, pass) {
            return None;
        }
        if pcp_allowed_order(order) {
            if let Some(mut pcp) = self.slot(nid, z).and_then(|s| self.pcp[cpu][s].try_lock()) {
                if let Some(p) = node.rmqueue_pcplist(&mut pcp, order, gfp.migratetype) {
                    return Some(p);
                }
            }
        }
        node.rmqueue_buddy(z as usize, order, gfp.migratetype).map(Pfn)
    }

    /// Allocates `1 << order` pages on CPU `cpu`, walking `preferred_nid`'s zonelist like
    /// [`NodeSet::alloc_pages`]; orders up to `PAGE_ALLOC_COSTLY_ORDER` go through the per-CPU
    /// lists. When the low and min passes fail, every CPU's lists are drained and the min pass
    /// retried once (`__alloc_pages_direct_reclaim`'s `drain_all_pages`), then `__GFP_NOFAIL`
    /// ignores the watermarks.
    ///
    /// # Errors
    /// As [`Node::alloc_pages`].
    ///
    /// # Panics
    /// If `cpu` has no pagesets.
    pub fn alloc_pages(&self, cpu: usize, preferred_nid: i32, gfp: Gfp, order: u32) -> Result<Pfn, AllocError> {
        assert!(cpu < self.pcp.len(), "cpu {cpu} >= {}", self.pcp.len());
        if order >= MAX_ORDER {
            return Err(AllocError::InvalidOrder { order });
        }
        let zl = self.nodes.zonelist_for(preferred_nid);
        let highest = self.nodes.config.resolve_zone(gfp.highest_zone);
        let walk = |pass: Wmark| {
            zl.as_slice()
                .iter()
                .filter(|e| e.1 <= highest)
                .find_map(|&zref| self.try_zone(cpu, zref, order, gfp, highest as usize, pass))
        };
        for pass in [Wmark::Low, Wmark::Min] {
            if let Some(p) = walk(pass) {
                return Ok(p);
            }
        }
        self.drain_all();
        if let Some(p) = walk(Wmark::Min) {
            return Ok(p);
        }
        if gfp.nofail {
            if let Some(p) = walk(Wmark::None) {
                return Ok(p);
            }
        }
        Err(alloc_failure(gfp, order))
    }

    /// Frees a block on CPU `cpu`: orders up to `PAGE_ALLOC_COSTLY_ORDER` to this CPU's
    /// pageset of the page's zone (`free_unref_page`, touching no shared lock unless the
    /// pageset spills; the buddy lists directly if that pageset is locked by a drain), higher
    /// orders to the buddy lists (`__free_pages`). A block allocated on another CPU lands on
    /// this CPU's lists (a remote free).
    ///
    /// # Errors
    /// As [`NodeSet::free_pages`]. Nothing changes on error.
    ///
    /// # Panics
    /// If `cpu` has no pagesets.
    pub fn free_pages(&self, cpu: usize, pfn: Pfn, order: u32) -> Result<(), FreeError> {
        assert!(cpu < self.pcp.len(), "cpu {cpu} >= {}", self.pcp.len());
        let nid = self.nodes.pfn_to_nid(pfn.0).ok_or(FreeError::OutsideMap { pfn })?;
        let node = self.nodes.node(nid).ok_or(FreeError::OutsideMap { pfn })?;
        if pcp_allowed_order(order) {
            let zone = node.mem_map().get(pfn.0).and_then(|p| p.zone());
            if let Some(mut pcp) = zone.and_then(|z| self.slot(nid, z)).and_then(|s| self.pcp[cpu][s].try_lock()) {
                if node.free_unref_page(&mut pcp, pfn.0, order).is_ok() {
                    return Ok(());
                }
            }
        }
        // Not for the lists, or not a block that may be freed: the checked path says why.
        node.free_pages(pfn, order)
    }

    /// `drain_local_pages`: CPU `cpu`'s pagesets back to the buddy lists.
    pub fn drain_local(&self, cpu: usize) {
        for m in self.pcp[cpu] {
            let mut pcp = m.lock();
            // Also a pageset with an empty list: its counts of pages handed out or taken back
            // since the last fold go into the zone (drain_pages_zone folds them).
            self.nodes.pcp_node(&pcp).drain_pages_zone(&mut pcp);
        }
    }

    /// `drain_all_pages(NULL)`: every CPU's pagesets back to the buddy lists (done from the
    /// calling CPU, taking each remote pageset's lock, where Linux queues work on each CPU).
    pub fn drain_all(&self) {
        (0..self.pcp.len()).for_each(|cpu| self.drain_local(cpu));
    }

    /// Free pages in the buddy lists plus pages on per-CPU lists (each pageset locked in
    /// turn).
    pub fn nr_free_pages_including_pcp(&self) -> u64 {
        self.nodes.nr_free_pages() + self.nr_pcp_pages()
    }

    /// Pages on all per-CPU lists (each pageset locked in turn).
    pub fn nr_pcp_pages(&self) -> u64 {
        self.pcp.iter().flat_map(|sets| sets.iter()).map(|m| u64::from(m.lock().count)).sum()
    }

    /// Zone `(nid, zone)`'s `(free, on per-CPU lists, allocated)` pages, with the pagesets'
    /// unfolded counts added in (each pageset locked in turn: exact when no other CPU
    /// allocates or frees meanwhile).
    pub fn zone_counts(&self, nid: i32, zone: ZoneType) -> Option<(u64, u64, u64)> {
        let z = self.nodes.zone(nid, zone)?;
        let (mut listed, mut delta) = (0u64, 0i64);
        if let Some(s) = self.slot(nid, zone) {
            for sets in self.pcp {
                let p = sets[s].lock();
                listed += u64::from(p.count);
                delta += p.alloc_delta;
            }
        }
        Some((z.free_pages(), listed, (z.raw_allocated() + delta).max(0) as u64))
    }

    /// Calls `f(cpu, nid, zone, mt, order, pfn)` for every block on every pageset (each
    /// pageset locked in turn: a consistent picture only when no other CPU allocates or frees).
    pub fn for_each_pcp_page(&self, f: &mut dyn FnMut(usize, i32, ZoneType, Migratetype, u32, Pfn)) {
        for (cpu, sets) in self.pcp.iter().copied().enumerate() {
            for m in sets {
                let pcp = m.lock();
                let node = self.nodes.pcp_node(&pcp);
                for pindex in 0..NR_PCP_LISTS {
                    let (mt, order) = (Migratetype::ALL[pindex % MIGRATE_TYPES], pindex_to_order(pindex));
                    for idx in pcp.walk(&node.mem_map, pindex) {
                        f(cpu, pcp.nid, pcp.zone, mt, order, Pfn(node.mem_map.pfn_of(idx)));
                    }
                }
            }
        }
    }

    /// Locks every pageset of every CPU (in CPU and slot order, with `try_lock`, starting
    /// over while one is busy so that a CPU spinning on a zone lock is never waited on while
    /// holding one) and runs `f` on the guards, CPU by CPU.
    fn with_all_pagesets<R>(&self, f: impl FnOnce(&[spin::MutexGuard<'_, PerCpuPages>]) -> R) -> Option<R> {
        if self.pcp.iter().map(|s| s.len()).sum::<usize>() > MAX_CHECK_PAGESETS {
            return None;
        }
        loop {
            let mut guards: heapless::Vec<spin::MutexGuard<'_, PerCpuPages>, MAX_CHECK_PAGESETS> = heapless::Vec::new();
            let all = self.pcp.iter().flat_map(|sets| sets.iter()).all(|m| m.try_lock().is_some_and(|g| guards.push(g).is_ok()));
            if all {
                return Some(f(&guards));
            }
            drop(guards);
            core::hint::spin_loop();
        }
    }

    /// [`NodeSet::check`], plus the pagesets: every listed block is a `PCP` head of the
    /// pageset's zone, listed under its recorded migratetype and order, no list is malformed,
    /// and per zone the pagesets' counts add up to the zone's pcp count. Holds every pageset
    /// lock throughout (which freezes every list and every fast path) and each zone's lock
    /// while that zone is checked.
    ///
    /// # Errors
    /// The first violation found.
    pub fn check(&self) -> Result<(), CheckError> {
        let per_cpu = self.pcp.first().map_or(1, |s| s.len().max(1));
        let checked = self.with_all_pagesets(|guards| {
            let delta = |nid: i32, z: ZoneType| {
                self.slot(nid, z).map_or(0, |s| guards.chunks(per_cpu).map(|row| row.get(s).map_or(0, |p| p.alloc_delta)).sum())
            };
            self.nodes.check_with(&delta)?;
            let mut per_zone = [0u64; PCP_SLOTS];
            for row in guards.chunks(per_cpu) {
                for (s, pcp) in row.iter().enumerate() {
                    let node = self.nodes.pcp_node(pcp);
                    let map = &node.mem_map;
                    let mut n = 0u32;
                    for pindex in 0..NR_PCP_LISTS {
                        let (mt, order) = (Migratetype::ALL[pindex % MIGRATE_TYPES], pindex_to_order(pindex));
                        let mut prev = Page::NONE;
                        for idx in pcp.walk(map, pindex) {
                            let p = map.at(idx);
                            let pfn = map.pfn_of(idx);
                            let err = |what| Err(CheckError { zone: Some(pcp.zone), pfn: Some(pfn), what });
                            if !(p.is_pcp() && p.zone() == Some(pcp.zone) && p.migratetype() == mt && p.order() == order) {
                                return err("pageset lists a block that is not a pcp block of its zone, type and order");
                            }
                            if p.prev() != prev {
                                return err("pageset list prev link broken");
                            }
                            prev = idx;
                            n += 1 << order;
                        }
                        if pcp.lists[pindex].tail != prev {
                            return Err(CheckError { zone: Some(pcp.zone), pfn: None, what: "pageset list tail is not its last element" });
                        }
                    }
                    if n != pcp.count {
                        return Err(CheckError { zone: Some(pcp.zone), pfn: None, what: "pageset count differs from its lists" });
                    }
                    per_zone[s] += u64::from(n);
                }
            }
            for node in self.nodes.nodes() {
                for z in node.zones() {
                    let listed = self.slot(node.nid, z.zone_type).map_or(0, |s| per_zone[s]);
                    if listed as i64 != z.raw_pcp() - delta(node.nid, z.zone_type) {
                        return Err(CheckError {
                            zone: Some(z.zone_type),
                            pfn: None,
                            what: "pagesets hold a different number of pages than the zone's pcp count",
                        });
                    }
                }
            }
            Ok(())
        });
        checked.unwrap_or(Err(CheckError { zone: None, pfn: None, what: "more pagesets than one check can hold locked" }))
    }

    /// `/proc/buddyinfo` (per-CPU pages are not in it, as in Linux).
    pub fn buddyinfo(&self, log: &mut dyn LineSink) {
        self.nodes.buddyinfo(log);
    }

    /// `/proc/zoneinfo` with 6.1's `pagesets` block per populated zone:
    ///
    /// ```text
    ///   pagesets
    ///     cpu: 0
    ///               count: 12
    ///               high:  1286
    ///               batch: 63
    /// ```
    ///
    /// Pageset values are read before the zone part (each pageset locked in turn).
    pub fn zoneinfo(&self, log: &mut dyn LineSink) {
        let mut sets: heapless::Vec<[(u32, u32, u32); PCP_SLOTS], MAX_REPORT_CPUS> = heapless::Vec::new();
        for cpu_sets in self.pcp.iter().copied().take(MAX_REPORT_CPUS) {
            let mut row = [(0u32, 0u32, 0u32); PCP_SLOTS];
            for (v, m) in row.iter_mut().zip(cpu_sets) {
                let p = m.lock();
                *v = (p.count, p.high, p.batch);
            }
            let _ = sets.push(row);
        }
        for node in self.nodes.nodes() {
            let nid = node.nid;
            node.zoneinfo_with(log, &mut |zone, log| {
                log.line(format_args!("  pagesets"));
                let Some(s) = self.slot(nid, zone.zone_type) else { return };
                for (cpu, row) in sets.iter().enumerate() {
                    let (count, high, batch) = row[s];
                    log.line(format_args!("    cpu: {cpu}"));
                    log.line(format_args!("              count: {count}"));
                    log.line(format_args!("              high:  {high}"));
                    log.line(format_args!("              batch: {batch}"));
                }
            });
        }
    }

    /// [`NodeSet::show_free_areas`] (its zone lines carry `free_pcp`), preceded by the
    /// per-CPU totals line `free:N free_pcp:N` (pages, as in 6.1's first `show_free_areas` line).
    pub fn show_free_areas(&self, log: &mut dyn LineSink) {
        log.line(format_args!("free:{} free_pcp:{}", self.nodes.nr_free_pages(), self.nr_pcp_pages()));
        self.nodes.show_free_areas_with(log, &|nid, z| self.zone_counts(nid, z.zone_type).map_or(0, |c| c.1));
    }

    /// The `Memory:` line ([`NodeSet::mem_init_print_info`]).
    pub fn mem_init_print_info(&self, sections: &crate::KernelSections, log: &mut dyn LineSink) {
        self.nodes.mem_init_print_info(sections, log);
    }

    /// KiB on per-CPU lists of zone `(nid, zone)` (`free_pcp` of the zone line).
    pub fn free_pcp_kib(&self, nid: i32, zone: ZoneType) -> u64 {
        self.zone_counts(nid, zone).map_or(0, |c| k(c.1))
    }
}
