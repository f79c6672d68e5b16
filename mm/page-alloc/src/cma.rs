//! CMA, the Contiguous Memory Allocator (Linux 6.1 `mm/cma.c`, `init_cma_reserved_pageblock`,
//! `alloc_contig_range`), without page migration.
//!
//! # Lifecycle (as in Linux's boot)
//! 1. Reservation, while memblock is live: a device-tree `shared-dma-pool` region that is
//!    `reusable` and not `no-map` ([`CmaAreas::init_reserved_mem`], `cma_init_reserved_mem`,
//!    called by `rmem_cma_setup`), or an area placed by [`CmaAreas::declare_contiguous`]
//!    (`cma_declare_contiguous_nid`, for `cma=` and the configured default size). Each area is
//!    `[base, base + size)`, aligned to `CMA_MIN_ALIGNMENT_BYTES` (one pageblock), reserved in
//!    memblock, and counted in `totalcma_pages` at once: the `Memory:` line, printed before the
//!    areas are activated, shows it as `cma-reserved` and leaves it out of `reserved`.
//! 2. Activation ([`NodeSet::cma_init_reserved_areas`], Linux's `core_initcall`
//!    `cma_init_reserved_areas` → `cma_activate_area`): every page must be in one zone;
//!    each pageblock becomes `MIGRATE_CMA`, its pages stop being Reserved and are freed to the
//!    buddy allocator as one pageblock-order block (`init_cma_reserved_pageblock`), counted in
//!    `managed_pages` and the zone's `cma_pages`. An area that fails is given to the buddy
//!    allocator as ordinary pages and dropped from `totalcma_pages`
//!    (`CMA area NAME could not be activated`).
//! 3. [`NodeSet::cma_alloc`] / [`NodeSet::cma_release`] take contiguous page ranges out of an
//!    area and give them back.
//!
//! # No migration: CMA pageblocks serve `cma_alloc` alone
//! Linux lets movable allocations borrow free CMA pages (`ALLOC_CMA`) and, when `cma_alloc`
//! wants the range, migrates the borrowed pages elsewhere (`alloc_contig_range`). memfw has no
//! page migration: a page lent to an ordinary allocation could not be taken back, and
//! `cma_alloc` could then fail for good. So here no request falls back into `MIGRATE_CMA`
//! ([`crate::Migratetype::fallbacks`]), a request cannot name it ([`crate::AllocError::CmaMigratetype`]),
//! free CMA pages do not count towards the watermarks (Linux without `ALLOC_CMA`), and a page of
//! a CMA pageblock can only be freed through [`NodeSet::cma_release`]
//! ([`crate::FreeError::Cma`]). In exchange, `cma_alloc` of any free, suitably aligned range of
//! an area always succeeds, the whole area included.
//!
//! # State
//! The areas ([`CmaAreas`], Linux's `cma_areas[]`) hold only where they are. Which pages of an
//! area are in use is read from the page metadata: a page of an activated area is either in a
//! free buddy block on a `MIGRATE_CMA` list, or in a block `cma_alloc` handed out. Linux keeps
//! a bitmap per area because borrowed (movable) pages make the two differ; here they cannot.
//! A `cma_alloc` range is handed out page by page (each an allocated order-0 `MIGRATE_CMA`
//! page, as Linux's `alloc_contig_range` leaves them), so any part of it can be released, as in
//! Linux.
use core::fmt;

use memblock::{Memblock, NUMA_NO_NODE};
use mm_types::{LineSink, PAGE_SHIFT, PAGE_SIZE};

use crate::buddy::{del_page_from_free_list, free_one_page};
use crate::zone::add_i;
use crate::page::PageFlags;
use crate::report::{k, print_memory_line_cma};
use crate::{KernelSections, Migratetype, Node, NodeSet, Pfn, MAX_ORDER};

/// `MAX_CMA_AREAS` = `1 + CONFIG_CMA_AREAS`, 19 on a NUMA build such as Debian's arm64 kernel.
pub const MAX_CMA_AREAS: usize = 20;
/// `CMA_MAX_NAME`.
pub const CMA_MAX_NAME: usize = 64;
/// `SZ_1M`.
const SZ_1M: u64 = 1 << 20;
/// `SZ_4G`.
const SZ_4G: u64 = 1 << 32;

