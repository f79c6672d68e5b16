//! Memory-mapped I/O: the PL011 register block at a physical address and the console hook.
//!
//! Until the MMU is on every access is to Device-nGnRnE memory at its physical address, so the
//! register block is a plain address with volatile 32-bit accesses.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicUsize, Ordering};

use pl011::{Pl011, Pl011Regs};

/// A PL011 register block at a physical address.
#[derive(Debug, Clone, Copy)]
pub struct Pl011Mmio {
    base: usize,
}

impl Pl011Mmio {
    /// The block at `base`.
    ///
    /// # Safety
    /// `base..base + 0x1000` must be a PL011 that nothing else drives, reachable at this
    /// address (MMU off, or mapped as device memory at the same address).
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }
}

impl Pl011Regs for Pl011Mmio {
    fn read32(&mut self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract; offsets come from the driver's register map (< 0x1000).
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }
}

static CONSOLE: AtomicUsize = AtomicUsize::new(0);

/// Programs the PL011 at `base` (keeping the firmware's baud divisors) and makes it the console.
///
/// # Safety
/// As [`Pl011Mmio::new`].
pub unsafe fn init_console(base: usize) {
    // SAFETY: forwarded from the caller.
    let mut uart = Pl011::new(unsafe { Pl011Mmio::new(base) });
    // An init error means a bad baud request, impossible with the clock unknown (None).
    let _ = uart.init(None, 115_200);
    CONSOLE.store(base, Ordering::Release);
}

/// The logger's console hook.
pub fn console_write(bytes: &[u8]) {
    let base = CONSOLE.load(Ordering::Acquire);
    if base == 0 {
        return;
    }
    // SAFETY: `base` was handed to `init_console`, whose contract covers it.
    let mut uart = Pl011::new(unsafe { Pl011Mmio::new(base) });
    // The only error is the bounded wait running out; nothing is left to report it to.
    let _ = embedded_io::Write::write_all(&mut uart, bytes);
}
