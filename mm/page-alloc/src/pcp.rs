//! Per-CPU pagesets (`struct per_cpu_pages`, mm/page_alloc.c 6.1), order 0 only, and
//! [`PageAllocator`], the multi-CPU facade over a [`NodeSet`].
//!
//! # Pagesets
//! Each CPU has one [`PerCpuPages`] per populated zone of every node (a memoryless node's CPUs
//! use the pagesets of the zones their zonelist falls back to): `count` pages on three LIFO lists (one per
//! [`Migratetype`]), refilled `batch` pages at a time from the buddy lists (`rmqueue_bulk`,
//! appended at the tail in pfn order) and emptied `batch`-ish pages at a time back to them
//! (`free_pcppages_bulk`: round-robin over the lists starting with the one just freed to,
//! taking from the tail) when `count` reaches `high` (`free_unref_page_commit`, with 6.1's
//! `nr_pcp_free` doubling via `free_factor`, halved again on every allocation).
//! - `batch` = [`zone_batchsize`], `high` = [`zone_highsize`] (`percpu_pagelist_high_fraction`
//!   = 0: the zone's low watermark split across the CPUs of the zone's node), set by
//!   [`PageAllocator::setup_per_cpu_pageset`]; until then every pageset is the boot pageset
//!   (`batch` 1, `high` 0): a free goes straight back to the buddy and an allocation takes one
//!   page through the list.
//! - A page on a list is neither free in the buddy sense (`NR_FREE_PAGES` and the watermarks
//!   exclude it, as in Linux) nor allocated: its `struct page` carries [`crate::PageFlags::PCP`]
//!   and its zone counts it in [`crate::Zone::free_pcp`], so [`Node::check`] accounts for it
//!   (`managed = buddy free + allocated + pcp`) and a second free of it is a double free.
//! - Storage is bounded: one pool of `PCP_MAX_HIGH + PCP_MAX_BATCH + 1` slots (`u32` pfn plus
//!   `u16` next/prev links, 8 bytes a slot), about 8.7 KiB per pageset. `high` is capped at
//!   [`PCP_MAX_HIGH`] (Linux has no cap; on zones whose formula gives more, fewer pages are
//!   kept per CPU). Pages with a pfn above `u32::MAX` bypass the lists.
//! - The migratetype a page is listed under: its pageblock's at free (`free_unref_page`), the
//!   requested one at refill (`__rmqueue_smallest` sets `pcppage_migratetype`); that is the
//!   buddy list it returns to on drain.
//!
//! # Locking (Linux: `pcp->lock`, then `zone->lock`)
//! - Each pageset is behind its own `spin::Mutex`; all zones of all nodes share one
//!   `spin::Mutex<NodeSet>` (the "zone lock"): the page metadata and the zonelist walk span
//!   nodes, and with `forbid(unsafe_code)` the `struct page` array can only be written under
//!   the lock that owns it. Order is always pageset lock, then node lock; never the reverse.
//! - Because page metadata changes need the node lock, the list operations
//!   ([`NodeSet::rmqueue_pcplist`], [`NodeSet::free_unref_page`]) take both locks; what the
//!   lists save is the buddy work (split/merge), done `batch` pages at a time as in Linux, not
//!   the node lock itself.
//! - Like Linux's `pcp_spin_trylock`, [`PageAllocator`] only *tries* the local pageset lock:
//!   if another CPU is draining it, the request goes straight to the buddy lists.
//! - Interrupts: Linux disables them (or uses `pcp_trylock_prepare`) around pageset access.
//!   This crate cannot; a caller that allocates or frees pages from interrupt context must mask
//!   interrupts on the current CPU around every [`PageAllocator`] call, else an interrupt
//!   arriving while its CPU holds a lock would spin forever.
use core::fmt;

use mm_types::LineSink;

use crate::buddy::{alloc_failure, free_one_page, pageblock_mt, rmqueue, Wmark};
use crate::page::PageFlags;
use crate::report::k;
use crate::{
    AllocError, CheckError, FreeError, Gfp, Migratetype, Node, NodeSet, Pfn, Zone, ZoneType, MAX_NODES, MAX_NR_ZONES,
    MAX_ORDER, MIGRATE_TYPES,
};

