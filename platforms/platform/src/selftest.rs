//! The buddy allocator's boot self-test on real memory: allocations of several orders, zones
//! and migrate types are written through their kernel mapping and read back, freed, and the
//! free counts must return exactly to where they started; a double free must be refused.

use page_alloc::{FreeError, Gfp, Migratetype, NodeSet, Pfn, ZoneType};

use crate::Firmware;

/// Blocks held at once.
const HELD: usize = 64;

fn pattern(pfn: u64, i: usize) -> u32 {
    (pfn as u32).wrapping_mul(0x9e37_79b9) ^ i as u32
}

/// How a self-test reaches a page: the platform object (early, before the per-CPU areas and
/// the allocator's lock), or the calling CPU's `kmap_local` (later, on any CPU).
trait MapPage {
    fn with_page_mapped(&mut self, phys: u64, f: &mut dyn FnMut(*mut u8)) -> Option<()>;
}

impl<P: Firmware> MapPage for P {
    fn with_page_mapped(&mut self, phys: u64, f: &mut dyn FnMut(*mut u8)) -> Option<()> {
        Firmware::with_page_mapped(self, phys, f)
    }
}

/// Pages mapped through [`Firmware::kmap_local`] on the calling CPU.
struct KmapLocal<P>(core::marker::PhantomData<P>);

impl<P: Firmware> MapPage for KmapLocal<P> {
    fn with_page_mapped(&mut self, phys: u64, f: &mut dyn FnMut(*mut u8)) -> Option<()> {
        let virt = P::kmap_local(phys)?;
        f(virt as *mut u8);
        P::kunmap_local(virt).ok()
    }
}

fn fill_and_check(platform: &mut dyn MapPage, pfn: u64, order: u32, write: bool) -> Result<(), &'static str> {
    let mut bad = false;
    for page in [pfn, pfn + (1 << order) - 1] {
        let phys = page << mm_types::PAGE_SHIFT;
        let mut touch = |virt: *mut u8| {
            let words = virt.cast::<u32>();
            for i in [0usize, 1023] {
                #[allow(unsafe_code)]
                // SAFETY: `virt` maps the whole 4 KiB page, which the buddy allocator handed
                // to this test and nobody else uses; word 1023 is the last in the page.
                unsafe {
                    if write {
                        words.add(i).write_volatile(pattern(page, i));
                    } else if words.add(i).read_volatile() != pattern(page, i) {
                        bad = true;
                    }
                }
            }
        };
        platform.with_page_mapped(phys, &mut touch).ok_or("an allocated page cannot be mapped")?;
    }
    if bad {
        return Err("a pattern written to an allocated page did not read back");
    }
    Ok(())
}

