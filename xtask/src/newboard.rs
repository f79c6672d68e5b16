//! `cargo xtask new-board NAME --from-dtb FILE.dtb [--like BOARD]`: a board folder from a device
//! tree.
//!
//! What the tree says, and where it goes in `board.toml`:
//! - the platform: every CPU node's `compatible` against each platform's list
//!   (`board_desc::PLATFORMS`): AArch64 cores, or ARMv7-A ones (Cortex-A5 to -A17, PJ4, Sheeva
//!   v7, Krait) for `armv7a`; ARMv6 and older cores and cores without an MMU are refused;
//! - the console, as Linux finds it: `/chosen/stdout-path` (aliases and `:115200n8` options
//!   resolved by `devicetree::discover`) when a driver here serves that UART; without
//!   stdout-path, the last serial `console=` of `/chosen/bootargs`, whose port number Linux's
//!   drivers take from `/aliases/serialN`. Another UART only where the QEMU machine wires
//!   `-serial` to it (raspi's PL011); with none of these the tree names no console and the
//!   scaffolder says so rather than guess one;
//! - RAM banks from `/memory`, in address order (or what the QEMU machine really gives, when the
//!   table below knows better: raspi3b keeps 64 MiB for the VideoCore and patches `/memory`),
//!   and the load address: the lowest bank (where QEMU's loader puts the image) + the
//!   platform's offset; on a machine whose `-m` sets RAM (virt), `default-mem` is the tree's
//!   total and NUMA nodes (`numa-node-id`) become `-numa` arguments;
//! - the SMP enable method from the CPU nodes' `enable-method` (arm64), or by 32-bit Linux's
//!   rule (`/psci`, else the machine's own `smp_ops` by the root `compatible`: the i.MX6's SRC,
//!   else the CPU nodes' or `/cpus`'s `enable-method`), naming the methods the platform lacks
//!   (the board then boots on one CPU);
//! - RAM the platform cannot address (above 4 GiB on 32-bit ARM without LPAE) is dropped with
//!   Linux's `Ignoring memory block/range` messages;
//! - a QEMU machine from the root `compatible`, when one is known ([`QEMU_MACHINES`]), with the
//!   tree's CPU model (`-cpu`, when QEMU emulates it) and CPU count.
//!
//! A tree whose CPUs no platform runs is refused, `--like` or not: CPU nodes with an unknown
//! `compatible`, or no CPU nodes and an M-profile NVIC (a Cortex-M microcontroller). The name
//! must be one cargo accepts for a package and that no workspace package or dependency has.
//!
//! `--like BOARD` fills what a tree cannot say (QEMU arguments, and the `[qemu]` section when the
//! machine is not known) from an existing board. When something the board needs does not exist
//! (no platform for these CPUs, no console driver, no QEMU machine), nothing is written and the
//! command lists each missing piece. The generation is a pure function ([`scaffold`]); only
//! [`run`] writes files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use board_desc::{Board, ConsoleDriver, PlatformInfo, SmpMethod, PLATFORMS};
use devicetree::DeviceTree;

/// A QEMU machine the scaffolder knows, found by the root node's `compatible`.
#[derive(Debug)]
pub struct QemuMachine {
    /// Root `compatible` strings that mean this machine.
    pub compatibles: &'static [&'static str],
    pub platform: &'static str,
    pub machine: &'static str,
    /// `-cpu` when the tree's CPU is not a model QEMU emulates; `None` when the machine fixes
    /// the CPU model.
    pub cpu: Option<&'static str>,
    /// `-m` when the tree cannot say (no sized /memory); machines whose `-m` sets RAM
    /// (`ram == None`, not `mem_fixed`) otherwise get the tree's total.
    pub default_mem: &'static str,
    pub mem_fixed: bool,
    pub default_cpus: u32,
    pub cpus_fixed: bool,
    /// QEMU has no device tree of its own for it: pass this one with `-dtb`.
    pub needs_dtb: bool,
    /// RAM as QEMU gives it at `default_mem`, when that differs from the tree's `/memory`
    /// (QEMU rewrites `/memory` in the tree it passes), and why.
    pub ram: Option<(&'static [(u64, u64)], &'static str)>,
    /// The UART QEMU's first `-serial` is wired to, when it is not `stdout-path`'s: a
    /// `compatible`, or, starting with `/`, the end of the node's path (`/serial@2020000`).
    pub serial0: Option<&'static str>,
    /// QEMU emulates PSCI (on this conduit) and adds a `/psci` node to the tree it passes, which
    /// the tree itself does not have (the boot loader would add one on the real board).
    pub adds_psci: Option<&'static str>,
    /// Real firmware that boots an image on this machine (`qemu.firmware`).
    pub firmware: &'static [board_desc::BootFirmware],
    /// `[qemu.mem-limits]` (min, min-per-cpu, max, why-max) for machines whose `-m` is free.
    pub mem_limits: Option<(&'static str, &'static str, &'static str, &'static str)>,
}

/// The machines QEMU 7.2 emulates that the scaffolder recognises.
pub static QEMU_MACHINES: &[QemuMachine] = &[
    QemuMachine {
        compatibles: &["linux,dummy-virt"],
        platform: "aarch64",
        machine: "virt",
        cpu: Some("cortex-a53"),
        default_mem: "256M",
        mem_fixed: false,
        default_cpus: 1,
        cpus_fixed: false,
        needs_dtb: false,
        ram: None,
        serial0: None,
        adds_psci: None,
        firmware: &[board_desc::BootFirmware::Uboot],
        // What qemu-virt-aarch64 measured (boards/qemu-virt-aarch64/board.toml).
        mem_limits: Some((
            "4M",
            "1M",
            "255G",
            "RAM starts at 1 GiB on virt and the firmware's identity map stops at 256 GiB, where vmalloc starts (QEMU's virt models at most 255 GiB too)",
        )),
    },
    QemuMachine {
        // qemu-system-arm's virt: the same root compatible, told apart by the CPUs' platform.
        // highmem=off as boards/qemu-virt-arm has it: nothing above 4 GiB, which a CPU without
        // LPAE cannot reach.
        compatibles: &["linux,dummy-virt"],
        platform: "armv7a",
        machine: "virt,highmem=off",
        cpu: Some("cortex-a15"),
        default_mem: "256M",
        mem_fixed: false,
        default_cpus: 1,
        cpus_fixed: false,
        needs_dtb: false,
        ram: None,
        serial0: None,
        adds_psci: None,
        firmware: &[board_desc::BootFirmware::Uboot],
        // What qemu-virt-arm measured (boards/qemu-virt-arm/board.toml).
        mem_limits: Some((
            "4M",
            "1M",
            "3G",
            "RAM starts at 1 GiB on virt, and without LPAE the CPU reaches only the first 4 GiB of physical addresses (QEMU allows at most 3 GiB with highmem=off)",
        )),
    },
    QemuMachine {
        compatibles: &["raspberrypi,2-model-b"],
        platform: "armv7a",
        machine: "raspi2b",
        cpu: None,
        default_mem: "1G",
        mem_fixed: true,
        default_cpus: 4,
        cpus_fixed: true,
        needs_dtb: true,
        ram: Some((
            &[(0, 0x3c00_0000)],
            "QEMU keeps the top 64 MiB of the 1 GiB for the VideoCore and writes /memory = 0x3c000000 bytes at 0 into the tree it passes",
        )),
        serial0: Some("arm,pl011"),
        adds_psci: None,
        firmware: &[],
        mem_limits: None,
    },
    QemuMachine {
        // Allwinner H3: four Cortex-A7, 1 GiB at 0x40000000 (the most the machine takes).
        compatibles: &["xunlong,orangepi-pc"],
        platform: "armv7a",
        machine: "orangepi-pc",
        cpu: None,
        default_mem: "1G",
        mem_fixed: true,
        default_cpus: 4,
        cpus_fixed: true,
        needs_dtb: true,
        ram: Some((
            &[(0x4000_0000, 0x4000_0000)],
            "the tree has no /memory (U-Boot adds it); QEMU writes /memory = [0x40000000, +1 GiB) into the tree it passes",
        )),
        serial0: None,
        adds_psci: Some("smc"),
        firmware: &[],
        mem_limits: None,
    },
    QemuMachine {
        // i.MX6 Quad: four Cortex-A9, RAM at 0x10000000.
        compatibles: &["fsl,imx6q-sabrelite"],
        platform: "armv7a",
        machine: "sabrelite",
        cpu: None,
        default_mem: "1G",
        mem_fixed: true,
        default_cpus: 4,
        cpus_fixed: true,
        needs_dtb: true,
        ram: None,
        // QEMU's first -serial is UART1; the tree's stdout-path is UART2.
        serial0: Some("/serial@2020000"),
        // QEMU emulates no PSCI here (Linux starts the CPUs through the i.MX6 SRC).
        adds_psci: None,
        firmware: &[],
        mem_limits: None,
    },
    QemuMachine {
        compatibles: &["raspberrypi,3-model-b", "raspberrypi,3-model-b-plus"],
        platform: "aarch64",
        machine: "raspi3b",
        cpu: None,
        default_mem: "1G",
        mem_fixed: true,
        default_cpus: 4,
        cpus_fixed: true,
        needs_dtb: true,
        ram: Some((
            &[(0, 0x3c00_0000)],
            "QEMU keeps the top 64 MiB of the 1 GiB for the VideoCore and writes /memory = 0x3c000000 bytes at 0 into the tree it passes",
        )),
        serial0: Some("arm,pl011"),
        adds_psci: None,
        firmware: &[],
        mem_limits: None,
    },
    QemuMachine {
        compatibles: &["raspberrypi,3-model-a-plus"],
        platform: "aarch64",
        machine: "raspi3ap",
        cpu: None,
        default_mem: "512M",
        mem_fixed: true,
        default_cpus: 4,
        cpus_fixed: true,
        needs_dtb: true,
        ram: Some((&[(0, 0x1c00_0000)], "QEMU keeps the top 64 MiB of the 512 MiB for the VideoCore")),
        serial0: Some("arm,pl011"),
        adds_psci: None,
        firmware: &[],
        mem_limits: None,
    },
    QemuMachine {
        compatibles: &["xlnx,zynqmp-zcu102-revB", "xlnx,zynqmp-zcu102-rev1.0", "xlnx,zynqmp-zcu102"],
        platform: "aarch64",
        machine: "xlnx-zcu102",
        // The machine's APUs are Cortex-A53s, fixed.
        cpu: None,
        default_mem: "2G",
        mem_fixed: true,
        // -smp 4 gives the four APUs (a fifth and sixth CPU would be the Cortex-R5 RPUs). Without
        // `secure=on` and `virtualization=on` (both off by default) they start at EL1 and QEMU
        // answers PSCI on `smc` itself, as the tree's /psci asks.
        default_cpus: 4,
        cpus_fixed: true,
        needs_dtb: true,
        ram: Some((
            &[(0, 0x8000_0000)],
            "QEMU rewrites /memory in the tree it passes to one bank [0, -m); the machine maps the first 2 GiB of DDR at 0 (more goes to 0x8_0000_0000, which that rewrite would not say), so 2G is the size that keeps the tree true",
        )),
        serial0: None,
        adds_psci: None,
        firmware: &[],
        mem_limits: None,
    },
];

/// The CPU models `qemu-system-aarch64` and `qemu-system-arm` 7.2 emulate under the name a
/// device tree's CPU `compatible` gives them after the vendor prefix (`arm,cortex-a57` is `-cpu
/// cortex-a57`). Which ones a tree can get is decided by its platform (the CPUs it runs).
const QEMU_ARM_CPUS: &[&str] = &["cortex-a7", "cortex-a8", "cortex-a9", "cortex-a15", "cortex-a35", "cortex-a53", "cortex-a55", "cortex-a57", "cortex-a72", "cortex-a76", "neoverse-n1", "a64fx"];

/// Interrupt controllers that only M-profile (Cortex-M, no MMU) CPUs have; a tree without CPU
/// nodes that has one of these is a Cortex-M microcontroller.
const M_PROFILE_NVICS: &[&str] = &["arm,armv6m-nvic", "arm,armv7m-nvic", "arm,v6m-nvic", "arm,v7m-nvic", "arm,v8m-nvic"];

/// `size` in QEMU's `-m` spelling: the largest binary unit that divides it (`8G`, `256M`).
fn size_arg(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b => format!("{}M", b.div_ceil(1 << 20)),
    }
}

/// CPU indices `0-1,3` for QEMU's `-numa node,cpus=`.
fn cpu_list(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { cpus[i].to_string() } else { format!("{}-{}", cpus[i], cpus[j]) });
        i = j + 1;
    }
    // QEMU takes several ranges as repeated `cpus=` keys.
    parts.join(",cpus=")
}

/// A generated folder: files relative to the board folder, and what to tell the user.
#[derive(Debug, Default)]
pub struct Scaffold {
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// How each value was chosen, where that is worth saying.
    pub notes: Vec<String>,
    /// What does not exist yet; nothing is written when this is not empty.
    pub missing: Vec<String>,
    /// One short key per entry of `missing` (the same piece in every tree that lacks it), for
    /// `--survey`'s ranking.
    pub missing_keys: Vec<String>,
    /// QEMU emulates the board (else the `[qemu]` section is `--like`'s, for building only).
    pub emulated: bool,
}

impl Scaffold {
    fn miss(&mut self, key: impl Into<String>, text: String) {
        self.missing_keys.push(key.into());
        self.missing.push(text);
    }
}

/// 32-bit ARM cores that are not ARMv7-A, with their architecture: no platform runs them
/// (platforms/armv7a needs the ARMv7-A memory model and short-descriptor paging with XN; an
/// ARMv7-R or M core has no MMU). Matched exactly.
const ARM32_NOT_V7A: &[(&str, &str)] = &[
    ("arm,arm1176jzf-s", "ARMv6 (ARM1176)"),
    ("arm,arm1176jz-s", "ARMv6 (ARM1176)"),
    ("arm,arm1136j-s", "ARMv6 (ARM1136)"),
    ("arm,arm1136jf-s", "ARMv6 (ARM1136)"),
    ("arm,arm11mpcore", "ARMv6K (ARM11 MPCore)"),
    ("arm,arm926ej-s", "ARMv5TEJ (ARM926)"),
    ("arm,arm946e-s", "ARMv5TE with an MPU, no MMU (ARM946)"),
    ("arm,arm1026ej-s", "ARMv5TEJ (ARM1026)"),
    ("arm,arm920t", "ARMv4T (ARM920)"),
    ("arm,arm720t", "ARMv4T (ARM720)"),
    ("faraday,fa526", "ARMv4 (FA526)"),
    ("faraday,fa626te", "ARMv5TE (FA626TE)"),
    ("marvell,sheeva-v5", "ARMv5TE (Marvell Sheeva/Feroceon)"),
    ("marvell,feroceon", "ARMv5TE (Marvell Feroceon)"),
    ("marvell,xscale", "ARMv5TE (XScale)"),
    ("arm,cortex-r4", "ARMv7-R with an MPU, no MMU (Cortex-R4)"),
    ("arm,cortex-r5", "ARMv7-R with an MPU, no MMU (Cortex-R5)"),
    ("arm,cortex-r7", "ARMv7-R with an MPU, no MMU (Cortex-R7)"),
    ("arm,cortex-m3", "ARMv7-M, no MMU (Cortex-M3)"),
    ("arm,cortex-m4", "ARMv7E-M, no MMU (Cortex-M4)"),
    ("arm,cortex-m7", "ARMv7E-M, no MMU (Cortex-M7)"),
];

