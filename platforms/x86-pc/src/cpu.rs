//! CPU tables and exceptions: the GDT with its per-CPU segments, the IDT, the 32 exception
//! stubs, and the report a fault gives.
//!
//! The GDT (one table shared by every CPU, in .data because the CPU sets accessed bits and
//! [`set_percpu_segment`] rewrites entries) keeps `boot`'s selectors and adds the per-CPU data
//! segments Linux i386 reaches through FS (`__KERNEL_PERCPU`; one descriptor per CPU here, as
//! Linux's per-CPU GDT copies give each CPU its own):
//!
//! | selector | use |
//! |---|---|
//! | 0x08 | kernel code, flat |
//! | 0x10 | kernel data, flat (DS, ES, SS, GS) |
//! | 0x18 | FS until a per-CPU area exists: base = [`BOOT_PERCPU`], two zero words |
//! | 0x20 + 8 * n | FS of logical CPU n (n < [`MAX_CPUS`]): base = its per-CPU area |
//! | 0x60 + 16 * n | TSS of CPU n, in its task register (`crate::doublefault`) |
//! | 0x68 + 16 * n | CPU n's double-fault TSS, named by vector 8's task gate in its IDT |
//!
//! A per-CPU area starts with `#[repr(C)] { self_ptr: usize, cpu: usize, .. }`, so
//! [`percpu_base`] is `fs:[0]` and [`smp_processor_id`] is `fs:[4]`; both read 0 through the
//! boot segment. [`load_gdt`] must run before anything reads FS (the logger does).
//!
//! Each CPU has its own IDT ([`load_cpu_tables`]): the same 31 interrupt gates, and for vector 8
//! (#DF) a task gate to that CPU's double-fault task, which runs on its own stack and reports the
//! fault even when the kernel stack is gone (`crate::doublefault`).
//!
//! Every other CPU exception (vectors 0-31) lands in `isr_common`, which saves the general registers and
//! calls [`x86_exception`] with a pointer to the frame. The handler logs the vector's name, the
//! error code, EIP and, for a page fault, CR2 (the faulting address), then ends the machine with a
//! failure status: an unexpected exception in firmware is always fatal. Interrupt gates are used,
//! so interrupts stay masked inside handlers (Intel SDM vol. 3, 6.12.1.2).
#![allow(unsafe_code)]

use core::arch::global_asm;

/// Most CPUs this platform brings up: the per-CPU GDT entries (Linux `NR_CPUS`, kept small).
pub const MAX_CPUS: usize = 8;
/// Selectors of the flat kernel segments (same values as `boot`'s GDT).
pub const KERNEL_CS: u16 = 0x08;
pub const KERNEL_DS: u16 = 0x10;
/// FS while no per-CPU area is set: reads 0 at offsets 0 and 4.
pub const BOOT_PERCPU_SEL: u16 = 0x18;
const PERCPU_SEL_BASE: u16 = 0x20;
/// First TSS descriptor: CPU n's TSS at `TSS_SEL_BASE + 16 n`, its #DF TSS 8 bytes above.
pub const TSS_SEL_BASE: u16 = PERCPU_SEL_BASE + 8 * MAX_CPUS as u16;
const GDT_ENTRIES: usize = 4 + 3 * MAX_CPUS;

/// The selector of logical CPU `cpu`'s TSS (its task register).
pub const fn tss_selector(cpu: usize) -> u16 {
    TSS_SEL_BASE + 16 * cpu as u16
}

/// The selector of logical CPU `cpu`'s double-fault TSS.
pub const fn df_tss_selector(cpu: usize) -> u16 {
    tss_selector(cpu) + 8
}

/// The selector of logical CPU `cpu`'s per-CPU segment.
pub const fn percpu_selector(cpu: usize) -> u16 {
    PERCPU_SEL_BASE + 8 * cpu as u16
}

global_asm!(
    r#"
    .section .data.x86_gdt, "aw"
    .balign 8
    .global x86_gdt
x86_gdt:
    .quad 0x0000000000000000    /* null */
    .quad 0x00CF9B000000FFFF    /* 0x08: code, base 0, limit 4 GiB, ring 0 */
    .quad 0x00CF93000000FFFF    /* 0x10: data, base 0, limit 4 GiB, ring 0 */
    .quad 0                     /* 0x18: boot per-CPU segment, written by load_gdt */
    .fill {max_cpus}, 8, 0      /* 0x20 + 8n: per-CPU segments, written by set_percpu_segment */
    .fill {tss_entries}, 8, 0   /* 0x60 + 16n: TSS, 0x68 + 16n: #DF TSS of CPU n (doublefault.rs) */
x86_gdt_end:
    .balign 4
    .global x86_gdt_ptr
x86_gdt_ptr:
    .word x86_gdt_end - x86_gdt - 1
    .long x86_gdt
"#,
    max_cpus = const MAX_CPUS,
    tss_entries = const 2 * MAX_CPUS,
    options(att_syntax)
);

