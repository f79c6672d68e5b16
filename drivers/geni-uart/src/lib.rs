//! Polled driver for the Qualcomm GENI serial engine in UART mode (`qcom,geni-debug-uart`, the
//! debug console of the Snapdragon 845 and later), over `embedded-io`.
//!
//! # Concepts
//!
//! - **Register access is not ours.** The board hands the driver a [`GeniRegs`] doing 32-bit
//!   volatile accesses at `base + offset`, or a fake serial engine in the tests. This crate
//!   contains no `unsafe`.
//! - **A transfer is a command.** The engine sends nothing on its own: the main sequencer is
//!   given the byte count (`SE_UART_TX_TRANS_LEN`) and the `UART_START_TX` opcode
//!   (`SE_GENI_M_CMD0`), raises `M_TX_FIFO_WATERMARK` in `SE_GENI_M_IRQ_STATUS` when the transmit
//!   FIFO is at or below the watermark, and `M_CMD_DONE` when the count has gone out. A byte is
//!   sent as Linux's `qcom_geni_serial_poll_put_char()` sends it: watermark 2, a one-byte
//!   command, the byte into `SE_GENI_TX_FIFOn` once the watermark is up, then wait for
//!   `M_CMD_DONE` and clear it. A command that does not finish is aborted
//!   (`M_GENI_CMD_ABORT`), as `qcom_geni_serial_poll_tx_done()` does.
//! - **Receive is a command too.** The secondary sequencer runs `UART_START_READ`; words arrive
//!   in `SE_GENI_RX_FIFOn`, four bytes each, the last one possibly partial (`RX_LAST`,
//!   `RX_LAST_BYTE_VALID`), as `qcom_geni_serial_get_char()` reads them. Parity errors and
//!   breaks are the `S_GP_IRQ` bits of `SE_GENI_S_IRQ_STATUS` (`qcom_geni_serial_handle_rx`).
//! - **Bounded waits.** Every wait polls at most `spin_limit` times, then [`Error::Timeout`].
//! - **The baud rate** comes from the serial engine's clock, which the tree names through
//!   `clocks` (the clock controller sets it; there is no `clock-frequency`). The console is
//!   [taken over](GeniUart::take_over) as the boot loader set it up; with a known clock,
//!   [`GeniUart::init`] programs the divider of `GENI_SER_M_CLK_CFG`/`GENI_SER_S_CLK_CFG` for 32x
//!   oversampling (Linux `get_clk_div_rate()`), and says [`Error::NoClock`] without one.
//!
//! # Lifecycle
//!
//! [`GeniUart::new`] touches no register. Then [`GeniUart::take_over`] or [`GeniUart::init`];
//! [`GeniUart::init_console`] picks one from the device-tree properties.
//!
//! # Reference
//!
//! Linux `drivers/tty/serial/qcom_geni_serial.c` (`qcom_geni_serial_poll_put_char`,
//! `qcom_geni_serial_setup_tx`, `qcom_geni_serial_poll_tx_done`, `qcom_geni_serial_get_char`,
//! `qcom_geni_serial_handle_rx`) and `include/linux/soc/qcom/geni-se.h` for the register map.

#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

/// The device-tree compatible strings this driver serves.
pub const COMPATIBLES: &[&str] = &["qcom,geni-debug-uart"];

/// 32-bit access to one GENI serial engine's register block, provided by the platform or board.
/// Each call is exactly one volatile bus access, in program order: a read of
/// [`reg::RX_FIFO`] pops a word.
pub trait GeniRegs {
    /// Reads the 32-bit register at byte `offset`.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes `value` to the 32-bit register at byte `offset`.
    fn write32(&mut self, offset: usize, value: u32);
}

