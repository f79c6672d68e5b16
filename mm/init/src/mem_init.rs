//! `mem_init`: from a populated memblock to a running buddy allocator (Linux `mm_core_init`:
//! `free_area_init`, `memblock_free_all`, `init_per_zone_wmark_min`, `mem_init_print_info`).
//!
//! 1. The page-metadata array (`mem_map`, FLATMEM) is allocated from memblock, inside the
//!    linear map, covering `[start_pfn, max_pfn)` with `start_pfn` rounded down to a
//!    `MAX_ORDER` block; the platform turns it into a slice (the only step that needs `unsafe`,
//!    so it is the platform's closure). Its size is reported in bytes per page and in total.
//! 2. `free_area_init` lays out the zones from the platform's `max_zone_pfns` and prints
//!    Linux's `Zone ranges:` block.
//! 3. `memblock_free_all` hands every free memblock range to the buddy allocator in
//!    order-aligned chunks; reserved pages stay reserved. No memblock allocation may follow.
//! 4. memblock retires (`memblock_discard`): region arrays it allocated for itself when it grew
//!    go to the buddy allocator too; memblock is consumed, so nothing can use it afterwards.
//! 5. The `Memory: …K/…K available` line (CMA areas counted as `cma-reserved`), and the
//!    accounting check: every present page is either managed (handed to the buddy allocator)
//!    or reserved, and the free pages the buddy allocator holds equal the pages memblock had
//!    free.
//! 6. The CMA areas become `MIGRATE_CMA` pageblocks (`cma_init_reserved_areas`, a
//!    `core_initcall` in Linux, so after the `Memory:` line); the check is repeated with them
//!    managed.
//! 7. Watermarks (`init_per_zone_wmark_min`, a `postcore_initcall`: CMA pages count in
//!    `managed_pages` by then).

use memblock::{Memblock, NUMA_NO_NODE};
use mm_types::{LineSink, MemRange, PAGE_SHIFT, PAGE_SIZE};
use page_alloc::cma::CmaAreas;
use page_alloc::{
    node_map_pfn_range, ArchConfig, KernelSections, MemMap, Node, NodeSet, Page, ZoneType, MAX_NODES, MAX_NR_ZONES,
};

use crate::{BootError, PagingInfo};

/// Turns `count` pages of metadata at physical `phys` into a slice, every entry written with
/// [`Page::INIT`] first; `None` if the platform cannot reach the range.
pub type MapPages<'f, 'a> = &'f mut dyn FnMut(u64, usize) -> Option<&'a mut [Page]>;

/// What `mem_init` measured, for reports and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemInitReport {
    /// Lowest pfn any node's `mem_map` covers, and the pages all maps cover.
    pub map_start_pfn: u64,
    pub map_pages: u64,
    /// Bytes of `mem_map`.
    pub map_bytes: u64,
    /// Pages `memblock_free_all` handed over.
    pub freed_pages: u64,
    /// Present pages in all zones.
    pub present_pages: u64,
    /// Present pages that stayed reserved (after the CMA areas were activated).
    pub reserved_pages: u64,
    /// Pages of activated CMA areas (`MIGRATE_CMA` pageblocks).
    pub cma_pages: u64,
}

/// Counts the page frames memblock considers free: `[PFN_UP(start), PFN_DOWN(end))` of each
/// free range below `end_pfn`, exactly as `memblock_free_all` rounds them.
fn memblock_free_pages(mb: &Memblock<'_>, end_pfn: u64) -> u64 {
    mb.free_ranges(NUMA_NO_NODE)
        .map(|(s, e, _)| {
            let (s, e) = (mm_types::pfn_up(s), mm_types::pfn_down(e).min(end_pfn));
            e.saturating_sub(s)
        })
        .sum()
}

/// `max_zone_pfn[]` for `free_area_init` from the platform's `[DMA, Normal, HighMem]` limits:
/// `[DMA, DMA32, Normal, HighMem, Movable]`, DMA32 (where configured: arm64) ending where DMA
/// does, so it is empty, as on arm64 Linux without a 32-bit DMA limit below 4 GiB.
pub fn max_zone_pfn(paging: &PagingInfo) -> [u64; MAX_NR_ZONES] {
    let [dma, normal, high] = paging.max_zone_pfns;
    let mut max_zone_pfn = [0u64; MAX_NR_ZONES];
    max_zone_pfn[ZoneType::Dma as usize] = dma;
    max_zone_pfn[ZoneType::Dma32 as usize] = dma;
    max_zone_pfn[ZoneType::Normal as usize] = normal;
    max_zone_pfn[ZoneType::HighMem as usize] = high;
    max_zone_pfn
}