/// One CMA area (`struct cma`): `[base_pfn, base_pfn + count)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmaArea {
    name: heapless::String<CMA_MAX_NAME>,
    base_pfn: u64,
    count: u64,
    order_per_bit: u32,
}

impl CmaArea {
    /// The area's name (`cma_get_name`): the device-tree node name, `reserved` for the default
    /// area of `dma_contiguous_reserve`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// First pfn.
    pub const fn base_pfn(&self) -> u64 {
        self.base_pfn
    }
    /// Pages (`cma->count`; 0 after a failed activation).
    pub const fn count(&self) -> u64 {
        self.count
    }
    /// Physical base address (`cma_get_base`).
    pub const fn base(&self) -> u64 {
        self.base_pfn << PAGE_SHIFT
    }
    /// Bytes (`cma_get_size`).
    pub const fn size(&self) -> u64 {
        self.count << PAGE_SHIFT
    }
    /// True if `pfn` lies in the area.
    pub const fn contains(&self, pfn: u64) -> bool {
        self.base_pfn <= pfn && pfn < self.base_pfn + self.count
    }
}

/// Why a CMA operation failed, with Linux's errno where it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmaError {
    /// `-ENOSPC`: all [`MAX_CMA_AREAS`] slots are taken.
    NoSlots,
    /// `-EINVAL`, with what was wrong.
    Invalid(&'static str),
    /// `-EBUSY`: a fixed range is already reserved, or the pages are not free.
    Busy,
    /// `-ENOMEM`: no free range of that size (and alignment).
    NoMemory,
    /// The area was not activated (or its activation failed), or is unknown.
    NoArea,
}

impl CmaError {
    /// The negative errno Linux returns.
    pub const fn errno(self) -> i32 {
        match self {
            Self::NoSlots => -28,
            Self::Invalid(_) | Self::NoArea => -22,
            Self::Busy => -16,
            Self::NoMemory => -12,
        }
    }
}

impl fmt::Display for CmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSlots => f.write_str("cma: no free CMA area slot (-ENOSPC)"),
            Self::Invalid(why) => write!(f, "cma: {why} (-EINVAL)"),
            Self::Busy => f.write_str("cma: range busy (-EBUSY)"),
            Self::NoMemory => f.write_str("cma: no free range (-ENOMEM)"),
            Self::NoArea => f.write_str("cma: area not active"),
        }
    }
}

/// Linux's `%pa` for a `phys_addr_t` of `wide` (64-bit) or 32-bit width.
struct Pa(u64, bool);

impl fmt::Display for Pa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 {
            write!(f, "{:#018x}", self.0)
        } else {
            write!(f, "{:#010x}", self.0)
        }
    }
}

/// The CMA areas (`cma_areas[]`, `cma_area_count`), `totalcma_pages` and
/// `dma_contiguous_default_area`.
#[derive(Clone, Debug)]
pub struct CmaAreas {
    areas: heapless::Vec<CmaArea, MAX_CMA_AREAS>,
    totalcma_pages: u64,
    default_area: Option<usize>,
    pageblock_order: u32,
    phys_addr_64bit: bool,
}

impl CmaAreas {
    /// No areas, for an architecture with `pageblock_order` (`CMA_MIN_ALIGNMENT_PAGES` =
    /// `pageblock_nr_pages`) whose `phys_addr_t` is 64-bit or not
    /// (`CONFIG_PHYS_ADDR_T_64BIT`: the `%pa` width and the bottom-up placement above 4 GiB).
    pub const fn new(pageblock_order: u32, phys_addr_64bit: bool) -> Self {
        Self { areas: heapless::Vec::new(), totalcma_pages: 0, default_area: None, pageblock_order, phys_addr_64bit }
    }

