//! SMP bring-up: CPU discovery, the real-mode trampoline, INIT-SIPI-SIPI and the secondary
//! CPUs' path into Rust (Linux `arch/x86/kernel/smpboot.c`, `arch/x86/realmode/`).
//!
//! Lifecycle:
//! 1. [`reserve_real_mode`] (from `reserve_early`, before any memblock allocation): three pages
//!    below 1 MiB, top-down like Linux `reserve_real_mode`: the trampoline (code and data), its
//!    page directory and one page table; then, as Linux, the whole first MiB is reserved. A
//!    start-up IPI can only name a 4 KiB-aligned address below 1 MiB (vector = address >> 12).
//! 2. [`smp_init`] (after `paging_init`, which built the fixmap): calibrates the TSC against the
//!    PIT, maps and enables the boot CPU's local APIC, reads the CPUs from the MADT (or the MP
//!    table), boot CPU first, at most [`MAX_CPUS`]. `possible_cpus` is that list.
//! 3. [`start_cpu`], one CPU at a time on the boot CPU: copies the trampoline into its page and
//!    builds the trampoline page directory (first call), writes the CPU's FS descriptor and the
//!    hand-over block [`ApBoot`], sends INIT, waits 10 ms, sends two STARTUP IPIs 200 us apart
//!    (Intel SDM vol. 3, 9.4.4.1 and the MP specification B.4; Linux
//!    `wakeup_secondary_cpu_via_init`) and waits up to 10 s for the CPU to check in (Linux's `do_boot_cpu`).
//!
//! The secondary CPU's path:
//! - `x86_trampoline_start`, 16-bit real mode at `CS:0` = the trampoline page: computes its own
//!   physical base from CS (position independent), loads a three-entry flat GDT kept in the
//!   trampoline, sets CR0.PE and far-jumps to the 32-bit part (Linux `trampoline_32.S`);
//! - 32-bit, paging off: flat data segments, CR4.PSE, CR3 = the trampoline page directory (the
//!   kernel half of the kernel directory plus an identity page for the trampoline, Linux's
//!   `trampoline_pgd`), CR0.PG | CR0.WP, then an absolute jump to `x86_ap_startup_32` in the
//!   kernel's high half;
//! - `x86_ap_startup_32`: CR3 = the kernel directory, the kernel GDT, CS/DS/ES/SS/GS, FS = the
//!   CPU's per-CPU segment, ESP = its stack, then `x86_ap_start(cpu)` in Rust, which loads its
//!   IDT and task register (`cpu::load_cpu_tables`), marks the CPU in [`CPU_CALLIN`] and calls the caller's `entry(cpu)` with interrupts
//!   masked.
//!
//! The kernel page directory is never changed for this (no identity mapping appears in it, NULL
//! keeps faulting), so no TLB shoot-down is needed afterwards.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use embedded_hal::delay::DelayNs;
use memblock::Memblock;
use mm_init::PlatformError;
use mm_types::LineSink;
use kernel::CpuDesc;

use crate::acpi::{self, Source};
use crate::apic;
use crate::cpu::{self, MAX_CPUS};
use crate::delay::{self, PitDelay};
use crate::paging;

const PAGE_SIZE: u64 = 4096;
/// Trampoline page, trampoline page directory, trampoline page table.
const REAL_MODE_PAGES: u64 = 3;
/// How long a CPU has to check in after its second STARTUP IPI: 10 s, as Linux's `do_boot_cpu`
/// (QEMU's CPUs usually answer within a millisecond, but a vCPU of a busy host may not be run
/// for a while).
const CALLIN_TIMEOUT_US: u32 = 10_000_000;

/// CR0 of a started CPU (Linux `CR0_STATE`): PE | MP | ET | NE | WP | AM | PG. Written whole,
/// not OR-ed, because INIT leaves CR0 = 0x60000010 with caching disabled (CD | NW).
const CR0_STATE: u32 = 0x8005_0033;