/// Runs the steps of the module documentation over every online node: `node_data[nid]` is
/// the `pg_data_t` storage of each online node (`NODE_DATA`, from [`crate::numa`] or a static
/// node 0), memoryless nodes included; memory ids come from memblock (regions without one are
/// node 0). Each node's `mem_map` is allocated on that node (falling back to any node, as
/// `memblock_alloc_try_nid` does). `distance` orders the zonelists (`/distance-map`, or 10/20
/// without one). `cma` holds the CMA areas reserved so far (none on an architecture
/// without CMA); they are activated here, after the `Memory:` line.
///
/// # Errors
/// [`BootError::MemInit`] with the step that failed (already logged).
// The steps need all of these; grouping them in a struct would only rename the list.
#[allow(clippy::too_many_arguments)]
pub fn mem_init<'a>(
    arch: ArchConfig,
    paging: &PagingInfo,
    mut mb: Memblock<'_>,
    node_data: [Option<&'a mut Node<'a>>; MAX_NODES],
    map_pages: MapPages<'_, 'a>,
    sections: &KernelSections,
    distance: &dyn Fn(i32, i32) -> u8,
    cma: &mut CmaAreas,
    log: &mut dyn LineSink,
) -> Result<(NodeSet<'a>, MemInitReport), BootError> {
    let fail = |log: &mut dyn LineSink, what: &'static str| {
        log.line(format_args!("mem_init: {what}"));
        BootError::MemInit(what)
    };
    let limit = paging.max_low_pfn << PAGE_SHIFT;
    let mut maps: [Option<MemMap<'a>>; MAX_NODES] = [const { None }; MAX_NODES];
    let (mut map_pages_total, mut map_bytes_total, mut first_pfn) = (0u64, 0u64, u64::MAX);
    for nid in 0..MAX_NODES as i32 {
        let Some((start_pfn, end_pfn)) = node_map_pfn_range(&mb, nid) else { continue };
        let end_pfn = end_pfn.min(paging.max_pfn);
        if end_pfn <= start_pfn {
            continue;
        }
        let count = end_pfn - start_pfn;
        // The pages' metadata, then the usemap (one entry per 2^USEMAP_SHIFT pages).
        let entries = MemMap::storage_len(count as usize) as u64;
        let bytes = entries * Page::BYTES as u64;
        let phys = mb
            .alloc_range(mm_types::align_up(bytes, PAGE_SIZE), PAGE_SIZE, 0, limit, nid, false)
            .map_err(|_| fail(log, "cannot allocate the page-metadata array (mem_map) from memblock"))?;
        log.line(format_args!(
            "mem_map: node {nid}: {count} pages x {} bytes + usemap {} x {} bytes = {} KiB at {} for pfns [{start_pfn:#x}, {end_pfn:#x})",
            Page::BYTES,
            entries - count,
            Page::BYTES,
            bytes >> 10,
            MemRange::new(phys, bytes)
        ));
        let pages = map_pages(phys, entries as usize).ok_or_else(|| fail(log, "the platform cannot map mem_map"))?;
        maps[nid as usize] = Some(MemMap::try_new(pages, start_pfn).map_err(|_| fail(log, "mem_map start not MAX_ORDER aligned"))?);
        map_pages_total += count;
        map_bytes_total += bytes;
        first_pfn = first_pfn.min(start_pfn);
    }
    if map_pages_total == 0 {
        return Err(fail(log, "no RAM for a page map"));
    }

    let mut nodes = NodeSet::free_area_init(arch, max_zone_pfn(paging), &mb, node_data, maps, log).map_err(|e| {
        log.line(format_args!("free_area_init: {e}"));
        BootError::MemInit("free_area_init failed")
    })?;
    // start_kernel: build_all_zonelists comes before mm_init's hand-off.
    nodes.build_all_zonelists(distance, log);

    let expected_free = memblock_free_pages(&mb, paging.max_pfn);
    report_reserved_at_handoff(&mb, log);
    let mut freed = nodes.memblock_free_all(&mb);
    let discarded = memblock_discard(mb, &mut nodes, log);
    freed += discarded;
    nodes.mem_init_print_info_cma(sections, cma.totalcma_pages(), log);

    let (present, managed, reserved) = page_counts(&nodes);
    log.line(format_args!(
        "mem_init: {freed} pages freed to the buddy allocator; present {present} = managed {managed} + reserved {reserved}"
    ));
    if freed != expected_free + discarded {
        log.line(format_args!("mem_init: memblock had {expected_free} free pages but {} were freed", freed - discarded));
        return Err(BootError::MemInit("pages lost between memblock and the buddy allocator"));
    }
    if present != managed + reserved || managed != freed || nodes.nr_free_pages() != freed {
        return Err(fail(log, "page accounting does not add up"));
    }
    nodes.check().map_err(|e| {
        log.line(format_args!("mem_init: buddy allocator check: {e}"));
        BootError::MemInit("buddy allocator inconsistent after the hand-off")
    })?;

    // core_initcall(cma_init_reserved_areas).
    let mut cma_pages = 0;
    if !cma.areas().is_empty() {
        let declared: u64 = cma.areas().iter().map(|a| a.count()).sum();
        cma_pages = nodes.cma_init_reserved_areas(cma, log);
        let (present, managed_now, reserved) = page_counts(&nodes);
        let zone_cma: u64 = nodes.nodes().flat_map(|n| n.zones().iter()).map(|z| z.cma_pages).sum();
        log.line(format_args!(
            "cma: {} area(s), {cma_pages} pages now MIGRATE_CMA pageblocks; present {present} = managed {managed_now} + reserved {reserved}",
            cma.areas().len()
        ));
        // A failed area's pages went to the buddy allocator as ordinary pages.
        if zone_cma != cma_pages
            || cma.totalcma_pages() != cma_pages
            || managed_now != managed + declared
            || present != managed_now + reserved
            || nodes.nr_free_pages() != freed + declared
        {
            return Err(fail(log, "page accounting does not add up after the CMA areas were activated"));
        }
        nodes.check().map_err(|e| {
            log.line(format_args!("mem_init: buddy allocator check: {e}"));
            BootError::MemInit("buddy allocator inconsistent after the CMA activation")
        })?;
    }
    // postcore_initcall(init_per_zone_wmark_min).
    nodes.init_per_zone_wmark_min();
    let (present, _, reserved) = page_counts(&nodes);
    let report = MemInitReport {
        map_start_pfn: first_pfn,
        map_pages: map_pages_total,
        map_bytes: map_bytes_total,
        freed_pages: freed,
        present_pages: present,
        reserved_pages: reserved,
        cma_pages,
    };
    Ok((nodes, report))
}

