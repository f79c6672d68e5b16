//! `smp_init`: bring up every possible CPU, one at a time, and wait for each to report in.
//! A CPU that fails to start is reported with its id and the reason; the boot goes on.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::percpu;
use crate::Firmware;

/// CPUs that reached `secondary_start`.
static CPUS_UP: AtomicUsize = AtomicUsize::new(1);

extern "C" fn secondary_start<P: Firmware>(cpu: usize) -> ! {
    let Some(area) = percpu::this_cpu() else { P::park_this_cpu() };
    area.online.store(true, Ordering::Release);
    defmt::info!("CPU{=usize}: up (hw id {=u64:#x}, node {=i32}, per-CPU area {=u64:#x})", cpu, area.hw_id, area.nid, area.self_ptr as u64);
    CPUS_UP.fetch_add(1, Ordering::AcqRel);
    crate::bench::secondary::<P>(cpu);
    crate::stress::secondary::<P>(cpu);
    P::park_this_cpu()
}

/// Starts every secondary CPU; returns how many CPUs are up (boot CPU included).
pub fn smp_init<P: Firmware>(platform: &mut P, nr_nodes: usize) -> usize {
    let n = percpu::nr_cpu_ids();
    defmt::info!("smp: Bringing up secondary CPUs ...");
    for cpu in 1..n {
        let stack = percpu::stack_top(cpu);
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
