//! Polled driver for the NXP (Freescale) i.MX UART of the i.MX21 and later (i.MX5/6/7/8), over
//! `embedded-io`.
//!
//! # Concepts
//!
//! - **Register access is not ours.** The board hands the driver an [`ImxRegs`] doing 32-bit
//!   volatile accesses at `base + offset` (i.MX6 UART1 is at 0x0202_0000, i.MX8M UART2 at
//!   0x3089_0000), or a fake register block in the tests. This crate contains no `unsafe`.
//! - **Status, not interrupts.** Transmit waits for UTS.TXFULL to clear, flush for USR2.TXDC
//!   (FIFO and shifter empty), receive looks at USR2.RDR. Every interrupt enable in UCR1-4 is
//!   cleared.
//! - **Bounded waits.** Every transmit-side wait polls at most `spin_limit` times and then
//!   returns [`Error::Timeout`]. Reads are the exception: `embedded-io` `Read::read` blocks until
//!   a byte arrives; use [`ImxUart::try_read_byte`] or `ReadReady` to poll.
//! - **Receive errors travel with their character.** URXD carries the byte in bits 7:0 and its
//!   status in 15:10 (CHARRDY, ERR, OVRRUN, FRMERR, BRK, PRERR). A break, framing or parity error
//!   drops the character; an overrun means a *later* character was lost, so the error is returned
//!   first and the good character on the next read.
//! - **The baud rate.** The reference clock is the module clock divided by UFCR.RFDIV (1..=7);
//!   the binary rate multiplier then gives `baud = ref_clk / (16 * (UBMR + 1) / (UBIR + 1))`.
//!   [`baud_settings`] picks RFDIV and the fraction as Linux's `imx_uart_set_termios()` does
//!   (RFDIV = clock / (16 * baud) clamped to 1..=7, the fraction by the continued-fraction best
//!   approximation of `rational_best_approximation()`). A console is normally [taken
//!   over](ImxUart::take_over) at the boot loader's rate; [`ImxUart::init`] sets one when the
//!   device tree gives `current-speed` and the board knows the `per` clock rate (the i.MX device
//!   trees name it through `clocks`, not `clock-frequency`), and says [`Error::NoClock`]
//!   otherwise.
//!
//! # Lifecycle
//!
//! [`ImxUart::new`] touches no register. Then either [`ImxUart::take_over`] or
//! [`ImxUart::init`]; [`ImxUart::init_console`] picks one from the device-tree properties.
//!
//! # Compatible strings
//!
//! [`COMPATIBLES`]: `fsl,imx21-uart` and `fsl,imx6q-uart`, which every later i.MX lists as a
//! fallback (`fsl,imx8mq-uart`, `fsl,imx7d-uart` ...). The i.MX1 (`fsl,imx1-uart`, UTS at 0xd0,
//! no ONEMS) and the LPUART of the i.MX7ULP/8QM/93 (`fsl,imx7ulp-lpuart`, a different IP) are
//! not served.
//!
//! # Reference
//!
//! NXP *i.MX 6Dual/6Quad Applications Processor Reference Manual* (IMX6DQRM), chapter 64
//! "Universal Asynchronous Receiver/Transmitter (UART)": 64.4.5 "Binary Rate Multiplier",
//! 64.15 register descriptions. Linux `drivers/tty/serial/imx.c`: `imx_uart_set_termios()`,
//! `imx_uart_startup()`, `imx_uart_console_putchar()`; `lib/math/rational.c`.

#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

/// The device-tree compatible strings this driver serves.
pub const COMPATIBLES: &[&str] = &["fsl,imx21-uart", "fsl,imx6q-uart"];

/// 32-bit access to one i.MX UART's register block, provided by the platform or board.
///
/// `offset` is a byte offset from the block's base, one of the constants in [`reg`]. Each call is
/// exactly one volatile bus access, in program order: reads of [`reg::URXD`] pop the receive
/// FIFO.
pub trait ImxRegs {
    /// Reads the 32-bit register at byte `offset`.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes `value` to the 32-bit register at byte `offset`.
    fn write32(&mut self, offset: usize, value: u32);
}

