//! Secondary CPUs, started through PSCI `CPU_ON` (Arm DEN0022, 5.6; the SMC32/HVC32 function
//! 0x84000003 through the `smccc` crate, on the conduit `/psci`'s `method` names), as Linux's
//! `psci_boot_secondary`: the firmware starts the CPU at `secondary_entry` (boot.rs) with the
//! context id, the physical address of its [`SecondaryBoot`] block, in r0.
//!
//! The boot CPU fills one block per CPU (TTBR0, TTBCR, DACR and SCTLR of the kernel's tables,
//! the stack top, the per-CPU base, the CPU id) and cleans it to the point of coherency (the
//! secondary reads it with the MMU and caches off). `secondary_entry` drops from Hyp to SVC if
//! needed, installs the vectors and its abort stacks, turns the MMU on with the same tables
//! (lowmem and the image are mapped at their physical addresses too, so it keeps running), sets
//! SP and `TPIDRPRW`, and calls [`armv7a_secondary_rust`], which marks the CPU alive and runs the
//! generic entry. The boot CPU waits (bounded, on the boot clock) for that mark.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering};

use devicetree::PsciMethod;

/// Most CPUs this platform starts.
pub const MAX_CPUS: usize = 8;

/// What a secondary needs before it can run Rust; read by `secondary_entry` at fixed offsets.
#[repr(C, align(64))]
pub struct SecondaryBoot {
    ttbr0: AtomicU32,
    ttbcr: AtomicU32,
    dacr: AtomicU32,
    sctlr: AtomicU32,
    stack_top: AtomicU32,
    percpu_base: AtomicU32,
    /// The generic entry, as an address.
    entry: AtomicU32,
    /// Logical CPU id.
    cpu: AtomicU32,
    /// Set by the secondary once it runs Rust.
    alive: AtomicU32,
}

const _: () = assert!(core::mem::offset_of!(SecondaryBoot, percpu_base) == 20);
const _: () = assert!(core::mem::offset_of!(SecondaryBoot, cpu) == 28);

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: SecondaryBoot = SecondaryBoot {
    ttbr0: AtomicU32::new(0),
    ttbcr: AtomicU32::new(0),
    dacr: AtomicU32::new(0),
    sctlr: AtomicU32::new(0),
    stack_top: AtomicU32::new(0),
    percpu_base: AtomicU32::new(0),
    entry: AtomicU32::new(0),
    cpu: AtomicU32::new(0),
    alive: AtomicU32::new(0),
};

static BOOT: [SecondaryBoot; MAX_CPUS] = [EMPTY; MAX_CPUS];

extern "C" {
    fn secondary_entry();
    fn pending_secondary_entry();
}

/// The physical address of the boot block of the CPU being started, for CPUs that a method
/// releases without an argument (the BCM2836 mailbox passes the core number in r0, the i.MX6
/// SRC's boot ROM nothing): they enter `pending_secondary_entry`, which loads it with the MMU
/// off and goes on at `secondary_entry` like a CPU that PSCI started. CPUs start one at a time
/// (the boot CPU waits for each to reach Rust), so one word serves them all.
#[no_mangle]
static ARMV7A_PENDING_BLOCK: AtomicU32 = AtomicU32::new(0);

core::arch::global_asm!(
    r#"
    .section .text.boot, "ax"
    .arm
    .global pending_secondary_entry
pending_secondary_entry:
    ldr     r0, =ARMV7A_PENDING_BLOCK
    ldr     r0, [r0]
    b       secondary_entry
    .ltorg
"#
);

/// Publishes `block` (a prepared boot block's physical address) for the next CPU released
/// into `pending_secondary_entry`, cleaned to the point of coherency; returns that entry's
/// physical address (the image runs at its physical address).
pub(crate) fn set_pending_block(block: u32) -> u32 {
    ARMV7A_PENDING_BLOCK.store(block, Ordering::Release);
    clean_dcache(ARMV7A_PENDING_BLOCK.as_ptr() as usize, 4);
    pending_secondary_entry as *const () as usize as u32
}

/// Cleans and invalidates `[addr, addr + len)` to the point of coherency (Linux
/// `dmac_flush_range`), so that a CPU running with its MMU and caches off reads what was
/// written.
pub(crate) fn clean_dcache(addr: usize, len: usize) {
    let ctr = aarch32_cpu::register::Ctr::read().0;
    let step = 4usize << ((ctr >> 16) & 0xf);
    let mut line = addr & !(step - 1);
    while line < addr + len {
        aarch32_cpu::cache::clean_and_invalidate_data_cache_line_to_poc(line as u32);
        line += step;
    }
    aarch32_cpu::asm::dsb();
}

