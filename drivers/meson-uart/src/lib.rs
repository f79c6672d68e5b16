//! Polled driver for the Amlogic Meson UARTs (the "AO" always-on console UART and the EE
//! UARTs of the Meson6/8, GX, AXG, G12 and SM1 SoCs), over `embedded-io`.
//!
//! # Concepts
//!
//! - **Register access is not ours.** The board hands the driver a [`MesonRegs`] doing 32-bit
//!   volatile accesses at `base + offset` (the GXBB/G12 AO UART is at 0xC810_04C0 /
//!   0xFF80_3000), or a fake register block in the tests. This crate contains no `unsafe`.
//! - **Status, not interrupts.** Transmit waits for STATUS.TX_FULL to clear, flush for
//!   STATUS.TX_EMPTY with XMIT_BUSY clear, receive looks at STATUS.RX_EMPTY. CONTROL's receive
//!   and transmit interrupt enables are cleared.
//! - **Bounded waits.** Every transmit-side wait polls STATUS at most `spin_limit` times and
//!   then returns [`Error::Timeout`]. Reads are the exception: `embedded-io` `Read::read` blocks
//!   until a byte arrives; use [`MesonUart::try_read_byte`] or `ReadReady` to poll.
//! - **Receive errors are sticky status.** STATUS.PARITY_ERR and FRAME_ERR stay set until
//!   CONTROL.CLEAR_ERR is pulsed (it does not clear itself). Like Linux's
//!   `meson_receive_chars()`, an error seen before reading RFIFO is charged to that character,
//!   which is dropped, and the bits are cleared.
//! - **The baud rate.** REG5 holds a 23-bit divisor with USE set. From the 24 MHz crystal
//!   (XTAL set) the UART counts at 24 MHz / 3, or / 2 on the G12A and later (XTAL_DIV2); from
//!   any other clock at clock / 4. [`reg5_for_baud`] computes it as Linux's
//!   `meson_uart_change_speed()`. A console is normally [taken over](MesonUart::take_over) at the
//!   boot loader's rate; [`MesonUart::init`] sets one when the device tree gives
//!   `current-speed` and the board knows the clock (the Meson trees name it through `clocks`),
//!   and says [`Error::NoClock`] otherwise.
//!
//! # Lifecycle
//!
//! [`MesonUart::new`] touches no register. Then either [`MesonUart::take_over`] or
//! [`MesonUart::init`]; [`MesonUart::init_console`] picks one from the device-tree properties.
//!
//! # Compatible strings
//!
//! [`COMPATIBLES`]: `amlogic,meson-ao-uart` and the EE UARTs `amlogic,meson6-uart`,
//! `amlogic,meson8-uart`, `amlogic,meson8b-uart`, `amlogic,meson-gx-uart`,
//! `amlogic,meson-g12a-uart` and `amlogic,meson-s4-uart`; [`has_xtal_div2`] says which count
//! from the crystal / 2.
//!
//! # Reference
//!
//! Amlogic *S905 (GXBB) Datasheet*, section "UART" (registers `AO_UART_WFIFO` ...
//! `AO_UART_REG5`); Linux `drivers/tty/serial/meson_uart.c`: `meson_uart_change_speed()`,
//! `meson_uart_reset()`, `meson_uart_set_termios()`, `meson_receive_chars()`,
//! `meson_serial_early_console_setup()`.

#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

/// The device-tree compatible strings this driver serves.
pub const COMPATIBLES: &[&str] = &[
    "amlogic,meson-ao-uart",
    "amlogic,meson6-uart",
    "amlogic,meson8-uart",
    "amlogic,meson8b-uart",
    "amlogic,meson-gx-uart",
    "amlogic,meson-g12a-uart",
    "amlogic,meson-s4-uart",
];

/// Whether the UART named by `compatible` divides the 24 MHz crystal by 2 rather than 3 (Linux
/// `meson_uart_data.has_xtal_div2`, set for the G12A and S4 entries).
pub fn has_xtal_div2(compatible: &str) -> bool {
    matches!(
        compatible,
        "amlogic,meson-g12a-uart" | "amlogic,meson-s4-uart"
    )
}

