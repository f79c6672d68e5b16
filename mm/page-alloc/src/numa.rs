//! NUMA nodes and zonelists: the `pgdat` list (`node_data[]`), `free_area_init` over every
//! node, and `build_all_zonelists` (mm/page_alloc.c 6.1).
//!
//! # Nodes
//! The online nodes are those the caller gives `pg_data_t` storage for (`NODE_DATA`, see
//! [`NodeSet::free_area_init`]); a node with CPUs but no memory is online too (a memoryless
//! node: empty zones, an empty map, `Initmem setup node N as memoryless`). A node's memory
//! is the set of memblock memory regions carrying its nid ([`crate::region_nid`]:
//! regions without a node are node 0). Its span is `[first, last)` memory pfn of those regions
//! (`get_pfn_range_for_nid`), its present pages only theirs, and it has its own [`MemMap`]
//! covering the span from `node_map_pfn_range` (start aligned down to `MAX_ORDER_NR_PAGES`,
//! as `alloc_node_mem_map`). Spans of different nodes may interleave; a pfn belongs to the
//! node whose map has it as memory ([`NodeSet::pfn_to_nid`]). `memmap_init` walks all ranges
//! of all nodes in address order, so a hole before a node's first range is reported on that
//! node, exactly as Linux does.
//!
//! # Zonelists (`build_zonelists`, `find_next_best_node`)
//! For node `N` (every online node, memoryless ones included), the fallback node order
//! starts with `N`, then repeatedly the unused node with memory minimising
//! `(distance(N, n) + (n < N) + PENALTY_FOR_NODE_WITH_CPUS if n has CPUs) * MAX_NUMNODES +
//! node_load[n]`; the first node of each new distance group gets `node_load += 1` so that
//! equidistant nodes are used round-robin across the lists built after it (`node_load` is
//! reset once per `build_all_zonelists`, shared by all nodes' lists, 6.1 semantics). The
//! zonelist is then, node by node, the populated zones from highest to lowest
//! (`build_zonerefs_node`). Printed lines (6.1, `pr_info`, with its trailing space after
//! each node):
//!
//! ```text
//! Fallback order for Node 0: 0 1 
//! Built 2 zonelists, mobility grouping on.  Total pages: 516052
//! Policy zone: DMA
//! ```
//!
//! The `Fallback order` and `Policy zone` lines exist only on a NUMA build
//! ([`crate::ArchConfig::numa`]).
//!
//! `Total pages` is `nr_free_pagecache_pages()` (`nr_free_zone_pages(gfp_zone(
//! GFP_HIGHUSER_MOVABLE))`) over the boot CPU's node (the first node) zonelist: per zone
//! `managed - high_wmark` when positive. Linux calls `build_all_zonelists` before
//! `memblock_free_all`, when `managed_pages` is still `free_area_init_core`'s estimate
//! (present minus the `struct page` array for lowmem zones, `calc_memmap_size`); if no page
//! has been handed to the buddy allocator yet, that estimate is used here too (without
//! x86-64's `dma_reserve`).
use memblock::Memblock;
use mm_types::LineSink;

use crate::buddy::{alloc_failure, Wmark};
use crate::report::{k, print_memory_line};
use crate::zone::{arch_zone_limits, free_area_init_node, memmap_init, mem_pfn_ranges_all, print_zone_ranges};
use crate::{
    AllocError, ArchConfig, CheckError, FreeError, Gfp, InitError, KernelSections, MemMap, MemoryModel, Node, Pfn, Zone,
    ZoneType, MAX_NR_ZONES, MAX_ORDER,
};

/// Node ids a [`NodeSet`] can hold (nids `0..MAX_NODES`): arm64 Linux 6.1's `MAX_NUMNODES`
/// (`CONFIG_NODES_SHIFT` 4). A non-NUMA build ([`ArchConfig::numa`] false) only ever has node 0.
pub const MAX_NODES: usize = 16;
/// `LOCAL_DISTANCE`: SLIT distance of a node to itself.
pub const LOCAL_DISTANCE: u8 = 10;
/// `REMOTE_DISTANCE`: default distance between two nodes when firmware gives none.
pub const REMOTE_DISTANCE: u8 = 20;
/// `PENALTY_FOR_NODE_WITH_CPUS`.
const PENALTY_FOR_NODE_WITH_CPUS: i64 = 1;
/// `MIGRATE_TYPES` of a Linux build without CMA (UNMOVABLE, MOVABLE, RECLAIMABLE,
/// HIGHATOMIC, ISOLATE), for the "mobility grouping" decision.
const LINUX_MIGRATE_TYPES: u64 = 5;

