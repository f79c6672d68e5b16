//! Zones and the node: layout from memblock (`free_area_init`, `calculate_node_totalpages`,
//! `memmap_init`, `init_unavailable_range`).
//!
//! # Zone layout (`free_area_init`, v6.1)
//! The architecture passes `max_zone_pfn[]`, the exclusive upper pfn of each zone
//! (`zone_sizes_init`). Starting at the first memory pfn, each configured zone (in
//! [`ZoneType`] order, `ZONE_MOVABLE` skipped) gets `[start, max(max_zone_pfn, start))` and the
//! next one starts where it ended (`arch_zone_{lowest,highest}_possible_pfn`). Per zone, the
//! span is clamped to the node (`zone_spanned_pages_in_node`), `present_pages` is the span
//! minus the pages not covered by memblock memory (`zone_absent_pages_in_range`), and
//! `managed_pages` counts what `__free_pages_core` later hands to the buddy allocator.
//!
//! # Holes (`memmap_init` / `init_unavailable_range`)
//! Walking the memory ranges in order, each populated zone's part of a range is initialised and
//! the gap since the previous part (`hole_pfn`) is a hole attributed to this zone, printed as
//! `On node N, zone Z: P pages in unavailable ranges` if it has valid pages. With SPARSEMEM,
//! the tail up to the end of the last memory section is a hole of the last zone too; with
//! FLATMEM (6.1) there is no tail. A pageblock whose first page is not valid (`pfn_valid`:
//! inside the map for FLATMEM, in a section with memory for SPARSEMEM) is skipped whole.
//!
//! # Pageblocks
//! Every pageblock whose first page is memory in a zone starts `MIGRATE_MOVABLE`
//! (`memmap_init_range`); the others stay `MIGRATE_UNMOVABLE` (0).
use core::fmt;

use memblock::Memblock;
use mm_types::{pfn_down, pfn_up, LineSink, PAGE_SHIFT};

use core::sync::atomic::{AtomicI64, AtomicU64};
use core::sync::atomic::Ordering::Relaxed;

use crate::page::{MemMap, PageFlags, NO_ZONE};
use crate::{Migratetype, MAX_NR_ZONES, MAX_ORDER, MIGRATE_FREE_LISTS};

/// Zone types (`enum zone_type`), in address order. Which exist is per architecture
/// ([`ArchConfig::zones`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ZoneType {
    /// `ZONE_DMA`: x86 ISA DMA below 16 MiB; arm64 6.1: below 4 GiB (or the DMA limit).
    Dma = 0,
    /// `ZONE_DMA32`: below 4 GiB (x86-64, arm64).
    Dma32 = 1,
    /// `ZONE_NORMAL`: directly mapped memory.
    Normal = 2,
    /// `ZONE_HIGHMEM`: x86-32 memory above the lowmem limit (896 MiB by default).
    HighMem = 3,
    /// `ZONE_MOVABLE`: only with `kernelcore=`/`movablecore=`; always empty here.
    Movable = 4,
}

impl ZoneType {
    /// All zone types, in index order.
    pub const ALL: [Self; MAX_NR_ZONES] = [Self::Dma, Self::Dma32, Self::Normal, Self::HighMem, Self::Movable];

    /// The zone with index `i`.
    pub const fn from_index(i: usize) -> Option<Self> {
        if i < MAX_NR_ZONES {
            Some(Self::ALL[i])
        } else {
            None
        }
    }

    /// Linux's `zone_names[]` entry.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Dma => "DMA",
            Self::Dma32 => "DMA32",
            Self::Normal => "Normal",
            Self::HighMem => "HighMem",
            Self::Movable => "Movable",
        }
    }

    /// `is_highmem_idx`.
    pub const fn is_highmem(self) -> bool {
        matches!(self, Self::HighMem)
    }
}

/// How `pfn_valid` and the tail hole behave (`CONFIG_FLATMEM` / `CONFIG_SPARSEMEM`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryModel {
    /// One `mem_map`: a pfn is valid if the map covers it; no tail hole is reported.
    Flatmem,
    /// Sections of `1 << section_size_bits` bytes: a pfn is valid if its section holds
    /// memory; the last section's tail is reported as a hole.
    Sparsemem {
        /// `SECTION_SIZE_BITS` (x86-32 non-PAE 26, PAE 29, x86-64 27, arm64 4K 27).
        section_size_bits: u32,
    },
}

/// What the architecture configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchConfig {
    /// Which zone types exist (`CONFIG_ZONE_DMA`, `CONFIG_ZONE_DMA32`, `CONFIG_HIGHMEM`),
    /// indexed by [`ZoneType`].
    pub zones: [bool; MAX_NR_ZONES],
    /// `pageblock_order` (x86-32 non-PAE: 10 = 4 MiB huge pages; PAE, x86-64, arm64 4K: 9).
    pub pageblock_order: u32,
    /// FLATMEM or SPARSEMEM.
    pub memory_model: MemoryModel,
    /// Linux's `sizeof(struct page)` on this architecture's reference build. Debian's i386
    /// `686` kernel: 36 bytes with `CONFIG_MEMCG` (`memcg_data`), rounded up to 40 because
    /// `HAVE_ALIGNED_STRUCT_PAGE` aligns it to `2 * sizeof(unsigned long)`; 64-bit: 64. Only
    /// used to estimate `managed_pages` before `memblock_free_all` the way
    /// `free_area_init_core` does (`calc_memmap_size`), for the `Built N zonelists … Total
    /// pages:` line.
    pub struct_page_bytes: u64,
    /// `CONFIG_NUMA`: `build_all_zonelists` prints `Fallback order for Node N: …` per node and
    /// `Policy zone: Z` (arm64 6.1 has it; Debian's x86-32 686 kernel does not).
    pub numa: bool,
}

