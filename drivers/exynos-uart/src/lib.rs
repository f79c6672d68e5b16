//! Polled driver for the Samsung Exynos UART (`samsung,exynos4210-uart`), over `embedded-io`.
//!
//! # Concepts
//!
//! - **Register access is not ours.** The board hands the driver an [`ExynosRegs`] doing 32-bit
//!   volatile accesses at `base + offset` (Exynos4412 UART1 is at 0x1381_0000), or a fake
//!   register block in the tests. This crate contains no `unsafe`.
//! - **FIFO or holding register.** With UFCON.FIFOMODE the transmitter is ready while
//!   UFSTAT.TXFULL is clear and data is waiting while UFSTAT's receive count (or RXFULL) is non-zero;
//!   without it, UTRSTAT.TXFE and RXDR say the same for the single holding register, as Linux's
//!   `s3c24xx_serial_console_txrdy()` and `s3c24xx_serial_rx_fifocnt()` check. Flush waits for
//!   UTRSTAT.TXE (buffer and shifter empty). Every interrupt is masked in UINTM.
//! - **Bounded waits.** Every transmit-side wait polls at most `spin_limit` times and then
//!   returns [`Error::Timeout`]. Reads are the exception: `embedded-io` `Read::read` blocks until
//!   a byte arrives; use [`ExynosUart::try_read_byte`] or `ReadReady` to poll.
//! - **Receive errors.** UERSTAT holds the error status of the character at the top of the
//!   receive FIFO and clears when read; like Linux's `s3c24xx_serial_rx_chars()` it is read
//!   before URXH. A break, framing or parity error drops the character; an overrun (a later
//!   character was lost) is reported first and the good character returned next.
//! - **The baud rate.** `baud = sclk / (16 * (UBRDIV + 1) + UFRACVAL)`. [`baud_divisors`]
//!   computes it as Linux's `s3c24xx_serial_getclk()` / `set_termios()` for parts with a
//!   fractional divider: `div = sclk / baud`, UBRDIV = `div / 16 - 1`, UFRACVAL = `div % 16`.
//!   A console is normally [taken over](ExynosUart::take_over) at the boot loader's rate;
//!   [`ExynosUart::init`] sets one when the device tree gives `current-speed` and the board knows
//!   the `uart` clock rate (named through `clocks` in the Exynos trees), and says
//!   [`Error::NoClock`] otherwise.
//!
//! # Lifecycle
//!
//! [`ExynosUart::new`] touches no register. Then either [`ExynosUart::take_over`] or
//! [`ExynosUart::init`]; [`ExynosUart::init_console`] picks one from the device-tree properties.
//!
//! # Compatible strings
//!
//! [`COMPATIBLES`]: `samsung,exynos4210-uart` (Exynos 4 and 5). The S3C24xx/S3C64xx/S5PV210
//! layouts (other UFSTAT bits, no UFRACVAL), the Apple `apple,s5l-uart` and the Exynos850/gs101
//! variants that need other FIFO sizes or `reg-io-width` are not served.
//!
//! # Reference
//!
//! Samsung *Exynos 4412 SCP User's Manual*, chapter 28 "UART" (28.5 register descriptions,
//! 28.3.9 baud-rate generation with UFRACVAL); Linux `drivers/tty/serial/samsung_tty.c`
//! (`s3c24xx_serial_set_termios()`, `s5pv210_serial_resetport()`,
//! `s3c24xx_serial_console_txrdy()`, `s3c24xx_serial_rx_chars()`) and
//! `include/linux/serial_s3c.h`.

#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

/// The device-tree compatible strings this driver serves.
pub const COMPATIBLES: &[&str] = &["samsung,exynos4210-uart"];

