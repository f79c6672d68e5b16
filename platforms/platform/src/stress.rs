//! The SMP stress self-test: every online CPU allocates and frees pages at once through its
//! per-CPU lists and the shared buddy allocator, then the boot CPU checks that every page came
//! back, that no page was owned twice, and that each zone's free count is exactly what it was.
//!
//! - Orders 0-3 (order 0, the per-CPU path, half the time), all three migrate types, every
//!   zone allowed (HighMem too), preferring the CPU's own node.
//! - Ownership: one bit per page frame in a bitmap (itself allocated from the buddy allocator
//!   before the test starts); a CPU sets the bits of a block it got with `fetch_or` and clears
//!   them before freeing it, so a page handed to two owners is caught at the second owner.
//! - Cross-CPU frees: some blocks go into a shared queue and are freed by whichever CPU takes
//!   them, so pages return through another CPU's lists.
//! - Interrupts are masked around each allocator call only.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use page_alloc::{Gfp, Migratetype, PageAllocator, Pfn, ZoneType};

use crate::{percpu, Firmware};

/// Allocator operations each CPU performs.
pub const OPS_PER_CPU: u64 = 4000;
/// Blocks a CPU holds at most.
const HELD: usize = 48;

/// State the CPUs share during the test.
pub struct Shared {
    allocator: &'static PageAllocator<'static>,
    owned: &'static [AtomicU64],
    base_pfn: u64,
    handoff: spin::Mutex<heapless::Deque<(u64, u32), 64>>,
    go: AtomicBool,
    done: AtomicUsize,
    failure: spin::Once<&'static str>,
    cross_frees: AtomicU64,
}

static SHARED: spin::Once<Shared> = spin::Once::new();

impl Shared {
    fn mark(&self, pfn: u64, order: u32, own: bool) -> Result<(), &'static str> {
        for p in pfn..pfn + (1 << order) {
            let i = usize::try_from(p - self.base_pfn).map_err(|_| "pfn below the bitmap")?;
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

fn alloc<P: Firmware>(s: &Shared, cpu: usize, nid: i32, gfp: Gfp, order: u32) -> Option<u64> {
    let irq = P::IRQ_SAVE();
    let r = s.allocator.alloc_pages(cpu, nid, gfp, order);
    P::IRQ_RESTORE(irq);
    r.ok().map(|p| p.0)
}

fn free<P: Firmware>(s: &Shared, cpu: usize, pfn: u64, order: u32) -> Result<(), &'static str> {
    s.mark(pfn, order, false)?;
    let irq = P::IRQ_SAVE();
    let r = s.allocator.free_pages(cpu, Pfn(pfn), order);
    P::IRQ_RESTORE(irq);
    r.map_err(|_| "the allocator refused to free a block it had handed out")
}

/// One CPU's share of the test.
fn worker<P: Firmware>(s: &Shared, cpu: usize) -> Result<u64, &'static str> {
    let area = percpu::per_cpu(cpu).ok_or("no per-CPU area")?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((cpu as u64 + 1) << 32));
    let mut held: heapless::Vec<(u64, u32), HELD> = heapless::Vec::new();
    for _ in 0..OPS_PER_CPU {
        let r = rng.next();
        if held.is_empty() || (held.len() < HELD && r & 1 == 0) {
            let order = if r & 2 == 0 { 0 } else { 1 + ((r >> 2) % 3) as u32 };
            let mt = Migratetype::ALL[((r >> 8) % 3) as usize];
            let gfp = Gfp { highest_zone: ZoneType::HighMem, migratetype: mt, nofail: false, high: false };
            if let Some(pfn) = alloc::<P>(s, cpu, area.nid, gfp, order) {
                s.mark(pfn, order, true)?;
                held.push((pfn, order)).map_err(|_| "bookkeeping overflow")?;
            }
        } else {
            let (pfn, order) = held.swap_remove(((r >> 16) as usize) % held.len());
            if (r >> 24) & 3 == 0 && s.handoff.lock().push_back((pfn, order)).is_ok() {
                // Someone else (or this CPU later) frees it: a cross-CPU free.
            } else {
                free::<P>(s, cpu, pfn, order)?;
            }
        }
        if (r >> 28) & 7 == 0 {
            let taken = s.handoff.lock().pop_front();
            if let Some((pfn, order)) = taken {
                free::<P>(s, cpu, pfn, order)?;
                s.cross_frees.fetch_add(1, Ordering::Relaxed);
            }
        }
        area.stress_ops.fetch_add(1, Ordering::Relaxed);
    }
    for (pfn, order) in held {
        free::<P>(s, cpu, pfn, order)?;
    }
    heap_exercise(cpu)?;
    Ok(area.stress_ops.load(Ordering::Relaxed))
}

/// `alloc` on this CPU: a growing `Vec` (reallocations through every kmalloc class up to large
/// page allocations) and a `BTreeMap`, checked and dropped.
fn heap_exercise(cpu: usize) -> Result<(), &'static str> {
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;
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

/// Secondary CPUs: wait for the start, do their share, report.
pub fn secondary<P: Firmware>(cpu: usize) {
    let Some(s) = SHARED.get() else { return };
    while !s.go.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    match worker::<P>(s, cpu) {
        Ok(ops) => defmt::info!("stress: CPU{=usize} done, {=u64} operations", cpu, ops),
        Err(why) => {
            s.failure.call_once(|| why);
        }
    }
    s.done.fetch_add(1, Ordering::AcqRel);
}

