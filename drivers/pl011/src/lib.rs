//! Polled driver for the Arm PrimeCell PL011 UART, over `embedded-io`.
//!
//! # Concepts
//!
//! - **Register access is not ours.** The driver never owns an address: the board hands it a
//!   [`Pl011Regs`] that does 32-bit volatile accesses at `base + offset` (QEMU `virt` puts the
//!   UART at 0x0900_0000; a Raspberry Pi 4 at 0xFE20_1000), or a fake register block in the
//!   tests. This crate therefore contains no `unsafe`.
//! - **Flags, not interrupts.** Transmit waits for FR.TXFF (transmit FIFO full) to clear, flush
//!   waits for FR.BUSY to clear, receive looks at FR.RXFE (receive FIFO empty). All interrupts
//!   are masked by [`Pl011::init`].
//! - **Bounded waits.** Every transmit-side wait polls FR at most `spin_limit` times and then
//!   returns [`Error::Timeout`]: a wedged UART (or one stalled by CTS flow control) slows the
//!   console down but never hangs the machine. Reads are the exception: `embedded-io`
//!   `Read::read` must block until a byte arrives, so it waits for as long as it takes. Use
//!   [`Pl011::try_read_byte`] or `ReadReady` to poll instead.
//! - **Receive errors travel with their character.** Reading DR returns the byte in bits 7:0
//!   and its error flags in bits 11:8 (OE, BE, PE, FE). Break, framing and parity errors mean
//!   the byte is garbage: it is dropped and the error returned. An overrun means a *later*
//!   character was lost while this one is good: the error is returned first and the byte on
//!   the next read, so nothing valid is thrown away.
//! - **Baud divisors are optional.** Firmware (or QEMU, which ignores them) may already have
//!   programmed IBRD/FBRD; with an unknown UARTCLK, `init(None, _)` keeps them.
//!
//! # Lifecycle
//!
//! [`Pl011::new`] touches no register. [`Pl011::init`] reprograms the UART from any state:
//! let queued output drain, disable, flush the FIFOs, set the divisors, 8N1 with FIFOs, mask and
//! clear all interrupts, enable with TX and RX. After it the UART is ready for transfers.
//!
//! # Reference
//!
//! Arm PrimeCell UART (PL011) Technical Reference Manual, Arm DDI 0183 (r1p5):
//! section 3.2 "Summary of registers", 3.3 "Register descriptions" (bit layouts used below),
//! and the UARTCR description for the reprogramming sequence. The divisor arithmetic mirrors
//! Linux `pl011_set_termios()` in `drivers/tty/serial/amba-pl011.c`.

#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

/// 32-bit access to one PL011's register block, provided by the platform or board.
///
/// `offset` is a byte offset from the block's base, one of the constants in [`reg`].
/// Implementations perform exactly one volatile bus access per call, in program order: reads of
/// [`reg::DR`] pop the receive FIFO.
pub trait Pl011Regs {
    /// Reads the 32-bit register at byte `offset`.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes `value` to the 32-bit register at byte `offset`.
    fn write32(&mut self, offset: usize, value: u32);
}

impl<T: Pl011Regs + ?Sized> Pl011Regs for &mut T {
    fn read32(&mut self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&mut self, offset: usize, value: u32) {
        (**self).write32(offset, value)
    }
}

/// Register byte offsets (TRM table 3-1; the TRM names are `UART` + these).
pub mod reg {
    /// Data register: write to transmit, read to receive (bits 7:0) with error flags (11:8).
    pub const DR: usize = 0x00;
    /// Receive status (read) / error clear (write).
    pub const RSR_ECR: usize = 0x04;
    /// Flag register.
    pub const FR: usize = 0x18;
    /// Integer baud rate divisor, 16 bits.
    pub const IBRD: usize = 0x24;
    /// Fractional baud rate divisor, 6 bits.
    pub const FBRD: usize = 0x28;
    /// Line control. Writing it also latches IBRD and FBRD into the baud generator.
    pub const LCR_H: usize = 0x2C;
    /// Control register.
    pub const CR: usize = 0x30;
    /// Interrupt mask set/clear (1 = enabled).
    pub const IMSC: usize = 0x38;
    /// Interrupt clear (write 1 to clear).
    pub const ICR: usize = 0x44;
}