/// 32-bit ARM Linux's SMP methods (`CPU_METHOD_OF_DECLARE` in arch/arm), by the
/// `enable-method` string a CPU node or `/cpus` gives, with where Linux implements them. The
/// armv7a platform starts CPUs through `psci` (board_desc::PLATFORMS); for the others a board
/// boots on one CPU and says which method it lacks.
const ARM32_SMP_METHODS: &[(&str, &str)] = &[
    ("psci", "PSCI CPU_ON, arch/arm/kernel/psci_smp.c"),
    ("brcm,bcm2836-smp", "the BCM2836 ARM-local mailbox 3, arch/arm/mach-bcm/platsmp.c"),
    ("brcm,bcm11351-cpu-method", "Broadcom Kona, arch/arm/mach-bcm/platsmp.c"),
    ("brcm,bcm23550", "Broadcom BCM23550, arch/arm/mach-bcm/platsmp.c"),
    ("brcm,bcm-nsp-smp", "Broadcom NSP, arch/arm/mach-bcm/platsmp.c"),
    ("allwinner,sun6i-a31", "the Allwinner A31 PRCM, arch/arm/mach-sunxi/platsmp.c"),
    ("allwinner,sun8i-a23", "the Allwinner A23 PRCM, arch/arm/mach-sunxi/platsmp.c"),
    ("allwinner,sun9i-a80-smp", "the Allwinner A80 CPU configuration block, arch/arm/mach-sunxi/mc_smp.c"),
    ("rockchip,rk3036-smp", "the Rockchip PMU and SRAM trampoline, arch/arm/mach-rockchip/platsmp.c"),
    ("rockchip,rk3066-smp", "the Rockchip PMU and SRAM trampoline, arch/arm/mach-rockchip/platsmp.c"),
    ("qcom,kpss-acc-v1", "the Qualcomm KPSS ACC, arch/arm/mach-qcom/platsmp.c"),
    ("qcom,kpss-acc-v2", "the Qualcomm KPSS ACC, arch/arm/mach-qcom/platsmp.c"),
    ("qcom,gcc-msm8660", "the Qualcomm MSM8660 clock controller, arch/arm/mach-qcom/platsmp.c"),
    ("marvell,armada-375-smp", "Marvell Armada 375, arch/arm/mach-mvebu/platsmp-a9.c"),
    ("marvell,armada-380-smp", "Marvell Armada 38x, arch/arm/mach-mvebu/platsmp-a9.c"),
    ("marvell,armada-xp-smp", "Marvell Armada XP, arch/arm/mach-mvebu/platsmp.c"),
    ("marvell,98dx3236-smp", "Marvell 98DX3236, arch/arm/mach-mvebu/platsmp.c"),
    ("aspeed,ast2600-smp", "the ASPEED AST2600 SCU, arch/arm/mach-aspeed/platsmp.c"),
    ("ste,dbx500-smp", "ST-Ericsson DB8500, arch/arm/mach-ux500/platsmp.c"),
    ("renesas,apmu", "the Renesas APMU, arch/arm/mach-shmobile/platsmp-apmu.c"),
    ("mediatek,mt6589-smp", "MediaTek, arch/arm/mach-mediatek/platsmp.c"),
    ("mediatek,mt81xx-tz-smp", "MediaTek, arch/arm/mach-mediatek/platsmp.c"),
    ("actions,s500-smp", "Actions S500, arch/arm/mach-actions/platsmp.c"),
    ("nuvoton,npcm750-smp", "Nuvoton NPCM7xx, arch/arm/mach-npcm/platsmp.c"),
];

/// 32-bit Linux machines that start their CPUs through the machine description's own
/// `smp_ops` (`DT_MACHINE_START(…) .smp = smp_ops(…)`, matched by the root `compatible`), which
/// a platform here implements: the method no tree names, with where Linux has it.
const ARM32_MACHINE_SMP: &[(&str, SmpMethod, &str)] = &[
    ("fsl,imx6q", SmpMethod::Imx6Src, IMX6_SRC),
    ("fsl,imx6dl", SmpMethod::Imx6Src, IMX6_SRC),
    ("fsl,imx6qp", SmpMethod::Imx6Src, IMX6_SRC),
];

/// The i.MX6 machine's method (its `DT_MACHINE_START` lists the three compatibles above).
const IMX6_SRC: &str = "the i.MX6 System Reset Controller: imx_smp_ops, arch/arm/mach-imx/platsmp.c and src.c, for the IMX6Q machine of arch/arm/mach-imx/mach-imx6q.c";

/// A UART node the tree has.
#[derive(Debug, Clone)]
struct Uart {
    path: String,
    compatible: Vec<String>,
    available: bool,
}

impl Uart {
    fn driver(&self) -> Option<ConsoleDriver> {
        self.compatible.iter().find_map(|c| ConsoleDriver::for_compatible(c))
    }

    fn describe(&self) -> String {
        format!("{} ({})", self.path, self.compatible.first().map_or("no compatible", String::as_str))
    }
}

/// What the scaffolder reads from a tree.
#[derive(Debug, Default)]
struct TreeFacts {
    root_compatible: Vec<String>,
    model: Option<String>,
    cpu_compatible: Vec<String>,
    uarts: Vec<Uart>,
    /// An M-profile interrupt controller: its path and `compatible`.
    nvic: Option<(String, String)>,
    /// Every `/cpus/cpu@*` node: path, `compatible`, `enable-method`, available.
    cpu_nodes: Vec<(String, Vec<String>, Option<String>, bool)>,
    /// `/cpus`'s own `enable-method` (32-bit ARM trees put the SMP method there).
    cpus_method: Option<String>,
    /// Root children with `device_type = "memory"`: path and where RAM starts by them (the first
    /// `reg` address, even with size 0, else the unit address), when they say.
    memory_nodes: Vec<(String, Option<u64>)>,
}

fn tree_facts(dt: &DeviceTree<'_>) -> Result<TreeFacts> {
    let mut f = TreeFacts::default();
    let mut root_ac = 1u32;
    dt.walk(&mut |n| {
        let compatible: Vec<String> = n.strings("compatible")?.map(String::from).collect();
        if n.depth == 0 {
            f.root_compatible = compatible;
            f.model = n.str_prop("model")?.map(String::from);
            root_ac = n.prop("#address-cells")?.and_then(|v| <[u8; 4]>::try_from(v).ok()).map_or(1, u32::from_be_bytes);
            return Ok(());
        }
        if n.depth == 1 && n.str_prop("device_type")? == Some("memory") {
            let reg = n.prop("reg")?.filter(|r| r.len() >= 4 * root_ac as usize && (1..=2).contains(&root_ac));
            let from_reg = reg.map(|r| r[..4 * root_ac as usize].chunks(4).fold(0u64, |a, c| (a << 32) | u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))));
            let unit = n.path.rsplit_once('@').and_then(|(_, u)| u64::from_str_radix(u.split(',').next().unwrap_or(u), 16).ok());
            f.memory_nodes.push((n.path.to_owned(), from_reg.or(unit)));
        }
        let leaf = n.path.rsplit('/').next().unwrap_or("");
        let base = leaf.split('@').next().unwrap_or("");
        if n.path.starts_with("/cpus/cpu@") && n.depth == 2 {
            if f.cpu_compatible.is_empty() {
                f.cpu_compatible = compatible.clone();
            }
            f.cpu_nodes.push((n.path.to_owned(), compatible.clone(), n.str_prop("enable-method")?.map(String::from), n.available()?));
        }
        if n.path == "/cpus" {
            f.cpus_method = n.str_prop("enable-method")?.map(String::from);
        }

        if let Some(c) = compatible.iter().find(|c| M_PROFILE_NVICS.contains(&c.as_str())) {
            f.nvic.get_or_insert_with(|| (n.path.to_owned(), c.clone()));
        }
        let uartish = matches!(base, "serial" | "uart")
            || compatible.iter().any(|c| c.contains("uart") || c.contains("pl011") || c.contains("16550"));
        if uartish && !compatible.is_empty() {
            f.uarts.push(Uart { path: n.path.into(), compatible, available: n.available()? });
        }
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("walking the device tree: {e}"))?;
    Ok(f)
}

/// Where the image goes above the RAM base, and why, per platform's image format.
fn image_offset(platform: &PlatformInfo) -> (u64, &'static str) {
    match platform.image {
        board_desc::ImageKind::Arm64Image => (0x20_0000, "text_offset 0x200000 (where QEMU's loader puts an arm64 Image)"),
        board_desc::ImageKind::ArmZimage => (0x1_0000, "0x10000 (where QEMU's loader puts a 32-bit ARM zImage, hw/arm/boot.c KERNEL_LOAD_ADDR)"),
        board_desc::ImageKind::MultibootElf => (0x10_0000, "1 MiB"),
    }
}

/// The first CPU of the tree that is a 32-bit ARM core older than ARMv7-A (or without an MMU),
/// with its architecture.
fn not_v7a(facts: &TreeFacts) -> Option<(&'static str, &'static str)> {
    facts.cpu_nodes.iter().flat_map(|(_, compat, _, _)| compat.iter()).find_map(|c| ARM32_NOT_V7A.iter().find(|(k, _)| k == c).copied())
}

/// The platform that runs every CPU node of the tree (a node runs on it when one of its
/// `compatible` strings is the platform's; big.LITTLE trees have two core types), if any.
fn cpu_platform(facts: &TreeFacts) -> Option<&'static PlatformInfo> {
    if not_v7a(facts).is_some() || facts.cpu_nodes.is_empty() {
        return None;
    }
    PLATFORMS.iter().find(|p| facts.cpu_nodes.iter().all(|(_, compat, _, _)| compat.iter().any(|c| p.runs_cpu(c))))
}

/// A board.toml SMP method by its device-tree spelling.
fn smp_method_named(m: &str) -> Option<SmpMethod> {
    [SmpMethod::Psci, SmpMethod::SpinTable, SmpMethod::Bcm2836Smp].into_iter().find(|x| x.as_str() == m)
}

