//! The defmt global logger: one frame at a time, from any CPU, over the platform's console.
//!
//! The platform calls [`install`] once its console works, handing over plain function hooks
//! (console write, interrupt save/restore, CPU id). Until then log calls are dropped.
//!
//! Invariants:
//! - A frame is written by exactly one CPU: `OWNER` holds `cpu_id + 1` while a frame is open,
//!   and interrupts on the owning CPU are masked for that time, so an interrupt handler cannot
//!   interleave its bytes with a frame it interrupted.
//! - The only way back into the logger on a CPU that owns it is a synchronous exception or a
//!   panic raised while logging. That path never returns, so the logger writes a frame
//!   delimiter (`0x00`) to close the broken frame and lets the new frame through; the host
//!   decoder resynchronises on the delimiter and only the interrupted frame is lost.
//! - [`install`] writes a lone delimiter first, so bytes the firmware's predecessor (BIOS,
//!   boot loader) left on the line cannot corrupt the first frame.
//! - Every byte the logger sends goes through [`send`], which counts it into a running CRC-32;
//!   every frame started is counted. [`stream_check`] reads both, so the run's last frame (see
//!   `crate::log_exit`) can vouch for everything before it: the host recomputes the CRC over
//!   what it received, and a success is only believed with a matching check.
#![allow(unsafe_code)] // the `defmt::Logger` contract is an unsafe trait; fenced to this file.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// What the logger needs from the platform.
#[derive(Clone, Copy, Debug)]
pub struct Hooks {
    /// Writes bytes to the console, blocking until they are accepted.
    pub write: fn(&[u8]),
    /// Masks interrupts on this CPU and returns the previous state.
    pub irq_save: fn() -> usize,
    /// Restores the state [`Hooks::irq_save`] returned.
    pub irq_restore: fn(usize),
    /// The calling CPU's logical id (0 for the boot CPU).
    pub cpu_id: fn() -> usize,
}

static HOOKS: spin::Once<Hooks> = spin::Once::new();
/// `cpu_id + 1` of the CPU writing a frame, 0 when free.
static OWNER: AtomicUsize = AtomicUsize::new(0);
/// Interrupt state saved by the owner in `acquire`, restored in `release`.
static SAVED_IRQ: AtomicUsize = AtomicUsize::new(0);
/// Frames started since [`install`] (an interrupted frame counts: the host sees it as malformed).
static FRAMES: AtomicU32 = AtomicU32::new(0);
/// Bytes sent since [`install`], its delimiter included (wrapping).
static BYTES: AtomicU32 = AtomicU32::new(0);
/// CRC-32 (IEEE) of those bytes.
static CRC: AtomicU32 = AtomicU32::new(0);

/// Sends `bytes` to the console, counting them into [`BYTES`] and [`CRC`]. Only called by the
/// CPU that owns the logger (or by [`install`] before any frame), so plain loads and stores
/// of the counters cannot race.
fn send(bytes: &[u8]) {
    let Some(hooks) = HOOKS.get() else { return };
    let mut crc = crc32fast::Hasher::new_with_initial(CRC.load(Ordering::Relaxed));
    crc.update(bytes);
    CRC.store(crc.finalize(), Ordering::Relaxed);
    BYTES.store(BYTES.load(Ordering::Relaxed).wrapping_add(bytes.len() as u32), Ordering::Relaxed);
    (hooks.write)(bytes);
}

/// What the logger has sent so far: frames started, bytes (wrapping at 2^32) and their CRC-32.
/// Read it just before logging the frame that reports it; the values cover every byte before
/// that frame.
pub fn stream_check() -> (u32, u32, u32) {
    (FRAMES.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed), CRC.load(Ordering::Relaxed))
}

struct EncoderCell(UnsafeCell<defmt::Encoder>);
// SAFETY: the encoder is only touched between `acquire` and `release`, by the CPU that holds
// `OWNER`; no two CPUs can hold it at once.
unsafe impl Sync for EncoderCell {}
static ENCODER: EncoderCell = EncoderCell(UnsafeCell::new(defmt::Encoder::new()));

/// Starts logging over the platform's console. Later calls are ignored.
pub fn install(hooks: Hooks) {
    let mut first = false;
    HOOKS.call_once(|| {
        first = true;
        hooks
    });
    if first {
        send(&[0]);
    }
}

/// Whether a console has been installed.
pub fn installed() -> bool {
    HOOKS.get().is_some()
}

#[defmt::global_logger]
struct Logger;

// SAFETY: `acquire`/`release` bracket every frame with the `OWNER` lock (interrupts masked on
// the owner), which is what the trait requires; `write`/`flush` are only called in between.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        let Some(hooks) = HOOKS.get() else { return };
        let irq = (hooks.irq_save)();
        let me = (hooks.cpu_id)() + 1;
        loop {
            match OWNER.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break,
                Err(owner) if owner == me => {
                    // Re-entered from an exception or panic raised mid-frame on this CPU.
                    send(&[0]);
                    break;
                }
                Err(_) => core::hint::spin_loop(),
            }
        }
        SAVED_IRQ.store(irq, Ordering::Relaxed);
        FRAMES.store(FRAMES.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        // SAFETY: this CPU holds `OWNER` (see the type's invariant).
        unsafe { (*ENCODER.0.get()).start_frame(send) }
    }

    unsafe fn flush() {}

    unsafe fn release() {
        let Some(hooks) = HOOKS.get() else { return };
        // SAFETY: the caller holds the logger (trait contract), so this CPU owns `OWNER`.
        unsafe { (*ENCODER.0.get()).end_frame(send) }
        let irq = SAVED_IRQ.load(Ordering::Relaxed);
        OWNER.store(0, Ordering::Release);
        (hooks.irq_restore)(irq);
    }

    unsafe fn write(bytes: &[u8]) {
        if HOOKS.get().is_none() {
            return;
        }
        // SAFETY: the caller holds the logger (trait contract), so this CPU owns `OWNER`.
        unsafe { (*ENCODER.0.get()).write(bytes, send) }
    }
}
