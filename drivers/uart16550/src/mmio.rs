//! Memory-mapped 16550s: `reg-shift`, `reg-io-width` and the DesignWare APB UART's busy quirk.
//!
//! # Concepts
//!
//! - **The bus is not ours either.** [`MmioBus`] is the board's volatile access to the UART's
//!   register window (8-bit and 32-bit, at byte offsets from its base); [`Mmio16550`] turns it
//!   into the [`Uart16550Io`] the driver speaks. The fake bus of the tests records every access.
//! - **Where register *n* lives.** The device tree's `reg-shift` spaces the eight registers
//!   `1 << reg-shift` bytes apart (register *n* is at `n << reg-shift`), and `reg-io-width` says
//!   whether they must be accessed with 1-byte or 4-byte loads and stores; many SoC buses fault
//!   or ignore byte accesses to a 32-bit register. With 4-byte accesses the register's value is
//!   in bits 7:0. This is Linux's `regshift` with `UPIO_MEM` / `UPIO_MEM32` (little-endian;
//!   `UPIO_MEM32BE` is not supported).
//! - **The DesignWare busy quirk.** Unless synthesised with `UART_16550_COMPATIBLE`, the
//!   Synopsys DesignWare APB UART ignores writes to LCR while it is busy (USR.BUSY: a character
//!   is being sent or received, or the receive FIFO holds data), and raises a busy-detect
//!   indication (IIR = 0x7) that only a read of USR (offset `0x1f << reg-shift`) clears. A lost
//!   `LCR = DLAB` write is dangerous: the divisor bytes that follow land in THR and IER. Like
//!   Linux's `dw8250_serial_out()` / `dw8250_check_lcr()`, every LCR write is read back and,
//!   while it did not take (ignoring the stick-parity bit, as Linux does), the UART is forced
//!   idle (`dw8250_force_idle()`: FIFOs cleared and re-enabled, a waiting character read) and
//!   the write repeated, at most [`DW_LCR_TRIES`] times. Afterwards USR is read once if any
//!   write was retried, clearing the busy-detect indication.
//!
//! # Reference
//!
//! Linux `drivers/tty/serial/8250/8250_dw.c` (`dw8250_check_lcr`, `dw8250_force_idle`,
//! `DW_UART_USR`), `8250_port.c` (`serial8250_clear_and_reinit_fifos`), `8250_of.c` and
//! `8250_omap.c` for the properties and compatibles; Synopsys DesignWare DW_apb_uart Databook,
//! "Busy functionality" and the USR register; Documentation/devicetree/bindings/serial/
//! `8250.yaml` and `snps-dw-apb-uart.yaml`.

use crate::bits::{FCR_CLEAR_RCVR, FCR_CLEAR_XMIT, FCR_ENABLE_FIFO, LSR_DR};
use crate::{Register, Uart16550Io};

/// The compatible strings served (see [`crate::COMPATIBLES`]).
pub const COMPATIBLES: &[&str] = &[
    "ns16550a",
    "ns16550",
    "snps,dw-apb-uart",
    // A DesignWare APB UART (Linux 8250_dw.c serves it, with the busy quirk).
    "marvell,armada-38x-uart",
    "nvidia,tegra20-uart",
    "ti,omap2-uart",
    "ti,omap3-uart",
    "ti,omap4-uart",
    "ti,am3352-uart",
    "ti,am4372-uart",
    "ti,dra742-uart",
    "ti,am654-uart",
];

/// How many times an LCR write is retried on a busy DesignWare UART (Linux's `tries = 1000`).
pub const DW_LCR_TRIES: u32 = 1000;

/// DesignWare UART Status Register index (`DW_UART_USR`); its byte offset is
/// `DW_UART_USR << reg_shift`.
pub const DW_UART_USR: usize = 0x1f;

/// USR.BUSY: the DesignWare UART is transferring or its receive FIFO is not empty.
pub const DW_USR_BUSY: u32 = 1 << 0;

/// LCR stick parity, ignored when an LCR write is checked (`UART_LCR_SPAR`).
const LCR_SPAR: u8 = 0x20;

