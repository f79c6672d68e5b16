//! `smp_init`: bring up every possible CPU, one at a time, and wait for each to report in.
//! A CPU that fails to start is reported with its id and the reason; the boot goes on.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::percpu;
use crate::Firmware;

/// CPUs that reached `secondary_start`.
static CPUS_UP: AtomicUsize = AtomicUsize::new(1);

/// `selftest=stack-overflow-cpu1`: CPU 1 recurses on its vmalloc'd stack once it is up, which
/// must fault at the guard page below it and be reported.
pub static OVERFLOW_ON_CPU1: AtomicBool = AtomicBool::new(false);

extern "C" fn secondary_start<P: Firmware>(cpu: usize) -> ! {
    let Some(area) = percpu::this_cpu() else { P::park_this_cpu() };
    area.online.store(true, Ordering::Release);
    defmt::info!("CPU{=usize}: up (hw id {=u64:#x}, node {=i32}, per-CPU area {=u64:#x})", cpu, area.hw_id, area.nid, area.self_ptr as u64);
    CPUS_UP.fetch_add(1, Ordering::AcqRel);
    if cpu == 1 && OVERFLOW_ON_CPU1.load(Ordering::Acquire) {
        defmt::info!("selftest: unbounded recursion on CPU1's vmalloc'd stack, which must fault at its guard page");
        let depth = crate::recurse(0);
        defmt::error!("selftest=stack-overflow-cpu1: recursion returned at depth {=u64} without faulting", depth);
    }
    crate::bench::secondary::<P>(cpu);
    crate::stress::secondary::<P>(cpu);
    P::park_this_cpu()
}

/// Starts every secondary CPU; returns how many CPUs are up (boot CPU included).
///
/// Each secondary CPU's stack is a vmalloc area of [`percpu::CPU_STACK_BYTES`] on the CPU's
/// node, so unmapped guard pages lie below and above it (Linux's `CONFIG_VMAP_STACK`): an
/// overflow faults and is reported instead of running into its neighbour. `vmalloc_init` must
/// have run.
pub fn smp_init<P: Firmware>(platform: &mut P, allocator: &page_alloc::PageAllocator<'_>, nr_nodes: usize) -> usize {
    let n = percpu::nr_cpu_ids();
    defmt::info!("smp: Bringing up secondary CPUs ...");
    for cpu in 1..n {
        let nid = percpu::per_cpu(cpu).map_or(0, |a| a.nid);
        let stack = match crate::vmalloc::vmalloc::<P>(allocator, 0, nid, percpu::CPU_STACK_BYTES) {
            Ok(bottom) => {
                defmt::debug!(
                    "smp: CPU{=usize} stack [{=u64:#x}-{=u64:#x}], vmalloc'd on node {=i32} between guard pages",
                    cpu,
                    bottom as u64,
                    (bottom + percpu::CPU_STACK_BYTES) as u64 - 1,
                    nid
                );
                bottom + percpu::CPU_STACK_BYTES
            }
            Err(why) => {
                defmt::error!("smp: CPU{=usize} failed to start: no stack: {=str}", cpu, why);
                continue;
            }
        };
        let base = percpu::per_cpu_offset(cpu);
        let before = CPUS_UP.load(Ordering::Acquire);
        match platform.start_cpu(cpu, stack, base, secondary_start::<P>) {
            Ok(()) => {
                // The CPU runs Rust; wait (bounded) until it has reported in.
                let mut spins = 0u32;
                while CPUS_UP.load(Ordering::Acquire) == before && spins < 50_000_000 {
                    core::hint::spin_loop();
                    spins += 1;
                }
                if CPUS_UP.load(Ordering::Acquire) == before {
                    defmt::error!("smp: CPU{=usize} started but never reported in", cpu);
                }
            }
            Err(why) => defmt::error!("smp: CPU{=usize} failed to start: {=str}", cpu, why),
        }
    }
    let up = CPUS_UP.load(Ordering::Acquire);
    // smp_announce (6.1): the plural only above one, for nodes and CPUs alike.
    let plural = |n: usize| if n > 1 { "s" } else { "" };
    defmt::info!("smp: Brought up {=usize} node{=str}, {=usize} CPU{=str}", nr_nodes, plural(nr_nodes), up, plural(up));
    up
}