/// 32-bit ARM Linux's choice of SMP method (arch/arm/kernel/setup.c, devtree.c): with `/psci`
/// (`psci_smp_available()`), PSCI, whatever else the tree says; else the machine's own
/// `smp_ops` (`mdesc->smp`, chosen by the root compatible: the i.MX6's SRC, [`ARM32_MACHINE_SMP`]),
/// which `setup_arch` sets after `arm_dt_init_cpu_maps` has applied the tree's method; else the
/// first CPU node whose `enable-method` is one Linux has, else `/cpus`'s `enable-method`. A
/// machine with `smp_ops` not in the table, and no method in the tree, boots on one CPU here.
/// Returns the method, the `[smp]` comment, and whether CPUs stay off for a method the platform
/// lacks.
fn arm32_smp(facts: &TreeFacts, psci: bool, platform: &PlatformInfo) -> (SmpMethod, String, bool) {
    let cpus: Vec<&(String, Vec<String>, Option<String>, bool)> = facts.cpu_nodes.iter().filter(|c| c.3).collect();
    let n = cpus.len();
    if n <= 1 && !psci {
        return (SmpMethod::None, "The tree has one CPU: no secondary CPU to start.".to_owned(), false);
    }
    let node_method = cpus.iter().find_map(|(path, _, m, _)| m.as_deref().filter(|m| ARM32_SMP_METHODS.iter().any(|(k, _)| k == m)).map(|m| (m, path.as_str())));
    let any_method = cpus.iter().find_map(|(path, _, m, _)| m.as_deref().map(|m| (m, path.as_str())));
    let named = node_method.or(facts.cpus_method.as_deref().map(|m| (m, "/cpus"))).or(any_method);
    if psci {
        let also = named.filter(|(m, _)| *m != "psci").map_or(String::new(), |(m, at)| format!(" ({at} also says {m:?}; Linux's PSCI check comes after it and wins)"));
        return (
            SmpMethod::Psci,
            format!("{n} CPU(s) and a /psci node: 32-bit Linux starts secondary CPUs through PSCI CPU_ON when the firmware offers it (setup_arch, psci_smp_available){also}."),
            false,
        );
    }
    let machine = facts.root_compatible.iter().find_map(|c| ARM32_MACHINE_SMP.iter().find(|(k, _, _)| k == c));
    if let Some(&(compat, method, d)) = machine.filter(|(_, m, _)| platform.smp_methods.contains(m)) {
        let also = named.map_or(String::new(), |(m, at)| format!(" ({at} says {m:?}, which the machine's smp_ops replace)"));
        return (
            method,
            format!("{n} CPUs and no /psci; the root compatible {compat:?} is a Linux machine with its own smp_ops, which 32-bit Linux uses when there is no PSCI (setup_arch: mdesc->smp): {d}. No tree names this method{also}."),
            false,
        );
    }
    let Some((m, at)) = named else {
        return (
            SmpMethod::None,
            format!("{n} CPUs, but neither the CPU nodes nor /cpus name an enable-method and there is no /psci: 32-bit Linux starts them through the machine's own smp_ops (mdesc->smp, chosen by the root compatible), which platform {} does not have. The board boots on one CPU.", platform.name),
            true,
        );
    };
    let what = ARM32_SMP_METHODS.iter().find(|(k, _)| *k == m).map(|(_, d)| *d);
    match (smp_method_named(m).filter(|x| platform.smp_methods.contains(x)), what) {
        (Some(x), Some(d)) => (x, format!("{n} CPUs; {at} names enable-method {m:?} ({d}), which 32-bit Linux uses for every CPU."), false),
        (_, Some(d)) => (
            SmpMethod::None,
            format!("{n} CPUs; {at} names enable-method {m:?} ({d}), which platform {} does not implement (it has: {}). The board boots on one CPU.", platform.name, platform.smp_methods.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")),
            true,
        ),
        (_, None) => (
            SmpMethod::None,
            format!("{n} CPUs; {at} names enable-method {m:?}, which 32-bit Linux has no method for{}. The board boots on one CPU.", if m == "spin-table" { " (spin-table is arm64's)" } else { "" }),
            true,
        ),
    }
}

/// The path `/aliases` gives `name`, if any.
fn alias(dt: &DeviceTree<'_>, name: &str) -> Result<Option<String>> {
    let mut found = None;
    dt.walk(&mut |n| {
        if n.path == "/aliases" {
            found = n.str_prop(name)?.map(String::from);
        }
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("walking the device tree: {e}"))?;
    Ok(found)
}

/// Whether `/aliases` names any `serialN`.
fn has_serial_aliases(dt: &DeviceTree<'_>) -> Result<bool> {
    for n in 0..32 {
        if alias(dt, &format!("serial{n}"))?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Linux's serial console names (`console=NAMEn` on the command line) and the drivers here
/// that serve the same UARTs: each Linux driver numbers its ports by the node's
/// `/aliases/serialN` (`of_alias_get_id(np, "serial")`), so `console=ttyS1` is the 8250 UART
/// that `serial1` names.
const LINUX_TTYS: &[(&str, ConsoleDriver)] = &[
    ("ttyAMA", ConsoleDriver::Pl011),
    ("ttymxc", ConsoleDriver::ImxUart),
    ("ttyAML", ConsoleDriver::MesonUart),
    ("ttyPS", ConsoleDriver::CadenceUart),
    ("ttySAC", ConsoleDriver::ExynosUart),
    ("ttyMSM", ConsoleDriver::GeniUart),
    ("ttyS", ConsoleDriver::Uart16550),
];

/// The last `console=` of a command line that names a serial port Linux numbers by
/// `/aliases/serialN`: the tty name, the driver here for it and the alias (`serial1`). Linux's
/// last `console=` is the preferred console.
fn bootargs_console(bootargs: &str) -> Option<(String, ConsoleDriver, String)> {
    let arg = bootargs.split_whitespace().filter_map(|a| a.strip_prefix("console=")).last()?;
    let tty = arg.split(',').next().unwrap_or(arg);
    LINUX_TTYS.iter().find_map(|&(prefix, d)| {
        let n = tty.strip_prefix(prefix)?;
        (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| (tty.to_owned(), d, format!("serial{n}")))
    })
}

/// `0x3c00_0000`: hex with `_` every four digits, as the committed boards write addresses.
fn hex(v: u64) -> String {
    let digits = format!("{v:x}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 4 == 0 {
            out.push('_');
        }
        out.push(c);
    }
    format!("0x{out}")
}

/// `text` as `# ` comment lines of at most 100 columns.
fn comment(t: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > 100 && line.len() > 1 {
            let _ = writeln!(t, "{line}");
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    let _ = writeln!(t, "{line}");
}

fn toml_str(s: &str) -> String {
    format!("{s:?}")
}

/// Builds the folder for board `name` from the device tree `blob` (see the module
/// documentation). `like` is an existing board to take what the tree cannot say from.
pub fn scaffold(name: &str, blob: &[u8], dtb_file_name: &str, like: Option<&Board>) -> Result<Scaffold> {
    let dt = DeviceTree::new(blob).map_err(|e| anyhow::anyhow!("not a usable device tree: {e}"))?;
    let info = devicetree::discover(&dt).map_err(|e| anyhow::anyhow!("reading the device tree: {e}"))?;
    let facts = tree_facts(&dt)?;
    let mut out = Scaffold::default();
    let root_compat = facts.root_compatible.first().cloned().unwrap_or_default();

    // The platform, from the CPUs: the one that runs every CPU node (a node runs on it when one
    // of its compatible strings is the platform's); big.LITTLE trees have two core types.
    let not_v7a = not_v7a(&facts);
    let platform = cpu_platform(&facts);
    let platform = match (platform, like) {
        (Some(p), Some(l)) if l.platform != p.name => {
            out.notes.push(format!("--like {} is a {} board but the CPUs ({}) are {}: the tree wins", l.name, l.platform, facts.cpu_compatible.join(", "), p.name));
            Some(p)
        }
        (Some(p), _) => Some(p),
        (None, _) if facts.cpu_compatible.is_empty() && facts.nvic.is_some() => {
            let (path, compat) = facts.nvic.clone().unwrap_or_default();
            out.miss("platform: Cortex-M (M-profile, no MMU): no platform runs it", format!(
                "platform: the tree has no CPU nodes, and its interrupt controller {path} is {compat:?}: the CPU is a Cortex-M (M-profile, no MMU; root compatible {root_compat:?}), which no platform runs{}. The platforms run AArch64 (Cortex-A53, -A57, … with an MMU), ARMv7-A (Cortex-A7, -A9, -A15, …) and 32-bit x86",
                like.map_or(String::new(), |l| format!(", --like {} or not", l.name))
            ));
            return Ok(out);
        }
        (None, Some(l)) if facts.cpu_compatible.is_empty() && not_v7a.is_none() => {
            out.notes.push(format!("the tree's CPU nodes have no compatible: platform {} from --like {}", l.platform, l.name));
            l.platform_info()
        }
        (None, _) => None,
    };
    let Some(platform) = platform else {
        let known: Vec<String> = PLATFORMS
            .iter()
            .map(|p| if p.dt_cpus.is_empty() { format!("{} (no device tree)", p.name) } else { format!("{} ({}, …)", p.name, p.dt_cpus[..2].join(", ")) })
            .collect();
        let (key, why) = match not_v7a {
            Some((c, arch)) => (
                "platform: a 32-bit ARM core older than ARMv7-A, or without an MMU (ARM926, ARM1176, Cortex-R/M): no platform runs it".to_owned(),
                format!(
                    "{c} is {arch}, not ARMv7-A: platforms/armv7a needs an ARMv7-A core (the v7 memory model, short-descriptor tables with execute-never), so no platform runs this board{}. ",
                    like.map_or(String::new(), |l| format!(", --like {} or not", l.name))
                ),
            ),
            None => {
                let mixed: Vec<&str> = facts.cpu_nodes.iter().filter_map(|(_, c, _, _)| c.first().map(String::as_str)).collect();
                (format!("platform: no platform runs CPUs {}", facts.cpu_compatible.first().map_or("(none named)", String::as_str)), if mixed.len() > 1 { format!("the CPU nodes are {}; ", mixed.join(", ")) } else { String::new() })
            }
        };
        out.miss(key, format!(
            "platform: {why}no platform crate runs CPUs {:?} (root compatible {root_compat:?}); platforms: {}. A new platform is a crate under platforms/ and an entry in board_desc::PLATFORMS (docs/PORTING.md)",
            facts.cpu_compatible,
            known.join("; ")
        ));
        return Ok(out);
    };
    out.notes.push(format!("platform {}: CPUs are {}", platform.name, facts.cpu_compatible.first().map_or("?", String::as_str)));

    // The QEMU machine.
    let machine = QEMU_MACHINES
        .iter()
        .find(|m| m.platform == platform.name && facts.root_compatible.iter().any(|c| m.compatibles.contains(&c.as_str())));
    // A --like board of another platform cannot lend its [qemu] section (its QEMU binary, CPU
    // model and machine run other CPUs).
    let other_platform_like = like.filter(|l| l.platform != platform.name);
    let like = like.filter(|l| l.platform == platform.name);
    if machine.is_none() && like.is_none() {
        match other_platform_like {
            Some(l) => out.miss("QEMU machine: not emulated by QEMU, and no --like of the tree's platform", format!(
                "QEMU machine: none known for root compatible {:?}, and --like {} is a {} board, whose [qemu] section cannot run platform {}: pass --like with a {} board",
                facts.root_compatible, l.name, l.platform, platform.name, platform.name
            )),
            None => out.miss("QEMU machine: not emulated by QEMU, and no --like", format!(
                "QEMU machine: none known for root compatible {:?} (known: {}); add the machine to QEMU_MACHINES in xtask/src/newboard.rs if QEMU emulates it, or pass --like BOARD to build for the real board with that board's [qemu] section",
                facts.root_compatible,
                QEMU_MACHINES.iter().map(|m| m.machine).collect::<Vec<_>>().join(", ")
            )),
        }
    } else if let (None, Some(l)) = (machine, like) {
        out.notes.push(format!(
            "qemu: no QEMU machine emulates {root_compat:?}; [qemu] comes from --like {} so the image builds, but booting it there uses {}'s device tree",
            l.name, l.qemu.machine
        ));
    }

    // The console.
    let stdout = info.chosen.as_ref().and_then(|c| c.stdout_path);
    let stdout_node = info.console.as_ref().filter(|c| c.from_stdout_path).map(|c| c.path.as_str().to_owned());
    // What the driver cannot run as wired (a 16550 with 2-byte registers), said with the node.
    let wiring = |u: &Uart| -> Option<String> {
        let d = u.driver()?;
        let p = match devicetree::uart_props(&dt, &u.path) {
            Ok(p) => p,
            Err(e) => return Some(e.to_string()),
        };
        let compatible = p.first_of(d.compatibles()).unwrap_or_default();
        d.check_wiring(compatible, p.reg_shift, p.reg_io_width).err()
    };
    let usable = |u: &Uart| u.available && u.driver().is_some_and(|d| platform.consoles.contains(&d)) && wiring(u).is_none();
    let stdout_uart = stdout_node.as_ref().and_then(|p| facts.uarts.iter().find(|u| &u.path == p));
    let wired = machine.and_then(|m| m.serial0);
    let wired_to = |w: &str, u: &Uart| if w.starts_with('/') { u.path.ends_with(w) } else { u.compatible.iter().any(|c| c == w) };
    let (console, console_comment) = match stdout_uart {
        Some(u) if usable(u) && wired.is_none_or(|w| wired_to(w, u)) => (
            Some((u.driver().unwrap_or(ConsoleDriver::Pl011), None::<String>)),
            format!("/chosen/stdout-path {:?} is {}", stdout.unwrap_or(""), u.describe()),
        ),
        _ => {
            let why = match (stdout, stdout_uart) {
                (Some(sp), Some(u)) if !usable(u) => format!(
                    "/chosen/stdout-path {sp:?} is {}, {}",
                    u.describe(),
                    match (u.driver(), wiring(u)) {
                        (Some(d), Some(why)) => format!("which the {} driver cannot run: it has {why}", d.as_str()),
                        (Some(_), None) if !u.available => "which is disabled".to_owned(),
                        (Some(d), None) => format!("whose {} driver platform {} does not bring up", d.as_str(), platform.name),
                        (None, _) => "which has no driver here".to_owned(),
                    }
                ),
                (Some(sp), Some(u)) => format!("/chosen/stdout-path {sp:?} is {}, but QEMU's {} wires -serial to its {}", u.describe(), machine.map_or("", |m| m.machine), wired.unwrap_or("")),
                (Some(sp), None) => format!("/chosen/stdout-path {sp:?} does not resolve to a UART node"),
                (None, _) => "there is no /chosen/stdout-path".to_owned(),
            };
            // Without stdout-path Linux takes its console from the command line: the last
            // `console=` naming a serial port, which each driver numbers by /aliases/serialN.
            let from_bootargs = match (stdout, info.chosen.as_ref().and_then(|c| c.bootargs).and_then(bootargs_console)) {
                (None, Some((tty, d, al))) => {
                    let path = match alias(&dt, &al)? {
                        Some(p) => Some(p),
                        // No serialN alias at all: Linux numbers the driver's ports in probe
                        // order, which is node order.
                        None if !has_serial_aliases(&dt)? => {
                            let n: usize = al.trim_start_matches("serial").parse().unwrap_or(usize::MAX);
                            facts.uarts.iter().filter(|u| u.available && u.driver() == Some(d)).nth(n).map(|u| u.path.clone())
                        }
                        None => None,
                    };
                    Some((tty, d, al.clone(), path))
                }
                _ => None,
            };
            // Only a QEMU machine that wires -serial to a known UART makes another UART than
            // the one Linux would use the right console; elsewhere that would be a guess.
            let first = facts.uarts.iter().filter(|u| usable(u)).find(|u| wired.is_some_and(|w| wired_to(w, u)));
            match (from_bootargs, first) {
                (Some((tty, d, al, Some(path))), _) if facts.uarts.iter().any(|u| u.path == path && usable(u) && u.driver() == Some(d)) => {
                    let u = facts.uarts.iter().find(|u| u.path == path).cloned().unwrap_or_else(|| unreachable!("found above"));
                    (
                        Some((d, Some(path.clone()))),
                        format!("{why}; /chosen/bootargs says console={tty}, and Linux numbers these ports by /aliases/serialN (in node order when the tree has no serial alias): {al} is {}", u.describe()),
                    )
                }
                (Some((tty, d, al, path)), _) if wired.is_none() => {
                    let what = match path.as_deref().and_then(|p| facts.uarts.iter().find(|u| u.path == p)) {
                        None => format!("/aliases has no {al}"),
                        Some(u) if u.driver() != Some(d) => format!("{al} is {}, not a {} UART", u.describe(), d.as_str()),
                        Some(u) if !u.available => format!("{al} is {}, which is disabled", u.describe()),
                        Some(u) if !platform.consoles.contains(&d) => format!("{al} is {}, whose {} driver platform {} does not bring up", u.describe(), d.as_str(), platform.name),
                        Some(u) => format!("{al} is {}, which the {} driver cannot run as wired", u.describe(), d.as_str()),
                    };
                    out.miss(
                        "console: no stdout-path, and bootargs' console= names no UART a driver here runs",
                        format!("console: {why}; /chosen/bootargs says console={tty} ({} ports are numbered by /aliases/serialN), but {what}: no console Linux would use", d.as_str()),
                    );
                    (None, why)
                }
                (_, Some(u)) => (
                    Some((u.driver().unwrap_or(ConsoleDriver::Pl011), Some(u.path.clone()))),
                    format!("{why}; {} is the first UART with a driver and the one QEMU's -serial reaches", u.describe()),
                ),
                (_, None) => {
                    let seen: Vec<String> = facts.uarts.iter().map(Uart::describe).collect();
                    let key = match stdout_uart {
                        Some(u) if u.driver().is_none() => format!("console: no driver for {}", u.compatible.last().map_or("?", String::as_str)),
                        Some(u) if !u.available => "console: the stdout-path UART is disabled".to_owned(),
                        Some(u) if u.driver().is_some_and(|d| !platform.consoles.contains(&d)) => {
                            format!("console: platform {} does not bring up the {} driver", platform.name, u.driver().map_or("?", |d| d.as_str()))
                        }
                        Some(u) => format!("console: the {} driver cannot run the stdout-path UART as wired", u.driver().map_or("?", |d| d.as_str())),
                        None if stdout.is_some() => "console: stdout-path resolves to no UART node".to_owned(),
                        None => "console: no stdout-path and no console= in bootargs (Linux names no console)".to_owned(),
                    };
                    let linux = if stdout.is_none() {
                        " Linux takes its console from /chosen/stdout-path (earlycon, of_console_check) or a console= argument, and this tree has neither: the boot loader's command line names it, so the scaffolder does not guess one (aliases only number the ports). Name the UART by hand in [console] (node = \"/path\") once you know which one the board's boot loader uses"
                    } else {
                        " Linux uses the stdout-path UART or none, so the scaffolder does not pick another one"
                    };
                    out.miss(key, format!(
                        "console: {why}.{linux}; drivers platform {} can bring up: {}; UARTs in the tree: {}. A console driver is a crate under drivers/ on embedded-io, wired into the platform (docs/PORTING.md)",
                        platform.name,
                        platform.consoles.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", "),
                        if seen.is_empty() { "none".into() } else { seen.join(", ") }
                    ));
                    (None, why)
                }
            }
        }
    };

    // SMP. arm64: the platform starts each CPU by its own node's enable-method (psci or
    // spin-table); [smp] enable-method is for nodes without one. 32-bit ARM: Linux's rule
    // (arm32_smp). A method no platform implements is not a missing piece: those CPUs stay off
    // and the boot says why.
    let mut unsupported: Vec<String> = Vec::new();
    let (smp, smp_comment) = if platform.name == "armv7a" {
        // A QEMU machine that emulates PSCI adds /psci to the tree it passes.
        let qemu_psci = machine.and_then(|m| m.adds_psci.map(|c| (m.machine, c))).filter(|_| info.psci_method.is_none());
        let (m, mut text, lacking) = arm32_smp(&facts, info.psci_method.is_some() || qemu_psci.is_some(), platform);
        if let Some((name, conduit)) = qemu_psci {
            text = format!("The tree has no /psci (the boot loader adds one), but QEMU's {name} emulates PSCI on {conduit} and adds it to the tree it passes. {text}");
        }
        if lacking {
            unsupported.push(text.clone());
        }
        (m, text)
    } else {
        let cpus: Vec<&devicetree::Cpu<'_>> = info.cpus.iter().filter(|c| c.available).collect();
        let methods: Vec<&str> = cpus.iter().filter_map(|c| c.enable_method).collect();
        let supported = |m: &str| matches!(m, "psci" | "spin-table");
        for c in &cpus {
            match (c.enable_method, c.enable()) {
                (Some(m), _) if !supported(m) => unsupported.push(format!("{} says {m:?}", c.path())),
                (Some(_), Err(e)) => unsupported.push(e.to_string()),
                _ => {}
            }
        }
        let first_supported = methods.iter().copied().find(|&m| supported(m));
        match first_supported {
            None if methods.is_empty() && info.psci_method.is_some() => (
                SmpMethod::Psci,
                "No CPU node has an enable-method (QEMU leaves it out with one CPU); /psci is there, so \"psci\".".to_owned(),
            ),
            None if methods.is_empty() => (SmpMethod::None, "No CPU node has an enable-method and there is no /psci: the boot CPU only.".to_owned()),
            None => (
                SmpMethod::None,
                format!(
                    "No CPU node names a method the platform implements (psci, spin-table): {}. The board boots on one CPU and the boot says why for each other CPU.",
                    unsupported.join("; ")
                ),
            ),
            Some(m) => {
                let mixed = methods.iter().any(|&x| x != m);
                let mut text = format!("The CPU nodes' enable-method is {m:?}; used for CPUs whose node does not say.");
                if mixed {
                    text.push_str(&format!(" The nodes differ ({}): each CPU is started by its own node's method.", {
                        let mut d: Vec<&str> = methods.clone();
                        d.sort_unstable();
                        d.dedup();
                        d.join(", ")
                    }));
                }
                if !unsupported.is_empty() {
                    text.push_str(&format!(" These CPUs stay off, and the boot says why: {}.", unsupported.join("; ")));
                }
                (if m == "psci" { SmpMethod::Psci } else { SmpMethod::SpinTable }, text)
            }
        }
    };
    if smp == SmpMethod::Psci && info.psci_method.is_none() && machine.and_then(|m| m.adds_psci).is_none() {
        out.notes.push("smp: the CPU nodes ask for psci but the tree has no /psci node: CPU_ON has no conduit, so only the boot CPU will run".into());
    }
    if !unsupported.is_empty() {
        out.notes.push(format!("smp: {}", smp_comment));
    }
    if !platform.smp_methods.contains(&smp) {
        out.miss(format!("SMP: platform {} cannot start CPUs through {}", platform.name, smp.as_str()), format!("SMP: platform {} cannot start CPUs through {}", platform.name, smp.as_str()));
    }

    // RAM and the load address.
    // Banks in address order: trees list memory nodes in any order (QEMU's NUMA trees: the
    // highest node first), and the loader puts the image in the lowest bank.
    let mut dt_banks: Vec<(u64, u64, Option<u32>)> =
        info.banks.iter().filter(|b| b.range.size > 0).map(|b| (b.range.base, b.range.size, b.numa_node_id)).collect();
    dt_banks.sort_unstable();
    // RAM the platform cannot address is dropped as Linux's early_init_dt_add_memory_arch drops
    // it above MAX_MEMBLOCK_ADDR (32-bit ARM without LPAE: phys_addr_t is 32 bits), with its
    // messages.
    let limit = platform.phys_limit;
    let mut dropped: Vec<String> = Vec::new();
    dt_banks.retain_mut(|(base, size, _)| {
        let end = base.saturating_add(*size);
        if *base >= limit {
            dropped.push(format!("Ignoring memory block {base:#x} - {end:#x}"));
            false
        } else {
            if end > limit {
                dropped.push(format!("Ignoring memory range {limit:#x} - {end:#x}"));
                *size = limit - *base;
            }
            true
        }
    });
    if !dropped.is_empty() {
        out.notes.push(format!(
            "memory: platform {} reaches physical addresses below {limit:#x} only, and so does Linux without LPAE (MAX_MEMBLOCK_ADDR): {}",
            platform.name,
            dropped.join("; ")
        ));
    }
    let dt_total: u64 = dt_banks.iter().map(|&(_, s, _)| s).sum();
    // A machine whose -m sets RAM (virt) gets the tree's RAM: default-mem is its total.
    let ram_from_tree = machine.is_some_and(|m| m.ram.is_none() && !m.mem_fixed);
    let mut ram_from_dt = false;
    let (banks, ram_comment): (Vec<(u64, u64)>, String) = match machine.and_then(|m| m.ram) {
        Some((ram, why)) => (ram.to_vec(), why.to_owned()),
        None if !dt_banks.is_empty() => {
            let nodes: Vec<String> = dt_banks
                .iter()
                .map(|&(b, s, nid)| format!("{} at {}{}", size_arg(s), hex(b), nid.map_or(String::new(), |n| format!(" (NUMA node {n})"))))
                .collect();
            let what = if dt_banks.len() == 1 { nodes[0].clone() } else { format!("{} in {} banks, {}", size_arg(dt_total), dt_banks.len(), nodes.join(", ")) };
            (dt_banks.iter().map(|&(b, s, _)| (b, s)).collect(), format!("from the tree's /memory: {what}"))
        }
        None => {
            ram_from_dt = true;
            let what = match facts.memory_nodes.first() {
                Some((path, _)) => format!("the tree's {path} has no size (the boot loader fills it in)"),
                None => "the tree has no /memory node (the boot loader adds it)".to_owned(),
            };
            (Vec::new(), format!("{what}: RAM comes from the tree the boot loader hands over"))
        }
    };
    let ram_comment = if dropped.is_empty() { ram_comment } else { format!("{ram_comment}; dropped: {}", dropped.join("; ")) };
    if dt_banks.is_empty() && !dropped.is_empty() && machine.and_then(|m| m.ram).is_none() {
        out.miss(
            "memory: all RAM lies above what the platform addresses",
            format!("memory: every RAM bank of the tree lies at or above {limit:#x}, which platform {} cannot address ({})", platform.name, dropped.join("; ")),
        );
    }
    // Where the image goes: the lowest bank, or where the tree's memory node says RAM starts.
    let ram_base = match (banks.first(), facts.memory_nodes.iter().filter_map(|&(_, b)| b).min()) {
        (Some(&(b, _)), _) => Some((b, None)),
        (None, Some(b)) => Some((b, Some((format!("Where the tree's memory node says RAM starts ({})", hex(b)), format!("RAM starts at {} by the tree's memory node", hex(b)))))),
        (None, None) => match like.filter(|l| l.platform == platform.name) {
            Some(l) => {
                let text = image_offset(platform).0;
                let short = format!("--like {}'s RAM base (the tree does not say where RAM starts: check it against the board's manual)", l.name);
                Some((l.load_address - text, Some((short, format!("the tree does not say where RAM starts: {}'s RAM base (--like); check it against the board's manual", l.name)))))
            }
            None => {
                out.miss("memory: no /memory node and no --like: the RAM base is unknown", "memory: the tree has no /memory node, so neither the RAM nor where it starts (the load address) is known: pass --like BOARD or write load-address and [memory] by hand".into());
                None
            }
        },
    };
    let default_mem = match machine {
        Some(_) if ram_from_tree && dt_total > 0 => Some(size_arg(dt_total)),
        Some(m) => Some(m.default_mem.to_owned()),
        None => like.map(|l| l.qemu.default_mem.clone()),
    };
    let load_address = ram_base.as_ref().map_or(0, |&(b, _)| b) + image_offset(platform).0;
    if let Some((_, Some((_, why)))) = &ram_base {
        out.notes.push(format!("load address: {why}"));
    }

    // CPUs: the tree's model and count where the machine takes -cpu and -smp.
    let cpu_model = facts.cpu_compatible.first().map(|c| c.rsplit(',').next().unwrap_or(c).to_owned());
    let qemu_cpu = match (machine.and_then(|m| m.cpu), &cpu_model) {
        (None, _) => None,
        (Some(_), Some(model)) if QEMU_ARM_CPUS.contains(&model.as_str()) => Some((model.clone(), format!("The tree's CPUs are {}", facts.cpu_compatible[0]))),
        (Some(fallback), model) => {
            let why = format!(
                "The tree's CPUs are {}, which QEMU does not emulate: {fallback} instead",
                model.as_deref().map_or("not named", |_| facts.cpu_compatible[0].as_str())
            );
            out.notes.push(format!("qemu: {why}"));
            Some((fallback.to_owned(), why))
        }
    };
    let tree_cpus = info.cpus.iter().filter(|c| c.available).count() as u32;
    let default_cpus = match machine {
        Some(m) if !m.cpus_fixed && tree_cpus > board_desc::MAX_CPUS => {
            out.notes.push(format!("qemu: the tree has {tree_cpus} CPUs; the firmware runs at most {}: default-cpus = {}", board_desc::MAX_CPUS, board_desc::MAX_CPUS));
            board_desc::MAX_CPUS
        }
        Some(m) if !m.cpus_fixed && tree_cpus > 0 => tree_cpus,
        Some(m) => m.default_cpus,
        None => 1,
    };
    // NUMA: QEMU makes the tree's nodes again from -numa options (each node's RAM follows the
    // previous one's from the RAM base, in node order); the CPUs go where the tree puts them.
    let mut numa_args: Vec<String> = Vec::new();
    if ram_from_tree && dt_banks.iter().any(|&(_, _, n)| n.is_some()) {
        let mut by_node = dt_banks.clone();
        by_node.sort_by_key(|&(b, _, n)| (n, b));
        let contiguous = by_node.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0) && by_node[0].0 == banks[0].0;
        let nids: Vec<Option<u32>> = by_node.iter().map(|&(_, _, n)| n).collect();
        let one_bank_each = nids.windows(2).all(|w| w[0] != w[1]) && nids.iter().all(Option::is_some);
        if contiguous && one_bank_each {
            for &(_, size, nid) in &by_node {
                let nid = nid.unwrap_or(0);
                let cpus: Vec<usize> = info.cpus.iter().filter(|c| c.available).enumerate().filter(|(_, c)| c.numa_node_id == Some(nid)).map(|(i, _)| i).collect();
                numa_args.extend(["-object".into(), format!("memory-backend-ram,id=m{nid},size={}", size_arg(size))]);
                let cpus = if cpus.is_empty() { String::new() } else { format!(",cpus={}", cpu_list(&cpus)) };
                numa_args.extend(["-numa".into(), format!("node,nodeid={nid}{cpus},memdev=m{nid}")]);
            }
            for &(from, to, d) in &info.distances {
                if from < to {
                    numa_args.extend(["-numa".into(), format!("dist,src={from},dst={to},val={d}")]);
                }
            }
            out.notes.push(format!("qemu: the tree has {} NUMA nodes: args repeat them with -numa", by_node.len()));
        } else {
            out.notes.push("qemu: the tree's NUMA nodes are not laid out the way QEMU's -numa makes them (one bank per node, in node order from the RAM base): no -numa args written; add them by hand".into());
        }
    }

    if !out.missing.is_empty() {
        return Ok(out);
    }
    let (driver, node) = console.expect("a missing console returned above");
    out.emulated = machine.is_some();
    out.notes.push(format!("console: {console_comment}"));
    out.notes.push(format!("memory: {}; load address {:#x}", if ram_comment.is_empty() { "from the tree".into() } else { ram_comment.clone() }, load_address));
    out.notes.push(format!("smp: enable-method {}", smp.as_str()));
    if let Some(m) = machine {
        out.notes.push(format!("qemu: machine {} (root compatible {root_compat:?})", m.machine));
    }

    // board.toml
    let mut t = String::new();
    let model = facts.model.clone().unwrap_or_else(|| root_compat.clone());
    comment(&mut t, &format!("{model}: written by `cargo xtask new-board {name} --from-dtb {dtb_file_name}{}`.", like.map_or(String::new(), |l| format!(" --like {}", l.name))));
    let _ = writeln!(t, "# Checked by `cargo xtask` before every build and by build.rs, which turns it into the");
    let _ = writeln!(t, "# firmware's `BOARD` (board_desc::firmware_source) and the link address.");
    let _ = writeln!(t);
    let _ = writeln!(t, "name = {}", toml_str(name));
    let desc = match machine {
        Some(m) => format!("{model} ({} -machine {}), device tree, {} console", platform.qemu_binary, m.machine, driver.as_str()),
        None => format!("{model}, device tree, {} console", driver.as_str()),
    };
    let _ = writeln!(t, "description = {}", toml_str(&desc));
    let _ = writeln!(t, "# platforms/<platform> holds the CPU, boot and discovery code ({}).", out.notes[0].trim_start_matches(&format!("platform {}: ", platform.name)));
    let _ = writeln!(t, "platform = {}", toml_str(platform.name));
    let _ = writeln!(t, "target = {}", toml_str(like.filter(|l| l.platform == platform.name).map_or(platform.target, |l| l.target.as_str())));
    let _ = writeln!(t, "image = {}", toml_str(match platform.image {
        board_desc::ImageKind::Arm64Image => "arm64-image",
        board_desc::ImageKind::ArmZimage => "arm-zimage",
        board_desc::ImageKind::MultibootElf => "multiboot-elf",
    }));
    comment(
        &mut t,
        &format!(
            "{} + {}.",
            match &ram_base {
                Some((_, Some((short, _)))) => short.clone(),
                _ => "The first RAM bank".to_owned(),
            },
            image_offset(platform).1
        ),
    );
    let _ = writeln!(t, "load-address = {}", hex(load_address));
    let _ = writeln!(t);
    let _ = writeln!(t, "[console]");
    comment(&mut t, &format!("{console_comment}."));
    if driver != ConsoleDriver::Pl011 {
        let _ = writeln!(t, "# At boot the node's reg-shift, reg-io-width, clock-frequency and current-speed are read; without");
        let _ = writeln!(t, "# current-speed the UART is taken over as the boot loader left it.");
    }
    let _ = writeln!(t, "driver = {}", toml_str(driver.as_str()));
    match &node {
        Some(n) => {
            let _ = writeln!(t, "node = {}", toml_str(n));
        }
        None => {
            let _ = writeln!(t, "device-tree = true");
        }
    }
    let _ = writeln!(t);
    let _ = writeln!(t, "[memory]");
    if ram_from_dt {
        comment(&mut t, &format!("{ram_comment}. The banks found are reported at boot; a tree without RAM stops the boot, saying so."));
        let _ = writeln!(t, "from-device-tree = true");
    } else {
        comment(&mut t, &format!("RAM at qemu.default-mem: {ram_comment}."));
        let banks_txt: Vec<String> = banks.iter().map(|&(b, s)| format!("{{ base = {}, size = {} }}", hex(b), hex(s))).collect();
        let _ = writeln!(t, "banks = [{}]", banks_txt.join(", "));
    }
    let _ = writeln!(t);
    let _ = writeln!(t, "[smp]");
    comment(&mut t, &smp_comment);
    let _ = writeln!(t, "enable-method = {}", toml_str(smp.as_str()));
    let _ = writeln!(t);
    let _ = writeln!(t, "[qemu]");
    match machine {
        Some(m) => {
            let _ = writeln!(t, "# QEMU's {} machine, from the root compatible {root_compat:?}.", m.machine);
            let _ = writeln!(t, "binary = {}", toml_str(platform.qemu_binary));
            let _ = writeln!(t, "machine = {}", toml_str(m.machine));
            if let Some((cpu, why)) = &qemu_cpu {
                comment(&mut t, &format!("{why}."));
                let _ = writeln!(t, "cpu = {}", toml_str(cpu));
            }
            if ram_from_tree {
                let _ = writeln!(t, "# The tree's RAM ([memory] banks).");
            }
            let _ = writeln!(t, "default-mem = {}", toml_str(default_mem.as_deref().unwrap_or(m.default_mem)));
            if m.mem_fixed {
                let _ = writeln!(t, "mem-fixed = true");
            }
            if default_cpus != 1 {
                if !m.cpus_fixed {
                    let _ = writeln!(t, "# The tree's CPU nodes.");
                }
                let _ = writeln!(t, "default-cpus = {default_cpus}");
            }
            if m.cpus_fixed {
                let _ = writeln!(t, "cpus-fixed = true");
            }
            if m.needs_dtb {
                let _ = writeln!(t, "# The machine has no device tree of its own: this one goes in with -dtb.");
                let _ = writeln!(t, "dtb = {}", toml_str(dtb_file_name));
            }
        }
        None => {
            let l = like.expect("a missing machine without --like returned above");
            let q = &l.qemu;
            comment(&mut t, &format!(
                "No QEMU machine emulates {root_compat:?}: this section is --like {}'s, so that the image builds (for the real board). `cargo xtask run` would boot it on QEMU's {} with that machine's device tree, not this board's. default-mem covers this board's RAM.",
                l.name, q.machine
            ));
            let _ = writeln!(t, "binary = {}", toml_str(&q.binary));
            let _ = writeln!(t, "machine = {}", toml_str(&q.machine));
            if let Some(cpu) = &q.cpu {
                let _ = writeln!(t, "cpu = {}", toml_str(cpu));
            }
            let total: u64 = banks.iter().map(|&(_, s)| s).sum();
            let like_mem = board_desc::parse_size(&q.default_mem).map_err(anyhow::Error::msg)?;
            let mem = if total > like_mem { format!("{}M", total.div_ceil(1 << 20)) } else { q.default_mem.clone() };
            let _ = writeln!(t, "default-mem = {}", toml_str(&mem));
        }
    }
    let (exit, args): (&str, Vec<String>) = match (platform.exit, like.filter(|l| l.platform == platform.name)) {
        (_, Some(l)) => (if l.qemu.exit == board_desc::ExitDevice::Semihosting { "semihosting" } else { "isa-debug-exit" }, l.qemu.args.clone()),
        (board_desc::ExitDevice::Semihosting, None) => ("semihosting", vec!["-semihosting-config".into(), "enable=on,target=native".into()]),
        (board_desc::ExitDevice::IsaDebugExit, None) => ("isa-debug-exit", vec!["-device".into(), "isa-debug-exit,iobase=0xf4,iosize=0x04".into()]),
    };
    let args = [args, numa_args].concat();
    let _ = writeln!(t, "exit = {}", toml_str(exit));
    let _ = writeln!(t, "args = [{}]", args.iter().map(|a| toml_str(a)).collect::<Vec<_>>().join(", "));
    if let Some(m) = machine.filter(|m| !m.firmware.is_empty()) {
        let _ = writeln!(t, "# Real firmware that boots the image on QEMU's {} (cargo xtask image, run --firmware).", m.machine);
        let _ = writeln!(t, "firmware = [{}]", m.firmware.iter().map(|f| toml_str(f.as_str())).collect::<Vec<_>>().join(", "));
    }
    if let Some((min, per_cpu, max, why)) = machine.and_then(|m| m.mem_limits) {
        let _ = writeln!(t);
        let _ = writeln!(t, "[qemu.mem-limits]");
        let _ = writeln!(t, "# The RAM sizes --mem may ask for: {min} plus {per_cpu} per CPU at least, {max} at most.");
        let _ = writeln!(t, "min = {}", toml_str(min));
        let _ = writeln!(t, "min-per-cpu = {}", toml_str(per_cpu));
        let _ = writeln!(t, "max = {}", toml_str(max));
        let _ = writeln!(t, "why-max = {}", toml_str(why));
    }

    let files = &mut out.files;
    files.push(("board.toml".into(), t.into_bytes()));
    if machine.is_some_and(|m| m.needs_dtb) {
        files.push((dtb_file_name.into(), blob.to_vec()));
    }
    files.push(("Cargo.toml".into(), cargo_toml(name, &model, platform).into_bytes()));
    files.push(("build.rs".into(), BUILD_RS.as_bytes().to_vec()));
    files.push(("src/main.rs".into(), main_rs(&model, platform).into_bytes()));
    Ok(out)
}

const BUILD_RS: &str = "//! The board is its board.toml: checked, turned into `BOARD` and the link address, linked with
//! the platform's script (board_desc::build_script).
fn main() {
    board_desc::build_script();
}
";

fn cargo_toml(name: &str, model: &str, p: &PlatformInfo) -> String {
    format!(
        r#"[package]
name = "{name}"
description = "{model}, booted by QEMU"
edition.workspace = true
license.workspace = true
version.workspace = true
publish.workspace = true

[[bin]]
name = "{name}"
test = false
bench = false

[dependencies]
{pkg} = {{ path = "../../platforms/{dir}" }}
kernel = {{ workspace = true }}
app-select = {{ workspace = true }}
defmt = {{ workspace = true }}

[build-dependencies]
board-desc = {{ workspace = true }}

[lints]
workspace = true
"#,
        model = model.replace('"', "'"),
        pkg = p.package,
        dir = p.name
    )
}

fn main_rs(model: &str, p: &PlatformInfo) -> String {
    format!(
        r#"//! {model}: the board's wiring. What the board is lives in board.toml; build.rs turns it into
//! `BOARD`.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

include!(concat!(env!("OUT_DIR"), "/board.rs"));

{krate}::entry!(BOARD, main);

fn main(m: &mut {krate}::{ty}) -> ! {{
    kernel::start_kernel(m, None, &app_select::APP)
}}
"#,
        krate = p.crate_path,
        ty = p.machine_type
    )
}

/// Adds `boards/NAME` to the workspace members in the root Cargo.toml, after the last board.
fn add_to_workspace(root: &Path, name: &str) -> Result<()> {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).context("reading Cargo.toml")?;
    let entry = format!("    \"boards/{name}\",\n");
    if text.contains(&entry) {
        return Ok(());
    }
    let Some(last) = text.match_indices("    \"boards/").map(|(i, _)| i).filter(|&i| !text[i..].starts_with("    \"boards/board-desc")).last() else {
        bail!("Cargo.toml: no \"boards/…\" entry in [workspace] members to add boards/{name} after");
    };
    let end = last + text[last..].find('\n').context("Cargo.toml ends inside members")? + 1;
    let new = format!("{}{entry}{}", &text[..end], &text[end..]);
    std::fs::write(&path, new).context("writing Cargo.toml")
}

/// The package names a new board may not take, each with where it is used: the workspace
/// members (root `Cargo.toml` `[workspace] members`, `dir/*` expanded) and every package in
/// `Cargo.lock` (a board named like a dependency would shadow it in the boards' own
/// `Cargo.toml`).
fn taken_names(root: &Path) -> Result<Vec<(String, String)>> {
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let doc: toml::Table = text.parse().with_context(|| format!("{} is not TOML", manifest.display()))?;
    let members: Vec<&str> = doc
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(toml::Value::as_array)
        .map(|a| a.iter().filter_map(toml::Value::as_str).collect())
        .unwrap_or_default();
    let mut dirs = Vec::new();
    for m in members {
        match m.strip_suffix("/*") {
            Some(parent) => {
                let Ok(entries) = std::fs::read_dir(root.join(parent)) else { continue };
                dirs.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
            None => dirs.push(root.join(m)),
        }
    }
    let mut taken = Vec::new();
    for dir in dirs {
        let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        let Ok(doc) = text.parse::<toml::Table>() else { continue };
        if let Some(name) = doc.get("package").and_then(|p| p.get("name")).and_then(toml::Value::as_str) {
            let rel = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
            taken.push((name.to_owned(), format!("the workspace member {rel}")));
        }
    }
    if let Ok(lock) = std::fs::read_to_string(root.join("Cargo.lock")) {
        let doc: toml::Table = lock.parse().context("Cargo.lock is not TOML")?;
        for p in doc.get("package").and_then(toml::Value::as_array).into_iter().flatten() {
            if let Some(name) = p.get("name").and_then(toml::Value::as_str) {
                if !taken.iter().any(|(n, _)| n == name) {
                    taken.push((name.to_owned(), "a dependency in Cargo.lock".to_owned()));
                }
            }
        }
    }
    Ok(taken)
}

/// Refuses a board name cargo would refuse as a package name, or one a package of the
/// workspace already has (two packages of one name break every cargo command).
fn check_new_name(name: &str, taken: &[(String, String)]) -> Result<()> {
    board_desc::check_package_name(name).map_err(|why| anyhow::anyhow!("board name: {why}; nothing written"))?;
    // Cargo compares package names with '-' and '_' the same for crate names.
    let same = |other: &str| other.replace('_', "-") == name;
    if let Some((other, what)) = taken.iter().find(|(n, _)| same(n)) {
        bail!("board name {name:?}: {what} is already called {other:?}, and a workspace cannot hold two packages of one name; pick another name (nothing written)");
    }
    Ok(())
}

/// The command: scaffolds, and writes only when nothing is missing.
pub fn run(root: &Path, name: &str, dtb: &Path, like: Option<&str>) -> Result<()> {
    check_new_name(name, &taken_names(root)?)?;
    let dir = root.join("boards").join(name);
    if dir.exists() {
        bail!("{} already exists; pick another name or remove it first", dir.display());
    }
    let blob = std::fs::read(dtb).with_context(|| format!("reading {}", dtb.display()))?;
    let like = like.map(|l| crate::board::find(root, l)).transpose().context("--like")?;
    let file_name = dtb
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .context("--from-dtb has no file name")?;
    // Debian's trees are named arm64__vendor__board.dtb in testdata: keep the board part.
    let file_name = file_name.rsplit("__").next().unwrap_or(&file_name).to_owned();
    let s = scaffold(name, &blob, &file_name, like.as_ref())?;
    for n in &s.notes {
        println!("new-board: {n}");
    }
    if !s.missing.is_empty() {
        for m in &s.missing {
            eprintln!("new-board: missing: {m}");
        }
        bail!("boards/{name} not written: {} thing(s) missing (above)", s.missing.len());
    }
    // Written and checked in a scratch folder first, so that a description that would not
    // validate never lands in boards/.
    let scratch = root.join("target").join("new-board").join(name);
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()))?;
    }
    for (rel, bytes) in &s.files {
        let path = scratch.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    let checked = board_desc::load(&scratch)
        .map_err(anyhow::Error::from)
        .and_then(|b| crate::board::check_against_dtb(&b));
    if let Err(e) = checked {
        bail!("boards/{name} not written: the generated description does not validate (a scaffolder bug, please report): {e:#}");
    }
    std::fs::create_dir_all(root.join("boards")).context("creating boards/")?;
    std::fs::rename(&scratch, &dir).with_context(|| format!("moving {} to {}", scratch.display(), dir.display()))?;
    for (rel, _) in &s.files {
        println!("new-board: wrote {}", dir.join(rel).strip_prefix(root).unwrap_or(&dir.join(rel)).display());
    }
    add_to_workspace(root, name)?;
    println!("new-board: added boards/{name} to the workspace members in Cargo.toml");
    // The same checks every build runs.
    let board = crate::board::find(root, name)?;
    let next = if s.emulated { "run" } else { "build" };
    println!("new-board: {} validates; next: cargo xtask {next} --board {name}", board.file().strip_prefix(root).unwrap_or(&board.file()).display());
    Ok(())
}

