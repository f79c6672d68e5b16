//! page-alloc: Linux's zoned buddy page allocator (`mm/page_alloc.c`, v6.1), host-testable.
//!
//! # Concepts
//! - [`Page`] (`struct page`): 12 bytes of metadata per 4 KiB page frame, in a caller-provided
//!   array, the [`MemMap`] (`mem_map`, FLATMEM), covering `[start_pfn, end_pfn)`.
//! - A [`Node`] (`pg_data_t`) owns the map and up to [`MAX_NR_ZONES`] [`Zone`]s
//!   (`ZONE_DMA`, `ZONE_DMA32`, `ZONE_NORMAL`, `ZONE_HIGHMEM`, `ZONE_MOVABLE`), each a
//!   contiguous pfn span `[zone_start_pfn, zone_start_pfn + spanned_pages)` with holes.
//! - Each zone has a buddy allocator: `free_area[order]` for orders `0..MAX_ORDER`, one free
//!   list per [`Migratetype`] and `nr_free`. A free block of order `o` is `1 << o` pages,
//!   aligned to its size; its head page carries the `Buddy` flag and the order. Its buddy is
//!   `pfn ^ (1 << order)`.
//! - Every `pageblock_order` block of pages has a migratetype that decides which free list its
//!   pages go to when freed; allocations that fall back to another migratetype may steal whole
//!   pageblocks (anti-fragmentation, `__rmqueue_fallback`).
//!
//! # Lifecycle (as in Linux's boot)
//! 1. The platform builds a memblock and a [`MemMap`] (every page Reserved, like
//!    `__init_single_page` + `SetPageReserved`), then calls [`free_area_init`] with the
//!    per-zone pfn limits (`zone_sizes_init`). It computes the zones and prints the same lines
//!    as Linux (`Zone ranges:` … `On node 0, zone DMA: 1 pages in unavailable ranges`).
//! 2. [`Node::memblock_free_all`] hands every free memblock range to the buddy allocator
//!    (`memblock_free_all` → `__free_pages_memory` → `__free_pages_core`) and counts
//!    `managed_pages`. Reserved ranges stay Reserved.
//! 3. [`Node::init_per_zone_wmark_min`] computes `min_free_kbytes`, the watermarks and
//!    `lowmem_reserve` (`init_per_zone_wmark_min`).
//! 4. NUMA: [`NodeSet`] does steps 1-3 for every online node ([`NodeSet::free_area_init`],
//!    each node's `pg_data_t` in caller storage, one map per node with memory, sized by
//!    [`node_map_pfn_range`]; memoryless nodes included) and [`build_all_zonelists`] orders the
//!    fallback nodes (`find_next_best_node`). [`PageAllocator`] adds per-CPU pagesets
//!    (`setup_per_cpu_pageset`) and is the multi-CPU entry point.
//! 5. CMA areas reserved while memblock was live become `MIGRATE_CMA` pageblocks after the
//!    `Memory:` line ([`NodeSet::cma_init_reserved_areas`]) and serve [`NodeSet::cma_alloc`] /
//!    [`NodeSet::cma_release`] only ([`cma`]).
//! 6. [`Node::alloc_pages`] / [`Node::free_pages`] at run time; [`Node::check`] verifies the
//!    accounting; the reports print `/proc/buddyinfo`, `/proc/zoneinfo`, `show_free_areas` and
//!    the `Memory: …K/…K available` line.
//!
//! # Invariants (kept after every public call, verified by [`Node::check`])
//! - Every page of the map is exactly one of: in a hole (no memory; also Reserved), Reserved,
//!   part of exactly one free buddy block (on exactly one free list), or part of exactly one
//!   allocated block.
//! - Per zone: `sum(nr_free[order] << order)` = pages reached by walking the lists = pages of
//!   Buddy-flagged blocks; `managed_pages` = free + allocated; no two free buddies of the same
//!   order below `MAX_ORDER - 1` are left unmerged.
//! - Bad input (double free, freeing a reserved page, a pfn outside the map) is an error value
//!   and changes nothing.
//!
//! # Differences from Linux, all deliberate
//! - Per-CPU page lists for orders `0..=PAGE_ALLOC_COSTLY_ORDER` as in 6.1, without 6.1's
//!   THP list (no THP here); see [`PerCpuPages`] for the locking model (a lock per pageset
//!   and per zone, page metadata in atomics).
//! - No `HIGHATOMIC`/`ISOLATE` migratetypes, no
//!   compaction, reclaim or OOM killer, no watermark boosting, no `ALLOC_NOFRAGMENT`, no page
//!   shuffling, no `ZONE_DEVICE`; `ZONE_MOVABLE` exists but stays empty (no `kernelcore=`).
//! - At most [`MAX_NODES`] nodes, each with its own FLATMEM-style [`MemMap`] over its span;
//!   a memoryless node has an empty map and empty zones, as Linux's empty `pgdat`.
//! - `__GFP_NOFAIL` cannot loop forever here: after the no-watermark attempt it returns
//!   [`AllocError::NoFailUnsatisfied`] for the caller to report.
//! - The pageblock migratetype lives in the first page of each pageblock (Linux keeps a
//!   separate `pageblock_flags` bitmap); free-list links are indices into the map.
//! - `memblock_free_all` frees highmem too (x86-32 Linux frees it later, page by page, in
//!   `set_highmem_pages_init`; the resulting buddy state is the same).
//! - `MIGRATE_CMA` pageblocks ([`cma`]) serve `cma_alloc` only: without page migration a
//!   movable page borrowed from a CMA pageblock could never be moved out again, so ordinary
//!   allocations never fall back into CMA pageblocks (Linux lets movable allocations use them,
//!   `ALLOC_CMA`, and migrates them away in `alloc_contig_range`). See [`cma`].
//! - `steal_suitable_fallback` counts "movable" pages of a pageblock as pages of blocks this
//!   allocator handed out with [`Migratetype::Movable`] (Linux: `PageLRU` / `__PageMovable`).
#![no_std]
#![forbid(unsafe_code)]