/// Physical base of the trampoline pages; 0 when none could be reserved.
static REAL_MODE_BASE: AtomicU32 = AtomicU32::new(0);
/// Bit n set once logical CPU n runs Rust code (Linux `cpu_callin_mask`).
static CPU_CALLIN: AtomicU32 = AtomicU32::new(0);
/// Whether the trampoline page and its page tables are in place.
static TRAMPOLINE_READY: AtomicU32 = AtomicU32::new(0);

/// What the starting CPU reads once it runs at its kernel address (Linux `initial_code`,
/// `initial_stack`, ...). One CPU starts at a time, so one block serves all. The field offsets are
/// used by `x86_ap_startup_32`: keep them in step.
#[repr(C)]
struct ApBoot {
    /// Kernel page directory (physical). Offset 0.
    cr3: AtomicU32,
    /// Top of the CPU's stack (virtual). Offset 4.
    stack_top: AtomicU32,
    /// FS selector: the CPU's per-CPU segment. Offset 8.
    fs_sel: AtomicU32,
    /// Logical CPU id. Offset 12.
    cpu: AtomicU32,
    /// `extern "C" fn(usize) -> !` to call. Offset 16.
    entry: AtomicUsize,
}

#[export_name = "x86_ap_boot"]
static AP_BOOT: ApBoot = ApBoot {
    cr3: AtomicU32::new(0),
    stack_top: AtomicU32::new(0),
    fs_sel: AtomicU32::new(0),
    cpu: AtomicU32::new(0),
    entry: AtomicUsize::new(0),
};

core::arch::global_asm!(
    r#"
    /* The real-mode trampoline: assembled here, copied below 1 MiB by start_cpu, never run in
       place. Position independent: every address is computed from CS at run time. */
    .section .rodata.x86_trampoline, "a"
    .balign 16
    .global x86_trampoline_start
x86_trampoline_start:
    .code16
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    movzwl %ax, %ebx
    shll $4, %ebx                           /* EBX = physical base of the trampoline */
    leal (tr_gdt - x86_trampoline_start)(%ebx), %eax
    movl %eax, (tr_gdt_ptr + 2 - x86_trampoline_start)
    leal (tr_pm32 - x86_trampoline_start)(%ebx), %eax
    movl %eax, (tr_far - x86_trampoline_start)
    lgdtl (tr_gdt_ptr - x86_trampoline_start)
    movl %cr0, %eax
    orl $1, %eax                            /* CR0.PE */
    movl %eax, %cr0
    ljmpl *(tr_far - x86_trampoline_start)

    .code32
tr_pm32:
    movl ${kernel_ds}, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl %cr4, %eax
    orl $0x10, %eax                         /* CR4.PSE: the kernel maps with 4 MiB pages */
    movl %eax, %cr4
    movl (x86_trampoline_cr3 - x86_trampoline_start)(%ebx), %eax
    movl %eax, %cr3
    movl ${cr0_state}, %eax                 /* Linux CR0_STATE: PG, WP, AM, NE, ET, MP, PE; */
    movl %eax, %cr0                         /* clears the CD and NW bits INIT left set */
    movl (x86_trampoline_entry - x86_trampoline_start)(%ebx), %eax
    jmp *%eax                               /* to x86_ap_startup_32, high half */

    .balign 8
tr_gdt:
    .quad 0x0000000000000000
    .quad 0x00CF9B000000FFFF                /* 0x08: code, flat */
    .quad 0x00CF93000000FFFF                /* 0x10: data, flat */
tr_gdt_ptr:
    .word 23
    .long 0                                 /* physical address of tr_gdt, set at run time */
    .balign 4
tr_far:
    .long 0                                 /* physical address of tr_pm32, set at run time */
    .word {kernel_cs}
    .balign 4
    .global x86_trampoline_cr3
x86_trampoline_cr3:
    .long 0                                 /* patched: trampoline page directory */
    .global x86_trampoline_entry
x86_trampoline_entry:
    .long 0                                 /* patched: x86_ap_startup_32 */
    .global x86_trampoline_end
x86_trampoline_end:

    .section .text.x86_ap_startup, "ax"
    .global x86_ap_startup_32
x86_ap_startup_32:
    movl x86_ap_boot, %eax                  /* the kernel page directory */
    movl %eax, %cr3
    lgdt x86_gdt_ptr
    ljmp ${kernel_cs}, $1f
1:
    movl ${kernel_ds}, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %gs
    movl x86_ap_boot + 8, %eax
    movw %ax, %fs
    movl x86_ap_boot + 4, %esp
    andl $-16, %esp
    subl $12, %esp
    pushl x86_ap_boot + 12
    call x86_ap_start
2:
    cli
    hlt
    jmp 2b
"#,
    kernel_cs = const cpu::KERNEL_CS as u32,
    kernel_ds = const cpu::KERNEL_DS as u32,
    cr0_state = const CR0_STATE,
    options(att_syntax)
);

