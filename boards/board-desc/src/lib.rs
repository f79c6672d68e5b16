//! Board descriptions: `boards/<name>/board.toml`.
//!
//! A board is data. Its folder holds `board.toml` (this schema), a device tree when the machine
//! needs one passed in, and a `main.rs` that only wires the generated [`firmware_source`] to its
//! platform. The same code reads the file in two places:
//!
//! - `cargo xtask` loads every board before it builds or runs anything ([`load`]), so a mistake
//!   is reported with the file, the key and the problem before any compiler runs;
//! - the board's `build.rs` calls [`build_script`], which loads and checks the file again and
//!   writes `board.rs` (the `BOARD` static the firmware runs with) and `board.ld` (the load
//!   address for the platform's linker script) into `OUT_DIR`.
//!
//! What is checked ([`Board::validate`]): the name matches the folder; the platform is known and
//! the image format, exit device, console driver and SMP method are ones it supports; exactly one
//! way to find the console; RAM banks page-aligned, non-empty, sorted and disjoint, or none and
//! `from-device-tree = true`; the load address aligned for the platform and inside RAM (when the
//! banks are known); every reservation named, page-aligned,
//! inside one RAM bank and overlapping neither another reservation nor the load address; QEMU's
//! memory size readable and at least the banks' total; the device tree file present.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod platforms;
mod size;

pub use platforms::{PlatformInfo, PLATFORMS};
pub use size::parse_size;

/// Page size every range must be aligned to.
pub const PAGE_SIZE: u64 = 4096;
/// Most CPUs a board may ask QEMU for (the platforms' `MAX_CPUS`).
pub const MAX_CPUS: u32 = 8;

/// How the image is handed to QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageKind {
    /// The ELF itself, through QEMU's Multiboot v1 loader (`-kernel`).
    MultibootElf,
    /// A raw arm64 Image with the 64-byte Linux header made from the ELF, so QEMU passes the
    /// device-tree address in x0.
    Arm64Image,
    /// A raw 32-bit ARM image (zImage header words at 0x24), loaded by QEMU's `-kernel` at RAM
    /// base + 0x10000 and entered as Linux's ARM boot protocol says: r0 = 0, r1 = machine type,
    /// r2 = the device tree.
    ArmZimage,
}

/// How the firmware tells QEMU (and so the host) that it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitDevice {
    /// x86 `isa-debug-exit`: status `(value << 1) | 1`; the firmware writes 0x10 or 0x11.
    IsaDebugExit,
    /// ARM semihosting `SYS_EXIT_EXTENDED`: the firmware's code is the status (33 success, 3 failure).
    Semihosting,
}

/// Real boot firmware that can load a board's image in QEMU instead of QEMU's own loader
/// (`cargo xtask image`, `run --firmware`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootFirmware {
    /// GRUB 2 from an ISO (Debian `grub-pc-bin`): a BIOS PC, Multiboot v1.
    Grub,
    /// U-Boot as `-bios` (Debian `u-boot-qemu`'s `qemu_arm64` build, `booti`, or its `qemu_arm`
    /// build, `bootz`) with a virtio disk.
    Uboot,
}

impl BootFirmware {
    /// The key's spelling in board.toml and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grub => "grub",
            Self::Uboot => "uboot",
        }
    }

    /// The QEMU machines this firmware build runs on: GRUB needs a BIOS (SeaBIOS), Debian's
    /// `qemu_arm64` U-Boot is built for `virt` only (it looks for virtio and PCI there).
    pub fn qemu_machines(self) -> &'static [&'static str] {
        match self {
            Self::Grub => &["pc", "q35"],
            Self::Uboot => &["virt"],
        }
    }
}

/// Console UART drivers the firmware has (drivers/*); a platform lists the ones it can bring up
/// (`PlatformInfo::consoles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsoleDriver {
    /// ARM PrimeCell UART (`arm,pl011`), drivers/pl011.
    Pl011,
    /// 16550-compatible UART, drivers/uart16550: through x86 I/O ports, or memory-mapped
    /// (`ns16550a`, `snps,dw-apb-uart` with its busy quirk, Tegra, TI) with `reg-shift` and
    /// `reg-io-width` from the node.
    Uart16550,
    /// NXP i.MX UART (`fsl,imx21-uart`, `fsl,imx6q-uart`), drivers/imx-uart.
    ImxUart,
    /// Amlogic Meson UART (`amlogic,meson-ao-uart`, …), drivers/meson-uart.
    MesonUart,
    /// Cadence UART (`cdns,uart-r1p8`, `xlnx,xuartps`, …; Zynq, ZynqMP), drivers/cadence-uart.
    CadenceUart,
    /// Samsung Exynos UART (`samsung,exynos4210-uart`), drivers/exynos-uart.
    ExynosUart,
    /// Qualcomm GENI serial engine UART (`qcom,geni-debug-uart`), drivers/geni-uart.
    GeniUart,
    /// Qualcomm UARTDM (`qcom,msm-uartdm`), drivers/msm-uartdm.
    MsmUartdm,
}