/// Register bit definitions (TRM section 3.3).
pub mod bits {
    /// DR: framing error.
    pub const DR_FE: u32 = 1 << 8;
    /// DR: parity error.
    pub const DR_PE: u32 = 1 << 9;
    /// DR: break error.
    pub const DR_BE: u32 = 1 << 10;
    /// DR: overrun error.
    pub const DR_OE: u32 = 1 << 11;

    /// FR: UART busy transmitting (set while the TX FIFO is non-empty or a character is
    /// being shifted out).
    pub const FR_BUSY: u32 = 1 << 3;
    /// FR: receive FIFO empty.
    pub const FR_RXFE: u32 = 1 << 4;
    /// FR: transmit FIFO full.
    pub const FR_TXFF: u32 = 1 << 5;
    /// FR: receive FIFO full.
    pub const FR_RXFF: u32 = 1 << 6;
    /// FR: transmit FIFO empty.
    pub const FR_TXFE: u32 = 1 << 7;

    /// LCR_H: enable FIFOs. Clearing it flushes the transmit FIFO.
    pub const LCR_H_FEN: u32 = 1 << 4;
    /// LCR_H: 8-bit words (WLEN = 0b11). With PEN and STP2 clear this is 8N1.
    pub const LCR_H_WLEN_8: u32 = 0b11 << 5;

    /// CR: UART enable.
    pub const CR_UARTEN: u32 = 1 << 0;
    /// CR: transmit enable.
    pub const CR_TXE: u32 = 1 << 8;
    /// CR: receive enable.
    pub const CR_RXE: u32 = 1 << 9;

    /// ICR: every interrupt clear bit (RIMIC..OEIC, bits 10:0).
    pub const ICR_ALL: u32 = 0x7FF;
}

use bits::*;

/// Default number of FR polls before a transmit-side wait gives up.
///
/// An MMIO read of a device register costs roughly 50–200 ns, so this is at least half a
/// second: enough to drain a full 32-byte FIFO at 1200 baud.
pub const DEFAULT_SPIN_LIMIT: u32 = 10_000_000;

/// The divisor pair `(IBRD, FBRD)` for `baud` from a UARTCLK of `uart_clk_hz`, or `None` if
/// `baud` is 0 or the divisor is out of range.
///
/// The baud divisor is `uart_clk_hz / (16 * baud)` with 6 fractional bits, i.e.
/// `round(4 * uart_clk_hz / baud)` split into bits 21:6 and 5:0. The TRM requires
/// `1 <= IBRD <= 0xFFFF`, and FBRD = 0 when IBRD = 0xFFFF.
pub const fn baud_divisors(uart_clk_hz: u32, baud: u32) -> Option<(u16, u8)> {
    if baud == 0 {
        return None;
    }
    let baud = baud as u64;
    let quot = (4 * uart_clk_hz as u64 + baud / 2) / baud;
    let ibrd = quot >> 6;
    let fbrd = quot & 0x3F;
    if ibrd == 0 || ibrd > 0xFFFF || (ibrd == 0xFFFF && fbrd != 0) {
        return None;
    }
    Some((ibrd as u16, fbrd as u8))
}

/// What went wrong on the line or in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The transmitter did not accept data or drain within the spin limit.
    Timeout,
    /// The receive FIFO was full and a later character was lost (DR.OE).
    Overrun,
    /// The line was held low for longer than a character (DR.BE); the 0 byte was dropped.
    Break,
    /// A received character had a bad parity bit (DR.PE); it was dropped.
    Parity,
    /// A received character had no valid stop bit (DR.FE); it was dropped.
    Framing,
    /// [`Pl011::init`] was given a baud rate the UART clock cannot produce.
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
            Error::InvalidBaud => ErrorKind::InvalidInput,
        }
    }
}

/// A polled PL011 UART on the register block `R`.
pub struct Pl011<R> {
    regs: R,
    spin_limit: u32,
    /// A good byte that came with an overrun flag; returned after the [`Error::Overrun`].
    pending_byte: Option<u8>,
    /// A receive error found while `Read::read` already had bytes to return; reported by the
    /// next read.
    deferred_error: Option<Error>,
}

impl<R: Pl011Regs> Pl011<R> {
    /// Wraps `regs` with the [`DEFAULT_SPIN_LIMIT`]. Touches no register.
    pub fn new(regs: R) -> Self {
        Self::with_spin_limit(regs, DEFAULT_SPIN_LIMIT)
    }