extern "C" {
    static x86_trampoline_start: u8;
    static x86_trampoline_end: u8;
    static x86_trampoline_cr3: u8;
    static x86_trampoline_entry: u8;
    fn x86_ap_startup_32();
}

/// A secondary CPU's first Rust code, on its own stack with its FS set (see the module docs).
#[no_mangle]
extern "C" fn x86_ap_start(cpu: usize) -> ! {
    cpu::load_cpu_tables(cpu);
    apic::enable_this_cpu();
    let entry = AP_BOOT.entry.load(Ordering::Acquire);
    // Read everything from AP_BOOT before checking in: the boot CPU reuses it for the next CPU.
    CPU_CALLIN.fetch_or(1 << cpu, Ordering::Release);
    // SAFETY: `start_cpu` stored `entry` from an `extern "C" fn(usize) -> !` (same size and
    // representation as usize on this target) and does not change it before the check-in above.
    let entry: extern "C" fn(usize) -> ! = unsafe { core::mem::transmute::<usize, extern "C" fn(usize) -> !>(entry) };
    entry(cpu)
}

/// Linux `reserve_real_mode`: the trampoline pages below 1 MiB, taken top-down from memblock,
/// then the whole first MiB reserved ([`e820::reserve_real_mode`]). No trampoline is not
/// fatal: the machine boots with the boot CPU only and `start_cpu` says why.
///
/// # Errors
/// memblock refused to reserve the first MiB.
pub fn reserve_real_mode(mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
    let owner = "real-mode trampoline for SMP bring-up (code, page directory, page table)";
    if let Some(base) = e820::reserve_real_mode(mb, REAL_MODE_PAGES * PAGE_SIZE, owner, log)? {
        REAL_MODE_BASE.store(base as u32, Ordering::Release);
    }
    Ok(())
}