impl ConsoleDriver {
    /// Every driver, in the order the scaffolder prefers them for one node.
    pub const ALL: [Self; 8] =
        [Self::Pl011, Self::Uart16550, Self::ImxUart, Self::MesonUart, Self::CadenceUart, Self::ExynosUart, Self::GeniUart, Self::MsmUartdm];

    /// The device-tree `compatible` strings this driver handles (the driver crate's own
    /// `COMPATIBLES`).
    pub fn compatibles(self) -> &'static [&'static str] {
        match self {
            Self::Pl011 => &["arm,pl011"],
            Self::Uart16550 => uart16550::COMPATIBLES,
            Self::ImxUart => imx_uart::COMPATIBLES,
            Self::MesonUart => meson_uart::COMPATIBLES,
            Self::CadenceUart => cadence_uart::COMPATIBLES,
            Self::ExynosUart => exynos_uart::COMPATIBLES,
            Self::GeniUart => geni_uart::COMPATIBLES,
            Self::MsmUartdm => msm_uartdm::COMPATIBLES,
        }
    }

    /// The driver for a `compatible` string, if there is one.
    pub fn for_compatible(compatible: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.compatibles().contains(&compatible))
    }

    /// The driver for a node's `compatible` list: the first entry (most specific first) that a
    /// driver handles.
    pub fn for_compatibles<'s>(list: impl IntoIterator<Item = &'s str>) -> Option<Self> {
        list.into_iter().find_map(Self::for_compatible)
    }

    /// Whether the driver can run a node with these wiring properties (`compatible` is the entry
    /// it serves): a memory-mapped 16550 needs `reg-io-width` 1 or 4 and `reg-shift` at most 4
    /// (`uart16550::mmio::MmioConfig::from_device_tree`); the other drivers have fixed 32-bit
    /// registers and ignore both. The firmware cannot say why it has no console, so this is
    /// checked on the host.
    ///
    /// # Errors
    /// The property and value the driver cannot use, in a sentence.
    pub fn check_wiring(self, compatible: &str, reg_shift: Option<u32>, reg_io_width: Option<u32>) -> Result<(), String> {
        if self != Self::Uart16550 {
            return Ok(());
        }
        if uart16550::mmio::MmioConfig::from_device_tree(compatible, reg_shift, reg_io_width, false).is_some() {
            return Ok(());
        }
        Err(match (reg_io_width, reg_shift) {
            (Some(w), _) if w != 1 && w != 4 => format!("reg-io-width = <{w}>, but the 16550 driver accesses registers 1 or 4 bytes wide"),
            (_, Some(s)) if s > 4 => format!("reg-shift = <{s}>, but no 16550 spaces its registers more than 16 bytes apart (reg-shift 0..=4)"),
            _ => format!("compatible {compatible:?} is not one the 16550 driver serves"),
        })
    }

    /// The key's spelling in board.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pl011 => "pl011",
            Self::Uart16550 => "uart16550",
            Self::ImxUart => "imx-uart",
            Self::MesonUart => "meson-uart",
            Self::CadenceUart => "cadence-uart",
            Self::ExynosUart => "exynos-uart",
            Self::GeniUart => "geni-uart",
            Self::MsmUartdm => "msm-uartdm",
        }
    }

    /// The variant of `kernel::board::ConsoleDriver` the firmware gets.
    fn variant(self) -> &'static str {
        match self {
            Self::Pl011 => "Pl011",
            Self::Uart16550 => "Uart16550",
            Self::ImxUart => "ImxUart",
            Self::MesonUart => "MesonUart",
            Self::CadenceUart => "CadenceUart",
            Self::ExynosUart => "ExynosUart",
            Self::GeniUart => "GeniUart",
            Self::MsmUartdm => "MsmUartdm",
        }
    }
}

/// `[console]`: the driver and exactly one way to find the device.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Console {
    pub driver: ConsoleDriver,
    /// `true`: `/chosen/stdout-path`, else the first UART of this driver in the device tree.
    #[serde(default)]
    pub device_tree: bool,
    /// A device-tree node path; its `reg` is translated through the parents' `ranges`.
    pub node: Option<String>,
    /// A fixed MMIO physical address.
    pub base: Option<u64>,
    /// An x86 I/O port.
    pub port: Option<u16>,
}