/// The board `new-board NAME --from-dtb DTB` would write, written to
/// `target/new-board-survey/NAME` and loaded from there (validated as `new-board` validates it);
/// for a `--like` board that is not in this tree.
///
/// # Errors
/// The tree cannot be read, something is missing, or the board does not validate.
pub fn scratch_board(root: &Path, name: &str, dtb: &Path) -> Result<Board> {
    let blob = std::fs::read(dtb).with_context(|| format!("reading {}", dtb.display()))?;
    let s = scaffold(name, &blob, "board.dtb", None)?;
    if !s.missing.is_empty() {
        bail!("{}: no board {name}: {}", dtb.display(), s.missing.join("; "));
    }
    let dir = root.join("target").join("new-board-survey").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    for (rel, bytes) in &s.files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    let b = board_desc::load(&dir)?;
    crate::board::check_against_dtb(&b)?;
    Ok(b)
}

/// What `--survey` found in one folder of device trees.
#[derive(Debug, Default)]
pub struct Survey {
    pub dir: PathBuf,
    /// `.dtb` files read.
    pub trees: usize,
    /// A board that validates, for a machine QEMU emulates.
    pub valid_emulated: usize,
    /// The trees of `valid_emulated`, and QEMU's machine for each.
    pub emulated: Vec<(String, String)>,
    /// A board that validates, building with `--like`'s `[qemu]` (QEMU does not emulate it).
    pub valid_like: usize,
    /// Files that are not a usable device tree, with why.
    pub unreadable: Vec<(String, String)>,
    /// Generated descriptions that do not validate (a scaffolder bug), with why.
    pub invalid: Vec<(String, String)>,
    /// Refused trees, each with its missing-piece keys.
    pub refused: Vec<(String, Vec<String>)>,
    /// The first valid board of each console driver and platform: (driver, platform) → the
    /// tree and the board's files as new-board writes them.
    pub first_of_driver: std::collections::BTreeMap<(String, String), (String, Vec<(PathBuf, Vec<u8>)>)>,
}