/// 32-bit access to one Meson UART's register block, provided by the platform or board.
///
/// `offset` is a byte offset from the block's base, one of the constants in [`reg`]. Each call is
/// exactly one volatile bus access, in program order: reads of [`reg::RFIFO`] pop the receive
/// FIFO.
pub trait MesonRegs {
    /// Reads the 32-bit register at byte `offset`.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes `value` to the 32-bit register at byte `offset`.
    fn write32(&mut self, offset: usize, value: u32);
}

impl<T: MesonRegs + ?Sized> MesonRegs for &mut T {
    fn read32(&mut self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&mut self, offset: usize, value: u32) {
        (**self).write32(offset, value)
    }
}

/// Register byte offsets (Linux `AML_UART_*`).
pub mod reg {
    /// Transmit FIFO (write).
    pub const WFIFO: usize = 0x00;
    /// Receive FIFO (read).
    pub const RFIFO: usize = 0x04;
    /// Control: enables, resets, format, interrupt enables.
    pub const CONTROL: usize = 0x08;
    /// Status: FIFO flags and receive errors.
    pub const STATUS: usize = 0x0C;
    /// Interrupt thresholds.
    pub const MISC: usize = 0x10;
    /// Baud rate divisor and clock source.
    pub const REG5: usize = 0x14;
}

/// Register bit definitions (Linux `meson_uart.c` names without the `AML_UART_` prefix).
pub mod bits {
    /// CONTROL: transmitter enable.
    pub const TX_EN: u32 = 1 << 12;
    /// CONTROL: receiver enable.
    pub const RX_EN: u32 = 1 << 13;
    /// CONTROL: two-wire mode: no RTS/CTS flow control.
    pub const TWO_WIRE_EN: u32 = 1 << 15;
    /// CONTROL: stop bit length field (0 = 1 stop bit).
    pub const STOP_BIT_LEN_MASK: u32 = 0x03 << 16;
    /// CONTROL: odd parity.
    pub const PARITY_TYPE: u32 = 1 << 18;
    /// CONTROL: parity enable.
    pub const PARITY_EN: u32 = 1 << 19;
    /// CONTROL: data length field (0 = 8 bits).
    pub const DATA_LEN_MASK: u32 = 0x03 << 20;
    /// CONTROL: transmitter reset (does not clear itself).
    pub const TX_RST: u32 = 1 << 22;
    /// CONTROL: receiver reset (does not clear itself).
    pub const RX_RST: u32 = 1 << 23;
    /// CONTROL: clear the STATUS error bits (does not clear itself).
    pub const CLEAR_ERR: u32 = 1 << 24;
    /// CONTROL: receive interrupt enable.
    pub const RX_INT_EN: u32 = 1 << 27;
    /// CONTROL: transmit interrupt enable.
    pub const TX_INT_EN: u32 = 1 << 28;

    /// STATUS: parity error.
    pub const PARITY_ERR: u32 = 1 << 16;
    /// STATUS: framing error.
    pub const FRAME_ERR: u32 = 1 << 17;
    /// STATUS: a write to a full transmit FIFO.
    pub const TX_FIFO_WERR: u32 = 1 << 18;
    /// STATUS: receive FIFO empty.
    pub const RX_EMPTY: u32 = 1 << 20;
    /// STATUS: transmit FIFO full.
    pub const TX_FULL: u32 = 1 << 21;
    /// STATUS: transmit FIFO empty.
    pub const TX_EMPTY: u32 = 1 << 22;
    /// STATUS: a character is being shifted out.
    pub const XMIT_BUSY: u32 = 1 << 25;

    /// REG5: divisor field, bits 22:0.
    pub const BAUD_MASK: u32 = 0x7F_FFFF;
    /// REG5: use the REG5 divisor.
    pub const BAUD_USE: u32 = 1 << 23;
    /// REG5: count from the crystal (24 MHz) rather than the bus clock.
    pub const BAUD_XTAL: u32 = 1 << 24;
    /// REG5: crystal / 2 instead of / 3 (G12A and later).
    pub const BAUD_XTAL_DIV2: u32 = 1 << 27;
}

use bits::*;

/// Depth of the AO UART's FIFOs (the EE UART_A has 128; 64 is a safe bound for both, and the
/// driver never relies on the depth anyway: it checks TX_FULL before every byte).
pub const FIFO_DEPTH: usize = 64;