/// One RAM bank or reserved range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub base: u64,
    pub size: u64,
}

impl Range {
    /// One past the last byte (saturating; validation rejects wrapping ranges).
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    fn overlaps(&self, other: &Range) -> bool {
        self.base < other.end() && other.base < self.end()
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.base, self.base.wrapping_add(self.size))
    }
}

/// `[memory]`: the RAM banks the board has, or `from-device-tree = true` when only the tree the
/// boot loader hands over can say (a board sold with several RAM sizes, a tree whose `/memory`
/// the boot loader fills in).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Memory {
    /// RAM the machine has at `qemu.default-mem`, as memblock holds it after discovery; empty
    /// with `from-device-tree`.
    #[serde(default)]
    pub banks: Vec<Range>,
    /// RAM comes from the running device tree only: nothing to compare it with at boot, where
    /// the banks found are reported (and no bank at all stops the boot, saying so).
    #[serde(default)]
    pub from_device_tree: bool,
}

/// One `[[reserve]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    /// Who owns it (printed at boot and drawn on the memory map).
    pub name: String,
    pub base: u64,
    pub size: u64,
}

impl Reservation {
    pub fn range(&self) -> Range {
        Range { base: self.base, size: self.size }
    }
}

/// How secondary CPUs start, where the firmware tables do not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmpMethod {
    Psci,
    SpinTable,
    AcpiMadt,
    /// The BCM2836's ARM-local mailbox 3 (Raspberry Pi 2), Linux's `brcm,bcm2836-smp`.
    #[serde(rename = "brcm,bcm2836-smp")]
    Bcm2836Smp,
    /// The i.MX6 System Reset Controller (i.MX6 Quad/DualLite), Linux's `imx_smp_ops`: the
    /// machine's method (`DT_MACHINE_START` for `fsl,imx6q`/`fsl,imx6dl`), named by no tree.
    #[serde(rename = "imx6-src")]
    Imx6Src,
    None,
}

impl SmpMethod {
    /// The spelling in board.toml and in device trees.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Psci => "psci",
            Self::SpinTable => "spin-table",
            Self::AcpiMadt => "acpi-madt",
            Self::Bcm2836Smp => "brcm,bcm2836-smp",
            Self::Imx6Src => "imx6-src",
            Self::None => "none",
        }
    }

    fn variant(self) -> &'static str {
        match self {
            Self::Psci => "Psci",
            Self::SpinTable => "SpinTable",
            Self::AcpiMadt => "AcpiMadt",
            Self::Bcm2836Smp => "Bcm2836Smp",
            Self::Imx6Src => "Imx6Src",
            Self::None => "None",
        }
    }
}

/// `[smp]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Smp {
    pub enable_method: SmpMethod,
}

/// `[qemu.mem-limits]`: the RAM sizes (`--mem`) the board runs with; xtask refuses others
/// before booting, with these values and `why-max` in the message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MemLimits {
    /// The smallest RAM the firmware boots with is `min` + `min-per-cpu` × CPUs.
    pub min: String,
    #[serde(default)]
    pub min_per_cpu: Option<String>,
    /// The most RAM the board runs with, and why (printed when `--mem` is above it).
    pub max: String,
    pub why_max: String,
}

impl MemLimits {
    /// The smallest RAM for `cpus` CPUs, in bytes (validated sizes).
    pub fn min_bytes(&self, cpus: u32) -> u64 {
        let per_cpu = self.min_per_cpu.as_deref().map_or(0, |s| parse_size(s).unwrap_or(0));
        parse_size(&self.min).unwrap_or(0) + per_cpu * u64::from(cpus)
    }

    /// The most RAM, in bytes (validated).
    pub fn max_bytes(&self) -> u64 {
        parse_size(&self.max).unwrap_or(u64::MAX)
    }

    /// `4M plus 1M per CPU`, for messages.
    pub fn min_rule(&self) -> String {
        match &self.min_per_cpu {
            Some(p) => format!("{} plus {p} per CPU", self.min),
            None => self.min.clone(),
        }
    }
}

/// `[qemu]`: how xtask runs the board.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Qemu {
    pub binary: String,
    pub machine: String,
    pub cpu: Option<String>,
    /// `-m` when `--mem` is not given (`128M`, `1G`).
    pub default_mem: String,
    /// The machine accepts only `default-mem` (raspi3b: exactly 1 GiB).
    #[serde(default)]
    pub mem_fixed: bool,
    /// `-smp` when `--smp` is not given.
    #[serde(default = "one")]
    pub default_cpus: u32,
    /// The machine accepts only `default-cpus`.
    #[serde(default)]
    pub cpus_fixed: bool,
    /// A device tree in the board folder to pass with `-dtb` (machines without their own).
    pub dtb: Option<String>,
    pub exit: ExitDevice,
    #[serde(default)]
    pub args: Vec<String>,
    /// Real firmware that boots the image on this machine (`image`, `run --firmware`); empty:
    /// QEMU's own loader only.
    #[serde(default)]
    pub firmware: Vec<BootFirmware>,
    /// The RAM sizes the board runs with (machines whose `-m` is not fixed).
    pub mem_limits: Option<MemLimits>,
}

