//! [`apply`]: hand a [`DtMemoryInfo`] to memblock the way Linux 6.1 does on ARM.
//!
//! Order (arch/arm `arm_memblock_init`, which arm64's `arm64_memblock_init` follows for the DT
//! parts):
//! 1. `early_init_dt_scan_memory` → `early_init_dt_add_memory_arch`: each bank is page-aligned
//!    inwards (a bank smaller than a page after that is ignored with "Ignoring memory block"),
//!    cut at the platform's physical limit (`MAX_MEMBLOCK_ADDR` + 1: a bank starting above it
//!    is ignored, one crossing it is cut with "Ignoring memory range"), and added with its node
//!    id and `HOTPLUG` when `hotpluggable`.
//!    Node ids: Linux adds with no node and later assigns `numa-node-id`s (`of_numa_init`); if
//!    that fails it falls back to `dummy_numa_init` (all memory on node 0). We do the same in
//!    one step: [`crate::of_numa_init`] decides (printing its `OF: NUMA:` lines), each bank is
//!    added with its node, and the decision is in [`ApplyReport::numa`].
//! 2. `reserve_initrd_mem`: `[round_down(start), round_up(end))` to pages; refused (with
//!    " - disabling initrd") when not entirely RAM or when it overlaps something reserved.
//! 3. `early_init_fdt_reserve_self`: `[dtb_phys, dtb_phys + totalsize)`.
//! 4. `early_init_fdt_scan_reserved_mem`: every `/memreserve/` entry is `memblock_reserve`d;
//!    then `/reserved-memory` static children (`__reserved_mem_reserve_reg` →
//!    `early_init_dt_reserve_memory`: with `no-map`, refused with -EBUSY when the range is RAM
//!    and already reserved, else `memblock_mark_nomap`; without, `memblock_reserve`; size-0
//!    entries fail); then dynamic children (`fdt_init_reserved_mem` →
//!    `__reserved_mem_alloc_size`): alignment defaults to `SMP_CACHE_BYTES`, reusable
//!    `shared-dma-pool` regions without `no-map` are aligned to at least the CMA minimum,
//!    `alloc-ranges` are tried in order (`[start, start + size)`), else anywhere, top-down;
//!    `no-map` marks the allocation NOMAP (freed again if that fails).
//! 5. `fdt_init_reserved_mem` → `__reserved_mem_init_node`, in Linux's order (the regions sorted
//!    by base, so the dynamic ones, saved with base 0, first, each right after its allocation;
//!    then the static ones by base): a `shared-dma-pool` region goes through `rmem_cma_setup`.
//!    With `cma=` on the command line a `linux,cma-default` region steps aside ("bypass …");
//!    a region that is not `reusable`, or is `no-map`, is not CMA; base and size must be
//!    aligned to the CMA minimum ("incorrect alignment of CMA region"); then it becomes a CMA
//!    area ([`page_alloc::cma::CmaAreas::init_reserved_mem`], "created CMA memory pool at …",
//!    "initialized node …, compatible id shared-dma-pool"), the default one with
//!    `linux,cma-default`. A reusable region CMA refuses fails every handler (the coherent-pool
//!    one, `rmem_dma_setup`, refuses reusable regions): "node … compatible matching fail", and
//!    the region is given back (`memblock_clear_nomap` / `memblock_phys_free`). A non-reusable
//!    `shared-dma-pool` region is a per-device coherent pool (`rmem_dma_setup`: "created DMA
//!    memory pool at …", arm64 rules) and stays reserved.
//!
//! Ranges outside RAM (the FVP's `vram`) are reserved or marked anyway: memblock keeps them as
//! bookkeeping, exactly as Linux does. Failures Linux only prints (a dynamic region that does not
//! fit, an invalid property, a busy no-map range, an initrd outside RAM) become a printed line and
//! a [`ReservationOutcome::Failed`] entry; only a memblock array overflow is an `Err`.
//!
//! Line formats (one per line to the sink; `[mem …]` is [`MemRange`]'s inclusive form):
//! - `OF: fdt: memory bank [mem …] node N` (plus ` hotplug`), or Linux's
//!   `OF: fdt: Ignoring memory block 0x… - 0x…` / `OF: fdt: Ignoring memory range 0x… - 0x…`
//! - `OF: fdt: reserved [mem …] device tree blob` / `… /memreserve/` / `… initrd`
//! - `OF: reserved mem: [mem …] (K KiB) nomap|map reusable|non-reusable NAME` — Linux's
//!   `fdt_init_reserved_mem` line with the range in `[mem …]` form, printed once the region is
//!   initialised (step 5)
//! - CMA (step 5): `Reserved memory: created CMA memory pool at 0x…, size N MiB`,
//!   `OF: reserved mem: initialized node NAME, compatible id shared-dma-pool`,
//!   `Reserved memory: incorrect alignment of CMA region`,
//!   `Reserved memory: bypass NAME node, using cmdline CMA params instead`,
//!   `OF: reserved mem: node NAME compatible matching fail`
//! - failures: `OF: reserved mem: failed to … for node 'NAME' …`, `INITRD: … - disabling initrd`