    /// `CMA_MIN_ALIGNMENT_BYTES`: one pageblock.
    pub const fn min_alignment_bytes(&self) -> u64 {
        PAGE_SIZE << self.pageblock_order
    }
    /// `totalcma_pages`: pages of all areas, counted from reservation on.
    pub const fn totalcma_pages(&self) -> u64 {
        self.totalcma_pages
    }
    /// The areas, in declaration order.
    pub fn areas(&self) -> &[CmaArea] {
        &self.areas
    }
    /// Area `i`.
    pub fn get(&self, i: usize) -> Option<&CmaArea> {
        self.areas.get(i)
    }
    /// `dma_contiguous_default_area`: the index of the default area, if one was set.
    pub const fn default_area(&self) -> Option<usize> {
        self.default_area
    }
    /// Makes area `i` the default one (`linux,cma-default`, or `dma_contiguous_reserve`).
    pub fn set_default_area(&mut self, i: usize) {
        if i < self.areas.len() {
            self.default_area = Some(i);
        }
    }
    /// Prints `%pa` as this architecture does.
    fn pa(&self, addr: u64) -> Pa {
        Pa(addr, self.phys_addr_64bit)
    }

    /// `cma_init_reserved_mem`: makes the memblock-reserved `[base, base + size)` an area named
    /// `name` (`cmaN` if `None`). Returns its index.
    ///
    /// # Errors
    /// [`CmaError::NoSlots`] (printed: `cma: Not enough slots for CMA reserved regions!`);
    /// [`CmaError::Invalid`] for size 0, a range memblock has not reserved, or a base or size
    /// not aligned to [`CmaAreas::min_alignment_bytes`] (Linux prints nothing for these).
    pub fn init_reserved_mem(
        &mut self,
        mb: &Memblock<'_>,
        base: u64,
        size: u64,
        order_per_bit: u32,
        name: Option<&str>,
        log: &mut dyn LineSink,
    ) -> Result<usize, CmaError> {
        if self.areas.is_full() {
            log.line(format_args!("cma: Not enough slots for CMA reserved regions!"));
            return Err(CmaError::NoSlots);
        }
        if size == 0 || !mb.is_region_reserved(base, size) {
            return Err(CmaError::Invalid("CMA region empty or not reserved"));
        }
        let min_pages = 1u64 << self.pageblock_order;
        if order_per_bit >= 64 || !min_pages.is_multiple_of(1u64 << order_per_bit) {
            return Err(CmaError::Invalid("order_per_bit larger than a pageblock"));
        }
        if (base | size) & (self.min_alignment_bytes() - 1) != 0 {
            return Err(CmaError::Invalid("CMA region not aligned to a pageblock"));
        }
        let mut n: heapless::String<CMA_MAX_NAME> = heapless::String::new();
        let written = match name {
            Some(s) => fmt::write(&mut n, format_args!("{s}")),
            None => fmt::write(&mut n, format_args!("cma{}", self.areas.len())),
        };
        // snprintf truncates a long name; so does a full String (the part written stays).
        let _ = written;
        let area = CmaArea { name: n, base_pfn: base >> PAGE_SHIFT, count: size >> PAGE_SHIFT, order_per_bit };
        self.areas.push(area).map_err(|_| CmaError::NoSlots)?;
        self.totalcma_pages += size / PAGE_SIZE;
        Ok(self.areas.len() - 1)
    }

