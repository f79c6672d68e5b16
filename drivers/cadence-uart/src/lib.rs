//! Polled driver for the Cadence UART of the Xilinx Zynq-7000 and Zynq UltraScale+, over
//! `embedded-io`.
//!
//! # Concepts
//!
//! - **Register access is not ours.** The board hands the driver a [`CadenceRegs`] doing 32-bit
//!   volatile accesses at `base + offset` (Zynq-7000 UART1 is at 0xE000_1000, ZynqMP UART0 at
//!   0xFF00_0000), or a fake register block in the tests. This crate contains no `unsafe`.
//! - **Status, not interrupts.** Transmit waits for SR.TXFULL to clear, flush for SR.TXEMPTY
//!   with SR.TACTIVE clear (the last character has left the shifter), receive looks at
//!   SR.RXEMPTY. Every interrupt is disabled through IDR.
//! - **Bounded waits.** Every transmit-side wait polls SR at most `spin_limit` times and then
//!   returns [`Error::Timeout`]. Reads are the exception: `embedded-io` `Read::read` blocks until
//!   a byte arrives; use [`CadenceUart::try_read_byte`] or `ReadReady` to poll.
//! - **Receive errors are sticky status.** Parity, framing and overrun are bits of ISR (write 1
//!   to clear), not of the received word. Like Linux's `cdns_uart_handle_rx()`, an error seen in
//!   ISR is charged to the character read next: a parity or framing error drops it, an overrun
//!   (a later character was lost) is reported before it and the character returned next. The
//!   Zynq has no break detection; as in Linux, a framing error on a 0 byte is a [`Error::Break`].
//! - **The baud rate.** `baud = sel_clk / (CD * (BDIV + 1))`, `sel_clk` being the reference
//!   clock or, with MR.CLKSEL, the reference clock / 8; CD (BAUDGEN) is 1..=65535 and BDIV
//!   (BAUDDIV) 4..=255. [`baud_divisors`] searches them as Linux's `cdns_uart_calc_baud_divs()`.
//!   A console is normally [taken over](CadenceUart::take_over) with the boot loader's divisors;
//!   [`CadenceUart::init`] sets new ones when the device tree gives `current-speed` and the
//!   reference clock is known (the Zynq device trees give it only as a `clocks` phandle, so the
//!   board must supply the rate), and says [`Error::NoClock`] otherwise.
//!
//! # Lifecycle
//!
//! [`CadenceUart::new`] touches no register. Then either [`CadenceUart::take_over`] (keep the
//! speed, mask interrupts, make sure the transmitter and receiver are on) or
//! [`CadenceUart::init`] (reprogram everything); [`CadenceUart::init_console`] picks one from
//! the device-tree properties.
//!
//! # Compatible strings
//!
//! [`COMPATIBLES`]: `cdns,uart-r1p8` (Zynq-7000, usually after `xlnx,xuartps`) and
//! `cdns,uart-r1p12` (ZynqMP, Versal). The r1p12 receive byte status register (RXBS) is not used.
//!
//! # Reference
//!
//! Xilinx UG585 *Zynq-7000 SoC Technical Reference Manual*, chapter 19 "UART Controller" (19.2.3
//! baud rate generator, 19.3.2 configuration sequence) and appendix B.33 (register details);
//! UG1085 *Zynq UltraScale+ MPSoC TRM*, chapter 21. Linux `drivers/tty/serial/xilinx_uartps.c`:
//! `cdns_uart_calc_baud_divs()`, `cdns_uart_set_termios()`, `cdns_uart_startup()`,
//! `cdns_uart_handle_rx()`.

#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

/// The device-tree compatible strings this driver serves.
pub const COMPATIBLES: &[&str] = &["cdns,uart-r1p8", "cdns,uart-r1p12", "xlnx,xuartps"];

/// 32-bit access to one Cadence UART's register block, provided by the platform or board.
///
/// `offset` is a byte offset from the block's base, one of the constants in [`reg`]. Each call is
/// exactly one volatile bus access, in program order: reads of [`reg::FIFO`] pop the receive
/// FIFO.
pub trait CadenceRegs {
    /// Reads the 32-bit register at byte `offset`.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes `value` to the 32-bit register at byte `offset`.
    fn write32(&mut self, offset: usize, value: u32);
}