impl<T: ImxRegs + ?Sized> ImxRegs for &mut T {
    fn read32(&mut self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&mut self, offset: usize, value: u32) {
        (**self).write32(offset, value)
    }
}

/// Register byte offsets (reference manual 64.15; Linux `imx.c`).
pub mod reg {
    /// Receiver register: byte and status of the character at the head of the RX FIFO.
    pub const URXD: usize = 0x00;
    /// Transmitter register (Linux `URTX0`).
    pub const UTXD: usize = 0x40;
    /// Control register 1.
    pub const UCR1: usize = 0x80;
    /// Control register 2.
    pub const UCR2: usize = 0x84;
    /// Control register 3.
    pub const UCR3: usize = 0x88;
    /// Control register 4.
    pub const UCR4: usize = 0x8C;
    /// FIFO control register: trigger levels, reference clock divider, DCE/DTE.
    pub const UFCR: usize = 0x90;
    /// Status register 1.
    pub const USR1: usize = 0x94;
    /// Status register 2.
    pub const USR2: usize = 0x98;
    /// BRM incremental register (numerator - 1).
    pub const UBIR: usize = 0xA4;
    /// BRM modulator register (denominator - 1); writing it loads the new rate.
    pub const UBMR: usize = 0xA8;
    /// One millisecond register: reference clock ticks per ms (`IMX21_ONEMS`).
    pub const ONEMS: usize = 0xB0;
    /// Test register: FIFO full/empty flags (`IMX21_UTS`).
    pub const UTS: usize = 0xB4;
}

/// Register bit definitions (Linux `imx.c` names).
pub mod bits {
    /// URXD: a character is present.
    pub const URXD_CHARRDY: u32 = 1 << 15;
    /// URXD: any of the error bits below.
    pub const URXD_ERR: u32 = 1 << 14;
    /// URXD: receive overrun: this character is good, a later one was lost.
    pub const URXD_OVRRUN: u32 = 1 << 13;
    /// URXD: framing error.
    pub const URXD_FRMERR: u32 = 1 << 12;
    /// URXD: break detected.
    pub const URXD_BRK: u32 = 1 << 11;
    /// URXD: parity error.
    pub const URXD_PRERR: u32 = 1 << 10;

    /// UCR1: UART enable.
    pub const UCR1_UARTEN: u32 = 1 << 0;
    /// UCR1: every interrupt enable (ADEN, TRDYEN, IDEN, RRDYEN, TXMPTYEN, RTSDEN).
    pub const UCR1_IRQ_ENABLES: u32 =
        (1 << 15) | (1 << 13) | (1 << 12) | (1 << 9) | (1 << 6) | (1 << 5);

    /// UCR2: software reset, active low (reads 0 until the reset is done).
    pub const UCR2_SRST: u32 = 1 << 0;
    /// UCR2: receiver enable.
    pub const UCR2_RXEN: u32 = 1 << 1;
    /// UCR2: transmitter enable.
    pub const UCR2_TXEN: u32 = 1 << 2;
    /// UCR2: 8-bit words.
    pub const UCR2_WS: u32 = 1 << 5;
    /// UCR2: ignore the RTS pin.
    pub const UCR2_IRTS: u32 = 1 << 14;
    /// UCR2: interrupt enables (ESCI, RTSEN, ATEN).
    pub const UCR2_IRQ_ENABLES: u32 = (1 << 15) | (1 << 4) | (1 << 3);

    /// UCR3: autobaud detection not improved (Linux sets it with RXDMUXSEL).
    pub const UCR3_ADNIMP: u32 = 1 << 7;
    /// UCR3: RXD muxed input select; must be set on i.MX21 and later.
    pub const UCR3_RXDMUXSEL: u32 = 1 << 2;
    /// UCR3: interrupt enables (DTREN, PARERREN, FRAERREN, RXDSEN, AIRINTEN, AWAKEN).
    pub const UCR3_IRQ_ENABLES: u32 =
        (1 << 13) | (1 << 12) | (1 << 11) | (1 << 6) | (1 << 5) | (1 << 4);

    /// UCR4: interrupt enables (ENIRI, WKEN, IDDMAEN, TCEN, BKEN, OREN, DREN).
    pub const UCR4_IRQ_ENABLES: u32 =
        (1 << 8) | (1 << 7) | (1 << 6) | (1 << 3) | (1 << 2) | (1 << 1) | (1 << 0);

