//! Memory-mapped I/O: the console UART's register block at a physical address, whichever
//! driver runs it, and the logger's console hook; shared by the device-tree platforms
//! (`platform-aarch64`, `platform-armv7a`), whose console bring-up is the same.
//!
//! The board names the driver (`[console] driver`); the device tree gives the block's address
//! and its wiring (`reg-shift`, `reg-io-width`, `clock-frequency`, `current-speed`, the
//! `compatible` list), which [`ConsoleWiring`] carries. Every driver implements `embedded-io`
//! `Write` on a register-access trait of its own; [`Mmio`] is the one volatile implementation
//! of all of them. Until the MMU is on every access is to Device-nGnRnE memory at its physical
//! address; `paging_init` then maps [`window`] as device memory at the same address, so the block
//! stays where the driver looks.
//!
//! The console is taken over as the boot loader left it (baud divisors kept, interrupts
//! masked), as Linux's earlycon does, unless the node gives `current-speed` (and the clock to
//! reach it): then the driver programs that speed.
#![allow(unsafe_code)]

use cadence_uart::{CadenceRegs, CadenceUart};
use exynos_uart::{ExynosRegs, ExynosUart};
use geni_uart::{GeniRegs, GeniUart};
use msm_uartdm::{UartdmRegs, UartdmUart};
use imx_uart::{ImxRegs, ImxUart};
use meson_uart::{MesonRegs, MesonUart};
use pl011::{Pl011, Pl011Regs};
use crate::board::ConsoleDriver;
use uart16550::mmio::{Mmio16550, MmioBus, MmioConfig};
use uart16550::Uart16550;

/// A UART register block at a physical address: volatile accesses at `base + offset`.
#[derive(Debug, Clone, Copy)]
pub struct Mmio {
    base: usize,
}

impl Mmio {
    /// The block at `base`.
    ///
    /// # Safety
    /// The driver's register window from `base` must be a UART that nothing else drives,
    /// reachable at this address (MMU off, or mapped as device memory at the same address).
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn read32(&mut self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract; offsets come from the drivers' register maps, inside the
        // window, and 32-bit registers are 4-byte aligned.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }
}

macro_rules! regs32 {
    ($($t:path),*) => {$(
        impl $t for Mmio {
            fn read32(&mut self, offset: usize) -> u32 {
                Mmio::read32(self, offset)
            }
            fn write32(&mut self, offset: usize, value: u32) {
                Mmio::write32(self, offset, value)
            }
        }
    )*};
}
regs32!(Pl011Regs, ImxRegs, MesonRegs, CadenceRegs, ExynosRegs, GeniRegs, UartdmRegs);

impl MmioBus for Mmio {
    fn read8(&mut self, offset: usize) -> u8 {
        // SAFETY: `new`'s contract; the 16550 driver's offsets are inside its window.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u8) }
    }
    fn write8(&mut self, offset: usize, value: u8) {
        // SAFETY: as in `read8`.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u8, value) }
    }
    fn read32(&mut self, offset: usize) -> u32 {
        Mmio::read32(self, offset)
    }
    fn write32(&mut self, offset: usize, value: u32) {
        Mmio::write32(self, offset, value)
    }
}

/// What the device tree says about the console's wiring (all absent for a fixed address).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleWiring<'a> {
    /// The node's first `compatible` string the driver serves (16550 quirks, Meson's divider).
    pub compatible: Option<&'a str>,
    pub reg_shift: Option<u32>,
    pub reg_io_width: Option<u32>,
    pub clock_hz: Option<u32>,
    pub baud: Option<u32>,
    pub snps_uart_16550_compatible: bool,
}

/// Why the console could not be brought up as the tree describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleError {
    /// A 16550 whose `reg-shift` or `reg-io-width` the driver cannot use (nothing was touched).
    Unsupported16550,
}

/// How the console was started: taken over, or programmed to the tree's speed (or why not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// Taken over as the boot loader left it.
    TakenOver,
    /// Programmed to `current-speed`.
    Programmed(u32),
    /// `current-speed` was given but the driver refused it (no `clock-frequency`, or a speed
    /// the clock cannot make): taken over instead. The driver's error message.
    SpeedRefused(u32, &'static str),
}