fn one() -> u32 {
    1
}

/// One `boards/<name>/board.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Board {
    pub name: String,
    pub description: String,
    /// `platforms/<platform>`: CPU, boot and discovery code.
    pub platform: String,
    /// A target JSON path (relative to the repository root) or a built-in target name.
    pub target: String,
    pub image: ImageKind,
    /// Physical address the image is linked at and the loader puts it.
    pub load_address: u64,
    pub console: Option<Console>,
    pub memory: Memory,
    #[serde(default)]
    pub reserve: Vec<Reservation>,
    pub smp: Smp,
    pub qemu: Qemu,
    /// The board's folder (set by [`load`]).
    #[serde(skip)]
    pub dir: PathBuf,
}

/// A problem with a board description: which file, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardError {
    pub file: PathBuf,
    /// The key in TOML dotted form (`reserve[1].size`); empty for the whole file.
    pub key: String,
    pub problem: String,
}

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.problem)
        } else {
            write!(f, "{}: key `{}`: {}", self.file.display(), self.key, self.problem)
        }
    }
}

impl std::error::Error for BoardError {}

/// Reads and validates `dir/board.toml`.
///
/// # Errors
/// The file cannot be read, is not valid TOML for this schema, or fails [`Board::validate`].
pub fn load(dir: &Path) -> Result<Board, BoardError> {
    let file = dir.join("board.toml");
    let err = |problem: String| BoardError { file: file.clone(), key: String::new(), problem };
    let text = std::fs::read_to_string(&file).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut board = parse(&text).map_err(|e| BoardError { file: file.clone(), ..e })?;
    board.dir = dir.to_path_buf();
    board.validate()?;
    Ok(board)
}

/// Parses board.toml text (no validation); the error's `file` is empty.
///
/// # Errors
/// Not TOML, an unknown or missing key, or a value of the wrong type.
pub fn parse(text: &str) -> Result<Board, BoardError> {
    toml::from_str(text).map_err(|e: toml::de::Error| BoardError {
        file: PathBuf::new(),
        key: String::new(),
        problem: format!("not a valid board description: {}", e.to_string().trim_end()),
    })
}

impl Board {
    /// The file this board was read from.
    pub fn file(&self) -> PathBuf {
        self.dir.join("board.toml")
    }

    fn error(&self, key: impl Into<String>, problem: impl Into<String>) -> BoardError {
        BoardError { file: self.file(), key: key.into(), problem: problem.into() }
    }