impl ArchConfig {
    /// i386 non-PAE, FLATMEM, as Debian's `686` kernel (HIGHMEM4G, no NUMA): DMA, Normal,
    /// HighMem; `struct page` 40 bytes.
    pub const X86_32: Self = Self {
        zones: [true, false, true, true, false],
        pageblock_order: 10,
        memory_model: MemoryModel::Flatmem,
        struct_page_bytes: 40,
        numa: false,
    };
    /// i386 non-PAE built with SPARSEMEM (64 MiB sections).
    pub const X86_32_SPARSEMEM: Self =
        Self { memory_model: MemoryModel::Sparsemem { section_size_bits: 26 }, ..Self::X86_32 };
    /// arm64 with 4 KiB pages (6.1): DMA, DMA32, Normal; SPARSEMEM with 128 MiB sections.
    pub const ARM64_4K: Self = Self {
        zones: [true, true, true, false, false],
        pageblock_order: 9,
        memory_model: MemoryModel::Sparsemem { section_size_bits: 27 },
        struct_page_bytes: 64,
        numa: true,
    };

    /// 32-bit ARM without LPAE as Debian's 6.1 `armmp` kernel: FLATMEM, Normal and HighMem (no
    /// `CONFIG_ZONE_DMA`: only LPAE platforms select it), `pageblock_order` 10 (no huge pages
    /// without LPAE, so `MAX_ORDER - 1`), no NUMA; `struct page` 36 bytes (32-bit words with
    /// `memcg_data`; ARM has no `HAVE_ALIGNED_STRUCT_PAGE`).
    pub const ARMV7A: Self = Self {
        zones: [false, false, true, true, false],
        pageblock_order: 10,
        memory_model: MemoryModel::Flatmem,
        struct_page_bytes: 36,
        numa: false,
    };

    /// True if zone `z` exists on this architecture.
    pub const fn has_zone(&self, z: ZoneType) -> bool {
        self.zones[z as usize]
    }

    /// The highest configured zone at or below `z` (`gfp_zone` folding a missing zone down),
    /// except a missing DMA zone, which is Normal as `OPT_ZONE_DMA` makes it (32-bit ARM
    /// without `CONFIG_ZONE_DMA`: `GFP_DMA` allocates from Normal).
    pub fn resolve_zone(&self, z: ZoneType) -> ZoneType {
        if z == ZoneType::Dma && !self.zones[ZoneType::Dma as usize] {
            return ZoneType::Normal;
        }
        let mut i = z as usize;
        while i > 0 && !self.zones[i] {
            i -= 1;
        }
        ZoneType::ALL[i]
    }
}

/// One free list (a `list_head`), by map index; [`crate::Page::NONE`] when empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeList {
    pub(crate) head: u32,
    pub(crate) tail: u32,
}

impl FreeList {
    const EMPTY: Self = Self { head: crate::Page::NONE, tail: crate::Page::NONE };

    /// True if the list holds no block (`free_area_empty`).
    pub const fn is_empty(&self) -> bool {
        self.head == crate::Page::NONE
    }
}

/// Free blocks of one order (`struct free_area`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeArea {
    pub(crate) free_list: [FreeList; MIGRATE_FREE_LISTS],
    /// Blocks on all lists of this order (`nr_free`).
    pub nr_free: u64,
}

impl FreeArea {
    const EMPTY: Self = Self { free_list: [FreeList::EMPTY; MIGRATE_FREE_LISTS], nr_free: 0 };

    /// True if the list for `mt` is empty (`free_area_empty`).
    pub const fn is_empty(&self, mt: Migratetype) -> bool {
        self.free_list[mt as usize].is_empty()
    }
}

/// Watermark indices (`enum zone_watermarks`).
pub(crate) const WMARK_MIN: usize = 0;
pub(crate) const WMARK_LOW: usize = 1;
pub(crate) const WMARK_HIGH: usize = 2;

