//! Secondary CPUs of the BCM2836 (Raspberry Pi 2): Linux's `brcm,bcm2836-smp` method
//! (`bcm2836_smp_boot_secondary`, arch/arm/mach-bcm/platsmp.c).
//!
//! The boot firmware (QEMU's raspi2b stub, the Pi's `armstub`) parks every secondary CPU polling
//! its ARM-local mailbox 3; writing an entry address to the mailbox's set register
//! (`LOCAL_MAILBOX3_SET0` + 16 x core in the `brcm,bcm2836-l1-intc` block) releases it, and the
//! CPU clears the mailbox and jumps there with the MMU off. It comes with its core number in r0,
//! not with a boot block as PSCI `CPU_ON` passes one, so it enters `bcm2836_secondary_entry`,
//! which loads its block's address from [`BCM2836_PENDING_BLOCK`] and goes on at
//! `secondary_entry` like a CPU that PSCI started. CPUs start one at a time (the boot CPU waits
//! for each to reach Rust), so one word serves them all.
//!
//! The local-interrupt block is mapped as device memory at its physical address by
//! `paging_init` ([`Armv7a::local_intc`](crate::Armv7a)).
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering};

/// The device-tree `compatible` of the ARM-local interrupt block that holds the mailboxes.
pub const LOCAL_INTC_COMPATIBLE: &str = "brcm,bcm2836-l1-intc";
/// Mailbox 3's set register of core 0; each core's is 16 bytes further (Linux
/// `LOCAL_MAILBOX3_SET0`).
pub const LOCAL_MAILBOX3_SET0: usize = 0x8c;
/// Bytes of the block the method touches (four cores' mailbox registers end below 0x100).
pub const WINDOW: u64 = 0x100;

/// The physical address of the boot block of the CPU being started; read by
/// `bcm2836_secondary_entry` with the MMU off.
#[no_mangle]
static BCM2836_PENDING_BLOCK: AtomicU32 = AtomicU32::new(0);

core::arch::global_asm!(
    r#"
    .section .text.boot, "ax"
    .arm
    .global bcm2836_secondary_entry
bcm2836_secondary_entry:
    ldr     r0, =BCM2836_PENDING_BLOCK
    ldr     r0, [r0]
    b       secondary_entry
    .ltorg
"#
);

extern "C" {
    fn bcm2836_secondary_entry();
}

/// Releases the core `core` (MPIDR Aff0) into `bcm2836_secondary_entry` with `block` (the
/// physical address of its prepared boot block) waiting for it.
///
/// # Safety
/// `local_intc` is the `brcm,bcm2836-l1-intc` block, mapped as device memory at that address,
/// and `block` a boot block prepared for this CPU (`smp::prepare`).
pub unsafe fn release(local_intc: u32, core: u32, block: u32) {
    BCM2836_PENDING_BLOCK.store(block, Ordering::Release);
    crate::smp::clean_dcache(BCM2836_PENDING_BLOCK.as_ptr() as usize, 4);
    let entry = bcm2836_secondary_entry as *const () as usize as u32;
    let set = local_intc as usize + LOCAL_MAILBOX3_SET0 + 16 * core as usize;
    defmt::debug!("smp: core {=u32}: entry {=u32:#x} into ARM-local mailbox 3 at {=u32:#x}", core, entry, set as u32);
    // SAFETY: the caller's contract: the register is in the mapped block; a 32-bit write to
    // mailbox 3's set register wakes the core that polls it.
    unsafe { core::ptr::write_volatile(set as *mut u32, entry) };
    aarch32_cpu::asm::dsb();
    aarch32_cpu::asm::sev();
}