/// Cap on a pageset's `high` (pages).
pub const PCP_MAX_HIGH: u32 = 1024;
/// The largest [`zone_batchsize`]: `rounddown_pow_of_two(64 + 32) - 1` (1 MiB / 4 KiB / 4).
pub const PCP_MAX_BATCH: u32 = 63;
/// Slots of a pageset: at most `high - 1` pages before a refill of `batch`.
const PCP_CAPACITY: usize = (PCP_MAX_HIGH + PCP_MAX_BATCH) as usize + 1;
const NIL: u16 = u16::MAX;
/// Most pagesets a CPU can have: one per zone of every node. A CPU has one per *populated*
/// zone ([`NodeSet::populated_zones`]), so storage is sized by the machine, not by this bound.
pub const PCP_SLOTS: usize = MAX_NODES * MAX_NR_ZONES;
/// Most CPUs whose pagesets a report collects at once.
pub const MAX_REPORT_CPUS: usize = 16;
/// No pageset for a zone in [`PageAllocator`]'s slot table.
const NO_SLOT: u8 = u8::MAX;

/// One CPU's pagesets, one per populated zone, each recording its `(nid, zone)`; Linux keeps
/// them in per-CPU memory (`zone->per_cpu_pageset`), and so does the firmware: the caller
/// provides the storage (about 8.7 KiB a pageset), sized by [`crate::populated_zones`].
pub type PerCpuPagesets = [spin::Mutex<PerCpuPages>];

const _: () = assert!(PCP_CAPACITY < NIL as usize);

/// `zone_batchsize` (6.1, MMU): `min(managed >> 10, 1 MiB / PAGE_SIZE) / 4`, at least 1,
/// then `rounddown_pow_of_two(batch + batch / 2) - 1`. May be 0 for tiny zones (the caller
/// uses `max(1, …)` as `zone_set_high_and_batch` does).
pub fn zone_batchsize(zone: &Zone) -> u32 {
    let pages_per_mib = (1u64 << 20) >> mm_types::PAGE_SHIFT;
    let batch = ((zone.managed_pages >> 10).min(pages_per_mib) / 4).max(1);
    let x = batch + batch / 2;
    let pow = 1u64 << (63 - x.leading_zeros());
    (pow - 1) as u32
}

/// `zone_highsize` (6.1, `percpu_pagelist_high_fraction` = 0, `cpu_online` = 0): the zone's
/// low watermark split across `cpus_in_node` CPUs (all `nr_online_cpus` if the node has none),
/// at least `batch * 4`.
pub fn zone_highsize(zone: &Zone, batch: u32, cpus_in_node: u32, nr_online_cpus: u32) -> u32 {
    let total_pages = zone.low_wmark_pages();
    let split = if cpus_in_node == 0 { nr_online_cpus.max(1) } else { cpus_in_node };
    let high = (total_pages / u64::from(split)) as u32;
    high.max(batch << 2)
}

/// One CPU's pageset for one zone (`struct per_cpu_pages`). See the module documentation.
pub struct PerCpuPages {
    nid: i32,
    zone: ZoneType,
    count: u32,
    high: u32,
    batch: u32,
    free_factor: u8,
    head: [u16; MIGRATE_TYPES],
    tail: [u16; MIGRATE_TYPES],
    free_slot: u16,
    pfn: [u32; PCP_CAPACITY],
    next: [u16; PCP_CAPACITY],
    prev: [u16; PCP_CAPACITY],
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
    pub fn boot(nid: i32, zone: ZoneType) -> Self {
        Self {
            nid,
            zone,
            count: 0,
            high: 0,
            batch: 1,
            free_factor: 0,
            head: [NIL; MIGRATE_TYPES],
            tail: [NIL; MIGRATE_TYPES],
            free_slot: 0,
            pfn: [0; PCP_CAPACITY],
            next: core::array::from_fn(|i| if i + 1 < PCP_CAPACITY { (i + 1) as u16 } else { NIL }),
            prev: [NIL; PCP_CAPACITY],
        }
    }

    /// The node of the zone this pageset serves.
    pub const fn nid(&self) -> i32 {
        self.nid
    }
    /// The zone this pageset serves.
    pub const fn zone(&self) -> ZoneType {
        self.zone
    }
    /// Pages on the lists (`count`).
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