/// One zone of a node (`struct zone`).
#[derive(Debug)]
pub struct Zone {
    /// Which zone.
    pub zone_type: ZoneType,
    /// Node id.
    pub nid: i32,
    /// First pfn of the span (0 when the zone spans nothing, as Linux).
    pub zone_start_pfn: u64,
    /// Pages spanned, holes included.
    pub spanned_pages: u64,
    /// Spanned pages minus holes.
    pub present_pages: u64,
    /// Pages handed to the buddy allocator (`managed_pages`).
    pub managed_pages: u64,
    /// Pages of `MIGRATE_CMA` pageblocks handed over by `init_cma_reserved_pageblock`
    /// (`cma_pages`; part of `managed_pages`).
    pub cma_pages: u64,
    /// The buddy free areas behind the zone lock (`zone->lock`): taken for every change of
    /// the free lists, by one CPU at a time ([`Zone::free_area`] reads a copy).
    pub(crate) free_area: spin::Mutex<[FreeArea; MAX_ORDER as usize]>,
    /// `_watermark[WMARK_MIN, WMARK_LOW, WMARK_HIGH]` in pages.
    pub watermark: [u64; 3],
    /// Pages kept back from allocations that could have used a higher zone
    /// (`lowmem_reserve[highest_zoneidx]`).
    pub lowmem_reserve: [u64; MAX_NR_ZONES],
    /// `pageblock_order` of the architecture.
    pub pageblock_order: u32,
    /// Free pages (`NR_FREE_PAGES`), changed under the zone lock, read without it (as the
    /// watermark checks read `vm_stat`).
    pub(crate) nr_free_pages: AtomicU64,
    /// Free pages on the `MIGRATE_CMA` lists (`NR_FREE_CMA_PAGES`, part of `NR_FREE_PAGES`).
    pub(crate) nr_free_cma_pages: AtomicU64,
    /// Pages in blocks handed out by `alloc_pages` and not freed yet, as of the last fold of
    /// the per-CPU counts: the per-CPU fast path does not touch it (see
    /// [`Zone::allocated_pages`]). Signed: a block allocated from a per-CPU list and freed to
    /// the buddy lists is subtracted before its allocation is folded in.
    pub(crate) nr_allocated_pages: AtomicI64,
    /// Pages on per-CPU lists (`free_pcp` of `show_free_areas`), neither in the buddy free
    /// lists nor allocated, as of the last fold (see [`Zone::free_pcp`]).
    pub(crate) nr_pcp_pages: AtomicI64,
    /// Bit `o` set: a free list of a `MIGRATE_PCPTYPES` type of order `o` is not empty (kept
    /// under the zone lock, read without it by the watermark check for `order > 0`).
    pub(crate) free_orders: core::sync::atomic::AtomicU32,
}

impl Zone {
    pub(crate) fn new(zone_type: ZoneType, nid: i32, pageblock_order: u32) -> Self {
        Self {
            zone_type,
            nid,
            zone_start_pfn: 0,
            spanned_pages: 0,
            present_pages: 0,
            managed_pages: 0,
            cma_pages: 0,
            free_area: spin::Mutex::new([FreeArea::EMPTY; MAX_ORDER as usize]),
            watermark: [0; 3],
            lowmem_reserve: [0; MAX_NR_ZONES],
            pageblock_order,
            nr_free_pages: AtomicU64::new(0),
            nr_free_cma_pages: AtomicU64::new(0),
            nr_allocated_pages: AtomicI64::new(0),
            nr_pcp_pages: AtomicI64::new(0),
            free_orders: core::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Linux's name for the zone.
    pub const fn name(&self) -> &'static str {
        self.zone_type.name()
    }
    /// One past the last spanned pfn (`zone_end_pfn`).
    pub const fn zone_end_pfn(&self) -> u64 {
        self.zone_start_pfn + self.spanned_pages
    }
    /// `zone_spans_pfn`.
    pub const fn spans(&self, pfn: u64) -> bool {
        self.zone_start_pfn <= pfn && pfn < self.zone_end_pfn()
    }
    /// `populated_zone`: has present pages.
    pub const fn populated(&self) -> bool {
        self.present_pages != 0
    }
    /// Free pages (`zone_page_state(zone, NR_FREE_PAGES)`).
    pub fn free_pages(&self) -> u64 {
        self.nr_free_pages.load(Relaxed)
    }
    /// Free pages on the `MIGRATE_CMA` lists (`NR_FREE_CMA_PAGES`).
    pub fn free_cma_pages(&self) -> u64 {
        self.nr_free_cma_pages.load(Relaxed)
    }
    /// Pages currently allocated from this zone by `alloc_pages`. Like Linux's `vm_stat`,
    /// the per-CPU fast path keeps its part in the pageset and folds it in whenever it takes
    /// the zone lock (refill, spill, drain): exact after
    /// [`crate::PageAllocator::drain_all`] or without per-CPU pagesets;
    /// [`crate::PageAllocator::zone_counts`] is exact at any time.
    pub fn allocated_pages(&self) -> u64 {
        self.raw_allocated().max(0) as u64
    }
    /// Pages held on the per-CPU lists of this zone (`free_pcp`), with the same folding as
    /// [`Zone::allocated_pages`].
    pub fn free_pcp(&self) -> u64 {
        self.raw_pcp().max(0) as u64
    }
    pub(crate) fn raw_allocated(&self) -> i64 {
        self.nr_allocated_pages.load(Relaxed)
    }
    pub(crate) fn raw_pcp(&self) -> i64 {
        self.nr_pcp_pages.load(Relaxed)
    }
    /// A copy of the buddy free areas (taken under the zone lock).
    pub fn free_area(&self) -> [FreeArea; MAX_ORDER as usize] {
        *self.free_area.lock()
    }
    /// The zone lock (`spin_lock(&zone->lock)`): the free areas, with the zone's fixed fields
    /// reachable through it.
    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked { zone: self, free_area: self.free_area.lock() }
    }
    /// `min_wmark_pages`.
    pub const fn min_wmark_pages(&self) -> u64 {
        self.watermark[WMARK_MIN]
    }
    /// `low_wmark_pages`.
    pub const fn low_wmark_pages(&self) -> u64 {
        self.watermark[WMARK_LOW]
    }
    /// `high_wmark_pages`.
    pub const fn high_wmark_pages(&self) -> u64 {
        self.watermark[WMARK_HIGH]
    }
}