/// Finds the CPUs and prepares the boot CPU's local APIC (see the module docs). Never fails: a
/// machine without usable tables or APIC runs on its boot CPU alone, and the log says why.
pub fn smp_init(cmdline: &str, log: &mut dyn LineSink) -> heapless::Vec<CpuDesc, MAX_CPUS> {
    let mut cpus = heapless::Vec::new();
    match delay::calibrate_tsc() {
        Some(khz_ms) => log.line(format_args!("tsc: Detected {}.{:03} MHz processor (calibrated against the PIT)", khz_ms / 1000, khz_ms % 1000)),
        None => log.line(format_args!("tsc: PIT calibration failed: the PIT did not count")),
    }
    let apic = match apic::init() {
        Ok(a) => a,
        Err(e) => {
            log.line(format_args!("smpboot: {e}; running on the boot CPU only"));
            let _ = cpus.push(CpuDesc { hw_id: 0, nid: 0 });
            return cpus;
        }
    };
    let acpi_off = mm_init::Cmdline::new(cmdline).get("acpi") == Some("off");
    let found = if acpi_off {
        log.line(format_args!("ACPI: acpi=off: using the MP table"));
        acpi::parse_mptable(log)
    } else {
        acpi::parse_madt(log).or_else(|e| {
            log.line(format_args!("ACPI: {e}; trying the MP table"));
            acpi::parse_mptable(log)
        })
    };
    let _ = cpus.push(CpuDesc { hw_id: u64::from(apic.id), nid: 0 });
    let d = match found {
        Ok(d) => d,
        Err(e) => {
            log.line(format_args!("smpboot: {e}: SMP motherboard not detected, running on the boot CPU only"));
            log.line(format_args!("smpboot: Allowing 1 CPUs, 0 hotplug CPUs"));
            return cpus;
        }
    };
    if d.lapic_phys != apic.phys {
        log.line(format_args!("smpboot: the {} says the local APIC is at {:#x}, IA32_APIC_BASE says {:#x}: using the latter", source_name(d.source), d.lapic_phys, apic.phys));
    }
    if !d.cpus.iter().any(|c| c.enabled && c.apic_id == apic.id) {
        log.line(format_args!("smpboot: the boot CPU's APIC id {:#x} is not an enabled entry of the {}", apic.id, source_name(d.source)));
    }
    let (mut disabled, mut dropped) = (0, 0);
    for c in &d.cpus {
        let known = cpus.iter().any(|p| p.hw_id == u64::from(c.apic_id));
        if !c.enabled {
            disabled += 1;
        } else if c.apic_id >= 0xFF || (!known && cpus.push(CpuDesc { hw_id: u64::from(c.apic_id), nid: 0 }).is_err()) {
            // 0xFF is the xAPIC broadcast id: such a CPU needs x2APIC mode.
            dropped += 1;
        }
    }
    if disabled > 0 {
        log.line(format_args!("smpboot: {disabled} disabled CPU entries ignored: CPU hotplug is not supported"));
    }
    if dropped > 0 {
        log.line(format_args!("smpboot: {dropped} CPU(s) ignored: more than MAX_CPUS = {MAX_CPUS} (or not addressable in xAPIC mode)"));
    }
    log.line(format_args!("smpboot: Allowing {} CPUs, 0 hotplug CPUs", cpus.len()));
    log.line(format_args!("smpboot: boot CPU: APIC id {:#x}, local APIC version {:#x} at {:#x}", apic.id, apic.version, apic.phys));
    cpus
}

fn source_name(s: Source) -> &'static str {
    match s {
        Source::Madt => "MADT",
        Source::MpTable => "MP table",
    }
}

/// Copies the trampoline into its page, patches it and builds its page directory (once).
fn setup_trampoline(base: u32) -> Result<(), &'static str> {
    if TRAMPOLINE_READY.load(Ordering::Acquire) != 0 {
        return Ok(());
    }
    let addr = |s: *const u8| s as usize;
    let start = addr(&raw const x86_trampoline_start);
    let len = addr(&raw const x86_trampoline_end) - start;
    let off_cr3 = addr(&raw const x86_trampoline_cr3) - start;
    let off_entry = addr(&raw const x86_trampoline_entry) - start;
    assert!(len <= PAGE_SIZE as usize, "the trampoline must fit one page");
    let (pgd, pt) = (base + PAGE_SIZE as u32, base + 2 * PAGE_SIZE as u32);
    let virt = paging::phys_range_to_virt(u64::from(base), REAL_MODE_PAGES * PAGE_SIZE).ok_or("the trampoline pages are not in the linear map")?;
    let kernel_pgd = paging::current_pgd_phys();
    // SAFETY: `reserve_real_mode` reserved these pages for the trampoline and nothing else uses
    // them; no CPU runs on them yet (the first SIPI comes after this). The source is the
    // trampoline's bytes in .rodata, `len` long, and the patch offsets lie inside them.
    unsafe {
        core::ptr::copy_nonoverlapping(start as *const u8, virt as *mut u8, len);
        core::ptr::write_unaligned((virt + off_cr3) as *mut u32, pgd);
        core::ptr::write_unaligned((virt + off_entry) as *mut u32, x86_ap_startup_32 as *const () as usize as u32);
        paging::build_trampoline_pgd(pgd, pt, base, kernel_pgd);
    }
    TRAMPOLINE_READY.store(1, Ordering::Release);
    Ok(())
}

