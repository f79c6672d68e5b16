//! The EL1 exception vector table and the report an unexpected exception gives.
//!
//! ARM ARM D1.10.2: 16 entries of 0x80 bytes, in four groups (current EL with SP_EL0, current EL
//! with SP_ELx, lower EL AArch64, lower EL AArch32) of four kinds (synchronous, IRQ, FIQ,
//! SError). Firmware takes no interrupts yet, so every entry is fatal: it saves the general
//! registers, and [`aarch64_exception`] logs the kind, the exception class from `ESR_EL1`, the
//! return address `ELR_EL1` and the fault address `FAR_EL1`, then ends the run with failure.
//!
//! A kernel stack overflow (a stack running into its unmapped guard page) leaves no room for the
//! saved registers: pushing them would fault again, at every entry, without end. The common entry
//! therefore asks the MMU first (`AT S1E1W` on the frame's lowest byte) and, when the frame
//! cannot be written there, switches to a small per-CPU overflow stack (Linux arm64 checks for
//! the same in `kernel_ventry` and moves to its `overflow_stack`) and says so in the report.
#![allow(unsafe_code)]

use aarch64_cpu::registers::{Readable, ESR_EL1, ELR_EL1, FAR_EL1, SPSR_EL1};

core::arch::global_asm!(
    r#"
    /* Each entry parks x0 in SP_EL0 (the firmware runs on SP_EL1, so SP_EL0 is free) and goes
     * to the common entry with the entry's number in x0. */
    .macro VECTOR kind
    .balign 0x80
    msr     sp_el0, x0
    mov     x0, #\kind
    b       exception_entry
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

/* x0 = entry number; the interrupted x0 in SP_EL0. Before anything is written to the stack,
 * `at s1e1w` asks the MMU whether the frame's lowest byte can be written: if not, the stack has
 * run into its guard page (or SP is wild), and the frame goes on this CPU's overflow stack
 * instead, so the overflow is reported rather than faulting again on every entry. With the
 * MMU off, the translation always succeeds. */
exception_entry:
    msr     tpidrro_el0, x1             /* x1, x2 parked too (EL0's thread registers: unused) */
    msr     tpidr_el0, x2
    mov     x2, sp                      /* x2 = the interrupted SP */
    sub     x1, x2, #{frame}
    at      s1e1w, x1
    isb
    mrs     x1, par_el1
    tbnz    x1, #0, 1f
    mov     x1, #0                      /* x1 = 0: the frame fits where it should */
    b       3f
1:  mrs     x1, tpidr_el1               /* the per-CPU area (0 before it exists: CPU 0) */
    cbz     x1, 2f
    ldr     x1, [x1, #{cpu_offset}]     /* PerCpuArea::cpu */
2:  add     x1, x1, #1
    lsl     x1, x1, #{overflow_shift}   /* the top of overflow stack `cpu` */
    mov     sp, x1
    ldr     x1, ={overflow_stacks}
    add     sp, sp, x1
    mov     x1, #1                      /* x1 = 1: on the overflow stack */
3:  sub     sp, sp, #{frame}
    stp     x3, x4, [sp, #(3 * 8)]
    stp     x5, x6, [sp, #(5 * 8)]
    stp     x7, x8, [sp, #(7 * 8)]
    stp     x9, x10, [sp, #(9 * 8)]
    stp     x11, x12, [sp, #(11 * 8)]
    stp     x13, x14, [sp, #(13 * 8)]
    stp     x15, x16, [sp, #(15 * 8)]
    stp     x17, x18, [sp, #(17 * 8)]
    stp     x19, x20, [sp, #(19 * 8)]
    stp     x21, x22, [sp, #(21 * 8)]
    stp     x23, x24, [sp, #(23 * 8)]
    stp     x25, x26, [sp, #(25 * 8)]
    stp     x27, x28, [sp, #(27 * 8)]
    stp     x29, x30, [sp, #(29 * 8)]
    mrs     x3, sp_el0
    str     x3, [sp, #(0 * 8)]
    mrs     x3, tpidrro_el0
    str     x3, [sp, #(1 * 8)]
    mrs     x3, tpidr_el0
    str     x3, [sp, #(2 * 8)]
    str     x2, [sp, #(31 * 8)]
    mov     x2, x1
    mov     x1, sp
    b       aarch64_exception
"#,
    frame = const core::mem::size_of::<Frame>(),
    cpu_offset = const core::mem::offset_of!(kernel::percpu::PerCpuArea, cpu),
    overflow_shift = const OVERFLOW_STACK_SHIFT,
    overflow_stacks = sym OVERFLOW_STACKS,
);

/// Each overflow stack is `1 << OVERFLOW_STACK_SHIFT` bytes: enough for the report (the
/// exception frame and two defmt lines).
const OVERFLOW_STACK_SHIFT: u32 = 13;
const OVERFLOW_STACK_BYTES: usize = 1 << OVERFLOW_STACK_SHIFT;

/// One stack per CPU for reporting an exception taken when the CPU's own stack is unusable.
/// Only the exception entry touches it, through its address.
#[repr(C, align(16))]
struct OverflowStacks([[u8; OVERFLOW_STACK_BYTES]; kernel::percpu::NR_CPUS]);

#[no_mangle]
static mut OVERFLOW_STACKS: OverflowStacks = OverflowStacks([[0; OVERFLOW_STACK_BYTES]; kernel::percpu::NR_CPUS]);

/// x0..x30 and the interrupted SP, as the exception entry saved them.
#[repr(C)]
#[derive(Debug)]
pub struct Frame {
    x: [u64; 31],
    sp: u64,
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

extern "C" {
    /// The unmapped page below the boot stack (aarch64.ld).
    static __boot_stack_guard: u8;
}

#[no_mangle]
extern "C" fn aarch64_exception(kind: u64, frame: &Frame, on_overflow_stack: u64) -> ! {
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
    if on_overflow_stack != 0 {
        let guard = &raw const __boot_stack_guard as u64;
        let sp = frame.sp;
        let what = if (guard..guard + mm_types::PAGE_SIZE + 256).contains(&sp) {
            "the boot stack's guard page"
        } else if (crate::paging::VMALLOC_START - mm_types::PAGE_SIZE..crate::paging::VMALLOC_END).contains(&sp) {
            "the guard page below a vmalloc'd CPU stack"
        } else {
            "memory that is not mapped writable"
        };
        defmt::error!(
            "exception: kernel stack overflow: SP {=u64:#018x} leaves no room for the exception frame below it, in {=str}; reported on this CPU's overflow stack",
            sp,
            what
        );
    }
    defmt::error!(
        "x0 {=u64:#x} x1 {=u64:#x} x2 {=u64:#x} x3 {=u64:#x} x29 {=u64:#x} x30 {=u64:#x} sp {=u64:#x}",
        frame.x[0], frame.x[1], frame.x[2], frame.x[3], frame.x[29], frame.x[30], frame.sp
    );
    crate::cpu::exit(kernel::ExitCode::Failure)
}