/// A zone with its lock held ([`Zone::lock`]): the free areas, and (through `Deref`) the
/// zone's fixed fields and counters.
pub(crate) struct Locked<'z> {
    pub(crate) zone: &'z Zone,
    pub(crate) free_area: spin::MutexGuard<'z, [FreeArea; MAX_ORDER as usize]>,
}

impl core::ops::Deref for Locked<'_> {
    type Target = Zone;
    fn deref(&self) -> &Zone {
        self.zone
    }
}

/// `a += d` for a counter changed under the zone lock and read without it (one writer at a
/// time: a load and a store, no read-modify-write).
pub(crate) fn add(a: &AtomicU64, d: u64) {
    a.store(a.load(Relaxed).wrapping_add(d), Relaxed);
}
/// `a -= d`, as [`add`].
pub(crate) fn sub(a: &AtomicU64, d: u64) {
    a.store(a.load(Relaxed).wrapping_sub(d), Relaxed);
}
/// `a += d` for a signed counter changed under a lock and read without it.
pub(crate) fn add_i(a: &AtomicI64, d: i64) {
    a.store(a.load(Relaxed).wrapping_add(d), Relaxed);
}

/// Why [`free_area_init`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// memblock holds no memory.
    NoMemory,
    /// The map does not cover the node span `[node_start_pfn, node_end_pfn)`.
    MapTooSmall {
        /// First pfn of the node.
        node_start_pfn: u64,
        /// One past the last pfn of the node.
        node_end_pfn: u64,
    },
    /// `pageblock_order` is not below `MAX_ORDER`.
    BadPageblockOrder,
    /// A memblock memory region names a node at or above [`crate::MAX_NODES`].
    BadNid {
        /// The node id.
        nid: i32,
    },
    /// A memblock memory region names a node that is not online (no `NODE_DATA` for it).
    NotOnline {
        /// The node id.
        nid: i32,
    },
    /// A node with memory got no [`MemMap`].
    NoMap {
        /// The node id.
        nid: i32,
    },
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMemory => f.write_str("free_area_init: no memory in memblock"),
            Self::MapTooSmall { node_start_pfn, node_end_pfn } => {
                write!(f, "free_area_init: mem_map does not cover pfns [{node_start_pfn:#x}, {node_end_pfn:#x})")
            }
            Self::BadPageblockOrder => f.write_str("free_area_init: pageblock_order >= MAX_ORDER"),
            Self::BadNid { nid } => write!(f, "free_area_init: node {nid} >= MAX_NODES ({})", crate::MAX_NODES),
            Self::NotOnline { nid } => write!(f, "free_area_init: memory on node {nid}, which is not online (no NODE_DATA)"),
            Self::NoMap { nid } => write!(f, "free_area_init: no mem_map for node {nid}"),
        }
    }
}

/// A node (`pg_data_t`): its memory map, zones and allocator state.
pub struct Node<'a> {
    /// Node id.
    pub nid: i32,
    /// The architecture's configuration.
    pub config: ArchConfig,
    /// First pfn with memory (`node_start_pfn`).
    pub node_start_pfn: u64,
    /// Pages from the first to the last memory pfn (`node_spanned_pages`).
    pub node_spanned_pages: u64,
    /// Pages with memory (`node_present_pages`).
    pub node_present_pages: u64,
    /// `min_free_kbytes` (0 until [`Node::init_per_zone_wmark_min`]).
    pub min_free_kbytes: u64,
    pub(crate) zones: [Zone; MAX_NR_ZONES],
    pub(crate) mem_map: MemMap<'a>,
    /// `node_zonelists[ZONELIST_FALLBACK]`.
    pub(crate) zonelist: crate::Zonelist,
    /// The node order the zonelist was built from.
    pub(crate) node_order: heapless::Vec<i32, { crate::MAX_NODES }>,
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("nid", &self.nid)
            .field("node_start_pfn", &self.node_start_pfn)
            .field("node_spanned_pages", &self.node_spanned_pages)
            .field("node_present_pages", &self.node_present_pages)
            .field("mem_map", &self.mem_map)
            .finish()
    }
}

