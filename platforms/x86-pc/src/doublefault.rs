//! The double-fault task: #DF handled on its own stack, so that a kernel stack overflow is
//! reported instead of ending in a triple fault (Linux i386 `doublefault_32.c`).
//!
//! When the kernel stack runs into its unmapped guard page, the page fault cannot be delivered:
//! pushing the exception frame faults again on the same stack, which makes it a double fault
//! (Intel SDM vol. 3, 6.15, table 6-5), and an interrupt gate for #DF would push onto that
//! stack once more: a triple fault, a CPU reset. So vector 8 is a *task gate*: the CPU switches
//! to a separate hardware task (SDM 7.3) with its own TSS, stack, segment registers and CR3,
//! having saved the interrupted state (EIP, EFLAGS, general registers, segment selectors) into
//! the TSS in the task register, and linked the two through the new TSS's back-link.
//!
//! Per CPU (`n < MAX_CPUS`), all static:
//! - a TSS the CPU keeps in its task register (`ltr` in [`load_task_register`], GDT selector
//!   `cpu::tss_selector(n)`): the CPU saves the interrupted state there on the switch;
//! - a #DF TSS (`cpu::df_tss_selector(n)`), named by vector 8's task gate in CPU n's own IDT:
//!   EIP = `x86_double_fault_task`, ESP = the top of CPU n's [`DF_STACK_SIZE`] #DF stack,
//!   flat kernel segments, IF clear, CR3 = the kernel page directory;
//! - that stack.
//!
//! Why per CPU rather than one shared task: a TSS is marked busy while its task runs, and a task
//! switch to a busy TSS raises #GP: two CPUs double-faulting at once through one task would turn
//! the second into a triple fault, and a lock cannot help (the second CPU would have to wait
//! inside the fault it cannot take). Linux gets the same through per-CPU GDTs (its
//! `GDT_ENTRY_DOUBLEFAULT_TSS` is one selector, resolved per CPU); here the GDT is shared, so
//! each CPU has its own pair of descriptors and its own IDT whose task gate names them. The cost
//! is 8 KiB of stack and two 104-byte TSSs per possible CPU.
//!
//! The handler ([`x86_double_fault`]) finds its CPU from the task register, reads the
//! interrupted state from that CPU's TSS (the #DF TSS's back-link names it), reloads the
//! interrupted FS (the per-CPU segment, so the log line carries the right CPU), and reports:
//! the vector, the saved EIP, CR2 (the address of the last page fault, in the guard page for a
//! stack overflow), the saved registers with ESP, and whether CR2 lies in a stack's guard page;
//! then it ends the run with the failure status, like every other exception. It never returns
//! (the interrupted stack is unusable).
//!
//! CR3 of the #DF task is the page directory current when the CPU loaded its task register;
//! `paging_init` calls [`set_kernel_cr3`] when it switches the boot CPU to the final one (the
//! other CPUs start after that).
#![allow(unsafe_code)]

use core::arch::global_asm;

use x86::bits32::task::TaskStateSegment;
use x86::segmentation::{BuildDescriptor, Descriptor, DescriptorBuilder, GateDescriptorBuilder};

use crate::cpu::{self, MAX_CPUS};

/// Bytes of each CPU's #DF stack: the handler only logs through defmt and exits.
pub const DF_STACK_SIZE: usize = 8192;
/// EFLAGS of the #DF task: only the reserved bit 1; IF clear.
const DF_EFLAGS: u32 = 0x2;

/// One CPU's two TSSs.
#[repr(C, align(128))]
#[derive(Clone, Copy)]
struct CpuTss {
    /// In the task register: receives the interrupted state.
    main: TaskStateSegment,
    /// The #DF task.
    df: TaskStateSegment,
}

static mut TSS: [CpuTss; MAX_CPUS] = [CpuTss { main: TaskStateSegment::new(), df: TaskStateSegment::new() }; MAX_CPUS];

#[repr(C, align(16))]
struct DfStack([u8; DF_STACK_SIZE]);

static mut DF_STACKS: [DfStack; MAX_CPUS] = [const { DfStack([0; DF_STACK_SIZE]) }; MAX_CPUS];