/// 32-bit access to one Exynos UART's register block, provided by the platform or board.
///
/// `offset` is a byte offset from the block's base, one of the constants in [`reg`]. Each call is
/// exactly one volatile bus access, in program order: reads of [`reg::URXH`] pop the receive
/// FIFO and reads of [`reg::UERSTAT`] clear it.
pub trait ExynosRegs {
    /// Reads the 32-bit register at byte `offset`.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes `value` to the 32-bit register at byte `offset`.
    fn write32(&mut self, offset: usize, value: u32);
}

impl<T: ExynosRegs + ?Sized> ExynosRegs for &mut T {
    fn read32(&mut self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&mut self, offset: usize, value: u32) {
        (**self).write32(offset, value)
    }
}

/// Register byte offsets (`include/linux/serial_s3c.h`).
pub mod reg {
    /// Line control: word length, stop bits, parity.
    pub const ULCON: usize = 0x00;
    /// Control: transmit/receive mode, clock select, interrupt types.
    pub const UCON: usize = 0x04;
    /// FIFO control.
    pub const UFCON: usize = 0x08;
    /// Modem control (auto flow control).
    pub const UMCON: usize = 0x0C;
    /// Transmit/receive status.
    pub const UTRSTAT: usize = 0x10;
    /// Receive error status of the character at the top of the FIFO (read clears).
    pub const UERSTAT: usize = 0x14;
    /// FIFO status: counts and full flags.
    pub const UFSTAT: usize = 0x18;
    /// Transmit holding register.
    pub const UTXH: usize = 0x20;
    /// Receive buffer register.
    pub const URXH: usize = 0x24;
    /// Baud rate divisor, integer part.
    pub const UBRDIV: usize = 0x28;
    /// Baud rate divisor, sixteenths (`S3C2443_DIVSLOT`).
    pub const UFRACVAL: usize = 0x2C;
    /// Interrupt pending (write 1 to clear).
    pub const UINTP: usize = 0x30;
    /// Interrupt mask (1 = masked).
    pub const UINTM: usize = 0x38;
}

/// Register bit definitions (Linux `serial_s3c.h` names without the `S3C2410_` prefix).
pub mod bits {
    /// ULCON: 8 data bits; with parity and stop bit fields 0 this is 8N1.
    pub const LCON_CS8: u32 = 0x3;

    /// UCON: receive mode field (bits 1:0).
    pub const UCON_RXMODE_MASK: u32 = 0x3;
    /// UCON: receive mode "interrupt or polling".
    pub const UCON_RXMODE_CPU: u32 = 0x1;
    /// UCON: transmit mode field (bits 3:2).
    pub const UCON_TXMODE_MASK: u32 = 0x3 << 2;
    /// UCON: transmit mode "interrupt or polling".
    pub const UCON_TXMODE_CPU: u32 = 0x1 << 2;
    /// UCON: clock selection (kept as the boot loader set it).
    pub const UCON_CLKMASK: u32 = 1 << 10;

    /// UFCON: FIFOs enabled.
    pub const UFCON_FIFOMODE: u32 = 1 << 0;
    /// UFCON: reset the receive FIFO (self-clearing).
    pub const UFCON_RESETRX: u32 = 1 << 1;
    /// UFCON: reset the transmit FIFO (self-clearing).
    pub const UFCON_RESETTX: u32 = 1 << 2;
    /// UFCON: both resets.
    pub const UFCON_RESETBOTH: u32 = UFCON_RESETRX | UFCON_RESETTX;

    /// UTRSTAT: receive buffer holds data.
    pub const UTRSTAT_RXDR: u32 = 1 << 0;
    /// UTRSTAT: transmit buffer empty.
    pub const UTRSTAT_TXFE: u32 = 1 << 1;
    /// UTRSTAT: transmitter empty (buffer and shift register).
    pub const UTRSTAT_TXE: u32 = 1 << 2;

    /// UERSTAT: overrun.
    pub const UERSTAT_OVERRUN: u32 = 1 << 0;
    /// UERSTAT: parity error.
    pub const UERSTAT_PARITY: u32 = 1 << 1;
    /// UERSTAT: framing error.
    pub const UERSTAT_FRAME: u32 = 1 << 2;
    /// UERSTAT: break.
    pub const UERSTAT_BREAK: u32 = 1 << 3;