    /// `cma_declare_contiguous_nid(base, size, limit, alignment, order_per_bit, fixed, name,
    /// NUMA_NO_NODE)`: reserves an area in memblock and makes it an area. `fixed`: exactly at
    /// `base`; otherwise anywhere in `[base, limit)` (top-down below `highmem_start` when the
    /// range straddles it, high memory first; with a 64-bit `phys_addr_t` and enough memory,
    /// bottom-up from 4 GiB first). `limit` 0 means the end of memory. Prints Linux's lines:
    /// `cma: Reserved 64 MiB at 0x000000007c000000` or `cma: Failed to reserve 64 MiB`.
    ///
    /// # Errors
    /// [`CmaError::Invalid`] (bad size or alignment, a fixed region across the low/high memory
    /// boundary, a region past the limit), [`CmaError::Busy`] (fixed range already reserved),
    /// [`CmaError::NoMemory`], [`CmaError::NoSlots`].
    #[allow(clippy::too_many_arguments)]
    pub fn declare_contiguous(
        &mut self,
        mb: &mut Memblock<'_>,
        base: u64,
        size: u64,
        limit: u64,
        alignment: u64,
        order_per_bit: u32,
        fixed: bool,
        name: &str,
        highmem_start: u64,
        log: &mut dyn LineSink,
    ) -> Result<usize, CmaError> {
        let memblock_end = mb.end_of_dram();
        if self.areas.is_full() {
            log.line(format_args!("cma: Not enough slots for CMA reserved regions!"));
            return Err(CmaError::NoSlots);
        }
        if size == 0 {
            return Err(CmaError::Invalid("size 0"));
        }
        if alignment != 0 && !alignment.is_power_of_two() {
            return Err(CmaError::Invalid("alignment not a power of two"));
        }
        let alignment = alignment.max(self.min_alignment_bytes());
        let fail = |log: &mut dyn LineSink, size: u64, e: CmaError| {
            log.line(format_args!("cma: Failed to reserve {} MiB", size / SZ_1M));
            Err(e)
        };
        if fixed && base & (alignment - 1) != 0 {
            log.line(format_args!("cma: Region at {} must be aligned to {} bytes", self.pa(base), self.pa(alignment)));
            return fail(log, size, CmaError::Invalid("fixed base not aligned"));
        }
        let (Some(base), Some(size)) = (base.checked_next_multiple_of(alignment), size.checked_next_multiple_of(alignment))
        else {
            return fail(log, size, CmaError::Invalid("base or size overflows when aligned"));
        };
        let mut limit = limit & !(alignment - 1);
        let fixed = fixed && base != 0;
        if order_per_bit >= 64 || !(size >> PAGE_SHIFT).is_multiple_of(1u64 << order_per_bit) {
            return Err(CmaError::Invalid("size not a multiple of order_per_bit"));
        }
        if fixed && base < highmem_start && base + size > highmem_start {
            log.line(format_args!(
                "cma: Region at {} defined on low/high memory boundary ({})",
                self.pa(base),
                self.pa(highmem_start)
            ));
            return fail(log, size, CmaError::Invalid("fixed region across the low/high memory boundary"));
        }
        if limit == 0 || limit > memblock_end {
            limit = memblock_end;
        }
        if base.saturating_add(size) > limit {
            log.line(format_args!(
                "cma: Size ({}) of region at {} exceeds limit ({})",
                self.pa(size),
                self.pa(base),
                self.pa(limit)
            ));
            return fail(log, size, CmaError::Invalid("region exceeds the limit"));
        }
        let base = if fixed {
            if mb.is_region_reserved(base, size) || mb.reserve(base, size).is_err() {
                return fail(log, size, CmaError::Busy);
            }
            base
        } else {
            let mut addr = None;
            if self.phys_addr_64bit && !mb.bottom_up() && memblock_end >= SZ_4G + size {
                mb.set_bottom_up(true);
                addr = mb.alloc_range(size, alignment, SZ_4G, limit, NUMA_NO_NODE, true).ok();
                mb.set_bottom_up(false);
            }
            if addr.is_none() && base < highmem_start && limit > highmem_start {
                addr = mb.alloc_range(size, alignment, highmem_start, limit, NUMA_NO_NODE, true).ok();
                limit = highmem_start;
            }
            if addr.is_none() {
                addr = mb.alloc_range(size, alignment, base, limit, NUMA_NO_NODE, true).ok();
            }
            match addr {
                Some(a) => a,
                None => return fail(log, size, CmaError::NoMemory),
            }
        };
        match self.init_reserved_mem(mb, base, size, order_per_bit, Some(name), log) {
            Ok(i) => {
                log.line(format_args!("cma: Reserved {} MiB at {}", size / SZ_1M, self.pa(base)));
                Ok(i)
            }
            Err(e) => {
                let _ = mb.free(base, size);
                fail(log, size, e)
            }
        }
    }
}

