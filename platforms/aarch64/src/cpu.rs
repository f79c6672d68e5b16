//! CPU helpers: interrupt masking, the semihosting exit, parking a CPU.
//!
//! Exit goes through semihosting `SYS_EXIT_EXTENDED` (0x20) with `ADP_Stopped_ApplicationExit`
//! (0x20026) and the status (Arm "Semihosting for AArch32 and AArch64", 6.5): QEMU started with
//! `-semihosting-config enable=on` exits with that status. Status 33 is success and 3 a firmware
//! failure; 4, 5 and 6 come from the entry code (wrong load address, EL3, no console). Success is
//! not 0: a QEMU ended by SIGTERM or SIGINT exits with 0 too. Without semihosting the `hlt` is an
//! undefined instruction, which the vectors report before parking the CPU.
#![allow(unsafe_code)]

use aarch64_cpu::registers::{Readable, Writeable, DAIF};

/// Status for a successful run: the firmware's own report, which QEMU's own endings never give.
pub const EXIT_SUCCESS: u64 = 33;
/// Status for a failed run.
pub const EXIT_FAILURE: u64 = 3;
/// Status when there is no device tree or no console in it, so nothing could be logged.
pub const EXIT_NO_CONSOLE: u64 = 6;

/// Masks IRQ, FIQ, SError and debug exceptions; returns the previous DAIF.
pub fn irq_save() -> usize {
    let daif = DAIF.get();
    DAIF.set(daif | (0xf << 6));
    daif as usize
}

/// Restores DAIF from [`irq_save`].
pub fn irq_restore(daif: usize) {
    DAIF.set(daif as u64);
}

/// Ends the run with `code`.
/// The last log frame ([`kernel::log_exit`]) goes out first.
pub fn exit(code: kernel::ExitCode) -> ! {
    kernel::log_exit(code);
    exit_status(match code {
        kernel::ExitCode::Success => EXIT_SUCCESS,
        kernel::ExitCode::Failure => EXIT_FAILURE,
    })
}

/// Ends the run with a raw semihosting status.
pub fn exit_status(status: u64) -> ! {
    let block: [u64; 2] = [0x20026, status];
    // SAFETY: the semihosting call reads the two-word block, which lives on this stack for the
    // whole call; QEMU exits and never returns here.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            in("w0") 0x20u32,
            in("x1") block.as_ptr(),
            options(nostack)
        );
    }
    park()
}

/// Signals an event to every CPU (waking `wfe`), after making earlier stores visible.
pub fn sev() {
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::ISH);
    aarch64_cpu::asm::sev();
}

/// Parks this CPU for good.
pub fn park() -> ! {
    loop {
        aarch64_cpu::asm::wfe();
    }
}
