//! Polled driver for the 8250/16550 family of UARTs (the PC "COM" ports and the memory-mapped
//! 16550s of ARM and RISC-V SoCs), over `embedded-io`.
//!
//! # Concepts
//!
//! - **Register access is not ours.** The driver never owns an address: the platform hands it an
//!   [`Uart16550Io`] that reads and writes one of the eight byte registers. On x86 that is
//!   `in`/`out` on a port base (COM1 is 0x3F8); on an MMIO 16550 it is a volatile access at
//!   `base + offset << shift`; in the tests it is a fake register file. This crate therefore
//!   contains no `unsafe`.
//! - **Aliased registers.** Offsets 0 and 1 mean RBR/THR and IER while LCR.DLAB is 0, and the
//!   divisor latch DLL/DLM while it is 1; offset 2 reads IIR and writes FCR. [`Register`] names
//!   every meaning separately and [`Register::offset`] maps it onto the bus, so code reads like the
//!   datasheet. Only [`Uart16550::init`] sets DLAB, and it clears it again before returning.
//! - **Bounded waits.** Anything that waits for the transmitter (THRE, TEMT) polls LSR at most
//!   `spin_limit` times and then returns [`Error::Timeout`]; a missing or wedged UART can slow
//!   the console down but never hang the machine. Reads are the exception: `embedded-io`
//!   `Read::read` must block until a byte arrives, so it waits for as long as it takes. Use
//!   [`Uart16550::try_read_byte`] or `ReadReady` to poll instead.
//! - **Receive errors.** LSR reports overrun, parity, framing and break, and *any* LSR read
//!   clears them, including the ones the transmit path and `ReadReady` make. Like Linux
//!   (`lsr_saved_flags`), every LSR read keeps those bits until the receive path reports them
//!   as an [`Error`]. A parity, framing or break error
//!   belongs to the character at the head of the FIFO, which is read and discarded. An overrun
//!   means a *later* character was lost; the bytes still in the FIFO are good and are returned
//!   by the next read.
//!
//! - **Taking over or setting the speed.** A console on a board is usually already running when
//!   we get it: the boot loader set the baud rate and printed with it. [`Uart16550::take_over`]
//!   keeps that rate (as Linux's `early_serial8250_setup()` does when no baud is given);
//!   [`Uart16550::init`] sets a divisor, and [`divisor_for_clock`] computes it from the device
//!   tree's `clock-frequency` and `current-speed`. [`Uart16550::init_console`] picks between the
//!   two from those properties and says [`Error::NoClock`] when a speed is asked for but no clock
//!   is known.
//! - **Memory-mapped 16550s.** [`mmio`] turns a byte or 32-bit register bus into an
//!   [`Uart16550Io`], with the device tree's `reg-shift` and `reg-io-width`, and the DesignWare
//!   APB UART's busy-detect quirk. [`COMPATIBLES`] lists the compatible strings served.
//!
//! # Lifecycle
//!
//! [`Uart16550::new`] touches no register. [`Uart16550::init`] programs the line (8N1, FIFOs on
//! and cleared, interrupts off, DTR and RTS asserted), or [`Uart16550::take_over`] keeps the
//! boot loader's line settings and masks interrupts; one of them must run before the first
//! transfer. [`Uart16550::probe`] may run before either to check that a UART is present at all.
//!
//! # Reference
//!
//! Texas Instruments (National Semiconductor) PC16550D datasheet, SNLS378, section 8
//! ("Registers"), Table 2 for the register map and Table 5 for the divisor values. The presence
//! and FIFO checks mirror Linux `autoconfig()` / `autoconfig_16550a()` in
//! `drivers/tty/serial/8250/8250_port.c`; register and bit names follow
//! `include/uapi/linux/serial_reg.h`.

#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

pub mod mmio;

/// The device-tree compatible strings this driver serves, through [`mmio::MmioConfig`].
///
/// - `ns16550a`, `ns16550`: generic 16550s (QEMU, the Aspeed BMC UARTs, many SoCs with a
///   `reg-shift` of 2);
/// - `snps,dw-apb-uart`: the Synopsys DesignWare APB UART (Rockchip, Allwinner, Intel, StarFive,
///   Baikal ...), with its busy-detect quirk unless the node says `snps,uart-16550-compatible`;
/// - `nvidia,tegra20-uart` (and the later Tegras, which list it as a fallback);
/// - the TI OMAP/K3 UARTs (`ti,omap2-uart` ... `ti,am654-uart`) in their 16x UART mode, with an
///   implied `reg-shift` of 2 as Linux's `8250_omap` uses.
pub const COMPATIBLES: &[&str] = mmio::COMPATIBLES;

/// One 16550 register, named by what it means rather than where it is.
///
/// Several names share an offset (see [`Register::offset`]); which one the hardware sees depends
/// on the access direction and on LCR.DLAB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Register {
    /// Receiver Buffer Register (read, DLAB = 0), offset 0.
    Rbr,
    /// Transmitter Holding Register (write, DLAB = 0), offset 0.
    Thr,
    /// Divisor Latch, low byte (DLAB = 1), offset 0.
    Dll,
    /// Interrupt Enable Register (DLAB = 0), offset 1.
    Ier,
    /// Divisor Latch, high byte (DLAB = 1), offset 1.
    Dlm,
    /// Interrupt Identification Register (read), offset 2.
    Iir,
    /// FIFO Control Register (write), offset 2.
    Fcr,
    /// Line Control Register, offset 3.
    Lcr,
    /// Modem Control Register, offset 4.
    Mcr,
    /// Line Status Register, offset 5.
    Lsr,
    /// Modem Status Register, offset 6.
    Msr,
    /// Scratch Register, offset 7 (absent on the original 8250).
    Scr,
}

impl Register {
    /// The register's index on the bus, `0..=7`. The platform multiplies it by its register
    /// stride (1 for port I/O, often 4 for MMIO 16550s) and adds its base.
    pub const fn offset(self) -> u8 {
        match self {
            Register::Rbr | Register::Thr | Register::Dll => 0,
            Register::Ier | Register::Dlm => 1,
            Register::Iir | Register::Fcr => 2,
            Register::Lcr => 3,
            Register::Mcr => 4,
            Register::Lsr => 5,
            Register::Msr => 6,
            Register::Scr => 7,
        }
    }
}