extern "C" {
    static mut x86_gdt: [u64; GDT_ENTRIES];
    /// The 6-byte `lgdt` operand for [`x86_gdt`] (virtual base); `smpboot` loads it on APs.
    static x86_gdt_ptr: [u16; 3];
}

/// What FS points at until a per-CPU area is set: `self_ptr` 0 and `cpu` 0.
#[repr(C, align(8))]
struct BootPercpu([usize; 2]);
static BOOT_PERCPU: BootPercpu = BootPercpu([0, 0]);

/// A present, writable ring-0 data segment with base `base`, limit 4 GiB, accessed bit preset.
const fn data_segment(base: u32) -> u64 {
    let base = base as u64;
    0x00CF_9300_0000_FFFF | ((base & 0x00FF_FFFF) << 16) | ((base >> 24) << 56)
}

/// Writes GDT entry `index`.
///
/// # Safety
/// No CPU may be loading a selector for that entry meanwhile (each per-CPU entry belongs to
/// one CPU, and the boot entry is written once before any other CPU runs).
pub(crate) unsafe fn write_gdt_entry(index: usize, desc: u64) {
    assert!(index < GDT_ENTRIES);
    // SAFETY: `index` is checked above, so both words lie in `x86_gdt`; the caller excludes a
    // concurrent load of this entry, so no CPU can see it half written.
    unsafe {
        let p = (&raw mut x86_gdt).cast::<u32>().add(2 * index);
        core::ptr::write_volatile(p.add(1), (desc >> 32) as u32);
        core::ptr::write_volatile(p, desc as u32);
    }
}

/// Switches this CPU (the boot CPU, from `start`) to the kernel GDT and loads FS with the
/// boot per-CPU segment. Must run before the first FS read ([`percpu_base`], the logger).
pub fn load_gdt() {
    // SAFETY: only the boot CPU runs; entry 0x18 is not loaded anywhere yet.
    unsafe { write_gdt_entry(usize::from(BOOT_PERCPU_SEL) / 8, data_segment(&raw const BOOT_PERCPU as u32)) };
    // SAFETY: the new table holds the same flat code and data descriptors at the same
    // selectors as `boot`'s, so reloading CS (far return), the data segments and FS keeps every
    // address meaning the same; the table is a static that never moves.
    unsafe {
        core::arch::asm!(
            "lgdt [{ptr}]",
            "push {cs}",
            "lea {tmp}, [2f]",
            "push {tmp}",
            "retf",
            "2:",
            "mov {tmp:x}, {ds}",
            "mov ds, {tmp:x}",
            "mov es, {tmp:x}",
            "mov ss, {tmp:x}",
            "mov gs, {tmp:x}",
            "mov {tmp:x}, {fs}",
            "mov fs, {tmp:x}",
            ptr = in(reg) &raw const x86_gdt_ptr,
            cs = const KERNEL_CS as u32,
            ds = const KERNEL_DS as u32,
            fs = const BOOT_PERCPU_SEL as u32,
            tmp = out(reg) _,
        )
    };
}

/// Points logical CPU `cpu`'s per-CPU segment at `base` (the boot segment when `base` is 0) and
/// returns the selector to load into FS.
///
/// # Safety
/// `cpu`'s segment must not be in use by another CPU: call it on CPU `cpu` itself, or for a CPU
/// that is not running yet.
pub unsafe fn set_percpu_segment(cpu: usize, base: usize) -> u16 {
    assert!(cpu < MAX_CPUS, "logical CPU {cpu} beyond MAX_CPUS");
    if base == 0 {
        return BOOT_PERCPU_SEL;
    }
    let sel = percpu_selector(cpu);
    // SAFETY: forwarded from the caller.
    unsafe { write_gdt_entry(usize::from(sel) / 8, data_segment(base as u32)) };
    sel
}

/// The FS selector of this CPU.
fn fs_selector() -> u16 {
    let sel: u16;
    // SAFETY: reading a segment register has no side effects.
    unsafe { core::arch::asm!("mov {0:x}, fs", out(reg) sel, options(nomem, nostack, preserves_flags)) };
    sel
}