global_asm!(
    r#"
    .section .text.x86_double_fault, "ax"
    .global x86_double_fault_task
x86_double_fault_task:
    /* Entered by a task switch through vector 8's task gate: ESP is the top of this CPU's #DF
       stack, and the CPU has pushed the error code (always 0 for #DF) onto it. */
    cld
    popl %eax
    andl $-16, %esp
    subl $12, %esp
    pushl %eax
    call x86_double_fault
1:
    cli
    hlt
    jmp 1b
"#,
    options(att_syntax)
);

extern "C" {
    fn x86_double_fault_task();
}

/// A present, available 32-bit TSS descriptor for the TSS at `base`.
fn tss_descriptor(base: u32) -> u64 {
    let limit = core::mem::size_of::<TaskStateSegment>() as u64 - 1;
    let d: Descriptor = <DescriptorBuilder as GateDescriptorBuilder<u32>>::tss_descriptor(u64::from(base), limit, true).present().finish();
    d.as_u64()
}

/// Fills CPU `cpu`'s two TSSs and their GDT descriptors, and loads its task register with the
/// first. Called by `cpu::load_cpu_tables` on CPU `cpu` itself, before it loads the IDT whose
/// task gate names the second.
pub(crate) fn load_task_register(cpu: usize) {
    assert!(cpu < MAX_CPUS, "logical CPU {cpu} beyond MAX_CPUS");
    // SAFETY: only the address of stack `cpu` is taken.
    let stack_top = unsafe { (&raw mut DF_STACKS).cast::<DfStack>().add(cpu) } as usize + DF_STACK_SIZE;
    let mut df = TaskStateSegment::new();
    df.cr3 = crate::paging::current_pgd_phys();
    df.eip = x86_double_fault_task as *const () as usize as u32;
    df.eflags = DF_EFLAGS;
    df.esp = stack_top as u32;
    df.esp0 = stack_top as u32;
    df.ss0 = cpu::KERNEL_DS;
    df.cs = cpu::KERNEL_CS;
    (df.ss, df.ds, df.es, df.gs) = (cpu::KERNEL_DS, cpu::KERNEL_DS, cpu::KERNEL_DS, cpu::KERNEL_DS);
    // The handler switches to the interrupted task's FS once it has read it.
    df.fs = cpu::BOOT_PERCPU_SEL;
    // SAFETY: element `cpu` of TSS belongs to CPU `cpu`, which is the one running this: its task
    // register does not hold either TSS yet (or is about to be reloaded), and no task gate that
    // this CPU can take names them before the IDT load that follows.
    let base = unsafe {
        let p = (&raw mut TSS).cast::<CpuTss>().add(cpu);
        p.write(CpuTss { main: TaskStateSegment::new(), df });
        p as usize as u32
    };
    let df_base = base + core::mem::size_of::<TaskStateSegment>() as u32;
    // SAFETY: both entries belong to CPU `cpu` (see above); writing them "available" also clears
    // a busy bit a previous `ltr` on this CPU left.
    unsafe {
        cpu::write_gdt_entry(usize::from(cpu::tss_selector(cpu)) / 8, tss_descriptor(base));
        cpu::write_gdt_entry(usize::from(cpu::df_tss_selector(cpu)) / 8, tss_descriptor(df_base));
    }
    // SAFETY: the descriptor just written is a present, available 32-bit TSS for a static TSS;
    // `ltr` marks it busy in the GDT (hence no `nomem`).
    unsafe { core::arch::asm!("ltr {0:x}", in(reg) cpu::tss_selector(cpu), options(nostack, preserves_flags)) };
}

/// Points CPU `cpu`'s #DF task at the page directory `pgd_phys`: `paging_init` calls it after
/// switching the boot CPU to the final page directory.
pub fn set_kernel_cr3(cpu: usize, pgd_phys: u32) {
    assert!(cpu < MAX_CPUS, "logical CPU {cpu} beyond MAX_CPUS");
    // SAFETY: a plain store to CPU `cpu`'s #DF TSS (packed field: written unaligned through a
    // raw pointer); the CPU reads it only on a double fault, which cannot be under way while
    // this CPU runs paging_init.
    unsafe {
        let p = (&raw mut TSS).cast::<CpuTss>().add(cpu);
        core::ptr::addr_of_mut!((*p).df.cr3).write_unaligned(pgd_phys);
    }
}