/// Volatile access to a UART's register window, provided by the board.
///
/// `offset` is a byte offset from the window's base. Each call is exactly one bus access of the
/// named width, in program order, never cached or merged: reads of RBR, LSR, IIR and USR change
/// the device's state.
pub trait MmioBus {
    /// Loads the byte at `offset`.
    fn read8(&mut self, offset: usize) -> u8;
    /// Stores `value` at `offset` with a byte access.
    fn write8(&mut self, offset: usize, value: u8);
    /// Loads the little-endian 32-bit word at `offset` (4-byte aligned).
    fn read32(&mut self, offset: usize) -> u32;
    /// Stores `value` at `offset` with a 32-bit access (4-byte aligned).
    fn write32(&mut self, offset: usize, value: u32);
}

impl<T: MmioBus + ?Sized> MmioBus for &mut T {
    fn read8(&mut self, offset: usize) -> u8 {
        (**self).read8(offset)
    }
    fn write8(&mut self, offset: usize, value: u8) {
        (**self).write8(offset, value)
    }
    fn read32(&mut self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&mut self, offset: usize, value: u32) {
        (**self).write32(offset, value)
    }
}

/// Access width of the registers: the device tree's `reg-io-width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoWidth {
    /// `reg-io-width = <1>` (the default): byte loads and stores.
    Byte,
    /// `reg-io-width = <4>`: 32-bit loads and stores, the value in bits 7:0.
    Word32,
}

impl IoWidth {
    /// The width for a `reg-io-width` value in bytes: 1 or 4, anything else is unsupported.
    pub const fn from_reg_io_width(bytes: u32) -> Option<Self> {
        match bytes {
            1 => Some(IoWidth::Byte),
            4 => Some(IoWidth::Word32),
            _ => None,
        }
    }
}

/// How a memory-mapped 16550 is wired: register spacing, access width, quirks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioConfig {
    /// Register *n* is at byte offset `n << reg_shift` (`reg-shift`, 0..=4).
    pub reg_shift: u8,
    /// Access width (`reg-io-width`).
    pub io_width: IoWidth,
    /// Check every LCR write and retry it while the UART is busy (DesignWare APB UART).
    pub dw_busy_quirk: bool,
}

impl MmioConfig {
    /// A plain 16550 at consecutive byte addresses.
    pub const NS16550A: Self = Self {
        reg_shift: 0,
        io_width: IoWidth::Byte,
        dw_busy_quirk: false,
    };

    /// The configuration for a device-tree node: its `compatible` (any one of [`COMPATIBLES`];
    /// pass the node's entries in order and use the first `Some`), `reg-shift`, `reg-io-width`,
    /// and whether it has the `snps,uart-16550-compatible` property (a DesignWare UART without
    /// the busy quirk).
    ///
    /// An absent `reg-shift` is 0, except on the TI UARTs, where Linux's `8250_omap` always uses
    /// 2. An absent `reg-io-width` is 1. `None` for a compatible not served, a `reg-io-width`
    /// other than 1 or 4, or a `reg-shift` above 4 (no 16550 spaces its registers further).
    pub fn from_device_tree(
        compatible: &str,
        reg_shift: Option<u32>,
        reg_io_width: Option<u32>,
        snps_uart_16550_compatible: bool,
    ) -> Option<Self> {
        if !COMPATIBLES.contains(&compatible) {
            return None;
        }
        let default_shift = if compatible.starts_with("ti,") { 2 } else { 0 };
        let reg_shift = reg_shift.unwrap_or(default_shift);
        if reg_shift > 4 {
            return None;
        }
        let io_width = IoWidth::from_reg_io_width(reg_io_width.unwrap_or(1))?;
        Some(Self {
            reg_shift: reg_shift as u8,
            io_width,
            dw_busy_quirk: matches!(compatible, "snps,dw-apb-uart" | "marvell,armada-38x-uart") && !snps_uart_16550_compatible,
        })
    }
}

/// A memory-mapped 16550's registers on the bus `B`, as an [`Uart16550Io`].
pub struct Mmio16550<B> {
    bus: B,
    config: MmioConfig,
    /// The last value written to FCR, which [`Self::force_idle`] restores (Linux `up->fcr`).
    fcr: u8,
    /// LCR writes that had to be repeated because the UART was busy.
    lcr_retries: u32,
    /// LCR writes that still had not taken after [`DW_LCR_TRIES`] attempts.
    lcr_failures: u32,
}

