//! Polled driver for the Qualcomm UARTDM (`qcom,msm-uartdm`, v1.3/v1.4: the debug console of
//! the MSM8916, MSM8996 and other Snapdragons before the GENI serial engine), over
//! `embedded-io`.
//!
//! # Concepts
//!
//! - **Register access is not ours.** The board hands the driver a [`UartdmRegs`] doing 32-bit
//!   volatile accesses at `base + offset`, or a fake UARTDM in the tests. No `unsafe` here.
//! - **Transmit counts characters.** The UARTDM sends what `UARTDM_NCF_TX` announces, four
//!   characters per word written to `UARTDM_TF`. A byte goes out as Linux's console sends a
//!   one-character write (`__msm_console_write`, `msm_reset_dm_count`, `msm_wait_for_xmitr`):
//!   wait until the transmitter is empty or `ISR.TX_READY` says the last count is done, reset
//!   TX_READY (`CR` command 0x300), announce 1 character in `NCF_TX` (read back, as Linux does),
//!   wait for `SR.TX_READY`, write the byte to `TF`.
//! - **Receive packs four characters a word** in `UARTDM_RF`; fewer wait in the packing buffer
//!   (`UARTDM_RXFS` bits 9:7) until a stale event pushes them out, which `FORCE_STALE` forces,
//!   as `msm_poll_get_char_dm()` does (then the stale interrupt is reset, `DMRX` rearmed and
//!   stale events enabled again). Overrun and parity/framing errors are `SR` bits, cleared with
//!   the `RESET_ERR` command.
//! - **Bounded waits**: every transmit wait polls at most `spin_limit` times, then
//!   [`Error::Timeout`].
//! - **The baud rate** comes from the UART clock (the tree names it through `clocks`): the
//!   console is [taken over](UartdmUart::take_over) as the boot loader set it; with a known clock,
//!   [`UartdmUart::init`] writes the clock-select code of Linux's `msm_find_best_baud()` table to
//!   `CSR` when the divisor `clock / (16 x baud)` is one of its entries.
//!
//! # Reference
//!
//! Linux `drivers/tty/serial/msm_serial.c` (register map, `msm_wait_for_xmitr`,
//! `msm_reset_dm_count`, `__msm_console_write`, `msm_poll_get_char_dm`, `msm_find_best_baud`).

#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

/// The device-tree compatible strings this driver serves (the UARTDM; not the older
/// `qcom,msm-uart`).
pub const COMPATIBLES: &[&str] = &["qcom,msm-uartdm-v1.4", "qcom,msm-uartdm-v1.3", "qcom,msm-uartdm"];

/// 32-bit access to one UARTDM's register block. Each call is exactly one volatile access, in
/// program order: a read of [`reg::RF`] pops a word.
pub trait UartdmRegs {
    /// Reads the 32-bit register at byte `offset`.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes `value` to the 32-bit register at byte `offset`.
    fn write32(&mut self, offset: usize, value: u32);
}

/// Register byte offsets (`msm_serial.c`). `SR` reads status, `CSR` (same offset) is written;
/// `ISR` reads, `IMR` (same offset) is written; `TF` is written, `RF` (same offset) read.
pub mod reg {
    pub const SR: usize = 0x08;
    pub const CSR: usize = 0x08;
    pub const CR: usize = 0x10;
    pub const ISR: usize = 0x14;
    pub const IMR: usize = 0x14;
    pub const DMRX: usize = 0x34;
    pub const NCF_TX: usize = 0x40;
    pub const RXFS: usize = 0x50;
    pub const TF: usize = 0x70;
    pub const RF: usize = 0x70;
}

/// Bytes of register window the driver uses from its base.
pub const WINDOW: u64 = 0x100;

/// `SR` bits.
pub const SR_RX_READY: u32 = 1 << 0;
pub const SR_TX_READY: u32 = 1 << 2;
pub const SR_TX_EMPTY: u32 = 1 << 3;
pub const SR_OVERRUN: u32 = 1 << 4;
pub const SR_PAR_FRAME_ERR: u32 = 1 << 5;
/// `ISR.TX_READY`: the announced characters have been sent.
pub const ISR_TX_READY: u32 = 1 << 7;
/// `CR` commands.
pub const CR_CMD_RESET_ERR: u32 = 3 << 4;
pub const CR_CMD_RESET_STALE_INT: u32 = 8 << 4;
pub const CR_CMD_STALE_EVENT_ENABLE: u32 = 80 << 4;
pub const CR_CMD_RESET_TX_READY: u32 = 3 << 8;
pub const CR_CMD_FORCE_STALE: u32 = 4 << 8;
/// `RXFS`: characters in the packing buffer, bits 9:7.
pub const RXFS_BUF_SHIFT: u32 = 7;
pub const RXFS_BUF_MASK: u32 = 7;
/// What `DMRX` is rearmed with after a forced stale event.
pub const DMRX_DEFAULT: u32 = 0x00ff_ffff;

