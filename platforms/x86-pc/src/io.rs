//! Port I/O: the 16550 register block on an I/O port base, the console hook the logger uses, and
//! QEMU's `isa-debug-exit` device that ends a boot with a status.
//!
//! `isa-debug-exit` (iobase 0xf4, iosize 4) makes QEMU exit with `(value << 1) | 1` for a value
//! written to its port, so status 0 is impossible: [`EXIT_SUCCESS`] and [`EXIT_FAILURE`] are the
//! two values this firmware writes, and the host maps the statuses they give
//! (`2 * 0x10 + 1 = 33` and `2 * 0x11 + 1 = 35`) back. When the device is absent the write does
//! nothing and the CPU halts instead.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU16, Ordering};

use uart16550::{Register, Uart16550, Uart16550Io};

/// The I/O port of QEMU's `isa-debug-exit` device.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;
/// Value written for a successful boot (QEMU status 33).
pub const EXIT_SUCCESS: u32 = 0x10;
/// Value written for a failed boot (QEMU status 35).
pub const EXIT_FAILURE: u32 = 0x11;

/// A 16550 register block at an I/O port base (COM1 is 0x3f8).
#[derive(Debug, Clone, Copy)]
pub struct PortIo {
    base: u16,
}

impl PortIo {
    /// The register block at `base`.
    ///
    /// # Safety
    /// Ports `base..base + 8` must be a 16550-compatible UART that nothing else drives.
    pub const unsafe fn new(base: u16) -> Self {
        Self { base }
    }
}

impl Uart16550Io for PortIo {
    fn read(&mut self, reg: Register) -> u8 {
        // SAFETY: `new`'s contract makes `base + reg` a UART register; reads have no effect on
        // memory.
        unsafe { x86::io::inb(self.base + u16::from(reg.offset())) }
    }

    fn write(&mut self, reg: Register, value: u8) {
        // SAFETY: as in `read`; writing a UART register has no effect on memory.
        unsafe { x86::io::outb(self.base + u16::from(reg.offset()), value) }
    }
}

/// The console port chosen by the board; 0 until [`init_console`] runs.
static CONSOLE_PORT: AtomicU16 = AtomicU16::new(0);

/// Programs the UART at `port` (115200 8N1) and makes it the console.
///
/// # Safety
/// As [`PortIo::new`].
pub unsafe fn init_console(port: u16) {
    // SAFETY: forwarded from the caller.
    let mut uart = Uart16550::new(unsafe { PortIo::new(port) });
    // Divisor 1 = 115200 baud. A failed init (no UART answering) leaves the console silent;
    // the boot goes on and the exit status still tells the host the result.
    let _ = uart.init(1);
    CONSOLE_PORT.store(port, Ordering::Release);
}

/// The logger's console hook: writes every byte, waiting for the transmitter.
pub fn console_write(bytes: &[u8]) {
    let port = CONSOLE_PORT.load(Ordering::Acquire);
    if port == 0 {
        return;
    }
    // SAFETY: `port` was handed to `init_console`, whose contract covers it.
    let mut uart = Uart16550::new(unsafe { PortIo::new(port) });
    // The only error is the driver's bounded wait running out; there is nowhere left to report
    // it, so the rest of the bytes are dropped rather than hanging the machine.
    let _ = embedded_io::Write::write_all(&mut uart, bytes);
}

/// Ends the machine: QEMU exits with the status for `code`; without the exit device, halts.
pub fn exit(code: kernel::ExitCode) -> ! {
    let value = match code {
        kernel::ExitCode::Success => EXIT_SUCCESS,
        kernel::ExitCode::Failure => EXIT_FAILURE,
    };
    kernel::log_exit(code);
    // SAFETY: writing the debug-exit port either ends QEMU or, with no device there, is ignored.
    unsafe { x86::io::outl(DEBUG_EXIT_PORT, value) };
    crate::cpu::halt_forever()
}