mod buddy;
pub mod cma;
mod check;
mod handoff;
mod numa;
mod page;
mod pcp;
mod report;
mod watermark;
mod zone;

#[cfg(test)]
mod tests;

use core::fmt;

pub use check::CheckError;
pub use page::{MemMap, MemMapError, Page, PageFlags};
pub use report::KernelSections;
pub use numa::{build_all_zonelists, default_distance, NodeSet, Zonelist, LOCAL_DISTANCE, MAX_NODES, REMOTE_DISTANCE};
pub use pcp::{
    order_to_pindex, pcp_allowed_order, pindex_to_order, zone_batchsize, zone_highsize, PageAllocator, PerCpuPages,
    PerCpuPagesets, MAX_CHECK_PAGESETS, MAX_REPORT_CPUS, NR_PCP_LISTS, PAGE_ALLOC_COSTLY_ORDER, PCP_SLOTS,
};
pub use zone::{
    free_area_init, node_map_pfn_range, node_pfn_range, populated_zones, region_nid, ArchConfig, FreeArea, InitError,
    MemoryModel, Node, Zone, ZoneType,
};

/// Number of buddy orders (`MAX_ORDER` in Linux 6.1): orders `0..MAX_ORDER`, the largest block
/// is `1 << (MAX_ORDER - 1)` pages (4 MiB).
pub const MAX_ORDER: u32 = 11;
/// Pages in a largest buddy block (`MAX_ORDER_NR_PAGES`).
pub const MAX_ORDER_NR_PAGES: u64 = 1 << (MAX_ORDER - 1);
/// Zone slots per node (`MAX_NR_ZONES`; unconfigured zones stay empty).
pub const MAX_NR_ZONES: usize = 5;
/// Migratetypes with per-CPU lists and fallbacks (`MIGRATE_PCPTYPES`).
pub const MIGRATE_TYPES: usize = 3;
/// Free lists per order: the [`MIGRATE_TYPES`] and `MIGRATE_CMA`.
pub const MIGRATE_FREE_LISTS: usize = 4;
/// `SWAP_CLUSTER_MAX`: lower clamp of the highmem `min` watermark.
pub const SWAP_CLUSTER_MAX: u64 = 32;
/// `watermark_scale_factor` default (in 1/10000 of managed pages).
pub const WATERMARK_SCALE_FACTOR: u64 = 10;
/// `sysctl_lowmem_reserve_ratio` defaults, indexed by [`ZoneType`].
pub const LOWMEM_RESERVE_RATIO: [u64; MAX_NR_ZONES] = [256, 256, 32, 0, 0];

/// A page-frame number: physical address `>> PAGE_SHIFT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pfn(pub u64);

impl Pfn {
    /// The physical address of the first byte of the page.
    pub const fn phys_addr(self) -> u64 {
        self.0 << mm_types::PAGE_SHIFT
    }
}

impl fmt::Display for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pfn {:#x}", self.0)
    }
}

/// Mobility of an allocation and of a pageblock (`enum migratetype`, the `MIGRATE_PCPTYPES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Migratetype {
    /// `MIGRATE_UNMOVABLE` (kernel data).
    Unmovable = 0,
    /// `MIGRATE_MOVABLE` (user pages, page cache).
    Movable = 1,
    /// `MIGRATE_RECLAIMABLE` (slab caches that can be shrunk).
    Reclaimable = 2,
    /// `MIGRATE_CMA`: pageblocks of a CMA area, handed out by [`NodeSet::cma_alloc`] only
    /// (never a request's type, never a fallback; see [`cma`]).
    Cma = 3,
}