use crate::discover::{DtMemoryInfo, ReservedKind, ReservedRegion};
use crate::numa::{of_numa_init, DtNuma};
use crate::DtError;
use heapless::Vec;
use memblock::{Memblock, MemblockError, RegionFlags, ALLOC_ANYWHERE, SMP_CACHE_BYTES};
use mm_types::{align_down, align_up, LineSink, MemRange, PAGE_SIZE};
use page_alloc::cma::CmaAreas;

/// Most reservation outcomes recorded in one [`ApplyReport`].
pub const MAX_AREAS: usize = 160;

/// Kernel configuration the reservation code depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyParams {
    /// `CONFIG_CMA`: reusable `shared-dma-pool` regions get [`Self::cma_min_alignment`].
    pub cma: bool,
    /// `CMA_MIN_ALIGNMENT_BYTES`: `PAGE_SIZE << pageblock_order`; 2 MiB on arm64 with 4 KiB
    /// pages and hugetlb (pageblock_order = 9), 4 MiB where pageblock_order = MAX_ORDER - 1.
    pub cma_min_alignment: u64,
    /// `cma=` was given on the command line (`size_cmdline != -1`): a `linux,cma-default`
    /// region is bypassed.
    pub cmdline_cma: bool,
}

impl Default for ApplyParams {
    fn default() -> Self {
        Self { cma: true, cma_min_alignment: 2 << 20, cmdline_cma: false }
    }
}

impl ApplyParams {
    /// An empty set of CMA areas matching these parameters (pageblock from
    /// [`Self::cma_min_alignment`], 64-bit `phys_addr_t`).
    pub fn cma_areas(&self) -> CmaAreas {
        let pages = (self.cma_min_alignment / PAGE_SIZE).max(1);
        CmaAreas::new(pages.trailing_zeros(), true)
    }
}

/// Who asked for a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservationSource<'a> {
    /// The device-tree blob itself.
    Dtb,
    /// The initrd from `/chosen`.
    Initrd,
    /// A `/memreserve/` entry.
    Memreserve,
    /// A `/reserved-memory` child with `reg`.
    Static(crate::NodeName<'a>),
    /// A `/reserved-memory` child with `size`.
    Dynamic(crate::NodeName<'a>),
}

/// What happened to one reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservationOutcome {
    /// `memblock_reserve`d.
    Reserved,
    /// `memblock_mark_nomap`ped (`no-map`).
    NoMap,
    /// Refused, with Linux's reason.
    Failed(&'static str),
}

/// One line of the reservation report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReservedArea<'a> {
    /// The range (for a failed dynamic region: base 0 and the wanted size).
    pub range: MemRange,
    /// Who asked.
    pub source: ReservationSource<'a>,
    /// What happened.
    pub outcome: ReservationOutcome,
    /// `reusable` (for `/reserved-memory` children).
    pub reusable: bool,
}

/// What [`apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport<'a> {
    /// Banks added to memblock.
    pub banks_added: usize,
    /// Banks dropped by `early_init_dt_add_memory_arch` (smaller than a page once aligned).
    pub banks_ignored: usize,
    /// Size-0 banks skipped during discovery.
    pub zero_size_banks: usize,
    /// The NUMA decision the banks were added with (`None` before [`add_memory`]).
    pub numa: Option<DtNuma>,
    /// Every reservation attempted, in order.
    pub areas: Vec<ReservedArea<'a>, MAX_AREAS>,
    /// How many of `areas` failed.
    pub failures: usize,
    /// The page-aligned initrd range reserved, if any.
    pub initrd: Option<MemRange>,
}