impl<B: MmioBus> Mmio16550<B> {
    /// Wraps `bus` wired as `config`. Touches no register.
    pub fn new(bus: B, config: MmioConfig) -> Self {
        Self {
            bus,
            config,
            fcr: 0,
            lcr_retries: 0,
            lcr_failures: 0,
        }
    }

    /// Gives the bus back.
    pub fn into_inner(self) -> B {
        self.bus
    }

    /// The wiring this access was made with.
    pub fn config(&self) -> MmioConfig {
        self.config
    }

    /// How many LCR writes were repeated because a DesignWare UART was busy.
    pub fn lcr_retries(&self) -> u32 {
        self.lcr_retries
    }

    /// How many LCR writes never took, even after [`DW_LCR_TRIES`] attempts (Linux gives up
    /// silently too; a console that keeps receiving can cause it).
    pub fn lcr_failures(&self) -> u32 {
        self.lcr_failures
    }

    /// The byte offset of register index `index`.
    fn offset(&self, index: usize) -> usize {
        index << self.config.reg_shift
    }

    fn read_index(&mut self, index: usize) -> u32 {
        let offset = self.offset(index);
        match self.config.io_width {
            IoWidth::Byte => u32::from(self.bus.read8(offset)),
            IoWidth::Word32 => self.bus.read32(offset),
        }
    }

    fn write_index(&mut self, index: usize, value: u8) {
        let offset = self.offset(index);
        match self.config.io_width {
            IoWidth::Byte => self.bus.write8(offset, value),
            IoWidth::Word32 => self.bus.write32(offset, u32::from(value)),
        }
    }

    /// Reads the DesignWare UART Status Register (at `0x1f << reg_shift`). Reading it clears a
    /// pending busy-detect indication. Meaningless on other 16550s.
    pub fn dw_usr(&mut self) -> u32 {
        self.read_index(DW_UART_USR)
    }

    /// Linux `dw8250_force_idle()`: clear and re-enable the FIFOs
    /// (`serial8250_clear_and_reinit_fifos()`), then drop a character still waiting in RBR
    /// (checked with LSR.DR first when the FIFO is on, as an empty RBR read may fault then).
    fn force_idle(&mut self) {
        let fcr_index = usize::from(Register::Fcr.offset());
        self.write_index(fcr_index, FCR_ENABLE_FIFO);
        self.write_index(fcr_index, FCR_ENABLE_FIFO | FCR_CLEAR_RCVR | FCR_CLEAR_XMIT);
        self.write_index(fcr_index, 0);
        self.write_index(fcr_index, self.fcr);
        if self.fcr & FCR_ENABLE_FIFO != 0 {
            let lsr = self.read_index(usize::from(Register::Lsr.offset())) as u8;
            if lsr & LSR_DR == 0 {
                return;
            }
        }
        let _ = self.read_index(usize::from(Register::Rbr.offset()));
    }

    /// Linux `dw8250_check_lcr()`: make sure the LCR write of `value` was not ignored.
    fn check_lcr(&mut self, value: u8) {
        let lcr_index = usize::from(Register::Lcr.offset());
        let mut retried = false;
        let mut tries = DW_LCR_TRIES;
        loop {
            let lcr = self.read_index(lcr_index) as u8;
            if lcr & !LCR_SPAR == value & !LCR_SPAR {
                break;
            }
            if tries == 0 {
                self.lcr_failures += 1;
                break;
            }
            tries -= 1;
            retried = true;
            self.lcr_retries += 1;
            self.force_idle();
            self.write_index(lcr_index, value);
        }
        if retried {
            // Clear the busy-detect indication the ignored write raised.
            let _ = self.dw_usr();
        }
    }
}

impl<B: MmioBus> Uart16550Io for Mmio16550<B> {
    fn read(&mut self, reg: Register) -> u8 {
        self.read_index(usize::from(reg.offset())) as u8
    }