/// The default distance (`__node_distance` without a SLIT): 10 local, 20 remote.
pub fn default_distance(a: i32, b: i32) -> u8 {
    if a == b {
        LOCAL_DISTANCE
    } else {
        REMOTE_DISTANCE
    }
}

/// A node's fallback list of `(nid, zone)` (`node_zonelists[ZONELIST_FALLBACK]`), best first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Zonelist {
    zonerefs: heapless::Vec<(i32, ZoneType), { MAX_NODES * MAX_NR_ZONES }>,
}

impl Zonelist {
    const EMPTY: Self = Self { zonerefs: heapless::Vec::new() };

    /// The entries, best first.
    pub fn as_slice(&self) -> &[(i32, ZoneType)] {
        &self.zonerefs
    }
}

static EMPTY_ZONELIST: Zonelist = Zonelist::EMPTY;

/// All online nodes (`node_data[]`: each node's `pg_data_t` lives in storage the caller
/// allocated, on the node itself where it has memory, as arm64's `setup_node_data` does) and
/// their zonelists. An online node without memory (a memoryless node: CPUs, no RAM) has a
/// [`Node`] with empty zones and an empty map; its zonelist holds other nodes' zones.
pub struct NodeSet<'a> {
    pub(crate) config: ArchConfig,
    pub(crate) nodes: [Option<&'a mut Node<'a>>; MAX_NODES],
}

impl core::fmt::Debug for NodeSet<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.nodes()).finish()
    }
}

/// `build_all_zonelists(&mut nodes, distance, log)`: see [`NodeSet::build_all_zonelists`].
pub fn build_all_zonelists(nodes: &mut NodeSet<'_>, distance: &dyn Fn(i32, i32) -> u8, log: &mut dyn LineSink) {
    nodes.build_all_zonelists(distance, log);
}

impl<'a> NodeSet<'a> {
    /// A set holding the single node `node` (its zonelist is its own zones, high to low), for
    /// callers that booted with [`crate::free_area_init`].
    ///
    /// # Panics
    /// If `node.nid` is not below [`MAX_NODES`].
    pub fn from_node(node: &'a mut Node<'a>) -> Self {
        let nid = node.nid as usize;
        assert!(nid < MAX_NODES, "nid {nid} >= MAX_NODES");
        let mut set = Self::empty(node.config);
        set.nodes[nid] = Some(node);
        set.build_all_zonelists(&default_distance, &mut mm_types::NullSink);
        set
    }

    fn empty(config: ArchConfig) -> Self {
        Self { config, nodes: core::array::from_fn(|_| None) }
    }