impl Migratetype {
    /// The types a request can ask for (`MIGRATE_PCPTYPES`), in list order.
    pub const ALL: [Self; MIGRATE_TYPES] = [Self::Unmovable, Self::Movable, Self::Reclaimable];
    /// Every type with free lists, in list order (`free_list[MIGRATE_TYPES]`).
    pub const FREE_LISTS: [Self; MIGRATE_FREE_LISTS] = [Self::Unmovable, Self::Movable, Self::Reclaimable, Self::Cma];

    /// The type stored as `v` (only the low two bits are looked at).
    pub(crate) const fn from_bits(v: u8) -> Self {
        match v & 3 {
            1 => Self::Movable,
            2 => Self::Reclaimable,
            3 => Self::Cma,
            _ => Self::Unmovable,
        }
    }

    /// `migratetype_is_mergeable`: free blocks of pageblocks of these types may merge with
    /// each other across pageblocks; `MIGRATE_CMA` merges only with `MIGRATE_CMA`.
    pub const fn is_mergeable(self) -> bool {
        !matches!(self, Self::Cma)
    }

    /// The letter `show_migration_types` prints (`U`, `M`, `E`).
    pub const fn letter(self) -> char {
        match self {
            Self::Unmovable => 'U',
            Self::Movable => 'M',
            Self::Reclaimable => 'E',
            Self::Cma => 'C',
        }
    }

    /// Where to look when this type's lists are empty, in order (`fallbacks[]`); `MIGRATE_CMA`
    /// is in no list (no request is of that type, and no other type falls back into it).
    pub const fn fallbacks(self) -> &'static [Self] {
        match self {
            Self::Unmovable => &[Self::Reclaimable, Self::Movable],
            Self::Movable => &[Self::Reclaimable, Self::Unmovable],
            Self::Reclaimable => &[Self::Unmovable, Self::Movable],
            Self::Cma => &[],
        }
    }
}

/// An allocation request (`gfp_t`, reduced to what this allocator looks at).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gfp {
    /// Highest zone the pages may come from (`gfp_zone`: `__GFP_DMA`, `__GFP_DMA32`,
    /// `__GFP_HIGHMEM`, none = Normal). A zone the architecture lacks means the next lower
    /// configured one, as in Linux.
    pub highest_zone: ZoneType,
    /// Free lists to take from (`gfp_migratetype`: `__GFP_MOVABLE`, `__GFP_RECLAIMABLE`); one
    /// of [`Migratetype::ALL`] ([`Migratetype::Cma`] is refused with
    /// [`AllocError::CmaMigratetype`]).
    pub migratetype: Migratetype,
    /// `__GFP_NOFAIL`: may dip below the watermarks; failure is [`AllocError::NoFailUnsatisfied`].
    pub nofail: bool,
    /// `__GFP_HIGH` (`GFP_ATOMIC`): the `min` watermark is halved (`ALLOC_HIGH`).
    pub high: bool,
}

impl Gfp {
    /// `GFP_KERNEL`: lowmem (up to Normal), unmovable, may fail.
    pub const KERNEL: Self =
        Self { highest_zone: ZoneType::Normal, migratetype: Migratetype::Unmovable, nofail: false, high: false };
    /// `GFP_ATOMIC`: as `GFP_KERNEL` with `__GFP_HIGH`.
    pub const ATOMIC: Self = Self { high: true, ..Self::KERNEL };
    /// `GFP_DMA`: ZONE_DMA only.
    pub const DMA: Self = Self { highest_zone: ZoneType::Dma, ..Self::KERNEL };
    /// `GFP_DMA32`: up to ZONE_DMA32.
    pub const DMA32: Self = Self { highest_zone: ZoneType::Dma32, ..Self::KERNEL };
    /// `GFP_USER`: lowmem, unmovable.
    pub const USER: Self = Self::KERNEL;
    /// `GFP_HIGHUSER`: may use HighMem.
    pub const HIGHUSER: Self = Self { highest_zone: ZoneType::HighMem, ..Self::KERNEL };
    /// `GFP_HIGHUSER_MOVABLE`: may use HighMem and Movable, movable pages.
    pub const HIGHUSER_MOVABLE: Self =
        Self { highest_zone: ZoneType::Movable, migratetype: Migratetype::Movable, nofail: false, high: false };
    /// `GFP_KERNEL_ACCOUNT | __GFP_RECLAIMABLE`-like: lowmem, reclaimable.
    pub const RECLAIMABLE: Self = Self { migratetype: Migratetype::Reclaimable, ..Self::KERNEL };

    /// `self` with `__GFP_NOFAIL`.
    pub const fn nofail(self) -> Self {
        Self { nofail: true, ..self }
    }