    /// UFSTAT: receive FIFO count (bits 7:0).
    pub const UFSTAT_RXMASK: u32 = 0xFF;
    /// UFSTAT: receive FIFO full.
    pub const UFSTAT_RXFULL: u32 = 1 << 8;
    /// UFSTAT: transmit FIFO full.
    pub const UFSTAT_TXFULL: u32 = 1 << 24;

    /// UINTP/UINTM: every source (RXD, ERROR, TXD, MODEM).
    pub const UINT_ALL: u32 = 0xF;
}

use bits::*;

/// Default number of status polls before a transmit-side wait gives up (at least half a second
/// at 50–200 ns per device read).
pub const DEFAULT_SPIN_LIMIT: u32 = 10_000_000;

/// UBRDIV and UFRACVAL for one baud rate: `baud = sclk / (16 * (ubrdiv + 1) + ufracval)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaudDivisors {
    /// UBRDIV: integer divisor - 1.
    pub ubrdiv: u16,
    /// UFRACVAL: sixteenths, 0..=15.
    pub ufracval: u8,
}

impl BaudDivisors {
    /// The rate these divisors give from `sclk_hz` (rounded down).
    pub const fn baud(&self, sclk_hz: u32) -> u32 {
        sclk_hz / (16 * (self.ubrdiv as u32 + 1) + self.ufracval as u32)
    }
}

/// The divisors for `baud` from a UART clock of `sclk_hz`, as Linux computes them for UARTs
/// with a fractional divider (`has_fracval`): `div = sclk_hz / baud` (truncated), UBRDIV =
/// `div / 16 - 1`, UFRACVAL = `div % 16`. `None` if `baud` is 0, `div` is below 16 or UBRDIV
/// does not fit 16 bits, or the result is 3 % or more off.
pub const fn baud_divisors(sclk_hz: u32, baud: u32) -> Option<BaudDivisors> {
    if baud == 0 {
        return None;
    }
    let div = sclk_hz / baud;
    if div < 16 || div / 16 - 1 > u16::MAX as u32 {
        return None;
    }
    let divisors = BaudDivisors {
        ubrdiv: (div / 16 - 1) as u16,
        ufracval: (div % 16) as u8,
    };
    let actual = divisors.baud(sclk_hz);
    if actual.abs_diff(baud) as u64 * 100 >= 3 * baud as u64 {
        return None;
    }
    Some(divisors)
}

/// What went wrong on the line or in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The transmitter did not accept data or drain within the spin limit.
    Timeout,
    /// The receive FIFO was full and a later character was lost (UERSTAT.OVERRUN).
    Overrun,
    /// The line was held low for longer than a character (UERSTAT.BREAK); the byte was dropped.
    Break,
    /// A received character had a bad parity bit (UERSTAT.PARITY); it was dropped.
    Parity,
    /// A received character had no valid stop bit (UERSTAT.FRAME); it was dropped.
    Framing,
    /// A speed was asked for but the UART clock is unknown, so no divisor can be computed; take
    /// the console over at the boot loader's speed instead.
    NoClock,
    /// The clock cannot produce the requested baud rate (see [`baud_divisors`]).
    InvalidBaud,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::Timeout => "UART transmitter timed out",
            Error::Overrun => "UART receive overrun",
            Error::Break => "UART break received",
            Error::Parity => "UART parity error",
            Error::Framing => "UART framing error",
            Error::NoClock => {
                "UART speed requested but its clock frequency is unknown: cannot compute the divisor"
            }
            Error::InvalidBaud => "baud rate out of range for the UART clock",
        };
        f.write_str(s)
    }
}

impl core::error::Error for Error {}