impl<T: CadenceRegs + ?Sized> CadenceRegs for &mut T {
    fn read32(&mut self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&mut self, offset: usize, value: u32) {
        (**self).write32(offset, value)
    }
}

/// Register byte offsets (UG585 B.33; Linux `CDNS_UART_*`).
pub mod reg {
    /// Control register.
    pub const CR: usize = 0x00;
    /// Mode register: character format and clock prescaler.
    pub const MR: usize = 0x04;
    /// Interrupt enable (write 1 to enable).
    pub const IER: usize = 0x08;
    /// Interrupt disable (write 1 to disable).
    pub const IDR: usize = 0x0C;
    /// Interrupt mask (read-only: 1 = enabled).
    pub const IMR: usize = 0x10;
    /// Channel interrupt status (write 1 to clear).
    pub const ISR: usize = 0x14;
    /// Baud rate generator: CD.
    pub const BAUDGEN: usize = 0x18;
    /// Channel status.
    pub const SR: usize = 0x2C;
    /// Transmit and receive FIFO.
    pub const FIFO: usize = 0x30;
    /// Baud rate divider: BDIV.
    pub const BAUDDIV: usize = 0x34;
}

/// Register bit definitions (Linux `xilinx_uartps.c` names without the `CDNS_UART_` prefix).
pub mod bits {
    /// CR: receiver logic reset (self-clearing).
    pub const CR_RXRST: u32 = 1 << 0;
    /// CR: transmitter logic reset (self-clearing).
    pub const CR_TXRST: u32 = 1 << 1;
    /// CR: receiver enable.
    pub const CR_RX_EN: u32 = 1 << 2;
    /// CR: receiver disable (wins over RX_EN).
    pub const CR_RX_DIS: u32 = 1 << 3;
    /// CR: transmitter enable.
    pub const CR_TX_EN: u32 = 1 << 4;
    /// CR: transmitter disable (wins over TX_EN).
    pub const CR_TX_DIS: u32 = 1 << 5;
    /// CR: stop transmitting a break.
    pub const CR_STOPBRK: u32 = 1 << 8;

    /// MR: baud generator input is the reference clock / 8.
    pub const MR_CLKSEL: u32 = 1 << 0;
    /// MR: no parity (PAR = 0b1xx).
    pub const MR_PARITY_NONE: u32 = 0x20;
    /// MR: 8 data bits, 1 stop bit and normal channel mode are all field value 0.
    pub const MR_CHARLEN_8_BIT: u32 = 0x00;

    /// ISR/IDR: receive overrun.
    pub const IXR_OVERRUN: u32 = 1 << 5;
    /// ISR/IDR: receive framing error.
    pub const IXR_FRAMING: u32 = 1 << 6;
    /// ISR/IDR: receive parity error.
    pub const IXR_PARITY: u32 = 1 << 7;
    /// ISR/IDR: every interrupt source (bits 13:0).
    pub const IXR_ALL: u32 = 0x3FFF;
    /// ISR: the receive error bits.
    pub const IXR_RX_ERRORS: u32 = IXR_OVERRUN | IXR_FRAMING | IXR_PARITY;

    /// SR: receive FIFO empty.
    pub const SR_RXEMPTY: u32 = 1 << 1;
    /// SR: transmit FIFO empty.
    pub const SR_TXEMPTY: u32 = 1 << 3;
    /// SR: transmit FIFO full.
    pub const SR_TXFULL: u32 = 1 << 4;
    /// SR: transmitter state machine active (a character is being shifted out).
    pub const SR_TACTIVE: u32 = 1 << 11;
}

use bits::*;

/// Depth of the transmit and receive FIFOs.
pub const FIFO_DEPTH: usize = 64;

/// Default number of SR polls before a transmit-side wait gives up (at least half a second at
/// 50–200 ns per device read: enough to drain 64 bytes at 1200 baud).
pub const DEFAULT_SPIN_LIMIT: u32 = 10_000_000;

/// Smallest BDIV (BAUDDIV) the hardware accepts.
pub const BDIV_MIN: u32 = 4;
/// Largest BDIV.
pub const BDIV_MAX: u32 = 255;
/// Largest CD (BAUDGEN); 0 disables the baud generator.
pub const CD_MAX: u32 = 65_535;

