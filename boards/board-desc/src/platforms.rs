//! What each platform crate supports, as data: validation checks boards against it and the
//! scaffolder writes `main.rs` from it. A new platform adds one entry here (docs/PORTING.md).

use crate::{BootFirmware, ConsoleDriver, ExitDevice, ImageKind, SmpMethod};

/// One `platforms/<name>` crate.
#[derive(Debug)]
pub struct PlatformInfo {
    /// Folder under `platforms/` and the `platform` key's value.
    pub name: &'static str,
    /// The crate's package name and its Rust path.
    pub package: &'static str,
    pub crate_path: &'static str,
    /// The machine type `main` receives.
    pub machine_type: &'static str,
    /// The target boards of this platform build for.
    pub target: &'static str,
    pub image: ImageKind,
    pub exit: ExitDevice,
    /// The linker script the platform puts on the link path.
    pub linker_script: &'static str,
    /// Console drivers the platform can bring up.
    pub consoles: &'static [ConsoleDriver],
    /// Whether the CPU has I/O ports (a console `port` is possible).
    pub io_ports: bool,
    /// Ways it can start secondary CPUs.
    pub smp_methods: &'static [SmpMethod],
    /// Alignment of `load-address`, and why.
    pub load_align: u64,
    pub load_rule: &'static str,
    /// What `qemu-system-*` runs it, and the CPU model boards use by default.
    pub qemu_binary: &'static str,
    pub qemu_cpu: Option<&'static str>,
    /// The first physical address the platform cannot use (its linear map's reach): RAM at or
    /// above it is ignored at discovery. The platform crate exports the same value as
    /// `PHYS_LIMIT`, and every board build asserts that they agree.
    pub phys_limit: u64,
    /// Device-tree CPU `compatible` strings that mean this platform (empty: not a DT platform),
    /// matched exactly, or as a prefix when the entry ends in `*` (`arm,cortex-a5` must not
    /// take `arm,cortex-a53`). See [`PlatformInfo::runs_cpu`].
    pub dt_cpus: &'static [&'static str],
    /// Real firmware that can load the platform's image (`qemu.firmware` picks from these).
    pub firmware: &'static [BootFirmware],
}

impl PlatformInfo {
    /// Whether a CPU node's `compatible` string names a CPU this platform runs.
    pub fn runs_cpu(&self, compatible: &str) -> bool {
        self.dt_cpus.iter().any(|k| k.strip_suffix('*').map_or(compatible == *k, |prefix| compatible.starts_with(prefix)))
    }
}

/// The console drivers of `kernel::console_mmio`, which both ARM platforms bring up from the
/// device tree.
const CONSOLE_MMIO: &[ConsoleDriver] = &[
    ConsoleDriver::Pl011,
    ConsoleDriver::Uart16550,
    ConsoleDriver::ImxUart,
    ConsoleDriver::MesonUart,
    ConsoleDriver::CadenceUart,
    ConsoleDriver::ExynosUart,
    ConsoleDriver::GeniUart,
    ConsoleDriver::MsmUartdm,
];

/// Every platform this repository has.
pub static PLATFORMS: &[PlatformInfo] = &[
    PlatformInfo {
        name: "aarch64",
        package: "platform-aarch64",
        crate_path: "platform_aarch64",
        machine_type: "Aarch64",
        target: "aarch64-unknown-none",
        image: ImageKind::Arm64Image,
        exit: ExitDevice::Semihosting,
        linker_script: "aarch64.ld",
        consoles: CONSOLE_MMIO,
        io_ports: false,
        smp_methods: &[SmpMethod::Psci, SmpMethod::SpinTable, SmpMethod::None],
        load_align: 2 << 20,
        load_rule: "an arm64 Image sits at a 2 MiB-aligned base + text_offset 0x200000, see Documentation/arm64/booting.rst",
        qemu_binary: "qemu-system-aarch64",
        qemu_cpu: Some("cortex-a53"),
        // The identity linear map ends where vmalloc starts, at 256 GiB.
        phys_limit: 1 << 38,
        dt_cpus: &[
            "arm,cortex-a35", "arm,cortex-a53", "arm,cortex-a55", "arm,cortex-a57", "arm,cortex-a72", "arm,cortex-a73",
            "arm,cortex-a75", "arm,cortex-a76", "arm,cortex-a77", "arm,cortex-a78*", "arm,neoverse*",
            "arm,cortex-a510", "arm,cortex-a710", "arm,cortex-x*", "arm,armv8*", "arm,foundation-aem*",
            "apm,potenza", "qcom,kryo*",
        ],
        firmware: &[BootFirmware::Uboot],
    },
    PlatformInfo {
        name: "armv7a",
        package: "platform-armv7a",
        crate_path: "platform_armv7a",
        machine_type: "Armv7a",
        target: "armv7a-none-eabi",
        image: ImageKind::ArmZimage,
        exit: ExitDevice::Semihosting,
        linker_script: "armv7a.ld",
        consoles: CONSOLE_MMIO,
        io_ports: false,
        smp_methods: &[SmpMethod::Psci, SmpMethod::Bcm2836Smp, SmpMethod::Imx6Src, SmpMethod::None],
        load_align: 0x4000,
        load_rule: "the first-level table (swapper_pg_dir, 16 KiB-aligned) sits in the 16 KiB below the image, as Linux's sits below its text",
        qemu_binary: "qemu-system-arm",
        qemu_cpu: Some("cortex-a15"),
        // phys_addr_t is 32 bits wide without LPAE.
        phys_limit: 1 << 32,
        // ARMv7-A cores, matched exactly (arm,cortex-a5 and arm,cortex-a7 are prefixes of 64-bit
        // cores). ARMv6 and older (arm1176jzf-s, arm926ej-s, sheeva-v5) are not here.
        dt_cpus: &[
            "arm,cortex-a5", "arm,cortex-a7", "arm,cortex-a8", "arm,cortex-a9", "arm,cortex-a12", "arm,cortex-a15",
            "arm,cortex-a17", "marvell,pj4a", "marvell,pj4b", "marvell,sheeva-v7", "qcom,krait", "qcom,scorpion",
            "brcm,brahma-b15",
        ],
        firmware: &[BootFirmware::Uboot],
    },
    PlatformInfo {
        name: "x86-pc",
        package: "platform-x86-pc",
        crate_path: "platform_x86_pc",
        machine_type: "X86Pc",
        target: "platforms/x86-pc/i686-unknown-none.json",
        image: ImageKind::MultibootElf,
        exit: ExitDevice::IsaDebugExit,
        linker_script: "x86-pc.ld",
        consoles: &[ConsoleDriver::Uart16550],
        io_ports: true,
        smp_methods: &[SmpMethod::AcpiMadt, SmpMethod::None],
        load_align: 4096,
        load_rule: "sections are page-aligned for their permissions",
        qemu_binary: "qemu-system-i386",
        qemu_cpu: None,
        // Two-level paging without PAE: 32-bit physical addresses.
        phys_limit: 1 << 32,
        dt_cpus: &[],
        firmware: &[BootFirmware::Grub],
    },
];