impl embedded_io::Error for Error {
    /// Parity and framing errors are corrupt input ([`InvalidData`]); an overrun or a break has
    /// no closer `ErrorKind` than [`Other`].
    ///
    /// [`InvalidData`]: embedded_io::ErrorKind::InvalidData
    /// [`Other`]: embedded_io::ErrorKind::Other
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind;
        match self {
            Error::Timeout => ErrorKind::TimedOut,
            Error::Parity | Error::Framing => ErrorKind::InvalidData,
            Error::Overrun | Error::Break => ErrorKind::Other,
            Error::NoClock | Error::InvalidBaud => ErrorKind::InvalidInput,
        }
    }
}

/// A polled Exynos UART on the register block `R`.
pub struct ExynosUart<R> {
    regs: R,
    spin_limit: u32,
    /// Whether UFCON.FIFOMODE is on, read by [`Self::take_over`] / set by [`Self::init`].
    fifo_mode: bool,
    /// A good byte that came with an overrun flag; returned after the [`Error::Overrun`].
    pending_byte: Option<u8>,
    /// A receive error found while `Read::read` already had bytes to return.
    deferred_error: Option<Error>,
}

impl<R: ExynosRegs> ExynosUart<R> {
    /// Wraps `regs` with the [`DEFAULT_SPIN_LIMIT`]. Touches no register.
    pub fn new(regs: R) -> Self {
        Self::with_spin_limit(regs, DEFAULT_SPIN_LIMIT)
    }

    /// Wraps `regs`; transmit-side waits give up after `spin_limit` polls (a limit of 0 still
    /// polls once). Touches no register.
    pub fn with_spin_limit(regs: R, spin_limit: u32) -> Self {
        Self {
            regs,
            spin_limit: spin_limit.max(1),
            fifo_mode: false,
            pending_byte: None,
            deferred_error: None,
        }
    }

    /// Gives the register block back.
    pub fn into_inner(self) -> R {
        self.regs
    }

    /// The transmit-wait bound, in status polls.
    pub fn spin_limit(&self) -> u32 {
        self.spin_limit
    }

    /// Whether the FIFOs are in use (UFCON.FIFOMODE as found or set).
    pub fn fifo_mode(&self) -> bool {
        self.fifo_mode
    }

    /// Takes the UART over as the boot loader left it: ULCON, UBRDIV, UFRACVAL and UFCON are
    /// kept (UFCON only read, to learn whether the FIFOs are on); every interrupt is masked and
    /// its pending bit cleared, and a transmit or receive mode left disabled is set to
    /// "interrupt or polling" (UCON written only then). Nothing queued is flushed.
    pub fn take_over(&mut self) {
        self.regs.write32(reg::UINTM, UINT_ALL);
        self.regs.write32(reg::UINTP, UINT_ALL);
        let ucon = self.regs.read32(reg::UCON);
        let mut wanted = ucon;
        if ucon & UCON_TXMODE_MASK == 0 {
            wanted |= UCON_TXMODE_CPU;
        }
        if ucon & UCON_RXMODE_MASK == 0 {
            wanted |= UCON_RXMODE_CPU;
        }
        if wanted != ucon {
            self.regs.write32(reg::UCON, wanted);
        }
        self.fifo_mode = self.regs.read32(reg::UFCON) & UFCON_FIFOMODE != 0;
        self.pending_byte = None;
        self.deferred_error = None;
    }