/// Byte access to one UART's registers, provided by the platform or board.
///
/// Implementations perform exactly one bus access per call, in program order, with no caching:
/// reads of [`Register::Rbr`], [`Register::Lsr`] and [`Register::Iir`] have side effects on the
/// hardware.
pub trait Uart16550Io {
    /// Reads the register `reg` (at `reg.offset()`).
    fn read(&mut self, reg: Register) -> u8;
    /// Writes `value` to the register `reg` (at `reg.offset()`).
    fn write(&mut self, reg: Register, value: u8);
}

impl<T: Uart16550Io + ?Sized> Uart16550Io for &mut T {
    fn read(&mut self, reg: Register) -> u8 {
        (**self).read(reg)
    }
    fn write(&mut self, reg: Register, value: u8) {
        (**self).write(reg, value)
    }
}

/// Register bit definitions, with Linux's `serial_reg.h` names in the comments.
pub mod bits {
    /// LCR: 8 data bits (`UART_LCR_WLEN8`).
    pub const LCR_WLEN8: u8 = 0x03;
    /// LCR: divisor latch access (`UART_LCR_DLAB`).
    pub const LCR_DLAB: u8 = 0x80;

    /// FCR: enable the FIFOs (`UART_FCR_ENABLE_FIFO`).
    pub const FCR_ENABLE_FIFO: u8 = 0x01;
    /// FCR: clear the receive FIFO (`UART_FCR_CLEAR_RCVR`).
    pub const FCR_CLEAR_RCVR: u8 = 0x02;
    /// FCR: clear the transmit FIFO (`UART_FCR_CLEAR_XMIT`).
    pub const FCR_CLEAR_XMIT: u8 = 0x04;
    /// FCR: receive interrupt trigger at 14 bytes (`UART_FCR_TRIGGER_14`).
    pub const FCR_TRIGGER_14: u8 = 0xC0;

    /// IIR: both FIFO-enabled bits, set only on a 16550A with working FIFOs
    /// (`UART_IIR_FIFO_ENABLED_16550A`).
    pub const IIR_FIFO_MASK: u8 = 0xC0;

    /// MCR: data terminal ready (`UART_MCR_DTR`).
    pub const MCR_DTR: u8 = 0x01;
    /// MCR: request to send (`UART_MCR_RTS`).
    pub const MCR_RTS: u8 = 0x02;
    /// MCR: OUT2, which gates the IRQ line on PC hardware (`UART_MCR_OUT2`).
    pub const MCR_OUT2: u8 = 0x08;
    /// MCR: loopback mode (`UART_MCR_LOOP`).
    pub const MCR_LOOP: u8 = 0x10;

    /// LSR: receiver data ready (`UART_LSR_DR`).
    pub const LSR_DR: u8 = 0x01;
    /// LSR: overrun error (`UART_LSR_OE`).
    pub const LSR_OE: u8 = 0x02;
    /// LSR: parity error (`UART_LSR_PE`).
    pub const LSR_PE: u8 = 0x04;
    /// LSR: framing error (`UART_LSR_FE`).
    pub const LSR_FE: u8 = 0x08;
    /// LSR: break interrupt (`UART_LSR_BI`).
    pub const LSR_BI: u8 = 0x10;
    /// LSR: transmit holding register (or TX FIFO) empty (`UART_LSR_THRE`).
    pub const LSR_THRE: u8 = 0x20;
    /// LSR: transmitter empty: FIFO and shift register both empty (`UART_LSR_TEMT`).
    pub const LSR_TEMT: u8 = 0x40;
    /// LSR: the receive error bits that a read of LSR clears (`UART_LSR_BRK_ERROR_BITS` plus
    /// OE, which Linux's `LSR_SAVE_FLAGS` also keeps).
    pub const LSR_ERROR_BITS: u8 = LSR_OE | LSR_PE | LSR_FE | LSR_BI;
}

use bits::*;

/// The UART input clock divided by 16 on a PC (1.8432 MHz / 16): the baud rate that divisor 1
/// gives. Linux calls it `BASE_BAUD`.
pub const BASE_BAUD: u32 = 115_200;

/// Transmit FIFO depth of a 16550A.
pub const FIFO_DEPTH_16550A: usize = 16;

/// Default number of LSR polls before a transmit wait gives up.
///
/// A port read takes about 1 µs on PC hardware, so this is roughly a second: long enough to
/// drain a full 16-byte FIFO at 300 baud, short enough that a missing UART is noticed.
pub const DEFAULT_SPIN_LIMIT: u32 = 1_000_000;

/// The divisor for `baud` on a PC-clocked UART (`BASE_BAUD / baud`), or `None` if `baud` is 0,
/// above [`BASE_BAUD`] or not an exact divisor of it.
pub const fn divisor_for_baud(baud: u32) -> Option<u16> {
    if baud == 0 || baud > BASE_BAUD || !BASE_BAUD.is_multiple_of(baud) {
        return None;
    }
    let divisor = BASE_BAUD / baud;
    if divisor > u16::MAX as u32 {
        return None;
    }
    Some(divisor as u16)
}

/// The divisor for `baud` from a UART input clock of `clock_hz` (the device tree's
/// `clock-frequency`): `clock_hz / (16 * baud)` rounded to the nearest integer, as Linux's
/// `init_port()` in `8250_early.c` computes it (`DIV_ROUND_CLOSEST`). `None` if `baud` is 0 or
/// the divisor is 0 or above 0xFFFF.
pub const fn divisor_for_clock(clock_hz: u32, baud: u32) -> Option<u16> {
    if baud == 0 {
        return None;
    }
    let den = 16 * baud as u64;
    let divisor = (clock_hz as u64 + den / 2) / den;
    if divisor == 0 || divisor > u16::MAX as u64 {
        return None;
    }
    Some(divisor as u16)
}

