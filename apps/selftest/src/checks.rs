//! The late boot self-tests, written on the application API alone (they ran inside the boot
//! path before applications existed, and print the same lines): vmalloc on real memory,
//! cross-CPU calls with the TLB shoot-down after `vfree`, `kmap` on every CPU at once, CMA.

use kernel::app::{CallError, Gfp, Kernel, Migratetype, VmArea, ZoneType, PAGE_SIZE};
use kernel::percpu::NR_CPUS;

fn pattern(seed: u64, i: usize) -> u32 {
    (seed as u32).wrapping_mul(0x9e37_79b9) ^ i as u32
}

/// Free pages of the HighMem zones (buddy and per-CPU lists), 0 without HighMem.
fn highmem_free(k: &Kernel) -> u64 {
    k.zones().iter().filter(|z| z.zone == ZoneType::HighMem).map(|z| z.free_pages).sum()
}

/// vmalloc on real memory: an area of 16 MiB (or a quarter of free memory on a small machine)
/// from scattered pages (HighMem first where there is some) is written and read back through
/// its mapping, freed, and the free page count must return exactly (page-table pages
/// included). The HighMem pages it used are what the HighMem zones lost meanwhile (page
/// tables come from lowmem).
///
/// # Errors
/// The first property that did not hold.
pub fn vmalloc(k: &Kernel) -> Result<(), &'static str> {
    k.drain_all();
    let before = k.nr_free_pages();
    let high_before = highmem_free(k);
    let size: usize = (16usize << 20).min((before as usize / 4) * PAGE_SIZE as usize);
    let mut area = k.vmalloc(size)?;
    let highmem_pages = high_before - highmem_free(k);
    let addr = area.addr();
    let words = size / 4;
    let bytes = area.as_mut_slice();
    for i in (0..words).step_by(1021) {
        bytes[i * 4..i * 4 + 4].copy_from_slice(&pattern(addr as u64, i).to_ne_bytes());
    }
    let read_back = (0..words).step_by(1021).all(|i| bytes[i * 4..i * 4 + 4] == pattern(addr as u64, i).to_ne_bytes());
    k.vfree(area)?;
    if !read_back {
        return Err("a word written through a vmalloc mapping did not read back");
    }
    k.drain_all();
    let after = k.nr_free_pages();
    if after != before {
        return Err("free pages after vfree differ from before vmalloc");
    }
    defmt::info!(
        "vmalloc self-test: {=usize} KiB at {=u64:#x} from {=usize} pages ({=u64} HighMem) written, read back and freed; free pages back to {=u64}",
        size >> 10,
        addr as u64,
        size / PAGE_SIZE as usize,
        highmem_pages,
        after
    );
    Ok(())
}

/// The first word of an area, read on whichever CPU runs this.
fn first_word(area: &VmArea) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&area.as_slice()[..8]);
    u64::from_ne_bytes(w)
}