/// `(present, managed, reserved)` pages of all zones; reserved = Reserved pages that are not
/// holes.
fn page_counts(nodes: &NodeSet<'_>) -> (u64, u64, u64) {
    let zones = || nodes.nodes().flat_map(|n| n.zones().iter());
    let present: u64 = zones().map(|z| z.present_pages).sum();
    let managed: u64 = zones().map(|z| z.managed_pages).sum();
    let reserved: u64 = nodes
        .nodes()
        .map(|n| {
            let m = n.mem_map();
            (m.start_pfn()..m.end_pfn()).filter(|&pfn| m.get(pfn).is_some_and(|p| p.is_reserved() && !p.is_hole())).count() as u64
        })
        .sum();
    (present, managed, reserved)
}

/// What stays reserved when `memblock_free_all` runs: a summary line, then one line per
/// `memblock.reserved` region (`memblock_free_all: reserved [mem A-B] (N KiB)`). Everything
/// allocated from memblock until now is in it (page tables, per-CPU areas, `mem_map`, grown
/// region arrays) next to the early reservations; `cargo xtask run --memmap` draws it.
fn report_reserved_at_handoff(mb: &Memblock<'_>, log: &mut dyn LineSink) {
    log.line(format_args!(
        "memblock_free_all: {} reserved region(s), {} KiB, stay reserved; the rest of RAM goes to the buddy allocator",
        mb.reserved().len(),
        mb.reserved_size().div_ceil(1024)
    ));
    for r in mb.reserved() {
        log.line(format_args!("memblock_free_all: reserved {} ({} KiB)", MemRange::new(r.base, r.size), r.size.div_ceil(1024)));
    }
}

/// The reserved ranges at one moment, to report what a step allocated from memblock: Linux logs
/// no addresses for `paging_init`'s page-table pages, and a picture of the memory map needs them.
#[derive(Debug)]
pub struct ReservedSnapshot {
    ranges: heapless::Vec<(u64, u64), 64>,
    /// More regions were reserved than the snapshot holds: nothing can be reported.
    overflow: bool,
}

impl ReservedSnapshot {
    /// The ranges `mb` has reserved now.
    pub fn take(mb: &Memblock<'_>) -> Self {
        let mut ranges = heapless::Vec::new();
        let overflow = mb.reserved().iter().any(|r| ranges.push((r.base, r.end())).is_err());
        Self { ranges, overflow }
    }

