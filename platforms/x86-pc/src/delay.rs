//! Calibrated busy-waits on the PC: the 8254 PIT's channel 2 as a one-shot timer, and the TSC
//! calibrated against it (Linux `pit_calibrate_tsc` / `native_calibrate_tsc`'s PIT path).
//!
//! Channel 2's gate is bit 0 of port 0x61 and its output reads back as bit 5 (the speaker data
//! bit 1 stays off). Mode 0 ("interrupt on terminal count") drives OUT low when the count is
//! written and high when it reaches zero, so a wait is: gate on, program the count, poll bit 5.
//! The PIT runs at 1.193182 MHz; one count is at most 65535 ticks (about 54.9 ms), longer
//! waits are chunked. Only one CPU may use the PIT at a time: SMP bring-up runs on the boot CPU
//! alone. [`PitDelay`] implements `embedded_hal::delay::DelayNs`.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering};

/// PIT input clock (Linux `PIT_TICK_RATE`).
pub const PIT_TICK_RATE: u64 = 1_193_182;
const PIT_CH2: u16 = 0x42;
const PIT_MODE: u16 = 0x43;
const PORT_B: u16 = 0x61;
/// Polls of port 0x61 before a wait is given up (a machine without a PIT): far more than the
/// 54.9 ms a full count takes at any plausible port-access speed.
const MAX_POLLS: u32 = 50_000_000;

/// Waits `ticks` PIT ticks (1..=65535) with channel 2. Returns false when OUT2 never rose.
fn pit_wait_ticks(ticks: u16) -> bool {
    let ticks = ticks.max(1);
    // SAFETY: ports 0x42, 0x43 and 0x61 are the PC's PIT channel 2 and its gate; channel 2
    // drives only the speaker, which stays off (bit 1 clear). No memory is touched.
    unsafe {
        x86::io::outb(PORT_B, (x86::io::inb(PORT_B) & !0x02) | 0x01);
        x86::io::outb(PIT_MODE, 0xB0); // channel 2, lobyte/hibyte, mode 0, binary
        x86::io::outb(PIT_CH2, ticks as u8);
        x86::io::outb(PIT_CH2, (ticks >> 8) as u8);
        for _ in 0..MAX_POLLS {
            if x86::io::inb(PORT_B) & 0x20 != 0 {
                return true;
            }
        }
    }
    false
}

/// Busy-waits with the PIT (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct PitDelay;

impl embedded_hal::delay::DelayNs for PitDelay {
    fn delay_ns(&mut self, ns: u32) {
        let mut ticks = (u64::from(ns) * PIT_TICK_RATE).div_ceil(1_000_000_000);
        while ticks > 0 {
            let now = ticks.min(0xFFFF);
            if !pit_wait_ticks(now as u16) {
                return;
            }
            ticks -= now;
        }
    }
}

/// TSC ticks per millisecond, 0 until [`calibrate_tsc`] ran.
static TSC_PER_MS: AtomicU32 = AtomicU32::new(0);

extern "C" {
    /// The TSC at `_start`'s first instructions (boot.rs).
    static boot_tsc: u64;
}

/// The TSC when the firmware started.
pub fn tsc_at_start() -> u64 {
    // SAFETY: `boot_tsc` is an 8-byte-aligned .data word that `_start` wrote once before any
    // Rust ran; nothing writes it afterwards.
    unsafe { core::ptr::read_volatile(&raw const boot_tsc) }
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the counter (CR4.TSD is clear at ring 0 anyway).
    unsafe { core::arch::x86::_rdtsc() }
}

/// Measures the TSC over 10 ms of PIT channel 2 (Linux's `CAL_MS` window) and remembers the
/// rate. Returns the TSC frequency in kHz, or `None` when the PIT did not answer.
pub fn calibrate_tsc() -> Option<u32> {
    const CAL_MS: u64 = 10;
    let latch = (PIT_TICK_RATE * CAL_MS / 1000) as u16;
    let t0 = rdtsc();
    if !pit_wait_ticks(latch) {
        return None;
    }
    let per_ms = (rdtsc().wrapping_sub(t0) / CAL_MS) as u32;
    TSC_PER_MS.store(per_ms, Ordering::Relaxed);
    if per_ms != 0 {
        kernel::clock::set_frequency(u64::from(per_ms) * 1000);
    }
    (per_ms != 0).then_some(per_ms)
}

/// Microseconds between two TSC readings, once calibrated (0 before).
pub fn tsc_delta_us(t0: u64, t1: u64) -> u64 {
    match TSC_PER_MS.load(Ordering::Relaxed) {
        0 => 0,
        per_ms => t1.wrapping_sub(t0) * 1000 / u64::from(per_ms),
    }
}