/// Baud generator settings: `baud = sel_clk / (cd * (bdiv + 1))`, `sel_clk` the reference clock,
/// divided by 8 when `clk_div8` (MR.CLKSEL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaudDivisors {
    /// BAUDGEN.CD, 1..=65535.
    pub cd: u16,
    /// BAUDDIV.BDIV, 4..=255.
    pub bdiv: u8,
    /// MR.CLKSEL: prescale the reference clock by 8.
    pub clk_div8: bool,
}

impl BaudDivisors {
    /// The baud rate these settings give from `clock_hz` (rounded down).
    pub const fn baud(&self, clock_hz: u32) -> u32 {
        let sel_clk = if self.clk_div8 {
            clock_hz / 8
        } else {
            clock_hz
        };
        sel_clk / (self.cd as u32 * (self.bdiv as u32 + 1))
    }
}

/// The divisors for `baud` from a reference clock of `clock_hz`, as Linux's
/// `cdns_uart_calc_baud_divs()` chooses them: prescale by 8 only if `baud` is below what the
/// largest divisors give; then for each BDIV take the nearest CD and keep the pair with the
/// smallest error (the first one on a tie). `None` if `baud` is 0, no pair is in range, or the
/// best is 3 % or more off (Linux would program it anyway and report the actual rate).
pub const fn baud_divisors(clock_hz: u32, baud: u32) -> Option<BaudDivisors> {
    if baud == 0 {
        return None;
    }
    let clk_div8 = baud < clock_hz / ((BDIV_MAX + 1) * CD_MAX);
    let clk = if clk_div8 { clock_hz / 8 } else { clock_hz } as u64;
    let baud64 = baud as u64;
    let mut best: Option<(u32, u32)> = None;
    let mut best_error = u64::MAX;
    let mut bdiv = BDIV_MIN;
    while bdiv <= BDIV_MAX {
        let den = baud64 * (bdiv as u64 + 1);
        let cd = (clk + den / 2) / den;
        if cd >= 1 && cd <= CD_MAX as u64 {
            let actual = clk / (cd * (bdiv as u64 + 1));
            let error = actual.abs_diff(baud64);
            if error < best_error {
                best = Some((cd as u32, bdiv));
                best_error = error;
            }
        }
        bdiv += 1;
    }
    match best {
        Some((cd, bdiv)) if best_error * 100 / baud64 < 3 => Some(BaudDivisors {
            cd: cd as u16,
            bdiv: bdiv as u8,
            clk_div8,
        }),
        _ => None,
    }
}

/// What went wrong on the line or in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The transmitter did not accept data or drain within the spin limit.
    Timeout,
    /// The receive FIFO was full and a later character was lost (ISR.OVERRUN).
    Overrun,
    /// A 0 byte with a framing error: the line was held low (the Zynq has no break detector).
    Break,
    /// A received character had a bad parity bit (ISR.PARITY); it was dropped.
    Parity,
    /// A received character had no valid stop bit (ISR.FRAMING); it was dropped.
    Framing,
    /// A speed was asked for but the reference clock is unknown, so no divisor can be computed;
    /// take the console over at the boot loader's speed instead.
    NoClock,
    /// The reference clock cannot produce the requested baud rate within 3 %.
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

/// A polled Cadence UART on the register block `R`.
pub struct CadenceUart<R> {
    regs: R,
    spin_limit: u32,
    /// A good byte read after an overrun was reported; returned by the next read.
    pending_byte: Option<u8>,
    /// A receive error found while `Read::read` already had bytes to return.
    deferred_error: Option<Error>,
}

impl<R: CadenceRegs> CadenceUart<R> {
    /// Wraps `regs` with the [`DEFAULT_SPIN_LIMIT`]. Touches no register.
    pub fn new(regs: R) -> Self {
        Self::with_spin_limit(regs, DEFAULT_SPIN_LIMIT)
    }

    /// Wraps `regs`; transmit-side waits give up after `spin_limit` SR polls (a limit of 0 still
    /// polls once). Touches no register.
    pub fn with_spin_limit(regs: R, spin_limit: u32) -> Self {
        Self {
            regs,
            spin_limit: spin_limit.max(1),
            pending_byte: None,
            deferred_error: None,
        }
    }

    /// Gives the register block back.
    pub fn into_inner(self) -> R {
        self.regs
    }

