//! The SMP stress self-test, on the application API: every online CPU allocates and frees
//! pages at once through its per-CPU lists and the shared buddy allocator, then the boot CPU
//! checks that every page came back, that no page was owned twice, and that each zone's free
//! count is exactly what it was.
//!
//! - Orders 0-3 (order 0, the per-CPU path, half the time), all three migrate types, every
//!   zone allowed (HighMem too), on the CPU's own node first.
//! - Ownership: one bit per page frame in a bitmap (allocated from the heap before the test
//!   starts); a CPU sets the bits of a block it got with `fetch_or` and clears them before
//!   freeing it, so a page handed to two owners is caught at the second owner.
//! - Cross-CPU frees: some blocks go into a shared queue and are freed by whichever CPU takes
//!   them, so pages return through another CPU's lists.
//! - `alloc` on each CPU: a growing `Vec` and a `BTreeMap`, checked and dropped.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::app::{Gfp, Kernel, Migratetype, Pages, ZoneType};
use kernel::percpu::{CacheLine, PerCpu, NR_CPUS};

/// Allocator operations each CPU performs.
pub const OPS_PER_CPU: u64 = 4000;
/// Blocks a CPU holds at most.
const HELD: usize = 48;

/// Operations each CPU performed.
static OPS: PerCpu<AtomicU64> = PerCpu::new([const { CacheLine(AtomicU64::new(0)) }; NR_CPUS]);

/// What the CPUs share during the test.
struct Shared {
    owned: Vec<AtomicU64>,
    base_pfn: u64,
    handoff: spin::Mutex<heapless::Deque<Pages, 64>>,
    cross_frees: AtomicU64,
}

impl Shared {
    fn mark(&self, block: &Pages, own: bool) -> Result<(), &'static str> {
        for p in block.pfn()..block.pfn() + block.nr_pages() {
            let i = usize::try_from(p.checked_sub(self.base_pfn).ok_or("pfn below the bitmap")?).map_err(|_| "pfn beyond the bitmap")?;
            let word = self.owned.get(i / 64).ok_or("pfn beyond the ownership bitmap")?;
            let bit = 1u64 << (i % 64);
            if own {
                if word.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
                    return Err("a page was handed to two owners at once");
                }
            } else if word.fetch_and(!bit, Ordering::AcqRel) & bit == 0 {
                return Err("a page was freed by a CPU that did not own it");
            }
        }
        Ok(())
    }

    fn free(&self, k: &Kernel, block: Pages) -> Result<(), &'static str> {
        self.mark(&block, false)?;
        k.free_pages(block).map_err(|_| "the allocator refused to free a block it had handed out")
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One CPU's share of the test.
fn worker(k: &Kernel, s: &Shared, cpu: usize) -> Result<u64, &'static str> {
    let ops = OPS.get();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((cpu as u64 + 1) << 32));
    let mut held: heapless::Vec<Pages, HELD> = heapless::Vec::new();
    for _ in 0..OPS_PER_CPU {
        let r = rng.next();
        if held.is_empty() || (held.len() < HELD && r & 1 == 0) {
            let order = if r & 2 == 0 { 0 } else { 1 + ((r >> 2) % 3) as u32 };
            let mt = Migratetype::ALL[((r >> 8) % 3) as usize];
            let gfp = Gfp { highest_zone: ZoneType::HighMem, migratetype: mt, nofail: false, high: false };
            if let Ok(block) = k.alloc_pages(order, gfp) {
                s.mark(&block, true)?;
                held.push(block).map_err(|_| "bookkeeping overflow")?;
            }
        } else {
            let block = held.swap_remove(((r >> 16) as usize) % held.len());
            if (r >> 24) & 3 == 0 {
                // Someone else (or this CPU later) frees it: a cross-CPU free.
                if let Err(block) = s.handoff.lock().push_back(block) {
                    s.free(k, block)?;
                }
            } else {
                s.free(k, block)?;
            }
        }
        if (r >> 28) & 7 == 0 {
            let taken = s.handoff.lock().pop_front();
            if let Some(block) = taken {
                s.free(k, block)?;
                s.cross_frees.fetch_add(1, Ordering::Relaxed);
            }
        }
        ops.fetch_add(1, Ordering::Relaxed);
    }
    for block in held {
        s.free(k, block)?;
    }
    heap_exercise(cpu)?;
    Ok(ops.load(Ordering::Relaxed))
}

