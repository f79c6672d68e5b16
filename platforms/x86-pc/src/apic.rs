//! The local APIC in xAPIC mode: its register page mapped uncached in the fixmap, the ID
//! register, and interprocessor interrupts through the ICR (Intel SDM vol. 3, 10.4 and 10.6;
//! Linux `arch/x86/kernel/apic/apic.c`, `native_apic_icr_write`).
//!
//! The register page's physical address comes from `IA32_APIC_BASE` (MSR 0x1B, bits 12..31),
//! which is what the CPU decodes, whatever the MADT says. x2APIC mode (MSR bit 10) has no MMIO
//! page; this platform does not drive it and [`init`] refuses it.
//!
//! Lifecycle: [`init`] once on the boot CPU after `paging_init` (the fixmap must exist); the
//! ICR is used by the boot CPU only (SMP bring-up is serial).
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::paging;

const IA32_APIC_BASE: u32 = 0x1B;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const APIC_BASE_ADDR_MASK: u64 = 0xFFFF_F000;

// Register offsets (SDM table 10-1) and ICR fields (figure 10-12).
const APIC_ID: usize = 0x20;
const APIC_LVR: usize = 0x30;
const APIC_SPIV: usize = 0xF0;
const APIC_TPR: usize = 0x80;
const APIC_EOI: usize = 0xB0;
const APIC_ICR: usize = 0x300;
const APIC_ICR2: usize = 0x310;
const APIC_SPIV_APIC_ENABLED: u32 = 1 << 8;
/// Spurious vector: 0xFF, as Linux (`SPURIOUS_APIC_VECTOR`). Interrupts stay masked here, so it
/// is never taken.
const SPURIOUS_VECTOR: u32 = 0xFF;
pub const APIC_DM_INIT: u32 = 0x500;
pub const APIC_DM_STARTUP: u32 = 0x600;
pub const APIC_INT_ASSERT: u32 = 1 << 14;
pub const APIC_INT_LEVELTRIG: u32 = 1 << 15;
const APIC_ICR_BUSY: u32 = 1 << 12;

/// Virtual address of the register page; 0 before [`init`].
static APIC_VIRT: AtomicUsize = AtomicUsize::new(0);

fn read(reg: usize) -> u32 {
    let base = APIC_VIRT.load(Ordering::Acquire);
    assert!(base != 0, "local APIC used before apic::init");
    // SAFETY: `init` mapped the APIC's register page uncached at `base`; `reg` is a register
    // offset inside it and registers are read with aligned 32-bit accesses (SDM 10.4.1).
    unsafe { core::ptr::read_volatile((base + reg) as *const u32) }
}

fn write(reg: usize, value: u32) {
    let base = APIC_VIRT.load(Ordering::Acquire);
    assert!(base != 0, "local APIC used before apic::init");
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile((base + reg) as *mut u32, value) }
}

/// What [`init`] found.
#[derive(Debug, Clone, Copy)]
pub struct ApicInfo {
    pub phys: u32,
    pub id: u32,
    pub version: u32,
}

/// Maps the boot CPU's local APIC (from `IA32_APIC_BASE`) at `FIX_APIC_BASE` and software-
/// enables it (SVR), as Linux's `setup_local_APIC` does before `smp_init`.
///
/// # Errors
/// When the APIC is globally disabled or in x2APIC mode, or the fixmap is not ready.
pub fn init() -> Result<ApicInfo, &'static str> {
    // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC (P6 and later; the i686 target).
    let msr = unsafe { x86::msr::rdmsr(IA32_APIC_BASE) };
    if msr & APIC_BASE_ENABLE == 0 {
        return Err("local APIC globally disabled (IA32_APIC_BASE bit 11 clear)");
    }
    if msr & APIC_BASE_X2APIC != 0 {
        return Err("local APIC in x2APIC mode, which this platform does not drive");
    }
    let phys = (msr & APIC_BASE_ADDR_MASK) as u32;
    let virt = paging::set_fixmap_nocache(paging::FIX_APIC_BASE, phys).map_err(|_| "fixmap not ready for the local APIC")?;
    APIC_VIRT.store(virt, Ordering::Release);
    enable_this_cpu();
    Ok(ApicInfo { phys, id: read_id(), version: read(APIC_LVR) & 0xFF })
}

/// Software-enables the calling CPU's local APIC (SVR) with the spurious vector, and accepts
/// every priority (TPR 0): a software-disabled APIC takes only INIT, NMI, SMI and STARTUP, so
/// each CPU does this before it can receive [`IPI_VECTOR`].
pub fn enable_this_cpu() {
    write(APIC_TPR, 0);
    write(APIC_SPIV, (read(APIC_SPIV) & !0xFF) | APIC_SPIV_APIC_ENABLED | SPURIOUS_VECTOR);
}

/// The vector of the firmware's one interprocessor interrupt: a kick out of `hlt`, and the
/// TLB shoot-down request (`crate::tlb`).
pub const IPI_VECTOR: u8 = 0xF0;

/// Sends [`IPI_VECTOR`] to the APIC with id `dest` (fixed delivery, physical destination).
/// Waits (bounded) for an earlier IPI of this CPU to be delivered first; false when the ICR
/// stayed busy.
pub fn send_kick(dest: u32) -> bool {
    let idle = wait_icr_idle();
    send_ipi(dest, APIC_INT_ASSERT | u32::from(IPI_VECTOR));
    idle
}

/// Ends the interrupt being handled (the EOI register).
pub fn eoi() {
    write(APIC_EOI, 0);
}

/// This CPU's local APIC id (xAPIC: ID register bits 24..31).
pub fn read_id() -> u32 {
    read(APIC_ID) >> 24
}

/// Waits (bounded) for the ICR's delivery status to read idle. True when it did.
pub fn wait_icr_idle() -> bool {
    // Linux `native_safe_apic_wait_icr_idle` gives up after about 100 ms; QEMU is idle at once.
    for _ in 0..1_000_000 {
        if read(APIC_ICR) & APIC_ICR_BUSY == 0 {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// Sends an IPI with ICR low word `icr_low` to the APIC with id `dest` (physical destination
/// mode, no shorthand): the high word first, since writing the low word sends.
pub fn send_ipi(dest: u32, icr_low: u32) {
    write(APIC_ICR2, dest << 24);
    write(APIC_ICR, icr_low);
}
