//! The in-firmware allocator benchmark (`selftest=bench`): the same alloc+free pairs on 1, 2,
//! 4, … of the online CPUs at once, timed with the boot clock (the CPU's counter), so that the
//! per-CPU allocator's scaling shows on the machine itself rather than only on the host.
//!
//! Workloads, each a tight loop of `alloc` then `free` of the same block on one CPU:
//! - an order-0 page through the CPU's per-CPU lists (`alloc_pages(cpu, nid, GFP_KERNEL, 0)`);
//! - an order-3 block (the buddy lists under the zone lock);
//! - a 64-byte `kmalloc` (the firmware's heap: the debug slab configuration, with red zones and
//!   poisoning).
//!
//! A round: the boot CPU names the workload and how many CPUs take part, every participant
//! waits until all have arrived, runs its pairs and stores the nanoseconds they took; the boot
//! CPU waits for all of them and prints `ns/pair per CPU` (mean, min, max) and the pairs per
//! second of all participants together. Interrupts are masked around each call, as for every
//! allocator user. The figures are printed, never asserted: QEMU's vCPUs share the host's cores.
//! Afterwards the free page count (buddy plus per-CPU lists) must be what it was.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use page_alloc::{Gfp, PageAllocator, Pfn};

use crate::{clock, heap, percpu, Firmware};

/// What one round runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    Order0,
    Order3,
    Kmalloc64,
}

impl Workload {
    const ALL: [Self; 3] = [Self::Order0, Self::Order3, Self::Kmalloc64];

    fn name(self) -> &'static str {
        match self {
            Self::Order0 => "order-0 page alloc+free (per-CPU lists)",
            Self::Order3 => "order-3 block alloc+free (buddy lists)",
            Self::Kmalloc64 => "kmalloc(64)+kfree (debug slab)",
        }
    }

    /// Pairs each participant runs.
    fn pairs(self) -> u64 {
        match self {
            Self::Order0 | Self::Kmalloc64 => 8000,
            Self::Order3 => 2000,
        }
    }
}

struct Shared {
    allocator: &'static PageAllocator<'static>,
    /// Bumped by the boot CPU to start a round.
    round: AtomicUsize,
    workload: AtomicUsize,
    participants: AtomicUsize,
    arrived: AtomicUsize,
    done: AtomicUsize,
    finished: AtomicBool,
    failure: spin::Once<&'static str>,
    ns: [AtomicU64; percpu::NR_CPUS],
}

static SHARED: spin::Once<Shared> = spin::Once::new();

/// Makes the benchmark run when the CPUs come up (before `smp_init`: secondaries look for it).
pub fn prepare(allocator: &'static PageAllocator<'static>) {
    SHARED.call_once(|| Shared {
        allocator,
        round: AtomicUsize::new(0),
        workload: AtomicUsize::new(0),
        participants: AtomicUsize::new(0),
        arrived: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        finished: AtomicBool::new(false),
        failure: spin::Once::new(),
        ns: [const { AtomicU64::new(0) }; percpu::NR_CPUS],
    });
}

/// Pairs each participant runs untimed before it starts its clock: the first run of a code
/// path under QEMU's TCG pays for translating it (the first workload on one CPU measured twice
/// the time of the ones after it), and the pagesets fill to their steady state.
const WARM_UP_PAIRS: u64 = 512;

fn pairs<P: Firmware>(s: &Shared, cpu: usize, w: Workload) -> Result<u64, &'static str> {
    let nid = percpu::per_cpu(cpu).map_or(0, |a| a.nid);
    let one = || {
        let irq = P::IRQ_SAVE();
        let r = match w {
            Workload::Order0 | Workload::Order3 => {
                let order = if w == Workload::Order0 { 0 } else { 3 };
                match s.allocator.alloc_pages(cpu, nid, Gfp::KERNEL, order) {
                    Ok(Pfn(pfn)) => s.allocator.free_pages(cpu, Pfn(pfn), order).map_err(|_| "bench: a free was refused"),
                    Err(_) => Err("bench: out of pages"),
                }
            }
            Workload::Kmalloc64 => match heap::KMALLOC.kmalloc(cpu, 64, 8) {
                Ok(a) => heap::KMALLOC.kfree(cpu, a, 64, 8).map_err(|_| "bench: kfree was refused"),
                Err(_) => Err("bench: kmalloc failed"),
            },
        };
        P::IRQ_RESTORE(irq);
        r
    };
    for _ in 0..WARM_UP_PAIRS {
        one()?;
    }
    let t0 = clock::now_ns();
    for _ in 0..w.pairs() {
        one()?;
    }
    Ok(clock::now_ns().saturating_sub(t0))
}

