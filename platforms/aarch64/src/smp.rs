//! Secondary CPUs, started the two ways arm64 Linux knows (`cpu_ops`, chosen per CPU by its
//! node's `enable-method`, see [`Method`]):
//! - PSCI `CPU_ON` (Arm DEN0022, section 5.6), as Linux's `cpu_psci_cpu_boot`: the firmware
//!   starts the CPU at `secondary_entry` with the block's address in x0;
//! - a spin table, as Linux's `smp_spin_table_cpu_boot` (Documentation/arm64/booting.rst): the
//!   CPU waits in firmware (`wfe`) until its 64-bit `cpu-release-addr` holds an entry address,
//!   then jumps there with the MMU off and x0 = 0. The boot CPU writes the physical address of
//!   `secondary_spin_entry` there through a temporary fixmap mapping (the release addresses of
//!   the Raspberry Pi are in page 0, which the linear map leaves out, as Linux `ioremap`s them),
//!   cleans it to the point of coherency and sends an event (`sev`). Since x0 carries nothing,
//!   CPUs come up one at a time and the entry finds its block in [`SECONDARY_DATA`] (Linux's
//!   `secondary_data`); a CPU whose MPIDR is not the one the block names parks instead.
//!
//! The boot CPU fills one [`SecondaryBoot`] block per CPU (its page-table registers, stack top
//! and per-CPU base) and cleans it to the point of coherency (the secondary reads it with the
//! MMU and caches off). `secondary_entry` (boot.rs) drops to EL1 if needed, enables FP/SIMD,
//! installs the vectors, turns the MMU on with the same tables, sets SP and `TPIDR_EL1`, and
//! calls [`aarch64_secondary_rust`], which marks the CPU alive and runs the generic entry. The
//! boot CPU waits (bounded, against the generic timer) for that mark.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1};
use devicetree::PsciMethod;

use crate::paging::{with_fixmap, Prot};

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
    /// The MPIDR affinity bits (`MPIDR_EL1 & 0xff_00ff_ffff`) of the CPU this block is for;
    /// the spin-table entry checks it.
    mpidr: AtomicU64,
}

/// Offset of [`SecondaryBoot::mpidr`], as boot.rs reads it.
pub const SECONDARY_BOOT_MPIDR: usize = 72;
const _: () = assert!(core::mem::offset_of!(SecondaryBoot, mpidr) == SECONDARY_BOOT_MPIDR);
const _: () = assert!(core::mem::offset_of!(SecondaryBoot, percpu_base) == 40);

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
    mpidr: AtomicU64::new(0),
};

static BOOT: [SecondaryBoot; MAX_CPUS] = [EMPTY; MAX_CPUS];

/// Linux's `secondary_data`: the physical address of the [`SecondaryBoot`] block of the one
/// spin-table CPU being started, 0 otherwise. Read by `secondary_spin_entry` with the MMU off.
#[export_name = "secondary_data"]
static SECONDARY_DATA: AtomicU64 = AtomicU64::new(0);

extern "C" {
    fn secondary_entry();
    fn secondary_spin_entry();
}

/// How one CPU is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// PSCI `CPU_ON` through this conduit (`None`: the tree has no usable `/psci`).
    Psci(Option<PsciMethod>),
    /// A spin table with this release address (a CPU physical address).
    SpinTable {
        /// `cpu-release-addr`.
        release_addr: u64,
    },
}

/// The smallest data cache line of this CPU (`CTR_EL0.DminLine`), in bytes.
fn dcache_line() -> usize {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {0}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    4 << ((ctr >> 16) & 0xf)
}

