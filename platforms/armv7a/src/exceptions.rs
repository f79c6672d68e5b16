//! The exception vector table and the report an unexpected exception gives.
//!
//! ARM ARM B1.8.1: eight entries of one instruction at `VBAR` (reset, undefined instruction,
//! supervisor call, prefetch abort, data abort, unused, IRQ, FIQ). Firmware takes no interrupts
//! yet, so every entry is fatal: it saves r0-r12 and the return address on the stack of the mode
//! the exception entered (abort and undefined modes have a stack of their own per CPU, set by
//! `armv7a_mode_stacks` at boot), and [`armv7a_exception`] logs the kind, the fault status and
//! address registers (`DFSR`/`DFAR` for a data abort, `IFSR`/`IFAR` for a prefetch abort), the
//! return address, the interrupted `SPSR` and SVC-mode SP, then ends the run with failure.
//!
//! Because an abort runs on the abort mode's own stack, a kernel stack overflow (SVC's SP running
//! into its unmapped guard page) is reported like any other data abort, with the interrupted SP
//! named: nothing has to be pushed on the overflowing stack.
#![allow(unsafe_code)]

use aarch32_cpu::register::{Dfar, Dfsr, Ifar, Ifsr};

/// Each exception stack is `1 << EXCEPTION_STACK_SHIFT` bytes: enough for the report (the frame
/// and two defmt lines).
pub const EXCEPTION_STACK_SHIFT: u32 = 13;
const EXCEPTION_STACK_BYTES: usize = 1 << EXCEPTION_STACK_SHIFT;

/// One stack per CPU for the abort and undefined modes (and IRQ/FIQ, which stay masked). Only
/// the exception entry touches it, through its address.
#[repr(C, align(16))]
pub struct ExceptionStacks([[u8; EXCEPTION_STACK_BYTES]; kernel::percpu::NR_CPUS]);

#[no_mangle]
pub static mut EXCEPTION_STACKS: ExceptionStacks = ExceptionStacks([[0; EXCEPTION_STACK_BYTES]; kernel::percpu::NR_CPUS]);

core::arch::global_asm!(
    r#"
    .section .text.vectors, "ax"
    .arm
    .balign 32
    .global exception_vectors
exception_vectors:
    b       exc_reset
    b       exc_undef
    b       exc_svc
    b       exc_pabt
    b       exc_dabt
    b       exc_unused
    b       exc_irq
    b       exc_fiq

    /* r0 = kind, r1 = the frame (r0-r12, the exception's LR), r2 = SPSR, r3 = SVC's SP. */
    /* `mode` is the mode the vector runs in; SVC's SP is read by visiting SVC mode (the
     * interrupts stay masked: every entry masks I, and F where it matters). */
    .macro ENTRY name, kind, mode
\name:
    push    {{r0-r12, lr}}
    mov     r0, #\kind
    mov     r1, sp
    mrs     r2, spsr
    cps     #0x13
    mov     r3, sp
    cps     #\mode
    bl      armv7a_exception
    .endm

    ENTRY exc_reset, 0, 0x13
    ENTRY exc_undef, 1, 0x1b
    ENTRY exc_svc, 2, 0x13
    ENTRY exc_pabt, 3, 0x17
    ENTRY exc_dabt, 4, 0x17
    ENTRY exc_unused, 5, 0x1b
    ENTRY exc_irq, 6, 0x12
    ENTRY exc_fiq, 7, 0x11
"#
);

/// r0..r12 and the exception's link register, as the entry saved them.
#[repr(C)]
#[derive(Debug)]
pub struct Frame {
    r: [u32; 13],
    lr: u32,
}

const KINDS: [&str; 8] = [
    "reset",
    "undefined instruction",
    "supervisor call",
    "prefetch abort",
    "data abort",
    "unused vector (Hyp trap)",
    "IRQ",
    "FIQ",
];