/// Linux `wakeup_secondary_cpu_via_init`: INIT assert, INIT de-assert, 10 ms, then two
/// STARTUP IPIs with the trampoline's page number, each followed by 200 us.
fn wakeup_secondary_cpu_via_init(apic_id: u32, start_eip: u32) -> Result<(), &'static str> {
    let mut delay = PitDelay;
    apic::send_ipi(apic_id, apic::APIC_INT_LEVELTRIG | apic::APIC_INT_ASSERT | apic::APIC_DM_INIT);
    let mut idle = apic::wait_icr_idle();
    delay.delay_ms(10);
    apic::send_ipi(apic_id, apic::APIC_INT_LEVELTRIG | apic::APIC_DM_INIT);
    idle &= apic::wait_icr_idle();
    for _ in 0..2 {
        apic::send_ipi(apic_id, apic::APIC_DM_STARTUP | (start_eip >> 12));
        delay.delay_us(200);
        idle &= apic::wait_icr_idle();
    }
    if idle {
        Ok(())
    } else {
        Err("the local APIC never finished sending INIT/STARTUP (ICR busy)")
    }
}

/// `kernel::Firmware::start_cpu` (see there): starts logical CPU `cpu` of `cpus`.
///
/// # Errors
/// CPU 0 or an unknown CPU, a CPU already started, `percpu_base` 0, no trampoline below 1 MiB,
/// an IPI that never left, or no check-in within 10 s of the second STARTUP IPI (the CPU is
/// then sent INIT again, so that a late start cannot run on the next CPU's stack).
pub fn start_cpu(cpus: &[CpuDesc], cpu: usize, stack_top: usize, percpu_base: usize, entry: extern "C" fn(usize) -> !) -> Result<(), &'static str> {
    if cpu == 0 {
        return Err("CPU 0 is the boot CPU, already running");
    }
    let desc = cpus.get(cpu).ok_or("no such CPU: not in possible_cpus")?;
    if CPU_CALLIN.load(Ordering::Acquire) & (1 << cpu) != 0 {
        return Err("CPU already started");
    }
    if percpu_base == 0 {
        // FS would be the boot segment, whose CPU id 0 the logger would share with CPU 0.
        return Err("a secondary CPU needs a per-CPU area (percpu_base is 0)");
    }
    let base = REAL_MODE_BASE.load(Ordering::Acquire);
    if base == 0 {
        return Err("no real-mode trampoline below 1 MiB (reservation failed)");
    }
    setup_trampoline(base)?;
    let apic_id = desc.hw_id as u32;
    // SAFETY: CPU `cpu` is not running (not checked in), so its per-CPU segment is unused.
    let fs_sel = unsafe { cpu::set_percpu_segment(cpu, percpu_base) };
    AP_BOOT.cr3.store(paging::current_pgd_phys(), Ordering::Relaxed);
    AP_BOOT.stack_top.store(stack_top as u32, Ordering::Relaxed);
    AP_BOOT.fs_sel.store(u32::from(fs_sel), Ordering::Relaxed);
    AP_BOOT.cpu.store(cpu as u32, Ordering::Relaxed);
    AP_BOOT.entry.store(entry as usize, Ordering::Release);
    defmt::info!("smpboot: Booting Node 0 Processor {=usize} APIC {=u32:#x}", cpu, apic_id);
    let t0 = delay::rdtsc();
    wakeup_secondary_cpu_via_init(apic_id, base)?;
    let mut delay = PitDelay;
    let mut waited = 0;
    while CPU_CALLIN.load(Ordering::Acquire) & (1 << cpu) == 0 {
        if waited >= CALLIN_TIMEOUT_US {
            // Park it again (Linux leaves it; a late start here would reuse AP_BOOT).
            apic::send_ipi(apic_id, apic::APIC_INT_LEVELTRIG | apic::APIC_INT_ASSERT | apic::APIC_DM_INIT);
            apic::wait_icr_idle();
            apic::send_ipi(apic_id, apic::APIC_INT_LEVELTRIG | apic::APIC_DM_INIT);
            apic::wait_icr_idle();
            defmt::error!("smpboot: CPU {=usize} (APIC id {=u32:#x}): no answer to INIT-SIPI-SIPI within 10 s", cpu, apic_id);
            return Err("no answer to INIT-SIPI-SIPI within 10 s");
        }
        delay.delay_us(10);
        waited += 10;
    }
    let us = delay::tsc_delta_us(t0, delay::rdtsc());
    defmt::info!("smpboot: CPU {=usize} (APIC id {=u32:#x}) checked in {=u64} us after INIT (10 ms INIT wait, 2 x 200 us SIPI waits included)", cpu, apic_id, us);
    Ok(())
}