/// The crystal rate Linux tests `uartclk` against to choose the crystal path.
pub const XTAL_HZ: u32 = 24_000_000;

/// Default number of STATUS polls before a transmit-side wait gives up (at least half a second
/// at 50–200 ns per device read).
pub const DEFAULT_SPIN_LIMIT: u32 = 10_000_000;

/// The REG5 value for `baud` from a UART clock of `clock_hz`, as Linux's
/// `meson_uart_change_speed()`. The divisor field is `round(counter / baud) - 1`, where the
/// counter runs at 24 MHz / 3 from the crystal (XTAL set), or 24 MHz / 2 with XTAL_DIV2 when
/// `xtal_div2`, and at `clock_hz / 4` from any other clock; USE is always set. `None` if `baud`
/// is 0, the divisor does not fit 23 bits or rounds to 0, or the result is 3 % or more off.
pub const fn reg5_for_baud(clock_hz: u32, baud: u32, xtal_div2: bool) -> Option<u32> {
    if baud == 0 {
        return None;
    }
    let (counter_hz, flags) = if clock_hz == XTAL_HZ {
        if xtal_div2 {
            (clock_hz / 2, BAUD_XTAL | BAUD_XTAL_DIV2)
        } else {
            (clock_hz / 3, BAUD_XTAL)
        }
    } else {
        (clock_hz / 4, 0)
    };
    let divisor = (counter_hz + baud / 2) / baud;
    if divisor == 0 || divisor - 1 > BAUD_MASK {
        return None;
    }
    let actual = counter_hz / divisor;
    if actual.abs_diff(baud) as u64 * 100 >= 3 * baud as u64 {
        return None;
    }
    Some(flags | BAUD_USE | (divisor - 1))
}

/// What went wrong on the line or in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The transmitter did not accept data or drain within the spin limit.
    Timeout,
    /// A received character had a bad parity bit (STATUS.PARITY_ERR); it was dropped.
    Parity,
    /// A received character had no valid stop bit (STATUS.FRAME_ERR); it was dropped.
    Framing,
    /// A speed was asked for but the UART clock is unknown, so no divisor can be computed; take
    /// the console over at the boot loader's speed instead.
    NoClock,
    /// The clock cannot produce the requested baud rate (see [`reg5_for_baud`]).
    InvalidBaud,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::Timeout => "UART transmitter timed out",
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
    /// Parity and framing errors are corrupt input ([`InvalidData`]).
    ///
    /// [`InvalidData`]: embedded_io::ErrorKind::InvalidData
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind;
        match self {
            Error::Timeout => ErrorKind::TimedOut,
            Error::Parity | Error::Framing => ErrorKind::InvalidData,
            Error::NoClock | Error::InvalidBaud => ErrorKind::InvalidInput,
        }
    }
}

/// A polled Meson UART on the register block `R`.
pub struct MesonUart<R> {
    regs: R,
    spin_limit: u32,
    xtal_div2: bool,
    /// A receive error found while `Read::read` already had bytes to return.
    deferred_error: Option<Error>,
}

impl<R: MesonRegs> MesonUart<R> {
    /// Wraps `regs` with the [`DEFAULT_SPIN_LIMIT`], for a UART that divides the crystal by 3
    /// (see [`Self::with_xtal_div2`]). Touches no register.
    pub fn new(regs: R) -> Self {
        Self::with_spin_limit(regs, DEFAULT_SPIN_LIMIT)
    }

    /// Wraps `regs`; transmit-side waits give up after `spin_limit` STATUS polls (a limit of 0
    /// still polls once). Touches no register.
    pub fn with_spin_limit(regs: R, spin_limit: u32) -> Self {
        Self {
            regs,
            spin_limit: spin_limit.max(1),
            xtal_div2: false,
            deferred_error: None,
        }
    }

    /// Whether [`Self::init`] divides the crystal by 2 (G12A and later, see [`has_xtal_div2`]).
    pub fn with_xtal_div2(mut self, xtal_div2: bool) -> Self {
        self.xtal_div2 = xtal_div2;
        self
    }

    /// Gives the register block back.
    pub fn into_inner(self) -> R {
        self.regs
    }

