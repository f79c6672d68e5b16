//! CPU tables and exceptions: the IDT, the 32 exception stubs, and the report a fault gives.
//!
//! Every CPU exception (vectors 0-31) lands in `isr_common`, which saves the general registers and
//! calls [`x86_exception`] with a pointer to the frame. The handler logs the vector's name, the
//! error code, EIP and, for a page fault, CR2 (the faulting address), then ends the machine with a
//! failure status: an unexpected exception in firmware is always fatal. Interrupt gates are used,
//! so interrupts stay masked inside handlers (Intel SDM vol. 3, 6.12.1.2).
#![allow(unsafe_code)]

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text.isr, "ax"
    .macro ISR_NOERR n
    .global isr_\n
isr_\n:
    pushl $0
    pushl $\n
    jmp isr_common
    .endm
    .macro ISR_ERR n
    .global isr_\n
isr_\n:
    pushl $\n
    jmp isr_common
    .endm

    ISR_NOERR 0
    ISR_NOERR 1
    ISR_NOERR 2
    ISR_NOERR 3
    ISR_NOERR 4
    ISR_NOERR 5
    ISR_NOERR 6
    ISR_NOERR 7
    ISR_ERR 8
    ISR_NOERR 9
    ISR_ERR 10
    ISR_ERR 11
    ISR_ERR 12
    ISR_ERR 13
    ISR_ERR 14
    ISR_NOERR 15
    ISR_NOERR 16
    ISR_ERR 17
    ISR_NOERR 18
    ISR_NOERR 19
    ISR_NOERR 20
    ISR_ERR 21
    ISR_NOERR 22
    ISR_NOERR 23
    ISR_NOERR 24
    ISR_NOERR 25
    ISR_NOERR 26
    ISR_NOERR 27
    ISR_NOERR 28
    ISR_ERR 29
    ISR_ERR 30
    ISR_NOERR 31

isr_common:
    pushal
    movl %esp, %eax
    pushl %eax
    call x86_exception
3:
    cli
    hlt
    jmp 3b

    .section .rodata.isr_table, "a"
    .balign 4
    .global isr_table
isr_table:
    .long isr_0, isr_1, isr_2, isr_3, isr_4, isr_5, isr_6, isr_7
    .long isr_8, isr_9, isr_10, isr_11, isr_12, isr_13, isr_14, isr_15
    .long isr_16, isr_17, isr_18, isr_19, isr_20, isr_21, isr_22, isr_23
    .long isr_24, isr_25, isr_26, isr_27, isr_28, isr_29, isr_30, isr_31
"#,
    options(att_syntax)
);

/// What `isr_common` leaves on the stack, lowest address first.
#[repr(C)]
#[derive(Debug)]
pub struct ExceptionFrame {
    edi: u32,
    esi: u32,
    ebp: u32,
    esp: u32,
    ebx: u32,
    edx: u32,
    ecx: u32,
    eax: u32,
    vector: u32,
    error_code: u32,
    eip: u32,
    cs: u32,
    eflags: u32,
}

/// Intel SDM vol. 3, table 6-1.
const EXCEPTION_NAMES: [&str; 32] = [
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range exceeded",
    "#UD invalid opcode",
    "#NM device not available",
    "#DF double fault",
    "coprocessor segment overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack-segment fault",
    "#GP general protection",
    "#PF page fault",
    "reserved (15)",
    "#MF x87 floating-point error",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD floating-point",
    "#VE virtualization",
    "#CP control protection",
    "reserved (22)",
    "reserved (23)",
    "reserved (24)",
    "reserved (25)",
    "reserved (26)",
    "reserved (27)",
    "#HV hypervisor injection",
    "#VC VMM communication",
    "#SX security",
    "reserved (31)",
];

#[no_mangle]
extern "C" fn x86_exception(frame: &ExceptionFrame) -> ! {
    let name = EXCEPTION_NAMES
        .get(frame.vector as usize)
        .copied()
        .unwrap_or("unknown");
    if frame.vector == 14 {
        // SAFETY: reading CR2 has no side effects; we run at ring 0.
        let cr2 = unsafe { x86::controlregs::cr2() } as u32;
        defmt::error!(
            "exception {=u32} ({=str}) at eip {=u32:#010x}: error code {=u32:#x}, address {=u32:#010x}",
            frame.vector, name, frame.eip, frame.error_code, cr2
        );
    } else {
        defmt::error!(
            "exception {=u32} ({=str}) at eip {=u32:#010x}: error code {=u32:#x}",
            frame.vector,
            name,
            frame.eip,
            frame.error_code
        );
    }
    defmt::error!(
        "eax {=u32:#010x} ebx {=u32:#010x} ecx {=u32:#010x} edx {=u32:#010x} esi {=u32:#010x} edi {=u32:#010x} ebp {=u32:#010x} esp {=u32:#010x} eflags {=u32:#010x}",
        frame.eax, frame.ebx, frame.ecx, frame.edx, frame.esi, frame.edi, frame.ebp,
        frame.esp + 20, frame.eflags
    );
    crate::io::exit(platform::ExitCode::Failure)
}

/// One 8-byte interrupt-gate descriptor.
const fn gate(handler: u32) -> u64 {
    const KERNEL_CS: u64 = 0x08;
    const PRESENT_RING0_INT_GATE32: u64 = 0x8E00;
    (handler as u64 & 0xFFFF)
        | (KERNEL_CS << 16)
        | (PRESENT_RING0_INT_GATE32 << 32)
        | ((handler as u64 >> 16) << 48)
}

#[repr(C, align(8))]
struct Idt([u64; 32]);

static IDT: spin::Once<Idt> = spin::Once::new();

extern "C" {
    static isr_table: [u32; 32];
}

/// Builds the IDT for the 32 exception vectors and loads it on this CPU.
pub fn load_idt() {
    let idt = IDT.call_once(|| {
        let mut gates = [0u64; 32];
        for (v, g) in gates.iter_mut().enumerate() {
            // SAFETY: `isr_table` is a read-only array of 32 addresses defined in the asm above.
            *g = gate(unsafe { isr_table[v] });
        }
        Idt(gates)
    });
    let ptr = x86::dtables::DescriptorTablePointer::new(&idt.0);
    // SAFETY: the IDT lives in a `static` (never moves or dies) and every gate points at a stub
    // above with the kernel code selector loaded by `_start`.
    unsafe { x86::dtables::lidt(&ptr) };
}

/// Masks interrupts and returns the previous EFLAGS.
pub fn irq_save() -> usize {
    let flags: u32;
    // SAFETY: saves EFLAGS on the stack and clears IF; no memory is touched besides the push/pop.
    unsafe { core::arch::asm!("pushfd", "pop {0}", "cli", out(reg) flags) };
    flags as usize
}

/// Restores interrupts to what [`irq_save`] saw.
pub fn irq_restore(flags: usize) {
    const IF: usize = 1 << 9;
    if flags & IF != 0 {
        // SAFETY: re-enables interrupts that were enabled before the matching `irq_save`.
        unsafe { core::arch::asm!("sti") };
    }
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: `cli; hlt` parks the CPU; nothing is left to run.
        unsafe { core::arch::asm!("cli", "hlt") };
    }
}
