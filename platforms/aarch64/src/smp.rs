//! Secondary CPUs through PSCI `CPU_ON` (Arm DEN0022, section 5.6), as Linux's
//! `cpu_psci_cpu_boot` does.
//!
//! The boot CPU fills one [`SecondaryBoot`] block per CPU (its page-table registers, stack top
//! and per-CPU base), cleans it to the point of coherency (the secondary reads it with the MMU
//! and caches off), and calls `CPU_ON(mpidr, secondary_entry, &block)` through `hvc` or `smc` as
//! `/psci` says. `secondary_entry` (boot.rs) drops to EL1 if needed, enables FP/SIMD, installs
//! the vectors, turns the MMU on with the same tables, sets SP and `TPIDR_EL1`, and calls
//! [`aarch64_secondary_rust`], which marks the CPU alive and runs the generic entry. The boot
//! CPU waits (bounded, against the generic timer) for that mark.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1};
use devicetree::PsciMethod;

/// Most CPUs this platform starts.
pub const MAX_CPUS: usize = 8;

/// PSCI 0.2 `CPU_ON`, SMC64 calling convention.
const PSCI_CPU_ON_64: u64 = 0xc400_0003;

/// What a secondary needs before it can run Rust; read by `secondary_entry` at fixed offsets.
#[repr(C, align(64))]
pub struct SecondaryBoot {
    ttbr0: AtomicU64,
    tcr: AtomicU64,
    mair: AtomicU64,
    sctlr: AtomicU64,
    stack_top: AtomicU64,
    percpu_base: AtomicU64,
    /// The generic entry, as an address.
    entry: AtomicU64,
    /// Logical CPU id.
    cpu: AtomicU64,
    /// Set by the secondary once it runs Rust.
    alive: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: SecondaryBoot = SecondaryBoot {
    ttbr0: AtomicU64::new(0),
    tcr: AtomicU64::new(0),
    mair: AtomicU64::new(0),
    sctlr: AtomicU64::new(0),
    stack_top: AtomicU64::new(0),
    percpu_base: AtomicU64::new(0),
    entry: AtomicU64::new(0),
    cpu: AtomicU64::new(0),
    alive: AtomicU64::new(0),
};

static BOOT: [SecondaryBoot; MAX_CPUS] = [EMPTY; MAX_CPUS];

extern "C" {
    fn secondary_entry();
}

/// Cleans `[addr, addr + len)` to the point of coherency.
fn clean_dcache(addr: usize, len: usize) {
    let mut line = addr & !63;
    while line < addr + len {
        // SAFETY: `dc cvac` on a mapped address only writes back cache lines; no memory changes.
        unsafe { core::arch::asm!("dc cvac, {0}", in(reg) line, options(nostack)) };
        line += 64;
    }
    // SAFETY: a barrier has no memory effect of its own.
    unsafe { core::arch::asm!("dsb sy", options(nostack)) };
}

fn psci_call(method: PsciMethod, fid: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    let mut ret = fid;
    match method {
        // SAFETY: a PSCI call through the firmware's conduit; CPU_ON touches no memory of ours
        // except the block it hands to the new CPU (which outlives the call).
        PsciMethod::Hvc => unsafe {
            core::arch::asm!("hvc #0", inout("x0") ret, in("x1") a1, in("x2") a2, in("x3") a3, options(nostack))
        },
        // SAFETY: as above, through the secure monitor.
        PsciMethod::Smc => unsafe {
            core::arch::asm!("smc #0", inout("x0") ret, in("x1") a1, in("x2") a2, in("x3") a3, options(nostack))
        },
        PsciMethod::Unknown => return -1,
    }
    ret as i64
}

fn psci_error(code: i64) -> &'static str {
    match code {
        -1 => "PSCI CPU_ON: NOT_SUPPORTED",
        -2 => "PSCI CPU_ON: INVALID_PARAMETERS (bad MPIDR or entry address)",
        -3 => "PSCI CPU_ON: DENIED",
        -4 => "PSCI CPU_ON: ALREADY_ON",
        -5 => "PSCI CPU_ON: ON_PENDING",
        -6 => "PSCI CPU_ON: INTERNAL_FAILURE",
        -9 => "PSCI CPU_ON: INVALID_ADDRESS",
        _ => "PSCI CPU_ON: unknown error",
    }
}

/// Starts `cpu` (see `platform::Firmware::start_cpu`).
pub fn start_cpu(
    method: Option<PsciMethod>,
    mpidr: u64,
    cpu: usize,
    stack_top: usize,
    percpu_base: usize,
    entry: extern "C" fn(usize) -> !,
) -> Result<(), &'static str> {
    let Some(method) = method.filter(|m| *m != PsciMethod::Unknown) else {
        return Err("no usable /psci node (method hvc or smc) in the device tree");
    };
    let b = BOOT.get(cpu).ok_or("CPU id beyond MAX_CPUS")?;
    b.ttbr0.store(TTBR0_EL1.get(), Ordering::Relaxed);
    b.tcr.store(TCR_EL1.get(), Ordering::Relaxed);
    b.mair.store(MAIR_EL1.get(), Ordering::Relaxed);
    b.sctlr.store(SCTLR_EL1.get(), Ordering::Relaxed);
    b.stack_top.store(stack_top as u64, Ordering::Relaxed);
    b.percpu_base.store(percpu_base as u64, Ordering::Relaxed);
    b.entry.store(entry as usize as u64, Ordering::Relaxed);
    b.cpu.store(cpu as u64, Ordering::Relaxed);
    b.alive.store(0, Ordering::Release);
    clean_dcache(b as *const SecondaryBoot as usize, core::mem::size_of::<SecondaryBoot>());
    // Identity map: the virtual addresses are the physical ones PSCI needs.
    let ret = psci_call(method, PSCI_CPU_ON_64, mpidr, secondary_entry as *const () as usize as u64, b as *const _ as u64);
    if ret != 0 {
        return Err(psci_error(ret));
    }
    let freq = CNTFRQ_EL0.get().max(1);
    let deadline = CNTPCT_EL0.get() + freq / 10; // 100 ms
    while b.alive.load(Ordering::Acquire) == 0 {
        if CNTPCT_EL0.get() > deadline {
            return Err("the CPU did not reach Rust within 100 ms of PSCI CPU_ON");
        }
        core::hint::spin_loop();
    }
    Ok(())
}

#[no_mangle]
extern "C" fn aarch64_secondary_rust(b: &SecondaryBoot) -> ! {
    let cpu = b.cpu.load(Ordering::Relaxed) as usize;
    let entry = b.entry.load(Ordering::Relaxed) as usize;
    b.alive.store(1, Ordering::Release);
    // SAFETY: `entry` was stored from an `extern "C" fn(usize) -> !` by `start_cpu`.
    let entry: extern "C" fn(usize) -> ! = unsafe { core::mem::transmute(entry) };
    entry(cpu)
}