    /// Logs each range reserved in `mb` since the snapshot as `{what} [mem A-B] (N page(s))`,
    /// one line per contiguous range, and returns the pages they cover.
    pub fn report_new(&self, mb: &Memblock<'_>, what: &str, log: &mut dyn LineSink) -> u64 {
        if self.overflow {
            log.line(format_args!("{what}: not listed ({} reserved regions before, more than tracked)", mb.reserved().len()));
            return 0;
        }
        let mut pages = 0;
        let mut emit = |from: u64, to: u64| {
            let n = mm_types::pfn_up(to) - mm_types::pfn_down(from);
            log.line(format_args!("{what} {} ({n} page(s))", MemRange::new(from, to - from)));
            pages += n;
        };
        for r in mb.reserved() {
            // Both lists are sorted and disjoint: walk the old ranges across `r`.
            let mut cursor = r.base;
            for &(s, e) in &self.ranges {
                if e <= cursor {
                    continue;
                }
                if s >= r.end() {
                    break;
                }
                if s > cursor {
                    emit(cursor, s);
                }
                cursor = e;
                if cursor >= r.end() {
                    break;
                }
            }
            if cursor < r.end() {
                emit(cursor, r.end());
            }
        }
        pages
    }
}

/// `memblock_discard`: frees the region arrays memblock allocated for itself (never the static
/// ones) to the buddy allocator, and drops memblock. Returns the pages freed.
fn memblock_discard(mb: Memblock<'_>, nodes: &mut NodeSet<'_>, log: &mut dyn LineSink) -> u64 {
    let arrays = [
        ("reserved", mb.reserved_array_base(), mb.reserved_capacity()),
        ("memory", mb.memory_array_base(), mb.memory_capacity()),
    ];
    // memblock is retired here, before its arrays go to the buddy allocator: nothing may use it
    // (or the borrows it holds) again. Memblock has no Drop; the drop ends the borrows.
    #[allow(clippy::drop_non_drop)]
    drop(mb);
    let mut freed = 0;
    for (name, base, capacity) in arrays {
        if let Some(base) = base {
            let bytes = memblock::region_array_bytes(capacity);
            let (start, end) = (mm_types::pfn_down(base), mm_types::pfn_up(base + bytes));
            let pages = match nodes.pfn_to_nid(start).and_then(|nid| nodes.node_mut(nid)) {
                Some(node) => node.free_range(start, end),
                None => 0,
            };
            log.line(format_args!(
                "memblock: {name} array ({capacity} regions) at {} freed, {pages} page(s)",
                MemRange::new(base, bytes)
            ));
            freed += pages;
        }
    }
    freed
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    use crate::test_support::Lines;

    use crate::test_support::EMPTY;

    #[test]
    fn snapshot_reports_only_what_was_reserved_since() {
        let (mut memory, mut reserved) = ([EMPTY; 8], [EMPTY; 8]);
        let mut mb = Memblock::new(&mut memory, &mut reserved);
        mb.add(0, 0x10_0000).unwrap();
        mb.reserve(0x1000, 0x1000).unwrap();
        mb.reserve(0x5000, 0x800).unwrap();
        let snap = ReservedSnapshot::take(&mb);
        // One allocation merges with an old region, one extends another, one stands alone.
        mb.reserve(0x2000, 0x1000).unwrap();
        mb.reserve(0x5800, 0x800).unwrap();
        mb.reserve(0x8000, 0x2000).unwrap();
        let mut log = Lines::default();
        assert_eq!(snap.report_new(&mb, "paging_init: page-table pages", &mut log), 4);
        assert_eq!(
            log.0,
            [
                "paging_init: page-table pages [mem 0x0000000000002000-0x0000000000002fff] (1 page(s))",
                "paging_init: page-table pages [mem 0x0000000000005800-0x0000000000005fff] (1 page(s))",
                "paging_init: page-table pages [mem 0x0000000000008000-0x0000000000009fff] (2 page(s))",
            ]
        );
        let mut log = Lines::default();
        report_reserved_at_handoff(&mb, &mut log);
        assert_eq!(log.0[0], "memblock_free_all: 3 reserved region(s), 20 KiB, stay reserved; the rest of RAM goes to the buddy allocator");
        assert_eq!(log.0[1], "memblock_free_all: reserved [mem 0x0000000000001000-0x0000000000002fff] (8 KiB)");
        assert_eq!(log.0.len(), 4);
    }
}