    /// Reprograms the UART for 8N1 at `baud` from a UART clock of `sclk_hz`, FIFOs on, every
    /// interrupt masked.
    ///
    /// Sequence (Linux `s5pv210_serial_resetport()` and `s3c24xx_serial_set_termios()`):
    /// 1. wait (bounded) for UTRSTAT.TXE so queued output is not cut off; a timeout is not an
    ///    error, the FIFO reset below discards what is left;
    /// 2. UINTM = all, UINTP = all: no interrupts, none pending;
    /// 3. UFCON = FIFOMODE | RESETBOTH, wait (bounded) for the resets to self-clear, then
    ///    UFCON = FIFOMODE (trigger levels 0);
    /// 4. ULCON = 8N1; UBRDIV, UFRACVAL; UMCON = 0 (no auto flow control);
    /// 5. UCON = clock selection as it was | TX and RX in "interrupt or polling" mode.
    ///
    /// # Errors
    ///
    /// [`Error::NoClock`] if `sclk_hz` is `None`, [`Error::InvalidBaud`] if it cannot make
    /// `baud`; both are checked before any register is touched.
    pub fn init(&mut self, sclk_hz: Option<u32>, baud: u32) -> Result<(), Error> {
        let sclk_hz = sclk_hz.ok_or(Error::NoClock)?;
        let divisors = baud_divisors(sclk_hz, baud).ok_or(Error::InvalidBaud)?;

        // Ignoring a timeout is deliberate, see step 1.
        let _ = self.flush_tx();
        self.regs.write32(reg::UINTM, UINT_ALL);
        self.regs.write32(reg::UINTP, UINT_ALL);
        self.regs
            .write32(reg::UFCON, UFCON_FIFOMODE | UFCON_RESETBOTH);
        for _ in 0..self.spin_limit {
            if self.regs.read32(reg::UFCON) & UFCON_RESETBOTH == 0 {
                break;
            }
            core::hint::spin_loop();
        }
        self.regs.write32(reg::UFCON, UFCON_FIFOMODE);
        self.regs.write32(reg::ULCON, LCON_CS8);
        self.regs.write32(reg::UBRDIV, u32::from(divisors.ubrdiv));
        self.regs
            .write32(reg::UFRACVAL, u32::from(divisors.ufracval));
        self.regs.write32(reg::UMCON, 0);
        let clock_select = self.regs.read32(reg::UCON) & UCON_CLKMASK;
        self.regs
            .write32(reg::UCON, clock_select | UCON_TXMODE_CPU | UCON_RXMODE_CPU);
        self.fifo_mode = true;
        self.pending_byte = None;
        self.deferred_error = None;
        Ok(())
    }

    /// Brings the console up as the device tree describes it: without `current-speed`
    /// (`baud = None`) it is [taken over](Self::take_over), with one it is [reprogrammed](Self::init)
    /// from the UART clock `sclk_hz`.
    ///
    /// # Errors
    ///
    /// As [`Self::init`]: [`Error::NoClock`] when a speed comes without a clock.
    pub fn init_console(&mut self, sclk_hz: Option<u32>, baud: Option<u32>) -> Result<(), Error> {
        match baud {
            None => {
                self.take_over();
                Ok(())
            }
            Some(baud) => self.init(sclk_hz, baud),
        }
    }

    /// Whether the transmitter can take a byte now (one status read).
    fn tx_ready(&mut self) -> bool {
        if self.fifo_mode {
            self.regs.read32(reg::UFSTAT) & UFSTAT_TXFULL == 0
        } else {
            self.regs.read32(reg::UTRSTAT) & UTRSTAT_TXFE != 0
        }
    }

    /// Whether a received byte is waiting (one status read).
    fn rx_ready(&mut self) -> bool {
        if self.fifo_mode {
            self.regs.read32(reg::UFSTAT) & (UFSTAT_RXFULL | UFSTAT_RXMASK) != 0
        } else {
            self.regs.read32(reg::UTRSTAT) & UTRSTAT_RXDR != 0
        }
    }

    /// Waits (bounded) for the transmitter to take a byte.
    fn wait_tx_ready(&mut self) -> Result<(), Error> {
        for _ in 0..self.spin_limit {
            if self.tx_ready() {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout)
    }

    /// Writes `byte` to UTXH if the transmitter has room; returns whether it did.
    pub fn try_write_byte(&mut self, byte: u8) -> bool {
        if !self.tx_ready() {
            return false;
        }
        self.regs.write32(reg::UTXH, u32::from(byte));
        true
    }

    /// Waits (bounded) for room in the transmitter, then writes `byte`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if there was no room for `spin_limit` polls; nothing was written.
    pub fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        self.wait_tx_ready()?;
        self.regs.write32(reg::UTXH, u32::from(byte));
        Ok(())
    }