/// One participant's share of the current round.
fn take_part<P: Firmware>(s: &Shared, cpu: usize, n: usize) {
    let w = Workload::ALL[s.workload.load(Ordering::Acquire)];
    s.arrived.fetch_add(1, Ordering::AcqRel);
    while s.arrived.load(Ordering::Acquire) < n {
        core::hint::spin_loop();
    }
    match pairs::<P>(s, cpu, w) {
        Ok(ns) => s.ns[cpu].store(ns, Ordering::Release),
        Err(why) => {
            s.failure.call_once(|| why);
        }
    }
    s.done.fetch_add(1, Ordering::AcqRel);
}

/// Secondary CPUs: take part in each round that includes them until the benchmark is over.
/// Returns at once when no benchmark was asked for.
pub fn secondary<P: Firmware>(cpu: usize) {
    let Some(s) = SHARED.get() else { return };
    let mut seen = 0;
    loop {
        let round = s.round.load(Ordering::Acquire);
        if s.finished.load(Ordering::Acquire) {
            return;
        }
        if round == seen {
            core::hint::spin_loop();
            continue;
        }
        seen = round;
        let n = s.participants.load(Ordering::Acquire);
        if cpu < n {
            take_part::<P>(s, cpu, n);
        }
    }
}

/// The CPU counts a round uses: 1, 2, 4, … and `up` itself.
fn cpu_counts(up: usize) -> heapless::Vec<usize, 8> {
    let mut v = heapless::Vec::new();
    let mut n = 1;
    while n < up {
        let _ = v.push(n);
        n *= 2;
    }
    let _ = v.push(up);
    v
}

/// Runs every workload on 1, 2, 4, … and all `up` CPUs, printing a line per round; then lets
/// the secondaries go on and checks that every page came back.
///
/// # Errors
/// A failed allocation or free, or pages missing afterwards.
pub fn run<P: Firmware>(up: usize) -> Result<(), &'static str> {
    let s = SHARED.get().ok_or("bench not prepared")?;
    // The heap's cached objects and empty slabs go back first, before and after, so that the
    // free count compares like with like.
    heap::flush_all();
    let free_before = s.allocator.nr_free_pages_including_pcp();
    defmt::info!(
        "bench: alloc+free pairs on 1..{=usize} CPU(s) at once, timed with the CPU counter; ns per pair on each CPU, pairs/s of all CPUs together",
        up
    );
    for (wi, w) in Workload::ALL.iter().enumerate() {
        for n in cpu_counts(up) {
            s.arrived.store(0, Ordering::Release);
            s.done.store(0, Ordering::Release);
            s.workload.store(wi, Ordering::Release);
            s.participants.store(n, Ordering::Release);
            s.round.fetch_add(1, Ordering::AcqRel);
            take_part::<P>(s, 0, n);
            while s.done.load(Ordering::Acquire) < n {
                core::hint::spin_loop();
            }
            if let Some(why) = s.failure.get() {
                s.finished.store(true, Ordering::Release);
                return Err(why);
            }
            let per_cpu = |c: usize| s.ns[c].load(Ordering::Acquire) / w.pairs().max(1);
            let (mut min, mut max, mut sum) = (u64::MAX, 0u64, 0u64);
            for c in 0..n {
                let ns = per_cpu(c);
                min = min.min(ns);
                max = max.max(ns);
                sum += ns;
            }
            let mean = sum / n as u64;
            // Pairs per second of all participants: each did `pairs` in its own time.
            let per_sec: u64 = (0..n).map(|c| 1_000_000_000 / per_cpu(c).max(1)).sum();
            defmt::info!(
                "bench: {=str}, {=usize} CPU(s): {=u64} ns/pair per CPU (min {=u64}, max {=u64}), {=u64} pairs/s in all",
                w.name(),
                n,
                mean,
                min,
                max,
                per_sec
            );
        }
    }
    s.finished.store(true, Ordering::Release);
    heap::flush_all();
    // The pages went back where they came from: buddy and per-CPU lists together hold what
    // they held before the first round.
    let free_after = s.allocator.nr_free_pages_including_pcp();
    if free_after != free_before {
        defmt::error!("bench: {=u64} free pages before, {=u64} after", free_before, free_after);
        return Err("bench: pages missing after the benchmark");
    }
    defmt::info!("bench: done; every page back ({=u64} free, per-CPU lists included)", free_after);
    Ok(())
}