/// The #DF task's Rust half (see the module docs). `error_code` is what the CPU pushed.
#[no_mangle]
extern "C" fn x86_double_fault(error_code: u32) -> ! {
    // SAFETY: reading TR and CR2 has no side effects; ring 0.
    let (tr, cr2) = unsafe { (x86::task::tr().bits(), x86::controlregs::cr2() as u32) };
    let cpu = usize::from(tr.wrapping_sub(cpu::TSS_SEL_BASE) / 16);
    if cpu >= MAX_CPUS || tr != cpu::df_tss_selector(cpu) {
        defmt::error!("exception 8 (#DF double fault) in task {=u16:#x}, which is no CPU's double-fault task; CR2 {=u32:#010x}", tr, cr2);
        crate::io::exit(kernel::ExitCode::Failure)
    }
    // SAFETY: CPU `cpu` (this one) wrote the interrupted state into its main TSS and the
    // back-link into its #DF TSS during the task switch; nothing else writes them now. Read as
    // one copy (the struct is packed).
    let t = unsafe { core::ptr::read_volatile((&raw const TSS).cast::<CpuTss>().add(cpu)) };
    let (saved, link) = (t.main, t.df.link);
    let fs = saved.fs;
    if fs == cpu::BOOT_PERCPU_SEL || fs == cpu::percpu_selector(cpu) {
        // SAFETY: the interrupted task's FS on this CPU: the boot per-CPU segment or this CPU's
        // own, both valid descriptors; the logger reads the CPU id through it.
        unsafe { core::arch::asm!("mov fs, {0:x}", in(reg) fs, options(nostack, preserves_flags)) };
    }
    let (eip, esp) = (saved.eip, saved.esp);
    defmt::error!(
        "exception 8 (#DF double fault) at eip {=u32:#010x}: error code {=u32:#x}, address {=u32:#010x} (CR2); handled by the double-fault task (TSS {=u16:#x}), back-link {=u16:#x} to the interrupted task",
        eip, error_code, cr2, tr, link
    );
    let (eax, ebx, ecx, edx, esi, edi, ebp, eflags) =
        (saved.eax, saved.ebx, saved.ecx, saved.edx, saved.esi, saved.edi, saved.ebp, saved.eflags);
    defmt::error!(
        "eax {=u32:#010x} ebx {=u32:#010x} ecx {=u32:#010x} edx {=u32:#010x} esi {=u32:#010x} edi {=u32:#010x} ebp {=u32:#010x} esp {=u32:#010x} eflags {=u32:#010x}",
        eax, ebx, ecx, edx, esi, edi, ebp, esp, eflags
    );
    if link != cpu::tss_selector(cpu) {
        defmt::error!("the back-link {=u16:#x} is not CPU {=usize}'s TSS {=u16:#x}: the saved state above may be stale", link, cpu, cpu::tss_selector(cpu));
    }
    match crate::paging::stack_guard_page(cr2) {
        Some(g) => defmt::error!(
            "BUG: stack guard page was hit at {=u32:#010x} ({=str} is {=u32:#010x}..{=u32:#010x}, esp {=u32:#010x}): kernel stack overflow",
            cr2, g.name, g.bottom, g.top, esp
        ),
        // Secondary CPUs' stacks are vmalloc areas with unmapped guard pages around them: a
        // fault in the vmalloc range just below the interrupted ESP is such a guard page.
        None if crate::paging::in_vmalloc_range(cr2) && esp.wrapping_sub(cr2) < 64 => defmt::error!(
            "BUG: stack guard page was hit at {=u32:#010x} (a vmalloc'd CPU stack, esp {=u32:#010x}): kernel stack overflow",
            cr2, esp
        ),
        None => defmt::error!("CR2 {=u32:#010x} is in no stack guard page: not a stack overflow", cr2),
    }
    crate::io::exit(kernel::ExitCode::Failure)
}
