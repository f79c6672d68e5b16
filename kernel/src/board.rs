//! What a board is, as the firmware sees it: the data in the board folder's `board.toml`.
//!
//! A board never writes this by hand. Its build script runs `board_desc::build_script()`, which
//! reads and validates `board.toml` (the same checks `cargo xtask` runs before building) and
//! writes `board.rs` into `OUT_DIR` with one `pub static BOARD: kernel::board::BoardConfig`;
//! `main.rs` includes it and hands it to its platform's `entry!`.
//!
//! The platform interprets what is generic here: the console choice and the SMP enable method to
//! use where the device tree says none. The load address is not here: the platform's linker
//! script reads it from the generated `board.ld`, and the entry code checks it was honoured. The generic boot path
//! ([`crate::start_kernel`]) makes the reservations and compares discovered RAM with the
//! expected banks.

pub use mm_init::BoardReservation;

/// A board as the firmware sees it (generated from `board.toml`).
#[derive(Debug)]
pub struct BoardConfig {
    /// Board name, printed first.
    pub name: &'static str,
    /// Where the console is.
    pub console: Console,
    /// Which driver runs it.
    pub console_driver: ConsoleDriver,
    /// RAM banks the board has at its default memory size (`[memory] banks`), `(base, size)`.
    /// Discovery stays the authority; a difference is reported, not corrected.
    pub ram: &'static [(u64, u64)],
    /// `[memory] from-device-tree`: `ram` is empty and the running device tree is the only
    /// source; the platform reports the banks it found and fails, saying so, when there are none.
    pub ram_from_device_tree: bool,
    /// Ranges only the board knows about (`[[reserve]]`), reserved after the platform's own.
    pub reserve: &'static [BoardReservation],
    /// How secondary CPUs are started where the firmware tables do not say (`[smp]
    /// enable-method`).
    pub smp_method: Option<SmpMethod>,
}

/// Which UART is the console, and how to find it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// From the device tree: `/chosen/stdout-path` (aliases resolved) when it names a UART of the
    /// board's driver, else the first available UART of that driver.
    DeviceTree,
    /// A memory-mapped UART named by its device-tree path; its `reg` is translated through the
    /// parents' `ranges` to a CPU physical address, and its wiring properties (`reg-shift`,
    /// `reg-io-width`, `clock-frequency`, `current-speed`) are read from the node.
    Node(&'static str),
    /// A memory-mapped UART at a fixed physical address, taken over as the boot loader left it.
    MmioAt(u64),
    /// A 16550-compatible UART at an x86 I/O port.
    Uart16550Port(u16),
}

/// The console UART's driver (`[console] driver`; board_desc::ConsoleDriver).
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum ConsoleDriver {
    /// ARM PL011 (drivers/pl011).
    Pl011,
    /// 16550-compatible (drivers/uart16550): I/O ports on x86, memory-mapped elsewhere.
    Uart16550,
    /// NXP i.MX (drivers/imx-uart).
    ImxUart,
    /// Amlogic Meson (drivers/meson-uart).
    MesonUart,
    /// Cadence / Xilinx (drivers/cadence-uart).
    CadenceUart,
    /// Samsung Exynos (drivers/exynos-uart).
    ExynosUart,
    /// Qualcomm GENI serial engine (drivers/geni-uart).
    GeniUart,
    /// Qualcomm UARTDM (drivers/msm-uartdm).
    MsmUartdm,
}

impl ConsoleDriver {
    /// The name the logs and board.toml use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pl011 => "PL011",
            Self::Uart16550 => "16550",
            Self::ImxUart => "i.MX UART",
            Self::MesonUart => "Meson UART",
            Self::CadenceUart => "Cadence UART",
            Self::ExynosUart => "Exynos UART",
            Self::GeniUart => "GENI UART",
            Self::MsmUartdm => "UARTDM",
        }
    }
}

/// How secondary CPUs are started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum SmpMethod {
    /// PSCI `CPU_ON` through the `/psci` conduit.
    Psci,
    /// Linux's spin table: the entry address written to each CPU's `cpu-release-addr`, then
    /// `sev`.
    SpinTable,
    /// ACPI MADT (or the MP table), INIT-SIPI-SIPI.
    AcpiMadt,
    /// The BCM2836's ARM-local mailbox 3: the entry address written to each CPU's mailbox set
    /// register (Linux `bcm2836_smp_boot_secondary`).
    Bcm2836Smp,
    /// The i.MX6 System Reset Controller: the entry address in `SRC_GPR1 + 8 × core`, then the
    /// core's enable bit in `SRC_SCR` (Linux's `imx_smp_ops`, chosen by the machine, not the
    /// device tree).
    Imx6Src,
    /// Only the boot CPU runs.
    None,
}
