//! The boot clock: time since the firmware's first instruction, from the CPU's own counter
//! (`CNTVCT_EL0` at `CNTFRQ_EL0` on ARM, the TSC on x86 once it is calibrated against the PIT).
//!
//! The platform calls [`init`] with the counter's reading at the first instruction (its entry
//! code stores it before anything else runs) and, where the frequency is known from the start,
//! that frequency; x86 learns it later and calls [`set_frequency`]. Until then [`now_ns`] is 0,
//! which is what Linux's log shows too before its clock runs (`[    0.000000]`).
//!
//! Every log frame carries [`now_us`] as its defmt timestamp; `cargo xtask run` prints it the
//! way Linux's log does. The counter is read on whichever CPU logs: ARM's generic timer, the
//! Cortex-A9's global timer (one counter for all cores) and QEMU's TSC are synchronised across
//! CPUs.

use core::sync::atomic::{AtomicU64, Ordering};

/// The counter's reading at the first instruction.
static START: AtomicU64 = AtomicU64::new(0);
/// Counter ticks per second; 0 until known.
static FREQ_HZ: AtomicU64 = AtomicU64::new(0);
/// Reads the counter; unset until [`init`].
static READ: spin::Once<fn() -> u64> = spin::Once::new();

/// Starts the clock: `read` returns the counter, `start` is its value at the first
/// instruction, `freq_hz` its frequency (0 when not known yet).
pub fn init(read: fn() -> u64, start: u64, freq_hz: u64) {
    START.store(start, Ordering::Relaxed);
    FREQ_HZ.store(freq_hz, Ordering::Relaxed);
    READ.call_once(|| read);
}

/// Sets the counter's frequency once it is measured (x86: after calibrating the TSC).
pub fn set_frequency(freq_hz: u64) {
    FREQ_HZ.store(freq_hz, Ordering::Release);
}

fn read() -> Option<u64> {
    READ.get().map(|f| f())
}

/// Nanoseconds since the first instruction; 0 while the frequency is unknown.
pub fn now_ns() -> u64 {
    let freq = FREQ_HZ.load(Ordering::Acquire);
    match (read(), freq) {
        (Some(now), f) if f != 0 => ticks_to_ns(now.wrapping_sub(START.load(Ordering::Relaxed)), f),
        _ => 0,
    }
}

/// Microseconds since the first instruction (the log's timestamp).
pub fn now_us() -> u64 {
    now_ns() / 1000
}

/// Busy-waits on the boot clock: `embedded-hal`'s `DelayNs` for drivers and applications, on
/// any CPU. Exists once the clock runs ([`Delay::new`] is `None` before: on x86, until the TSC
/// is calibrated).
#[derive(Clone, Copy, Debug)]
pub struct Delay(());

impl Delay {
    /// A delay source, or `None` while the clock's frequency is unknown.
    pub fn new() -> Option<Self> {
        (READ.get().is_some() && FREQ_HZ.load(Ordering::Acquire) != 0).then_some(Self(()))
    }
}

impl embedded_hal::delay::DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        let end = now_ns().saturating_add(u64::from(ns));
        while now_ns() < end {
            core::hint::spin_loop();
        }
    }
}

/// `ticks` of a `freq_hz` counter in nanoseconds, without overflowing for any plausible uptime.
pub fn ticks_to_ns(ticks: u64, freq_hz: u64) -> u64 {
    (u128::from(ticks) * 1_000_000_000 / u128::from(freq_hz.max(1))) as u64
}

defmt::timestamp!("{=u64:us}", now_us());

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::delay::DelayNs;

    /// A counter that moves 1000 ticks at every read (1 µs at 1 GHz).
    static FAKE: AtomicU64 = AtomicU64::new(0);
    fn fake_counter() -> u64 {
        FAKE.fetch_add(1000, Ordering::Relaxed) + 1000
    }

    #[test]
    fn the_clock_counts_from_the_first_instruction_and_delays_by_it() {
        assert!(Delay::new().is_none(), "no delay before the clock runs");
        init(fake_counter, 0, 0);
        assert_eq!(now_ns(), 0, "0 while the frequency is unknown, as Linux's early stamps");
        assert!(Delay::new().is_none());
        set_frequency(1_000_000_000);
        let t0 = now_ns();
        assert!(t0 > 0);
        let mut d = Delay::new().unwrap();
        d.delay_us(50);
        let waited = now_ns() - t0;
        // At least the delay; the fake counter moves 1 µs per read, so at most a few reads more.
        assert!((50_000..60_000).contains(&waited), "{waited}");
        assert!(now_us() >= 50);
    }

    #[test]
    fn ticks_convert_at_any_frequency() {
        assert_eq!(ticks_to_ns(62_500_000, 62_500_000), 1_000_000_000);
        assert_eq!(ticks_to_ns(1, 1_000_000_000), 1);
        // A 3 GHz TSC after a year: no overflow.
        let year = 365 * 24 * 3600 * 3_000_000_000u64;
        assert_eq!(ticks_to_ns(year, 3_000_000_000), 365 * 24 * 3600 * 1_000_000_000);
        assert_eq!(ticks_to_ns(5, 0), 5_000_000_000);
    }
}