impl Survey {
    /// Trees that give a valid board.
    pub fn valid(&self) -> usize {
        self.valid_emulated + self.valid_like
    }

    /// Missing pieces, most common first (ties by name): key and number of trees.
    pub fn ranked(&self) -> Vec<(String, usize)> {
        let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for (_, keys) in &self.refused {
            let mut seen: Vec<&str> = keys.iter().map(String::as_str).collect();
            seen.sort_unstable();
            seen.dedup();
            for k in seen {
                *counts.entry(k).or_default() += 1;
            }
        }
        let mut v: Vec<(String, usize)> = counts.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// The folder's result as Markdown tables (what docs/PORTING.md shows).
    pub fn table(&self, like: Option<&str>) -> String {
        let mut t = String::new();
        let pct = |n: usize| if self.trees == 0 { 0.0 } else { 100.0 * n as f64 / self.trees as f64 };
        let _ = writeln!(t, "{}: {} trees, {} give a valid board ({:.0}%)", self.dir.display(), self.trees, self.valid(), pct(self.valid()));
        let _ = writeln!(t);
        let _ = writeln!(t, "| outcome | trees |");
        let _ = writeln!(t, "|---|---:|");
        let mut by_machine: Vec<(&str, Vec<&str>)> = Vec::new();
        for (f, m) in &self.emulated {
            match by_machine.iter_mut().find(|(x, _)| x == m) {
                Some((_, fs)) => fs.push(f),
                None => by_machine.push((m, vec![f])),
            }
        }
        let machines: Vec<String> = by_machine
            .iter()
            .map(|(m, fs)| if fs.len() == 1 { format!("{m} ({})", fs[0]) } else { format!("{m} ({} trees)", fs.len()) })
            .collect();
        let _ = writeln!(
            t,
            "| valid board, QEMU emulates the machine{} | {} |",
            if machines.is_empty() { String::new() } else { format!(": {}", machines.join(", ")) },
            self.valid_emulated
        );
        let _ = writeln!(t, "| valid board, [qemu] from --like {} (builds for the real board) | {} |", like.unwrap_or("(none given)"), self.valid_like);
        let _ = writeln!(t, "| refused: a piece is missing | {} |", self.refused.len());
        if !self.invalid.is_empty() {
            let _ = writeln!(t, "| generated but does not validate (scaffolder bug) | {} |", self.invalid.len());
        }
        if !self.unreadable.is_empty() {
            let _ = writeln!(t, "| not a usable device tree | {} |", self.unreadable.len());
        }
        let ranked = self.ranked();
        if !ranked.is_empty() {
            let _ = writeln!(t);
            let _ = writeln!(t, "| missing piece (most common first) | trees |");
            let _ = writeln!(t, "|---|---:|");
            for (k, n) in ranked {
                let _ = writeln!(t, "| {} | {n} |", k.replace('|', "\\|"));
            }
        }
        for (f, why) in self.invalid.iter().chain(&self.unreadable) {
            let _ = writeln!(t, "\n{f}: {why}");
        }
        t
    }
}

/// Runs the scaffolder over every `.dtb` in `dir` (sorted by name), writing nothing into
/// boards/: each board that is generated is written to `target/new-board-survey/` and
/// validated there as `new-board` validates it, then removed.
///
/// # Errors
/// `dir` cannot be read, or the scratch folder cannot be written.
pub fn survey(root: &Path, dir: &Path, likes: &[Board]) -> Result<Survey> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    files.retain(|f| f.extension().is_some_and(|e| e == "dtb"));
    files.sort();
    let mut out = Survey { dir: dir.to_path_buf(), trees: files.len(), ..Survey::default() };
    let name = "survey-board";
    let scratch = root.join("target").join("new-board-survey").join(name);
    for f in &files {
        let shown = f.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let blob = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let like = like_for(&blob, likes);
        let s = match scaffold(name, &blob, "board.dtb", like) {
            Ok(s) => s,
            Err(e) => {
                out.unreadable.push((shown, format!("{e:#}")));
                continue;
            }
        };
        if !s.missing.is_empty() {
            out.refused.push((shown, s.missing_keys.clone()));
            continue;
        }
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()))?;
        }
        for (rel, bytes) in &s.files {
            let path = scratch.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        let checked = board_desc::load(&scratch).map_err(anyhow::Error::from).and_then(|b| crate::board::check_against_dtb(&b));
        match checked {
            Ok(()) if s.emulated => {
                out.valid_emulated += 1;
                let machine = s.notes.iter().find_map(|n| n.strip_prefix("qemu: machine ")).unwrap_or("?");
                // The machine's name, without its options (virt,highmem=off is virt).
                out.emulated.push((shown.clone(), machine.split([' ', ',']).next().unwrap_or(machine).to_owned()));
            }
            Ok(()) => out.valid_like += 1,
            Err(e) => {
                out.invalid.push((shown, format!("{e:#}")));
                continue;
            }
        }
        if let Ok(b) = board_desc::load(&scratch) {
            if let Some(c) = &b.console {
                out.first_of_driver.entry((c.driver.as_str().to_owned(), b.platform.clone())).or_insert((shown, s.files.clone()));
            }
        }
    }
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()))?;
    }
    Ok(out)
}