    /// `free_area_init` for every online node: prints `Zone ranges:` and the early memory
    /// node ranges once, then per online node in nid order `Initmem setup node N [mem …]`
    /// or, for a node without memory, `Initmem setup node N as memoryless` (6.1
    /// `free_area_init_node`), then runs `memmap_init` over all nodes.
    ///
    /// `node_data[nid]` is the `pg_data_t` storage of node `nid` (`NODE_DATA(nid)`; `Some`
    /// exactly for the online nodes, whatever it holds is overwritten); `maps[nid]` is the map
    /// of a node with memory, covering [`crate::node_map_pfn_range`] (nodes without memory
    /// need none; a map given for them is dropped). The zonelists are the local ones until
    /// [`NodeSet::build_all_zonelists`].
    ///
    /// # Errors
    /// [`InitError::NoMemory`] without memory, [`InitError::BadNid`] for a region of a node
    /// `>= MAX_NODES`, [`InitError::NotOnline`] for memory on a node without `node_data`,
    /// [`InitError::NoMap`] when a node with memory has no map,
    /// [`InitError::MapTooSmall`], [`InitError::BadPageblockOrder`].
    pub fn free_area_init(
        config: ArchConfig,
        max_zone_pfn: [u64; MAX_NR_ZONES],
        memblock: &Memblock<'_>,
        node_data: [Option<&'a mut Node<'a>>; MAX_NODES],
        mut maps: [Option<MemMap<'a>>; MAX_NODES],
        log: &mut dyn LineSink,
    ) -> Result<Self, InitError> {
        if config.pageblock_order >= MAX_ORDER {
            return Err(InitError::BadPageblockOrder);
        }
        if mem_pfn_ranges_all(memblock).next().is_none() {
            return Err(InitError::NoMemory);
        }
        if let Some((_, _, nid)) = mem_pfn_ranges_all(memblock).find(|r| r.2 as usize >= MAX_NODES) {
            return Err(InitError::BadNid { nid });
        }
        if let Some((_, _, nid)) = mem_pfn_ranges_all(memblock).find(|r| node_data[r.2 as usize].is_none()) {
            return Err(InitError::NotOnline { nid });
        }
        let (lowest, highest) = arch_zone_limits(&config, max_zone_pfn, memblock);
        print_zone_ranges(&config, &lowest, &highest, memblock, None, log);
        let mut set = Self::empty(config);
        for (nid, slot) in node_data.into_iter().enumerate() {
            let Some(slot) = slot else { continue };
            let nid = nid as i32;
            *slot = if crate::node_pfn_range(memblock, nid).is_some() {
                let map = maps[nid as usize].take().ok_or(InitError::NoMap { nid })?;
                free_area_init_node(config, nid, &lowest, &highest, memblock, map, log)?
            } else {
                log.line(format_args!("Initmem setup node {nid} as memoryless"));
                Node::memoryless(config, nid)
            };
            set.nodes[nid as usize] = Some(slot);
        }
        memmap_init(&config, memblock, &mut set.nodes, None, log);
        set.build_local_zonelists();
        Ok(set)
    }

    fn build_local_zonelists(&mut self) {
        for nid in 0..MAX_NODES as i32 {
            if self.node(nid).is_some() {
                let mut order = heapless::Vec::new();
                let _ = order.push(nid);
                self.set_zonelist(nid, order);
            }
        }
    }

    /// Node `nid`'s zonelist from its node order (`build_zonelists_in_node_order`): node by
    /// node, the populated zones from highest to lowest (`build_zonerefs_node`).
    fn set_zonelist(&mut self, nid: i32, order: heapless::Vec<i32, MAX_NODES>) {
        let mut zl = Zonelist::default();
        for &n in &order {
            if let Some(node) = self.node(n) {
                for z in node.zones.iter().rev().filter(|z| z.populated()) {
                    let _ = zl.zonerefs.push((n, z.zone_type));
                }
            }
        }
        if let Some(node) = self.node_mut(nid) {
            node.zonelist = zl;
            node.node_order = order;
        }
    }

    /// The architecture configuration.
    pub fn config(&self) -> &ArchConfig {
        &self.config
    }
    /// Node `nid`, if it is online (with or without memory).
    pub fn node(&self, nid: i32) -> Option<&Node<'a>> {
        self.nodes.get(usize::try_from(nid).ok()?)?.as_deref()
    }
    /// Node `nid`, mutably.
    pub fn node_mut(&mut self, nid: i32) -> Option<&mut Node<'a>> {
        self.nodes.get_mut(usize::try_from(nid).ok()?)?.as_deref_mut()
    }
    /// The online nodes, by nid (`for_each_online_pgdat`), memoryless ones included.
    pub fn nodes(&self) -> impl Iterator<Item = &Node<'a>> {
        self.nodes.iter().filter_map(|n| n.as_deref())
    }
    /// The online nodes, mutably.
    pub fn nodes_mut(&mut self) -> impl Iterator<Item = &mut Node<'a>> {
        self.nodes.iter_mut().filter_map(|n| n.as_deref_mut())
    }
    /// `nr_online_nodes` (memoryless nodes count: they are online).
    pub fn nr_online_nodes(&self) -> usize {
        self.nodes().count()
    }
    /// Node `nid`'s fallback zonelist (empty for a node that is not online).
    pub fn zonelist(&self, nid: i32) -> &Zonelist {
        self.node(nid).map_or(&EMPTY_ZONELIST, |n| &n.zonelist)
    }
    /// Node `nid`'s fallback node order (`node_order[]` of `build_zonelists`).
    pub fn fallback_order(&self, nid: i32) -> &[i32] {
        self.node(nid).map_or(&[], |n| &n.node_order)
    }
    /// The zone `(nid, z)`.
    pub fn zone(&self, nid: i32, z: ZoneType) -> Option<&Zone> {
        self.node(nid).map(|n| n.zone(z))
    }
    /// The populated zones of all nodes, by nid then zone index: the zones that get per-CPU
    /// pagesets (`setup_per_cpu_pageset` walks `for_each_populated_zone`).
    pub fn populated_zones(&self) -> impl Iterator<Item = (i32, ZoneType)> + use<'_, 'a> {
        self.nodes().flat_map(|n| n.zones.iter().filter(|z| z.populated()).map(move |z| (n.nid, z.zone_type)))
    }

    /// The node whose memory holds `pfn` (`pfn_to_nid`): the node whose map has it as a
    /// non-hole page, else the first node whose map covers it.
    pub fn pfn_to_nid(&self, pfn: u64) -> Option<i32> {
        let covering = || self.nodes().filter(move |n| n.mem_map.get(pfn).is_some());
        covering()
            .find(|n| n.mem_map.get(pfn).is_some_and(|p| !p.is_hole()))
            .or_else(|| covering().next())
            .map(|n| n.nid)
    }

    /// `memblock_free_all` over every node: each free range goes to the node of the memory
    /// region it lies in. Returns the pages freed.
    pub fn memblock_free_all(&mut self, memblock: &Memblock<'_>) -> u64 {
        let mut count = 0;
        for (start, end, nid) in memblock.free_ranges(memblock::NUMA_NO_NODE) {
            let nid = if nid == memblock::MAX_NUMNODES || nid < 0 { 0 } else { nid };
            let (s, e) = (mm_types::pfn_up(start), mm_types::pfn_down(end));
            if s < e {
                if let Some(node) = self.node_mut(nid) {
                    count += node.free_range(s, e);
                }
            }
        }
        count
    }

    /// `init_per_zone_wmark_min` over all zones of all nodes: `min_free_kbytes` from the lowmem
    /// of every node (`nr_free_buffer_pages`), split by managed pages across all lowmem zones
    /// (`__setup_per_zone_wmarks` walks every zone), then the lowmem reserves per node.
    /// Returns `min_free_kbytes`.
    pub fn init_per_zone_wmark_min(&mut self) -> u64 {
        let lowmem_kbytes: u64 = self.nodes().map(Node::nr_free_buffer_pages).sum::<u64>() * (mm_types::PAGE_SIZE >> 10);
        let kbytes = crate::int_sqrt(lowmem_kbytes * 16).clamp(128, 262_144);
        let lowmem_pages: u64 = self
            .nodes()
            .flat_map(|n| n.zones.iter())
            .filter(|z| !z.zone_type.is_highmem() && z.zone_type != ZoneType::Movable)
            .map(|z| z.managed_pages)
            .sum();
        for node in self.nodes_mut() {
            node.min_free_kbytes = kbytes;
            node.setup_per_zone_wmarks_with(lowmem_pages);
            node.setup_per_zone_lowmem_reserve();
        }
        kbytes
    }

    /// Builds every online node's zonelist (`build_all_zonelists` → `build_zonelists`), with
    /// every node counted alike for the CPU penalty: at boot Linux builds them before any node's
    /// cpumask is filled (arm64 `numa_add_cpu` runs in `smp_prepare_cpus`), so no node gets it. See [`NodeSet::build_all_zonelists_with_cpus`] for
    /// the lines printed.
    pub fn build_all_zonelists(&mut self, distance: &dyn Fn(i32, i32) -> u8, log: &mut dyn LineSink) {
        self.build_all_zonelists_with_cpus(distance, &|_| true, log);
    }

    /// As [`NodeSet::build_all_zonelists`], with `node_has_cpus(n)` telling which nodes have
    /// CPUs (`cpumask_of_node`): headless nodes are preferred among equals. Every online node
    /// gets a list, memoryless ones included (their own node comes first in the order but adds
    /// no zone); only nodes with memory (`N_MEMORY`) are candidates after the local one.
    ///
    /// Prints, on a NUMA build ([`ArchConfig::numa`]), `Fallback order for Node N: …` per node;
    /// then `Built N zonelists, mobility grouping on.  Total pages: P` (module docs); then, on
    /// a NUMA build, `Policy zone: Z`: the highest zone type below `ZONE_MOVABLE` that is
    /// populated on some node (`check_highest_zone` in `build_zonerefs_node`; `policy_zone`
    /// starts at 0, `ZONE_DMA`).
    pub fn build_all_zonelists_with_cpus(
        &mut self,
        distance: &dyn Fn(i32, i32) -> u8,
        node_has_cpus: &dyn Fn(i32) -> bool,
        log: &mut dyn LineSink,
    ) {
        let mut node_load = [0i64; MAX_NODES];
        let online: heapless::Vec<i32, MAX_NODES> = self.nodes().map(|n| n.nid).collect();
        let with_memory: heapless::Vec<i32, MAX_NODES> =
            self.nodes().filter(|n| n.node_present_pages != 0).map(|n| n.nid).collect();
        for &local in &online {
            let mut used = [false; MAX_NODES];
            let mut order: heapless::Vec<i32, MAX_NODES> = heapless::Vec::new();
            let mut prev = local;
            while let Some(node) = find_next_best_node(local, &mut used, &with_memory, &node_load, distance, node_has_cpus) {
                if distance(local, node) != distance(local, prev) {
                    node_load[node as usize] += 1;
                }
                let _ = order.push(node);
                prev = node;
            }
            struct Order<'o>(&'o [i32]);
            impl core::fmt::Display for Order<'_> {
                fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    self.0.iter().try_for_each(|n| write!(f, "{n} "))
                }
            }
            if self.config.numa {
                log.line(format_args!("Fallback order for Node {}: {}", local, Order(&order)));
            }
            self.set_zonelist(local, order);
        }
        let total = self.nr_free_pagecache_pages();
        let pageblock_pages = 1u64 << self.config.pageblock_order;
        let grouping = if total < pageblock_pages * LINUX_MIGRATE_TYPES { "off" } else { "on" };
        log.line(format_args!(
            "Built {} zonelists, mobility grouping {}.  Total pages: {}",
            self.nr_online_nodes(),
            grouping,
            total
        ));
        if self.config.numa {
            log.line(format_args!("Policy zone: {}", self.policy_zone().name()));
        }
    }

    /// `policy_zone` after `build_all_zonelists`: the highest zone type other than
    /// `ZONE_MOVABLE` that some zonelist holds (a populated zone of an online node), else
    /// `ZONE_DMA` (its initial value, 0).
    pub fn policy_zone(&self) -> ZoneType {
        self.nodes()
            .flat_map(|n| n.zonelist.as_slice().iter().map(|&(_, z)| z))
            .filter(|&z| z != ZoneType::Movable)
            .max()
            .unwrap_or(ZoneType::Dma)
    }

    /// `nr_free_pagecache_pages`: over the first online node's zonelist (the boot CPU's node),
    /// `managed - high_wmark` of each zone where positive; before any page was handed to the
    /// buddy allocator, `managed` is `free_area_init_core`'s estimate (module docs).
    pub fn nr_free_pagecache_pages(&self) -> u64 {
        let estimate = self.totalram_pages() == 0;
        let Some(first) = self.nodes().next() else { return 0 };
        let mut sum = 0;
        for &(nid, z) in self.zonelist(first.nid).as_slice() {
            let Some(zone) = self.zone(nid, z) else { continue };
            let size = if estimate { self.estimated_managed(zone) } else { zone.managed_pages };
            sum += size.saturating_sub(zone.high_wmark_pages());
        }
        sum
    }

    /// `free_area_init_core`'s `freesize`: present pages minus the `struct page` array of a
    /// lowmem zone (`calc_memmap_size`).
    fn estimated_managed(&self, zone: &Zone) -> u64 {
        let (spanned, present) = (zone.spanned_pages, zone.present_pages);
        let sparse = matches!(self.config.memory_model, MemoryModel::Sparsemem { .. });
        let pages = if sparse && spanned > present + (present >> 4) { present } else { spanned };
        let memmap_pages = (pages * self.config.struct_page_bytes).div_ceil(mm_types::PAGE_SIZE);
        if !zone.zone_type.is_highmem() && present >= memmap_pages {
            present - memmap_pages
        } else {
            present
        }
    }

    /// Allocates `1 << order` pages walking node `preferred_nid`'s zonelist (`__alloc_pages`
    /// with a preferred node): zones above `gfp.highest_zone` are skipped, each zone is tried
    /// against the low watermark, then all against min, then (`__GFP_NOFAIL`) none, exactly as
    /// [`Node::alloc_pages`] does within a node. An unknown `preferred_nid` means the first
    /// online node (`numa_mem_id()` of a memoryless node). Returns the pfn; the node is
    /// [`NodeSet::pfn_to_nid`].
    ///
    /// # Errors
    /// As [`Node::alloc_pages`].
    pub fn alloc_pages(&self, preferred_nid: i32, gfp: Gfp, order: u32) -> Result<Pfn, AllocError> {
        if order >= MAX_ORDER {
            return Err(AllocError::InvalidOrder { order });
        }
        let zl = self.zonelist_for(preferred_nid);
        let highest = self.config.resolve_zone(gfp.highest_zone);
        for &pass in Wmark::passes(gfp) {
            for &(nid, z) in zl.as_slice().iter().filter(|e| e.1 <= highest) {
                let Some(node) = self.node(nid) else { continue };
                if !node.zone_usable(z as usize, order, gfp, highest as usize, pass) {
                    continue;
                }
                if let Some(pfn) = node.rmqueue_buddy(z as usize, order, gfp.migratetype) {
                    return Ok(Pfn(pfn));
                }
            }
        }
        Err(alloc_failure(gfp, order))
    }

    /// The zonelist to walk for `preferred_nid` (an unknown node means the first online node).
    pub(crate) fn zonelist_for(&self, preferred_nid: i32) -> &Zonelist {
        match self.node(preferred_nid) {
            Some(n) => &n.zonelist,
            None => self.nodes().next().map_or(&EMPTY_ZONELIST, |n| &n.zonelist),
        }
    }

    /// Frees a block from [`NodeSet::alloc_pages`] to the node holding it (`__free_pages`).
    ///
    /// # Errors
    /// [`FreeError::OutsideMap`] if no node's map covers `pfn`; else as [`Node::free_pages`].
    pub fn free_pages(&self, pfn: Pfn, order: u32) -> Result<(), FreeError> {
        let nid = self.pfn_to_nid(pfn.0).ok_or(FreeError::OutsideMap { pfn })?;
        self.node(nid).ok_or(FreeError::OutsideMap { pfn })?.free_pages(pfn, order)
    }

    /// Present pages of all nodes (`get_num_physpages`).
    pub fn physpages(&self) -> u64 {
        self.nodes().map(Node::physpages).sum()
    }
    /// Managed pages of all nodes (`totalram_pages`).
    pub fn totalram_pages(&self) -> u64 {
        self.nodes().map(Node::totalram_pages).sum()
    }
    /// Free pages in the buddy lists of all nodes (`NR_FREE_PAGES`; per-CPU lists excluded).
    pub fn nr_free_pages(&self) -> u64 {
        self.nodes().map(Node::nr_free_pages).sum()
    }
    /// Pages on per-CPU lists of all zones (`free_pcp`).
    pub fn nr_pcp_pages(&self) -> u64 {
        self.nodes().flat_map(|n| n.zones.iter()).map(Zone::free_pcp).sum()
    }
    /// HighMem managed pages of all nodes (`totalhigh_pages`).
    pub fn totalhigh_pages(&self) -> u64 {
        self.nodes().map(Node::totalhigh_pages).sum()
    }

    /// [`Node::check`] on every node.
    ///
    /// # Errors
    /// The first violation found.
    pub fn check(&self) -> Result<(), CheckError> {
        self.nodes().try_for_each(Node::check)
    }

    /// [`NodeSet::check`] with the pagesets' unfolded deltas per zone (see [`Node::check`]).
    pub(crate) fn check_with(&self, pcp_delta: &dyn Fn(i32, ZoneType) -> i64) -> Result<(), CheckError> {
        self.nodes().try_for_each(|n| n.check_with(Some(&|z| pcp_delta(n.nid, z))))
    }

    /// `/proc/buddyinfo` for every node (`Node N, zone …`).
    pub fn buddyinfo(&self, log: &mut dyn LineSink) {
        self.nodes().for_each(|n| n.buddyinfo(log));
    }
    /// The zone part of `/proc/zoneinfo` for every node.
    pub fn zoneinfo(&self, log: &mut dyn LineSink) {
        self.nodes().for_each(|n| n.zoneinfo(log));
    }
    /// `show_free_areas`: per node and zone, `Node N Zone free:…kB … free_pcp:…kB`, then the
    /// per-order lines.
    pub fn show_free_areas(&self, log: &mut dyn LineSink) {
        self.show_free_areas_with(log, &|_, z| z.free_pcp());
    }

    /// [`NodeSet::show_free_areas`] with `free_pcp(nid, zone)` giving each zone's pages on
    /// per-CPU lists.
    pub(crate) fn show_free_areas_with(&self, log: &mut dyn LineSink, free_pcp: &dyn Fn(i32, &Zone) -> u64) {
        for node in self.nodes() {
            for z in node.zones.iter().filter(|z| z.populated()) {
                log.line(format_args!(
                    "Node {} {} free:{}kB boost:0kB min:{}kB low:{}kB high:{}kB present:{}kB managed:{}kB free_pcp:{}kB",
                    node.nid,
                    z.name(),
                    k(z.free_pages()),
                    k(z.min_wmark_pages()),
                    k(z.low_wmark_pages()),
                    k(z.high_wmark_pages()),
                    k(z.present_pages),
                    k(z.managed_pages),
                    k(free_pcp(node.nid, z))
                ));
            }
        }
        for node in self.nodes() {
            node.show_free_areas(log);
        }
    }
    /// The `Memory: …K/…K available` line over all nodes; available counts per-CPU pages
    /// as free (`nr_free_pages()` in Linux excludes them, but at boot the lists are empty).
    pub fn mem_init_print_info(&self, sections: &KernelSections, log: &mut dyn LineSink) {
        let phys = self.physpages();
        let totals = (
            k(self.nr_free_pages() + self.nr_pcp_pages()),
            k(phys),
            k(phys - self.totalram_pages()),
            k(self.totalhigh_pages()),
        );
        print_memory_line(&self.config, totals, sections, log);
    }
}

/// `find_next_best_node` (6.1): the local node first (even without memory), then the unused
/// node with memory (`N_MEMORY`) of least
/// `(distance + (n < node) + cpu penalty) * MAX_NUMNODES + node_load[n]`.
fn find_next_best_node(
    node: i32,
    used: &mut [bool; MAX_NODES],
    with_memory: &[i32],
    node_load: &[i64; MAX_NODES],
    distance: &dyn Fn(i32, i32) -> u8,
    node_has_cpus: &dyn Fn(i32) -> bool,
) -> Option<i32> {
    if !used[node as usize] {
        used[node as usize] = true;
        return Some(node);
    }
    let mut best: Option<(i64, i32)> = None;
    for &n in with_memory {
        if used[n as usize] {
            continue;
        }
        let mut val = i64::from(distance(node, n));
        val += i64::from(n < node);
        if node_has_cpus(n) {
            val += PENALTY_FOR_NODE_WITH_CPUS;
        }
        val *= MAX_NODES as i64;
        val += node_load[n as usize];
        if best.is_none_or(|(b, _)| val < b) {
            best = Some((val, n));
        }
    }
    let (_, n) = best?;
    used[n as usize] = true;
    Some(n)
}