/// Register byte offsets (`geni-se.h`, `qcom_geni_serial.c`).
pub mod reg {
    pub const GENI_STATUS: usize = 0x40;
    pub const SER_M_CLK_CFG: usize = 0x48;
    pub const SER_S_CLK_CFG: usize = 0x4c;
    pub const UART_TX_TRANS_LEN: usize = 0x270;
    pub const M_CMD0: usize = 0x600;
    pub const M_CMD_CTRL: usize = 0x604;
    pub const M_IRQ_STATUS: usize = 0x610;
    pub const M_IRQ_CLEAR: usize = 0x618;
    pub const S_CMD0: usize = 0x630;
    pub const S_IRQ_STATUS: usize = 0x640;
    pub const S_IRQ_CLEAR: usize = 0x648;
    pub const TX_FIFO: usize = 0x700;
    pub const RX_FIFO: usize = 0x780;
    pub const RX_FIFO_STATUS: usize = 0x804;
    pub const TX_WATERMARK: usize = 0x80c;
}

/// Bytes of register window the driver uses from its base.
pub const WINDOW: u64 = 0x1000;

/// `SE_GENI_STATUS`: the main (transmit) and secondary (receive) sequencers are running a
/// command.
pub const M_GENI_CMD_ACTIVE: u32 = 1 << 0;
pub const S_GENI_CMD_ACTIVE: u32 = 1 << 12;
/// `SE_GENI_M_IRQ_STATUS` (and `S_IRQ`) bits.
pub const M_CMD_DONE: u32 = 1 << 0;
pub const M_CMD_ABORT: u32 = 1 << 5;
pub const M_TX_FIFO_WATERMARK: u32 = 1 << 30;
/// Parity error (`S_GP_IRQ_0`, `_1`) and break (`S_GP_IRQ_2`, `_3`) on receive.
pub const S_GP_IRQ_PARITY: u32 = (1 << 9) | (1 << 10);
pub const S_GP_IRQ_BREAK: u32 = (1 << 11) | (1 << 12);
/// `SE_GENI_M_CMD_CTRL_REG`: abort the running command.
pub const M_GENI_CMD_ABORT: u32 = 1 << 1;
/// Opcodes (`M_CMD0`/`S_CMD0` bits 31:27) and the shift.
pub const UART_START_TX: u32 = 1;
pub const UART_START_READ: u32 = 1;
pub const OPCODE_SHIFT: u32 = 27;
/// `SE_GENI_RX_FIFO_STATUS`: words waiting, the last word marker and its valid byte count.
pub const RX_FIFO_WC_MASK: u32 = 0x01ff_ffff;
pub const RX_LAST: u32 = 1 << 31;
pub const RX_LAST_BYTE_VALID_SHIFT: u32 = 28;
/// The transmit watermark Linux's console uses (`DEF_TX_WM`).
pub const DEF_TX_WM: u32 = 2;
/// `GENI_SER_*_CLK_CFG`: clock enable and the divider field (bits 15:4).
pub const SER_CLK_EN: u32 = 1;
pub const CLK_DIV_SHIFT: u32 = 4;
pub const CLK_DIV_MAX: u32 = 0xfff;
/// Samples per bit (`UART_OVERSAMPLING`).
pub const OVERSAMPLING: u32 = 32;

/// Polls before a wait gives up by default.
pub const DEFAULT_SPIN_LIMIT: u32 = 1_000_000;

/// What can go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The engine never raised the watermark or finished the command; the command was aborted.
    Timeout,
    /// A character arrived with a parity error; it was dropped.
    Parity,
    /// A break was received.
    Break,
    /// `current-speed` without the serial engine's clock rate.
    NoClock,
    /// The clock cannot make that speed with a divider of 1 to 4095 within 2%.
    InvalidBaud,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Timeout => "the GENI serial engine did not finish the command (aborted)",
            Error::Parity => "parity error on receive",
            Error::Break => "break received",
            Error::NoClock => "no serial engine clock rate to compute the divider from",
            Error::InvalidBaud => "the serial engine clock cannot make that speed",
        })
    }
}

impl core::error::Error for Error {}

impl embedded_io::Error for Error {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind;
        match self {
            Error::Timeout => ErrorKind::TimedOut,
            Error::Parity | Error::Break => ErrorKind::InvalidData,
            Error::NoClock | Error::InvalidBaud => ErrorKind::InvalidInput,
        }
    }
}