    /// Wraps `regs`; transmit-side waits give up after `spin_limit` FR polls (a limit of 0
    /// still polls once). Touches no register.
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

    /// The transmit-wait bound, in FR polls.
    pub fn spin_limit(&self) -> u32 {
        self.spin_limit
    }

    /// Reprograms the UART for 8N1 at `baud` with FIFOs on and every interrupt masked and
    /// cleared. With `uart_clk_hz = None` the divisors already in IBRD/FBRD are kept and `baud`
    /// is ignored.
    ///
    /// Sequence (TRM, UARTCR description, plus one step first):
    /// 1. wait (bounded) for FR.BUSY to clear, so output already queued, e.g. by firmware, is
    ///    not cut off. The TRM waits after disabling, but a disabled UART stops after the
    ///    current character and BUSY would then stay set while its FIFO holds data; a timeout
    ///    here is not an error, the flush below discards what is left;
    /// 2. CR = 0: disable;
    /// 3. clear LCR_H.FEN: flush the transmit FIFO;
    /// 4. IBRD, FBRD (if the clock is known), then LCR_H = 8N1 | FEN, which latches them;
    /// 5. IMSC = 0, ICR = all, ECR = 0: no interrupts, no stale status or receive errors;
    /// 6. CR = UARTEN | TXE | RXE (no hardware flow control).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBaud`] if the clock cannot produce `baud` (see [`baud_divisors`]); it is
    /// checked before any register is touched.
    pub fn init(&mut self, uart_clk_hz: Option<u32>, baud: u32) -> Result<(), Error> {
        let divisors = match uart_clk_hz {
            Some(clk) => match baud_divisors(clk, baud) {
                Some(d) => Some(d),
                None => return Err(Error::InvalidBaud),
            },
            None => None,
        };

        // Ignoring a timeout is deliberate, see step 1 above.
        let _ = self.wait_fr_clear(FR_BUSY);
        self.regs.write32(reg::CR, 0);
        let lcr_h = self.regs.read32(reg::LCR_H);
        self.regs.write32(reg::LCR_H, lcr_h & !LCR_H_FEN);
        if let Some((ibrd, fbrd)) = divisors {
            self.regs.write32(reg::IBRD, u32::from(ibrd));
            self.regs.write32(reg::FBRD, u32::from(fbrd));
        }
        self.regs.write32(reg::LCR_H, LCR_H_WLEN_8 | LCR_H_FEN);
        self.regs.write32(reg::IMSC, 0);
        self.regs.write32(reg::ICR, ICR_ALL);
        self.regs.write32(reg::RSR_ECR, 0);
        self.regs.write32(reg::CR, CR_UARTEN | CR_TXE | CR_RXE);
        self.pending_byte = None;
        self.deferred_error = None;
        Ok(())
    }

    fn fr(&mut self) -> u32 {
        self.regs.read32(reg::FR)
    }

    /// Polls FR until every bit of `mask` is clear, at most `spin_limit` times.
    fn wait_fr_clear(&mut self, mask: u32) -> Result<(), Error> {
        for _ in 0..self.spin_limit {
            if self.fr() & mask == 0 {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout)
    }

    /// Writes `byte` to DR if the transmit FIFO has room (FR.TXFF clear); returns whether it did.
    pub fn try_write_byte(&mut self, byte: u8) -> bool {
        if self.fr() & FR_TXFF != 0 {
            return false;
        }
        self.regs.write32(reg::DR, u32::from(byte));
        true
    }

    /// Waits (bounded) for room in the transmit FIFO, then writes `byte`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if FR.TXFF stayed set for `spin_limit` polls; the byte was not written.
    pub fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        self.wait_fr_clear(FR_TXFF)?;
        self.regs.write32(reg::DR, u32::from(byte));
        Ok(())
    }