    /// The platform's capabilities (validation has checked it exists).
    pub fn platform_info(&self) -> Option<&'static PlatformInfo> {
        PLATFORMS.iter().find(|p| p.name == self.platform)
    }

    /// The console, which validation has checked is present.
    fn console_checked(&self) -> Result<&Console, BoardError> {
        self.console.as_ref().ok_or_else(|| {
            self.error(
                "console",
                "missing: every board needs a console ([console] with `driver` and one of `device-tree = true`, `node`, `base`, `port`)",
            )
        })
    }

    /// Checks everything the module documentation lists.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), BoardError> {
        let folder = self.dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if !folder.is_empty() && folder != self.name {
            return Err(self.error("name", format!("is {:?} but the folder is {folder:?}", self.name)));
        }
        check_package_name(&self.name).map_err(|why| self.error("name", why))?;
        let Some(p) = self.platform_info() else {
            let known: Vec<_> = PLATFORMS.iter().map(|p| p.name).collect();
            return Err(self.error("platform", format!("unknown platform {:?}; known: {}", self.platform, known.join(", "))));
        };
        if self.target != p.target {
            return Err(self.error(
                "target",
                format!("platform {} builds for {:?}, not {:?} (the platform crate only compiles for its own target)", p.name, p.target, self.target),
            ));
        }
        if self.image != p.image {
            return Err(self.error("image", format!("platform {} boots a {:?} image, not {:?}", p.name, p.image, self.image)));
        }
        if self.qemu.exit != p.exit {
            return Err(self.error("qemu.exit", format!("platform {} ends runs through {:?}, not {:?}", p.name, p.exit, self.qemu.exit)));
        }
        self.validate_console(p)?;
        if !p.smp_methods.contains(&self.smp.enable_method) {
            let known: Vec<_> = p.smp_methods.iter().map(|m| m.as_str()).collect();
            return Err(self.error(
                "smp.enable-method",
                format!("platform {} cannot start CPUs through {:?}; it supports: {}", p.name, self.smp.enable_method.as_str(), known.join(", ")),
            ));
        }
        self.validate_memory(p)?;
        self.validate_qemu(p)
    }

    fn validate_console(&self, p: &PlatformInfo) -> Result<(), BoardError> {
        let c = self.console_checked()?;
        if !p.consoles.contains(&c.driver) {
            let known: Vec<_> = p.consoles.iter().map(|d| d.as_str()).collect();
            return Err(self.error(
                "console.driver",
                format!("platform {} has no {} console driver; it has: {}", p.name, c.driver.as_str(), known.join(", ")),
            ));
        }
        let given = [c.device_tree, c.node.is_some(), c.base.is_some(), c.port.is_some()].iter().filter(|&&b| b).count();
        if given != 1 {
            return Err(self.error(
                "console",
                format!("give exactly one of `device-tree = true`, `node`, `base`, `port` (found {given})"),
            ));
        }
        match (c.driver, c) {
            (d, Console { port: Some(_), .. }) if !p.io_ports || d != ConsoleDriver::Uart16550 => Err(self.error(
                "console.port",
                if p.io_ports {
                    format!("a {} is memory-mapped: give `node`, `base` or `device-tree = true`, not `port`", d.as_str())
                } else {
                    format!("platform {} has no I/O ports: its UARTs are memory-mapped; give `node`, `base` or `device-tree = true`", p.name)
                },
            )),
            (ConsoleDriver::Uart16550, Console { port: None, .. }) if p.dt_cpus.is_empty() => Err(self.error(
                "console.port",
                format!("platform {} finds no UART in a device tree: the uart16550 console is driven through x86 I/O ports, give `port` (COM1 is 0x3f8)", p.name),
            )),
            (_, Console { node: Some(n), .. }) if !n.starts_with('/') || n.len() > 1 && n.ends_with('/') => {
                Err(self.error("console.node", format!("{n:?} is not an absolute device-tree path like \"/soc/serial@7e201000\"")))
            }
            (_, Console { base: Some(b), .. }) if b % 4 != 0 => {
                Err(self.error("console.base", format!("{b:#x} is not a UART base: registers are 32-bit aligned")))
            }
            _ => Ok(()),
        }
    }

    fn validate_memory(&self, p: &PlatformInfo) -> Result<(), BoardError> {
        let banks = &self.memory.banks;
        let from_dt = self.memory.from_device_tree;
        if from_dt && !banks.is_empty() {
            return Err(self.error(
                "memory.from-device-tree",
                "is true but memory.banks lists RAM too: either the board knows its RAM (banks) or the boot loader's device tree says it (from-device-tree = true, no banks)",
            ));
        }
        if from_dt && p.dt_cpus.is_empty() {
            return Err(self.error("memory.from-device-tree", format!("platform {} reads no device tree: list memory.banks", p.name)));
        }
        if banks.is_empty() && !from_dt {
            return Err(self.error(
                "memory.banks",
                "empty: list the RAM the machine has at qemu.default-mem, or set `from-device-tree = true` when the boot loader's device tree gives it",
            ));
        }
        for (i, b) in banks.iter().enumerate() {
            let key = format!("memory.banks[{i}]");
            check_range(b).map_err(|why| self.error(&key, why))?;
            if i > 0 && b.base < banks[i - 1].end() {
                return Err(self.error(key, format!("{b} overlaps or comes before bank {} {}: list banks in address order, disjoint", i - 1, banks[i - 1])));
            }
        }
        let la = self.load_address;
        if !la.is_multiple_of(p.load_align) {
            return Err(self.error(
                "load-address",
                format!("{la:#x} is not aligned to {:#x}, which platform {} needs ({})", p.load_align, p.name, p.load_rule),
            ));
        }
        if !from_dt && !banks.iter().any(|b| b.base <= la && la < b.end()) {
            return Err(self.error("load-address", format!("{la:#x} is not inside any RAM bank in memory.banks")));
        }
        for (i, r) in self.reserve.iter().enumerate() {
            let key = format!("reserve[{i}]");
            if r.name.trim().is_empty() {
                return Err(self.error(format!("{key}.name"), "empty: say who owns the range"));
            }
            check_range(&r.range()).map_err(|why| self.error(&key, format!("{:?}: {why}", r.name)))?;
            // With RAM from the device tree, a reservation outside it is reported at boot.
            if !from_dt && !banks.iter().any(|b| b.base <= r.base && r.range().end() <= b.end()) {
                return Err(self.error(&key, format!("{:?} {} is not inside one RAM bank of memory.banks", r.name, r.range())));
            }
            if r.base <= la && la < r.range().end() {
                return Err(self.error(&key, format!("{:?} {} covers the load address {la:#x}", r.name, r.range())));
            }
            if let Some((j, o)) = self.reserve[..i].iter().enumerate().find(|(_, o)| o.range().overlaps(&r.range())) {
                return Err(self.error(&key, format!("{:?} {} overlaps reserve[{j}] {:?} {}", r.name, r.range(), o.name, o.range())));
            }
        }
        Ok(())
    }

    fn validate_qemu(&self, p: &PlatformInfo) -> Result<(), BoardError> {
        let q = &self.qemu;
        let mem = parse_size(&q.default_mem).map_err(|e| self.error("qemu.default-mem", e))?;
        let total: u64 = self.memory.banks.iter().map(|b| b.size).sum();
        if total > mem {
            return Err(self.error(
                "memory.banks",
                format!("the banks hold {total:#x} bytes, more than qemu.default-mem {} ({mem:#x})", q.default_mem),
            ));
        }
        if q.default_cpus == 0 || q.default_cpus > MAX_CPUS {
            return Err(self.error("qemu.default-cpus", format!("{} is outside 1..={MAX_CPUS}", q.default_cpus)));
        }
        if let Some(l) = &q.mem_limits {
            for (key, v) in [("min", Some(&l.min)), ("min-per-cpu", l.min_per_cpu.as_ref()), ("max", Some(&l.max))] {
                if let Some(v) = v {
                    parse_size(v).map_err(|e| self.error(format!("qemu.mem-limits.{key}"), e))?;
                }
            }
            if l.why_max.trim().is_empty() {
                return Err(self.error("qemu.mem-limits.why-max", "empty: say what stops the board above `max` (it is printed when --mem is above it)"));
            }
            let least = l.min_bytes(q.default_cpus);
            if mem < least || mem > l.max_bytes() {
                return Err(self.error(
                    "qemu.default-mem",
                    format!("{} is outside qemu.mem-limits ({} with {} CPU(s), at most {})", q.default_mem, l.min_rule(), q.default_cpus, l.max),
                ));
            }
        }
        for (i, fw) in q.firmware.iter().enumerate() {
            if !p.firmware.contains(fw) {
                let known: Vec<_> = p.firmware.iter().map(|f| f.as_str()).collect();
                return Err(self.error(
                    format!("qemu.firmware[{i}]"),
                    format!("platform {}'s image cannot boot through {}; it boots through: {}", p.name, fw.as_str(), if known.is_empty() { "none".into() } else { known.join(", ") }),
                ));
            }
            // The machine's name, without its options (virt,highmem=off is virt).
            if !fw.qemu_machines().contains(&q.machine.split(',').next().unwrap_or_default()) {
                return Err(self.error(
                    format!("qemu.firmware[{i}]"),
                    format!("{} runs on QEMU's {} machine(s), not {}", fw.as_str(), fw.qemu_machines().join(", "), q.machine),
                ));
            }
        }
        if let Some(dtb) = &q.dtb {
            if dtb.contains('/') || dtb.contains('\\') {
                return Err(self.error("qemu.dtb", format!("{dtb:?}: name a file in the board folder, not a path")));
            }
            if !self.dir.as_os_str().is_empty() && !self.dir.join(dtb).is_file() {
                return Err(self.error("qemu.dtb", format!("{dtb:?} is not a file in {}", self.dir.display())));
            }
        }
        Ok(())
    }

    /// Checks what needs the repository: the platform crate and a target JSON exist.
    ///
    /// # Errors
    /// The first missing file.
    pub fn validate_in_repo(&self, root: &Path) -> Result<(), BoardError> {
        if !root.join("platforms").join(&self.platform).join("Cargo.toml").is_file() {
            return Err(self.error("platform", format!("no crate platforms/{}/", self.platform)));
        }
        if self.target.ends_with(".json") && !root.join(&self.target).is_file() {
            return Err(self.error("target", format!("{} does not exist", self.target)));
        }
        self.validate_package(root)
    }

    /// The board folder is the package cargo builds as `--package NAME` and whose binary is
    /// `NAME`: its Cargo.toml names it so, and the workspace lists it (a folder copied from
    /// another board has neither, and cargo then only says "package ID specification … did not
    /// match any packages").
    fn validate_package(&self, root: &Path) -> Result<(), BoardError> {
        let manifest = self.dir.join("Cargo.toml");
        let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
        let err = |problem: String| BoardError { file: manifest.clone(), key: String::new(), problem };
        let text = std::fs::read_to_string(&manifest).map_err(|e| err(format!("cannot read: {e} (every board folder is a cargo package)")))?;
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| err(format!("not TOML: {}", e.to_string().trim_end())))?;
        let package = doc.get("package").and_then(|p| p.get("name")).and_then(toml::Value::as_str).unwrap_or("");
        if package != self.name {
            return Err(BoardError {
                key: "package.name".into(),
                ..err(format!(
                    "is {package:?}, not the board's name {:?}: rename the package (and its [[bin]] name) to {:?}, as cargo xtask builds `--package {}`",
                    self.name, self.name, self.name
                ))
            });
        }
        let bins: Vec<&str> = doc
            .get("bin")
            .and_then(toml::Value::as_array)
            .map(|a| a.iter().filter_map(|b| b.get("name").and_then(toml::Value::as_str)).collect())
            .unwrap_or_default();
        if !bins.is_empty() && !bins.contains(&self.name.as_str()) {
            return Err(BoardError {
                key: "bin".into(),
                ..err(format!("no [[bin]] is called {:?} ({}): rename the binary to the board's name, which is the ELF xtask boots", self.name, bins.join(", ")))
            });
        }
        let root_manifest = root.join("Cargo.toml");
        let Ok(root_text) = std::fs::read_to_string(&root_manifest) else { return Ok(()) };
        let root_doc: toml::Table = root_text.parse().map_err(|e: toml::de::Error| BoardError {
            file: root_manifest.clone(),
            key: String::new(),
            problem: format!("not TOML: {}", e.to_string().trim_end()),
        })?;
        let folder = rel(&self.dir);
        let member = root_doc
            .get("workspace")
            .and_then(|w| w.get("members"))
            .and_then(toml::Value::as_array)
            .is_some_and(|m| {
                m.iter().filter_map(toml::Value::as_str).any(|m| {
                    let m = m.trim_end_matches('/');
                    m == folder || m.strip_suffix("/*").is_some_and(|parent| Path::new(&folder).parent() == Some(Path::new(parent)))
                })
            });
        if !member {
            return Err(BoardError {
                file: root_manifest,
                key: "workspace.members".into(),
                problem: format!("does not list {folder:?}: add \"{folder}\" to the members (after the other boards) so that cargo can build board {}", self.name),
            });
        }
        Ok(())
    }

    /// The device tree file passed with `-dtb`, if the board has one.
    pub fn dtb_path(&self) -> Option<PathBuf> {
        self.qemu.dtb.as_ref().map(|d| self.dir.join(d))
    }

    /// `default-mem` in bytes (validated).
    pub fn default_mem_bytes(&self) -> u64 {
        parse_size(&self.qemu.default_mem).unwrap_or(0)
    }
}