/// The console UART with its driver.
pub enum ConsoleUart {
    Pl011(Pl011<Mmio>),
    Uart16550(Uart16550<Mmio16550<Mmio>>),
    Imx(ImxUart<Mmio>),
    Meson(MesonUart<Mmio>),
    Cadence(CadenceUart<Mmio>),
    Exynos(ExynosUart<Mmio>),
    Geni(GeniUart<Mmio>),
    Uartdm(UartdmUart<Mmio>),
}

impl core::fmt::Debug for ConsoleUart {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ConsoleUart")
    }
}

/// The device-tree `compatible` strings `driver` serves (the driver crates' own lists).
pub fn compatibles(driver: ConsoleDriver) -> &'static [&'static str] {
    match driver {
        ConsoleDriver::Pl011 => &["arm,pl011"],
        ConsoleDriver::Uart16550 => uart16550::COMPATIBLES,
        ConsoleDriver::ImxUart => imx_uart::COMPATIBLES,
        ConsoleDriver::MesonUart => meson_uart::COMPATIBLES,
        ConsoleDriver::CadenceUart => cadence_uart::COMPATIBLES,
        ConsoleDriver::ExynosUart => exynos_uart::COMPATIBLES,
        ConsoleDriver::GeniUart => geni_uart::COMPATIBLES,
        ConsoleDriver::MsmUartdm => msm_uartdm::COMPATIBLES,
    }
}

/// Bytes of register window each driver uses from its base: what is mapped as device memory.
pub fn window(driver: ConsoleDriver, wiring: &ConsoleWiring<'_>) -> u64 {
    match driver {
        ConsoleDriver::Pl011 => 0x1000,
        // Eight registers and the DesignWare USR (index 0x1f), `1 << reg-shift` bytes apart.
        ConsoleDriver::Uart16550 => 0x20 << wiring.reg_shift.unwrap_or(2).min(4),
        ConsoleDriver::ImxUart | ConsoleDriver::MesonUart | ConsoleDriver::CadenceUart | ConsoleDriver::ExynosUart => 0x100,
        ConsoleDriver::GeniUart => geni_uart::WINDOW,
        ConsoleDriver::MsmUartdm => msm_uartdm::WINDOW,
    }
}

/// Why a driver refused `current-speed`, from its error's variant name (every driver names the
/// cases `NoClock` and `InvalidBaud`, or `InvalidDivisor` for the 16550).
fn message<E: core::fmt::Debug>(e: E) -> &'static str {
    use core::fmt::Write;
    let mut name: heapless::String<24> = heapless::String::new();
    let _ = write!(name, "{e:?}");
    match name.as_str() {
        "NoClock" => "the node has no clock-frequency to compute the divisor from",
        "InvalidBaud" | "InvalidDivisor" => "the UART's clock cannot make that speed",
        _ => "the driver refused it",
    }
}

static CONSOLE: spin::Mutex<Option<ConsoleUart>> = spin::Mutex::new(None);

