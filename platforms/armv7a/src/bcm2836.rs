//! Secondary CPUs of the BCM2836 (Raspberry Pi 2): Linux's `brcm,bcm2836-smp` method
//! (`bcm2836_smp_boot_secondary`, arch/arm/mach-bcm/platsmp.c).
//!
//! The boot firmware (QEMU's raspi2b stub, the Pi's `armstub`) parks every secondary CPU polling
//! its ARM-local mailbox 3; writing an entry address to the mailbox's set register
//! (`LOCAL_MAILBOX3_SET0` + 16 x core in the `brcm,bcm2836-l1-intc` block) releases it, and the
//! CPU clears the mailbox and jumps there with the MMU off. It comes with its core number in r0,
//! not with a boot block as PSCI `CPU_ON` passes one, so it enters `pending_secondary_entry`
//! (smp.rs), which loads its block's address from the one pending-block word and goes on at
//! `secondary_entry` like a CPU that PSCI started.
//!
//! The local-interrupt block is mapped as device memory at its physical address by
//! `paging_init` ([`Armv7a::local_intc`](crate::Armv7a)).
#![allow(unsafe_code)]

/// The device-tree `compatible` of the ARM-local interrupt block that holds the mailboxes.
pub const LOCAL_INTC_COMPATIBLE: &str = "brcm,bcm2836-l1-intc";
/// Mailbox 3's set register of core 0; each core's is 16 bytes further (Linux
/// `LOCAL_MAILBOX3_SET0`).
pub const LOCAL_MAILBOX3_SET0: usize = 0x8c;
/// Bytes of the block the method touches (four cores' mailbox registers end below 0x100).
pub const WINDOW: u64 = 0x100;

/// Releases the core `core` (MPIDR Aff0) into `pending_secondary_entry` with `block` (the
/// physical address of its prepared boot block) waiting for it.
///
/// # Safety
/// `local_intc` is the `brcm,bcm2836-l1-intc` block, mapped as device memory at that address,
/// and `block` a boot block prepared for this CPU (`smp::prepare`).
pub unsafe fn release(local_intc: u32, core: u32, block: u32) {
    let entry = crate::smp::set_pending_block(block);
    let set = local_intc as usize + LOCAL_MAILBOX3_SET0 + 16 * core as usize;
    defmt::debug!("smp: core {=u32}: entry {=u32:#x} into ARM-local mailbox 3 at {=u32:#x}", core, entry, set as u32);
    // SAFETY: the caller's contract: the register is in the mapped block; a 32-bit write to
    // mailbox 3's set register wakes the core that polls it.
    unsafe { core::ptr::write_volatile(set as *mut u32, entry) };
    aarch32_cpu::asm::dsb();
    aarch32_cpu::asm::sev();
}