impl<'a> Node<'a> {
    /// Node `nid` without memory: every zone empty, an empty map, no zonelist yet. This is
    /// what a memoryless node is after `free_area_init`, and what `NODE_DATA` storage holds
    /// before it (the caller writes it into freshly allocated storage).
    pub fn memoryless(config: ArchConfig, nid: i32) -> Self {
        Self {
            nid,
            config,
            node_start_pfn: 0,
            node_spanned_pages: 0,
            node_present_pages: 0,
            min_free_kbytes: 0,
            zones: core::array::from_fn(|i| Zone::new(ZoneType::ALL[i], nid, config.pageblock_order)),
            mem_map: MemMap::new(&mut [], 0),
            zonelist: crate::Zonelist::default(),
            node_order: heapless::Vec::new(),
        }
    }

    /// True if the node has memory (`N_MEMORY`).
    pub const fn has_memory(&self) -> bool {
        self.node_present_pages != 0
    }

    /// The zone of type `z` (empty if the architecture lacks it).
    pub fn zone(&self, z: ZoneType) -> &Zone {
        &self.zones[z as usize]
    }
    /// All zone slots, in index order.
    pub fn zones(&self) -> &[Zone; MAX_NR_ZONES] {
        &self.zones
    }
    /// The memory map.
    pub fn mem_map(&self) -> &MemMap<'a> {
        &self.mem_map
    }
    /// The zone spanning `pfn`, if any (`page_zone` for a pfn inside a zone span).
    pub fn zone_of(&self, pfn: u64) -> Option<ZoneType> {
        self.zones.iter().find(|z| z.populated() && z.spans(pfn)).map(|z| z.zone_type)
    }
    /// Sum of present pages (`get_num_physpages`).
    pub fn physpages(&self) -> u64 {
        self.zones.iter().map(|z| z.present_pages).sum()
    }
    /// Sum of managed pages (`totalram_pages`).
    pub fn totalram_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.managed_pages).sum()
    }
    /// Sum of free pages (`nr_free_pages`).
    pub fn nr_free_pages(&self) -> u64 {
        self.zones.iter().map(Zone::free_pages).sum()
    }
    /// Managed pages of HighMem (`totalhigh_pages`).
    pub fn totalhigh_pages(&self) -> u64 {
        self.zones[ZoneType::HighMem as usize].managed_pages
    }
    /// The pageblock migratetype of `pfn` (`get_pageblock_migratetype`), if the map covers it.
    pub fn pageblock_migratetype(&self, pfn: u64) -> Option<Migratetype> {
        let start = pfn & !((1u64 << self.config.pageblock_order) - 1);
        self.mem_map.get(start).map(|_| self.mem_map.pageblock_mt(start))
    }
}

/// The node a memblock region belongs to: its `nid`, with memblock's "no node"
/// ([`memblock::MAX_NUMNODES`]) counting as node 0 (`memblock_get_region_node`, as a
/// non-NUMA or firmware-without-SRAT Linux boot puts everything on node 0).
pub fn region_nid(r: &memblock::Region) -> i32 {
    if r.nid == memblock::MAX_NUMNODES || r.nid < 0 {
        0
    } else {
        r.nid
    }
}

/// Memory pfn ranges `[PFN_UP(base), PFN_DOWN(end))` of memblock with their node, non-empty
/// ones, ascending (`for_each_mem_pfn_range(MAX_NUMNODES)`).
pub(crate) fn mem_pfn_ranges_all<'m>(memblock: &'m Memblock<'_>) -> impl Iterator<Item = (u64, u64, i32)> + 'm {
    memblock.memory().iter().map(|r| (pfn_up(r.base), pfn_down(r.end()), region_nid(r))).filter(|(s, e, _)| s < e)
}

/// The memory pfn ranges of node `nid` (`for_each_mem_pfn_range(nid)`).
pub(crate) fn mem_pfn_ranges<'m>(memblock: &'m Memblock<'_>, nid: i32) -> impl Iterator<Item = (u64, u64)> + 'm {
    mem_pfn_ranges_all(memblock).filter(move |r| r.2 == nid).map(|(s, e, _)| (s, e))
}

/// Pages in `[start, end)` not covered by node `nid`'s memory (`__absent_pages_in_range`).
fn absent_pages_in_range(memblock: &Memblock<'_>, nid: i32, start: u64, end: u64) -> u64 {
    let mut absent = end.saturating_sub(start);
    for (s, e) in mem_pfn_ranges(memblock, nid) {
        let s = s.clamp(start, end);
        let e = e.clamp(start, end);
        absent -= e - s;
    }
    absent
}

/// `get_pfn_range_for_nid`: `[first, last)` memory pfn of node `nid`, `None` without memory.
pub fn node_pfn_range(memblock: &Memblock<'_>, nid: i32) -> Option<(u64, u64)> {
    let start = mem_pfn_ranges(memblock, nid).map(|r| r.0).min()?;
    let end = mem_pfn_ranges(memblock, nid).map(|r| r.1).max()?;
    Some((start, end))
}

/// The pfn range `[start, end)` node `nid`'s [`MemMap`] must cover: the node span with its start
/// aligned down to `MAX_ORDER_NR_PAGES` (`alloc_node_mem_map`); `None` for a node without memory.
/// The caller allocates the map node-locally (e.g. `memblock_alloc_try_nid(.., nid)`).
pub fn node_map_pfn_range(memblock: &Memblock<'_>, nid: i32) -> Option<(u64, u64)> {
    node_pfn_range(memblock, nid).map(|(s, e)| (s & !(crate::MAX_ORDER_NR_PAGES - 1), e))
}