/// What went wrong on the line or in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The transmitter did not become ready within the spin limit.
    Timeout,
    /// A received character was lost because the receive FIFO was full (LSR.OE).
    Overrun,
    /// A received character had a bad parity bit (LSR.PE); it was discarded.
    Parity,
    /// A received character had no valid stop bit (LSR.FE); it was discarded.
    Framing,
    /// The line was held low for longer than a character (LSR.BI); the 0 byte was discarded.
    Break,
    /// [`Uart16550::init`] was given divisor 0.
    InvalidDivisor,
    /// A speed was asked for but the UART's input clock is unknown (no `clock-frequency`), so no
    /// divisor can be computed; take the console over at the boot loader's speed instead.
    NoClock,
    /// The input clock cannot produce the requested baud rate (see [`divisor_for_clock`]).
    InvalidBaud,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::Timeout => "UART transmitter timed out",
            Error::Overrun => "UART receive overrun",
            Error::Parity => "UART parity error",
            Error::Framing => "UART framing error",
            Error::Break => "UART break received",
            Error::InvalidDivisor => "UART baud divisor must be non-zero",
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
            Error::InvalidDivisor | Error::NoClock | Error::InvalidBaud => ErrorKind::InvalidInput,
        }
    }
}

/// A polled 16550 UART on the register access `IO`.
pub struct Uart16550<IO> {
    io: IO,
    spin_limit: u32,
    /// Bytes that may be written back to back once LSR.THRE is seen: 16 once [`Self::init`]
    /// has found a working 16550A FIFO, otherwise 1.
    tx_burst: usize,
    /// Receive error bits seen by LSR reads that were not the receive path's; hardware
    /// cleared them when they were read (Linux `lsr_saved_flags`).
    lsr_saved_flags: u8,
    /// A receive error found while `Read::read` already had bytes to return; reported by the
    /// next read.
    deferred_error: Option<Error>,
}

impl<IO: Uart16550Io> Uart16550<IO> {
    /// Wraps `io` with the [`DEFAULT_SPIN_LIMIT`]. Touches no register.
    pub fn new(io: IO) -> Self {
        Self::with_spin_limit(io, DEFAULT_SPIN_LIMIT)
    }

    /// Wraps `io`; transmit waits give up after `spin_limit` LSR polls (a limit of 0 still polls
    /// once). Touches no register.
    pub fn with_spin_limit(io: IO, spin_limit: u32) -> Self {
        Self {
            io,
            spin_limit: spin_limit.max(1),
            tx_burst: 1,
            lsr_saved_flags: 0,
            deferred_error: None,
        }
    }

    /// Gives the register access back.
    pub fn into_inner(self) -> IO {
        self.io
    }

    /// The transmit-wait bound, in LSR polls.
    pub fn spin_limit(&self) -> u32 {
        self.spin_limit
    }

    /// Whether [`Self::init`] found a working 16550A FIFO.
    pub fn has_fifo(&self) -> bool {
        self.tx_burst > 1
    }

    /// Checks that something answering like a 8250-family UART sits behind `io`, without
    /// changing its configuration.
    ///
    /// Like Linux `autoconfig()`: IER must read back 0 after writing 0 and 0x0F after writing
    /// 0x0F (its top four bits are hardwired 0), and the scratch register must hold 0x55 and
    /// 0xAA. An empty ISA port reads 0xFF and fails both. IER and SCR are restored. Must not run
    /// while LCR.DLAB is set (it is clear after [`Self::init`] and after reset).
    pub fn probe(&mut self) -> bool {
        let saved_ier = self.io.read(Register::Ier);
        self.io.write(Register::Ier, 0x00);
        let ier_zero = self.io.read(Register::Ier) & 0x0F;
        self.io.write(Register::Ier, 0x0F);
        let ier_ones = self.io.read(Register::Ier) & 0x0F;
        self.io.write(Register::Ier, saved_ier);
        if ier_zero != 0x00 || ier_ones != 0x0F {
            return false;
        }

        let saved_scr = self.io.read(Register::Scr);
        let mut ok = true;
        for pattern in [0x55, 0xAA] {
            self.io.write(Register::Scr, pattern);
            ok &= self.io.read(Register::Scr) == pattern;
        }
        self.io.write(Register::Scr, saved_scr);
        ok
    }

    /// Programs the line: baud divisor `baud_divisor` (see [`divisor_for_baud`]), 8 data bits,
    /// no parity, 1 stop bit, FIFOs enabled and cleared with a 14-byte receive trigger, all
    /// interrupts disabled, DTR and RTS asserted, OUT2 clear (no IRQ on PC wiring).
    ///
    /// Register order: IER = 0 first, so no interrupt fires mid-setup; then LCR.DLAB = 1, DLL,
    /// DLM; then LCR = 8N1, which also clears DLAB before anything touches offsets 0 and 1 again;
    /// then FCR, MCR. Finally IIR is read to learn whether the FIFO really is on (a 16550A
    /// reports both IIR bits 7:6), which decides how many bytes a write may queue at once.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDivisor`] if `baud_divisor` is 0; no register is written then.
    pub fn init(&mut self, baud_divisor: u16) -> Result<(), Error> {
        if baud_divisor == 0 {
            return Err(Error::InvalidDivisor);
        }
        let [dll, dlm] = baud_divisor.to_le_bytes();
        self.io.write(Register::Ier, 0x00);
        self.io.write(Register::Lcr, LCR_DLAB);
        self.io.write(Register::Dll, dll);
        self.io.write(Register::Dlm, dlm);
        self.io.write(Register::Lcr, LCR_WLEN8);
        self.io.write(
            Register::Fcr,
            FCR_ENABLE_FIFO | FCR_CLEAR_RCVR | FCR_CLEAR_XMIT | FCR_TRIGGER_14,
        );
        self.io.write(Register::Mcr, MCR_DTR | MCR_RTS);
        let fifo_on = self.io.read(Register::Iir) & IIR_FIFO_MASK == IIR_FIFO_MASK;
        self.tx_burst = if fifo_on { FIFO_DEPTH_16550A } else { 1 };
        self.lsr_saved_flags = 0;
        self.deferred_error = None;
        Ok(())
    }

