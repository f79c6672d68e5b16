//! The EL1 exception vector table and the report an unexpected exception gives.
//!
//! ARM ARM D1.10.2: 16 entries of 0x80 bytes, in four groups (current EL with SP_EL0, current EL
//! with SP_ELx, lower EL AArch64, lower EL AArch32) of four kinds (synchronous, IRQ, FIQ,
//! SError). Firmware takes no interrupts yet, so every entry is fatal: it saves the general
//! registers, and [`aarch64_exception`] logs the kind, the exception class from `ESR_EL1`, the
//! return address `ELR_EL1` and the fault address `FAR_EL1`, then ends the run with failure.
#![allow(unsafe_code)]

use aarch64_cpu::registers::{Readable, ESR_EL1, ELR_EL1, FAR_EL1, SPSR_EL1};

core::arch::global_asm!(
    r#"
    .macro VECTOR kind
    .balign 0x80
    sub     sp, sp, #(32 * 8)
    stp     x0, x1, [sp, #(0 * 16)]
    stp     x2, x3, [sp, #(1 * 16)]
    stp     x4, x5, [sp, #(2 * 16)]
    stp     x6, x7, [sp, #(3 * 16)]
    stp     x8, x9, [sp, #(4 * 16)]
    stp     x10, x11, [sp, #(5 * 16)]
    stp     x12, x13, [sp, #(6 * 16)]
    stp     x14, x15, [sp, #(7 * 16)]
    stp     x16, x17, [sp, #(8 * 16)]
    stp     x18, x19, [sp, #(9 * 16)]
    stp     x20, x21, [sp, #(10 * 16)]
    stp     x22, x23, [sp, #(11 * 16)]
    stp     x24, x25, [sp, #(12 * 16)]
    stp     x26, x27, [sp, #(13 * 16)]
    stp     x28, x29, [sp, #(14 * 16)]
    str     x30, [sp, #(15 * 16)]
    mov     x0, #\kind
    mov     x1, sp
    b       aarch64_exception
    .endm

    .section .text.vectors, "ax"
    .balign 0x800
    .global exception_vectors
exception_vectors:
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15
"#
);

/// x0..x30 as the vector saved them.
#[repr(C)]
#[derive(Debug)]
pub struct Frame {
    x: [u64; 31],
}

const KINDS: [&str; 16] = [
    "synchronous, current EL with SP_EL0",
    "IRQ, current EL with SP_EL0",
    "FIQ, current EL with SP_EL0",
    "SError, current EL with SP_EL0",
    "synchronous, current EL",
    "IRQ, current EL",
    "FIQ, current EL",
    "SError, current EL",
    "synchronous, lower EL (AArch64)",
    "IRQ, lower EL (AArch64)",
    "FIQ, lower EL (AArch64)",
    "SError, lower EL (AArch64)",
    "synchronous, lower EL (AArch32)",
    "IRQ, lower EL (AArch32)",
    "FIQ, lower EL (AArch32)",
    "SError, lower EL (AArch32)",
];

/// ARM ARM D17.2.37, ESR_ELx.EC: the classes firmware can meet.
fn class_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "unknown reason",
        0x01 => "WFI/WFE trapped",
        0x07 => "SVE/SIMD/FP access trapped",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "MSR/MRS/system instruction trapped",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2f => "SError",
        0x3c => "BRK instruction",
        _ => "other",
    }
}

#[no_mangle]
extern "C" fn aarch64_exception(kind: u64, frame: &Frame) -> ! {
    let esr = ESR_EL1.get();
    let ec = (esr >> 26) & 0x3f;
    defmt::error!(
        "exception: {=str}: EC {=u64:#04x} ({=str}), ESR {=u64:#010x}, at ELR {=u64:#018x}, FAR {=u64:#018x}, SPSR {=u64:#010x}",
        KINDS.get(kind as usize).copied().unwrap_or("?"),
        ec,
        class_name(ec),
        esr,
        ELR_EL1.get(),
        FAR_EL1.get(),
        SPSR_EL1.get()
    );
    defmt::error!(
        "x0 {=u64:#x} x1 {=u64:#x} x2 {=u64:#x} x3 {=u64:#x} x29 {=u64:#x} x30 {=u64:#x}",
        frame.x[0], frame.x[1], frame.x[2], frame.x[3], frame.x[29], frame.x[30]
    );
    crate::cpu::exit(platform::ExitCode::Failure)
}
