//! Secondary CPUs of the i.MX6 Quad/DualLite through the System Reset Controller: Linux's
//! `imx_smp_ops` (arch/arm/mach-imx/platsmp.c and src.c), which 32-bit Linux takes from the
//! machine description (`DT_MACHINE_START(IMX6Q, …)` for the root compatibles `fsl,imx6q`,
//! `fsl,imx6dl`, `fsl,imx6qp`), not from the device tree: no tree names this method, so it
//! reaches the firmware as the board's `[smp] enable-method = "imx6-src"`.
//!
//! Before the first secondary, `imx_smp_prepare_cpus` enables the Snoop Control Unit
//! (`scu_enable`: the SCU at `PERIPHBASE`, from `CBAR`; on an A9 r2p0 or later also its standby
//! bit) and cleans the data cache so that what the boot CPU wrote before the SCU ran is seen
//! by the others (`flush_cache_all`: on the A9 the level of coherency is L1, cleaned and
//! invalidated by set/way). Then, per CPU, `imx_boot_secondary`: the entry's physical address
//! into `SRC_GPR1 + 8 × core` (`imx_set_cpu_jump`), and the core's enable bit in `SRC_SCR`
//! (bit 22 + core − 1, `imx_enable_cpu`). The boot ROM (QEMU's `imx6_src` in its place) starts
//! the core there with the MMU off and no argument, so it enters `pending_secondary_entry`
//! (smp.rs), which hands it its boot block.
//!
//! The SRC is the tree's `fsl,imx6q-src` node (Linux's `imx_src_init`), mapped as device
//! memory at its physical address by `paging_init` ([`Armv7a::src`](crate::Armv7a)), as is the
//! `PERIPHBASE` page.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicBool, Ordering};

use aarch32_cpu::register::{Ccsidr, Csselr, Dccisw, SysRegRead, SysRegWrite};

/// The device-tree `compatible` of the SRC (Linux `imx_src_init`).
pub const SRC_COMPATIBLE: &str = "fsl,imx6q-src";
/// Bytes of the SRC the method touches (`SRC_SCR` to `SRC_GPR10`).
pub const WINDOW: u64 = 0x48;
const SRC_SCR: usize = 0x000;
const SRC_GPR1: usize = 0x020;
const BP_SRC_SCR_CORE1_ENABLE: u32 = 22;

const SCU_CTRL: usize = 0x00;
const SCU_ENABLE: u32 = 1 << 0;
const SCU_STANDBY_ENABLE: u32 = 1 << 5;

static SCU_PREPARED: AtomicBool = AtomicBool::new(false);

/// Cleans and invalidates the level-1 data cache by set/way, with its geometry from CCSIDR.
fn flush_l1_dcache() {
    // SAFETY: CSSELR = 0 selects the level-1 data cache; nothing else selects a cache.
    unsafe { <Csselr as SysRegWrite>::write_raw(0) };
    aarch32_cpu::asm::isb();
    let ccsidr = <Ccsidr as SysRegRead>::read_raw();
    let line_shift = (ccsidr & 7) + 4;
    let ways = ((ccsidr >> 3) & 0x3ff) + 1;
    let sets = ((ccsidr >> 13) & 0x7fff) + 1;
    let way_shift = (ways - 1).leading_zeros() % 32;
    for set in 0..sets {
        for way in 0..ways {
            let v = if ways == 1 { set << line_shift } else { (way << way_shift) | (set << line_shift) };
            // SAFETY: cleaning and invalidating a line by set/way writes dirty data back to
            // memory and drops the line; it changes no memory contents.
            unsafe { <Dccisw as SysRegWrite>::write_raw(v) };
        }
    }
    aarch32_cpu::asm::dsb();
}

/// Linux's `imx_smp_prepare`/`scu_enable`, once.
///
/// # Safety
/// `periphbase` is the MPCore's private block, mapped as device memory at that address.
unsafe fn scu_enable(periphbase: u32) {
    if SCU_PREPARED.swap(true, Ordering::AcqRel) {
        return;
    }
    let ctrl = (periphbase as usize + SCU_CTRL) as *mut u32;
    // SAFETY: the caller's contract: the SCU control register is in the mapped block.
    let mut v = unsafe { core::ptr::read_volatile(ctrl) };
    if v & SCU_ENABLE != 0 {
        defmt::debug!("smp: SCU at {=u32:#x} already enabled (control {=u32:#x})", periphbase, v);
        return;
    }
    v |= SCU_ENABLE;
    let midr = aarch32_cpu::register::Midr::read().raw_value();
    // Cortex-A9 earlier than r2p0 has no standby bit in the SCU.
    if midr & 0xff0f_fff0 == 0x410f_c090 && midr & 0x00f0_000f >= 0x0020_0000 {
        v |= SCU_STANDBY_ENABLE;
    }
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(ctrl, v) };
    flush_l1_dcache();
    defmt::info!("smp: SCU at {=u32:#x} enabled (control {=u32:#x}), L1 data cache cleaned (scu_enable)", periphbase, v);
}

/// Starts core `core` (MPIDR Aff0, 1 to 3) at `pending_secondary_entry` with `block` (the
/// physical address of its prepared boot block) waiting for it.
///
/// # Errors
/// Core 0 or above 3 (the SRC has enable bits for cores 1 to 3 only), or no `PERIPHBASE`.
///
/// # Safety
/// `src` is the SRC and `periphbase` the MPCore block, both mapped as device memory at those
/// addresses; `block` is a boot block prepared for this CPU (`smp::prepare`).
pub unsafe fn release(src: u32, periphbase: Option<u32>, core: u32, block: u32) -> Result<(), &'static str> {
    if !(1..=3).contains(&core) {
        return Err("the i.MX6 SRC starts cores 1 to 3 only");
    }
    let periphbase = periphbase.ok_or("the i.MX6 SRC method needs the SCU, and CBAR gave no PERIPHBASE")?;
    // SAFETY: the caller's contract.
    unsafe { scu_enable(periphbase) };
    let entry = crate::smp::set_pending_block(block);
    let gpr = src as usize + SRC_GPR1 + 8 * core as usize;
    let scr = (src as usize + SRC_SCR) as *mut u32;
    let mask = 1u32 << (BP_SRC_SCR_CORE1_ENABLE + core - 1);
    defmt::debug!("smp: core {=u32}: entry {=u32:#x} into SRC_GPR{=u32} at {=u32:#x}, SRC_SCR |= {=u32:#x}", core, entry, 2 * core + 1, gpr as u32, mask);
    // SAFETY: the caller's contract: both registers are in the mapped SRC window; the jump
    // address goes in before the enable bit (imx_set_cpu_jump, then imx_enable_cpu).
    unsafe {
        core::ptr::write_volatile(gpr as *mut u32, entry);
        aarch32_cpu::asm::dsb();
        let v = core::ptr::read_volatile(scr);
        core::ptr::write_volatile(scr, v | mask);
    }
    aarch32_cpu::asm::dsb();
    Ok(())
}