    /// UFCR: RX trigger level field, bits 5:0.
    pub const UFCR_RXTL_SHIFT: u32 = 0;
    /// UFCR: DCE/DTE mode (kept as the boot loader set it: it decides the pin directions).
    pub const UFCR_DCEDTE: u32 = 1 << 6;
    /// UFCR: reference clock divider field, bits 9:7.
    pub const UFCR_RFDIV_MASK: u32 = 7 << 7;
    /// UFCR: TX trigger level field, bits 15:10.
    pub const UFCR_TXTL_SHIFT: u32 = 10;

    /// USR2: receive data ready.
    pub const USR2_RDR: u32 = 1 << 0;
    /// USR2: transmission complete (FIFO and shift register empty).
    pub const USR2_TXDC: u32 = 1 << 3;

    /// UTS: transmit FIFO full.
    pub const UTS_TXFULL: u32 = 1 << 4;
    /// UTS: receive FIFO empty.
    pub const UTS_RXEMPTY: u32 = 1 << 5;
    /// UTS: transmit FIFO empty.
    pub const UTS_TXEMPTY: u32 = 1 << 6;
}

use bits::*;

/// Depth of the transmit and receive FIFOs.
pub const FIFO_DEPTH: usize = 32;

/// Default number of status polls before a transmit-side wait gives up (at least half a second
/// at 50–200 ns per device read).
pub const DEFAULT_SPIN_LIMIT: u32 = 10_000_000;

/// The UFCR.RFDIV field value for a reference clock divider of `div` (1..=7), as Linux's
/// `UFCR_RFDIV_REG()`: 1 is 0b101, 2 is 0b100 ... 6 is 0b000, 7 is 0b110.
pub const fn ufcr_rfdiv(div: u32) -> u32 {
    (if div < 7 { 6 - div } else { 6 }) << 7
}

/// Reference clock divider and binary rate multiplier for one baud rate:
/// `baud = clock / rfdiv / (16 * (ubmr + 1) / (ubir + 1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaudSettings {
    /// Reference clock divider, 1..=7 (UFCR.RFDIV encodes it, see [`ufcr_rfdiv`]).
    pub rfdiv: u32,
    /// UBIR: numerator - 1.
    pub ubir: u16,
    /// UBMR: denominator - 1.
    pub ubmr: u16,
}

impl BaudSettings {
    /// The rate these settings give from `clock_hz` (rounded down).
    pub const fn baud(&self, clock_hz: u32) -> u32 {
        let num = self.ubir as u64 + 1;
        let den = 16 * self.rfdiv as u64 * (self.ubmr as u64 + 1);
        (clock_hz as u64 * num / den) as u32
    }

    /// ONEMS: reference clock ticks per millisecond.
    pub const fn onems(&self, clock_hz: u32) -> u32 {
        clock_hz / self.rfdiv / 1000
    }
}

/// Linux `rational_best_approximation()` (lib/math/rational.c): the fraction closest to
/// `num / den` whose numerator and denominator do not exceed `max_num` / `max_den`, from the
/// continued-fraction convergents and the best semi-convergent. Exact when the reduced fraction
/// fits.
pub const fn rational_best_approximation(
    num: u64,
    den: u64,
    max_num: u64,
    max_den: u64,
) -> (u64, u64) {
    let (mut n, mut d) = (num, den);
    let (mut n0, mut d0, mut n1, mut d1) = (0u64, 1u64, 1u64, 0u64);
    loop {
        if d == 0 {
            break;
        }
        let dp = d;
        let a = n / d;
        d = n % d;
        n = dp;
        let n2 = n0 + a * n1;
        let d2 = d0 + a * d1;
        if n2 > max_num || d2 > max_den {
            // The largest t that keeps the semi-convergent within both bounds (a zero term
            // bounds nothing).
            let mut t = match (max_den - d0).checked_div(d1) {
                Some(t) => t,
                None => u64::MAX,
            };
            if let Some(tn) = (max_num - n0).checked_div(n1) {
                if tn < t {
                    t = tn;
                }
            }
            // The semi-convergent is closer than the previous convergent if 2t > a, or on
            // 2t == a when it wins the tie-break; with no previous convergent it is the only one.
            if d1 == 0 || 2 * t > a || (2 * t == a && d0 * dp > d1 * d) {
                n1 = n0 + t * n1;
                d1 = d0 + t * d1;
            }
            break;
        }
        n0 = n1;
        n1 = n2;
        d0 = d1;
        d1 = d2;
    }
    (n1, d1)
}

