//! Cross-CPU TLB shoot-down and the interprocessor interrupt that carries it (Linux
//! `flush_tlb_kernel_range` → `on_each_cpu(do_flush_tlb_all/do_kernel_range_flush)`).
//!
//! x86 has no broadcast TLB invalidation: when a kernel mapping goes away (vfree), every other
//! CPU may still hold it in its TLB, and would read the next owner's page through it. The CPU
//! that unmapped posts the range in [`REQUEST`], sets one bit per CPU to flush, sends each of
//! them [`apic::IPI_VECTOR`] and waits until every bit is clear; each CPU's handler
//! ([`x86_ipi`]) invalidates the range (`invlpg` page by page, or a CR3 reload for long ranges,
//! as Linux's `tlb_single_page_flush_ceiling` of 33 pages) and clears its bit. One shoot-down
//! at a time ([`LOCK`]).
//!
//! The same vector kicks an idle CPU out of `hlt` (`kernel::smp::idle_loop`): the handler has
//! nothing else to do then but the EOI. A CPU only takes the interrupt with IF set: idle CPUs
//! (`sti; hlt`) and code that enables interrupts; a CPU that keeps them masked longer than the
//! wait (100 ms) is named in the error.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering};

use crate::apic;
use crate::cpu::MAX_CPUS;

/// The range being shot down and the CPUs still to flush it (bit = logical CPU id).
struct Request {
    start: AtomicU32,
    end: AtomicU32,
    pending: AtomicU32,
}

static REQUEST: Request = Request { start: AtomicU32::new(0), end: AtomicU32::new(0), pending: AtomicU32::new(0) };
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Above this many pages a CR3 reload is cheaper than `invlpg` page by page (Linux's
/// `tlb_single_page_flush_ceiling`).
const FLUSH_CEILING_PAGES: u32 = 33;

/// Invalidates `[start, end)` in this CPU's TLB.
fn flush_local(start: u32, end: u32) {
    let pages = end.saturating_sub(start).div_ceil(4096);
    if pages > FLUSH_CEILING_PAGES {
        // SAFETY: reloading CR3 with its own value only flushes non-global TLB entries.
        unsafe { x86::controlregs::cr3_write(x86::controlregs::cr3()) };
        return;
    }
    for p in 0..pages {
        // SAFETY: `invlpg` only drops a TLB entry; the address need not be mapped.
        unsafe { x86::tlb::flush((start + p * 4096) as usize) };
    }
}

/// The interprocessor interrupt's handler (entered from `isr_ipi` with the interrupted
/// registers saved): a pending shoot-down for this CPU, then the EOI.
#[no_mangle]
extern "C" fn x86_ipi() {
    let cpu = crate::cpu::smp_processor_id();
    let bit = 1u32 << (cpu as u32 % 32);
    if REQUEST.pending.load(Ordering::Acquire) & bit != 0 {
        flush_local(REQUEST.start.load(Ordering::Acquire), REQUEST.end.load(Ordering::Acquire));
        REQUEST.pending.fetch_and(!bit, Ordering::AcqRel);
    }
    apic::eoi();
}

/// Flushes `[start, end)` on every CPU in `targets` (logical id → APIC id; the caller is left
/// out by the caller) and waits for all of them.
///
/// # Errors
/// A CPU did not answer within a second (it has interrupts masked, or is gone).
pub fn shoot_down(start: usize, end: usize, targets: &[(usize, u32)]) -> Result<(), &'static str> {
    let _one = LOCK.lock();
    let mask = targets.iter().filter(|(c, _)| *c < MAX_CPUS).fold(0u32, |m, (c, _)| m | 1 << c);
    if mask == 0 {
        return Ok(());
    }
    REQUEST.start.store(start as u32, Ordering::Release);
    REQUEST.end.store(end as u32, Ordering::Release);
    REQUEST.pending.store(mask, Ordering::Release);
    for &(_, apic_id) in targets {
        if !apic::send_kick(apic_id) {
            return Err("TLB shoot-down: the local APIC's ICR stayed busy");
        }
    }
    let t0 = crate::delay::rdtsc();
    let mut spins = 0u64;
    while REQUEST.pending.load(Ordering::Acquire) != 0 {
        core::hint::spin_loop();
        spins += 1;
        if crate::delay::tsc_delta_us(t0, crate::delay::rdtsc()) > 1_000_000 || spins > 1_000_000_000 {
            let left = REQUEST.pending.swap(0, Ordering::AcqRel);
            defmt::error!("TLB shoot-down of [{=u32:#x}, {=u32:#x}): CPUs {=u32:#b} (bit = CPU) did not answer within a second", start as u32, end as u32, left);
            return Err("TLB shoot-down: a CPU did not answer within a second");
        }
    }
    Ok(())
}

/// Masks both legacy 8259 PICs (Linux masks them once the local APIC takes over), so that no
/// ISA interrupt reaches a CPU that enables interrupts: the BIOS leaves IRQ 0-7 on vectors
/// 8-15, which are exception vectors here.
pub fn mask_legacy_pic() {
    // SAFETY: ports 0x21 and 0xA1 are the PICs' interrupt mask registers; masking every line
    // has no other effect.
    unsafe {
        x86::io::outb(0x21, 0xFF);
        x86::io::outb(0xA1, 0xFF);
    }
}