/// Makes `base` this CPU's per-CPU base: rewrites this CPU's FS descriptor and reloads FS.
/// The logical id comes from the current FS segment (a CPU started by `smpboot` already has its
/// own); a CPU still on the boot segment is the boot CPU, logical 0.
pub fn load_percpu_base(base: usize) {
    let sel = fs_selector();
    let cpu = if sel >= PERCPU_SEL_BASE { usize::from((sel - PERCPU_SEL_BASE) / 8) } else { 0 };
    // SAFETY: `cpu` is this CPU's own entry (see above): no other CPU loads it.
    let sel = unsafe { set_percpu_segment(cpu, base) };
    // SAFETY: the descriptor was just written for this CPU; FS only serves per-CPU reads.
    unsafe { core::arch::asm!("mov fs, {0:x}", in(reg) sel, options(nostack, preserves_flags)) };
}

/// This CPU's per-CPU base: `fs:[0]`, 0 before one is set.
pub fn percpu_base() -> usize {
    let v: usize;
    // SAFETY: FS is the boot segment or a per-CPU one (`load_gdt` ran in `start`, `smpboot`
    // loads it on the others); both start with a readable word.
    unsafe { core::arch::asm!("mov {0}, fs:[0]", out(reg) v, options(readonly, nostack, preserves_flags)) };
    v
}

/// This CPU's logical id: `fs:[4]`, 0 on the boot segment (Linux `smp_processor_id`).
pub fn smp_processor_id() -> usize {
    let v: usize;
    // SAFETY: as in `percpu_base`: the second word of the area FS points at.
    unsafe { core::arch::asm!("mov {0}, fs:[4]", out(reg) v, options(readonly, nostack, preserves_flags)) };
    v
}

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

    /* The interprocessor interrupt (apic::IPI_VECTOR): the interrupted code's registers are
     * kept, `x86_ipi` does the work and the EOI, and `iret` goes back (to `hlt` or a loop). */
    .global isr_ipi
isr_ipi:
    pushal
    cld
    call x86_ipi
    popal
    iret

    /* The local APIC's spurious vector: no EOI (SDM 10.9). */
    .global isr_spurious
isr_spurious:
    iret

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
    crate::io::exit(kernel::ExitCode::Failure)
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

/// A present task gate naming the TSS at `tss_selector` (Intel SDM vol. 3, 6.11, figure 6-2:
/// type 0b0101, DPL 0, offset unused).
fn task_gate(tss_selector: u16) -> u64 {
    use x86::segmentation::{BuildDescriptor, Descriptor, DescriptorBuilder, SegmentSelector, TaskGateDescriptorBuilder};
    let d: Descriptor = DescriptorBuilder::task_gate_descriptor(SegmentSelector::from_raw(tss_selector)).present().finish();
    d.as_u64()
}

/// IDT entries: the 32 exceptions, then nothing up to the IPI vector and the spurious one.
const IDT_ENTRIES: usize = 256;

#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Idt([u64; IDT_ENTRIES]);

/// One IDT per CPU: they differ only in vector 8's task gate.
static mut IDTS: [Idt; MAX_CPUS] = [Idt([0; IDT_ENTRIES]); MAX_CPUS];

extern "C" {
    static isr_table: [u32; 32];
    fn isr_ipi();
    fn isr_spurious();
}

/// Sets up this CPU's exception handling, on logical CPU `cpu` itself (the boot CPU from
/// `start`, each other CPU on its way in): builds and loads its IDT, whose vector 8 is a task
/// gate to its double-fault task, and loads its task register (`crate::doublefault`).
///
/// # Panics
/// If `cpu >= MAX_CPUS`.
pub fn load_cpu_tables(cpu: usize) {
    assert!(cpu < MAX_CPUS, "logical CPU {cpu} beyond MAX_CPUS");
    // Vectors without a gate are not present: taking one is a #NP, reported like every fault.
    let mut gates = [0u64; IDT_ENTRIES];
    for (v, g) in gates.iter_mut().take(32).enumerate() {
        // SAFETY: `isr_table` is a read-only array of 32 addresses defined in the asm above.
        *g = gate(unsafe { isr_table[v] });
    }
    gates[8] = task_gate(df_tss_selector(cpu));
    gates[usize::from(crate::apic::IPI_VECTOR)] = gate(isr_ipi as *const () as usize as u32);
    gates[0xFF] = gate(isr_spurious as *const () as usize as u32);
    // SAFETY: element `cpu` of IDTS is this CPU's alone and not loaded anywhere yet (each CPU
    // runs this once, on itself, before it can take an exception through it).
    let idt = unsafe {
        let p = (&raw mut IDTS).cast::<Idt>().add(cpu);
        (*p).0 = gates;
        &*p
    };
    crate::doublefault::load_task_register(cpu);
    let ptr = x86::dtables::DescriptorTablePointer::new(&idt.0);
    // SAFETY: the IDT lives in a `static` (never moves or dies); every interrupt gate points at a
    // stub above with the kernel code selector loaded by `_start`, and the task gate at a TSS
    // descriptor `load_task_register` has just written.
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
