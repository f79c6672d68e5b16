//! The boot clock: the ARM generic timer where the CPU has one, else the Cortex-A9 (or A5)
//! MPCore global timer.
//!
//! The entry code (boot.rs) reads `ID_PFR1` first. With the generic timer (`ID_PFR1[19:16]`
//! non-zero: Cortex-A7, A15, A17) the boot clock is `CNTPCT` at `CNTFRQ`, as before. Without
//! it (Cortex-A9, A5: their `mrrc` of `CNTPCT` is an undefined instruction) the entry reads
//! `PERIPHBASE` from the A9/A5 `CBAR` (`mrc p15, 4, rN, c15, c0, 0`, as Linux's
//! `scu_a9_get_base`/`imx_scu_map_io` do), enables the global timer at `PERIPHBASE + 0x200`
//! if the boot loader has not (the enable bit of its control register, as Linux's
//! `gt_clocksource_init` sets it; a running timer and its prescaler are kept), and keeps its
//! first 64-bit reading (upper, lower, upper until the upper half is stable, Linux's
//! `_gt_counter_read`) as the clock's zero. It records what it found in
//! [`ARMV7A_EARLY_CLOCK`].
//!
//! The global timer counts `PERIPHCLK / (prescaler + 1)`, a rate the device tree does not
//! state (Linux takes it from the clock framework). [`calibrate`] measures it against a timer
//! of known rate the tree describes: the i.MX6 GPT (`fsl,imx6q-gpt`, `fsl,imx6dl-gpt`),
//! programmed as Linux's `imx6dl_gpt_setup_tctl` programs it, on the 24 MHz crystal divided by
//! 8 (`CLKSRC` = OSC_DIV8, `24MEN`, `PRESCALER24M` = 7), whose rate Linux's `clk-imx6q.c`
//! derives from `/clocks/osc` (`imx_obtain_fixed_clock_hw("osc")`, `gpt_3m` = osc / 8). Until
//! then the log's time stamps are 0, as Linux's are before its clock runs.
//!
//! The global timer's registers are reached at their physical address, before the MMU is on
//! and after (`paging_init` maps the `PERIPHBASE` page as device memory at that address, as it
//! maps the console).
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering};

use aarch32_cpu::register::{CntPct, Cntfrq};

/// What the entry code found (written once, before Rust runs): 0 = the generic timer; 1 = no
/// generic timer and no A9/A5 `PERIPHBASE` (no clock); otherwise the physical address of the
/// running global timer.
#[no_mangle]
static ARMV7A_EARLY_CLOCK: AtomicU32 = AtomicU32::new(0);

/// The global timer's offset from `PERIPHBASE` (Cortex-A9 MPCore TRM, 4.3).
pub const GLOBAL_TIMER_OFFSET: u32 = 0x200;
const GT_COUNTER0: usize = 0x00;
const GT_COUNTER1: usize = 0x04;
const GT_CONTROL: usize = 0x08;

/// The physical address of the global timer when it is the boot clock.
static GT_BASE: AtomicU32 = AtomicU32::new(0);

/// The boot clock's counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootCounter {
    /// `CNTPCT` at `CNTFRQ`.
    Generic,
    /// The MPCore global timer at this physical address (`PERIPHBASE + 0x200`).
    GlobalTimer(u32),
    /// Neither: the CPU has no generic timer and is no A9/A5 MPCore.
    None,
}

/// What the entry code found.
pub fn boot_counter() -> BootCounter {
    match ARMV7A_EARLY_CLOCK.load(Ordering::Relaxed) {
        0 => BootCounter::Generic,
        1 => BootCounter::None,
        base => BootCounter::GlobalTimer(base),
    }
}

/// `PERIPHBASE` (the SCU's address; the global timer is 0x200 above it) when the global timer
/// is the boot clock.
pub fn periphbase() -> Option<u32> {
    match boot_counter() {
        BootCounter::GlobalTimer(gt) => Some(gt - GLOBAL_TIMER_OFFSET),
        _ => None,
    }
}