impl<'a> ApplyReport<'a> {
    fn push(&mut self, area: ReservedArea<'a>) -> Result<(), DtError> {
        if matches!(area.outcome, ReservationOutcome::Failed(_)) {
            self.failures += 1;
        }
        self.areas.push(area).map_err(|_| DtError::TooMany { what: "reservations in the report", capacity: MAX_AREAS })
    }
}

fn mb(op: &'static str, base: u64, size: u64) -> impl FnOnce(MemblockError) -> DtError {
    move |err| DtError::Memblock { op, base, size, err }
}

/// Adds the banks and makes the reservations of `info` in `memblock` (see the module doc) with
/// [`ApplyParams::default`]. `dtb_phys` is where the blob lies in physical memory.
///
/// # Errors
/// [`DtError::Memblock`] when memblock's region arrays are full; [`DtError::TooMany`] when the
/// report overflows. Everything Linux only warns about is a line plus a report entry instead.
pub fn apply<'a>(
    info: &DtMemoryInfo<'a>,
    memblock: &mut Memblock<'_>,
    dtb_phys: u64,
    sink: &mut dyn LineSink,
) -> Result<ApplyReport<'a>, DtError> {
    let params = ApplyParams::default();
    apply_with(info, memblock, dtb_phys, &params, &mut params.cma_areas(), sink)
}

/// [`apply`] with explicit kernel-configuration parameters; CMA regions become areas in `cma`.
pub fn apply_with<'a>(
    info: &DtMemoryInfo<'a>,
    memblock: &mut Memblock<'_>,
    dtb_phys: u64,
    params: &ApplyParams,
    cma: &mut CmaAreas,
    sink: &mut dyn LineSink,
) -> Result<ApplyReport<'a>, DtError> {
    let mut rep = ApplyReport::default();
    add_memory(info, memblock, u64::MAX, &mut rep, sink)?;
    reserve(info, memblock, Some(dtb_phys), params, cma, &mut rep, sink)?;
    Ok(rep)
}

/// Step 1 alone (`early_init_dt_scan_memory`): the banks into `memblock.memory`. The platform
/// calls this during discovery and [`reserve`] after `mem=`, the order arm64 Linux uses
/// (`setup_machine_fdt`, then `arm64_memblock_init`).
///
/// # Errors
/// As [`apply`].
/// `max_addr` is the highest physical address the platform can use (Linux's
/// `MAX_MEMBLOCK_ADDR`: `u64::MAX` with a 64-bit `phys_addr_t`, 0xffff_ffff without LPAE; a
/// platform whose linear map reaches less says so here). Memory above it is ignored with
/// Linux's lines, so that an absurd bank (RAM at 2^63) never reaches memblock.
pub fn add_memory<'a>(
    info: &DtMemoryInfo<'a>,
    memblock: &mut Memblock<'_>,
    max_addr: u64,
    rep: &mut ApplyReport<'a>,
    sink: &mut dyn LineSink,
) -> Result<(), DtError> {
    rep.zero_size_banks = info.zero_size_banks;

    // 1. RAM.
    let numa = of_numa_init(info, sink);
    rep.numa = Some(numa);
    for bank in &info.banks {
        let (base, size) = (bank.range.base, bank.range.size);
        // Linux prints `base + size` as a u64, wrapping; so do we.
        let ignore_block = |sink: &mut dyn LineSink, b: u64, s: u64| {
            sink.line(format_args!("OF: fdt: Ignoring memory block {:#x} - {:#x}", b, b.wrapping_add(s)));
        };
        let off = base & (PAGE_SIZE - 1);
        if size < PAGE_SIZE - off {
            ignore_block(sink, base, size);
            rep.banks_ignored += 1;
            continue;
        }
        let abase = align_up(base, PAGE_SIZE);
        let mut asize = (size - if off != 0 { PAGE_SIZE - off } else { 0 }) & !(PAGE_SIZE - 1);
        if abase > max_addr {
            ignore_block(sink, abase, asize);
            rep.banks_ignored += 1;
            continue;
        }
        // base + size - 1 > MAX_MEMBLOCK_ADDR, without overflowing.
        if asize > 0 && asize - 1 > max_addr - abase {
            sink.line(format_args!("OF: fdt: Ignoring memory range {:#x} - {:#x}", max_addr.wrapping_add(1), abase.wrapping_add(asize)));
            asize = max_addr - abase + 1;
        }
        if asize == 0 {
            ignore_block(sink, abase, asize);
            rep.banks_ignored += 1;
            continue;
        }
        let nid = numa.bank_nid(bank);
        let flags = if bank.hotpluggable { RegionFlags::HOTPLUG } else { RegionFlags::NONE };
        memblock.add_node(abase, asize, nid, flags).map_err(mb("add", abase, asize))?;
        let hp = if bank.hotpluggable { " hotplug" } else { "" };
        sink.line(format_args!("OF: fdt: memory bank {} node {nid}{hp}", MemRange::new(abase, asize)));
        rep.banks_added += 1;
    }

    Ok(())
}