/// Starts the UART at `base` with `driver` and makes it the console.
///
/// # Errors
/// [`ConsoleError`]: the tree's wiring is one the driver cannot use; nothing was touched.
///
/// # Safety
/// As [`Mmio::new`] for the window [`window`] gives.
pub unsafe fn init_console(driver: ConsoleDriver, base: usize, w: &ConsoleWiring<'_>) -> Result<Started, ConsoleError> {
    // SAFETY: forwarded from the caller.
    let regs = unsafe { Mmio::new(base) };
    let started = |r: Result<(), &'static str>| match (w.baud, r) {
        (None, _) => Started::TakenOver,
        (Some(b), Ok(())) => Started::Programmed(b),
        (Some(b), Err(why)) => Started::SpeedRefused(b, why),
    };
    let (uart, how) = match driver {
        ConsoleDriver::Pl011 => {
            let mut u = Pl011::new(regs);
            // Without a clock, init keeps the firmware's baud divisors; 115200 is then unused.
            let r = u.init(w.clock_hz.filter(|_| w.baud.is_some()), w.baud.unwrap_or(115_200)).map_err(message);
            if r.is_err() {
                let _ = u.init(None, 115_200);
            }
            (ConsoleUart::Pl011(u), started(r))
        }
        ConsoleDriver::Uart16550 => {
            let config = match w.compatible {
                Some(c) => MmioConfig::from_device_tree(c, w.reg_shift, w.reg_io_width, w.snps_uart_16550_compatible)
                    .ok_or(ConsoleError::Unsupported16550)?,
                None => MmioConfig::NS16550A,
            };
            let mut u = Uart16550::new(Mmio16550::new(regs, config));
            let r = u.init_console(w.clock_hz, w.baud).map_err(message);
            if r.is_err() {
                u.take_over();
            }
            (ConsoleUart::Uart16550(u), started(r))
        }
        ConsoleDriver::ImxUart => {
            let mut u = ImxUart::new(regs);
            let r = u.init_console(w.clock_hz, w.baud).map_err(message);
            if r.is_err() {
                u.take_over();
            }
            (ConsoleUart::Imx(u), started(r))
        }
        ConsoleDriver::MesonUart => {
            let mut u = MesonUart::new(regs).with_xtal_div2(w.compatible.is_some_and(meson_uart::has_xtal_div2));
            let r = u.init_console(w.clock_hz, w.baud).map_err(message);
            if r.is_err() {
                u.take_over();
            }
            (ConsoleUart::Meson(u), started(r))
        }
        ConsoleDriver::CadenceUart => {
            let mut u = CadenceUart::new(regs);
            let r = u.init_console(w.clock_hz, w.baud).map_err(message);
            if r.is_err() {
                u.take_over();
            }
            (ConsoleUart::Cadence(u), started(r))
        }
        ConsoleDriver::ExynosUart => {
            let mut u = ExynosUart::new(regs);
            let r = u.init_console(w.clock_hz, w.baud).map_err(message);
            if r.is_err() {
                u.take_over();
            }
            (ConsoleUart::Exynos(u), started(r))
        }
        ConsoleDriver::GeniUart => {
            let mut u = GeniUart::new(regs);
            let r = u.init_console(w.clock_hz, w.baud).map_err(message);
            (ConsoleUart::Geni(u), started(r))
        }
        ConsoleDriver::MsmUartdm => {
            let mut u = UartdmUart::new(regs);
            let r = u.init_console(w.clock_hz, w.baud).map_err(message);
            (ConsoleUart::Uartdm(u), started(r))
        }
    };
    *CONSOLE.lock() = Some(uart);
    Ok(how)
}

/// The logger's console hook. The logger lets one CPU write at a time; `try_lock` only fails
/// when a CPU stopped inside this function (a fault in the driver), and then the bytes are
/// dropped rather than deadlock.
pub fn console_write(bytes: &[u8]) {
    let Some(mut guard) = CONSOLE.try_lock() else { return };
    // The only errors are the bounded waits running out; nothing is left to report them to.
    let _ = match guard.as_mut() {
        None => Ok(()),
        Some(ConsoleUart::Pl011(u)) => embedded_io::Write::write_all(u, bytes).map_err(|_| ()),
        Some(ConsoleUart::Uart16550(u)) => embedded_io::Write::write_all(u, bytes).map_err(|_| ()),
        Some(ConsoleUart::Imx(u)) => embedded_io::Write::write_all(u, bytes).map_err(|_| ()),
        Some(ConsoleUart::Meson(u)) => embedded_io::Write::write_all(u, bytes).map_err(|_| ()),
        Some(ConsoleUart::Cadence(u)) => embedded_io::Write::write_all(u, bytes).map_err(|_| ()),
        Some(ConsoleUart::Exynos(u)) => embedded_io::Write::write_all(u, bytes).map_err(|_| ()),
        Some(ConsoleUart::Geni(u)) => embedded_io::Write::write_all(u, bytes).map_err(|_| ()),
        Some(ConsoleUart::Uartdm(u)) => embedded_io::Write::write_all(u, bytes).map_err(|_| ()),
    };
}

/// The console of a device-tree board, found as Linux finds it ([`find`]).
#[derive(Debug)]
pub struct Found<'a> {
    /// The console's node, when it has one: its `reg` translated through the parents'
    /// `ranges` (a UART behind a bus, like the Raspberry Pi's /soc, has a bus address in `reg`).
    pub node: Option<devicetree::Console<'a>>,
    /// What the node says about its wiring.
    pub props: Option<devicetree::UartProps<'a>>,
    /// The wiring the driver is started with.
    pub wiring: ConsoleWiring<'a>,
    /// The register block's CPU physical address: the node's, or the board's fixed one.
    pub base: Option<u64>,
}