    /// The transmit-wait bound, in SR polls.
    pub fn spin_limit(&self) -> u32 {
        self.spin_limit
    }

    /// Takes the UART over as the boot loader left it: MR, BAUDGEN and BAUDDIV are kept, every
    /// interrupt is disabled and its status cleared, and the transmitter and receiver are
    /// enabled if they were not (CR is written only then). Nothing queued is flushed.
    pub fn take_over(&mut self) {
        self.regs.write32(reg::IDR, IXR_ALL);
        self.regs.write32(reg::ISR, IXR_ALL);
        let cr = self.regs.read32(reg::CR);
        let on = CR_TX_EN | CR_RX_EN;
        if cr & (CR_TX_DIS | CR_RX_DIS) != 0 || cr & on != on {
            self.regs
                .write32(reg::CR, (cr & !(CR_TX_DIS | CR_RX_DIS)) | on);
        }
        self.pending_byte = None;
        self.deferred_error = None;
    }

    /// Reprograms the UART for 8N1 at `baud` from a reference clock of `clock_hz`, every
    /// interrupt disabled.
    ///
    /// Sequence (UG585 19.3.2, Linux `cdns_uart_set_termios()` and `cdns_uart_startup()`):
    /// 1. wait (bounded) for the transmitter to finish what is queued (SR.TXEMPTY and not
    ///    TACTIVE); a timeout is not an error, the reset below discards what is left;
    /// 2. CR = TX_DIS | RX_DIS;
    /// 3. CR |= TXRST | RXRST, and wait (bounded) for both to self-clear: FIFOs emptied;
    /// 4. MR = 8 bits, no parity, 1 stop bit, normal mode, CLKSEL as the divisors need;
    /// 5. BAUDGEN = CD, BAUDDIV = BDIV;
    /// 6. IDR = all, ISR = all: no interrupts, no stale status;
    /// 7. CR = TX_EN | RX_EN | STOPBRK.
    ///
    /// # Errors
    ///
    /// [`Error::NoClock`] if `clock_hz` is `None`, [`Error::InvalidBaud`] if no divisors reach
    /// `baud` (see [`baud_divisors`]); both are checked before any register is touched.
    pub fn init(&mut self, clock_hz: Option<u32>, baud: u32) -> Result<(), Error> {
        let clock_hz = clock_hz.ok_or(Error::NoClock)?;
        let divisors = baud_divisors(clock_hz, baud).ok_or(Error::InvalidBaud)?;

        // Ignoring a timeout is deliberate, see step 1.
        let _ = self.flush_tx();
        self.regs.write32(reg::CR, CR_TX_DIS | CR_RX_DIS);
        self.regs
            .write32(reg::CR, CR_TX_DIS | CR_RX_DIS | CR_TXRST | CR_RXRST);
        for _ in 0..self.spin_limit {
            if self.regs.read32(reg::CR) & (CR_TXRST | CR_RXRST) == 0 {
                break;
            }
            core::hint::spin_loop();
        }
        let clksel = if divisors.clk_div8 { MR_CLKSEL } else { 0 };
        self.regs
            .write32(reg::MR, MR_PARITY_NONE | MR_CHARLEN_8_BIT | clksel);
        self.regs.write32(reg::BAUDGEN, u32::from(divisors.cd));
        self.regs.write32(reg::BAUDDIV, u32::from(divisors.bdiv));
        self.regs.write32(reg::IDR, IXR_ALL);
        self.regs.write32(reg::ISR, IXR_ALL);
        self.regs.write32(reg::CR, CR_TX_EN | CR_RX_EN | CR_STOPBRK);
        self.pending_byte = None;
        self.deferred_error = None;
        Ok(())
    }

    /// Brings the console up as the device tree describes it: without `current-speed`
    /// (`baud = None`) it is [taken over](Self::take_over), with one it is [reprogrammed](Self::init)
    /// from the reference clock `clock_hz`.
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

    fn sr(&mut self) -> u32 {
        self.regs.read32(reg::SR)
    }