/// Cleans and invalidates `[addr, addr + len)` to the point of coherency (Linux
/// `dcache_clean_inval_poc`), so that a CPU running with its MMU and caches off reads what was
/// written.
fn clean_dcache(addr: usize, len: usize) {
    let step = dcache_line();
    let mut line = addr & !(step - 1);
    while line < addr + len {
        // SAFETY: `dc civac` on a mapped address writes back and drops cache lines; memory
        // keeps the same contents.
        unsafe { core::arch::asm!("dc civac, {0}", in(reg) line, options(nostack)) };
        line += step;
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

/// Starts `cpu` (see `kernel::Firmware::start_cpu`) by `method`.
pub fn start_cpu(
    method: Method,
    mpidr: u64,
    cpu: usize,
    stack_top: usize,
    percpu_base: usize,
    entry: extern "C" fn(usize) -> !,
) -> Result<(), &'static str> {
    let b = BOOT.get(cpu).ok_or("CPU id beyond MAX_CPUS")?;
    b.ttbr0.store(TTBR0_EL1.get(), Ordering::Relaxed);
    b.tcr.store(TCR_EL1.get(), Ordering::Relaxed);
    b.mair.store(MAIR_EL1.get(), Ordering::Relaxed);
    b.sctlr.store(SCTLR_EL1.get(), Ordering::Relaxed);
    b.stack_top.store(stack_top as u64, Ordering::Relaxed);
    b.percpu_base.store(percpu_base as u64, Ordering::Relaxed);
    b.entry.store(entry as usize as u64, Ordering::Relaxed);
    b.cpu.store(cpu as u64, Ordering::Relaxed);
    b.mpidr.store(mpidr, Ordering::Relaxed);
    b.alive.store(0, Ordering::Release);
    clean_dcache(b as *const SecondaryBoot as usize, core::mem::size_of::<SecondaryBoot>());
    // Identity map: the virtual addresses are the physical ones the firmware needs.
    let block = b as *const SecondaryBoot as u64;
    defmt::debug!(
        "smp: CPU{=usize} (MPIDR {=u64:#x}): boot block at {=u64:#x}, stack top {=u64:#x}, per-CPU base {=u64:#x}, TTBR0 {=u64:#x}",
        cpu,
        mpidr,
        block,
        stack_top as u64,
        percpu_base as u64,
        TTBR0_EL1.get()
    );
    let started = match method {
        Method::Psci(conduit) => psci_cpu_on(conduit, mpidr, block),
        Method::SpinTable { release_addr } => spin_table_release(release_addr, block),
    };
    let waited = started.and_then(|()| wait_alive(b, method));
    // Whatever happened, no later spin-table CPU may take this block.
    SECONDARY_DATA.store(0, Ordering::Release);
    clean_dcache(SECONDARY_DATA.as_ptr() as usize, 8);
    waited
}

/// `CPU_ON(mpidr, secondary_entry, block)`.
fn psci_cpu_on(conduit: Option<PsciMethod>, mpidr: u64, block: u64) -> Result<(), &'static str> {
    let Some(conduit) = conduit.filter(|m| *m != PsciMethod::Unknown) else {
        return Err("no usable /psci node (method hvc or smc) in the device tree");
    };
    let entry = secondary_entry as *const () as usize as u64;
    let ret = psci_call(conduit, PSCI_CPU_ON_64, mpidr, entry, block);
    defmt::debug!("psci: CPU_ON({=u64:#x}, entry {=u64:#x}, context {=u64:#x}) through {=str} returned {=i64}", mpidr, entry, block, if conduit == PsciMethod::Smc { "smc" } else { "hvc" }, ret);
    match ret {
        0 => Ok(()),
        e => Err(psci_error(e)),
    }
}

/// Linux `smp_spin_table_cpu_prepare` + `smp_spin_table_cpu_boot`: publishes `block` in
/// [`SECONDARY_DATA`], writes the entry's physical address to the release address through the
/// fixmap, cleans both to the point of coherency, and wakes the CPU with `sev`.
fn spin_table_release(release_addr: u64, block: u64) -> Result<(), &'static str> {
    if !release_addr.is_multiple_of(8) {
        return Err("cpu-release-addr is not 8-byte aligned");
    }
    SECONDARY_DATA.store(block, Ordering::Release);
    clean_dcache(SECONDARY_DATA.as_ptr() as usize, 8);
    let entry = secondary_spin_entry as *const () as usize as u64;
    with_fixmap(release_addr, Prot::ReadWrite, |va| {
        // SAFETY: `va` maps the release address (8-byte aligned, checked above) for the
        // duration of this closure; the firmware's spin loop only reads it, and the word is
        // reserved RAM (the tree's /memreserve/ or page 0's reservation) that nothing else uses.
        unsafe { core::ptr::write_volatile(va as *mut u64, entry) };
        clean_dcache(va, 8);
        defmt::debug!("smp: spin table: {=u64:#x} written to release address {=u64:#x} (fixmap {=u64:#x}), then sev", entry, release_addr, va as u64);
    })?;
    // SAFETY: `sev` only signals an event to every CPU; no memory effect.
    unsafe { core::arch::asm!("sev", options(nomem, nostack)) };
    Ok(())
}

/// Waits up to 5 s (generic timer) for the CPU to reach Rust, as arm64's `__cpu_up` waits for
/// `cpu_running` (vCPUs of an emulator on a busy host can take well over 100 ms to be run).
fn wait_alive(b: &SecondaryBoot, method: Method) -> Result<(), &'static str> {
    let freq = CNTFRQ_EL0.get().max(1);
    let deadline = CNTPCT_EL0.get() + freq * 5;
    while b.alive.load(Ordering::Acquire) == 0 {
        if CNTPCT_EL0.get() > deadline {
            return Err(match method {
                Method::Psci(_) => "the CPU did not reach Rust within 5 s of PSCI CPU_ON",
                Method::SpinTable { .. } => "the CPU did not reach Rust within 5 s of its spin-table release",
            });
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