    /// `self` with another migratetype.
    pub const fn with_migratetype(self, migratetype: Migratetype) -> Self {
        Self { migratetype, ..self }
    }
}

/// Why [`Node::alloc_pages`] returned no pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// `order >= MAX_ORDER` (Linux warns and returns NULL).
    InvalidOrder {
        /// The order asked for.
        order: u32,
    },
    /// No zone of the zonelist had a free block above its watermark (out of memory).
    NoMemory {
        /// The order asked for.
        order: u32,
    },
    /// A `__GFP_NOFAIL` request could not be met even ignoring the watermarks. Linux would
    /// loop (and OOM-kill) forever; the caller should report this as fatal.
    NoFailUnsatisfied {
        /// The order asked for.
        order: u32,
    },
    /// The request named [`Migratetype::Cma`]: CMA pageblocks are handed out by
    /// [`NodeSet::cma_alloc`] only (`gfp_migratetype` cannot say `MIGRATE_CMA` in Linux either).
    CmaMigratetype {
        /// The order asked for.
        order: u32,
    },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidOrder { order } => write!(f, "page allocation: order {order} >= MAX_ORDER"),
            Self::NoMemory { order } => write!(f, "page allocation failure: order:{order}, out of memory"),
            Self::NoFailUnsatisfied { order } => {
                write!(f, "page allocation failure: order:{order}, __GFP_NOFAIL request cannot be met")
            }
            Self::CmaMigratetype { order } => {
                write!(f, "page allocation: order:{order} asked for MIGRATE_CMA, which only cma_alloc hands out")
            }
        }
    }
}

/// Why [`Node::free_pages`] or [`Node::free_pages_core`] refused a pfn. Nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// `order >= MAX_ORDER`.
    InvalidOrder {
        /// The order passed.
        order: u32,
    },
    /// The block is not aligned to `1 << order` pages.
    Misaligned {
        /// The pfn passed.
        pfn: Pfn,
        /// The order passed.
        order: u32,
    },
    /// Part of the block lies outside the memory map.
    OutsideMap {
        /// The pfn passed.
        pfn: Pfn,
    },
    /// Part of the block is a hole (no memory behind it).
    Hole {
        /// The first page of the block that is a hole.
        pfn: Pfn,
    },
    /// The block lies in no zone or crosses a zone boundary.
    ZoneMismatch {
        /// The pfn passed.
        pfn: Pfn,
    },
    /// The page is already free (`PageBuddy`, or inside a free buddy block): a double free.
    DoubleFree {
        /// The pfn passed.
        pfn: Pfn,
    },
    /// The page is Reserved (never handed to the buddy allocator).
    Reserved {
        /// The pfn passed.
        pfn: Pfn,
    },
    /// The page is allocated but not as the head of a block of this order (a tail page, or
    /// the head of a block of another order).
    NotAllocatedAs {
        /// The pfn passed.
        pfn: Pfn,
        /// The order passed.
        order: u32,
    },
    /// [`Node::free_pages_core`]: a page of the block is not Reserved (already handed over).
    NotReserved {
        /// The first page of the block that is not Reserved.
        pfn: Pfn,
    },
    /// The block lies in a `MIGRATE_CMA` pageblock: it came from `cma_alloc` and goes back
    /// through [`NodeSet::cma_release`].
    Cma {
        /// The pfn passed.
        pfn: Pfn,
    },
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidOrder { order } => write!(f, "free: order {order} >= MAX_ORDER"),
            Self::Misaligned { pfn, order } => write!(f, "free: {pfn} not aligned to order {order}"),
            Self::OutsideMap { pfn } => write!(f, "free: {pfn} outside the memory map"),
            Self::Hole { pfn } => write!(f, "free: {pfn} is in a hole"),
            Self::ZoneMismatch { pfn } => write!(f, "free: {pfn} in no zone or across zones"),
            Self::DoubleFree { pfn } => write!(f, "free: {pfn} is already free (double free)"),
            Self::Reserved { pfn } => write!(f, "free: {pfn} is reserved"),
            Self::NotAllocatedAs { pfn, order } => write!(f, "free: {pfn} is not an allocated order-{order} block"),
            Self::NotReserved { pfn } => write!(f, "free_pages_core: {pfn} is not reserved"),
            Self::Cma { pfn } => write!(f, "free: {pfn} is in a CMA pageblock (release it with cma_release)"),
        }
    }
}

/// `int_sqrt`: the largest `r` with `r * r <= x`.
pub const fn int_sqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    // Bitwise method as in lib/math/int_sqrt.c.
    let mut m: u64 = 1 << ((63 - x.leading_zeros()) & !1);
    let mut y: u64 = 0;
    let mut x = x;
    while m != 0 {
        let b = y + m;
        y >>= 1;
        if x >= b {
            x -= b;
            y += m;
        }
        m >>= 2;
    }
    y
}