/// Cross-CPU calls and the TLB shoot-down after `vfree`, with every CPU idle:
/// 1. every online CPU runs a closure through `on_each_cpu` and returns its own id; a call to
///    a CPU that is not online is refused by name;
/// 2. CPU 1 reads a vmalloc page (its TLB now maps that address), the area is freed and the
///    same virtual address mapped to another page with another value, while the old page is
///    held so that it cannot come back: CPU 1 must read the new value. A CPU that kept its old
///    TLB entry would read the old page (x86 has no broadcast invalidation: the shoot-down IPI
///    is what makes this pass; ARM's `TLBI …IS` reaches every CPU by itself).
///
/// # Errors
/// The first property that did not hold.
pub fn cross_cpu(k: &Kernel) -> Result<(), &'static str> {
    let up = k.online_cpus();
    if up < 2 {
        defmt::info!("cross-CPU self-test: one CPU online, nothing to call");
        return Ok(());
    }
    let ids = k.on_each_cpu(|_| k.cpu_id()).map_err(|_| "cross-CPU self-test: a CPU did not answer on_each_cpu")?;
    if ids.len() != up || ids.iter().any(|(cpu, id)| cpu != id) {
        return Err("cross-CPU self-test: on_each_cpu did not run once on every online CPU");
    }
    let offline = NR_CPUS - 1;
    if offline >= up && k.call_on(offline, |_| k.cpu_id()) != Err(CallError::NotOnline { cpu: offline }) {
        return Err("cross-CPU self-test: a call to an offline CPU was not refused");
    }
    let page = PAGE_SIZE as usize;
    let mut first = k.vmalloc(page)?;
    let addr = first.addr();
    first.as_mut_slice()[..8].copy_from_slice(&0x0a0a_0a0a_0a0a_0a0au64.to_ne_bytes());
    if k.call_on(1, |_| first_word(&first)) != Ok(0x0a0a_0a0a_0a0a_0a0a) {
        return Err("cross-CPU self-test: CPU1 did not read the vmalloc page's value");
    }
    k.vfree(first)?;
    // Hold the page just freed (the per-CPU list hands it out first) so the next area cannot
    // get it back, then map the same address again.
    let held = k.alloc_pages(0, Gfp::KERNEL).map_err(|_| "cross-CPU self-test: no page to hold")?;
    let mut second = k.vmalloc(page)?;
    let result = if second.addr() != addr {
        Err("cross-CPU self-test: the second area did not reuse the first one's address")
    } else {
        second.as_mut_slice()[..8].copy_from_slice(&0xb0b0_b0b0_b0b0_b0b0u64.to_ne_bytes());
        match k.call_on(1, |_| first_word(&second)) {
            Ok(0xb0b0_b0b0_b0b0_b0b0) => Ok(()),
            Ok(0x0a0a_0a0a_0a0a_0a0a) => Err("cross-CPU self-test: CPU1 read the freed page through a stale TLB entry (no shoot-down)"),
            Ok(_) => Err("cross-CPU self-test: CPU1 read neither value"),
            Err(_) => Err("cross-CPU self-test: CPU1 did not answer"),
        }
    };
    k.vfree(second)?;
    k.free_pages(held)?;
    result?;
    defmt::info!(
        "cross-CPU self-test: on_each_cpu ran on all {=usize} CPUs; after vfree and a new mapping at {=u64:#x}, CPU1 read the new page, not the old one through its TLB",
        up,
        addr as u64
    );
    Ok(())
}

/// How many map/write/read/unmap rounds each CPU runs.
const KMAP_ROUNDS: u64 = 500;

/// `kmap` on every CPU at once: each CPU maps its own two pages (HighMem where there is some,
/// so that x86-32 goes through its per-CPU `kmap_atomic` slots), the second mapping nested in
/// the first, writes its own value through each and reads both back before unmapping in
/// reverse order, many times while the others do the same. With one set of slots for all CPUs
/// they would take each other's slots and read another CPU's value.
///
/// # Errors
/// A CPU lost a round, or the pages were not there.
pub fn kmap_on_each_cpu(k: &Kernel) -> Result<(), &'static str> {
    let highmem = Gfp { highest_zone: ZoneType::HighMem, migratetype: Migratetype::Movable, ..Gfp::HIGHUSER };
    let results = k.on_each_cpu(|cpu| -> Result<(u64, u64), &'static str> {
        let mut outer_page = k.alloc_pages(0, highmem).map_err(|_| "kmap_local self-test: no page")?;
        let mut inner_page = k.alloc_pages(0, highmem).map_err(|_| "kmap_local self-test: no page")?;
        let first = outer_page.pfn();
        let own = (cpu as u64 + 1).wrapping_mul(0x0101_0101_0101_0101);
        let mut ok = 0;
        for round in 0..KMAP_ROUNDS {
            let v = (own ^ round) as usize;
            let (Some(mut outer), Some(mut inner)) = (k.kmap(&mut outer_page, 0), k.kmap(&mut inner_page, 0)) else { break };
            outer.write(0, v);
            inner.write(0, !v);
            let seen = (outer.read(0), inner.read(0));
            drop(inner);
            drop(outer);
            if seen != (v, !v) {
                break;
            }
            ok += 1;
        }
        k.free_pages(outer_page)?;
        k.free_pages(inner_page)?;
        Ok((ok, first))
    });
    let results = results.map_err(|_| "kmap_local self-test: a CPU did not answer")?;
    let mut first = 0;
    for (cpu, r) in &results {
        let (ok, pfn) = (*r)?;
        if *cpu == 0 {
            first = pfn;
        }
        if ok != KMAP_ROUNDS {
            return Err("kmap_local self-test: a CPU lost a round (its mapping showed another CPU's page)");
        }
    }
    defmt::info!(
        "kmap_local self-test: {=usize} CPU(s) at once, {=u64} nested map/write/read/unmap rounds each, first page pfn {=u64:#x}",
        results.len(),
        KMAP_ROUNDS,
        first
    );
    Ok(())
}