    /// Takes one received byte, if there is one: `Ok(None)` when FR.RXFE is set.
    ///
    /// # Errors
    ///
    /// [`Error::Break`], [`Error::Framing`] or [`Error::Parity`] (in that priority) when the
    /// character read carries that flag; it is dropped. [`Error::Overrun`] when it carries
    /// only OE: the character itself is good and is returned by the next call.
    pub fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        if let Some(byte) = self.pending_byte.take() {
            return Ok(Some(byte));
        }
        if self.fr() & FR_RXFE != 0 {
            return Ok(None);
        }
        let dr = self.regs.read32(reg::DR);
        let byte = dr as u8;
        if dr & DR_BE != 0 {
            return Err(Error::Break);
        }
        if dr & DR_FE != 0 {
            return Err(Error::Framing);
        }
        if dr & DR_PE != 0 {
            return Err(Error::Parity);
        }
        if dr & DR_OE != 0 {
            self.pending_byte = Some(byte);
            return Err(Error::Overrun);
        }
        Ok(Some(byte))
    }

    /// Waits (bounded) until FR.BUSY clears: the FIFO is empty and the last stop bit is sent.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if BUSY stayed set for `spin_limit` polls.
    pub fn flush_tx(&mut self) -> Result<(), Error> {
        self.wait_fr_clear(FR_BUSY)
    }
}

impl<R> embedded_io::ErrorType for Pl011<R> {
    type Error = Error;
}

impl<R: Pl011Regs> embedded_io::Write for Pl011<R> {
    /// Waits (bounded) for room in the transmit FIFO, then queues bytes until it is full or
    /// `buf` is done. Returns `Ok(0)` only for an empty `buf`.
    ///
    /// Errors: [`Error::Timeout`] if the FIFO never had room; nothing was written.
    fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        uart_io::write(self, buf)
    }

    /// Waits (bounded) until the transmitter is idle (FR.BUSY clear). Errors: [`Error::Timeout`].
    fn flush(&mut self) -> Result<(), Error> {
        self.flush_tx()
    }
}

impl<R: Pl011Regs> embedded_io::Read for Pl011<R> {
    /// Blocks, without bound, until at least one byte or a receive error arrives, then returns
    /// the bytes already waiting (up to `buf.len()`). A receive error found after the first byte
    /// ends the read early and is returned by the next call, so bytes and errors keep their order.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        uart_io::read(self, buf)
    }
}

impl<R: Pl011Regs> uart_io::ByteTx for Pl011<R> {
    type Error = Error;
    fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        Pl011::write_byte(self, byte)
    }
    fn try_write_byte(&mut self, byte: u8) -> bool {
        Pl011::try_write_byte(self, byte)
    }
}

impl<R: Pl011Regs> uart_io::ByteRx for Pl011<R> {
    type Error = Error;
    fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        Pl011::try_read_byte(self)
    }
    fn deferred_error(&mut self) -> &mut Option<Error> {
        &mut self.deferred_error
    }
}

impl<R: Pl011Regs> embedded_io::ReadReady for Pl011<R> {
    /// True when a byte or a receive error is waiting, so the next `read` returns at once.
    fn read_ready(&mut self) -> Result<bool, Error> {
        Ok(
            self.deferred_error.is_some()
                || self.pending_byte.is_some()
                || self.fr() & FR_RXFE == 0,
        )
    }
}