/// The `GENI_SER_*_CLK_CFG` divider for `baud` from a serial-engine clock of `clock_hz`:
/// `clock / (baud * 32)`, rounded to nearest, accepted when the speed it makes is within 2%.
///
/// # Errors
/// [`Error::InvalidBaud`] for a zero speed, a divider outside 1..=4095 or an error above 2%.
pub fn clk_div(clock_hz: u32, baud: u32) -> Result<u32, Error> {
    let sample = u64::from(baud) * u64::from(OVERSAMPLING);
    if sample == 0 {
        return Err(Error::InvalidBaud);
    }
    let div = (u64::from(clock_hz) + sample / 2) / sample;
    if div == 0 || div > u64::from(CLK_DIV_MAX) {
        return Err(Error::InvalidBaud);
    }
    let made = u64::from(clock_hz) / (div * u64::from(OVERSAMPLING));
    if made.abs_diff(u64::from(baud)) * 50 > u64::from(baud) {
        return Err(Error::InvalidBaud);
    }
    Ok(div as u32)
}

/// One GENI UART.
pub struct GeniUart<R> {
    regs: R,
    spin_limit: u32,
    /// Bytes of the last receive word not handed out yet (low byte first) and their count.
    rx_word: u32,
    rx_left: u32,
    deferred_error: Option<Error>,
}

impl<R> fmt::Debug for GeniUart<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeniUart").field("spin_limit", &self.spin_limit).finish_non_exhaustive()
    }
}

impl<R: GeniRegs> GeniUart<R> {
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

    fn wait_irq(&mut self, bit: u32) -> bool {
        (0..self.spin_limit).any(|_| self.regs.read32(reg::M_IRQ_STATUS) & bit != 0)
    }

    /// Ends the running transmit command: waits for `M_CMD_DONE`, else aborts it; clears both.
    fn finish_tx(&mut self) -> Result<(), Error> {
        if self.wait_irq(M_CMD_DONE) {
            self.regs.write32(reg::M_IRQ_CLEAR, M_CMD_DONE);
            return Ok(());
        }
        self.regs.write32(reg::M_CMD_CTRL, M_GENI_CMD_ABORT);
        self.wait_irq(M_CMD_ABORT);
        self.regs.write32(reg::M_IRQ_CLEAR, M_CMD_DONE | M_CMD_ABORT);
        Err(Error::Timeout)
    }

    /// Keeps the boot loader's set-up (clock divider, packing, word length): only a transmit
    /// command still running is let finish (or aborted), so that the first byte starts a command
    /// of its own.
    pub fn take_over(&mut self) {
        if self.regs.read32(reg::GENI_STATUS) & M_GENI_CMD_ACTIVE != 0 {
            let _ = self.finish_tx();
        }
    }

    /// Takes over, then sets `baud` from the serial engine's clock `clock_hz` on both sequencers.
    ///
    /// # Errors
    /// [`Error::InvalidBaud`] (see [`clk_div`]); nothing is changed then but the take-over.
    pub fn init(&mut self, clock_hz: u32, baud: u32) -> Result<(), Error> {
        self.take_over();
        let div = clk_div(clock_hz, baud)?;
        let cfg = (div << CLK_DIV_SHIFT) | SER_CLK_EN;
        self.regs.write32(reg::SER_M_CLK_CFG, cfg);
        self.regs.write32(reg::SER_S_CLK_CFG, cfg);
        Ok(())
    }

    /// The console set-up from the node: no `current-speed` takes over; a speed is programmed
    /// when the clock is known.
    ///
    /// # Errors
    /// [`Error::NoClock`] for a speed without a clock, else as [`GeniUart::init`]; the UART is
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