/// Prepares the shared state before secondaries start (they wait for `run`).
///
/// # Errors
/// When the bitmap cannot be allocated or mapped.
pub fn prepare<P: Firmware>(platform: &P, allocator: &'static PageAllocator<'static>) -> Result<(), &'static str> {
    let (first, last) = allocator.with_nodes(|n| {
        let first = n.nodes().map(|x| x.mem_map().start_pfn()).min().unwrap_or(0);
        let last = n.nodes().map(|x| x.mem_map().end_pfn()).max().unwrap_or(0);
        (first, last)
    });
    let words = (last - first).div_ceil(64) as usize;
    let order = (words * 8).div_ceil(4096).next_power_of_two().trailing_zeros();
    let pfn = allocator.alloc_pages(0, 0, Gfp::KERNEL, order).map_err(|_| "no memory for the ownership bitmap")?;
    let virt = platform.phys_to_virt(pfn.0 << mm_types::PAGE_SHIFT).ok_or("ownership bitmap outside the linear map")?;
    #[allow(unsafe_code)]
    // SAFETY: the block was just allocated for this bitmap (lowmem, so linearly mapped at
    // `virt`), is large enough for `words` words, and nobody else uses it until it is freed
    // after the test.
    let owned = unsafe { crate::page_map::atomic_words(virt, words) };
    SHARED.call_once(|| Shared {
        allocator,
        owned,
        base_pfn: first,
        handoff: spin::Mutex::new(heapless::Deque::new()),
        go: AtomicBool::new(false),
        done: AtomicUsize::new(0),
        failure: spin::Once::new(),
        cross_frees: AtomicU64::new(0),
    });
    BITMAP.call_once(|| (pfn.0, order));
    Ok(())
}

static BITMAP: spin::Once<(u64, u32)> = spin::Once::new();

/// Each zone's free pages and pages on per-CPU lists, exact (`zone_counts` adds what the
/// pagesets have not folded into the zone yet; the zone's own per-CPU count is exact only
/// between folds).
fn zone_free(a: &PageAllocator<'_>) -> heapless::Vec<(u64, u64), 128> {
    let zones: heapless::Vec<(i32, ZoneType), 128> =
        a.with_nodes(|n| n.nodes().flat_map(|node| node.zones().iter().map(move |z| (node.nid, z.zone_type))).collect());
    zones.iter().filter_map(|&(nid, zt)| a.zone_counts(nid, zt)).map(|(free, listed, _)| (free, listed)).collect()
}

/// Runs the test on all `cpus` online CPUs (the boot CPU takes part) and checks the result.
///
/// # Errors
/// The first property that did not hold.
pub fn run<P: Firmware>(cpus: usize) -> Result<(), &'static str> {
    let s = SHARED.get().ok_or("stress test not prepared")?;
    s.allocator.drain_all();
    let before = zone_free(s.allocator);
    s.go.store(true, Ordering::Release);
    let mine = worker::<P>(s, 0);
    s.done.fetch_add(1, Ordering::AcqRel);
    let ops0 = mine.inspect_err(|why| {
        s.failure.call_once(|| why);
    });
    let mut spins: u64 = 0;
    while s.done.load(Ordering::Acquire) < cpus {
        core::hint::spin_loop();
        spins += 1;
        if spins > 4_000_000_000 {
            return Err("a CPU never finished its share of the stress test");
        }
    }
    if let Some(why) = s.failure.get() {
        return Err(why);
    }
    while let Some((pfn, order)) = s.handoff.lock().pop_front() {
        free::<P>(s, 0, pfn, order)?;
        s.cross_frees.fetch_add(1, Ordering::Relaxed);
    }
    if s.owned.iter().any(|w| w.load(Ordering::Acquire) != 0) {
        return Err("pages still owned after every CPU freed everything");
    }
    crate::heap::KMALLOC.validate().map_err(|_| "slab caches inconsistent after the heap exercise")?;
    crate::heap::KMALLOC.slabinfo(&mut crate::DefmtSink);
    crate::heap::flush_all();
    s.allocator.drain_all();
    let after = zone_free(s.allocator);
    if after != before {
        for (b, a) in before.iter().zip(after.iter()) {
            defmt::error!("stress: zone (free, on per-CPU lists) before {=u64}/{=u64}, after {=u64}/{=u64}", b.0, b.1, a.0, a.1);
        }
        return Err("free page counts per zone did not return to their starting values");
    }
    s.allocator.check().map_err(|_| "allocator inconsistent after the stress test")?;
    // Every possible CPU's count: the online ones need not be 0..cpus (a CPU that failed to
    // start leaves a gap, and its count stays 0).
    let total: u64 = (0..percpu::nr_cpu_ids()).filter_map(percpu::per_cpu).map(|a| a.stress_ops.load(Ordering::Relaxed)).sum();
    defmt::info!(
        "stress: CPU0 done, {=u64} operations; all {=usize} CPU(s): {=u64} operations, {=u64} cross-CPU frees, Vec/BTreeMap growth on each; every page back, none owned twice, free counts per zone restored",
        ops0.unwrap_or(0),
        cpus,
        total,
        s.cross_frees.load(Ordering::Relaxed)
    );
    if let Some(&(pfn, order)) = BITMAP.get() {
        s.allocator.free_pages(0, Pfn(pfn), order).map_err(|_| "freeing the ownership bitmap failed")?;
    }
    Ok(())
}