    /// The transmit-wait bound, in STATUS polls.
    pub fn spin_limit(&self) -> u32 {
        self.spin_limit
    }

    /// Takes the UART over as the boot loader left it: REG5 (the rate) and the line format are
    /// kept; the interrupt enables are cleared and the transmitter and receiver enabled, as
    /// Linux's `meson_serial_early_console_setup()` enables the transmitter. CONTROL is written
    /// only if that changes it. Nothing queued is flushed.
    pub fn take_over(&mut self) {
        let control = self.regs.read32(reg::CONTROL);
        let wanted = (control & !(RX_INT_EN | TX_INT_EN)) | TX_EN | RX_EN;
        if wanted != control {
            self.regs.write32(reg::CONTROL, wanted);
        }
        self.deferred_error = None;
    }

    /// Reprograms the UART for 8N1 at `baud` from a UART clock of `clock_hz` (24 MHz means the
    /// crystal), interrupts disabled.
    ///
    /// Sequence (Linux `meson_uart_change_speed()`, `meson_uart_reset()`,
    /// `meson_uart_set_termios()`):
    /// 1. wait (bounded) until STATUS says TX_EMPTY and not XMIT_BUSY; a timeout is not an
    ///    error, the reset below discards what is left;
    /// 2. CONTROL |= RX_RST | TX_RST | CLEAR_ERR, then the same bits cleared again (none of them
    ///    clears itself);
    /// 3. REG5 = divisor (see [`reg5_for_baud`]);
    /// 4. CONTROL: 8 data bits, no parity, 1 stop bit, two-wire (no flow control), interrupts
    ///    off, TX_EN | RX_EN.
    ///
    /// # Errors
    ///
    /// [`Error::NoClock`] if `clock_hz` is `None`, [`Error::InvalidBaud`] if it cannot make
    /// `baud`; both are checked before any register is touched.
    pub fn init(&mut self, clock_hz: Option<u32>, baud: u32) -> Result<(), Error> {
        let clock_hz = clock_hz.ok_or(Error::NoClock)?;
        let reg5 = reg5_for_baud(clock_hz, baud, self.xtal_div2).ok_or(Error::InvalidBaud)?;

        // Ignoring a timeout is deliberate, see step 1.
        let _ = self.flush_tx();
        let control = self.regs.read32(reg::CONTROL);
        let resets = RX_RST | TX_RST | CLEAR_ERR;
        self.regs.write32(reg::CONTROL, control | resets);
        let control = control & !resets;
        self.regs.write32(reg::CONTROL, control);
        self.regs.write32(reg::REG5, reg5);
        let format_and_irqs =
            DATA_LEN_MASK | PARITY_EN | PARITY_TYPE | STOP_BIT_LEN_MASK | RX_INT_EN | TX_INT_EN;
        self.regs.write32(
            reg::CONTROL,
            (control & !format_and_irqs) | TWO_WIRE_EN | TX_EN | RX_EN,
        );
        self.deferred_error = None;
        Ok(())
    }

    /// Brings the console up as the device tree describes it: without `current-speed`
    /// (`baud = None`) it is [taken over](Self::take_over), with one it is [reprogrammed](Self::init)
    /// from the UART clock `clock_hz`.
    ///
    /// # Errors
    ///
    /// As [`Self::init`]: [`Error::NoClock`] when a speed comes without a clock.
    pub fn init_console(&mut self, clock_hz: Option<u32>, baud: Option<u32>) -> Result<(), Error> {
        match baud {
            None => {
                self.take_over();
                Ok(())
            }
            Some(baud) => self.init(clock_hz, baud),
        }
    }

    fn status(&mut self) -> u32 {
        self.regs.read32(reg::STATUS)
    }