    /// Polls SR until `done(sr)`, at most `spin_limit` times.
    fn wait_sr(&mut self, done: impl Fn(u32) -> bool) -> Result<(), Error> {
        for _ in 0..self.spin_limit {
            if done(self.sr()) {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout)
    }

    /// Writes `byte` to the FIFO if it has room (SR.TXFULL clear); returns whether it did.
    pub fn try_write_byte(&mut self, byte: u8) -> bool {
        if self.sr() & SR_TXFULL != 0 {
            return false;
        }
        self.regs.write32(reg::FIFO, u32::from(byte));
        true
    }

    /// Waits (bounded) for room in the transmit FIFO, then writes `byte`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if SR.TXFULL stayed set for `spin_limit` polls; nothing was written.
    pub fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        self.wait_sr(|sr| sr & SR_TXFULL == 0)?;
        self.regs.write32(reg::FIFO, u32::from(byte));
        Ok(())
    }

    /// Takes one received byte, if there is one: `Ok(None)` when SR.RXEMPTY is set.
    ///
    /// # Errors
    ///
    /// With the character read next: [`Error::Break`] (framing error on a 0 byte),
    /// [`Error::Framing`] or [`Error::Parity`], and the character is dropped;
    /// [`Error::Overrun`] when only an overrun is pending, and the character, which is good, is
    /// returned by the next call. The ISR bits are cleared when reported.
    pub fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        if let Some(byte) = self.pending_byte.take() {
            return Ok(Some(byte));
        }
        if self.sr() & SR_RXEMPTY != 0 {
            return Ok(None);
        }
        let isr = self.regs.read32(reg::ISR) & IXR_RX_ERRORS;
        if isr != 0 {
            self.regs.write32(reg::ISR, isr);
        }
        let byte = self.regs.read32(reg::FIFO) as u8;
        if isr & IXR_FRAMING != 0 {
            return Err(if byte == 0 {
                Error::Break
            } else {
                Error::Framing
            });
        }
        if isr & IXR_PARITY != 0 {
            return Err(Error::Parity);
        }
        if isr & IXR_OVERRUN != 0 {
            self.pending_byte = Some(byte);
            return Err(Error::Overrun);
        }
        Ok(Some(byte))
    }

    /// Waits (bounded) until the transmit FIFO is empty and the transmitter idle (SR.TXEMPTY
    /// set, SR.TACTIVE clear).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if that did not happen within `spin_limit` polls.
    pub fn flush_tx(&mut self) -> Result<(), Error> {
        self.wait_sr(|sr| sr & (SR_TXEMPTY | SR_TACTIVE) == SR_TXEMPTY)
    }
}

impl<R> embedded_io::ErrorType for CadenceUart<R> {
    type Error = Error;
}

impl<R: CadenceRegs> embedded_io::Write for CadenceUart<R> {
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

impl<R: CadenceRegs> embedded_io::Read for CadenceUart<R> {
    /// Blocks, without bound, until at least one byte or a receive error arrives, then returns
    /// the bytes already waiting (up to `buf.len()`). A receive error found after the first byte
    /// ends the read early and is returned by the next call, so bytes and errors keep their order.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        uart_io::read(self, buf)
    }
}

impl<R: CadenceRegs> uart_io::ByteTx for CadenceUart<R> {
    type Error = Error;
    fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        CadenceUart::write_byte(self, byte)
    }
    fn try_write_byte(&mut self, byte: u8) -> bool {
        CadenceUart::try_write_byte(self, byte)
    }
}

impl<R: CadenceRegs> uart_io::ByteRx for CadenceUart<R> {
    type Error = Error;
    fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        CadenceUart::try_read_byte(self)
    }
    fn deferred_error(&mut self) -> &mut Option<Error> {
        &mut self.deferred_error
    }
}

impl<R: CadenceRegs> embedded_io::ReadReady for CadenceUart<R> {
    /// True when a byte or a receive error is waiting, so the next `read` returns at once.
    fn read_ready(&mut self) -> Result<bool, Error> {
        Ok(self.deferred_error.is_some()
            || self.pending_byte.is_some()
            || self.sr() & SR_RXEMPTY == 0)
    }
}

impl<R: CadenceRegs> embedded_io::WriteReady for CadenceUart<R> {
    /// True when the transmit FIFO has room (SR.TXFULL clear), so the next `write` does not wait.
    fn write_ready(&mut self) -> Result<bool, Error> {
        Ok(self.sr() & SR_TXFULL == 0)
    }
}

#[cfg(test)]
mod tests;