/// ARM ARM B3.13.3, short-descriptor fault status (FS[4] : FS[3:0]).
fn status_name(fs: u32) -> &'static str {
    match fs {
        0b00001 => "alignment fault",
        0b00100 => "fault on instruction cache maintenance",
        0b01100 => "synchronous external abort on translation table walk, first level",
        0b01110 => "synchronous external abort on translation table walk, second level",
        0b00101 => "translation fault, section",
        0b00111 => "translation fault, page",
        0b00011 => "access flag fault, section",
        0b00110 => "access flag fault, page",
        0b01001 => "domain fault, section",
        0b01011 => "domain fault, page",
        0b01101 => "permission fault, section",
        0b01111 => "permission fault, page",
        0b00010 => "debug event",
        0b01000 => "synchronous external abort",
        0b10110 => "asynchronous external abort",
        _ => "other",
    }
}

fn fault_status(fsr: u32) -> u32 {
    (fsr & 0xf) | ((fsr >> 6) & 0x10)
}

extern "C" {
    /// The unmapped page below the boot stack (armv7a.ld).
    static __boot_stack_guard: u8;
}

#[no_mangle]
extern "C" fn armv7a_exception(kind: u32, frame: &Frame, spsr: u32, svc_sp: u32) -> ! {
    let name = KINDS.get(kind as usize).copied().unwrap_or("?");
    if crate::cpu::EXITING.load(core::sync::atomic::Ordering::SeqCst) {
        defmt::error!(
            "exception: {=str} at {=u32:#010x} during the semihosting exit: QEMU runs without -semihosting; parking",
            name,
            frame.lr
        );
        crate::cpu::park()
    }
    match kind {
        4 => {
            let dfsr = Dfsr::read().raw_value();
            let write = dfsr & (1 << 11) != 0;
            defmt::error!(
                "exception: {=str}: {=str} on {=str} of DFAR {=u32:#010x} (DFSR {=u32:#010x}), at PC {=u32:#010x}, SPSR {=u32:#010x}",
                name,
                status_name(fault_status(dfsr)),
                if write { "a write" } else { "a read" },
                Dfar::read().0,
                dfsr,
                frame.lr.wrapping_sub(8),
                spsr
            );
        }
        3 => {
            let ifsr = Ifsr::read().raw_value();
            defmt::error!(
                "exception: {=str}: {=str} at IFAR {=u32:#010x} (IFSR {=u32:#010x}), SPSR {=u32:#010x}",
                name,
                status_name(fault_status(ifsr)),
                Ifar::read().0,
                ifsr,
                spsr
            );
        }
        _ => defmt::error!(
            "exception: {=str}: return address {=u32:#010x}, SPSR {=u32:#010x}",
            name,
            frame.lr,
            spsr
        ),
    }
    let guard = &raw const __boot_stack_guard as u32;
    let page = mm_types::PAGE_SIZE as u32;
    let (vstart, vend) = crate::paging::vmalloc_bounds();
    if kind == 4 && (guard..guard + page).contains(&Dfar::read().0) {
        defmt::error!(
            "exception: kernel stack overflow: SP {=u32:#010x} ran into the boot stack's guard page; reported on this CPU's abort stack",
            svc_sp
        );
    } else if kind == 4 && (vstart.saturating_sub(page as usize)..vend).contains(&(Dfar::read().0 as usize)) && Dfar::read().0.abs_diff(svc_sp) < 2 * page {
        defmt::error!(
            "exception: kernel stack overflow: SP {=u32:#010x} ran into the guard page below a vmalloc'd CPU stack; reported on this CPU's abort stack",
            svc_sp
        );
    }
    defmt::error!(
        "r0 {=u32:#x} r1 {=u32:#x} r2 {=u32:#x} r3 {=u32:#x} r11 {=u32:#x} r12 {=u32:#x} sp_svc {=u32:#x}",
        frame.r[0], frame.r[1], frame.r[2], frame.r[3], frame.r[11], frame.r[12], svc_sp
    );
    crate::cpu::exit(kernel::ExitCode::Failure)
}