    /// Takes one received byte, if there is one.
    ///
    /// # Errors
    ///
    /// [`Error::Break`], [`Error::Framing`] or [`Error::Parity`] (in that priority) when UERSTAT
    /// flags the character; it is dropped. [`Error::Overrun`] when only OVERRUN is set: the
    /// character itself is good and is returned by the next call.
    pub fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        if let Some(byte) = self.pending_byte.take() {
            return Ok(Some(byte));
        }
        if !self.rx_ready() {
            return Ok(None);
        }
        let uerstat = self.regs.read32(reg::UERSTAT);
        let byte = self.regs.read32(reg::URXH) as u8;
        if uerstat & UERSTAT_BREAK != 0 {
            return Err(Error::Break);
        }
        if uerstat & UERSTAT_FRAME != 0 {
            return Err(Error::Framing);
        }
        if uerstat & UERSTAT_PARITY != 0 {
            return Err(Error::Parity);
        }
        if uerstat & UERSTAT_OVERRUN != 0 {
            self.pending_byte = Some(byte);
            return Err(Error::Overrun);
        }
        Ok(Some(byte))
    }

    /// Waits (bounded) for UTRSTAT.TXE: buffer and shift register empty.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if TXE stayed clear for `spin_limit` polls.
    pub fn flush_tx(&mut self) -> Result<(), Error> {
        for _ in 0..self.spin_limit {
            if self.regs.read32(reg::UTRSTAT) & UTRSTAT_TXE != 0 {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout)
    }
}

impl<R> embedded_io::ErrorType for ExynosUart<R> {
    type Error = Error;
}

impl<R: ExynosRegs> embedded_io::Write for ExynosUart<R> {
    /// Waits (bounded) for room in the transmitter, then queues bytes until it is full or `buf`
    /// is done. Returns `Ok(0)` only for an empty `buf`.
    ///
    /// Errors: [`Error::Timeout`] if there never was room; nothing was written.
    fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        uart_io::write(self, buf)
    }

    /// Waits (bounded) until the transmitter is empty (UTRSTAT.TXE). Errors: [`Error::Timeout`].
    fn flush(&mut self) -> Result<(), Error> {
        self.flush_tx()
    }
}

impl<R: ExynosRegs> embedded_io::Read for ExynosUart<R> {
    /// Blocks, without bound, until at least one byte or a receive error arrives, then returns
    /// the bytes already waiting (up to `buf.len()`). A receive error found after the first byte
    /// ends the read early and is returned by the next call, so bytes and errors keep their order.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        uart_io::read(self, buf)
    }
}

impl<R: ExynosRegs> uart_io::ByteTx for ExynosUart<R> {
    type Error = Error;
    fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        ExynosUart::write_byte(self, byte)
    }
    fn try_write_byte(&mut self, byte: u8) -> bool {
        ExynosUart::try_write_byte(self, byte)
    }
}

impl<R: ExynosRegs> uart_io::ByteRx for ExynosUart<R> {
    type Error = Error;
    fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        ExynosUart::try_read_byte(self)
    }
    fn deferred_error(&mut self) -> &mut Option<Error> {
        &mut self.deferred_error
    }
}

impl<R: ExynosRegs> embedded_io::ReadReady for ExynosUart<R> {
    /// True when a byte or a receive error is waiting, so the next `read` returns at once.
    fn read_ready(&mut self) -> Result<bool, Error> {
        Ok(self.deferred_error.is_some() || self.pending_byte.is_some() || self.rx_ready())
    }
}

impl<R: ExynosRegs> embedded_io::WriteReady for ExynosUart<R> {
    /// True when the transmitter has room, so the next `write` does not wait.
    fn write_ready(&mut self) -> Result<bool, Error> {
        Ok(self.tx_ready())
    }
}

#[cfg(test)]
mod tests;