/// The `--like` board for a tree among several: the first whose platform runs the tree's CPUs,
/// else the first (the scaffolder then says that the tree wins).
fn like_for<'b>(blob: &[u8], likes: &'b [Board]) -> Option<&'b Board> {
    let platform = DeviceTree::new(blob).ok().and_then(|dt| tree_facts(&dt).ok()).and_then(|f| cpu_platform(&f));
    likes.iter().find(|l| platform.is_some_and(|p| p.name == l.platform)).or(likes.first())
}

/// `cargo xtask new-board --survey DIR…`: [`survey`] per folder, printed as tables.
///
/// # Errors
/// As [`survey`]; `--like` names no board; a generated board that does not validate.
pub fn run_survey(root: &Path, dirs: &[PathBuf], likes: &[String]) -> Result<Vec<Survey>> {
    let like_boards = likes.iter().map(|l| crate::board::find(root, l)).collect::<Result<Vec<_>>>().context("--like")?;
    let like = (!likes.is_empty()).then(|| likes.join(", "));
    let mut all = Vec::new();
    for d in dirs {
        let s = survey(root, d, &like_boards)?;
        println!("{}", s.table(like.as_deref()));
        if !s.invalid.is_empty() {
            bail!("{}: {} generated board(s) do not validate (a scaffolder bug, listed above)", d.display(), s.invalid.len());
        }
        all.push(s);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> Vec<u8> {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/dtb").join(name)).unwrap()
    }

    fn board_toml(s: &Scaffold) -> Board {
        let text = s.files.iter().find(|(p, _)| p == Path::new("board.toml")).expect("board.toml");
        board_desc::parse(std::str::from_utf8(&text.1).unwrap()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_board_joins_the_workspace_once() {
        let root = std::env::temp_dir().join(format!("xtask-newboard-ws-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let text = "[workspace]\nmembers = [\n    \"mm/*\",\n    \"boards/board-desc\",\n    \"boards/a\",\n    \"boards/b\",\n    \"xtask\",\n]\n";
        std::fs::write(root.join("Cargo.toml"), text).unwrap();
        add_to_workspace(&root, "c").unwrap();
        add_to_workspace(&root, "c").unwrap();
        let got = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert_eq!(got, text.replace("    \"boards/b\",\n", "    \"boards/b\",\n    \"boards/c\",\n"));
        std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = [\"xtask\"]\n").unwrap();
        assert!(add_to_workspace(&root, "c").is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_name_cargo_or_the_workspace_would_refuse_is_refused_before_writing() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let taken = taken_names(root).unwrap();
        for (name, why) in [
            ("xtask", "the workspace member xtask is already called \"xtask\""),
            ("kernel", "the workspace member kernel is already called \"kernel\""),
            ("board-desc", "the workspace member boards/board-desc"),
            ("qemu-raspi3b", "the workspace member boards/qemu-raspi3b"),
            ("mm-init", "the workspace member mm/init"),
            ("serde", "a dependency in Cargo.lock"),
            ("1board", "starts with a digit, which cargo refuses"),
            ("fn", "Rust keyword"),
        ] {
            let e = check_new_name(name, &taken).expect_err(name).to_string();
            assert!(e.contains(why), "{name}: {e}");
        }
        check_new_name("my-new-board", &taken).unwrap();
        // `run` stops before it reads the tree or writes anything.
        let e = run(root, "xtask", Path::new("/nonexistent.dtb"), None).unwrap_err().to_string();
        assert!(e.contains("already called \"xtask\""), "{e}");
        assert!(!root.join("boards/xtask").exists());
    }

    #[test]
    fn hex_groups_by_four() {
        assert_eq!(hex(0x3c00_0000), "0x3c00_0000");
        assert_eq!(hex(0x20_0000), "0x20_0000");
        assert_eq!(hex(0), "0x0");
        assert_eq!(hex(0xfff), "0xfff");
    }

    /// The acceptance check: on Debian's rpi3b tree the scaffolder writes the committed board,
    /// but for what docs/PORTING.md lists as manual steps.
    #[test]
    fn rpi3b_scaffold_matches_the_committed_board() {
        let s = scaffold("qemu-raspi3b", &testdata("arm64__broadcom__bcm2837-rpi-3-b.dtb"), "bcm2837-rpi-3-b.dtb", None).unwrap();
        assert!(s.missing.is_empty(), "{:?}", s.missing);
        let mut got = board_toml(&s);
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let committed = board_desc::load(&root.join("boards/qemu-raspi3b")).unwrap();
        got.dir = committed.dir.clone();
        got.validate().unwrap();
        // Manual steps (docs/PORTING.md): the description's wording and the board's own
        // reservations.
        got.description = committed.description.clone();
        got.reserve = committed.reserve.clone();
        assert_eq!(got, committed);
        // The dtb goes along, byte for byte.
        let dtb = s.files.iter().find(|(p, _)| p == Path::new("bcm2837-rpi-3-b.dtb")).unwrap();
        assert_eq!(dtb.1, std::fs::read(root.join("boards/qemu-raspi3b/bcm2837-rpi-3-b.dtb")).unwrap());
        assert!(s.notes.iter().any(|n| n.contains("brcm,bcm2835-aux-uart")), "{:?}", s.notes);
    }

    /// The ZCU102 folder is exactly what the scaffolder writes from Debian's tree.
    #[test]
    fn zcu102_scaffold_matches_the_committed_board() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let blob = std::fs::read(root.join("../shared/testdata/dtb-arm64/arm64__xilinx__zynqmp-zcu102-revB.dtb")).unwrap();
        let s = scaffold("qemu-xlnx-zcu102", &blob, "zynqmp-zcu102-revB.dtb", None).unwrap();
        assert!(s.missing.is_empty() && s.emulated, "{:?}", s.missing);
        for (rel, bytes) in &s.files {
            let committed = std::fs::read(root.join("boards/qemu-xlnx-zcu102").join(rel)).unwrap();
            assert!(committed == *bytes, "boards/qemu-xlnx-zcu102/{} differs from what new-board writes", rel.display());
        }
        let b = board_desc::load(&root.join("boards/qemu-xlnx-zcu102")).unwrap();
        assert_eq!((b.console.unwrap().driver, b.qemu.machine.as_str(), b.qemu.default_cpus), (ConsoleDriver::CadenceUart, "xlnx-zcu102", 4));
    }

    /// The Raspberry Pi 2 B folder is exactly what the scaffolder writes from Debian's tree:
    /// armv7a, the PL011 behind /soc's ranges, QEMU's 0x3c000000 bytes of RAM at 0, and /cpus's
    /// brcm,bcm2836-smp method.
    #[test]
    fn raspi2b_scaffold_matches_the_committed_board() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let s = scaffold("qemu-raspi2b", &armhf("armhf__bcm2836-rpi-2-b.dtb"), "bcm2836-rpi-2-b.dtb", None).unwrap();
        assert!(s.missing.is_empty() && s.emulated, "{:?}", s.missing);
        for (rel, bytes) in &s.files {
            let committed = std::fs::read(root.join("boards/qemu-raspi2b").join(rel)).unwrap();
            assert!(committed == *bytes, "boards/qemu-raspi2b/{} differs from what new-board writes", rel.display());
        }
        let b = board_desc::load(&root.join("boards/qemu-raspi2b")).unwrap();
        assert_eq!((b.platform.as_str(), b.qemu.machine.as_str(), b.qemu.default_cpus, b.smp.enable_method), ("armv7a", "raspi2b", 4, SmpMethod::Bcm2836Smp));
        assert_eq!((b.load_address, b.memory.banks.clone()), (0x1_0000, vec![board_desc::Range { base: 0, size: 0x3c00_0000 }]));
    }

    /// The Orange Pi PC folder is exactly what the scaffolder writes from Debian's tree: the
    /// DesignWare UART of stdout-path, QEMU's RAM and PSCI (the tree has neither /memory nor
    /// /psci).
    #[test]
    fn orangepi_pc_scaffold_matches_the_committed_board() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = root.join("boards/qemu-orangepi-pc");
        let blob = std::fs::read(dir.join("sun8i-h3-orangepi-pc.dtb")).unwrap();
        let s = scaffold("qemu-orangepi-pc", &blob, "sun8i-h3-orangepi-pc.dtb", None).unwrap();
        assert!(s.missing.is_empty() && s.emulated, "{:?}", s.missing);
        for (rel, bytes) in &s.files {
            let committed = std::fs::read(dir.join(rel)).unwrap();
            assert!(committed == *bytes, "boards/qemu-orangepi-pc/{} differs from what new-board writes", rel.display());
        }
        let b = board_desc::load(&dir).unwrap();
        assert_eq!((b.console.unwrap().driver, b.qemu.machine.as_str(), b.qemu.default_cpus, b.smp.enable_method), (ConsoleDriver::Uart16550, "orangepi-pc", 4, SmpMethod::Psci));
        assert_eq!((b.load_address, b.memory.banks.clone()), (0x4001_0000, vec![board_desc::Range { base: 0x4000_0000, size: 0x4000_0000 }]));
        let text = std::fs::read_to_string(dir.join("board.toml")).unwrap();
        assert!(text.contains("but QEMU's orangepi-pc emulates PSCI on smc and\n# adds it to the tree it passes"), "{text}");
    }

    /// The i.MX6Q SABRE Lite folder is exactly what the scaffolder writes from Debian's tree (in
    /// xtask/testdata): QEMU wires its first -serial to UART1, not stdout-path's UART2, so the
    /// board's console is UART1's node; the CPUs have no method in the tree, and the root
    /// compatible fsl,imx6q gives Linux's machine method, the i.MX6 SRC (mdesc->smp).
    #[test]
    fn sabrelite_scaffold_matches_the_committed_board() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = root.join("boards/qemu-sabrelite");
        let blob = std::fs::read(root.join("xtask/testdata/imx6q-sabrelite.dtb")).unwrap();
        let s = scaffold("qemu-sabrelite", &blob, "imx6q-sabrelite.dtb", None).unwrap();
        assert!(s.missing.is_empty() && s.emulated, "{:?}", s.missing);
        for (rel, bytes) in &s.files {
            let committed = std::fs::read(dir.join(rel)).unwrap();
            assert!(committed == *bytes, "boards/qemu-sabrelite/{} differs from what new-board writes", rel.display());
        }
        let b = board_desc::load(&dir).unwrap();
        let c = b.console.clone().unwrap();
        assert_eq!((c.driver, c.node.as_deref()), (ConsoleDriver::ImxUart, Some("/soc/bus@2000000/spba-bus@2000000/serial@2020000")));
        assert_eq!((b.qemu.machine.as_str(), b.load_address, b.smp.enable_method, b.qemu.default_cpus), ("sabrelite", 0x1001_0000, SmpMethod::Imx6Src, 4));
        assert_eq!(b.memory.banks.clone(), vec![board_desc::Range { base: 0x1000_0000, size: 0x4000_0000 }]);
        assert!(s.notes.iter().any(|n| n.contains("QEMU's sabrelite wires -serial to its /serial@2020000")), "{:?}", s.notes);
        let text = std::fs::read_to_string(dir.join("board.toml")).unwrap();
        assert!(text.contains("enable-method = \"imx6-src\""), "{text}");
    }

    /// The scaffolder keeps the tree's RAM and CPU, so the input is QEMU's dump of the machine
    /// the committed board describes (`-machine virt -cpu cortex-a53 -m 256M`, committed with
    /// the board for the -dtb boot test; its /memreserve/ and /reserved-memory additions are
    /// not the scaffolder's business).
    #[test]
    fn virt_scaffold_matches_the_committed_board() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let blob = std::fs::read(root.join("boards/qemu-virt-aarch64/testdata/virt-reserved.dtb")).unwrap();
        let s = scaffold("qemu-virt-aarch64", &blob, "virt.dtb", None).unwrap();
        assert!(s.missing.is_empty(), "{:?}", s.missing);
        let mut got = board_toml(&s);
        let committed = board_desc::load(&root.join("boards/qemu-virt-aarch64")).unwrap();
        got.dir = committed.dir.clone();
        got.description = committed.description.clone();
        assert_eq!(got, committed);
        assert!(!s.files.iter().any(|(p, _)| p.extension().is_some_and(|e| e == "dtb")), "virt has its own tree");
    }

    /// QEMU's 8 GiB virt tree: the tree's 8 GiB and Cortex-A57, not the table's defaults.
    #[test]
    fn virt_keeps_the_trees_ram_and_cpu() {
        let s = scaffold("v8", &testdata("qemu__aarch64-virt-8G.dtb"), "virt.dtb", None).unwrap();
        assert!(s.missing.is_empty(), "{:?}", s.missing);
        let text = String::from_utf8(s.files[0].1.clone()).unwrap();
        let mut b = board_toml(&s);
        b.dir = PathBuf::from("boards/v8");
        b.validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.memory.banks, [board_desc::Range { base: 0x4000_0000, size: 8 << 30 }]);
        assert_eq!((b.qemu.default_mem.as_str(), b.qemu.cpu.as_deref(), b.load_address), ("8G", Some("cortex-a57"), 0x4020_0000));
        assert!(text.contains("# RAM at qemu.default-mem: from the tree's /memory: 8G at 0x4000_0000."), "{text}");
        // Four CPUs in the tree, four by default.
        let s = scaffold("v4", &testdata("qemu__aarch64-virt-1G-smp4.dtb"), "virt.dtb", None).unwrap();
        assert_eq!(board_toml(&s).qemu.default_cpus, 4);
    }

    /// QEMU's uneven two-node tree lists node 1's bank (0x80000000) first: the banks are sorted,
    /// the load address is in the lowest one (where QEMU loads the Image), and the -numa args
    /// make the same nodes again.
    #[test]
    fn numa_banks_are_sorted_and_the_load_address_follows_the_lowest() {
        let s = scaffold("numa", &testdata("qemu__aarch64-virt-3G-numa2-uneven.dtb"), "virt.dtb", None).unwrap();
        assert!(s.missing.is_empty(), "{:?}", s.missing);
        let mut b = board_toml(&s);
        b.dir = PathBuf::from("boards/numa");
        b.validate().unwrap_or_else(|e| panic!("{e}"));
        let banks: Vec<(u64, u64)> = b.memory.banks.iter().map(|r| (r.base, r.size)).collect();
        assert_eq!(banks, [(0x4000_0000, 1 << 30), (0x8000_0000, 2 << 30)]);
        assert_eq!((b.load_address, b.qemu.default_mem.as_str(), b.qemu.default_cpus), (0x4020_0000, "3G", 2));
        let numa: Vec<&str> = b.qemu.args.iter().map(String::as_str).skip(2).collect();
        assert_eq!(
            numa,
            [
                "-object", "memory-backend-ram,id=m0,size=1G", "-numa", "node,nodeid=0,cpus=0,memdev=m0",
                "-object", "memory-backend-ram,id=m1,size=2G", "-numa", "node,nodeid=1,cpus=1,memdev=m1",
            ]
        );
        assert_eq!(cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,cpus=5,cpus=7-8");
    }

    /// A Cortex-M tree (STM32H743, no CPU nodes, an ARMv7-M NVIC) is refused with or without
    /// --like, naming the CPU.
    #[test]
    fn a_cortex_m_tree_is_refused_even_with_like() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let virt = board_desc::load(&root.join("boards/qemu-virt-aarch64")).unwrap();
        let blob = std::fs::read(root.join("../shared/testdata/dtb-armhf/armhf__stm32h743i-eval.dtb")).unwrap();
        for like in [None, Some(&virt)] {
            let s = scaffold("stm32", &blob, "stm32.dtb", like).unwrap();
            assert!(s.files.is_empty());
            let m = s.missing.iter().find(|m| m.starts_with("platform:")).unwrap_or_else(|| panic!("{:?}", s.missing));
            assert!(m.contains("Cortex-M") && m.contains("arm,armv7m-nvic") && m.contains("which no platform runs"), "{m}");
        }
    }

    #[test]
    fn what_is_missing_is_said() {
        // Versatile Express (Cortex-A15, 32-bit): platform armv7a, but QEMU's vexpress-a15 is not
        // in the table, and the tree names no console (no stdout-path, no console=): said, not
        // guessed from /aliases.
        let s = scaffold("vexpress", &testdata("armhf__vexpress-v2p-ca15-tc1.dtb"), "v.dtb", None).unwrap();
        assert!(s.files.is_empty());
        assert!(s.notes.iter().any(|n| n == "platform armv7a: CPUs are arm,cortex-a15"), "{:?}", s.notes);
        assert!(s.missing.iter().any(|m| m.starts_with("QEMU machine:")), "{:?}", s.missing);
        let console = s.missing.iter().find(|m| m.starts_with("console:")).unwrap_or_else(|| panic!("{:?}", s.missing));
        assert!(console.contains("there is no /chosen/stdout-path") && console.contains("does not guess one"), "{console}");
        // A known platform, an unknown machine, no --like.
        let s = scaffold("hikey", &testdata("arm64__hisilicon__hi6220-hikey.dtb"), "h.dtb", None).unwrap();
        assert!(s.files.is_empty());
        assert!(s.missing.iter().any(|m| m.starts_with("QEMU machine:")), "{:?}", s.missing);
    }

    #[test]
    fn like_builds_a_board_qemu_does_not_emulate() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let virt = board_desc::load(&root.join("boards/qemu-virt-aarch64")).unwrap();
        let s = scaffold("hikey", &testdata("arm64__hisilicon__hi6220-hikey.dtb"), "h.dtb", Some(&virt)).unwrap();
        assert!(s.missing.is_empty(), "{:?}", s.missing);
        assert!(!s.emulated);
        let mut b = board_toml(&s);
        b.dir = PathBuf::from("boards/hikey");
        b.validate().unwrap_or_else(|e| panic!("{e}"));
        // The tree's RAM (several banks from 0), the virt machine's QEMU section, room for the RAM.
        assert_eq!((b.memory.banks[0].base, b.load_address), (0, 0x20_0000));
        assert!(b.memory.banks.len() > 1);
        assert_eq!(b.qemu.machine, "virt");
        assert!(b.default_mem_bytes() >= b.memory.banks.iter().map(|r| r.size).sum::<u64>());
        assert!(b.console.unwrap().device_tree);
    }

    #[test]
    fn an_unknown_uart_is_named() {
        // The Beacon RZ/G2M kit's console is a Renesas SCIF: no driver.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let virt = board_desc::load(&root.join("boards/qemu-virt-aarch64")).unwrap();
        let s = scaffold("rzg2m", &testdata("arm64__renesas__r8a774a1-beacon-rzg2m-kit.dtb"), "b.dtb", Some(&virt)).unwrap();
        let console = s.missing.iter().find(|m| m.starts_with("console:"));
        assert!(console.is_some_and(|m| m.contains("(renesas,scif-r8a774a1), which has no driver here")), "{:?}", s.missing);
        assert!(s.missing_keys.contains(&"console: no driver for renesas,scif".to_owned()), "{:?}", s.missing_keys);
    }

    /// The console driver comes from the stdout-path node's `compatible` list, for each
    /// memory-mapped driver, and lands in board.toml with `device-tree = true`.
    #[test]
    fn the_console_driver_follows_stdout_path() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let virt = board_desc::load(&root.join("boards/qemu-virt-aarch64")).unwrap();
        let arm64 = |f: &str| std::fs::read(root.join("../shared/testdata/dtb-arm64").join(f)).unwrap();
        let cases: &[(Vec<u8>, &str, &str)] = &[
            (testdata("arm64__amlogic__meson-a1-ad401.dtb"), "meson-uart", "/soc/bus@fe000000/serial@2000 (amlogic,meson-gx-uart)"),
            (arm64("arm64__xilinx__zynqmp-zcu102-revB.dtb"), "cadence-uart", "/axi/serial@ff000000 (xlnx,zynqmp-uart)"),
            (testdata("arm64__qcom__sm8450-hdk.dtb"), "geni-uart", "/soc@0/geniqup@9c0000/serial@99c000 (qcom,geni-debug-uart)"),
            (arm64("arm64__qcom__msm8916-samsung-serranove.dtb"), "msm-uartdm", "/soc@0/serial@78b0000 (qcom,msm-uartdm-v1.4)"),
        ];
        for (blob, driver, node) in cases {
            let s = scaffold("b", blob, "b.dtb", Some(&virt)).unwrap();
            assert!(s.missing.is_empty(), "{driver}: {:?}", s.missing);
            let b = board_toml(&s);
            let c = b.console.clone().unwrap();
            assert_eq!(c.driver.as_str(), *driver);
            assert!(s.notes.iter().any(|n| n.starts_with("console:") && n.contains(node)), "{driver}: {:?}", s.notes);
        }
    }

    /// Trees whose /memory the boot loader fills in (size 0) or adds (no node) give boards
    /// whose RAM comes from the running tree; the load address follows the memory node's base.
    #[test]
    fn ram_from_the_running_tree_when_the_tree_has_none() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let virt = board_desc::load(&root.join("boards/qemu-virt-aarch64")).unwrap();
        let arm64 = |f: &str| std::fs::read(root.join("../shared/testdata/dtb-arm64").join(f)).unwrap();
        let cases: &[(Vec<u8>, &str, u64, &str)] = &[
            (arm64("arm64__hisilicon__hi3670-hikey970.dtb"), "pl011", 0x20_0000, "the tree's /memory@0 has no size"),
            (arm64("arm64__allwinner__sun50i-a64-pine64-lts.dtb"), "uart16550", 0x4020_0000, "the tree has no /memory node"),
            (arm64("arm64__freescale__imx8mm-icore-mx8mm-edimm2.2.dtb"), "imx-uart", 0x4020_0000, "the tree has no /memory node"),
        ];
        for (blob, driver, load, why) in cases {
            let s = scaffold("b", blob, "b.dtb", Some(&virt)).unwrap();
            assert!(s.missing.is_empty(), "{driver}: {:?}", s.missing);
            let text = String::from_utf8(s.files[0].1.clone()).unwrap();
            assert!(text.contains("from-device-tree = true") && text.contains(why), "{text}");
            let mut b = board_toml(&s);
            b.dir = PathBuf::from("boards/b");
            b.validate().unwrap_or_else(|e| panic!("{driver}: {e}\n{text}"));
            assert!(b.memory.from_device_tree && b.memory.banks.is_empty());
            assert_eq!((b.console.unwrap().driver.as_str(), b.load_address), (*driver, *load), "{text}");
        }
    }

    #[test]
    fn a_tree_without_memory_and_without_like_says_the_ram_base_is_unknown() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let blob = std::fs::read(root.join("../shared/testdata/dtb-arm64/arm64__allwinner__sun50i-a64-pine64-lts.dtb")).unwrap();
        let s = scaffold("b", &blob, "b.dtb", None).unwrap();
        assert!(s.files.is_empty());
        assert!(s.missing.iter().any(|m| m.starts_with("memory: the tree has no /memory node, so neither the RAM nor where it starts")), "{:?}", s.missing);
    }

    /// The Raspberry Pi 3B's tree with the `enable-method` of the first `n` CPUs rewritten in
    /// place to `"vendor,smp"` (same length, so the blob stays valid): a method no platform has.
    fn rpi3b_with_unknown_methods(n: usize) -> Vec<u8> {
        let mut blob = testdata("arm64__broadcom__bcm2837-rpi-3-b.dtb");
        let mut done = 0;
        let mut i = 0;
        while done < n {
            let at = i + blob[i..].windows(11).position(|w| w == b"spin-table\0").expect("four spin-table CPUs");
            blob[at..at + 10].copy_from_slice(b"vendor,smp");
            i = at + 10;
            done += 1;
        }
        blob
    }

    #[test]
    fn smp_methods_are_read_from_the_cpu_nodes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let virt = board_desc::load(&root.join("boards/qemu-virt-aarch64")).unwrap();
        let method = |blob: &[u8]| {
            let s = scaffold("b", blob, "b.dtb", Some(&virt)).unwrap();
            assert!(s.missing.is_empty(), "{:?}", s.missing);
            let text = String::from_utf8(s.files[0].1.clone()).unwrap();
            (board_toml(&s).smp.enable_method, text, s.notes)
        };
        // PSCI named by the nodes, and by /psci alone (the CPU nodes of QEMU's virt say nothing).
        let (m, text, _) = method(&std::fs::read(root.join("../shared/testdata/dtb-arm64/arm64__xilinx__zynqmp-zcu102-revB.dtb")).unwrap());
        assert_eq!(m, SmpMethod::Psci, "{text}");
        assert!(text.contains("The CPU nodes' enable-method is \"psci\""), "{text}");
        let (m, text, _) = method(&testdata("qemu__aarch64-virt-1G.dtb"));
        assert!(m == SmpMethod::Psci && text.contains("/psci is there"), "{text}");
        // A spin table.
        let (m, _, _) = method(&testdata("arm64__broadcom__bcm2837-rpi-3-b.dtb"));
        assert_eq!(m, SmpMethod::SpinTable);
        // Neither: one CPU.
        let (m, text, _) = method(&testdata("arm64__freescale__fsl-ls1046a-frwy.dtb"));
        assert!(m == SmpMethod::None && text.contains("no /psci: the boot CPU only"), "{text}");
        // Every node names a method no platform has: the board is written, boots on one CPU
        // and says why.
        let (m, text, notes) = method(&rpi3b_with_unknown_methods(4));
        assert_eq!(m, SmpMethod::None);
        assert!(text.contains("enable-method = \"none\""), "{text}");
        let note = notes.iter().find(|n| n.starts_with("smp: No CPU node names a method")).unwrap_or_else(|| panic!("{notes:?}"));
        assert!(note.contains("/cpus/cpu@0 says \"vendor,smp\"") && note.contains("The board boots on one CPU"), "{note}");
        // One node does: the others still start through the spin table.
        let (m, _, notes) = method(&rpi3b_with_unknown_methods(1));
        assert_eq!(m, SmpMethod::SpinTable);
        let note = notes.iter().find(|n| n.starts_with("smp: ")).unwrap_or_else(|| panic!("{notes:?}"));
        assert!(note.contains("each CPU is started by its own node's method") && note.contains("These CPUs stay off, and the boot says why: /cpus/cpu@0 says"), "{note}");
    }

    /// The survey sorts a folder into outcomes and ranks what is missing; it writes nothing
    /// into boards/.
    #[test]
    fn the_survey_counts_outcomes_and_ranks_missing_pieces() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let virt = board_desc::load(&root.join("boards/qemu-virt-aarch64")).unwrap();
        let dir = std::env::temp_dir().join(format!("xtask-survey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["qemu__aarch64-virt-1G.dtb", "arm64__hisilicon__hi6220-hikey.dtb", "armhf__vexpress-v2p-ca15-tc1.dtb", "qemu__arm-virt-1G.dtb", "arm64__qcom__sm8450-hdk.dtb"] {
            std::fs::write(dir.join(f), testdata(f)).unwrap();
        }
        std::fs::write(dir.join("junk.dtb"), b"not a tree").unwrap();
        std::fs::write(dir.join("notes.txt"), b"ignored").unwrap();
        let before: Vec<_> = std::fs::read_dir(root.join("boards")).unwrap().map(|e| e.unwrap().file_name()).collect();
        let s = survey(root, &dir, std::slice::from_ref(&virt)).unwrap();
        let after: Vec<_> = std::fs::read_dir(root.join("boards")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(before, after);
        // QEMU's 32-bit virt tree is a virt board of platform armv7a; the vexpress tree is
        // armv7a too, and --like qemu-virt-aarch64 cannot lend it a [qemu] section.
        assert_eq!((s.trees, s.valid_emulated, s.valid_like, s.refused.len(), s.unreadable.len()), (6, 2, 2, 1, 1), "{s:?}");
        assert_eq!(
            s.ranked(),
            [
                ("QEMU machine: not emulated by QEMU, and no --like of the tree's platform".to_owned(), 1),
                ("console: no stdout-path and no console= in bootargs (Linux names no console)".to_owned(), 1),
            ]
        );
        let table = s.table(Some("qemu-virt-aarch64"));
        assert!(table.contains("6 trees, 4 give a valid board (67%)") && table.contains("| valid board, QEMU emulates the machine: virt (2 trees) | 2 |"), "{table}");
        assert!(table.contains("junk.dtb: not a usable device tree"), "{table}");
        // Without --like, a machine QEMU does not emulate is a missing piece.
        let s = survey(root, &dir, &[]).unwrap();
        assert!(s.ranked().contains(&("QEMU machine: not emulated by QEMU, and no --like".to_owned(), 3)), "{:?}", s.ranked());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn armhf(name: &str) -> Vec<u8> {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/dtb-armhf").join(name)).unwrap()
    }

    /// The board new-board writes from QEMU's own 32-bit virt tree, as a `--like` board for
    /// trees QEMU does not emulate.
    fn virt_arm() -> Board {
        let s = scaffold("qemu-virt-arm", &testdata("qemu__arm-virt-1G.dtb"), "virt.dtb", None).unwrap();
        assert!(s.missing.is_empty(), "{:?}", s.missing);
        let mut b = board_toml(&s);
        b.dir = PathBuf::from("boards/qemu-virt-arm");
        b.validate().unwrap_or_else(|e| panic!("{e}"));
        b
    }

    /// QEMU's 32-bit virt trees (qemu-system-arm, Cortex-A15) give armv7a boards on virt: the
    /// zImage 0x10000 above the RAM base, PSCI, U-Boot, the tree's RAM and CPU count.
    #[test]
    fn qemu_arm_virt_trees_give_armv7a_virt_boards() {
        let b = virt_arm();
        assert_eq!((b.platform.as_str(), b.target.as_str(), b.image), ("armv7a", "armv7a-none-eabi", board_desc::ImageKind::ArmZimage));
        assert_eq!((b.qemu.binary.as_str(), b.qemu.machine.as_str(), b.qemu.cpu.as_deref(), b.qemu.default_mem.as_str()), ("qemu-system-arm", "virt,highmem=off", Some("cortex-a15"), "1G"));
        assert_eq!((b.load_address, b.memory.banks.clone(), b.smp.enable_method), (0x4001_0000, vec![board_desc::Range { base: 0x4000_0000, size: 1 << 30 }], SmpMethod::Psci));
        // The committed board, but for what the tree cannot know: its RAM is QEMU's -m 1G, the
        // committed board's 256M, and the description's wording.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let committed = board_desc::load(&root.join("boards/qemu-virt-arm")).unwrap();
        let mut got = b.clone();
        got.dir = committed.dir.clone();
        got.description = committed.description.clone();
        got.memory = committed.memory.clone();
        got.qemu.default_mem = committed.qemu.default_mem.clone();
        assert_eq!(got, committed);
        let s = scaffold("v", &testdata("qemu__arm-virt-512M-smp2.dtb"), "virt.dtb", None).unwrap();
        let b = board_toml(&s);
        assert_eq!((b.qemu.default_mem.as_str(), b.qemu.default_cpus, b.smp.enable_method), ("512M", 2, SmpMethod::Psci));
        // highmem=off with 3 GiB: RAM [1 GiB, 4 GiB), the most the 32-bit physical space holds.
        let s = scaffold("v", &testdata("qemu__arm-virt-highmem-off-3G.dtb"), "virt.dtb", None).unwrap();
        let mut b = board_toml(&s);
        b.dir = PathBuf::from("boards/v");
        b.validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((b.memory.banks[0].end(), b.qemu.default_mem.as_str()), (1 << 32, "3G"));
    }

    /// The platform comes from every CPU node's compatible: ARMv7-A cores (Cortex-A5 to -A17,
    /// Marvell PJ4 and Sheeva v7, big.LITTLE A7 + A15) are armv7a, a Cortex-A53 tree built for
    /// 32-bit kernels is aarch64, and ARMv6 cores are refused with or without --like.
    #[test]
    fn armv7a_cpus_are_told_from_older_and_64_bit_ones() {
        for (file, platform, cpu) in [
            ("armhf__imx6q-udoo.dtb", "armv7a", "arm,cortex-a9"),
            ("armhf__omap3-igep0020.dtb", "armv7a", "arm,cortex-a8"),
            ("armhf__rk3288-miqi.dtb", "armv7a", "arm,cortex-a12"),
            ("armhf__imx7d-zii-rpu2.dtb", "armv7a", "arm,cortex-a7"),
            ("armhf__dove-cubox-es.dtb", "armv7a", "marvell,pj4a"),
            ("armhf__armada-xp-gp.dtb", "armv7a", "marvell,sheeva-v7"),
            ("armhf__sun9i-a80-cubieboard4.dtb", "armv7a", "arm,cortex-a7"),
            ("armhf__bcm2837-rpi-3-a-plus.dtb", "aarch64", "arm,cortex-a53"),
        ] {
            let s = scaffold("b", &armhf(file), "b.dtb", None).unwrap();
            let want = format!("platform {platform}: CPUs are {cpu}");
            assert!(s.notes.contains(&want), "{file}: {:?} {:?}", s.notes, s.missing);
        }
        let like = virt_arm();
        for (file, sentence) in [
            ("armhf__bcm2835-rpi-b-plus.dtb", "arm,arm1176jzf-s is ARMv6 (ARM1176), not ARMv7-A"),
            ("armhf__aspeed-bmc-facebook-wedge400.dtb", "arm,arm1176jzf-s is ARMv6 (ARM1176), not ARMv7-A"),
        ] {
            for l in [None, Some(&like)] {
                let s = scaffold("b", &armhf(file), "b.dtb", l).unwrap();
                assert!(s.files.is_empty(), "{file}");
                let m = s.missing.iter().find(|m| m.starts_with("platform:")).unwrap_or_else(|| panic!("{file}: {:?}", s.missing));
                assert!(m.contains(sentence) && m.contains("no platform runs this board"), "{m}");
            }
        }
    }

    /// The tree with one SMP method replaced in place by `with` (NUL-padded to the same length,
    /// so the blob stays valid and the property's first string is `with`).
    fn with_method(mut blob: Vec<u8>, method: &str, with: &str) -> Vec<u8> {
        assert!(with.len() <= method.len());
        let at = blob.windows(method.len() + 1).position(|w| w == format!("{method}\0").as_bytes()).expect("the method is in the tree");
        blob[at..at + method.len()].fill(0);
        blob[at..at + with.len()].copy_from_slice(with.as_bytes());
        blob
    }

    /// 32-bit Linux's choice of SMP method on real trees: /psci wins, else the CPU nodes' or
    /// /cpus's enable-method; methods the platform lacks are named with where Linux has them,
    /// and the board boots on one CPU.
    #[test]
    fn arm32_smp_methods_follow_linux() {
        let armv7a = PLATFORMS.iter().find(|p| p.name == "armv7a").unwrap();
        let smp = |blob: &[u8]| {
            let dt = DeviceTree::new(blob).unwrap();
            let info = devicetree::discover(&dt).unwrap();
            arm32_smp(&tree_facts(&dt).unwrap(), info.psci_method.is_some(), armv7a)
        };
        let (m, text, lacking) = smp(&testdata("qemu__arm-virt-512M-smp2.dtb"));
        assert!(m == SmpMethod::Psci && !lacking, "{text}");
        // /psci and no enable-method (STM32MP157), /psci and psci nodes (RK3228).
        for f in ["armhf__stm32mp157a-dhcor-avenger96.dtb", "armhf__rk3228-evb.dtb"] {
            let (m, text, lacking) = smp(&armhf(f));
            assert!(m == SmpMethod::Psci && !lacking && text.contains("PSCI CPU_ON"), "{f}: {text}");
        }
        // The Raspberry Pi 2's mailbox method, which the platform has.
        let (m, text, lacking) = smp(&armhf("armhf__bcm2836-rpi-2-b.dtb"));
        assert!(m == SmpMethod::Bcm2836Smp && !lacking, "{text}");
        assert!(text.contains("4 CPUs; /cpus names enable-method \"brcm,bcm2836-smp\" (the BCM2836 ARM-local mailbox 3, arch/arm/mach-bcm/platsmp.c), which 32-bit Linux uses for every CPU"), "{text}");
        for (f, method, linux) in [
            ("armhf__sun8i-a23-gt90h-v4.dtb", "\"allwinner,sun8i-a23\"", "arch/arm/mach-sunxi/platsmp.c"),
            ("armhf__rk3288-miqi.dtb", "\"rockchip,rk3066-smp\"", "arch/arm/mach-rockchip/platsmp.c"),
            ("armhf__armada-385-linksys-rango.dtb", "\"marvell,armada-380-smp\"", "arch/arm/mach-mvebu/platsmp-a9.c"),
        ] {
            let (m, text, lacking) = smp(&armhf(f));
            assert!(m == SmpMethod::None && lacking, "{f}: {text}");
            assert!(text.contains(&format!("/cpus names enable-method {method}")) && text.contains(linux) && text.contains("The board boots on one CPU"), "{f}: {text}");
        }
        // A CPU node's method (sun9i-a80).
        let (_, text, _) = smp(&armhf("armhf__sun9i-a80-cubieboard4.dtb"));
        assert!(text.contains("/cpus/cpu@0 names enable-method \"allwinner,sun9i-a80-smp\""), "{text}");
        // Qualcomm's KPSS ACC and arm64's spin-table, in the RK3288 tree's place.
        let (_, text, _) = smp(&with_method(armhf("armhf__rk3288-miqi.dtb"), "rockchip,rk3066-smp", "qcom,kpss-acc-v1"));
        assert!(text.contains("\"qcom,kpss-acc-v1\" (the Qualcomm KPSS ACC, arch/arm/mach-qcom/platsmp.c)"), "{text}");
        let (m, text, _) = smp(&with_method(armhf("armhf__rk3288-miqi.dtb"), "rockchip,rk3066-smp", "spin-table"));
        assert!(m == SmpMethod::None && text.contains("which 32-bit Linux has no method for (spin-table is arm64's)"), "{text}");
        // i.MX6Q: four CPUs, no method in the tree: Linux uses the machine's smp_ops, the SRC.
        let (m, text, lacking) = smp(&armhf("armhf__imx6q-udoo.dtb"));
        assert!(m == SmpMethod::Imx6Src && !lacking && text.contains("mdesc->smp") && text.contains("imx_smp_ops"), "{text}");
        // One CPU: nothing to start, nothing to say.
        let (m, _, lacking) = smp(&armhf("armhf__omap3-beagle.dtb"));
        assert!(m == SmpMethod::None && !lacking);
        // The scaffolder writes it into [smp] and says it.
        let s = scaffold("b", &armhf("armhf__sun8i-a23-gt90h-v4.dtb"), "b.dtb", Some(&virt_arm())).unwrap();
        assert!(s.missing.is_empty(), "{:?}", s.missing);
        assert_eq!(board_toml(&s).smp.enable_method, SmpMethod::None);
        assert!(s.notes.iter().any(|n| n.starts_with("smp: 2 CPUs; /cpus names enable-method \"allwinner,sun8i-a23\"")), "{:?}", s.notes);
    }

    /// Without stdout-path, Linux's console is the command line's `console=`: the port of that
    /// number by /aliases/serialN (node order when the tree has no serial alias).
    #[test]
    fn bootargs_console_is_resolved_as_linux_numbers_ports() {
        let like = virt_arm();
        for (file, driver, node, says) in [
            ("armhf__imx6dl-gw552x.dtb", "imx-uart", "/soc/bus@2100000/serial@21e8000", "console=ttymxc1"),
            ("armhf__armada-xp-crs305-1g-4s-bit.dtb", "uart16550", "/soc/internal-regs/serial@12000", "console=ttyS0"),
            ("armhf__dove-cubox-es.dtb", "uart16550", "/mbus/internal-regs/serial@12000", "console=ttyS0"),
        ] {
            let s = scaffold("b", &armhf(file), "b.dtb", Some(&like)).unwrap();
            assert!(s.missing.is_empty(), "{file}: {:?}", s.missing);
            let c = board_toml(&s).console.unwrap();
            assert_eq!((c.driver.as_str(), c.node.as_deref()), (driver, Some(node)), "{file}");
            assert!(s.notes.iter().any(|n| n.starts_with("console:") && n.contains(says)), "{file}: {:?}", s.notes);
        }
        assert_eq!(bootargs_console("root=/dev/sda console=tty0 console=ttyS2,115200n8"), Some(("ttyS2".to_owned(), ConsoleDriver::Uart16550, "serial2".to_owned())));
        assert_eq!(bootargs_console("console=ttySAC3"), Some(("ttySAC3".to_owned(), ConsoleDriver::ExynosUart, "serial3".to_owned())));
        assert_eq!(bootargs_console("console=tty0 earlyprintk"), None);
    }

    /// Every 32-bit tree of dtb-armhf that gives a board with banks from the tree has exactly
    /// the RAM Linux 6.1 reads (the truth JSON's banks), less what lies at or above 4 GiB,
    /// which is dropped as MAX_MEMBLOCK_ADDR drops it; the Armada XP GP's second bank is.
    #[test]
    fn armhf_ram_is_linux_ram_below_4_gib() {
        let like = virt_arm();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/dtb-armhf");
        let mut compared = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "dtb") {
                continue;
            }
            let s = scaffold("b", &std::fs::read(&path).unwrap(), "b.dtb", Some(&like)).unwrap();
            if !s.missing.is_empty() || s.emulated {
                continue;
            }
            let b = board_toml(&s);
            if b.platform != "armv7a" || b.memory.from_device_tree {
                continue;
            }
            let truth = dir.with_file_name("dtb-armhf-truth").join(path.with_extension("json").file_name().unwrap());
            let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(truth).unwrap()).unwrap();
            let mut want: Vec<(u64, u64)> = truth["memory_banks_linux"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| (m["base"].as_u64().unwrap(), m["size"].as_u64().unwrap()))
                .filter(|&(base, size)| size > 0 && base < 1 << 32)
                .map(|(base, size)| (base, size.min((1 << 32) - base)))
                .collect();
            want.sort_unstable();
            let got: Vec<(u64, u64)> = b.memory.banks.iter().map(|r| (r.base, r.size)).collect();
            assert_eq!(got, want, "{}", path.display());
            compared += 1;
        }
        assert!(compared >= 20, "only {compared} trees compared");
        let s = scaffold("b", &armhf("armhf__armada-xp-gp.dtb"), "b.dtb", Some(&like)).unwrap();
        assert!(s.missing.is_empty(), "{:?}", s.missing);
        assert_eq!(board_toml(&s).memory.banks, [board_desc::Range { base: 0, size: 0xf000_0000 }]);
        assert!(s.notes.iter().any(|n| n.contains("Ignoring memory block 0x100000000 - 0x200000000")), "{:?}", s.notes);
    }
}