    /// Takes the UART over as the boot loader left it: the divisor and line settings are kept,
    /// only the interrupts are masked (IER = 0) and LCR.DLAB is cleared if it was left set.
    /// Then IIR tells whether the FIFO is on, as in [`Self::init`]. The FIFOs are not cleared,
    /// so output the boot loader queued still goes out.
    ///
    /// Linux's `early_serial8250_setup()` does the same without a baud option (it keeps the
    /// XScale UUE bit of IER, which no UART served here has).
    pub fn take_over(&mut self) {
        let lcr = self.io.read(Register::Lcr);
        if lcr & LCR_DLAB != 0 {
            self.io.write(Register::Lcr, lcr & !LCR_DLAB);
        }
        self.io.write(Register::Ier, 0x00);
        let fifo_on = self.io.read(Register::Iir) & IIR_FIFO_MASK == IIR_FIFO_MASK;
        self.tx_burst = if fifo_on { FIFO_DEPTH_16550A } else { 1 };
        self.lsr_saved_flags = 0;
        self.deferred_error = None;
    }

    /// Brings the console up as the device tree describes it: with no `current-speed`
    /// (`baud = None`) it is [taken over](Self::take_over); with one, [`Self::init`] programs the
    /// divisor [computed](divisor_for_clock) from `clock-frequency` (`clock_hz`).
    ///
    /// # Errors
    ///
    /// [`Error::NoClock`] if a speed is given without a clock, [`Error::InvalidBaud`] if the
    /// clock cannot produce it; no register is touched then.
    pub fn init_console(&mut self, clock_hz: Option<u32>, baud: Option<u32>) -> Result<(), Error> {
        let Some(baud) = baud else {
            self.take_over();
            return Ok(());
        };
        let clock_hz = clock_hz.ok_or(Error::NoClock)?;
        let divisor = divisor_for_clock(clock_hz, baud).ok_or(Error::InvalidBaud)?;
        self.init(divisor)
    }

    /// Reads LSR, keeping the receive error bits that the read clears in hardware.
    fn lsr(&mut self) -> u8 {
        let lsr = self.io.read(Register::Lsr);
        self.lsr_saved_flags |= lsr & LSR_ERROR_BITS;
        lsr
    }

    /// Polls LSR until any bit of `mask` is set, at most `spin_limit` times.
    fn wait_lsr(&mut self, mask: u8) -> Result<(), Error> {
        for _ in 0..self.spin_limit {
            if self.lsr() & mask != 0 {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout)
    }

    /// Writes `byte` to THR if the transmitter can take it now (LSR.THRE); returns whether it did.
    pub fn try_write_byte(&mut self, byte: u8) -> bool {
        if self.lsr() & LSR_THRE == 0 {
            return false;
        }
        self.io.write(Register::Thr, byte);
        true
    }

    /// Waits (bounded) for LSR.THRE, then writes `byte` to THR.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if THRE stayed clear for `spin_limit` polls; the byte was not written.
    pub fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        self.wait_lsr(LSR_THRE)?;
        self.io.write(Register::Thr, byte);
        Ok(())
    }

    /// Takes one received byte, if there is one: `Ok(None)` when LSR.DR is clear.
    ///
    /// # Errors
    ///
    /// [`Error::Break`], [`Error::Framing`] or [`Error::Parity`] (in that priority) when the
    /// character at the head of the FIFO is bad; it is consumed and dropped. [`Error::Overrun`]
    /// when an incoming character was lost; nothing is consumed, so the next call returns the
    /// byte still waiting.
    pub fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        let lsr = self.lsr() | core::mem::take(&mut self.lsr_saved_flags);
        if lsr & (LSR_BI | LSR_FE | LSR_PE) != 0 {
            if lsr & LSR_DR != 0 {
                // The bad character is at the head of the FIFO: drop it.
                let _ = self.io.read(Register::Rbr);
            }
            return Err(if lsr & LSR_BI != 0 {
                Error::Break
            } else if lsr & LSR_FE != 0 {
                Error::Framing
            } else {
                Error::Parity
            });
        }
        if lsr & LSR_OE != 0 {
            return Err(Error::Overrun);
        }
        if lsr & LSR_DR == 0 {
            return Ok(None);
        }
        Ok(Some(self.io.read(Register::Rbr)))
    }

    /// Waits (bounded) for LSR.TEMT: every written byte has left the shift register.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if TEMT stayed clear for `spin_limit` polls.
    pub fn flush_tx(&mut self) -> Result<(), Error> {
        self.wait_lsr(LSR_TEMT)
    }
}

impl<IO> embedded_io::ErrorType for Uart16550<IO> {
    type Error = Error;
}

impl<IO: Uart16550Io> embedded_io::Write for Uart16550<IO> {
    /// Waits (bounded) for THRE, then queues as many bytes as the FIFO is known to hold
    /// (16 on a 16550A, else 1). Returns `Ok(0)` only for an empty `buf`.
    ///
    /// Errors: [`Error::Timeout`] if the transmitter never became ready; nothing was written.
    fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.wait_lsr(LSR_THRE)?;
        // THRE in FIFO mode means the whole FIFO is empty, so `tx_burst` bytes fit.
        let n = buf.len().min(self.tx_burst);
        for &byte in &buf[..n] {
            self.io.write(Register::Thr, byte);
        }
        Ok(n)
    }

    /// Waits (bounded) until the transmitter is empty (LSR.TEMT). Errors: [`Error::Timeout`].
    fn flush(&mut self) -> Result<(), Error> {
        self.flush_tx()
    }
}

impl<IO: Uart16550Io> embedded_io::Read for Uart16550<IO> {
    /// Blocks, without bound, until at least one byte or a receive error arrives, then returns
    /// the bytes already waiting (up to `buf.len()`). A receive error found after the first byte
    /// ends the read early and is returned by the next call, so bytes and errors keep their order.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        uart_io::read(self, buf)
    }
}