    /// Sets `high` (capped at [`PCP_MAX_HIGH`]) and `batch` (clamped to
    /// `1..=PCP_MAX_BATCH`) (`pageset_update`). Pages already listed stay.
    pub fn set_high_and_batch(&mut self, high: u32, batch: u32) {
        self.high = high.min(PCP_MAX_HIGH);
        self.batch = batch.clamp(1, PCP_MAX_BATCH);
    }

    /// The pfns on `mt`'s list, head first.
    pub fn pfns(&self, mt: Migratetype) -> impl Iterator<Item = Pfn> + '_ {
        let mut cur = self.head[mt as usize];
        core::iter::from_fn(move || {
            if cur == NIL {
                return None;
            }
            let i = cur as usize;
            cur = self.next[i];
            Some(Pfn(u64::from(self.pfn[i])))
        })
    }

    fn is_empty(&self, mt: usize) -> bool {
        self.head[mt] == NIL
    }

    /// Links `pfn` at the head (`list_add`) or tail (`list_add_tail`); false if full or the
    /// pfn does not fit 32 bits.
    fn push(&mut self, mt: usize, pfn: u64, tail: bool) -> bool {
        let Ok(pfn) = u32::try_from(pfn) else { return false };
        let slot = self.free_slot;
        if slot == NIL {
            return false;
        }
        let i = slot as usize;
        self.free_slot = self.next[i];
        self.pfn[i] = pfn;
        if tail {
            self.next[i] = NIL;
            self.prev[i] = self.tail[mt];
            match self.tail[mt] {
                NIL => self.head[mt] = slot,
                t => self.next[t as usize] = slot,
            }
            self.tail[mt] = slot;
        } else {
            self.prev[i] = NIL;
            self.next[i] = self.head[mt];
            match self.head[mt] {
                NIL => self.tail[mt] = slot,
                h => self.prev[h as usize] = slot,
            }
            self.head[mt] = slot;
        }
        true
    }

    /// Unlinks the head (`list_first_entry`) or tail (`list_last_entry`) of `mt`'s list.
    fn pop(&mut self, mt: usize, tail: bool) -> Option<u64> {
        let slot = if tail { self.tail[mt] } else { self.head[mt] };
        if slot == NIL {
            return None;
        }
        let i = slot as usize;
        let (p, n) = (self.prev[i], self.next[i]);
        match p {
            NIL => self.head[mt] = n,
            p => self.next[p as usize] = n,
        }
        match n {
            NIL => self.tail[mt] = p,
            n => self.prev[n as usize] = p,
        }
        self.next[i] = self.free_slot;
        self.prev[i] = NIL;
        self.free_slot = slot;
        Some(u64::from(self.pfn[i]))
    }

    /// `nr_pcp_free` (6.1, no high-order free): how many pages to give back once `count`
    /// reached `high`.
    fn nr_pcp_free(&mut self) -> u32 {
        let (high, batch) = (self.high, self.batch);
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

impl<'a> NodeSet<'a> {
    fn pcp_node(&mut self, pcp: &PerCpuPages) -> &mut Node<'a> {
        self.node_mut(pcp.nid).expect("pageset of a node that is not online")
    }

    /// `rmqueue_pcplist` for order 0 (caller holds `pcp`'s lock and this set's lock): pops
    /// the head of `mt`'s list, refilling it with `batch` pages from the zone first
    /// (`rmqueue_bulk`) when empty. The page comes back allocated (refcount 1). `None` when
    /// the zone has no page of any type left. Watermarks are the caller's business (Linux
    /// checks them in `get_page_from_freelist` before `rmqueue`).
    pub fn rmqueue_pcplist(&mut self, pcp: &mut PerCpuPages, mt: Migratetype) -> Option<Pfn> {
        if mt == Migratetype::Cma {
            return None; // CMA pageblocks have no per-CPU lists: cma_alloc only.
        }
        pcp.free_factor >>= 1;
        if pcp.is_empty(mt as usize) {
            self.rmqueue_bulk(pcp, pcp.batch, mt);
        }
        let pfn = pcp.pop(mt as usize, false)?;
        pcp.count -= 1;
        let zi = pcp.zone as usize;
        let node = self.pcp_node(pcp);
        node.zones[zi].nr_pcp_pages -= 1;
        node.mark_allocated(zi, pfn, 0, mt);
        Some(Pfn(pfn))
    }

    /// `rmqueue_bulk`: up to `count` order-0 pages of `mt` (with fallback stealing) from the
    /// zone onto the tail of `mt`'s list. Returns the pages added.
    fn rmqueue_bulk(&mut self, pcp: &mut PerCpuPages, count: u32, mt: Migratetype) -> u32 {
        let zi = pcp.zone as usize;
        let node = self.pcp_node(pcp);
        let Node { zones, mem_map, .. } = node;
        let zone = &mut zones[zi];
        let mut added = 0;
        for _ in 0..count {
            let Some(pfn) = rmqueue(mem_map, zone, 0, mt) else { break };
            if !pcp.push(mt as usize, pfn, true) {
                // Full, or a pfn above 32 bits: give it back and stop.
                free_one_page(mem_map, zone, pfn, 0, mt, false);
                break;
            }
            let page = mem_map.page_mut(pfn);
            page.flags = PageFlags::PCP;
            page.order = 0;
            page.refcount = 0;
            page.set_migratetype(mt);
            zone.nr_pcp_pages += 1;
            pcp.count += 1;
            added += 1;
        }
        added
    }

    /// `free_unref_page` for an order-0 page allocated from `pcp`'s zone (caller holds `pcp`'s
    /// lock and this set's lock): checks the free like [`Node::free_pages`], lists the page
    /// under its pageblock's migratetype, and once `count >= high` gives `nr_pcp_free` pages
    /// back (`free_pcppages_bulk`).
    ///
    /// # Errors
    /// As [`Node::free_pages`] with order 0; [`FreeError::ZoneMismatch`] if the page is not in
    /// `pcp`'s zone. Nothing changes on error.
    pub fn free_unref_page(&mut self, pcp: &mut PerCpuPages, pfn: Pfn) -> Result<(), FreeError> {
        let nid = self.pfn_to_nid(pfn.0).ok_or(FreeError::OutsideMap { pfn })?;
        let node = self.node_mut(nid).ok_or(FreeError::OutsideMap { pfn })?;
        let zi = node.check_free(pfn, 0)?;
        if nid != pcp.nid || zi != pcp.zone as usize {
            return Err(FreeError::ZoneMismatch { pfn });
        }
        let Node { zones, mem_map, .. } = node;
        let zone = &mut zones[zi];
        let mt = pageblock_mt(mem_map, zone.pageblock_order, pfn.0);
        zone.nr_allocated_pages -= 1;
        let page = mem_map.page_mut(pfn.0);
        page.order = 0;
        page.refcount = 0;
        if !pcp.push(mt as usize, pfn.0, false) {
            page.flags = PageFlags(0);
            free_one_page(mem_map, zone, pfn.0, 0, mt, false);
            return Ok(());
        }
        page.flags = PageFlags::PCP;
        page.set_migratetype(mt);
        zone.nr_pcp_pages += 1;
        pcp.count += 1;
        if pcp.count >= pcp.high {
            let n = pcp.nr_pcp_free();
            self.free_pcppages_bulk(pcp, n, mt);
        }
        Ok(())
    }

    /// `free_pcppages_bulk`: gives up to `count` pages of `pcp` back to the buddy lists, list
    /// by list round-robin starting with `first`'s, each from its tail, each to the buddy list
    /// of the migratetype it was listed under (caller holds both locks).
    pub fn free_pcppages_bulk(&mut self, pcp: &mut PerCpuPages, count: u32, first: Migratetype) {
        let mut count = count.min(pcp.count);
        let zi = pcp.zone as usize;
        let node = self.pcp_node(pcp);
        let Node { zones, mem_map, .. } = node;
        let zone = &mut zones[zi];
        let mut idx = (first as usize + MIGRATE_TYPES - 1) % MIGRATE_TYPES;
        while count > 0 {
            loop {
                idx = (idx + 1) % MIGRATE_TYPES;
                if !pcp.is_empty(idx) {
                    break;
                }
            }
            while count > 0 {
                let Some(pfn) = pcp.pop(idx, true) else { break };
                count -= 1;
                pcp.count -= 1;
                let page = mem_map.page_mut(pfn);
                let mt = page.migratetype();
                page.flags = PageFlags(0);
                zone.nr_pcp_pages -= 1;
                free_one_page(mem_map, zone, pfn, 0, mt, false);
            }
        }
    }

    /// `drain_pages_zone`: every page of `pcp` back to the buddy lists.
    pub fn drain_pages_zone(&mut self, pcp: &mut PerCpuPages) {
        if pcp.count != 0 {
            self.free_pcppages_bulk(pcp, pcp.count, Migratetype::Unmovable);
        }
    }
}