    /// Sends one byte as a one-byte command (see the crate documentation).
    ///
    /// # Errors
    /// [`Error::Timeout`] when the watermark never rose or the command never finished; the
    /// command was aborted.
    pub fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        self.regs.write32(reg::TX_WATERMARK, DEF_TX_WM);
        self.regs.write32(reg::UART_TX_TRANS_LEN, 1);
        self.regs.write32(reg::M_CMD0, UART_START_TX << OPCODE_SHIFT);
        if !self.wait_irq(M_TX_FIFO_WATERMARK) {
            self.regs.write32(reg::M_CMD_CTRL, M_GENI_CMD_ABORT);
            self.wait_irq(M_CMD_ABORT);
            self.regs.write32(reg::M_IRQ_CLEAR, M_CMD_DONE | M_CMD_ABORT | M_TX_FIFO_WATERMARK);
            return Err(Error::Timeout);
        }
        self.regs.write32(reg::TX_FIFO, u32::from(byte));
        self.regs.write32(reg::M_IRQ_CLEAR, M_TX_FIFO_WATERMARK);
        self.finish_tx()
    }

    /// Sends one byte when no transmit command is running; whether it did.
    pub fn try_write_byte(&mut self, byte: u8) -> bool {
        self.regs.read32(reg::GENI_STATUS) & M_GENI_CMD_ACTIVE == 0 && self.write_byte(byte).is_ok()
    }

    /// A received byte, if one is waiting. Starts the receive command when none runs.
    ///
    /// # Errors
    /// [`Error::Parity`] (the waiting word is dropped) or [`Error::Break`], each cleared.
    pub fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        if self.rx_left == 0 {
            let s = self.regs.read32(reg::S_IRQ_STATUS);
            if s & (S_GP_IRQ_PARITY | S_GP_IRQ_BREAK) != 0 {
                self.regs.write32(reg::S_IRQ_CLEAR, s & (S_GP_IRQ_PARITY | S_GP_IRQ_BREAK));
                if s & S_GP_IRQ_PARITY != 0 {
                    if self.regs.read32(reg::RX_FIFO_STATUS) & RX_FIFO_WC_MASK != 0 {
                        let _ = self.regs.read32(reg::RX_FIFO);
                    }
                    return Err(Error::Parity);
                }
                return Err(Error::Break);
            }
            if self.regs.read32(reg::GENI_STATUS) & S_GENI_CMD_ACTIVE == 0 {
                self.regs.write32(reg::S_CMD0, UART_START_READ << OPCODE_SHIFT);
            }
            let status = self.regs.read32(reg::RX_FIFO_STATUS);
            let words = status & RX_FIFO_WC_MASK;
            if words == 0 {
                return Ok(None);
            }
            // The last word of a transfer may hold fewer bytes; 0 means all four.
            let valid = if words == 1 && status & RX_LAST != 0 { (status >> RX_LAST_BYTE_VALID_SHIFT) & 7 } else { 0 };
            self.rx_left = if valid == 0 { 4 } else { valid };
            self.rx_word = self.regs.read32(reg::RX_FIFO);
        }
        let b = self.rx_word as u8;
        self.rx_word >>= 8;
        self.rx_left -= 1;
        Ok(Some(b))
    }
}

impl<R> embedded_io::ErrorType for GeniUart<R> {
    type Error = Error;
}

impl<R: GeniRegs> embedded_io::Write for GeniUart<R> {
    /// Sends the first byte (bounded wait), then the following ones while the engine is idle.
    /// Returns `Ok(0)` only for an empty `buf`.
    ///
    /// Errors: [`Error::Timeout`] if the first byte could not be sent.
    fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        uart_io::write(self, buf)
    }

    /// Every byte was sent when `write` returned (each is a command waited for).
    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

impl<R: GeniRegs> embedded_io::Read for GeniUart<R> {
    /// Blocks, without bound, until at least one byte or a receive error arrives, then returns
    /// the bytes already waiting.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        uart_io::read(self, buf)
    }
}

impl<R: GeniRegs> uart_io::ByteTx for GeniUart<R> {
    type Error = Error;
    fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        GeniUart::write_byte(self, byte)
    }
    fn try_write_byte(&mut self, byte: u8) -> bool {
        GeniUart::try_write_byte(self, byte)
    }
}

impl<R: GeniRegs> uart_io::ByteRx for GeniUart<R> {
    type Error = Error;
    fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        GeniUart::try_read_byte(self)
    }
    fn deferred_error(&mut self) -> &mut Option<Error> {
        &mut self.deferred_error
    }
}

#[cfg(test)]
mod tests;