/// Rust keywords (2021 edition, strict and reserved): cargo refuses them as package names.
const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Checks that `name` can be a board's name, which is also its folder, its package and its
/// binary: cargo's package-name rules (`cargo new`'s: a letter first, no Rust keyword, no
/// standard-library crate name, no Windows device name) narrowed to this repository's
/// spelling (lower-case ASCII letters, digits and `-`).
///
/// # Errors
/// The rule the name breaks, in a sentence.
pub fn check_package_name(name: &str) -> Result<(), String> {
    let spelling = "use lower-case letters, digits and '-', starting with a letter (it is a package name)";
    let Some(first) = name.chars().next() else {
        return Err(format!("the name is empty: {spelling}"));
    };
    if let Some(bad) = name.chars().find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')) {
        return Err(format!("{name:?} contains {bad:?}: {spelling}"));
    }
    if !first.is_ascii_lowercase() {
        let what = if first.is_ascii_digit() { "a digit" } else { "'-'" };
        return Err(format!("{name:?} starts with {what}, which cargo refuses in a package name: {spelling}"));
    }
    if RUST_KEYWORDS.contains(&name) {
        return Err(format!("{name:?} is a Rust keyword, which cargo refuses as a package name"));
    }
    if ["std", "core", "alloc", "proc-macro", "test"].contains(&name) {
        return Err(format!("{name:?} is the name of a standard-library crate, which cargo refuses as a package name"));
    }
    let windows = ["con", "prn", "aux", "nul"].contains(&name)
        || (name.len() == 4 && (name.starts_with("com") || name.starts_with("lpt")) && name.as_bytes()[3].is_ascii_digit());
    if windows {
        return Err(format!("{name:?} is a Windows device name, which cargo refuses as a package name"));
    }
    Ok(())
}