/// The settings for `baud` from a module (`per`) clock of `clock_hz`, as Linux's
/// `imx_uart_set_termios()` computes them: RFDIV = `clock_hz / (16 * baud)` clamped to 1..=7,
/// then UBIR+1 / UBMR+1 the best approximation of `16 * rfdiv * baud / clock_hz` with both
/// terms at most 65536. `None` if `baud` is 0, above `clock_hz / 16` (the multiplier cannot
/// exceed 1), or if the result is 3 % or more off.
pub const fn baud_settings(clock_hz: u32, baud: u32) -> Option<BaudSettings> {
    if baud == 0 || clock_hz == 0 {
        return None;
    }
    let mut rfdiv = clock_hz / (16 * baud);
    if rfdiv > 7 {
        rfdiv = 7;
    }
    if rfdiv == 0 {
        rfdiv = 1;
    }
    let (num, den) = rational_best_approximation(
        16 * rfdiv as u64 * baud as u64,
        clock_hz as u64,
        1 << 16,
        1 << 16,
    );
    if num == 0 || den == 0 || num > den {
        return None;
    }
    let settings = BaudSettings {
        rfdiv,
        ubir: (num - 1) as u16,
        ubmr: (den - 1) as u16,
    };
    let actual = settings.baud(clock_hz);
    if actual.abs_diff(baud) as u64 * 100 >= 3 * baud as u64 {
        return None;
    }
    Some(settings)
}

/// What went wrong on the line or in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The transmitter did not accept data or drain within the spin limit.
    Timeout,
    /// The receive FIFO was full and a later character was lost (URXD.OVRRUN).
    Overrun,
    /// The line was held low for longer than a character (URXD.BRK); the byte was dropped.
    Break,
    /// A received character had a bad parity bit (URXD.PRERR); it was dropped.
    Parity,
    /// A received character had no valid stop bit (URXD.FRMERR); it was dropped.
    Framing,
    /// A speed was asked for but the UART clock is unknown, so no divisor can be computed; take
    /// the console over at the boot loader's speed instead.
    NoClock,
    /// The clock cannot produce the requested baud rate (see [`baud_settings`]).
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

/// A polled i.MX UART on the register block `R`.
pub struct ImxUart<R> {
    regs: R,
    spin_limit: u32,
    /// A good byte that came with an overrun flag; returned after the [`Error::Overrun`].
    pending_byte: Option<u8>,
    /// A receive error found while `Read::read` already had bytes to return.
    deferred_error: Option<Error>,
}

impl<R: ImxRegs> ImxUart<R> {
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

    /// Takes the UART over as the boot loader left it: UFCR, UBIR and UBMR (the rate) and the
    /// line format are kept; the interrupt enables of UCR1-4 are cleared and the UART,
    /// transmitter and receiver enabled if they were not. Each UCR is written only if it
    /// changes. Nothing queued is flushed.
    pub fn take_over(&mut self) {
        self.update(reg::UCR1, |v| (v & !UCR1_IRQ_ENABLES) | UCR1_UARTEN);
        self.update(reg::UCR2, |v| {
            (v & !UCR2_IRQ_ENABLES) | UCR2_SRST | UCR2_TXEN | UCR2_RXEN
        });
        self.update(reg::UCR3, |v| v & !UCR3_IRQ_ENABLES);
        self.update(reg::UCR4, |v| v & !UCR4_IRQ_ENABLES);
        self.pending_byte = None;
        self.deferred_error = None;
    }

    /// Read-modify-write of `offset`, skipping the write when nothing changes.
    fn update(&mut self, offset: usize, f: impl FnOnce(u32) -> u32) {
        let old = self.regs.read32(offset);
        let new = f(old);
        if new != old {
            self.regs.write32(offset, new);
        }
    }