/// Polls before a wait gives up by default.
pub const DEFAULT_SPIN_LIMIT: u32 = 1_000_000;

/// Linux's `msm_find_best_baud()` table: clock divisor (`clock / (16 x baud)`) and `CSR` code.
pub const BAUD_CODES: &[(u32, u32)] = &[
    (1, 0xff), (2, 0xee), (3, 0xdd), (4, 0xcc), (6, 0xbb), (8, 0xaa), (12, 0x99), (16, 0x88),
    (24, 0x77), (32, 0x66), (48, 0x55), (96, 0x44), (192, 0x33), (384, 0x22), (768, 0x11), (1536, 0x00),
];

/// What can go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The transmitter never became ready.
    Timeout,
    /// Characters were lost on receive.
    Overrun,
    /// A character arrived with a parity or framing error; its word was dropped.
    ParityOrFraming,
    /// `current-speed` without the UART clock rate.
    NoClock,
    /// The clock cannot make that speed with one of the UARTDM's divisors.
    InvalidBaud,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Timeout => "the UARTDM transmitter never became ready",
            Error::Overrun => "receive overrun",
            Error::ParityOrFraming => "parity or framing error on receive",
            Error::NoClock => "no UART clock rate to choose the divisor from",
            Error::InvalidBaud => "the UART clock cannot make that speed",
        })
    }
}

impl core::error::Error for Error {}

impl embedded_io::Error for Error {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind;
        match self {
            Error::Timeout => ErrorKind::TimedOut,
            Error::Overrun | Error::ParityOrFraming => ErrorKind::InvalidData,
            Error::NoClock | Error::InvalidBaud => ErrorKind::InvalidInput,
        }
    }
}

/// The `CSR` code for `baud` from a UART clock of `clock_hz`: the table entry whose divisor is
/// exactly `clock / (16 x baud)`.
///
/// # Errors
/// [`Error::InvalidBaud`] when the clock is not an exact table multiple of 16 x `baud`.
pub fn csr_code(clock_hz: u32, baud: u32) -> Result<u32, Error> {
    let sample = u64::from(baud) * 16;
    if sample == 0 || u64::from(clock_hz) % sample != 0 {
        return Err(Error::InvalidBaud);
    }
    let div = u64::from(clock_hz) / sample;
    BAUD_CODES.iter().find(|&&(d, _)| u64::from(d) == div).map(|&(_, c)| c).ok_or(Error::InvalidBaud)
}

/// One UARTDM.
pub struct UartdmUart<R> {
    regs: R,
    spin_limit: u32,
    rx_word: u32,
    rx_left: u32,
    deferred_error: Option<Error>,
}

impl<R> fmt::Debug for UartdmUart<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UartdmUart").field("spin_limit", &self.spin_limit).finish_non_exhaustive()
    }
}

impl<R: UartdmRegs> UartdmUart<R> {
    /// A driver over `regs`; touches no register.
    pub fn new(regs: R) -> Self {
        Self { regs, spin_limit: DEFAULT_SPIN_LIMIT, rx_word: 0, rx_left: 0, deferred_error: None }
    }

    /// How many polls a wait makes before [`Error::Timeout`].
    #[must_use]
    pub fn with_spin_limit(mut self, spin_limit: u32) -> Self {
        self.spin_limit = spin_limit.max(1);
        self
    }

    /// The register block back.
    pub fn into_inner(self) -> R {
        self.regs
    }

    /// Keeps the boot loader's set-up (clock code, mode); masks the UART's interrupts (`IMR` = 0).
    pub fn take_over(&mut self) {
        self.regs.write32(reg::IMR, 0);
    }

    /// Takes over, then selects `baud` from the UART clock `clock_hz` (`CSR`).
    ///
    /// # Errors
    /// [`Error::InvalidBaud`] (see [`csr_code`]); only the take-over happened then.
    pub fn init(&mut self, clock_hz: u32, baud: u32) -> Result<(), Error> {
        self.take_over();
        let code = csr_code(clock_hz, baud)?;
        self.regs.write32(reg::CSR, code);
        Ok(())
    }

    /// The console set-up from the node: no `current-speed` takes over; a speed is selected when
    /// the clock is known.
    ///
    /// # Errors
    /// [`Error::NoClock`] for a speed without a clock, else as [`UartdmUart::init`]; the UART is
    /// taken over either way.
    pub fn init_console(&mut self, clock_hz: Option<u32>, baud: Option<u32>) -> Result<(), Error> {
        match (baud, clock_hz) {
            (None, _) => {
                self.take_over();
                Ok(())
            }
            (Some(_), None) => {
                self.take_over();
                Err(Error::NoClock)
            }
            (Some(b), Some(c)) => self.init(c, b),
        }
    }