/// `arch_zone_{lowest,highest}_possible_pfn` from `max_zone_pfn[]` (`free_area_init`).
pub(crate) fn arch_zone_limits(
    config: &ArchConfig,
    max_zone_pfn: [u64; MAX_NR_ZONES],
    memblock: &Memblock<'_>,
) -> ([u64; MAX_NR_ZONES], [u64; MAX_NR_ZONES]) {
    let mut lowest = [0u64; MAX_NR_ZONES];
    let mut highest = [0u64; MAX_NR_ZONES];
    let mut start_pfn = pfn_down(memblock.start_of_dram());
    for z in ZoneType::ALL {
        if z == ZoneType::Movable || !config.has_zone(z) {
            continue;
        }
        let end_pfn = max_zone_pfn[z as usize].max(start_pfn);
        lowest[z as usize] = start_pfn;
        highest[z as usize] = end_pfn;
        start_pfn = end_pfn;
    }
    (lowest, highest)
}

/// Prints `Zone ranges:`, `Movable zone start for each node` and `Early memory node ranges`
/// (ranges of node `only_nid`, or of every node).
pub(crate) fn print_zone_ranges(
    config: &ArchConfig,
    lowest: &[u64; MAX_NR_ZONES],
    highest: &[u64; MAX_NR_ZONES],
    memblock: &Memblock<'_>,
    only_nid: Option<i32>,
    log: &mut dyn LineSink,
) {
    log.line(format_args!("Zone ranges:"));
    for z in ZoneType::ALL {
        if z == ZoneType::Movable || !config.has_zone(z) {
            continue;
        }
        let (lo, hi) = (lowest[z as usize], highest[z as usize]);
        if lo == hi {
            log.line(format_args!("  {:<8} empty", z.name()));
        } else {
            log.line(format_args!(
                "  {:<8} [mem {:#018x}-{:#018x}]",
                z.name(),
                lo << PAGE_SHIFT,
                (hi << PAGE_SHIFT) - 1
            ));
        }
    }
    // No kernelcore=/movablecore=: no node has a ZONE_MOVABLE start to print.
    log.line(format_args!("Movable zone start for each node"));
    log.line(format_args!("Early memory node ranges"));
    for (s, e, nid) in mem_pfn_ranges_all(memblock) {
        if only_nid.is_none_or(|n| n == nid) {
            log.line(format_args!("  node {:>3}: [mem {:#018x}-{:#018x}]", nid, s << PAGE_SHIFT, (e << PAGE_SHIFT) - 1));
        }
    }
}

/// `free_area_init_node` + `calculate_node_totalpages` for node `nid` (which has memory):
/// prints `Initmem setup node N [mem …]` and lays out the zones. The page map is initialised
/// later by [`memmap_init`].
pub(crate) fn free_area_init_node<'a>(
    config: ArchConfig,
    nid: i32,
    lowest: &[u64; MAX_NR_ZONES],
    highest: &[u64; MAX_NR_ZONES],
    memblock: &Memblock<'_>,
    mem_map: MemMap<'a>,
    log: &mut dyn LineSink,
) -> Result<Node<'a>, InitError> {
    let (node_start_pfn, node_end_pfn) = node_pfn_range(memblock, nid).ok_or(InitError::NoMemory)?;
    log.line(format_args!(
        "Initmem setup node {} [mem {:#018x}-{:#018x}]",
        nid,
        node_start_pfn << PAGE_SHIFT,
        if node_end_pfn != 0 { (node_end_pfn << PAGE_SHIFT) - 1 } else { 0 }
    ));
    if mem_map.start_pfn() > node_start_pfn || mem_map.end_pfn() < node_end_pfn {
        return Err(InitError::MapTooSmall { node_start_pfn, node_end_pfn });
    }

    // calculate_node_totalpages.
    let mut zones: [Zone; MAX_NR_ZONES] = core::array::from_fn(|i| Zone::new(ZoneType::ALL[i], nid, config.pageblock_order));
    let mut node_present = 0;
    for z in ZoneType::ALL {
        let zi = z as usize;
        if !config.has_zone(z) || z == ZoneType::Movable {
            continue;
        }
        let zone_start = node_start_pfn.clamp(lowest[zi], highest[zi]);
        let zone_end = node_end_pfn.clamp(lowest[zi], highest[zi]);
        let spanned = if zone_end < node_start_pfn || zone_start > node_end_pfn {
            0
        } else {
            zone_end.min(node_end_pfn) - zone_start.max(node_start_pfn)
        };
        let zone = &mut zones[zi];
        if spanned != 0 {
            zone.zone_start_pfn = zone_start.max(node_start_pfn);
            zone.spanned_pages = spanned;
            zone.present_pages =
                spanned - absent_pages_in_range(memblock, nid, zone.zone_start_pfn, zone.zone_end_pfn());
        }
        node_present += zone.present_pages;
    }
    Ok(Node {
        nid,
        config,
        node_start_pfn,
        node_spanned_pages: node_end_pfn - node_start_pfn,
        node_present_pages: node_present,
        min_free_kbytes: 0,
        zones,
        mem_map,
        zonelist: crate::Zonelist::default(),
        node_order: heapless::Vec::new(),
    })
}