/// Where the board's console is: with `device-tree = true`, the `/chosen/stdout-path` node
/// when one of its `compatible` strings is the board's driver's, else the first available node
/// of that driver; a node the board names; or the board's fixed address. `chosen` is what
/// discovery found through stdout-path, `tree` the validated tree (absent: a fixed address
/// only).
pub fn find<'a>(board: &crate::board::BoardConfig, chosen: Option<&devicetree::Console<'a>>, tree: Option<&devicetree::DeviceTree<'a>>) -> Found<'a> {
    use crate::board::Console;
    let known = compatibles(board.console_driver);
    let node = match (board.console, tree) {
        (Console::DeviceTree, Some(t)) => {
            let stdout = chosen.cloned().filter(|c| c.from_stdout_path && devicetree::uart_props(t, &c.path).is_ok_and(|p| p.first_of(known).is_some()));
            stdout.or_else(|| devicetree::find_console(t, known).ok().flatten())
        }
        (Console::Node(path), Some(t)) => devicetree::console_at(t, path).ok(),
        _ => None,
    };
    let props = node.as_ref().zip(tree).and_then(|(c, t)| devicetree::uart_props(t, &c.path).ok());
    let wiring = match &props {
        Some(p) => ConsoleWiring {
            // A node the board names is driven as its driver's first compatible if it lists none.
            compatible: p.first_of(known).or(known.first().copied()),
            reg_shift: p.reg_shift,
            reg_io_width: p.reg_io_width,
            clock_hz: p.clock_frequency,
            baud: p.current_speed,
            snps_uart_16550_compatible: p.snps_uart_16550_compatible,
        },
        None => ConsoleWiring::default(),
    };
    let base = match board.console {
        Console::MmioAt(base) => Some(base),
        _ => node.as_ref().and_then(|c| c.cpu_base.clone().ok()),
    };
    Found { node, props, wiring, base }
}

/// Logs the console the platform started at `base` from [`find`]'s answer: where it is and why
/// that node, how it was started, the node's wiring, and a stdout-path the board's driver
/// does not drive.
pub fn log_found(board: &crate::board::BoardConfig, found: &Found<'_>, base: u64, started: Started, chosen: Option<&devicetree::Console<'_>>) {
    let name = board.console_driver.as_str();
    match &found.node {
        Some(c) => {
            let how = match board.console {
                crate::board::Console::Node(_) => "the board's console node",
                _ if c.from_stdout_path => "from /chosen/stdout-path",
                _ => "the first UART of the board's driver",
            };
            match c.reg_base.filter(|&b| b != base) {
                Some(bus) => defmt::info!(
                    "console: {=str} at {=u64:#x} ({=str}, bus address {=u64:#x} through ranges, {=str})",
                    name,
                    base,
                    c.path.as_str(),
                    bus,
                    how
                ),
                None => defmt::info!("console: {=str} at {=u64:#x} ({=str}, {=str})", name, base, c.path.as_str(), how),
            }
        }
        None => defmt::info!("console: {=str} at {=u64:#x} (the board's fixed address)", name, base),
    }
    match started {
        Started::TakenOver => defmt::info!("console: taken over as the boot loader left it (no current-speed in the tree)"),
        Started::Programmed(baud) => defmt::info!("console: programmed to current-speed {=u32} baud", baud),
        Started::SpeedRefused(baud, why) => defmt::warn!(
            "console: current-speed {=u32} not applied ({=str}): taken over as the boot loader left it",
            baud,
            why
        ),
    }
    if let Some(p) = &found.props {
        if p.reg_shift.is_some() || p.reg_io_width.is_some() || p.clock_frequency.is_some() {
            defmt::info!(
                "console: reg-shift {=u32}, reg-io-width {=u32}, clock-frequency {=u32} Hz (0: not given)",
                p.reg_shift.unwrap_or(0),
                p.reg_io_width.unwrap_or(0),
                p.clock_frequency.unwrap_or(0)
            );
        }
    }
    // A stdout-path this board's driver cannot drive (the Pi's mini UART) is worth a line.
    if let Some(c) = chosen.filter(|c| c.from_stdout_path && found.node.as_ref().is_none_or(|n| n.path != c.path)) {
        defmt::info!(
            "console: /chosen/stdout-path names {=str} ({=str}), which the {=str} driver does not drive",
            c.path.as_str(),
            c.compatible.unwrap_or("no compatible"),
            name
        );
    }
}
