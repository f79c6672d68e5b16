//! The console UART's register block at a physical address, and the logger's console hook.
//!
//! The platform drives the PL011 (`arm,pl011`) the device tree names, with `drivers/pl011`
//! through [`Mmio`], the one volatile implementation of its register-access trait. Until
//! `paging_init` the MMU is off and every access goes to the physical address; `paging_init`
//! then maps the UART's page as device memory at the same address, so the block stays where the
//! driver looks. The console is taken over as the boot loader left it (baud divisors kept), as
//! Linux's earlycon does, unless the node gives `current-speed` and `clock-frequency`.
#![allow(unsafe_code)]

use pl011::{Pl011, Pl011Regs};

/// A UART register block at a physical address: volatile accesses at `base + offset`.
#[derive(Debug, Clone, Copy)]
pub struct Mmio {
    base: usize,
}

impl Mmio {
    /// The block at `base`.
    ///
    /// # Safety
    /// The 4 KiB from `base` must be a PL011 that nothing else drives, reachable at this address
    /// (MMU off, or mapped as device memory at the same address).
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }
}

impl Pl011Regs for Mmio {
    fn read32(&mut self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract; offsets come from the driver's register map, inside the
        // window, and 32-bit registers are 4-byte aligned.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }
    fn write32(&mut self, offset: usize, value: u32) {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }
}

/// The device-tree `compatible` strings the console driver serves.
pub const COMPATIBLES: &[&str] = &["arm,pl011"];

/// Bytes of register window the PL011 uses from its base: what is mapped as device memory.
pub const WINDOW: u64 = 0x1000;

/// How the console was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// Taken over as the boot loader left it.
    TakenOver,
    /// Programmed to `current-speed`.
    Programmed(u32),
    /// `current-speed` was given but could not be applied: taken over instead.
    SpeedRefused(u32),
}

static CONSOLE: spin::Mutex<Option<Pl011<Mmio>>> = spin::Mutex::new(None);

/// Starts the PL011 at `base` and makes it the console.
///
/// # Safety
/// As [`Mmio::new`].
pub unsafe fn init_console(base: usize, clock_hz: Option<u32>, baud: Option<u32>) -> Started {
    // SAFETY: forwarded from the caller.
    let mut u = Pl011::new(unsafe { Mmio::new(base) });
    // Without a clock, init keeps the firmware's baud divisors; 115200 is then unused.
    let r = u.init(clock_hz.filter(|_| baud.is_some()), baud.unwrap_or(115_200));
    let started = match (baud, r) {
        (None, _) => Started::TakenOver,
        (Some(b), Ok(())) => Started::Programmed(b),
        (Some(b), Err(_)) => {
            let _ = u.init(None, 115_200);
            Started::SpeedRefused(b)
        }
    };
    *CONSOLE.lock() = Some(u);
    started
}

/// The logger's console hook. The logger lets one CPU write at a time; `try_lock` only fails
/// when a CPU stopped inside this function (a fault in the driver), and then the bytes are
/// dropped rather than deadlock.
pub fn console_write(bytes: &[u8]) {
    let Some(mut guard) = CONSOLE.try_lock() else { return };
    if let Some(u) = guard.as_mut() {
        // The only errors are the bounded waits running out; nothing is left to report them to.
        let _ = embedded_io::Write::write_all(u, bytes);
    }
}