/// The naturally aligned chunks `[pfn, pfn + 1 << order)` of `[start, end)`, largest first from
/// each position (`__free_pages_memory`'s split), at most `MAX_ORDER - 1`.
fn chunks(start: u64, end: u64) -> impl Iterator<Item = (u64, u32)> {
    let mut p = start;
    core::iter::from_fn(move || {
        if p >= end {
            return None;
        }
        let mut order = if p == 0 { MAX_ORDER - 1 } else { (MAX_ORDER - 1).min(p.trailing_zeros()) };
        while p + (1 << order) > end {
            order -= 1;
        }
        let c = (p, order);
        p += 1 << order;
        Some(c)
    })
}

impl Node<'_> {
    /// `cma_activate_area` for `[base_pfn, base_pfn + count)` on this node: checks that every
    /// page is memory of one zone, still Reserved, then `init_cma_reserved_pageblock` on each
    /// pageblock. On failure nothing has changed.
    fn cma_activate_range(&mut self, base_pfn: u64, count: u64) -> Result<(), &'static str> {
        let pb = 1u64 << self.config.pageblock_order;
        if !base_pfn.is_multiple_of(pb) || !count.is_multiple_of(pb) || count == 0 {
            return Err("not made of whole pageblocks");
        }
        let zi = self.page_zone_idx(base_pfn).ok_or("first page outside every zone")?;
        for pfn in base_pfn..base_pfn + count {
            let page = self.mem_map.get(pfn).ok_or("page outside the memory map")?;
            if page.is_hole() {
                return Err("page in a hole (pfn not valid)");
            }
            if page.zone_idx() as usize != zi {
                return Err("pages in more than one zone");
            }
            if !page.is_reserved() {
                return Err("page not reserved (already handed to the buddy allocator)");
            }
        }
        let mut pfn = base_pfn;
        while pfn < base_pfn + count {
            self.init_cma_reserved_pageblock(zi, pfn);
            pfn += pb;
        }
        Ok(())
    }

    /// `init_cma_reserved_pageblock`: clears Reserved on the pageblock at `pfn`, makes it
    /// `MIGRATE_CMA`, counts it in `managed_pages` and `cma_pages`, and frees it as one block
    /// (`__free_pages(page, pageblock_order)`; Linux may route it through a per-CPU list, which
    /// hands it straight on to `__free_one_page` with the same type).
    fn init_cma_reserved_pageblock(&mut self, zi: usize, pfn: u64) {
        let order = self.config.pageblock_order;
        let Node { zones, mem_map, .. } = self;
        for p in pfn..pfn + (1 << order) {
            let page = mem_map.page(p);
            page.set_flags(PageFlags(0));
        }
        mem_map.set_pageblock_mt(pfn, Migratetype::Cma);
        zones[zi].managed_pages += 1 << order;
        zones[zi].cma_pages += 1 << order;
        free_one_page(mem_map, &mut zones[zi].lock(), pfn, order, Migratetype::Cma, false);
    }

    /// True if `pfn` is a free page (inside a free buddy block).
    fn pfn_free(&self, pfn: u64) -> bool {
        self.free_block_containing(pfn).is_some()
    }

    /// `alloc_contig_range(start, end, MIGRATE_CMA)` without migration: every page of
    /// `[start, end)` must be free (else [`CmaError::Busy`], nothing changed). The free blocks
    /// covering the range leave the free lists, their parts outside the range go back, and each
    /// page of the range becomes an allocated order-0 `MIGRATE_CMA` page (Linux hands out the
    /// pages individually refcounted, not as a compound page).
    fn alloc_contig_range(&self, start: u64, end: u64) -> Result<(), CmaError> {
        let zi = self.page_zone_idx(start).ok_or(CmaError::Busy)?;
        let mut zone = self.zones[zi].lock();
        let mut p = start;
        while p < end {
            match self.free_block_containing(p) {
                Some((head, order)) => p = head + (1 << order),
                None => return Err(CmaError::Busy),
            }
        }
        let mut p = start;
        while p < end {
            let (head, order) = self.free_block_containing(p).ok_or(CmaError::Busy)?;
            let mt = self.mem_map.page(head).migratetype();
            del_page_from_free_list(&self.mem_map, &mut zone, head, order);
            let block_end = head + (1 << order);
            for (c, o) in chunks(head, start.max(head)).chain(chunks(end.min(block_end), block_end)) {
                free_one_page(&self.mem_map, &mut zone, c, o, mt, false);
            }
            p = block_end;
        }
        for pfn in start..end {
            self.mark_allocated(zi, pfn, 0, Migratetype::Cma);
        }
        Ok(())
    }

    /// `free_contig_range(start, end - start)`: every page must be an allocated `MIGRATE_CMA`
    /// page from [`Node::alloc_contig_range`] (else [`CmaError::Busy`], nothing changed); each
    /// is freed (`__free_page`) to the `MIGRATE_CMA` lists, merging.
    fn free_contig_range(&self, start: u64, end: u64) -> Result<(), CmaError> {
        let zi = self.page_zone_idx(start).ok_or(CmaError::NoArea)?;
        let mut zone = self.zones[zi].lock();
        for pfn in start..end {
            let ok = self.mem_map.get(pfn).is_some_and(|p| {
                p.is_head() && p.order() == 0 && p.migratetype() == Migratetype::Cma && p.zone_idx() as usize == zi
            });
            if !ok {
                return Err(CmaError::Busy);
            }
        }
        for pfn in start..end {
            let page = self.mem_map.page(pfn);
            page.set_flags(PageFlags(0));
            page.set_order(0);
            add_i(&zone.nr_allocated_pages, -1);
            free_one_page(&self.mem_map, &mut zone, pfn, 0, Migratetype::Cma, false);
        }
        Ok(())
    }
}