/// Steps 2-5 (`reserve_initrd_mem`, `early_init_fdt_reserve_self`,
/// `early_init_fdt_scan_reserved_mem`), after [`add_memory`] and any `mem=` limit. `dtb_phys`
/// is `None` when the blob is not in the machine's memory (the host tool reads it from a file).
/// CMA regions become areas in `cma`.
///
/// # Errors
/// As [`apply`].
pub fn reserve<'a>(
    info: &DtMemoryInfo<'a>,
    memblock: &mut Memblock<'_>,
    dtb_phys: Option<u64>,
    params: &ApplyParams,
    cma: &mut CmaAreas,
    rep: &mut ApplyReport<'a>,
    sink: &mut dyn LineSink,
) -> Result<(), DtError> {
    // 2. initrd (reserve_initrd_mem).
    if let Some(initrd) = info.chosen.as_ref().and_then(|c| c.initrd).filter(|r| r.size != 0) {
        let start = align_down(initrd.base, PAGE_SIZE);
        let end = align_up(initrd.end(), PAGE_SIZE);
        let r = MemRange::new(start, end - start);
        let outcome = if !memblock.is_region_memory(r.base, r.size) {
            sink.line(format_args!("INITRD: {r} is not a memory region - disabling initrd"));
            ReservationOutcome::Failed("initrd is not a memory region")
        } else if memblock.is_region_reserved(r.base, r.size) {
            sink.line(format_args!("INITRD: {r} overlaps in-use memory region - disabling initrd"));
            ReservationOutcome::Failed("initrd overlaps in-use memory region")
        } else {
            memblock.reserve(r.base, r.size).map_err(mb("reserve", r.base, r.size))?;
            sink.line(format_args!("OF: fdt: reserved {r} initrd"));
            rep.initrd = Some(r);
            ReservationOutcome::Reserved
        };
        rep.push(ReservedArea { range: r, source: ReservationSource::Initrd, outcome, reusable: false })?;
    }

    // 3. The blob itself.
    if let Some(dtb_phys) = dtb_phys {
        let dtb = MemRange::new(dtb_phys, info.totalsize);
        memblock.reserve(dtb.base, dtb.size).map_err(mb("reserve", dtb.base, dtb.size))?;
        sink.line(format_args!("OF: fdt: reserved {dtb} device tree blob"));
        rep.push(ReservedArea { range: dtb, source: ReservationSource::Dtb, outcome: ReservationOutcome::Reserved, reusable: false })?;
    }

    // 4a. /memreserve/.
    for &r in &info.memreserve {
        memblock.reserve(r.base, r.size).map_err(mb("reserve", r.base, r.size))?;
        sink.line(format_args!("OF: fdt: reserved {r} /memreserve/"));
        rep.push(ReservedArea { range: r, source: ReservationSource::Memreserve, outcome: ReservationOutcome::Reserved, reusable: false })?;
    }

    let Some(rm) = info.reserved_memory.as_ref() else { return Ok(()) };
    if let Some(why) = rm.ignored {
        sink.line(format_args!("OF: reserved mem: unsupported node format, ignoring ({why})"));
        return Ok(());
    }
    let regions = || rm.regions.iter().filter(|r| r.available);

    // 4b. Static regions (fdt_scan_reserved_mem → __reserved_mem_reserve_reg). Successful
    // ones are initialised and printed in step 5, after the dynamic ones.
    let mut pending: Vec<(usize, &ReservedRegion<'a>, bool), MAX_AREAS> = Vec::new();
    for region in regions() {
        match &region.kind {
            ReservedKind::Invalid { what } => {
                sink.line(format_args!("OF: reserved mem: {what} in '{}', skipping node", region.name));
                rep.push(ReservedArea {
                    range: MemRange::new(0, 0),
                    source: ReservationSource::Static(region.name),
                    outcome: ReservationOutcome::Failed(what),
                    reusable: region.reusable,
                })?;
            }
            ReservedKind::Static { regs } => {
                for (n, &r) in regs.iter().enumerate() {
                    let in_ram = memblock.memory().iter().any(|m| m.base < r.end() && r.base < m.end());
                    let outcome = reserve_static(memblock, r, region.no_map)?;
                    if matches!(outcome, ReservationOutcome::Failed(_)) {
                        print_area(sink, r, region, outcome);
                    }
                    if !in_ram && r.size != 0 {
                        // Linux says nothing here; memblock_mark_nomap outside RAM is a no-op and
                        // memblock_reserve just records it. Say so once per range.
                        sink.line(format_args!("OF: reserved mem: {r} of '{}' is outside RAM", region.name));
                    }
                    rep.push(ReservedArea { range: r, source: ReservationSource::Static(region.name), outcome, reusable: region.reusable })?;
                    if !matches!(outcome, ReservationOutcome::Failed(_)) {
                        // Linux saves (and initialises) the node with its first reg entry.
                        let _ = pending.push((rep.areas.len() - 1, region, n == 0));
                    }
                }
            }
            ReservedKind::Dynamic { .. } | ReservedKind::Empty => {}
        }
    }

    // 4c. Dynamic regions (fdt_init_reserved_mem → __reserved_mem_alloc_size).
    for region in regions() {
        let ReservedKind::Dynamic { size, alignment, alloc_ranges } = &region.kind else { continue };
        let mut align = alignment.unwrap_or(0);
        if params.cma && region.shared_dma_pool && region.reusable && !region.no_map {
            align = align.max(params.cma_min_alignment);
        }
        if align == 0 {
            align = SMP_CACHE_BYTES;
        }
        let mut result = Err(MemblockError::NoMemory);
        if alloc_ranges.is_empty() {
            result = alloc_dynamic(memblock, *size, align, 0, ALLOC_ANYWHERE, region.no_map);
        }
        for r in alloc_ranges {
            result = alloc_dynamic(memblock, *size, align, r.base, r.base.saturating_add(r.size), region.no_map);
            if result.is_ok() {
                break;
            }
        }
        let area = match result {
            Ok(base) => {
                let r = MemRange::new(base, *size);
                let mut outcome = if region.no_map { ReservationOutcome::NoMap } else { ReservationOutcome::Reserved };
                outcome = init_node(memblock, r, region, outcome, params, cma, sink)?;
                ReservedArea { range: r, source: ReservationSource::Dynamic(region.name), outcome, reusable: region.reusable }
            }
            Err(e) => {
                sink.line(format_args!(
                    "OF: reserved mem: failed to allocate memory for node '{}': size {} MiB (align {align:#x}: {e})",
                    region.name,
                    size >> 20
                ));
                ReservedArea {
                    range: MemRange::new(0, *size),
                    source: ReservationSource::Dynamic(region.name),
                    outcome: ReservationOutcome::Failed("cannot allocate"),
                    reusable: region.reusable,
                }
            }
        };
        rep.push(area)?;
    }

    // 5. The static regions, by base (__rmem_check_for_overlap sorts them).
    pending.sort_unstable_by_key(|&(i, _, _)| (rep.areas[i].range.base, rep.areas[i].range.size));
    for (i, region, first) in pending {
        let area = rep.areas[i];
        let outcome = if first {
            init_node(memblock, area.range, region, area.outcome, params, cma, sink)?
        } else {
            print_area(sink, area.range, region, area.outcome);
            area.outcome
        };
        if outcome != area.outcome {
            rep.failures += 1;
            rep.areas[i].outcome = outcome;
        }
    }
    Ok(())
}

/// `__reserved_mem_init_node` for a region reserved at `r` (step 5 of the module
/// documentation), then Linux's `fdt_init_reserved_mem` line; returns the outcome (failed and
/// given back when every handler refused it).
fn init_node(
    memblock: &mut Memblock<'_>,
    r: MemRange,
    region: &ReservedRegion<'_>,
    outcome: ReservationOutcome,
    params: &ApplyParams,
    cma: &mut CmaAreas,
    sink: &mut dyn LineSink,
) -> Result<ReservationOutcome, DtError> {
    if !(params.cma && region.shared_dma_pool) {
        print_area(sink, r, region, outcome);
        return Ok(outcome);
    }
    // rmem_cma_setup.
    let cma_ok = if params.cmdline_cma && region.cma_default {
        sink.line(format_args!("Reserved memory: bypass {} node, using cmdline CMA params instead", region.name));
        false
    } else if !region.reusable || region.no_map {
        false
    } else if (r.base | r.size) & (params.cma_min_alignment - 1) != 0 {
        sink.line(format_args!("Reserved memory: incorrect alignment of CMA region"));
        false
    } else {
        let mut name: heapless::String<{ page_alloc::cma::CMA_MAX_NAME }> = heapless::String::new();
        let _ = core::fmt::write(&mut name, format_args!("{}", region.name));
        match cma.init_reserved_mem(memblock, r.base, r.size, 0, Some(&name), sink) {
            Ok(i) => {
                if region.cma_default {
                    cma.set_default_area(i);
                }
                sink.line(format_args!("Reserved memory: created CMA memory pool at {:#018x}, size {} MiB", r.base, r.size >> 20));
                true
            }
            Err(_) => {
                sink.line(format_args!("Reserved memory: unable to setup CMA region"));
                false
            }
        }
    };
    if !cma_ok && !region.reusable {
        // rmem_dma_setup (CONFIG_DMA_DECLARE_COHERENT, selected by OF_EARLY_FLATTREE): a
        // per-device coherent pool. arm64 takes it with or without no-map (arm32 wants no-map).
        sink.line(format_args!("Reserved memory: created DMA memory pool at {:#018x}, size {} MiB", r.base, r.size >> 20));
    }
    if cma_ok || !region.reusable {
        sink.line(format_args!("OF: reserved mem: initialized node {}, compatible id shared-dma-pool", region.name));
    } else {
        // rmem_dma_setup refuses reusable regions too: no handler took it.
        sink.line(format_args!("OF: reserved mem: node {} compatible matching fail", region.name));
        if region.no_map {
            memblock.clear_nomap(r.base, r.size).map_err(mb("clear_nomap", r.base, r.size))?;
        } else {
            memblock.free(r.base, r.size).map_err(mb("free", r.base, r.size))?;
        }
        return Ok(ReservationOutcome::Failed("compatible matching fail"));
    }
    print_area(sink, r, region, outcome);
    Ok(outcome)
}

/// `early_init_dt_reserve_memory`, plus the size-0 refusal of `__reserved_mem_reserve_reg`.
fn reserve_static(memblock: &mut Memblock<'_>, r: MemRange, nomap: bool) -> Result<ReservationOutcome, DtError> {
    if r.size == 0 {
        return Ok(ReservationOutcome::Failed("size 0"));
    }
    if nomap {
        let overlaps_memory = memblock.memory().iter().any(|m| m.base < r.end() && r.base < m.end());
        if overlaps_memory && memblock.is_region_reserved(r.base, r.size) {
            return Ok(ReservationOutcome::Failed("no-map range already reserved (-EBUSY)"));
        }
        memblock.mark_nomap(r.base, r.size).map_err(mb("mark_nomap", r.base, r.size))?;
        Ok(ReservationOutcome::NoMap)
    } else {
        memblock.reserve(r.base, r.size).map_err(mb("reserve", r.base, r.size))?;
        Ok(ReservationOutcome::Reserved)
    }
}

/// `early_init_dt_alloc_reserved_memory_arch`.
fn alloc_dynamic(memblock: &mut Memblock<'_>, size: u64, align: u64, start: u64, end: u64, nomap: bool) -> Result<u64, MemblockError> {
    let end = if end == 0 { ALLOC_ANYWHERE } else { end };
    let base = memblock.phys_alloc_range(size, align, start, end)?;
    if nomap {
        if let Err(e) = memblock.mark_nomap(base, size) {
            let _ = memblock.free(base, size);
            return Err(e);
        }
    }
    Ok(base)
}

fn print_area(sink: &mut dyn LineSink, r: MemRange, region: &ReservedRegion<'_>, outcome: ReservationOutcome) {
    match outcome {
        ReservationOutcome::Failed(why) => sink.line(format_args!(
            "OF: reserved mem: failed to reserve memory for node '{}': {r} ({why})",
            region.name
        )),
        _ => sink.line(format_args!(
            "OF: reserved mem: {r} ({} KiB) {} {} {}",
            r.size >> 10,
            if region.no_map { "nomap" } else { "map" },
            if region.reusable { "reusable" } else { "non-reusable" },
            region.name
        )),
    }
}