/// `memmap_init`: walks the memory ranges of all nodes (or only of `only_nid`) in address
/// order, initialises each populated zone's part of a range, and attributes the gap since the
/// previous part (`hole_pfn`, shared across nodes as in Linux) to this zone of this range's
/// node. With SPARSEMEM the tail up to the end of the last section goes to the last zone of
/// the last node. `nodes` is indexed by nid.
pub(crate) fn memmap_init(
    config: &ArchConfig,
    memblock: &Memblock<'_>,
    nodes: &mut [Option<&mut Node<'_>>],
    only_nid: Option<i32>,
    log: &mut dyn LineSink,
) {
    let pb_order = config.pageblock_order;
    let mut hole_pfn = 0u64;
    let mut last: Option<(i32, usize)> = None;
    let mut last_end = 0u64;
    for (start, end, nid) in mem_pfn_ranges_all(memblock) {
        if only_nid.is_some_and(|n| n != nid) {
            continue;
        }
        let Some(Some(node)) = nodes.get_mut(nid as usize) else { continue };
        last_end = end;
        let Node { zones, mem_map, .. } = node;
        for zone in zones.iter().filter(|z| z.populated()) {
            let zi = zone.zone_type as usize;
            let s = start.clamp(zone.zone_start_pfn, zone.zone_end_pfn());
            let e = end.clamp(zone.zone_start_pfn, zone.zone_end_pfn());
            if s >= e {
                continue;
            }
            // memmap_init_range: memory pages of this zone; pageblocks start MOVABLE.
            for pfn in s..e {
                let page = mem_map.page(pfn);
                page.set_zone(zi as u8);
                page.set_flags(PageFlags::RESERVED);
                if pfn & ((1 << pb_order) - 1) == 0 {
                    mem_map.set_pageblock_mt(pfn, Migratetype::Movable);
                }
            }
            if hole_pfn < s {
                init_unavailable_range(config, memblock, mem_map, hole_pfn, s, zone.zone_type, nid, log);
            }
            hole_pfn = e;
            last = Some((nid, zi));
        }
    }
    if let (MemoryModel::Sparsemem { section_size_bits }, Some((nid, zi))) = (config.memory_model, last) {
        let section_pages = 1u64 << (section_size_bits - PAGE_SHIFT);
        let end = last_end.next_multiple_of(section_pages);
        if hole_pfn < end {
            if let Some(Some(node)) = nodes.get_mut(nid as usize) {
                init_unavailable_range(config, memblock, &mut node.mem_map, hole_pfn, end, ZoneType::ALL[zi], nid, log);
            }
        }
    }
}

/// Computes the zones of node `nid`, initialises the page map (zones, holes, pageblock
/// migratetypes) and prints Linux's boot lines (`free_area_init` + `free_area_init_node` +
/// `memmap_init`), for example for a 128 MiB PC on i386:
///
/// ```text
/// Zone ranges:
///   DMA      [mem 0x0000000000001000-0x0000000000ffffff]
///   Normal   [mem 0x0000000001000000-0x0000000007fdffff]
///   HighMem  empty
/// Movable zone start for each node
/// Early memory node ranges
///   node   0: [mem 0x0000000000001000-0x000000000009efff]
///   node   0: [mem 0x0000000000100000-0x0000000007fdffff]
/// Initmem setup node 0 [mem 0x0000000000001000-0x0000000007fdffff]
/// On node 0, zone DMA: 1 pages in unavailable ranges
/// On node 0, zone DMA: 97 pages in unavailable ranges
/// ```
///
/// Only memblock memory regions of node `nid` count (see [`region_nid`]: regions without a
/// node are node 0); for several nodes use [`crate::NodeSet::free_area_init`].
/// `max_zone_pfn[z]` is the exclusive pfn limit of zone `z` (ignored for zones the
/// architecture lacks and for `Movable`). The map must cover the node span.
pub fn free_area_init<'a>(
    config: ArchConfig,
    nid: i32,
    max_zone_pfn: [u64; MAX_NR_ZONES],
    memblock: &Memblock<'_>,
    mem_map: MemMap<'a>,
    log: &mut dyn LineSink,
) -> Result<Node<'a>, InitError> {
    if config.pageblock_order >= MAX_ORDER {
        return Err(InitError::BadPageblockOrder);
    }
    if mem_pfn_ranges(memblock, nid).next().is_none() {
        return Err(InitError::NoMemory);
    }
    let (lowest, highest) = arch_zone_limits(&config, max_zone_pfn, memblock);
    print_zone_ranges(&config, &lowest, &highest, memblock, Some(nid), log);
    if nid < 0 || nid as usize >= crate::MAX_NODES {
        return Err(InitError::BadNid { nid });
    }
    let mut node = free_area_init_node(config, nid, &lowest, &highest, memblock, mem_map, log)?;
    let mut nodes: [Option<&mut Node<'a>>; crate::MAX_NODES] = core::array::from_fn(|_| None);
    nodes[nid as usize] = Some(&mut node);
    memmap_init(&config, memblock, &mut nodes, Some(nid), log);
    Ok(node)
}

