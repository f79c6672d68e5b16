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
    idle_loop::<P>(cpu)
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

/// A function a CPU runs for another, and its argument.
type Work = (fn(usize) -> u64, usize);

/// A request posted to one CPU: `f(arg)` and, once run, its result.
struct Mailbox {
    work: spin::Mutex<Option<Work>>,
    result: core::sync::atomic::AtomicU64,
    done: AtomicBool,
}

static MAILBOXES: [Mailbox; percpu::NR_CPUS] = [const {
    Mailbox { work: spin::Mutex::new(None), result: core::sync::atomic::AtomicU64::new(0), done: AtomicBool::new(false) }
}; percpu::NR_CPUS];
/// CPUs waiting in [`idle_loop`] for work.
static IDLE: [AtomicBool; percpu::NR_CPUS] = [const { AtomicBool::new(false) }; percpu::NR_CPUS];
/// Serialises callers of [`run_closure`]: one request in flight at a time.
static CALL_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Where a secondary CPU waits once the boot's own work is done: it runs whatever
/// [`run_closure`] posts to its mailbox (the application's `call_on`, `on_each_cpu`), then
/// waits again ([`Firmware::wait_for_kick`]).
pub fn idle_loop<P: Firmware>(cpu: usize) -> ! {
    let _ = P::IRQ_SAVE();
    IDLE[cpu].store(true, Ordering::Release);
    loop {
        let work = MAILBOXES[cpu].work.lock().take();
        if let Some((f, arg)) = work {
            MAILBOXES[cpu].result.store(f(arg), Ordering::Release);
            MAILBOXES[cpu].done.store(true, Ordering::Release);
        }
        P::wait_for_kick();
    }
}

/// Why a cross-CPU call (`Kernel::call_on`, `Kernel::on_each_cpu`) could not run a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// No such CPU, or it is not online (never started, or failed to).
    NotOnline { cpu: usize },
    /// The CPU is online but did not take the work: not back in its idle loop within a second
    /// (busy), or no answer within a second.
    NoAnswer { cpu: usize },
}

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotOnline { cpu } => write!(f, "CPU{cpu} is not online"),
            Self::NoAnswer { cpu } => write!(f, "CPU{cpu} is online but did not take the work (busy, or no answer within a second)"),
        }
    }
}

/// Gives an online CPU on its way into the idle loop (just done with the boot's self-tests)
/// up to a second to arrive (an emulator's vCPU on a busy host may not run for 100 ms); whether
/// it did.
fn await_idle(idle: &AtomicBool) -> bool {
    spin_until(idle, ANSWER_NS, 2_000_000_000)
}

/// Spins until `flag` is set, for at most `ns` on the boot clock or `max_spins` polls (the
/// clock may not run yet: x86 before its TSC is calibrated); whether it was set.
fn spin_until(flag: &AtomicBool, ns: u64, max_spins: u64) -> bool {
    let until = crate::clock::now_ns().saturating_add(ns);
    let mut spins = 0u64;
    while !flag.load(Ordering::Acquire) {
        core::hint::spin_loop();
        spins += 1;
        if crate::clock::now_ns() > until || spins > max_spins {
            return false;
        }
    }
    true
}

/// How long a CPU has to answer a request: a second, or that many polls.
const ANSWER_NS: u64 = 1_000_000_000;
const ANSWER_SPINS: u64 = 2_000_000_000;

/// A closure posted to several CPUs at once, and a slot for each CPU's result.
struct Job<'f, F, R> {
    f: &'f F,
    results: [spin::Mutex<Option<R>>; percpu::NR_CPUS],
}

/// What a CPU runs for [`run_closure`]: the closure of the [`Job`] at address `job`, its
/// result into this CPU's slot.
#[allow(unsafe_code)]
fn run_job<F: Fn(usize) -> R + Sync, R: Send>(job: usize) -> u64 {
    // SAFETY: `job` is the address of a `Job<F, R>` on the stack of the CPU in `run_closure`,
    // which does not return (so the job lives) until every CPU that took this work has set its
    // mailbox's `done` after this function returned; the job is only read through shared
    // references (`F: Sync`, results behind locks).
    let job = unsafe { &*(job as *const Job<'_, F, R>) };
    let cpu = percpu::smp_processor_id();
    let r = (job.f)(cpu);
    *job.results[cpu].lock() = Some(r);
    0
}

/// Waits for CPU `cpu`'s answer to work posted by [`run_closure`]: a CPU that has not taken
/// the work within a second has it taken back (`false`); one that took it is waited for as
/// long as the work runs, since it runs the caller's closure on the caller's data.
fn wait_taken_work(cpu: usize) -> bool {
    let mb = &MAILBOXES[cpu];
    if spin_until(&mb.done, ANSWER_NS, ANSWER_SPINS) {
        return true;
    }
    if mb.work.lock().take().is_some() {
        return false;
    }
    while !mb.done.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    true
}

/// Runs `f(cpu)` on every online CPU `want(cpu)` selects, the caller included when selected,
/// all at once, and returns each CPU's result (or why it has none). The calling CPU posts the
/// work, kicks the CPUs, runs its own share, then waits: without a time limit for a CPU that
/// started the closure (it may run for minutes: a memory test), one second for one to take it.
/// `f` runs with interrupts masked on the other CPUs and must not post cross-CPU work itself.
pub(crate) fn run_closure<F, R>(kick: fn(u64), want: &dyn Fn(usize) -> bool, f: &F) -> [Result<R, CallError>; percpu::NR_CPUS]
where
    F: Fn(usize) -> R + Sync,
    R: Send,
{
    let me = percpu::smp_processor_id();
    let job = Job { f, results: [const { spin::Mutex::new(None) }; percpu::NR_CPUS] };
    let mut out: [Result<R, CallError>; percpu::NR_CPUS] = core::array::from_fn(|cpu| Err(CallError::NotOnline { cpu }));
    let mut posted = [false; percpu::NR_CPUS];
    let _one = CALL_LOCK.lock();
    for (cpu, flag) in posted.iter_mut().enumerate() {
        if cpu == me || !want(cpu) {
            continue;
        }
        let Some(area) = percpu::per_cpu(cpu) else { continue };
        if !area.online.load(Ordering::Acquire) {
            continue;
        }
        if !await_idle(&IDLE[cpu]) {
            // Online, but not in its idle loop within a second: busy, not offline.
            out[cpu] = Err(CallError::NoAnswer { cpu });
            continue;
        }
        MAILBOXES[cpu].done.store(false, Ordering::Release);
        *MAILBOXES[cpu].work.lock() = Some((run_job::<F, R>, &raw const job as usize));
        kick(area.hw_id);
        *flag = true;
    }
    if want(me) {
        out[me] = Ok(f(me));
    }
    for (cpu, _) in posted.iter().enumerate().filter(|(_, p)| **p) {
        out[cpu] = if wait_taken_work(cpu) {
            job.results[cpu].lock().take().ok_or(CallError::NoAnswer { cpu })
        } else {
            Err(CallError::NoAnswer { cpu })
        };
    }
    out
}

/// Whether logical CPU `cpu` is online (started and in the idle loop or running the boot).
pub fn cpu_online(cpu: usize) -> bool {
    percpu::per_cpu(cpu).is_some_and(|a| a.online.load(Ordering::Acquire))
}