/// CMA on real memory, for every active area: `cma_alloc` of the whole area (it must start at
/// the base), words written through `kmap` on 16 pages spread over it and read back, released;
/// then 3 pages (at the base) and one pageblock aligned to a pageblock (the next one), released
/// again. Free pages, free CMA pages and the managed pages must return exactly to where they
/// started. An architecture without CMA has no areas: nothing to do.
///
/// # Errors
/// The first property that did not hold.
pub fn cma(k: &Kernel) -> Result<(), &'static str> {
    let a = k.page_allocator();
    let mut sink = kernel::DefmtSink;
    for (index, area) in k.cma_areas().iter().enumerate().filter(|(_, area)| area.count() != 0) {
        k.drain_all();
        let counts = || a.with_nodes(|ns| (ns.nr_free_pages(), ns.cma_free_pages(area), ns.totalram_pages()));
        let before = counts();
        if before.1 != area.count() {
            return Err("a CMA area is not entirely free before its self-test");
        }
        let base = area.base_pfn();
        let mut whole = k.cma_alloc(index, area.count()).map_err(|_| "cma_alloc of a whole area failed")?;
        let pfn = whole.pfn();
        if pfn != base {
            k.free_pages(whole)?;
            return Err("cma_alloc of a whole area did not start at its base");
        }
        let step = (area.count() / 16).max(1);
        let mut read_back = true;
        for write in [true, false] {
            for page in (0..area.count()).step_by(step as usize) {
                let mut m = k.kmap(&mut whole, page).ok_or("a CMA page cannot be mapped")?;
                for i in [0usize, kernel::app::WORDS_PER_PAGE - 1] {
                    let v = pattern(base + page, i) as usize;
                    if write {
                        m.write(i, v);
                    } else {
                        read_back &= m.read(i) == v;
                    }
                }
            }
        }
        let consistent = a.with_nodes(|ns| ns.check()).is_ok();
        let none_left = a.with_nodes(|ns| ns.cma_free_pages(area)) == 0;
        k.free_pages(whole).map_err(|_| "cma_release of a whole area failed")?;
        if !read_back {
            return Err("a pattern written to a CMA page did not read back");
        }
        if !consistent || !none_left {
            return Err("page allocator inconsistent, or free CMA pages left, with a whole CMA area allocated");
        }
        let pb_order = a.with_nodes(|ns| ns.config().pageblock_order);
        let pb = 1u64 << pb_order;
        let (p3, ppb) = a.with_nodes(|ns| (ns.cma_alloc(area, 3, 0, &mut sink), ns.cma_alloc(area, pb, pb_order, &mut sink)));
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
            pfn,
            p3.0,
            pb,
            ppb.0,
            after.1,
            after.0
        );
    }
    Ok(())
}