impl NodeSet<'_> {
    /// The `Memory:` line (`mem_init_print_info`) with `totalcma_pages`: `reserved` is present
    /// minus managed minus `totalcma_pages`, `cma-reserved` is `totalcma_pages`. Printed, as in
    /// Linux, after `memblock_free_all` and before the areas are activated.
    pub fn mem_init_print_info_cma(&self, sections: &KernelSections, totalcma_pages: u64, log: &mut dyn LineSink) {
        let phys = self.physpages();
        let reserved = phys.saturating_sub(self.totalram_pages() + totalcma_pages);
        let totals = (k(self.nr_free_pages() + self.nr_pcp_pages()), k(phys), k(reserved), k(self.totalhigh_pages()));
        print_memory_line_cma(self.config(), totals, k(totalcma_pages), sections, log);
    }

    /// `cma_init_reserved_areas` (a `core_initcall`, after the `Memory:` line): activates every
    /// area; one that cannot be activated is handed to the buddy allocator as ordinary pages,
    /// dropped from `totalcma_pages` and printed as `cma: CMA area NAME could not be activated`.
    /// Returns the pages now in `MIGRATE_CMA` pageblocks.
    pub fn cma_init_reserved_areas(&mut self, areas: &mut CmaAreas, log: &mut dyn LineSink) -> u64 {
        let mut activated = 0;
        for i in 0..areas.areas.len() {
            let (base, count) = (areas.areas[i].base_pfn, areas.areas[i].count);
            let result = match self.pfn_to_nid(base).and_then(|nid| self.node_mut(nid)) {
                Some(node) => node.cma_activate_range(base, count),
                None => Err("no node holds the area"),
            };
            match result {
                Ok(()) => activated += count,
                Err(why) => {
                    // out_error: expose all pages to the buddy allocator (free_reserved_page).
                    if let Some(node) = self.pfn_to_nid(base).and_then(|nid| self.node_mut(nid)) {
                        node.free_range(base, base + count);
                    }
                    areas.totalcma_pages -= count;
                    areas.areas[i].count = 0;
                    log.line(format_args!("cma: CMA area {} could not be activated", areas.areas[i].name));
                    log.line(format_args!("cma: ({why})"));
                }
            }
        }
        activated
    }

    /// `cma_alloc(cma, count, align, no_warn = false)`: `count` contiguous pages of `area`,
    /// the first pfn aligned to `1 << align` pages, the lowest such free range
    /// (`bitmap_find_next_zero_area_off`). The pages come back as allocated `MIGRATE_CMA`
    /// blocks; give them back with [`NodeSet::cma_release`]. A failure is printed as Linux
    /// does: `cma: cma_alloc: NAME: alloc failed, req-size: N pages, ret: -12`.
    ///
    /// # Errors
    /// [`CmaError::NoArea`] for an area that is not active, [`CmaError::Invalid`] for
    /// `count` 0 or larger than the area (not printed, as in Linux), [`CmaError::NoMemory`]
    /// when no free aligned range is left.
    pub fn cma_alloc(&self, area: &CmaArea, count: u64, align: u32, log: &mut dyn LineSink) -> Result<Pfn, CmaError> {
        if area.count == 0 {
            return Err(CmaError::NoArea);
        }
        if count == 0 {
            return Err(CmaError::Invalid("cma_alloc of 0 pages"));
        }
        if count > area.count {
            return Err(CmaError::Invalid("cma_alloc of more pages than the area has"));
        }
        let nid = self.pfn_to_nid(area.base_pfn).ok_or(CmaError::NoArea)?;
        let node = self.node(nid).ok_or(CmaError::NoArea)?;
        if node.mem_map.get(area.base_pfn).is_none_or(|p| p.is_reserved()) {
            return Err(CmaError::NoArea);
        }
        // bitmap_find_next_zero_area_off over "page not free", order_per_bit pages a bit.
        let shift = area.order_per_bit;
        let bits = area.count >> shift;
        let nr = count.div_ceil(1 << shift);
        let mask = if align <= shift { 0 } else { (1u64 << (align - shift).min(63)) - 1 };
        let offset = (area.base_pfn & ((1u64 << align.min(63)) - 1)) >> shift;
        let used = |node: &Node<'_>, bit: u64| {
            let first = area.base_pfn + (bit << shift);
            (first..first + (1 << shift)).any(|p| !node.pfn_free(p))
        };
        let mut start = 0u64;
        let found = loop {
            let Some(zero) = (start..bits).find(|&b| !used(node, b)) else { break None };
            let index = ((zero + offset + mask) & !mask) - offset;
            let end = index + nr;
            if end > bits {
                break None;
            }
            match (index..end).find(|&b| used(node, b)) {
                Some(b) => start = b + 1,
                None => break Some(index),
            }
        };
        let result = match found {
            Some(bit) => {
                let pfn = area.base_pfn + (bit << shift);
                node.alloc_contig_range(pfn, pfn + count).map(|()| Pfn(pfn))
            }
            None => Err(CmaError::NoMemory),
        };
        if let Err(e) = result {
            log.line(format_args!(
                "cma: cma_alloc: {}: alloc failed, req-size: {count} pages, ret: {}",
                area.name,
                e.errno()
            ));
        }
        result
    }

    /// `cma_release(cma, pages, count)`: gives back `count` pages at `pfn` that
    /// [`NodeSet::cma_alloc`] returned. Returns `false`, changing nothing, when `pfn` is not in
    /// the area (`cma_pages_valid`), as Linux does.
    ///
    /// # Errors
    /// [`CmaError::Invalid`] when the range runs past the area's end (Linux's `VM_BUG_ON`),
    /// [`CmaError::Busy`] when a page of the range is not held from `cma_alloc` (already
    /// released, or never allocated: Linux would report a bad page); nothing changes.
    pub fn cma_release(&self, area: &CmaArea, pfn: Pfn, count: u64) -> Result<bool, CmaError> {
        if !area.contains(pfn.0) {
            return Ok(false);
        }
        if pfn.0 + count > area.base_pfn + area.count || count == 0 {
            return Err(CmaError::Invalid("cma_release range runs past the area"));
        }
        let nid = self.pfn_to_nid(pfn.0).ok_or(CmaError::NoArea)?;
        let node = self.node(nid).ok_or(CmaError::NoArea)?;
        node.free_contig_range(pfn.0, pfn.0 + count)?;
        Ok(true)
    }

    /// Free pages of `area` (on the `MIGRATE_CMA` lists).
    pub fn cma_free_pages(&self, area: &CmaArea) -> u64 {
        let Some(node) = self.pfn_to_nid(area.base_pfn).and_then(|nid| self.node(nid)) else { return 0 };
        (area.base_pfn..area.base_pfn + area.count).filter(|&p| node.pfn_free(p)).count() as u64
    }
}