fn check_range(r: &Range) -> Result<(), String> {
    if r.size == 0 {
        return Err("size is 0".into());
    }
    if r.base.checked_add(r.size).is_none() {
        return Err(format!("base {:#x} + size {:#x} wraps around", r.base, r.size));
    }
    if !r.base.is_multiple_of(PAGE_SIZE) || !r.size.is_multiple_of(PAGE_SIZE) {
        return Err(format!("{r} is not page-aligned (base and size must be multiples of {PAGE_SIZE:#x})"));
    }
    Ok(())
}

/// Rust source of the `BOARD` static for `board` (written to `OUT_DIR/board.rs`).
pub fn firmware_source(board: &Board) -> String {
    use std::fmt::Write;
    let console = match &board.console {
        Some(Console { device_tree: true, .. }) => "DeviceTree".to_string(),
        Some(Console { node: Some(n), .. }) => format!("Node({n:?})"),
        Some(Console { base: Some(b), .. }) => format!("MmioAt({b:#x})"),
        Some(Console { port: Some(p), .. }) => format!("Uart16550Port({p:#x})"),
        // Validation rejects the rest.
        _ => "DeviceTree".to_string(),
    };
    let driver = board.console.as_ref().map_or(ConsoleDriver::Pl011, |c| c.driver);
    let mut s = String::new();
    let _ = writeln!(s, "// Generated by board_desc::build_script from {}; do not edit.", board.file().display());
    if let Some(p) = board.platform_info() {
        let _ = writeln!(s, "// The host tools' idea of the platform's physical limit (board_desc::PLATFORMS) is its own.");
        let _ = writeln!(
            s,
            "const _: () = assert!({}::PHYS_LIMIT == {:#x}, \"board_desc::PLATFORMS has another phys_limit than the platform crate\");",
            p.crate_path, p.phys_limit
        );
    }
    let _ = writeln!(s, "/// This board, as `board.toml` describes it.");
    let _ = writeln!(s, "pub static BOARD: kernel::board::BoardConfig = kernel::board::BoardConfig {{");
    let _ = writeln!(s, "    name: {:?},", board.name);
    let _ = writeln!(s, "    console: kernel::board::Console::{console},");
    let _ = writeln!(s, "    console_driver: kernel::board::ConsoleDriver::{},", driver.variant());
    let _ = write!(s, "    ram: &[");
    for b in &board.memory.banks {
        let _ = write!(s, "({:#x}, {:#x}), ", b.base, b.size);
    }
    let _ = writeln!(s, "],");
    let _ = writeln!(s, "    ram_from_device_tree: {},", board.memory.from_device_tree);
    let _ = writeln!(s, "    reserve: &[");
    for r in &board.reserve {
        let _ = writeln!(
            s,
            "        kernel::board::BoardReservation {{ base: {:#x}, size: {:#x}, name: {:?} }},",
            r.base, r.size, r.name
        );
    }
    let _ = writeln!(s, "    ],");
    let _ = writeln!(s, "    smp_method: Some(kernel::board::SmpMethod::{}),", board.smp.enable_method.variant());
    let _ = writeln!(s, "}};");
    s
}