impl<IO: Uart16550Io> uart_io::ByteRx for Uart16550<IO> {
    type Error = Error;
    fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        Uart16550::try_read_byte(self)
    }
    fn deferred_error(&mut self) -> &mut Option<Error> {
        &mut self.deferred_error
    }
}

impl<IO: Uart16550Io> embedded_io::ReadReady for Uart16550<IO> {
    /// True when a byte or a receive error is waiting (LSR.DR, LSR.OE or a deferred error), so
    /// the next `read` returns at once.
    fn read_ready(&mut self) -> Result<bool, Error> {
        let lsr = self.lsr();
        Ok(self.deferred_error.is_some() || (lsr | self.lsr_saved_flags) & (LSR_DR | LSR_OE) != 0)
    }
}

impl<IO: Uart16550Io> embedded_io::WriteReady for Uart16550<IO> {
    /// True when LSR.THRE is set, so the next `write` does not wait.
    fn write_ready(&mut self) -> Result<bool, Error> {
        Ok(self.lsr() & LSR_THRE != 0)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use embedded_io::{Error as _, ErrorKind, Read, ReadReady, Write, WriteReady};
    use std::collections::VecDeque;
    use std::vec::Vec;

    /// A bus-level model of a 16550A: it sees only offsets, as the hardware does.
    ///
    /// ```text
    ///  THR write ──► tx_fifo (16, or 1 without FIFO) ──► shifter ──► gone
    ///                  every `drain_period` LSR reads one step moves right
    ///  rx queue  ──► RBR read;  LSR.DR = queue non-empty; error bits ride with their byte
    /// ```
    struct FakeUart {
        /// The plain registers, by offset; DLL and DLM live in `dll`/`dlm`.
        regs: [u8; 8],
        dll: u8,
        dlm: u8,
        /// Every write as the bus saw it: (offset, DLAB at the time, value).
        writes: Vec<(u8, bool, u8)>,
        /// Every byte that reached THR, in order.
        tx_log: Vec<u8>,
        tx_fifo: VecDeque<u8>,
        shifter: Option<u8>,
        /// THR writes that found the FIFO already full: the byte would be lost on hardware.
        tx_overflows: usize,
        /// LSR reads per transmit step; 0 means the transmitter is stuck.
        drain_period: u32,
        lsr_reads: u32,
        /// Whether the chip has a working FIFO (16550A) or not (8250/16450).
        has_fifo: bool,
        fifo_enabled: bool,
        /// Received characters with the LSR error bits that come with them.
        rx: VecDeque<(u8, u8)>,
        /// Pending overrun, reported (and cleared) by the next LSR read.
        overrun: bool,
        /// An absent chip: every read is 0xFF, writes vanish.
        absent: bool,
    }

    impl FakeUart {
        fn new() -> Self {
            Self {
                regs: [0; 8],
                dll: 0,
                dlm: 0,
                writes: Vec::new(),
                tx_log: Vec::new(),
                tx_fifo: VecDeque::new(),
                shifter: None,
                tx_overflows: 0,
                drain_period: 1,
                lsr_reads: 0,
                has_fifo: true,
                fifo_enabled: false,
                rx: VecDeque::new(),
                overrun: false,
                absent: false,
            }
        }

        fn dlab(&self) -> bool {
            self.regs[3] & LCR_DLAB != 0
        }

        fn tx_capacity(&self) -> usize {
            if self.fifo_enabled {
                16
            } else {
                1
            }
        }

        fn tick(&mut self) {
            self.lsr_reads += 1;
            if self.drain_period != 0 && self.lsr_reads.is_multiple_of(self.drain_period) {
                self.shifter = self.tx_fifo.pop_front();
            }
        }

        fn lsr(&mut self) -> u8 {
            self.tick();
            let mut lsr = 0;
            if self.tx_fifo.is_empty() {
                lsr |= LSR_THRE;
                if self.shifter.is_none() {
                    lsr |= LSR_TEMT;
                }
            }
            if let Some(&(_, err)) = self.rx.front() {
                lsr |= LSR_DR | err;
                // Reading LSR clears the error bits (the byte stays).
                self.rx[0].1 = 0;
            }
            if core::mem::take(&mut self.overrun) {
                lsr |= LSR_OE;
            }
            lsr
        }

        fn receive(&mut self, bytes: &[u8]) {
            self.rx.extend(bytes.iter().map(|&b| (b, 0)));
        }
    }

    impl Uart16550Io for FakeUart {
        fn read(&mut self, reg: Register) -> u8 {
            if self.absent {
                return 0xFF;
            }
            match (reg.offset(), self.dlab()) {
                (0, true) => self.dll,
                (1, true) => self.dlm,
                (0, false) => self.rx.pop_front().map_or(0, |(b, _)| b),
                (1, false) => self.regs[1] & 0x0F,
                (2, _) => {
                    if self.fifo_enabled {
                        0xC1
                    } else {
                        0x01
                    }
                }
                (5, _) => self.lsr(),
                (off, _) => self.regs[usize::from(off)],
            }
        }

        fn write(&mut self, reg: Register, value: u8) {
            if self.absent {
                return;
            }
            let off = reg.offset();
            let dlab = self.dlab();
            self.writes.push((off, dlab, value));
            match (off, dlab) {
                (0, true) => self.dll = value,
                (1, true) => self.dlm = value,
                (0, false) => {
                    self.tx_log.push(value);
                    if self.tx_fifo.len() >= self.tx_capacity() {
                        self.tx_overflows += 1;
                    } else {
                        self.tx_fifo.push_back(value);
                    }
                }
                (2, _) => {
                    self.fifo_enabled = self.has_fifo && value & FCR_ENABLE_FIFO != 0;
                    if value & FCR_CLEAR_XMIT != 0 {
                        self.tx_fifo.clear();
                    }
                    if value & FCR_CLEAR_RCVR != 0 {
                        self.rx.clear();
                    }
                }
                (5, _) => {} // LSR is read-only.
                (off, _) => self.regs[usize::from(off)] = value,
            }
        }
    }

    fn ready_uart() -> Uart16550<FakeUart> {
        let mut uart = Uart16550::with_spin_limit(FakeUart::new(), 1000);
        uart.init(1).unwrap();
        uart.io.writes.clear();
        uart
    }

    #[test]
    fn register_offsets_match_the_datasheet() {
        use Register::*;
        let table = [
            (Rbr, 0),
            (Thr, 0),
            (Dll, 0),
            (Ier, 1),
            (Dlm, 1),
            (Iir, 2),
            (Fcr, 2),
            (Lcr, 3),
            (Mcr, 4),
            (Lsr, 5),
            (Msr, 6),
            (Scr, 7),
        ];
        for (reg, off) in table {
            assert_eq!(reg.offset(), off, "{reg:?}");
        }
    }

    #[test]
    fn divisor_for_baud_is_exact_or_none() {
        assert_eq!(divisor_for_baud(115_200), Some(1));
        assert_eq!(divisor_for_baud(38_400), Some(3));
        assert_eq!(divisor_for_baud(9_600), Some(12));
        assert_eq!(divisor_for_baud(50), Some(2304));
        assert_eq!(divisor_for_baud(0), None);
        assert_eq!(divisor_for_baud(230_400), None);
        assert_eq!(divisor_for_baud(100_000), None);
    }

    #[test]
    fn new_touches_no_register() {
        let uart = Uart16550::new(FakeUart::new());
        assert_eq!(uart.spin_limit(), DEFAULT_SPIN_LIMIT);
        let io = uart.into_inner();
        assert!(io.writes.is_empty());
        assert_eq!(io.lsr_reads, 0);
    }

    /// Expect: IER off first; DLAB set around exactly the two divisor writes; 8N1 clears DLAB;
    /// FIFO enabled and cleared; DTR|RTS without OUT2 (no IRQ); FIFO detected.
    #[test]
    fn init_programs_registers_in_order() {
        let mut uart = Uart16550::new(FakeUart::new());
        uart.init(0x0203).unwrap();
        let io = &uart.io;
        assert_eq!(
            io.writes,
            [
                (1, false, 0x00),     // IER: interrupts off
                (3, false, LCR_DLAB), // LCR: open the divisor latch
                (0, true, 0x03),      // DLL
                (1, true, 0x02),      // DLM
                (3, true, LCR_WLEN8), // LCR: 8N1, DLAB closed
                (2, false, 0xC7),     // FCR: enable + clear both FIFOs, trigger 14
                (4, false, MCR_DTR | MCR_RTS),
            ]
        );
        assert_eq!((io.dll, io.dlm), (0x03, 0x02));
        assert!(!io.dlab(), "DLAB must be clear after init");
        assert_eq!(io.regs[1], 0, "interrupts must be off");
        assert_eq!(io.regs[4] & MCR_OUT2, 0);
        assert!(io.fifo_enabled);
        assert!(uart.has_fifo());
    }

    #[test]
    fn init_rejects_divisor_zero_without_touching_hardware() {
        let mut uart = Uart16550::new(FakeUart::new());
        assert_eq!(uart.init(0), Err(Error::InvalidDivisor));
        assert_eq!(Error::InvalidDivisor.kind(), ErrorKind::InvalidInput);
        assert!(uart.io.writes.is_empty());
    }

    #[test]
    fn init_without_working_fifo_writes_one_byte_at_a_time() {
        let mut fake = FakeUart::new();
        fake.has_fifo = false; // an 8250/16450: IIR bits 7:6 stay 0
        fake.drain_period = 3;
        let mut uart = Uart16550::with_spin_limit(fake, 1000);
        uart.init(1).unwrap();
        assert!(!uart.has_fifo());
        assert_eq!(uart.write(b"abc"), Ok(1));
        uart.write_all(b"bc").unwrap();
        assert_eq!(uart.io.tx_log, b"abc");
        assert_eq!(uart.io.tx_overflows, 0);
    }

    #[test]
    fn written_bytes_reach_thr_in_order_without_overflowing_the_fifo() {
        let mut uart = ready_uart();
        uart.io.drain_period = 2;
        let msg: Vec<u8> = (0..100u8).collect();
        uart.write_all(&msg).unwrap();
        uart.flush().unwrap();
        assert_eq!(uart.io.tx_log, msg);
        assert_eq!(uart.io.tx_overflows, 0);
        assert!(uart.io.tx_fifo.is_empty() && uart.io.shifter.is_none());
    }

    #[test]
    fn write_fills_the_fifo_in_one_call() {
        let mut uart = ready_uart();
        assert_eq!(uart.write(&[7u8; 40]), Ok(16));
        assert_eq!(uart.io.tx_log.len(), 16);
    }

    #[test]
    fn write_of_empty_buffer_is_ok_zero_and_touches_nothing() {
        let mut uart = ready_uart();
        uart.io.drain_period = 0;
        uart.io.tx_fifo.push_back(1); // transmitter stuck and busy
        assert_eq!(uart.write(&[]), Ok(0));
        assert_eq!(uart.io.lsr_reads, 0);
        assert!(uart.io.tx_log.is_empty());
    }

    #[test]
    fn write_byte_waits_for_thre() {
        let mut uart = ready_uart();
        uart.io.drain_period = 50;
        uart.write_byte(b'x').unwrap();
        uart.write_byte(b'y').unwrap();
        assert_eq!(uart.io.tx_log, b"xy");
        assert!(uart.io.lsr_reads >= 50, "second byte had to wait");
        assert_eq!(uart.io.tx_overflows, 0);
    }

    /// Expect: a stuck transmitter costs exactly `spin_limit` LSR polls, then `TimedOut`.
    #[test]
    fn stuck_transmitter_times_out_after_spin_limit_polls() {
        let mut fake = FakeUart::new();
        fake.tx_fifo.push_back(0); // THRE clear
        fake.drain_period = 0; // and never draining
        let mut uart = Uart16550::with_spin_limit(fake, 25);
        assert_eq!(uart.write_byte(1), Err(Error::Timeout));
        assert_eq!(uart.io.lsr_reads, 25);
        assert_eq!(uart.write(b"abc"), Err(Error::Timeout));
        assert_eq!(uart.io.lsr_reads, 50);
        assert_eq!(uart.flush(), Err(Error::Timeout));
        assert_eq!(uart.io.lsr_reads, 75);
        assert_eq!(Error::Timeout.kind(), ErrorKind::TimedOut);
        assert!(uart.io.tx_log.is_empty());
        assert!(!uart.try_write_byte(1));
        assert_eq!(uart.write_ready(), Ok(false));
    }

    #[test]
    fn spin_limit_bounds_the_number_of_polls() {
        struct Counting {
            lsr_reads: u32,
        }
        impl Uart16550Io for Counting {
            fn read(&mut self, reg: Register) -> u8 {
                if reg == Register::Lsr {
                    self.lsr_reads += 1;
                }
                0 // never THRE, never TEMT
            }
            fn write(&mut self, _: Register, _: u8) {}
        }
        let mut uart = Uart16550::with_spin_limit(Counting { lsr_reads: 0 }, 25);
        assert_eq!(uart.write_byte(1), Err(Error::Timeout));
        assert_eq!(uart.io.lsr_reads, 25);
        assert_eq!(uart.flush(), Err(Error::Timeout));
        assert_eq!(uart.io.lsr_reads, 50);
        let mut zero = Uart16550::with_spin_limit(Counting { lsr_reads: 0 }, 0);
        assert_eq!(zero.write_byte(1), Err(Error::Timeout));
        assert_eq!(zero.io.lsr_reads, 1, "a limit of 0 still polls once");
    }

    #[test]
    fn flush_waits_for_temt_not_just_thre() {
        let mut uart = ready_uart();
        uart.io.drain_period = 10;
        uart.write_byte(b'z').unwrap();
        uart.flush().unwrap();
        // THRE appears at the first drain step (byte moves to the shifter), TEMT at the second.
        assert!(uart.io.lsr_reads >= 20, "flush returned at THRE");
        assert!(uart.io.shifter.is_none());
    }

    #[test]
    fn reads_return_received_bytes() {
        let mut uart = ready_uart();
        assert_eq!(uart.try_read_byte(), Ok(None));
        assert_eq!(uart.read_ready(), Ok(false));
        uart.io.receive(b"hello");
        assert_eq!(uart.read_ready(), Ok(true));
        assert_eq!(uart.try_read_byte(), Ok(Some(b'h')));
        let mut buf = [0u8; 3];
        assert_eq!(uart.read(&mut buf), Ok(3));
        assert_eq!(&buf, b"ell");
        let mut buf = [0u8; 8];
        assert_eq!(uart.read(&mut buf), Ok(1));
        assert_eq!(buf[0], b'o');
        assert_eq!(uart.read(&mut []), Ok(0));
    }

    #[test]
    fn line_errors_drop_the_bad_character() {
        for (bits, expected) in [
            (LSR_PE, Error::Parity),
            (LSR_FE, Error::Framing),
            (LSR_BI | LSR_FE, Error::Break),
        ] {
            let mut uart = ready_uart();
            uart.io.rx.push_back((0xEE, bits));
            uart.io.receive(b"k");
            assert_eq!(uart.try_read_byte(), Err(expected), "{bits:#x}");
            assert_eq!(uart.try_read_byte(), Ok(Some(b'k')), "{bits:#x}");
        }
        assert_eq!(Error::Parity.kind(), ErrorKind::InvalidData);
        assert_eq!(Error::Framing.kind(), ErrorKind::InvalidData);
        assert_eq!(Error::Break.kind(), ErrorKind::Other);
    }

    #[test]
    fn overrun_is_reported_and_keeps_the_waiting_bytes() {
        let mut uart = ready_uart();
        uart.io.receive(b"ab");
        uart.io.overrun = true;
        // read_ready's LSR read clears OE in the fake, as in hardware; the driver keeps it.
        assert_eq!(uart.read_ready(), Ok(true));
        assert!(!uart.io.overrun);
        let mut buf = [0u8; 4];
        assert_eq!(uart.read(&mut buf), Err(Error::Overrun));
        assert_eq!(Error::Overrun.kind(), ErrorKind::Other);
        assert_eq!(uart.read(&mut buf), Ok(2));
        assert_eq!(&buf[..2], b"ab");
    }

    #[test]
    fn error_after_first_byte_is_deferred_to_the_next_read() {
        let mut uart = ready_uart();
        uart.io.receive(b"ab");
        uart.io.rx.push_back((0, LSR_BI));
        uart.io.receive(b"c");
        let mut buf = [0u8; 8];
        assert_eq!(uart.read(&mut buf), Ok(2));
        assert_eq!(&buf[..2], b"ab");
        assert_eq!(uart.read_ready(), Ok(true));
        assert_eq!(uart.read(&mut buf), Err(Error::Break));
        assert_eq!(uart.read(&mut buf), Ok(1));
        assert_eq!(buf[0], b'c');
    }

    /// Expect: an LSR read on the transmit path (which clears PE in hardware) does not lose the
    /// parity error of the character waiting in the receive FIFO.
    #[test]
    fn transmit_polls_do_not_lose_receive_errors() {
        let mut uart = ready_uart();
        uart.io.rx.push_back((0xEE, LSR_PE));
        uart.io.receive(b"k");
        uart.write_byte(b'x').unwrap();
        assert_eq!(uart.io.rx[0].1, 0, "the fake cleared PE on the LSR read");
        assert_eq!(uart.write_ready(), Ok(true));
        assert_eq!(uart.try_read_byte(), Err(Error::Parity));
        assert_eq!(uart.try_read_byte(), Ok(Some(b'k')));
        assert_eq!(uart.try_read_byte(), Ok(None));
    }

    #[test]
    fn write_ready_follows_thre() {
        let mut uart = ready_uart();
        assert_eq!(uart.write_ready(), Ok(true));
        uart.io.drain_period = 0;
        uart.io.tx_fifo.push_back(0);
        assert_eq!(uart.write_ready(), Ok(false));
    }

    #[test]
    fn probe_finds_a_uart_and_restores_its_registers() {
        let mut fake = FakeUart::new();
        fake.regs[7] = 0x42;
        fake.regs[1] = 0x05;
        let mut uart = Uart16550::new(fake);
        assert!(uart.probe());
        assert_eq!(uart.io.regs[7], 0x42);
        assert_eq!(uart.io.regs[1], 0x05);
        assert!(uart.io.writes.contains(&(7, false, 0x55)));
        assert!(uart.io.writes.contains(&(7, false, 0xAA)));
    }

    #[test]
    fn probe_rejects_an_empty_port() {
        let mut fake = FakeUart::new();
        fake.absent = true;
        assert!(!Uart16550::new(fake).probe());
    }

    #[test]
    fn probe_rejects_a_missing_scratch_register() {
        struct NoScratch(FakeUart);
        impl Uart16550Io for NoScratch {
            fn read(&mut self, reg: Register) -> u8 {
                if reg == Register::Scr {
                    0xFF
                } else {
                    self.0.read(reg)
                }
            }
            fn write(&mut self, reg: Register, value: u8) {
                self.0.write(reg, value)
            }
        }
        assert!(!Uart16550::new(NoScratch(FakeUart::new())).probe());
    }

    #[test]
    fn works_through_a_mutable_reference() {
        let mut fake = FakeUart::new();
        {
            let mut uart = Uart16550::new(&mut fake);
            uart.init(3).unwrap();
            uart.write_all(b"ok").unwrap();
        }
        assert_eq!(fake.tx_log, b"ok");
        assert_eq!(fake.dll, 3);
    }

    /// Expect: the divisor is clock / (16 * baud), rounded to nearest. Figures by hand:
    /// 1.8432 MHz / 1_843_200 = 1; 24 MHz / 1_843_200 = 13.02 -> 13; 48 MHz -> 26.04 -> 26;
    /// 50 MHz -> 27.13 -> 27; Tegra's 408 MHz -> 221.35 -> 221; 24 MHz at 9600: 156.25 -> 156;
    /// 100 MHz at 1_500_000: 4.17 -> 4; 24 MHz at 921_600: 1.63 -> 2 (rounds up).
    #[test]
    fn divisor_for_clock_rounds_to_nearest() {
        assert_eq!(divisor_for_clock(1_843_200, 115_200), Some(1));
        assert_eq!(divisor_for_clock(24_000_000, 115_200), Some(13));
        assert_eq!(divisor_for_clock(48_000_000, 115_200), Some(26));
        assert_eq!(divisor_for_clock(50_000_000, 115_200), Some(27));
        assert_eq!(divisor_for_clock(408_000_000, 115_200), Some(221));
        assert_eq!(divisor_for_clock(24_000_000, 9_600), Some(156));
        assert_eq!(divisor_for_clock(100_000_000, 1_500_000), Some(4));
        assert_eq!(divisor_for_clock(24_000_000, 921_600), Some(2));
        assert_eq!(divisor_for_clock(24_000_000, 0), None);
        assert_eq!(
            divisor_for_clock(1_000_000, 115_200),
            Some(1),
            "0.54 rounds up to 1"
        );
        assert_eq!(
            divisor_for_clock(500_000, 115_200),
            None,
            "0.27 rounds to 0"
        );
        assert_eq!(divisor_for_clock(u32::MAX, 1), None, "above 16 bits");
    }

    /// Expect: take_over writes IER = 0 and nothing else; the firmware's divisor stays, queued
    /// output is not flushed, and the FIFO is detected from IIR.
    #[test]
    fn take_over_keeps_the_boot_loaders_divisor() {
        let mut fake = FakeUart::new();
        fake.dll = 26;
        fake.regs[3] = LCR_WLEN8;
        fake.regs[1] = 0x03; // firmware left RX/TX interrupts on
        fake.fifo_enabled = true;
        fake.tx_fifo.extend(b"boot");
        fake.drain_period = 0;
        let mut uart = Uart16550::new(fake);
        uart.init_console(Some(48_000_000), None).unwrap();
        assert_eq!(uart.io.writes, [(1, false, 0x00)]);
        assert_eq!(uart.io.dll, 26);
        assert_eq!(uart.io.tx_fifo.len(), 4, "queued output kept");
        assert!(uart.has_fifo());
    }

    #[test]
    fn take_over_closes_a_divisor_latch_left_open() {
        let mut fake = FakeUart::new();
        fake.regs[3] = LCR_WLEN8 | LCR_DLAB;
        fake.dll = 13;
        let mut uart = Uart16550::new(fake);
        uart.take_over();
        assert_eq!(uart.io.writes, [(3, true, LCR_WLEN8), (1, false, 0x00)]);
        assert_eq!(uart.io.dll, 13);
        assert!(!uart.io.dlab());
    }

    #[test]
    fn init_console_with_a_speed_programs_the_computed_divisor() {
        let mut uart = Uart16550::new(FakeUart::new());
        uart.init_console(Some(24_000_000), Some(115_200)).unwrap();
        assert_eq!((uart.io.dll, uart.io.dlm), (13, 0));
        let mut uart = Uart16550::new(FakeUart::new());
        uart.init_console(Some(408_000_000), Some(9_600)).unwrap();
        // 408e6 / 153_600 = 2656.25 -> 2656 = 0x0A60.
        assert_eq!((uart.io.dll, uart.io.dlm), (0x60, 0x0A));
    }

    #[test]
    fn init_console_with_a_speed_but_no_clock_says_so() {
        let mut uart = Uart16550::new(FakeUart::new());
        assert_eq!(uart.init_console(None, Some(115_200)), Err(Error::NoClock));
        assert_eq!(
            uart.init_console(Some(1_000), Some(115_200)),
            Err(Error::InvalidBaud)
        );
        assert!(uart.io.writes.is_empty());
        assert_eq!(Error::NoClock.kind(), ErrorKind::InvalidInput);
        assert!(std::format!("{}", Error::NoClock).contains("clock frequency is unknown"));
    }
}