    /// Reprograms the UART for 8N1 at `baud` from a module clock of `clock_hz`, every interrupt
    /// disabled.
    ///
    /// Sequence (reference manual 64.13 "Initialization", U-Boot `serial_mxc.c`, Linux
    /// `imx_uart_startup()` / `imx_uart_set_termios()`):
    /// 1. wait (bounded) for USR2.TXDC so queued output is not cut off; a timeout is not an
    ///    error, the reset below discards what is left;
    /// 2. UCR1 = 0 (disable, interrupts off), UCR2 = 0 (software reset: FIFOs, USR1/2, UBIR and
    ///    UBMR), then wait (bounded) for UCR2.SRST to read back 1;
    /// 3. UCR3: RXDMUXSEL | ADNIMP, interrupt enables cleared; UCR4: interrupt enables cleared;
    /// 4. UFCR = RFDIV, TX trigger 2, RX trigger 1, DCE/DTE as it was;
    /// 5. UBIR, then UBMR (the write that loads the rate), then ONEMS;
    /// 6. UCR2 = SRST | IRTS | WS | TXEN | RXEN (8 bits, no parity, 1 stop, no RTS/CTS);
    /// 7. UCR1 = UARTEN.
    ///
    /// # Errors
    ///
    /// [`Error::NoClock`] if `clock_hz` is `None`, [`Error::InvalidBaud`] if it cannot make
    /// `baud`; both are checked before any register is touched.
    pub fn init(&mut self, clock_hz: Option<u32>, baud: u32) -> Result<(), Error> {
        let clock_hz = clock_hz.ok_or(Error::NoClock)?;
        let settings = baud_settings(clock_hz, baud).ok_or(Error::InvalidBaud)?;

        // Ignoring a timeout is deliberate, see step 1.
        let _ = self.flush_tx();
        self.regs.write32(reg::UCR1, 0);
        self.regs.write32(reg::UCR2, 0);
        for _ in 0..self.spin_limit {
            if self.regs.read32(reg::UCR2) & UCR2_SRST != 0 {
                break;
            }
            core::hint::spin_loop();
        }
        self.update(reg::UCR3, |v| {
            (v & !UCR3_IRQ_ENABLES) | UCR3_RXDMUXSEL | UCR3_ADNIMP
        });
        self.update(reg::UCR4, |v| v & !UCR4_IRQ_ENABLES);
        let dcedte = self.regs.read32(reg::UFCR) & UFCR_DCEDTE;
        self.regs.write32(
            reg::UFCR,
            dcedte | ufcr_rfdiv(settings.rfdiv) | (2 << UFCR_TXTL_SHIFT) | (1 << UFCR_RXTL_SHIFT),
        );
        self.regs.write32(reg::UBIR, u32::from(settings.ubir));
        self.regs.write32(reg::UBMR, u32::from(settings.ubmr));
        self.regs.write32(reg::ONEMS, settings.onems(clock_hz));
        self.regs.write32(
            reg::UCR2,
            UCR2_SRST | UCR2_IRTS | UCR2_WS | UCR2_TXEN | UCR2_RXEN,
        );
        self.regs.write32(reg::UCR1, UCR1_UARTEN);
        self.pending_byte = None;
        self.deferred_error = None;
        Ok(())
    }

    /// Brings the console up as the device tree describes it: without `current-speed`
    /// (`baud = None`) it is [taken over](Self::take_over), with one it is [reprogrammed](Self::init)
    /// from the module clock `clock_hz`.
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

    /// Polls `offset` until `done(value)`, at most `spin_limit` times.
    fn wait(&mut self, offset: usize, done: impl Fn(u32) -> bool) -> Result<(), Error> {
        for _ in 0..self.spin_limit {
            if done(self.regs.read32(offset)) {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout)
    }

    /// Writes `byte` to UTXD if the FIFO has room (UTS.TXFULL clear); returns whether it did.
    pub fn try_write_byte(&mut self, byte: u8) -> bool {
        if self.regs.read32(reg::UTS) & UTS_TXFULL != 0 {
            return false;
        }
        self.regs.write32(reg::UTXD, u32::from(byte));
        true
    }

    /// Waits (bounded) for room in the transmit FIFO, then writes `byte`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if UTS.TXFULL stayed set for `spin_limit` polls; nothing was written.
    pub fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        self.wait(reg::UTS, |uts| uts & UTS_TXFULL == 0)?;
        self.regs.write32(reg::UTXD, u32::from(byte));
        Ok(())
    }