/// Fills and cleans `cpu`'s boot block; returns it with its physical address.
pub(crate) fn prepare(
    mpidr: u32,
    cpu: usize,
    stack_top: usize,
    percpu_base: usize,
    entry: extern "C" fn(usize) -> !,
) -> Result<(&'static SecondaryBoot, u32), &'static str> {
    let b = BOOT.get(cpu).ok_or("CPU id beyond MAX_CPUS")?;
    let [ttbr0, ttbcr, dacr, sctlr] = crate::paging::mmu_registers();
    b.ttbr0.store(ttbr0, Ordering::Relaxed);
    b.ttbcr.store(ttbcr, Ordering::Relaxed);
    b.dacr.store(dacr, Ordering::Relaxed);
    b.sctlr.store(sctlr, Ordering::Relaxed);
    b.stack_top.store(stack_top as u32, Ordering::Relaxed);
    b.percpu_base.store(percpu_base as u32, Ordering::Relaxed);
    b.entry.store(entry as usize as u32, Ordering::Relaxed);
    b.cpu.store(cpu as u32, Ordering::Relaxed);
    b.alive.store(0, Ordering::Release);
    clean_dcache(b as *const SecondaryBoot as usize, core::mem::size_of::<SecondaryBoot>());
    // The image runs at its physical address: the block's address is the one the CPU needs.
    let block = b as *const SecondaryBoot as u32;
    defmt::debug!(
        "smp: CPU{=usize} (MPIDR {=u32:#x}): boot block at {=u32:#x}, stack top {=u32:#x}, per-CPU base {=u32:#x}, TTBR0 {=u32:#x}",
        cpu,
        mpidr,
        block,
        stack_top as u32,
        percpu_base as u32,
        ttbr0
    );
    Ok((b, block))
}

/// Starts `cpu` (see `kernel::Firmware::start_cpu`) through PSCI.
pub fn start_cpu(
    conduit: Option<PsciMethod>,
    mpidr: u32,
    cpu: usize,
    stack_top: usize,
    percpu_base: usize,
    entry: extern "C" fn(usize) -> !,
) -> Result<(), &'static str> {
    let (b, block) = prepare(mpidr, cpu, stack_top, percpu_base, entry)?;
    let entry_pa = secondary_entry as *const () as usize as u32;
    let r = match conduit {
        Some(PsciMethod::Hvc) => smccc::psci::cpu_on_32::<smccc::Hvc>(mpidr, entry_pa, block),
        Some(PsciMethod::Smc) => smccc::psci::cpu_on_32::<smccc::Smc>(mpidr, entry_pa, block),
        _ => return Err("no usable /psci node (method hvc or smc) in the device tree"),
    };
    defmt::debug!("psci: CPU_ON({=u32:#x}, entry {=u32:#x}, context {=u32:#x}) returned {}", mpidr, entry_pa, block, defmt::Debug2Format(&r));
    r.map_err(psci_error)?;
    wait_alive(b)
}

fn psci_error(e: smccc::psci::Error) -> &'static str {
    use smccc::psci::Error;
    match e {
        Error::NotSupported => "PSCI CPU_ON: NOT_SUPPORTED",
        Error::InvalidParameters => "PSCI CPU_ON: INVALID_PARAMETERS (bad MPIDR or entry address)",
        Error::Denied => "PSCI CPU_ON: DENIED",
        Error::AlreadyOn => "PSCI CPU_ON: ALREADY_ON",
        Error::OnPending => "PSCI CPU_ON: ON_PENDING",
        Error::InternalFailure => "PSCI CPU_ON: INTERNAL_FAILURE",
        Error::InvalidAddress => "PSCI CPU_ON: INVALID_ADDRESS",
        _ => "PSCI CPU_ON: another error",
    }
}

/// Waits up to 1 s on the boot clock (the generic timer, or the Cortex-A9 global timer at its
/// measured rate: timer.rs) for the CPU to reach Rust, as 32-bit ARM's `__cpu_up` waits for
/// `cpu_running`.
pub(crate) fn wait_alive(b: &SecondaryBoot) -> Result<(), &'static str> {
    let deadline = crate::timer::now_ns().ok_or("the boot clock has no rate (see the clock: line above), so the CPU's start cannot be waited for")? + 1_000_000_000;
    while b.alive.load(Ordering::Acquire) == 0 {
        if crate::timer::now_ns().unwrap_or(u64::MAX) > deadline {
            return Err("the CPU did not reach Rust within 1 s of its release");
        }
        core::hint::spin_loop();
    }
    Ok(())
}

#[no_mangle]
extern "C" fn armv7a_secondary_rust(b: &SecondaryBoot) -> ! {
    let cpu = b.cpu.load(Ordering::Relaxed) as usize;
    let entry = b.entry.load(Ordering::Relaxed) as usize;
    b.alive.store(1, Ordering::Release);
    // SAFETY: `entry` was stored from an `extern "C" fn(usize) -> !` by `start_cpu`.
    let entry: extern "C" fn(usize) -> ! = unsafe { core::mem::transmute(entry) };
    entry(cpu)
}