/// Linker-script fragment for `board` (written to `OUT_DIR/board.ld`, `INCLUDE`d by the
/// platform's script).
pub fn linker_fragment(board: &Board) -> String {
    format!(
        "/* Generated by board_desc::build_script from {}; do not edit. */\nKERNEL_LOAD_ADDRESS = {:#x};\n",
        board.file().display(),
        board.load_address
    )
}

/// What a board's `build.rs` runs: loads and validates `board.toml` from the package folder,
/// writes `board.rs` and `board.ld` into `OUT_DIR`, and links with the platform's script and
/// defmt's. A bad description stops the build with the same message xtask gives.
pub fn build_script() {
    // `MEMFW_BOARD_DIR` builds this board's crate from another folder's board.toml of the same
    // platform: `cargo xtask test` builds a board new-board writes from a surveyed tree this
    // way, for each console driver no committed board uses, without adding it to the
    // workspace (its main.rs and Cargo.toml are the same as this board's but for names).
    println!("cargo:rerun-if-env-changed=MEMFW_BOARD_DIR");
    let dir = match std::env::var_os("MEMFW_BOARD_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")),
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed={}", dir.join("board.toml").display());
    println!("cargo:rerun-if-changed=build.rs");
    let board = match load(&dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let Some(p) = board.platform_info() else { unreachable!("validated") };
    let write = |name: &str, text: String| {
        if let Err(e) = std::fs::write(out.join(name), text) {
            eprintln!("error: cannot write {}: {e}", out.join(name).display());
            std::process::exit(1);
        }
    };
    write("board.rs", firmware_source(&board));
    write("board.ld", linker_fragment(&board));
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-T{}", p.linker_script);
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
}

#[cfg(test)]
mod tests;