/// See the module documentation.
pub fn buddy<P: Firmware>(node: &mut NodeSet<'_>, platform: &mut P) -> Result<(), &'static str> {
    let free_before = node.nr_free_pages();
    let zone_free_before: heapless::Vec<u64, 32> = node.nodes().flat_map(|n| n.zones().iter()).map(|z| z.free_pages()).collect();
    let requests = [
        (Gfp::KERNEL, 0),
        (Gfp::KERNEL.with_migratetype(Migratetype::Movable), 3),
        (Gfp::RECLAIMABLE, 1),
        (Gfp::DMA, 2),
        (Gfp::HIGHUSER_MOVABLE, 0),
        (Gfp::HIGHUSER, 4),
    ];
    let mut held: heapless::Vec<(u64, u32), HELD> = heapless::Vec::new();
    let mut zones_seen = [false; page_alloc::MAX_NR_ZONES];
    for round in 0..HELD {
        let (gfp, order) = requests[round % requests.len()];
        let pfn = node.alloc_pages(0, gfp, order).map_err(|_| "an allocation the free memory could satisfy failed")?;
        if let Some(z) = node.pfn_to_nid(pfn.0).and_then(|nid| node.node(nid)).and_then(|n| n.zone_of(pfn.0)) {
            zones_seen[z as usize] = true;
        }
        fill_and_check(platform, pfn.0, order, true)?;
        held.push((pfn.0, order)).map_err(|_| "test bookkeeping overflow")?;
    }
    for &(pfn, order) in &held {
        fill_and_check(platform, pfn, order, false)?;
    }
    let (pfn0, order0) = held[0];
    for &(pfn, order) in &held {
        node.free_pages(Pfn(pfn), order).map_err(|_| "freeing an allocated block failed")?;
    }
    match node.free_pages(Pfn(pfn0), order0) {
        Err(FreeError::DoubleFree { .. }) => defmt::info!("buddy self-test: a double free of pfn {=u64:#x} was refused", pfn0),
        Err(_) => return Err("a double free was refused for the wrong reason"),
        Ok(()) => return Err("a double free was accepted"),
    }
    node.check().map_err(|_| "buddy allocator inconsistent after the self-test")?;
    let zone_free_after: heapless::Vec<u64, 32> = node.nodes().flat_map(|n| n.zones().iter()).map(|z| z.free_pages()).collect();
    if node.nr_free_pages() != free_before || zone_free_after != zone_free_before {
        return Err("free page counts did not return to their starting values");
    }
    let highmem = zones_seen[ZoneType::HighMem as usize];
    defmt::info!(
        "buddy self-test: {=usize} blocks of orders 0-4 written, read back and freed{=str}; free pages back to {=u64}",
        held.len(),
        if highmem { " (HighMem included)" } else { "" },
        free_before
    );
    Ok(())
}

/// vmalloc on real memory: an area of 16 MiB (or a quarter of free memory on a small machine)
/// from scattered pages (HighMem first where there is some) is written and read back through
/// its new mapping, freed, and the free page count must return exactly (page-table pages
/// included).
pub fn vmalloc<P: Firmware>(a: &page_alloc::PageAllocator<'_>, max_low_pfn: u64) -> Result<(), &'static str> {
    a.drain_all();
    let before = a.nr_free_pages_including_pcp();
    let size: usize = (16usize << 20).min((before as usize / 4) << mm_types::PAGE_SHIFT);
    let addr = crate::vmalloc::vmalloc::<P>(a, 0, 0, size)?;
    let words = size / 4;
    let mut highmem_pages = 0usize;
    for i in (0..words).step_by(1021) {
        #[allow(unsafe_code)]
        // SAFETY: [addr, addr + size) was just mapped read-write by vmalloc and only this CPU
        // uses it until vfree below.
        unsafe {
            (addr as *mut u32).add(i).write_volatile(pattern(addr as u64, i));
        }
    }
    for i in (0..words).step_by(1021) {
        #[allow(unsafe_code)]
        // SAFETY: as above.
        let v = unsafe { (addr as *const u32).add(i).read_volatile() };
        if v != pattern(addr as u64, i) {
            return Err("a word written through a vmalloc mapping did not read back");
        }
    }
    for page in 0..size / 4096 {
        if let Some((phys, _)) = probe::<P>(addr + page * 4096) {
            if phys >> mm_types::PAGE_SHIFT >= max_low_pfn {
                highmem_pages += 1;
            }
        }
    }
    crate::vmalloc::vfree::<P>(a, 0, addr)?;
    a.drain_all();
    let after = a.nr_free_pages_including_pcp();
    if after != before {
        return Err("free pages after vfree differ from before vmalloc");
    }
    defmt::info!(
        "vmalloc self-test: {=usize} KiB at {=u64:#x} from {=usize} pages ({=usize} HighMem) written, read back and freed; free pages back to {=u64}",
        size >> 10,
        addr as u64,
        size / 4096,
        highmem_pages,
        after
    );
    Ok(())
}

/// The physical page behind a vmalloc address, found by unmapping and mapping it back (the
/// platform's page-table walk), so the test can count HighMem pages.
fn probe<P: Firmware>(vaddr: usize) -> Option<(u64, ())> {
    let (phys, table) = P::unmap_kernel_page(vaddr)?;
    let mut spare = table;
    let mut alloc = || spare.take();
    P::map_kernel_page(vaddr, phys, &mut alloc).ok()?;
    Some((phys, ()))
}

/// CMA on real memory, for every active area: `cma_alloc` of the whole area (it must start at
/// the base), words written through the linear map on 16 pages spread over it and read back,
/// `cma_release`; then 3 pages (at the base) and one pageblock aligned to a pageblock (the
/// next one), released again. Free pages, free CMA pages and the zone accounting must return
/// exactly to where they started. An architecture without CMA has no areas: nothing to do.
pub fn cma<P: Firmware>(
    a: &page_alloc::PageAllocator<'_>,
    areas: &page_alloc::cma::CmaAreas,
) -> Result<(), &'static str> {
    let mut sink = crate::DefmtSink;
    for area in areas.areas().iter().filter(|area| area.count() != 0) {
        a.drain_all();
        let counts = || a.with_nodes(|ns| (ns.nr_free_pages(), ns.cma_free_pages(area), ns.totalram_pages()));
        let before = counts();
        if before.1 != area.count() {
            return Err("a CMA area is not entirely free before its self-test");
        }
        let base = area.base_pfn();
        let pfn = a.with_nodes(|ns| ns.cma_alloc(area, area.count(), 0, &mut sink)).map_err(|_| "cma_alloc of a whole area failed")?;
        if pfn.0 != base {
            return Err("cma_alloc of a whole area did not start at its base");
        }
        let step = (area.count() / 16).max(1);
        for write in [true, false] {
            for page in (base..base + area.count()).step_by(step as usize) {
                fill_and_check(&mut KmapLocal::<P>(core::marker::PhantomData), page, 0, write)?;
            }
        }
        a.with_nodes(|ns| ns.check()).map_err(|_| "page allocator inconsistent with a whole CMA area allocated")?;
        if a.with_nodes(|ns| ns.cma_free_pages(area)) != 0 {
            return Err("free CMA pages left after allocating the whole area");
        }
        match a.with_nodes(|ns| ns.cma_release(area, pfn, area.count())) {
            Ok(true) => {}
            _ => return Err("cma_release of a whole area failed"),
        }
        let pb_order = P::MM_ARCH.pageblock_order;
        let pb = 1u64 << pb_order;
        let (p3, ppb) = a.with_nodes(|ns| {
            let p3 = ns.cma_alloc(area, 3, 0, &mut sink);
            let ppb = ns.cma_alloc(area, pb, pb_order, &mut sink);
            (p3, ppb)
        });
        let (Ok(p3), Ok(ppb)) = (p3, ppb) else { return Err("a partial cma_alloc failed") };
        if p3.0 != base || (area.count() > pb && ppb.0 != base + pb) {
            return Err("partial cma_alloc ranges not where the lowest aligned free range is");
        }
        let released = a.with_nodes(|ns| (ns.cma_release(area, p3, 3), ns.cma_release(area, ppb, pb)));
        if released != (Ok(true), Ok(true)) {
            return Err("cma_release of a partial allocation failed");
        }
        a.with_nodes(|ns| ns.check()).map_err(|_| "page allocator inconsistent after the CMA self-test")?;
        let after = counts();
        if after != before {
            return Err("free or managed pages differ after the CMA self-test");
        }
        defmt::info!(
            "cma self-test: {=str}: cma_alloc of all {=u64} pages ({=u64} MiB) at pfn {=u64:#x} written, read back and released; 3 pages at pfn {=u64:#x} and {=u64} aligned at pfn {=u64:#x} released; free CMA pages back to {=u64}, free pages to {=u64}",
            area.name(),
            area.count(),
            area.size() >> 20,
            pfn.0,
            p3.0,
            pb,
            ppb.0,
            after.1,
            after.0
        );
    }
    Ok(())
}

/// Reads the word at kernel virtual address `addr` (a `call_on` target: runs on the CPU asked).
#[allow(unsafe_code)]
fn read_word(addr: usize) -> u64 {
    // SAFETY: only called with the address of a live, mapped, 8-byte-aligned vmalloc page that
    // the boot CPU keeps until every call returned.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

/// Writes `v` to the word at `addr` (a live vmalloc page the caller owns).
#[allow(unsafe_code)]
fn write_word(addr: usize, v: u64) {
    // SAFETY: as in `read_word`; the boot CPU is the page's only writer.
    unsafe { core::ptr::write_volatile(addr as *mut u64, v) }
}

fn cpu_id(_: usize) -> u64 {
    crate::percpu::smp_processor_id() as u64
}

/// Cross-CPU calls and the TLB shoot-down after `vfree`, with every CPU idle:
/// 1. every online CPU runs a function through `on_each_cpu` and returns its own id; a call to
///    a CPU that is not online is refused by name;
/// 2. CPU 1 reads a vmalloc page (its TLB now maps that address), the page is freed and the
///    same virtual address is mapped to another page with another value, while the old page is
///    held so that it cannot come back: CPU 1 must read the new value. A CPU that kept its old
///    TLB entry would read the old page (x86 has no broadcast invalidation: the shoot-down IPI
///    is what makes this pass; ARM's `TLBI …IS` reaches every CPU by itself).
///
/// # Errors
/// The first property that did not hold.
pub fn cross_cpu<P: Firmware>(a: &page_alloc::PageAllocator<'_>, up: usize) -> Result<(), &'static str> {
    use crate::smp::{call_on, on_each_cpu, CallError};
    if up < 2 {
        defmt::info!("cross-CPU self-test: one CPU online, nothing to call");
        return Ok(());
    }
    let ids = on_each_cpu::<P>(cpu_id, 0);
    let answered = ids.iter().enumerate().filter(|(c, r)| **r == Some(*c as u64)).count();
    if answered != up || ids.iter().enumerate().any(|(c, r)| r.is_some_and(|v| v != c as u64)) {
        return Err("cross-CPU self-test: on_each_cpu did not run once on every online CPU");
    }
    let offline = crate::percpu::NR_CPUS - 1;
    if offline >= up && call_on::<P>(offline, cpu_id, 0) != Err(CallError::NotOnline { cpu: offline }) {
        return Err("cross-CPU self-test: a call to an offline CPU was not refused");
    }
    let cpu = crate::percpu::smp_processor_id();
    let nid = crate::percpu::numa_node_id();
    let first = crate::vmalloc::vmalloc::<P>(a, cpu, nid, mm_types::PAGE_SIZE as usize)?;
    write_word(first, 0x0a0a_0a0a_0a0a_0a0a);
    if call_on::<P>(1, read_word, first) != Ok(0x0a0a_0a0a_0a0a_0a0a) {
        return Err("cross-CPU self-test: CPU1 did not read the vmalloc page's value");
    }
    crate::vmalloc::vfree::<P>(a, cpu, first)?;
    // Hold the page just freed (the per-CPU list hands it out first) so the next area cannot
    // get it back, then map the same address again.
    let held = a.alloc_pages(cpu, nid, Gfp::KERNEL, 0).map_err(|_| "cross-CPU self-test: no page to hold")?;
    let second = crate::vmalloc::vmalloc::<P>(a, cpu, nid, mm_types::PAGE_SIZE as usize)?;
    let result = if second != first {
        Err("cross-CPU self-test: the second area did not reuse the first one's address")
    } else {
        write_word(second, 0xb0b0_b0b0_b0b0_b0b0);
        match call_on::<P>(1, read_word, second) {
            Ok(0xb0b0_b0b0_b0b0_b0b0) => Ok(()),
            Ok(0x0a0a_0a0a_0a0a_0a0a) => Err("cross-CPU self-test: CPU1 read the freed page through a stale TLB entry (no shoot-down)"),
            Ok(_) => Err("cross-CPU self-test: CPU1 read neither value"),
            Err(_) => Err("cross-CPU self-test: CPU1 did not answer"),
        }
    };
    crate::vmalloc::vfree::<P>(a, cpu, second)?;
    a.free_pages(cpu, held, 0).map_err(|_| "cross-CPU self-test: the held page was refused")?;
    result?;
    defmt::info!(
        "cross-CPU self-test: on_each_cpu ran on all {=usize} CPUs; after vfree and a new mapping at {=u64:#x}, CPU1 read the new page, not the old one through its TLB",
        up,
        first as u64
    );
    Ok(())
}

/// The page each CPU maps in [`kmap_local_on_each_cpu`] (physical addresses, by CPU id).
static KMAP_PAGES: [core::sync::atomic::AtomicU64; crate::percpu::NR_CPUS] =
    [const { core::sync::atomic::AtomicU64::new(0) }; crate::percpu::NR_CPUS];
/// How many map/write/check/unmap rounds each CPU runs.
const KMAP_ROUNDS: u64 = 500;

/// One CPU's share: map its page and a second mapping nested over it, write its pattern
/// through both, check it, unmap in reverse order; `KMAP_ROUNDS` times. Returns the rounds
/// that passed.
fn kmap_rounds<P: Firmware>(_: usize) -> u64 {
    let cpu = crate::percpu::smp_processor_id();
    let phys = KMAP_PAGES[cpu].load(core::sync::atomic::Ordering::Acquire);
    let own = (cpu as u64 + 1) * 0x0101_0101_0101_0101;
    let mut ok = 0;
    for round in 0..KMAP_ROUNDS {
        let (Some(outer), Some(inner)) = (P::kmap_local(phys), P::kmap_local(phys)) else { return ok };
        write_word(outer, own ^ round);
        let seen = read_word(inner);
        let unmapped = P::kunmap_local(inner).is_ok() && P::kunmap_local(outer).is_ok();
        if seen != own ^ round || !unmapped {
            return ok;
        }
        ok += 1;
    }
    ok
}

/// `kmap_local` on every CPU at once: each maps its own page (HighMem where there is some,
/// so that x86-32 goes through its per-CPU fixmap slots), nests a second mapping, writes and
/// reads its pattern and unmaps, many times while the others do the same. With one set of
/// slots for all CPUs they would take each other's slots.
///
/// # Errors
/// A CPU lost a round, or the pages were not there.
pub fn kmap_local_on_each_cpu<P: Firmware>(a: &page_alloc::PageAllocator<'_>, up: usize) -> Result<(), &'static str> {
    let cpu = crate::percpu::smp_processor_id();
    let highmem = Gfp { highest_zone: ZoneType::HighMem, migratetype: Migratetype::Movable, nofail: false, high: false };
    let mut pfns: heapless::Vec<Pfn, { crate::percpu::NR_CPUS }> = heapless::Vec::new();
    for slot in KMAP_PAGES.iter().take(up) {
        let pfn = a.alloc_pages(cpu, 0, highmem, 0).map_err(|_| "kmap_local self-test: no page")?;
        slot.store(pfn.0 << mm_types::PAGE_SHIFT, core::sync::atomic::Ordering::Release);
        let _ = pfns.push(pfn);
    }
    let results = crate::smp::on_each_cpu::<P>(kmap_rounds::<P>, 0);
    for pfn in &pfns {
        a.free_pages(cpu, *pfn, 0).map_err(|_| "kmap_local self-test: a page was refused")?;
    }
    let done = results.iter().take(up).filter(|r| **r == Some(KMAP_ROUNDS)).count();
    if done != up {
        return Err("kmap_local self-test: a CPU lost a round (its mapping showed another CPU's page)");
    }
    defmt::info!(
        "kmap_local self-test: {=usize} CPU(s) at once, {=u64} nested map/write/read/unmap rounds each, first page pfn {=u64:#x}",
        up,
        KMAP_ROUNDS,
        pfns.first().map_or(0, |p| p.0)
    );
    Ok(())
}