    fn write(&mut self, reg: Register, value: u8) {
        self.write_index(usize::from(reg.offset()), value);
        match reg {
            Register::Fcr => self.fcr = value,
            Register::Lcr if self.config.dw_busy_quirk => self.check_lcr(value),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::bits::*;
    use crate::{Error, Uart16550};
    use embedded_io::{Read, Write};
    use std::collections::VecDeque;
    use std::vec::Vec;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Access {
        R8(usize),
        W8(usize, u8),
        R32(usize),
        W32(usize, u32),
    }

    /// A bus-level model of a memory-mapped 16550, optionally with the DesignWare busy logic.
    ///
    /// ```text
    ///  offset ──► index = offset >> reg_shift (misaligned offsets panic)
    ///  THR write ──► tx_fifo ──► (one byte gone per `drain_period` LSR reads)
    ///  DesignWare: busy = tx_fifo or rx non-empty, or `stuck_busy`;
    ///              LCR write while busy: ignored, busy-detect raised (IIR = 0xC7) until USR read
    /// ```
    struct FakeBus {
        reg_shift: u8,
        accesses: Vec<Access>,
        dw: bool,
        stuck_busy: bool,
        busy_detect: bool,
        usr_reads: u32,
        lcr: u8,
        ier: u8,
        mcr: u8,
        dll: u8,
        dlm: u8,
        fifo_enabled: bool,
        tx_fifo: VecDeque<u8>,
        tx_log: Vec<u8>,
        drain_period: u32,
        lsr_reads: u32,
        rx: VecDeque<u8>,
    }

    impl FakeBus {
        fn new(reg_shift: u8, dw: bool) -> Self {
            Self {
                reg_shift,
                accesses: Vec::new(),
                dw,
                stuck_busy: false,
                busy_detect: false,
                usr_reads: 0,
                lcr: 0,
                ier: 0,
                mcr: 0,
                dll: 0,
                dlm: 0,
                fifo_enabled: false,
                tx_fifo: VecDeque::new(),
                tx_log: Vec::new(),
                drain_period: 1,
                lsr_reads: 0,
                rx: VecDeque::new(),
            }
        }

        fn index(&self, offset: usize) -> usize {
            assert_eq!(
                offset % (1 << self.reg_shift),
                0,
                "offset {offset:#x} off the register grid"
            );
            offset >> self.reg_shift
        }

        fn busy(&self) -> bool {
            self.dw && (self.stuck_busy || !self.tx_fifo.is_empty() || !self.rx.is_empty())
        }

        fn dlab(&self) -> bool {
            self.lcr & LCR_DLAB != 0
        }

        fn read_reg(&mut self, index: usize) -> u8 {
            match index {
                0 if self.dlab() => self.dll,
                0 => self.rx.pop_front().unwrap_or(0),
                1 if self.dlab() => self.dlm,
                1 => self.ier,
                2 if self.busy_detect => 0xC7,
                2 if self.fifo_enabled => 0xC1,
                2 => 0x01,
                3 => self.lcr,
                4 => self.mcr,
                5 => {
                    self.lsr_reads += 1;
                    if self.drain_period != 0 && self.lsr_reads.is_multiple_of(self.drain_period) {
                        self.tx_fifo.pop_front();
                    }
                    let mut lsr = 0;
                    if self.tx_fifo.is_empty() {
                        lsr |= LSR_THRE | LSR_TEMT;
                    }
                    if !self.rx.is_empty() {
                        lsr |= LSR_DR;
                    }
                    lsr
                }
                DW_UART_USR => {
                    assert!(self.dw, "USR read on a UART without one");
                    self.usr_reads += 1;
                    self.busy_detect = false;
                    u8::from(self.busy())
                }
                _ => 0,
            }
        }

        fn write_reg(&mut self, index: usize, value: u8) {
            match index {
                0 if self.dlab() => self.dll = value,
                0 => {
                    self.tx_log.push(value);
                    self.tx_fifo.push_back(value);
                }
                1 if self.dlab() => self.dlm = value,
                1 => self.ier = value,
                2 => {
                    self.fifo_enabled = value & FCR_ENABLE_FIFO != 0;
                    if value & FCR_CLEAR_XMIT != 0 {
                        self.tx_fifo.clear();
                    }
                    if value & FCR_CLEAR_RCVR != 0 {
                        self.rx.clear();
                    }
                }
                3 if self.busy() => self.busy_detect = true,
                3 => self.lcr = value,
                4 => self.mcr = value,
                _ => {}
            }
        }

        fn lcr_writes(&self) -> usize {
            let lcr_offset = 3 << self.reg_shift;
            self.accesses
                .iter()
                .filter(|a| {
                    matches!(a, Access::W8(o, _) if *o == lcr_offset)
                        || matches!(a, Access::W32(o, _) if *o == lcr_offset)
                })
                .count()
        }
    }

    impl MmioBus for FakeBus {
        fn read8(&mut self, offset: usize) -> u8 {
            self.accesses.push(Access::R8(offset));
            let index = self.index(offset);
            self.read_reg(index)
        }
        fn write8(&mut self, offset: usize, value: u8) {
            self.accesses.push(Access::W8(offset, value));
            let index = self.index(offset);
            self.write_reg(index, value)
        }
        fn read32(&mut self, offset: usize) -> u32 {
            assert_eq!(offset % 4, 0, "unaligned 32-bit read at {offset:#x}");
            self.accesses.push(Access::R32(offset));
            let index = self.index(offset);
            // The upper bytes of a 32-bit 16550 register read as 0 on real parts; make them
            // noise here so a driver that forgets to truncate is caught.
            u32::from(self.read_reg(index)) | 0xA5A5_0000
        }
        fn write32(&mut self, offset: usize, value: u32) {
            assert_eq!(offset % 4, 0, "unaligned 32-bit write at {offset:#x}");
            assert!(
                value <= 0xFF,
                "32-bit write with upper bits set: {value:#x}"
            );
            self.accesses.push(Access::W32(offset, value));
            let index = self.index(offset);
            self.write_reg(index, value as u8)
        }
    }

    fn make_uart(bus: FakeBus, config: MmioConfig) -> Uart16550<Mmio16550<FakeBus>> {
        Uart16550::with_spin_limit(Mmio16550::new(bus, config), 1000)
    }

    fn bus(uart: &Uart16550<Mmio16550<FakeBus>>) -> &FakeBus {
        &uart.io.bus
    }

    fn bus_mut(uart: &mut Uart16550<Mmio16550<FakeBus>>) -> &mut FakeBus {
        &mut uart.io.bus
    }

    const DW_SHIFT2_MEM32: MmioConfig = MmioConfig {
        reg_shift: 2,
        io_width: IoWidth::Word32,
        dw_busy_quirk: true,
    };

    #[test]
    fn from_device_tree_reads_shift_width_and_quirk() {
        assert_eq!(
            MmioConfig::from_device_tree("ns16550a", None, None, false),
            Some(MmioConfig::NS16550A)
        );
        assert_eq!(
            MmioConfig::from_device_tree("snps,dw-apb-uart", Some(2), Some(4), false),
            Some(DW_SHIFT2_MEM32)
        );
        assert!(MmioConfig::from_device_tree("marvell,armada-38x-uart", Some(2), Some(1), false).unwrap().dw_busy_quirk);
        let dw_compat = MmioConfig::from_device_tree("snps,dw-apb-uart", Some(2), Some(4), true);
        assert!(
            !dw_compat.unwrap().dw_busy_quirk,
            "snps,uart-16550-compatible"
        );
        let tegra = MmioConfig::from_device_tree("nvidia,tegra20-uart", Some(2), None, false);
        assert_eq!(
            tegra,
            Some(MmioConfig {
                reg_shift: 2,
                io_width: IoWidth::Byte,
                dw_busy_quirk: false
            })
        );
        let k3 = MmioConfig::from_device_tree("ti,am654-uart", None, None, false).unwrap();
        assert_eq!(k3.reg_shift, 2, "8250_omap's implied reg-shift");
        assert_eq!(
            MmioConfig::from_device_tree("ns16550a", None, Some(2), false),
            None
        );
        assert_eq!(
            MmioConfig::from_device_tree("ns16550a", None, Some(8), false),
            None
        );
        assert_eq!(
            MmioConfig::from_device_tree("ns16550a", Some(5), None, false),
            None
        );
        assert_eq!(
            MmioConfig::from_device_tree("arm,pl011", None, None, false),
            None
        );
        assert_eq!(IoWidth::from_reg_io_width(4), Some(IoWidth::Word32));
        for c in crate::COMPATIBLES {
            assert!(
                MmioConfig::from_device_tree(c, None, None, false).is_some(),
                "{c}"
            );
        }
    }

    /// Expect: with reg-shift 2 and reg-io-width 4, init's register sequence lands at
    /// index << 2 with 32-bit accesses only: IER 0x04, LCR 0x0c, DLL 0x00, DLM 0x04, LCR 0x0c,
    /// FCR 0x08, MCR 0x10, then the IIR read at 0x08.
    #[test]
    fn reg_shift_2_io_width_4_uses_word_accesses_at_shifted_offsets() {
        let config = MmioConfig {
            dw_busy_quirk: false,
            ..DW_SHIFT2_MEM32
        };
        let mut uart = make_uart(FakeBus::new(2, false), config);
        uart.init(13).unwrap();
        use Access::*;
        assert_eq!(
            bus(&uart).accesses,
            [
                W32(0x04, 0),
                W32(0x0c, u32::from(LCR_DLAB)),
                W32(0x00, 13),
                W32(0x04, 0),
                W32(0x0c, u32::from(LCR_WLEN8)),
                W32(0x08, 0xC7),
                W32(0x10, u32::from(MCR_DTR | MCR_RTS)),
                R32(0x08),
            ]
        );
        assert!(uart.has_fifo(), "IIR's upper bytes must be ignored");
        assert_eq!(bus(&uart).dll, 13);
    }

    #[test]
    fn reg_shift_0_io_width_1_uses_consecutive_bytes() {
        let mut uart = make_uart(FakeBus::new(0, false), MmioConfig::NS16550A);
        uart.init(1).unwrap();
        uart.write_all(b"A").unwrap();
        let accesses = &bus(&uart).accesses;
        assert!(accesses
            .iter()
            .all(|a| matches!(a, Access::R8(_) | Access::W8(..))));
        let writes: Vec<usize> = accesses
            .iter()
            .filter_map(|a| match a {
                Access::W8(o, _) => Some(*o),
                _ => None,
            })
            .collect();
        assert_eq!(writes, [1, 3, 0, 1, 3, 2, 4, 0]);
        assert!(accesses.contains(&Access::R8(5)), "LSR polled at offset 5");
        assert_eq!(bus(&uart).tx_log, b"A");
    }

    #[test]
    fn reg_shift_2_with_byte_accesses() {
        let config = MmioConfig {
            reg_shift: 2,
            io_width: IoWidth::Byte,
            dw_busy_quirk: false,
        };
        let mut uart = make_uart(FakeBus::new(2, false), config);
        bus_mut(&mut uart).rx.extend(b"hi");
        let mut buf = [0u8; 4];
        assert_eq!(uart.read(&mut buf), Ok(2));
        assert_eq!(&buf[..2], b"hi");
        let accesses = &bus(&uart).accesses;
        assert!(accesses
            .iter()
            .all(|a| matches!(a, Access::R8(_) | Access::W8(..))));
        assert!(accesses.contains(&Access::R8(0x14)), "LSR at 5 << 2");
        assert!(accesses.contains(&Access::R8(0x00)), "RBR at 0");
    }

    #[test]
    fn dw_usr_is_at_0x1f_shifted() {
        let mut io = Mmio16550::new(FakeBus::new(2, true), DW_SHIFT2_MEM32);
        io.bus.stuck_busy = true;
        assert_eq!(io.dw_usr() & DW_USR_BUSY, DW_USR_BUSY);
        assert_eq!(io.bus.accesses, [Access::R32(0x7c)]);
    }

    /// Expect: firmware output still in the FIFO makes the DesignWare UART busy, so init's
    /// `LCR = DLAB` is ignored. With the quirk the write is read back, the UART forced idle
    /// (FCR: enable, enable|clear both, 0, last FCR) and the write repeated, so the divisor reaches
    /// DLL; USR is read once to clear the busy-detect indication. Without it, the divisor byte
    /// goes out as a character.
    #[test]
    fn dw_lcr_write_ignored_while_busy_is_retried() {
        let mut fake = FakeBus::new(2, true);
        fake.tx_fifo.extend(b"boot");
        fake.drain_period = 0; // stays busy until the FIFO is cleared
        let mut uart = make_uart(fake, DW_SHIFT2_MEM32);
        uart.init(13).unwrap();
        let b = bus(&uart);
        assert_eq!((b.dll, b.dlm), (13, 0));
        assert!(b.tx_log.is_empty(), "no divisor byte sent as data");
        assert_eq!(b.lcr, LCR_WLEN8);
        assert_eq!(b.usr_reads, 1);
        assert!(!b.busy_detect);
        let fcr_writes: Vec<u32> = b
            .accesses
            .iter()
            .filter_map(|a| match a {
                Access::W32(0x08, v) => Some(*v),
                _ => None,
            })
            .collect();
        // force_idle (FCR was never written before init: 0 restored), then init's own FCR.
        assert_eq!(fcr_writes, [0x01, 0x07, 0x00, 0x00, 0xC7]);
        assert_eq!(uart.io.lcr_retries(), 1);
        assert_eq!(uart.io.lcr_failures(), 0);

        let mut fake = FakeBus::new(2, true);
        fake.tx_fifo.extend(b"boot");
        fake.drain_period = 0;
        let plain = MmioConfig {
            dw_busy_quirk: false,
            ..DW_SHIFT2_MEM32
        };
        let mut uart = make_uart(fake, plain);
        uart.init(13).unwrap();
        assert_eq!(bus(&uart).dll, 0, "without the quirk the divisor is lost");
        assert_eq!(
            bus(&uart).tx_log,
            [13],
            "DLL sent as a character (DLM went to IER)"
        );
    }

    /// Expect: a UART that never stops being busy costs at most DW_LCR_TRIES retries per LCR
    /// write, then the driver carries on (no hang) and counts the failure.
    #[test]
    fn dw_busy_forever_is_bounded() {
        let mut fake = FakeBus::new(2, true);
        fake.stuck_busy = true;
        let mut uart = make_uart(fake, DW_SHIFT2_MEM32);
        uart.init(13).unwrap();
        // init writes LCR twice; each write is tried 1 + DW_LCR_TRIES times.
        assert_eq!(bus(&uart).lcr_writes(), 2 * (1 + DW_LCR_TRIES as usize));
        assert_eq!(uart.io.lcr_failures(), 2);
        assert_eq!(uart.io.lcr_retries(), 2 * DW_LCR_TRIES);
    }

    #[test]
    fn dw_check_ignores_stick_parity_and_idle_writes_are_not_retried() {
        let mut io = Mmio16550::new(FakeBus::new(2, true), DW_SHIFT2_MEM32);
        io.write(Register::Lcr, LCR_WLEN8);
        assert_eq!(io.lcr_retries(), 0);
        assert_eq!(io.bus.usr_reads, 0, "USR only read after a retry");
        // Hardware that reads SPAR back differently must not cause retries.
        io.bus.lcr = LCR_WLEN8 | LCR_SPAR;
        io.check_lcr(LCR_WLEN8);
        assert_eq!(io.lcr_retries(), 0);
    }

    #[test]
    fn take_over_over_mmio_keeps_the_divisor() {
        let mut fake = FakeBus::new(2, true);
        fake.lcr = LCR_WLEN8;
        fake.dll = 26;
        fake.fifo_enabled = true;
        fake.tx_fifo.extend(b"boot"); // busy, but take_over does not write LCR
        fake.drain_period = 0;
        let mut uart = make_uart(fake, DW_SHIFT2_MEM32);
        uart.init_console(Some(48_000_000), None).unwrap();
        let b = bus(&uart);
        assert_eq!(b.dll, 26);
        assert_eq!(b.tx_fifo.len(), 4);
        assert_eq!(
            b.accesses,
            [Access::R32(0x0c), Access::W32(0x04, 0), Access::R32(0x08)]
        );
        assert!(uart.has_fifo());
    }

    #[test]
    fn stuck_transmitter_over_mmio_times_out() {
        let mut fake = FakeBus::new(2, false);
        fake.tx_fifo.push_back(0);
        fake.drain_period = 0;
        let config = MmioConfig {
            dw_busy_quirk: false,
            ..DW_SHIFT2_MEM32
        };
        let mut uart = Uart16550::with_spin_limit(Mmio16550::new(fake, config), 30);
        assert_eq!(uart.write(b"x"), Err(Error::Timeout));
        assert_eq!(uart.io.bus.lsr_reads, 30);
        assert!(uart.io.bus.tx_log.is_empty());
    }
}