fn read32(addr: usize) -> u32 {
    // SAFETY: callers pass a register of a timer block the entry code or the device tree
    // located, reachable at its physical address (MMU off, or mapped there as device memory by
    // `paging_init`); reading a counter register has no side effect.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

fn write32(addr: usize, value: u32) {
    // SAFETY: as `read32`; the caller writes a control register of a timer this firmware owns.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}

/// The global timer's 64-bit count (Linux `_gt_counter_read`: upper, lower, upper again until
/// the upper half did not move).
fn gt_read() -> u64 {
    let base = GT_BASE.load(Ordering::Relaxed) as usize;
    let mut upper = read32(base + GT_COUNTER1);
    loop {
        let old = upper;
        let lower = read32(base + GT_COUNTER0);
        upper = read32(base + GT_COUNTER1);
        if upper == old {
            return (u64::from(upper) << 32) | u64::from(lower);
        }
    }
}

fn generic_read() -> u64 {
    CntPct::read().0
}

/// Starts the boot clock from the entry code's first reading. With the generic timer its rate
/// is `CNTFRQ`; with the global timer it is unknown until [`calibrate`].
pub fn init(start_ticks: u64) {
    match boot_counter() {
        BootCounter::Generic => kernel::clock::init(generic_read, start_ticks, u64::from(Cntfrq::read().0)),
        BootCounter::GlobalTimer(base) => {
            GT_BASE.store(base, Ordering::Relaxed);
            kernel::clock::init(gt_read, start_ticks, 0);
        }
        BootCounter::None => {}
    }
}

/// A timer of known rate the global timer can be measured against.
struct Reference {
    compatible: &'static str,
}

/// The i.MX6 GPT (Linux drivers/clocksource/timer-imx-gpt.c, `GPT_TYPE_IMX6DL` programming).
const REFERENCES: &[Reference] = &[Reference { compatible: "fsl,imx6q-gpt" }, Reference { compatible: "fsl,imx6dl-gpt" }];

// i.MX6 GPT registers and bits (timer-imx-gpt.c).
const MXC_TCTL: usize = 0x00;
const MXC_TPRER: usize = 0x04;
const V2_TCN: usize = 0x24;
const MXC_TCTL_TEN: u32 = 1 << 0;
const V2_TCTL_WAITEN: u32 = 1 << 3;
const V2_TCTL_CLK_OSC_DIV8: u32 = 5 << 6;
const V2_TCTL_FRR: u32 = 1 << 9;
const V2_TCTL_24MEN: u32 = 1 << 10;
const V2_TIMER_PRESCALER_24M_SHIFT: u32 = 12;
/// `gpt_3m` = osc / 8 (clk-imx6q.c).
const OSC_DIV: u64 = 8;
/// How long the measurement runs, in reference ticks (100 ms at 3 MHz: under QEMU a poll of
/// the two counters can lag by tens of microseconds on a loaded host, 0.03% of this).
const MEASURE_TICKS: u32 = 300_000;
/// Polls of a reference counter that does not move before it counts as stopped.
const STALL_POLLS: u32 = 10_000_000;

/// The result of [`calibrate`], for the log.
#[derive(Debug)]
pub struct Calibration {
    /// The measured global-timer rate.
    pub rate_hz: u64,
    /// The reference timer's node and rate.
    pub reference: heapless::String<{ devicetree::MAX_PATH }>,
    pub reference_hz: u64,
    /// Global-timer ticks over reference ticks.
    pub ticks: (u64, u32),
}

/// Measures the global timer's rate against a reference timer the device tree describes, and
/// gives the boot clock that rate. Nothing to do with the generic timer.
///
/// # Errors
/// A sentence naming what is missing (no reference timer, no `/clocks/osc` rate, a counter that
/// does not move).
pub fn calibrate(tree: &devicetree::DeviceTree<'_>) -> Result<Option<Calibration>, &'static str> {
    let BootCounter::GlobalTimer(_) = boot_counter() else { return Ok(None) };
    let compatibles: heapless::Vec<&str, 4> = REFERENCES.iter().map(|r| r.compatible).collect();
    let node = devicetree::find_console(tree, &compatibles)
        .map_err(|_| "clock: the device tree could not be searched for a reference timer")?
        .ok_or("clock: no generic timer, and the device tree has no timer of known rate to measure the Cortex-A9 global timer against (known: fsl,imx6q-gpt, fsl,imx6dl-gpt)")?;
    let gpt = node.cpu_base.ok().and_then(|b| u32::try_from(b).ok()).ok_or("clock: the i.MX6 GPT's reg cannot be translated to a 32-bit physical address")? as usize;
    let osc = osc_hz(tree)?.ok_or("clock: the device tree has no /clocks/osc clock-frequency (the 24 MHz crystal the i.MX6 GPT counts)")?;
    let reference_hz = osc / OSC_DIV;
    if reference_hz == 0 {
        return Err("clock: /clocks/osc's clock-frequency is below 8 Hz");
    }
    // imx6dl_gpt_setup_tctl: stop, crystal / 8 through the 24 MHz prescaler, free-running.
    write32(gpt + MXC_TCTL, 0);
    write32(gpt + MXC_TPRER, 7 << V2_TIMER_PRESCALER_24M_SHIFT);
    write32(gpt + MXC_TCTL, V2_TCTL_FRR | V2_TCTL_WAITEN | MXC_TCTL_TEN | V2_TCTL_CLK_OSC_DIV8 | V2_TCTL_24MEN);
    let cnt = || read32(gpt + V2_TCN);
    // Start on a reference edge, read the global timer at once; stop on the edge MEASURE_TICKS
    // later.
    let wait_change = |from: u32| -> Result<u32, &'static str> {
        for _ in 0..STALL_POLLS {
            let now = cnt();
            if now != from {
                return Ok(now);
            }
        }
        Err("clock: the i.MX6 GPT does not count (crystal / 8 selected): the global timer cannot be measured")
    };
    let r = (|| {
        let t0 = wait_change(cnt())?;
        let g0 = gt_read();
        let mut t1 = t0;
        while t1.wrapping_sub(t0) < MEASURE_TICKS {
            t1 = wait_change(t1)?;
        }
        let g1 = gt_read();
        Ok((g1.wrapping_sub(g0), t1.wrapping_sub(t0)))
    })();
    write32(gpt + MXC_TCTL, 0);
    let (gt_ticks, ref_ticks) = r?;
    if gt_ticks == 0 {
        return Err("clock: the Cortex-A9 global timer did not move while the reference counted");
    }
    let rate_hz = (u128::from(gt_ticks) * u128::from(reference_hz) / u128::from(ref_ticks)) as u64;
    kernel::clock::set_frequency(rate_hz);
    Ok(Some(Calibration { rate_hz, reference: node.path, reference_hz, ticks: (gt_ticks, ref_ticks) }))
}

/// The global timer's control register (prescaler in [15:8]), for the log.
pub fn gt_control() -> Option<u32> {
    let base = GT_BASE.load(Ordering::Relaxed);
    (base != 0).then(|| read32(base as usize + GT_CONTROL))
}

/// `/clocks/osc`'s `clock-frequency`, the node Linux's i.MX clock driver takes by that path.
fn osc_hz(tree: &devicetree::DeviceTree<'_>) -> Result<Option<u64>, &'static str> {
    let mut hz = None;
    tree.walk(&mut |n| {
        if n.path == "/clocks/osc" {
            hz = n.prop("clock-frequency")?.and_then(|v| <[u8; 4]>::try_from(v).ok()).map(|v| u64::from(u32::from_be_bytes(v)));
        }
        Ok(())
    })
    .map_err(|_| "clock: the device tree could not be walked for /clocks/osc")?;
    Ok(hz)
}

/// Nanoseconds on the boot clock, or `None` while it has no rate.
pub fn now_ns() -> Option<u64> {
    kernel::clock::Delay::new().map(|_| kernel::clock::now_ns())
}