    /// Polls STATUS until `done(status)`, at most `spin_limit` times.
    fn wait_status(&mut self, done: impl Fn(u32) -> bool) -> Result<(), Error> {
        for _ in 0..self.spin_limit {
            if done(self.status()) {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout)
    }

    /// Writes `byte` to WFIFO if it has room (STATUS.TX_FULL clear); returns whether it did.
    pub fn try_write_byte(&mut self, byte: u8) -> bool {
        if self.status() & TX_FULL != 0 {
            return false;
        }
        self.regs.write32(reg::WFIFO, u32::from(byte));
        true
    }

    /// Waits (bounded) for room in the transmit FIFO, then writes `byte`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if STATUS.TX_FULL stayed set for `spin_limit` polls; nothing was
    /// written.
    pub fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        self.wait_status(|status| status & TX_FULL == 0)?;
        self.regs.write32(reg::WFIFO, u32::from(byte));
        Ok(())
    }

    /// Takes one received byte, if there is one: `Ok(None)` when STATUS.RX_EMPTY is set.
    ///
    /// # Errors
    ///
    /// [`Error::Framing`] or [`Error::Parity`] (in that priority, as Linux) when STATUS has the
    /// bit set as the character is read; the character is dropped and the error bits cleared
    /// with a CLEAR_ERR pulse.
    pub fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        let status = self.status();
        if status & RX_EMPTY != 0 {
            return Ok(None);
        }
        let error = if status & FRAME_ERR != 0 {
            Some(Error::Framing)
        } else if status & PARITY_ERR != 0 {
            Some(Error::Parity)
        } else {
            None
        };
        if error.is_some() {
            let control = self.regs.read32(reg::CONTROL);
            self.regs.write32(reg::CONTROL, control | CLEAR_ERR);
            self.regs.write32(reg::CONTROL, control & !CLEAR_ERR);
        }
        let byte = self.regs.read32(reg::RFIFO) as u8;
        match error {
            Some(e) => Err(e),
            None => Ok(Some(byte)),
        }
    }

    /// Waits (bounded) until the transmit FIFO is empty and nothing is being shifted out.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if that did not happen within `spin_limit` polls.
    pub fn flush_tx(&mut self) -> Result<(), Error> {
        self.wait_status(|status| status & (TX_EMPTY | XMIT_BUSY) == TX_EMPTY)
    }
}

impl<R> embedded_io::ErrorType for MesonUart<R> {
    type Error = Error;
}

impl<R: MesonRegs> embedded_io::Write for MesonUart<R> {
    /// Waits (bounded) for room in the transmit FIFO, then queues bytes until it is full or
    /// `buf` is done. Returns `Ok(0)` only for an empty `buf`.
    ///
    /// Errors: [`Error::Timeout`] if the FIFO never had room; nothing was written.
    fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        uart_io::write(self, buf)
    }

    /// Waits (bounded) until the transmitter is idle. Errors: [`Error::Timeout`].
    fn flush(&mut self) -> Result<(), Error> {
        self.flush_tx()
    }
}

impl<R: MesonRegs> embedded_io::Read for MesonUart<R> {
    /// Blocks, without bound, until at least one byte or a receive error arrives, then returns
    /// the bytes already waiting (up to `buf.len()`). A receive error found after the first byte
    /// ends the read early and is returned by the next call, so bytes and errors keep their order.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        uart_io::read(self, buf)
    }
}

impl<R: MesonRegs> uart_io::ByteTx for MesonUart<R> {
    type Error = Error;
    fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        MesonUart::write_byte(self, byte)
    }
    fn try_write_byte(&mut self, byte: u8) -> bool {
        MesonUart::try_write_byte(self, byte)
    }
}

impl<R: MesonRegs> uart_io::ByteRx for MesonUart<R> {
    type Error = Error;
    fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        MesonUart::try_read_byte(self)
    }
    fn deferred_error(&mut self) -> &mut Option<Error> {
        &mut self.deferred_error
    }
}

impl<R: MesonRegs> embedded_io::ReadReady for MesonUart<R> {
    /// True when a byte or a receive error is waiting, so the next `read` returns at once.
    fn read_ready(&mut self) -> Result<bool, Error> {
        Ok(self.deferred_error.is_some() || self.status() & RX_EMPTY == 0)
    }
}

impl<R: MesonRegs> embedded_io::WriteReady for MesonUart<R> {
    /// True when the transmit FIFO has room (STATUS.TX_FULL clear), so the next `write` does not
    /// wait.
    fn write_ready(&mut self) -> Result<bool, Error> {
        Ok(self.status() & TX_FULL == 0)
    }
}

#[cfg(test)]
mod tests;