/// The `(nid, zone)` pairs that [`crate::NodeSet::free_area_init`] will populate (present
/// pages > 0), by nid then zone index, computed from memblock and the zone limits alone: what
/// a caller needs to size per-CPU pageset storage before the nodes exist. Equal to
/// [`crate::NodeSet::populated_zones`] afterwards.
pub fn populated_zones(
    config: &ArchConfig,
    max_zone_pfn: [u64; MAX_NR_ZONES],
    memblock: &Memblock<'_>,
) -> heapless::Vec<(i32, ZoneType), { crate::MAX_NODES * MAX_NR_ZONES }> {
    let (lowest, highest) = arch_zone_limits(config, max_zone_pfn, memblock);
    let mut out = heapless::Vec::new();
    for nid in 0..crate::MAX_NODES as i32 {
        let Some((node_start, node_end)) = node_pfn_range(memblock, nid) else { continue };
        for z in ZoneType::ALL {
            let zi = z as usize;
            if !config.has_zone(z) || z == ZoneType::Movable {
                continue;
            }
            let start = node_start.clamp(lowest[zi], highest[zi]);
            let end = node_end.clamp(lowest[zi], highest[zi]);
            if start < end && absent_pages_in_range(memblock, nid, start, end) < end - start {
                let _ = out.push((nid, z));
            }
        }
    }
    out
}

/// The pfn intervals `[s, e)` whose pageblock start is `pfn_valid` (inside the map with
/// FLATMEM; in a section with memory with SPARSEMEM), in address order, each computed from a
/// range rather than page by page: holes can span most of a 64-bit address space.
fn valid_intervals<'m>(config: &ArchConfig, memblock: &'m Memblock<'_>, map_pfns: (u64, u64)) -> impl Iterator<Item = (u64, u64)> + 'm {
    let pb = 1u64 << config.pageblock_order;
    let flat = match config.memory_model {
        // A pfn counts when its pageblock's first pfn is in the map.
        MemoryModel::Flatmem => Some((map_pfns.0.next_multiple_of(pb), map_pfns.1.next_multiple_of(pb))),
        MemoryModel::Sparsemem { .. } => None,
    };
    let sparse = match config.memory_model {
        MemoryModel::Sparsemem { section_size_bits } => Some(1u64 << (section_size_bits - PAGE_SHIFT)),
        MemoryModel::Flatmem => None,
    };
    // Sections with memory, merged where they touch (memory regions are sorted by base).
    let mut regions = memblock.memory().iter().map(|r| (pfn_down(r.base), pfn_up(r.end()))).peekable();
    let sections = core::iter::from_fn(move || {
        let sec = sparse?;
        let (b, e) = regions.next()?;
        let (s, mut end) = ((b / sec) * sec, e.div_ceil(sec).saturating_mul(sec));
        while let Some(&(nb, ne)) = regions.peek() {
            if (nb / sec) * sec > end {
                break;
            }
            end = end.max(ne.div_ceil(sec).saturating_mul(sec));
            regions.next();
        }
        Some((s, end))
    });
    flat.into_iter().chain(sections).filter(|(s, e)| s < e)
}

/// Marks `[spfn, epfn)` as a reserved hole of zone `zone` and prints how many valid pages it
/// has (`init_unavailable_range`: a pfn counts when `pfn_valid` holds for its pageblock's first
/// pfn). The cost is per valid interval and per page of the map, never per pfn of the hole.
#[allow(clippy::too_many_arguments)]
fn init_unavailable_range(
    config: &ArchConfig,
    memblock: &Memblock<'_>,
    map: &mut MemMap<'_>,
    spfn: u64,
    epfn: u64,
    zone: ZoneType,
    nid: i32,
    log: &mut dyn LineSink,
) {
    let mut pgcnt = 0u64;
    let map_pfns = (map.start_pfn(), map.end_pfn());
    for (s, e) in valid_intervals(config, memblock, map_pfns).map(|(s, e)| (s.max(spfn), e.min(epfn))).filter(|(s, e)| s < e) {
        pgcnt += e - s;
        // Only pages the map has get their struct page initialised.
        for pfn in s.max(map.start_pfn())..e.min(map.end_pfn()) {
            let page = map.page(pfn);
            page.set_zone(zone as u8);
            page.set_flags(PageFlags(PageFlags::RESERVED.0 | PageFlags::HOLE.0));
        }
    }
    if pgcnt != 0 {
        log.line(format_args!("On node {}, zone {}: {} pages in unavailable ranges", nid, zone.name(), pgcnt));
    }
}

impl Node<'_> {
    /// The zone index of a page, `None` for a page outside every zone.
    pub(crate) fn page_zone_idx(&self, pfn: u64) -> Option<usize> {
        let z = self.mem_map.get(pfn)?.zone_idx();
        (z != NO_ZONE).then_some(z as usize)
    }
}