/// `selftest=smp`: starts every possible CPU on a small static stack and per-CPU area, each
/// logging its logical id, APIC id and FS base, then parking (`cli; hlt`). Diagnostic for the
/// platform alone; the generic SMP code does the real bring-up.
pub mod selftest {
    use super::*;

    const STACK_SIZE: usize = 4096;
    #[repr(C, align(16))]
    struct Stacks([[u8; STACK_SIZE]; MAX_CPUS]);
    static mut STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_CPUS]);
    /// Per-CPU areas in the lead's layout: `{ self_ptr, cpu }`.
    #[repr(C, align(64))]
    #[derive(Clone, Copy)]
    struct Area([usize; 16]);
    static mut AREAS: [Area; MAX_CPUS] = [Area([0; 16]); MAX_CPUS];
    static PARKED: AtomicU32 = AtomicU32::new(0);

    extern "C" fn ap_entry(cpu: usize) -> ! {
        let apic_id = apic::read_id();
        let (base, id) = (cpu::percpu_base(), cpu::smp_processor_id());
        defmt::info!("CPU {=usize} (APIC id {=u32:#x}) up: fs:[0] = {=usize:#x}, fs:[4] = {=usize}", cpu, apic_id, base, id);
        PARKED.fetch_add(1, Ordering::Release);
        cpu::halt_forever()
    }

    /// Runs the self-test; returns how many secondary CPUs came up.
    pub fn run<F: kernel::Firmware>(fw: &mut F, log: &mut dyn LineSink) -> usize {
        let area = |n: usize| {
            // SAFETY: only the address is taken; the area's words are written below, each before
            // its CPU starts, and then only read (through FS).
            let p = unsafe { (&raw mut AREAS).cast::<Area>().add(n) };
            // SAFETY: `p` is element n of AREAS; nobody else writes these words.
            unsafe { (*p).0[0] = p as usize; (*p).0[1] = n };
            p as usize
        };
        let b0 = area(0);
        fw.set_percpu_base(b0);
        log.line(format_args!("smpboot selftest: boot CPU: percpu_base() = {:#x} (area {b0:#x}), smp_processor_id() = {}", cpu::percpu_base(), cpu::smp_processor_id()));
        let n = fw.possible_cpus().len();
        let t0 = delay::rdtsc();
        let mut up = 0;
        for c in 1..n {
            // SAFETY: only the address of stack c is taken; CPU c is its only user.
            let top = unsafe { (&raw mut STACKS).cast::<[u8; STACK_SIZE]>().add(c) } as usize + STACK_SIZE;
            match fw.start_cpu(c, top, area(c), ap_entry) {
                Ok(()) => up += 1,
                Err(e) => log.line(format_args!("smpboot selftest: CPU {c}: {e}")),
            }
        }
        for _ in 0..10_000 {
            if PARKED.load(Ordering::Acquire) as usize >= up {
                break;
            }
            PitDelay.delay_us(10);
        }
        log.line(format_args!(
            "smpboot selftest: {up} of {} secondary CPU(s) up and parked, {} us for all",
            n.saturating_sub(1),
            delay::tsc_delta_us(t0, delay::rdtsc())
        ));
        up
    }
}