    /// Takes one received byte, if there is one: `Ok(None)` when USR2.RDR is clear.
    ///
    /// # Errors
    ///
    /// [`Error::Break`], [`Error::Framing`] or [`Error::Parity`] (in that priority) when the
    /// character read carries that flag; it is dropped. [`Error::Overrun`] when it carries only
    /// OVRRUN: the character itself is good and is returned by the next call.
    pub fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        if let Some(byte) = self.pending_byte.take() {
            return Ok(Some(byte));
        }
        if self.regs.read32(reg::USR2) & USR2_RDR == 0 {
            return Ok(None);
        }
        let rx = self.regs.read32(reg::URXD);
        if rx & URXD_CHARRDY == 0 {
            return Ok(None);
        }
        let byte = rx as u8;
        if rx & URXD_ERR != 0 {
            if rx & URXD_BRK != 0 {
                return Err(Error::Break);
            }
            if rx & URXD_FRMERR != 0 {
                return Err(Error::Framing);
            }
            if rx & URXD_PRERR != 0 {
                return Err(Error::Parity);
            }
            if rx & URXD_OVRRUN != 0 {
                self.pending_byte = Some(byte);
                return Err(Error::Overrun);
            }
        }
        Ok(Some(byte))
    }

    /// Waits (bounded) for USR2.TXDC: the FIFO is empty and the last stop bit sent.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if TXDC stayed clear for `spin_limit` polls.
    pub fn flush_tx(&mut self) -> Result<(), Error> {
        self.wait(reg::USR2, |usr2| usr2 & USR2_TXDC != 0)
    }
}

impl<R> embedded_io::ErrorType for ImxUart<R> {
    type Error = Error;
}

impl<R: ImxRegs> embedded_io::Write for ImxUart<R> {
    /// Waits (bounded) for room in the transmit FIFO, then queues bytes until it is full or
    /// `buf` is done. Returns `Ok(0)` only for an empty `buf`.
    ///
    /// Errors: [`Error::Timeout`] if the FIFO never had room; nothing was written.
    fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        uart_io::write(self, buf)
    }

    /// Waits (bounded) until transmission is complete (USR2.TXDC). Errors: [`Error::Timeout`].
    fn flush(&mut self) -> Result<(), Error> {
        self.flush_tx()
    }
}

impl<R: ImxRegs> embedded_io::Read for ImxUart<R> {
    /// Blocks, without bound, until at least one byte or a receive error arrives, then returns
    /// the bytes already waiting (up to `buf.len()`). A receive error found after the first byte
    /// ends the read early and is returned by the next call, so bytes and errors keep their order.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        uart_io::read(self, buf)
    }
}

impl<R: ImxRegs> uart_io::ByteTx for ImxUart<R> {
    type Error = Error;
    fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        ImxUart::write_byte(self, byte)
    }
    fn try_write_byte(&mut self, byte: u8) -> bool {
        ImxUart::try_write_byte(self, byte)
    }
}

impl<R: ImxRegs> uart_io::ByteRx for ImxUart<R> {
    type Error = Error;
    fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        ImxUart::try_read_byte(self)
    }
    fn deferred_error(&mut self) -> &mut Option<Error> {
        &mut self.deferred_error
    }
}

impl<R: ImxRegs> embedded_io::ReadReady for ImxUart<R> {
    /// True when a byte or a receive error is waiting, so the next `read` returns at once.
    fn read_ready(&mut self) -> Result<bool, Error> {
        Ok(self.deferred_error.is_some()
            || self.pending_byte.is_some()
            || self.regs.read32(reg::USR2) & USR2_RDR != 0)
    }
}

impl<R: ImxRegs> embedded_io::WriteReady for ImxUart<R> {
    /// True when the transmit FIFO has room (UTS.TXFULL clear), so the next `write` does not wait.
    fn write_ready(&mut self) -> Result<bool, Error> {
        Ok(self.regs.read32(reg::UTS) & UTS_TXFULL == 0)
    }
}

#[cfg(test)]
mod tests;