/// `alloc` on this CPU: a growing `Vec` (reallocations through every kmalloc class up to large
/// page allocations) and a `BTreeMap`, checked and dropped.
fn heap_exercise(cpu: usize) -> Result<(), &'static str> {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..20_000u64 {
        v.push(i * (cpu as u64 + 1));
    }
    let mut m: BTreeMap<u64, alloc::boxed::Box<[u8; 40]>> = BTreeMap::new();
    for i in 0..2_000u64 {
        m.insert(i.wrapping_mul(0x9e37_79b9) ^ cpu as u64, alloc::boxed::Box::new([i as u8; 40]));
    }
    let sum: u64 = v.iter().sum();
    if sum != (cpu as u64 + 1) * (20_000 * 19_999 / 2) || m.len() != 2_000 || m.values().any(|b| b[0] != b[39]) {
        return Err("Vec/BTreeMap contents wrong after growth");
    }
    Ok(())
}

/// Each zone's free pages and pages on per-CPU lists, exact (`zone_counts` adds what the
/// pagesets have not folded into the zone yet).
fn zone_free(k: &Kernel) -> heapless::Vec<(u64, u64), 80> {
    let a = k.page_allocator();
    k.zones().iter().filter_map(|z| a.zone_counts(z.nid, z.zone)).map(|(free, listed, _)| (free, listed)).collect()
}

/// Runs the test on every online CPU at once (the boot CPU takes part) and checks the result.
///
/// # Errors
/// The first property that did not hold.
pub fn run(k: &Kernel) -> Result<(), &'static str> {
    let zones = k.zones();
    let first = zones.iter().map(|z| z.start_pfn).min().unwrap_or(0);
    let last = zones.iter().map(|z| z.start_pfn + z.spanned_pages).max().unwrap_or(0);
    let mut owned = Vec::new();
    owned.resize_with((last - first).div_ceil(64) as usize, || AtomicU64::new(0));
    let s = Shared { owned, base_pfn: first, handoff: spin::Mutex::new(heapless::Deque::new()), cross_frees: AtomicU64::new(0) };
    // Per-CPU lists and the heap's empty slabs back first, as after the test.
    k.drain_all();
    let before = zone_free(k);
    let results = k.on_each_cpu(|cpu| {
        let r = worker(k, &s, cpu);
        if let (Ok(ops), true) = (&r, cpu != 0) {
            defmt::info!("stress: CPU{=usize} done, {=u64} operations", cpu, *ops);
        }
        r
    });
    let results = results.map_err(|_| "a CPU never finished its share of the stress test")?;
    let mut ops0 = 0;
    for (cpu, r) in &results {
        let ops = (*r)?;
        if *cpu == 0 {
            ops0 = ops;
        }
    }
    while let Some(block) = s.handoff.lock().pop_front() {
        s.free(k, block)?;
        s.cross_frees.fetch_add(1, Ordering::Relaxed);
    }
    if s.owned.iter().any(|w| w.load(Ordering::Acquire) != 0) {
        return Err("pages still owned after every CPU freed everything");
    }
    kernel::heap::KMALLOC.validate().map_err(|_| "slab caches inconsistent after the heap exercise")?;
    kernel::heap::KMALLOC.slabinfo(&mut kernel::DefmtSink);
    k.drain_all();
    let after = zone_free(k);
    if after != before {
        for (b, a) in before.iter().zip(after.iter()) {
            defmt::error!("stress: zone (free, on per-CPU lists) before {=u64}/{=u64}, after {=u64}/{=u64}", b.0, b.1, a.0, a.1);
        }
        return Err("free page counts per zone did not return to their starting values");
    }
    k.check_allocator()?;
    let total: u64 = OPS.iter().map(|o| o.load(Ordering::Relaxed)).sum();
    defmt::info!(
        "stress: CPU0 done, {=u64} operations; all {=usize} CPU(s): {=u64} operations, {=u64} cross-CPU frees, Vec/BTreeMap growth on each; every page back, none owned twice, free counts per zone restored",
        ops0,
        results.len(),
        total,
        s.cross_frees.load(Ordering::Relaxed)
    );
    Ok(())
}
