//! CPU helpers: interrupt masking, the semihosting exit, parking a CPU.
//!
//! Exit goes through semihosting `SYS_EXIT_EXTENDED` (0x20) with `ADP_Stopped_ApplicationExit`
//! (0x20026) and the status (Arm "Semihosting for AArch32 and AArch64", 6.5: the extended call
//! is how AArch32 passes a status; QEMU started with `-semihosting-config enable=on` exits with
//! it). The trap is `svc #0x123456` in ARM state. Status 33 is success and 3 a firmware failure;
//! 4, 5 and 6 come from the entry code (wrong load address, a mode other than SVC or Hyp, no
//! console). Without semihosting the `svc` is an ordinary supervisor call, which the vectors
//! report before the CPU parks.
#![allow(unsafe_code)]

/// Status for a successful run: the firmware's own report, which QEMU's own endings never give.
pub const EXIT_SUCCESS: u32 = 33;
/// Status for a failed run.
pub const EXIT_FAILURE: u32 = 3;
/// Status when there is no device tree or no console in it, so nothing could be logged.
pub const EXIT_NO_CONSOLE: u32 = 6;

/// Masks IRQ, FIQ and asynchronous aborts; returns the previous CPSR.
pub fn irq_save() -> usize {
    let cpsr: u32;
    // SAFETY: reading CPSR and setting its mask bits has no memory effect.
    unsafe { core::arch::asm!("mrs {0}, cpsr", "cpsid aif", out(reg) cpsr, options(nomem, nostack, preserves_flags)) };
    cpsr as usize
}

/// Restores the A, I and F masks from [`irq_save`] (the mode is unchanged: it was saved in the
/// same mode).
pub fn irq_restore(cpsr: usize) {
    // SAFETY: writes only CPSR's control field, with the mode this code already runs in.
    unsafe { core::arch::asm!("msr cpsr_c, {0}", in(reg) cpsr as u32, options(nomem, nostack)) };
}

/// Ends the run with `code`. The last log frame ([`kernel::log_exit`]) goes out first.
pub fn exit(code: kernel::ExitCode) -> ! {
    kernel::log_exit(code);
    exit_status(match code {
        kernel::ExitCode::Success => EXIT_SUCCESS,
        kernel::ExitCode::Failure => EXIT_FAILURE,
    })
}

/// Set just before the semihosting call: an exception after it means semihosting is off (QEMU
/// without `-semihosting`), and the exception report must park the CPU instead of trying to
/// exit the same way again.
pub static EXITING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Ends the run with a raw semihosting status.
pub fn exit_status(status: u32) -> ! {
    EXITING.store(true, core::sync::atomic::Ordering::SeqCst);
    let block: [u32; 2] = [0x20026, status];
    // SAFETY: the semihosting call reads the two-word block, which lives on this stack for the
    // whole call; QEMU exits and never returns here.
    unsafe {
        core::arch::asm!("svc #0x123456", inout("r0") 0x20u32 => _, in("r1") block.as_ptr(), options(nostack));
    }
    park()
}

/// Signals an event to every CPU (waking `wfe`), after making earlier stores visible.
pub fn sev() {
    aarch32_cpu::asm::dsb();
    aarch32_cpu::asm::sev();
}

/// Parks this CPU for good.
pub fn park() -> ! {
    loop {
        aarch32_cpu::asm::wfe();
    }
}