    /// Whether a new character count may be announced: the transmitter is empty, or the last
    /// count has been sent (`msm_wait_for_xmitr`'s condition).
    fn tx_idle(&mut self) -> bool {
        self.regs.read32(reg::SR) & SR_TX_EMPTY != 0 || self.regs.read32(reg::ISR) & ISR_TX_READY != 0
    }

    fn send(&mut self, byte: u8) -> Result<(), Error> {
        self.regs.write32(reg::CR, CR_CMD_RESET_TX_READY);
        self.regs.write32(reg::NCF_TX, 1);
        let _ = self.regs.read32(reg::NCF_TX);
        if !(0..self.spin_limit).any(|_| self.regs.read32(reg::SR) & SR_TX_READY != 0) {
            return Err(Error::Timeout);
        }
        self.regs.write32(reg::TF, u32::from(byte));
        Ok(())
    }

    /// Sends one byte (see the crate documentation), waiting (bounded) for the transmitter.
    ///
    /// # Errors
    /// [`Error::Timeout`] when it never became ready; nothing was queued then.
    pub fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        if !(0..self.spin_limit).any(|_| self.tx_idle()) {
            return Err(Error::Timeout);
        }
        self.send(byte)
    }

    /// Sends one byte if the transmitter can take a new count now; whether it did.
    pub fn try_write_byte(&mut self, byte: u8) -> bool {
        self.tx_idle() && self.send(byte).is_ok()
    }

    /// A received byte, if one is waiting (`msm_poll_get_char_dm`).
    ///
    /// # Errors
    /// [`Error::Overrun`] or [`Error::ParityOrFraming`] (the waiting word is dropped), each
    /// cleared with `RESET_ERR`.
    pub fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        if self.rx_left == 0 {
            let sr = self.regs.read32(reg::SR);
            if sr & (SR_OVERRUN | SR_PAR_FRAME_ERR) != 0 {
                self.regs.write32(reg::CR, CR_CMD_RESET_ERR);
                if sr & SR_PAR_FRAME_ERR != 0 {
                    if sr & SR_RX_READY != 0 {
                        let _ = self.regs.read32(reg::RF);
                    }
                    return Err(Error::ParityOrFraming);
                }
                return Err(Error::Overrun);
            }
            if sr & SR_RX_READY != 0 {
                self.rx_word = self.regs.read32(reg::RF);
                self.rx_left = 4;
            } else {
                // Fewer than four characters wait in the packing buffer: a forced stale event
                // pushes them into the FIFO as one partial word.
                let n = (self.regs.read32(reg::RXFS) >> RXFS_BUF_SHIFT) & RXFS_BUF_MASK;
                if n == 0 {
                    return Ok(None);
                }
                self.regs.write32(reg::CR, CR_CMD_FORCE_STALE);
                self.rx_word = self.regs.read32(reg::RF);
                self.rx_left = n.min(4);
                self.regs.write32(reg::CR, CR_CMD_RESET_STALE_INT);
                self.regs.write32(reg::DMRX, DMRX_DEFAULT);
                self.regs.write32(reg::CR, CR_CMD_STALE_EVENT_ENABLE);
            }
        }
        let b = self.rx_word as u8;
        self.rx_word >>= 8;
        self.rx_left -= 1;
        Ok(Some(b))
    }
}

impl<R> embedded_io::ErrorType for UartdmUart<R> {
    type Error = Error;
}

impl<R: UartdmRegs> embedded_io::Write for UartdmUart<R> {
    /// Sends the first byte (bounded wait), then the following ones while the transmitter can
    /// take them. Returns `Ok(0)` only for an empty `buf`.
    fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        uart_io::write(self, buf)
    }

    /// Waits (bounded) until the transmitter is empty or the last count was sent.
    fn flush(&mut self) -> Result<(), Error> {
        if (0..self.spin_limit).any(|_| self.tx_idle()) {
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }
}

impl<R: UartdmRegs> embedded_io::Read for UartdmUart<R> {
    /// Blocks, without bound, until at least one byte or a receive error arrives, then returns
    /// the bytes already waiting.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        uart_io::read(self, buf)
    }
}

impl<R: UartdmRegs> uart_io::ByteTx for UartdmUart<R> {
    type Error = Error;
    fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        UartdmUart::write_byte(self, byte)
    }
    fn try_write_byte(&mut self, byte: u8) -> bool {
        UartdmUart::try_write_byte(self, byte)
    }
}

impl<R: UartdmRegs> uart_io::ByteRx for UartdmUart<R> {
    type Error = Error;
    fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        UartdmUart::try_read_byte(self)
    }
    fn deferred_error(&mut self) -> &mut Option<Error> {
        &mut self.deferred_error
    }
}

#[cfg(test)]
mod tests;