/// The multi-CPU page allocator: a [`NodeSet`] behind one spin lock and, per CPU, a
/// [`PerCpuPages`] per populated zone, each behind its own spin lock. The pagesets live in
/// caller-provided storage, one [`PerCpuPagesets`] per CPU (8.7 KiB per populated zone);
/// every CPU lists the same `(nid, zone)` pairs in the same order. A populated zone without a
/// pageset (storage sized before the nodes existed, wrongly) is served by the buddy lists
/// directly, like pfns above 32 bits.
/// Construct once (e.g. in a `spin::Once`) after `memblock_free_all`,
/// `init_per_zone_wmark_min` and `build_all_zonelists`; then call
/// [`PageAllocator::setup_per_cpu_pageset`]. See the module documentation for locking and
/// interrupt masking.
pub struct PageAllocator<'a> {
    nodes: spin::Mutex<NodeSet<'a>>,
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
        Self { nodes: spin::Mutex::new(nodes), pcp, slots }
    }

    /// The index of zone `(nid, zone)`'s pageset, if it has one.
    fn slot(&self, nid: i32, zone: ZoneType) -> Option<usize> {
        let s = *self.slots.get(usize::try_from(nid).ok()?)?.get(zone as usize)?;
        (s != NO_SLOT).then_some(s as usize)
    }

    /// Runs `f` with the node set locked (the zone lock). Do not call other methods of `self`
    /// from `f`.
    pub fn with_nodes<R>(&self, f: impl FnOnce(&mut NodeSet<'a>) -> R) -> R {
        f(&mut self.nodes.lock())
    }

    /// Runs `f` with CPU `cpu`'s pageset of zone `(nid, zone)` locked.
    ///
    /// # Panics
    /// If `cpu` has no pagesets or the zone has no pageset (not populated).
    pub fn with_pageset<R>(&self, cpu: usize, nid: i32, zone: ZoneType, f: impl FnOnce(&PerCpuPages) -> R) -> R {
        let s = self.slot(nid, zone).unwrap_or_else(|| panic!("node {nid} zone {} has no pageset", zone.name()));
        f(&self.pcp[cpu][s].lock())
    }

    /// `setup_per_cpu_pageset`: for CPUs `0..nr_cpus` and every populated zone, `batch =
    /// max(1, zone_batchsize)` and `high = zone_highsize(zone, batch, CPUs of the zone's node)`
    /// (capped at [`PCP_MAX_HIGH`]); `cpu_to_node(cpu)` gives each CPU's node. Other CPUs keep
    /// the boot pageset. Prints one line per zone, with the values in use:
    ///
    /// ```text
    /// Node 0, zone   Normal: pageset batch 63 high 1024
    /// ```
    pub fn setup_per_cpu_pageset(&self, nr_cpus: usize, cpu_to_node: &dyn Fn(usize) -> i32, log: &mut dyn LineSink) {
        let nr_cpus = nr_cpus.min(self.pcp.len());
        let mut settings: heapless::Vec<(i32, ZoneType, u32, u32), PCP_SLOTS> = heapless::Vec::new();
        {
            let nodes = self.nodes.lock();
            for node in nodes.nodes() {
                let in_node = (0..nr_cpus).filter(|&c| cpu_to_node(c) == node.nid).count() as u32;
                for zone in node.zones().iter().filter(|z| z.populated()) {
                    let batch = zone_batchsize(zone).clamp(1, PCP_MAX_BATCH);
                    let high = zone_highsize(zone, batch, in_node, nr_cpus as u32).min(PCP_MAX_HIGH);
                    let _ = settings.push((node.nid, zone.zone_type, high, batch));
                    log.line(format_args!(
                        "Node {}, zone {:>8}: pageset batch {} high {}",
                        node.nid,
                        zone.name(),
                        batch,
                        high
                    ));
                }
            }
        }
        for cpu in &self.pcp[..nr_cpus] {
            for &(nid, z, high, batch) in &settings {
                if let Some(s) = self.slot(nid, z) {
                    cpu[s].lock().set_high_and_batch(high, batch);
                }
            }
        }
    }

    /// One zone's attempt of the zonelist walk (`zone_watermark_fast` + `rmqueue`): order 0
    /// through CPU `cpu`'s pageset when its lock is free, else (or for higher orders) the
    /// buddy lists.
    fn try_zone(&self, cpu: usize, (nid, z): (i32, ZoneType), order: u32, gfp: Gfp, highest: usize, pass: Wmark) -> Option<Pfn> {
        if let (0, Some(s)) = (order, self.slot(nid, z)) {
            if let Some(mut pcp) = self.pcp[cpu][s].try_lock() {
                let mut nodes = self.nodes.lock();
                if !nodes.node(nid)?.zone_usable(z as usize, 0, gfp, highest, pass) {
                    return None;
                }
                return nodes.rmqueue_pcplist(&mut pcp, gfp.migratetype);
            }
        }
        let mut nodes = self.nodes.lock();
        let node = nodes.node_mut(nid)?;
        if !node.zone_usable(z as usize, order, gfp, highest, pass) {
            return None;
        }
        node.rmqueue_buddy(z as usize, order, gfp.migratetype).map(Pfn)
    }

    /// Allocates `1 << order` pages on CPU `cpu`, walking `preferred_nid`'s zonelist like
    /// [`NodeSet::alloc_pages`]; order 0 goes through the per-CPU lists. When the low and min
    /// passes fail, every CPU's lists are drained and the min pass retried once
    /// (`__alloc_pages_direct_reclaim`'s `drain_all_pages`), then `__GFP_NOFAIL` ignores the
    /// watermarks.
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
        let (zl, highest) = {
            let nodes = self.nodes.lock();
            (nodes.zonelist_for(preferred_nid), nodes.config.resolve_zone(gfp.highest_zone))
        };
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

    /// Frees a block on CPU `cpu`: order 0 to this CPU's pageset of the page's zone
    /// (`free_unref_page`; the buddy lists directly if that pageset is locked by a drain),
    /// higher orders to the buddy lists (`__free_pages`).
    ///
    /// # Errors
    /// As [`NodeSet::free_pages`]. Nothing changes on error.
    ///
    /// # Panics
    /// If `cpu` has no pagesets.
    pub fn free_pages(&self, cpu: usize, pfn: Pfn, order: u32) -> Result<(), FreeError> {
        assert!(cpu < self.pcp.len(), "cpu {cpu} >= {}", self.pcp.len());
        if order != 0 || pfn.0 > u64::from(u32::MAX) {
            return self.nodes.lock().free_pages(pfn, order);
        }
        let (nid, zi) = {
            let nodes = self.nodes.lock();
            let nid = nodes.pfn_to_nid(pfn.0).ok_or(FreeError::OutsideMap { pfn })?;
            (nid, nodes.node(nid).ok_or(FreeError::OutsideMap { pfn })?.check_free(pfn, 0)?)
        };
        match self.slot(nid, ZoneType::ALL[zi]).and_then(|s| self.pcp[cpu][s].try_lock()) {
            Some(mut pcp) => self.nodes.lock().free_unref_page(&mut pcp, pfn),
            None => self.nodes.lock().free_pages(pfn, 0),
        }
    }

    /// `drain_local_pages`: CPU `cpu`'s pagesets back to the buddy lists.
    pub fn drain_local(&self, cpu: usize) {
        for m in self.pcp[cpu] {
            let mut pcp = m.lock();
            if pcp.count != 0 {
                self.nodes.lock().drain_pages_zone(&mut pcp);
            }
        }
    }

    /// `drain_all_pages(NULL)`: every CPU's pagesets back to the buddy lists (done from the
    /// calling CPU, taking each remote pageset's lock, where Linux queues work on each CPU).
    pub fn drain_all(&self) {
        (0..self.pcp.len()).for_each(|cpu| self.drain_local(cpu));
    }

    /// Free pages in the buddy lists plus pages on per-CPU lists.
    pub fn nr_free_pages_including_pcp(&self) -> u64 {
        let nodes = self.nodes.lock();
        nodes.nr_free_pages() + nodes.nr_pcp_pages()
    }

    /// Calls `f(cpu, nid, zone, mt, pfn)` for every page on every pageset (each pageset locked
    /// in turn: a consistent picture only when no other CPU allocates or frees).
    pub fn for_each_pcp_page(&self, f: &mut dyn FnMut(usize, i32, ZoneType, Migratetype, Pfn)) {
        for (cpu, sets) in self.pcp.iter().copied().enumerate() {
            for m in sets {
                let pcp = m.lock();
                for mt in Migratetype::ALL {
                    pcp.pfns(mt).for_each(|p| f(cpu, pcp.nid, pcp.zone, mt, p));
                }
            }
        }
    }

    /// [`NodeSet::check`], plus the pagesets: every listed pfn is a `PCP` page of the
    /// pageset's zone listed under its recorded migratetype, and per zone the pagesets' counts
    /// add up to the zone's pcp count. Holds the node lock throughout (which freezes every
    /// list) and try-locks the pagesets, starting over if one is busy.
    ///
    /// # Errors
    /// The first violation found.
    pub fn check(&self) -> Result<(), CheckError> {
        'retry: loop {
            let nodes = self.nodes.lock();
            nodes.check()?;
            let mut per_zone = [0u64; PCP_SLOTS];
            for &sets in self.pcp.iter() {
                for (s, m) in sets.iter().enumerate() {
                    let Some(pcp) = m.try_lock() else {
                        drop(nodes);
                        core::hint::spin_loop();
                        continue 'retry;
                    };
                    let mut n = 0u32;
                    for mt in Migratetype::ALL {
                        for pfn in pcp.pfns(mt) {
                            let ok = nodes
                                .node(pcp.nid)
                                .and_then(|node| node.mem_map().get(pfn.0))
                                .is_some_and(|p| p.is_pcp() && p.zone() == Some(pcp.zone) && p.migratetype() == mt);
                            if !ok {
                                return Err(CheckError {
                                    zone: Some(pcp.zone),
                                    pfn: Some(pfn.0),
                                    what: "pageset lists a page that is not a pcp page of its zone and type",
                                });
                            }
                            n += 1;
                        }
                    }
                    if n != pcp.count {
                        return Err(CheckError { zone: Some(pcp.zone), pfn: None, what: "pageset count differs from its lists" });
                    }
                    per_zone[s] += u64::from(n);
                }
            }
            for node in nodes.nodes() {
                for z in node.zones() {
                    let listed = self.slot(node.nid, z.zone_type).map_or(0, |s| per_zone[s]);
                    if listed != z.nr_pcp_pages {
                        return Err(CheckError {
                            zone: Some(z.zone_type),
                            pfn: None,
                            what: "pagesets hold a different number of pages than the zone's pcp count",
                        });
                    }
                }
            }
            return Ok(());
        }
    }

    /// `/proc/buddyinfo` (per-CPU pages are not in it, as in Linux).
    pub fn buddyinfo(&self, log: &mut dyn LineSink) {
        self.nodes.lock().buddyinfo(log);
    }

    /// `/proc/zoneinfo` with 6.1's `pagesets` block per populated zone:
    ///
    /// ```text
    ///   pagesets
    ///     cpu: 0
    ///               count: 12
    ///               high:  1024
    ///               batch: 63
    /// ```
    ///
    /// Pageset values are read after the zone part (each pageset locked in turn).
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
        let nodes = self.nodes.lock();
        for node in nodes.nodes() {
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
    /// per-CPU totals line `free_pcp:N` (pages, as in 6.1's first `show_free_areas` line).
    pub fn show_free_areas(&self, log: &mut dyn LineSink) {
        let nodes = self.nodes.lock();
        log.line(format_args!("free:{} free_pcp:{}", nodes.nr_free_pages(), nodes.nr_pcp_pages()));
        nodes.show_free_areas(log);
    }

    /// The `Memory:` line ([`NodeSet::mem_init_print_info`]).
    pub fn mem_init_print_info(&self, sections: &crate::KernelSections, log: &mut dyn LineSink) {
        self.nodes.lock().mem_init_print_info(sections, log);
    }

    /// KiB on per-CPU lists of zone `(nid, zone)` (`free_pcp` of the zone line).
    pub fn free_pcp_kib(&self, nid: i32, zone: ZoneType) -> u64 {
        self.nodes.lock().zone(nid, zone).map_or(0, |z| k(z.nr_pcp_pages))
    }
}