impl<R: Pl011Regs> embedded_io::WriteReady for Pl011<R> {
    /// True when the transmit FIFO has room (FR.TXFF clear), so the next `write` does not wait.
    fn write_ready(&mut self) -> Result<bool, Error> {
        Ok(self.fr() & FR_TXFF == 0)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use embedded_io::{Error as _, ErrorKind, Read, ReadReady, Write, WriteReady};
    use std::collections::VecDeque;
    use std::vec::Vec;

    const FIFO_DEPTH: usize = 32;

    /// A bus-level model of a PL011 (r1p5, 32-entry FIFOs).
    ///
    /// ```text
    ///  DR write ──► tx_fifo (32 with FEN, else 1) ──► shifter ──► gone
    ///               one step right every `drain_period` FR reads, only while UARTEN and TXE
    ///  rx queue ──► DR read (byte | error flags);  FR.RXFE = queue empty
    ///  LCR_H write: latches IBRD/FBRD; FEN clear flushes tx_fifo
    /// ```
    struct FakePl011 {
        /// Plain registers by `offset / 4`.
        regs: [u32; 32],
        /// Every write: (offset, value), in order.
        writes: Vec<(usize, u32)>,
        /// Every byte written to DR, in order.
        tx_log: Vec<u8>,
        tx_fifo: VecDeque<u8>,
        shifter: Option<u8>,
        /// DR writes that found the FIFO full: lost on hardware.
        tx_overflows: usize,
        /// FR reads per transmit step; 0 means the transmitter is stuck.
        drain_period: u32,
        fr_reads: u32,
        rx: VecDeque<u32>,
        /// The divisors the baud generator uses: IBRD/FBRD as of the last LCR_H write.
        latched_divisors: (u32, u32),
        /// TX FIFO contents at the moment CR was last written with UARTEN clear.
        fifo_len_at_disable: Option<usize>,
    }

    impl FakePl011 {
        fn new() -> Self {
            Self {
                regs: [0; 32],
                writes: Vec::new(),
                tx_log: Vec::new(),
                tx_fifo: VecDeque::new(),
                shifter: None,
                tx_overflows: 0,
                drain_period: 1,
                fr_reads: 0,
                rx: VecDeque::new(),
                latched_divisors: (0, 0),
                fifo_len_at_disable: None,
            }
        }

        /// As firmware leaves it: enabled, FIFOs on.
        fn enabled() -> Self {
            let mut fake = Self::new();
            fake.regs[reg::CR / 4] = CR_UARTEN | CR_TXE | CR_RXE;
            fake.regs[reg::LCR_H / 4] = LCR_H_WLEN_8 | LCR_H_FEN;
            fake
        }

        fn get(&self, offset: usize) -> u32 {
            self.regs[offset / 4]
        }

        fn transmitting(&self) -> bool {
            let cr = self.get(reg::CR);
            cr & CR_UARTEN != 0 && cr & CR_TXE != 0
        }

        fn capacity(&self) -> usize {
            if self.get(reg::LCR_H) & LCR_H_FEN != 0 {
                FIFO_DEPTH
            } else {
                1
            }
        }

        fn fr(&mut self) -> u32 {
            self.fr_reads += 1;
            if self.drain_period != 0
                && self.fr_reads.is_multiple_of(self.drain_period)
                && self.transmitting()
            {
                self.shifter = self.tx_fifo.pop_front();
            }
            let mut fr = 0;
            if !self.tx_fifo.is_empty() || self.shifter.is_some() {
                fr |= FR_BUSY;
            }
            if self.tx_fifo.is_empty() {
                fr |= FR_TXFE;
            }
            if self.tx_fifo.len() >= self.capacity() {
                fr |= FR_TXFF;
            }
            if self.rx.is_empty() {
                fr |= FR_RXFE;
            }
            if self.rx.len() >= self.capacity() {
                fr |= FR_RXFF;
            }
            fr
        }

        fn receive(&mut self, bytes: &[u8]) {
            self.rx.extend(bytes.iter().map(|&b| u32::from(b)));
        }
    }

    impl Pl011Regs for FakePl011 {
        fn read32(&mut self, offset: usize) -> u32 {
            match offset {
                reg::DR => self.rx.pop_front().unwrap_or(0),
                reg::FR => self.fr(),
                _ => self.get(offset),
            }
        }

        fn write32(&mut self, offset: usize, value: u32) {
            assert_eq!(offset % 4, 0, "unaligned register offset {offset:#x}");
            self.writes.push((offset, value));
            match offset {
                reg::DR => {
                    self.tx_log.push(value as u8);
                    if self.tx_fifo.len() >= self.capacity() {
                        self.tx_overflows += 1;
                    } else {
                        self.tx_fifo.push_back(value as u8);
                    }
                }
                reg::FR => {} // read-only
                reg::LCR_H => {
                    self.regs[offset / 4] = value;
                    self.latched_divisors = (self.get(reg::IBRD), self.get(reg::FBRD));
                    if value & LCR_H_FEN == 0 {
                        self.tx_fifo.clear();
                    }
                }
                reg::CR => {
                    if value & CR_UARTEN == 0 {
                        self.fifo_len_at_disable = Some(self.tx_fifo.len());
                    }
                    self.regs[offset / 4] = value;
                }
                _ => self.regs[offset / 4] = value,
            }
        }
    }

    fn ready_uart() -> Pl011<FakePl011> {
        let mut uart = Pl011::with_spin_limit(FakePl011::new(), 1000);
        uart.init(Some(24_000_000), 115_200).unwrap();
        uart.regs.writes.clear();
        uart.regs.fr_reads = 0;
        uart
    }

    #[test]
    fn register_offsets_match_the_trm() {
        assert_eq!(
            [
                reg::DR,
                reg::RSR_ECR,
                reg::FR,
                reg::IBRD,
                reg::FBRD,
                reg::LCR_H,
                reg::CR
            ],
            [0x00, 0x04, 0x18, 0x24, 0x28, 0x2C, 0x30]
        );
        assert_eq!([reg::IMSC, reg::ICR], [0x38, 0x44]);
    }

    #[test]
    fn baud_divisors_round_to_nearest_64th() {
        // QEMU virt / Juno: 24 MHz. 24e6 / (16 * 115200) = 13.0208 -> 13 + 1/64.
        assert_eq!(baud_divisors(24_000_000, 115_200), Some((13, 1)));
        // Raspberry Pi 4: 48 MHz -> 26.0417 -> 26 + 3/64 (2.67 rounds up).
        assert_eq!(baud_divisors(48_000_000, 115_200), Some((26, 3)));
        // TRM example: 4 MHz, 230400 -> 1.0851 -> 1 + 5/64.
        assert_eq!(baud_divisors(4_000_000, 230_400), Some((1, 5)));
        assert_eq!(baud_divisors(24_000_000, 1_500_000), Some((1, 0)));
        assert_eq!(baud_divisors(24_000_000, 0), None);
        assert_eq!(
            baud_divisors(24_000_000, 2_000_000),
            None,
            "IBRD would be 0"
        );
        assert_eq!(
            baud_divisors(u32::MAX, 1),
            None,
            "IBRD would exceed 16 bits"
        );
    }

    #[test]
    fn new_touches_no_register() {
        let uart = Pl011::new(FakePl011::new());
        assert_eq!(uart.spin_limit(), DEFAULT_SPIN_LIMIT);
        let regs = uart.into_inner();
        assert!(regs.writes.is_empty());
        assert_eq!(regs.fr_reads, 0);
    }

    /// Expect: disable, FIFO flush (FEN clear), IBRD, FBRD, then LCR_H 8N1|FEN (latching the
    /// divisors), interrupts masked and cleared, errors cleared, and only then enable.
    #[test]
    fn init_programs_registers_in_order() {
        let mut uart = Pl011::with_spin_limit(FakePl011::enabled(), 1000);
        uart.init(Some(24_000_000), 115_200).unwrap();
        let regs = &uart.regs;
        assert_eq!(
            regs.writes,
            [
                (reg::CR, 0),
                (reg::LCR_H, LCR_H_WLEN_8),
                (reg::IBRD, 13),
                (reg::FBRD, 1),
                (reg::LCR_H, LCR_H_WLEN_8 | LCR_H_FEN),
                (reg::IMSC, 0),
                (reg::ICR, ICR_ALL),
                (reg::RSR_ECR, 0),
                (reg::CR, CR_UARTEN | CR_TXE | CR_RXE),
            ]
        );
        assert_eq!(regs.latched_divisors, (13, 1));
        assert_eq!(
            regs.get(reg::LCR_H),
            0x70,
            "8N1, FIFOs on, no parity/stop2/break"
        );
    }

    #[test]
    fn init_without_clock_keeps_firmware_divisors() {
        let mut fake = FakePl011::enabled();
        fake.regs[reg::IBRD / 4] = 26;
        fake.regs[reg::FBRD / 4] = 3;
        let mut uart = Pl011::with_spin_limit(fake, 1000);
        uart.init(None, 9600).unwrap();
        let regs = &uart.regs;
        assert!(!regs
            .writes
            .iter()
            .any(|&(off, _)| off == reg::IBRD || off == reg::FBRD));
        assert_eq!(regs.latched_divisors, (26, 3));
        assert_eq!(regs.get(reg::CR), CR_UARTEN | CR_TXE | CR_RXE);
    }

    #[test]
    fn init_rejects_impossible_baud_without_touching_hardware() {
        let mut uart = Pl011::new(FakePl011::enabled());
        assert_eq!(uart.init(Some(24_000_000), 0), Err(Error::InvalidBaud));
        assert_eq!(uart.init(Some(1_000_000), 115_200), Err(Error::InvalidBaud));
        assert_eq!(Error::InvalidBaud.kind(), ErrorKind::InvalidInput);
        assert!(uart.regs.writes.is_empty());
        assert_eq!(uart.regs.fr_reads, 0);
    }

    /// Expect: output the firmware queued is sent before the UART is disabled.
    #[test]
    fn init_lets_queued_output_drain_before_disabling() {
        let mut fake = FakePl011::enabled();
        fake.tx_fifo.extend(b"boot");
        fake.drain_period = 3;
        let mut uart = Pl011::with_spin_limit(fake, 1000);
        uart.init(None, 0).unwrap();
        assert_eq!(uart.regs.fifo_len_at_disable, Some(0));
        assert!(
            uart.regs.shifter.is_none(),
            "last character still shifting at disable"
        );
    }

    /// Expect: a disabled UART with a stuck FIFO (BUSY forever) costs `spin_limit` polls, and
    /// the FEN toggle flushes the stale bytes.
    #[test]
    fn init_of_a_stuck_uart_is_bounded_and_flushes_the_fifo() {
        let mut fake = FakePl011::new(); // disabled: nothing drains
        fake.regs[reg::LCR_H / 4] = LCR_H_FEN;
        fake.tx_fifo.extend(b"stale");
        let mut uart = Pl011::with_spin_limit(fake, 40);
        uart.init(Some(24_000_000), 115_200).unwrap();
        assert_eq!(uart.regs.fr_reads, 40);
        assert!(uart.regs.tx_fifo.is_empty());
        assert_eq!(uart.regs.get(reg::CR), CR_UARTEN | CR_TXE | CR_RXE);
    }

    #[test]
    fn written_bytes_reach_dr_in_order_without_overflowing_the_fifo() {
        let mut uart = ready_uart();
        uart.regs.drain_period = 3;
        let msg: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        uart.write_all(&msg).unwrap();
        uart.flush().unwrap();
        assert_eq!(uart.regs.tx_log, msg);
        assert_eq!(uart.regs.tx_overflows, 0);
        assert!(uart.regs.tx_fifo.is_empty() && uart.regs.shifter.is_none());
    }

    #[test]
    fn write_queues_until_the_fifo_is_full() {
        let mut uart = ready_uart();
        uart.regs.drain_period = 0;
        assert_eq!(uart.write(&[1u8; 50]), Ok(FIFO_DEPTH));
        assert_eq!(uart.regs.tx_log.len(), FIFO_DEPTH);
        assert_eq!(uart.regs.tx_overflows, 0);
        assert_eq!(uart.write_ready(), Ok(false));
        assert!(!uart.try_write_byte(2));
    }

    #[test]
    fn write_of_empty_buffer_is_ok_zero_and_touches_nothing() {
        let mut uart = ready_uart();
        uart.regs.drain_period = 0;
        uart.regs.tx_fifo.extend([0u8; FIFO_DEPTH]); // full and stuck
        assert_eq!(uart.write(&[]), Ok(0));
        assert_eq!(uart.regs.fr_reads, 0);
        assert!(uart.regs.writes.is_empty());
    }

    #[test]
    fn full_fifo_makes_write_wait_for_room() {
        let mut uart = ready_uart();
        uart.regs.tx_fifo.extend([0u8; FIFO_DEPTH]);
        uart.regs.drain_period = 20;
        assert_eq!(uart.write(b"x"), Ok(1));
        assert!(uart.regs.fr_reads >= 20, "wrote into a full FIFO");
        assert_eq!(uart.regs.tx_overflows, 0);
        assert_eq!(uart.regs.tx_log, b"x");
    }

    /// Expect: a FIFO that never drains costs exactly `spin_limit` FR polls, then `TimedOut`,
    /// and no byte is written.
    #[test]
    fn full_fifo_times_out_after_spin_limit_polls() {
        let mut uart = ready_uart();
        uart.spin_limit = 25;
        uart.regs.drain_period = 0;
        uart.regs.tx_fifo.extend([0u8; FIFO_DEPTH]);
        assert_eq!(uart.write_byte(1), Err(Error::Timeout));
        assert_eq!(uart.regs.fr_reads, 25);
        assert_eq!(uart.write(b"abc"), Err(Error::Timeout));
        assert_eq!(uart.regs.fr_reads, 50);
        assert_eq!(uart.flush(), Err(Error::Timeout));
        assert_eq!(uart.regs.fr_reads, 75);
        assert!(uart.regs.tx_log.is_empty());
        assert_eq!(Error::Timeout.kind(), ErrorKind::TimedOut);

        let mut zero = Pl011::with_spin_limit(FakePl011::new(), 0);
        zero.regs.drain_period = 0;
        zero.regs.tx_fifo.push_back(0); // capacity 1 without FEN: full
        assert_eq!(zero.write_byte(1), Err(Error::Timeout));
        assert_eq!(zero.regs.fr_reads, 1, "a limit of 0 still polls once");
    }

    #[test]
    fn flush_waits_for_busy_not_just_an_empty_fifo() {
        let mut uart = ready_uart();
        uart.regs.drain_period = 10;
        uart.write_all(b"ab").unwrap();
        uart.flush().unwrap();
        // 'a' reaches the shifter at poll 10, 'b' at 20, the shifter empties at 30.
        assert!(
            uart.regs.fr_reads >= 30,
            "flush returned before BUSY cleared"
        );
        assert!(uart.regs.shifter.is_none());
    }

    #[test]
    fn reads_return_received_bytes() {
        let mut uart = ready_uart();
        assert_eq!(uart.try_read_byte(), Ok(None));
        assert_eq!(uart.read_ready(), Ok(false));
        uart.regs.receive(b"hello");
        assert_eq!(uart.read_ready(), Ok(true));
        assert_eq!(uart.try_read_byte(), Ok(Some(b'h')));
        let mut buf = [0u8; 3];
        assert_eq!(uart.read(&mut buf), Ok(3));
        assert_eq!(&buf, b"ell");
        let mut buf = [0u8; 8];
        assert_eq!(uart.read(&mut buf), Ok(1));
        assert_eq!(buf[0], b'o');
        assert_eq!(uart.read(&mut []), Ok(0));
        assert!(uart.regs.rx.is_empty());
    }

    #[test]
    fn error_flags_in_dr_drop_the_bad_character() {
        for (flags, expected) in [
            (DR_FE, Error::Framing),
            (DR_PE, Error::Parity),
            (DR_BE | DR_FE, Error::Break),
            (DR_OE | DR_PE, Error::Parity),
        ] {
            let mut uart = ready_uart();
            uart.regs.rx.push_back(flags | 0xEE);
            uart.regs.receive(b"k");
            assert_eq!(uart.try_read_byte(), Err(expected), "{flags:#x}");
            assert_eq!(uart.try_read_byte(), Ok(Some(b'k')), "{flags:#x}");
        }
        assert_eq!(Error::Parity.kind(), ErrorKind::InvalidData);
        assert_eq!(Error::Framing.kind(), ErrorKind::InvalidData);
        assert_eq!(Error::Break.kind(), ErrorKind::Other);
    }

    #[test]
    fn overrun_is_reported_then_its_good_byte_returned() {
        let mut uart = ready_uart();
        uart.regs.rx.push_back(DR_OE | u32::from(b'a'));
        uart.regs.receive(b"b");
        let mut buf = [0u8; 4];
        assert_eq!(uart.read(&mut buf), Err(Error::Overrun));
        assert_eq!(Error::Overrun.kind(), ErrorKind::Other);
        assert_eq!(uart.read_ready(), Ok(true));
        assert_eq!(uart.read(&mut buf), Ok(2));
        assert_eq!(&buf[..2], b"ab");
    }

    #[test]
    fn error_after_first_byte_is_deferred_to_the_next_read() {
        let mut uart = ready_uart();
        uart.regs.receive(b"ab");
        uart.regs.rx.push_back(DR_BE);
        uart.regs.receive(b"c");
        let mut buf = [0u8; 8];
        assert_eq!(uart.read(&mut buf), Ok(2));
        assert_eq!(&buf[..2], b"ab");
        assert_eq!(uart.read_ready(), Ok(true));
        assert_eq!(uart.read(&mut buf), Err(Error::Break));
        assert_eq!(uart.read(&mut buf), Ok(1));
        assert_eq!(buf[0], b'c');
    }

    #[test]
    fn works_through_a_mutable_reference() {
        let mut fake = FakePl011::new();
        {
            let mut uart = Pl011::with_spin_limit(&mut fake, 1000);
            uart.init(Some(48_000_000), 115_200).unwrap();
            uart.write_all(b"ok").unwrap();
        }
        assert_eq!(fake.tx_log, b"ok");
        assert_eq!(fake.latched_divisors, (26, 3));
    }
}
