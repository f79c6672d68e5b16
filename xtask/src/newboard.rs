//! `cargo xtask new-board NAME --from-dtb FILE.dtb [--like BOARD]`: a board folder from a device
//! tree.
//!
//! What the tree says, and where it goes in `board.toml`:
//! - the platform: the CPU nodes' `compatible` against each platform's list
//!   (`board_desc::PLATFORMS`);
//! - the console: `/chosen/stdout-path` (aliases and `:115200n8` options resolved by
//!   `devicetree::discover`) when the platform has a driver for that UART, else the first
//!   available UART it has one for (said, with the reason);
//! - RAM banks from `/memory`, in address order (or what the QEMU machine really gives, when the
//!   table below knows better: raspi3b keeps 64 MiB for the VideoCore and patches `/memory`),
//!   and the load address: the lowest bank (where QEMU's loader puts the image) + the
//!   platform's offset; on a machine whose `-m` sets RAM (virt), `default-mem` is the tree's
//!   total and NUMA nodes (`numa-node-id`) become `-numa` arguments;
//! - the SMP enable method from the CPU nodes' `enable-method`;
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
    /// The UART QEMU's first `-serial` is wired to (a `compatible`), when it is not
    /// `stdout-path`'s.
    pub serial0: Option<&'static str>,
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
        firmware: &[],
        mem_limits: None,
    },
];

/// The AArch64 CPU models `qemu-system-aarch64` 7.2 emulates under the name a device tree's CPU
/// `compatible` gives them after the vendor prefix (`arm,cortex-a57` is `-cpu cortex-a57`).
const QEMU_AARCH64_CPUS: &[&str] = &["cortex-a35", "cortex-a53", "cortex-a55", "cortex-a57", "cortex-a72", "cortex-a76", "neoverse-n1", "a64fx"];

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

/// CPU `compatible` strings of 32-bit ARM cores (ARMv7-A, ARMv6, ARMv5), matched exactly
/// (`arm,cortex-a5` is a prefix of the 64-bit `arm,cortex-a53`).
const ARM32_CPUS: &[&str] = &[
    "arm,cortex-a5", "arm,cortex-a7", "arm,cortex-a8", "arm,cortex-a9", "arm,cortex-a12", "arm,cortex-a15", "arm,cortex-a17",
    "arm,arm1176jzf-s", "arm,arm1136j-s", "arm,arm11mpcore", "arm,arm926ej-s", "arm,arm920t", "marvell,pj4a", "marvell,pj4b",
    "marvell,sheeva-v5", "marvell,sheeva-v7", "qcom,krait", "qcom,scorpion", "brcm,brahma-b15", "brcm,brahma-b53",
];

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
        if n.path.starts_with("/cpus/cpu@") && n.depth == 2 && f.cpu_compatible.is_empty() {
            f.cpu_compatible = compatible.clone();
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

    // The platform, from the CPUs.
    let platform: Option<&'static PlatformInfo> = PLATFORMS
        .iter()
        .find(|p| facts.cpu_compatible.iter().any(|c| p.dt_cpus.iter().any(|k| c.starts_with(k))));
    let platform = match (platform, like) {
        (Some(p), Some(l)) if l.platform != p.name => {
            out.notes.push(format!("--like {} is a {} board but the CPUs ({}) are {}: the tree wins", l.name, l.platform, facts.cpu_compatible.join(", "), p.name));
            Some(p)
        }
        (Some(p), _) => Some(p),
        (None, _) if facts.cpu_compatible.is_empty() && facts.nvic.is_some() => {
            let (path, compat) = facts.nvic.clone().unwrap_or_default();
            out.miss("platform: Cortex-M (M-profile, no MMU): no platform runs it", format!(
                "platform: the tree has no CPU nodes, and its interrupt controller {path} is {compat:?}: the CPU is a Cortex-M (M-profile, no MMU; root compatible {root_compat:?}), which no platform runs{}. The platforms run AArch64 (Cortex-A53, -A57, … with an MMU) and 32-bit x86",
                like.map_or(String::new(), |l| format!(", --like {} or not", l.name))
            ));
            return Ok(out);
        }
        (None, Some(l)) if facts.cpu_compatible.is_empty() => {
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
        let arm32 = facts.cpu_compatible.iter().find(|c| ARM32_CPUS.contains(&c.as_str()));
        let (key, why) = match arm32 {
            // brcm,brahma-b53 is a 64-bit core but only in 32-bit set-top-box trees here.
            Some(c) => (
                "platform: 32-bit ARM is not supported yet (ARMv7-A and older; platforms/aarch64 runs AArch64 only)".to_owned(),
                format!("{c} is a 32-bit ARM CPU; 32-bit ARM is not supported yet (platforms/aarch64 runs AArch64 only; an ARMv7-A platform would be a crate under platforms/). "),
            ),
            None => (format!("platform: no platform runs CPUs {}", facts.cpu_compatible.first().map_or("(none named)", String::as_str)), String::new()),
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
    if machine.is_none() && like.is_none() {
        out.miss("QEMU machine: not emulated by QEMU, and no --like", format!(
            "QEMU machine: none known for root compatible {:?} (known: {}); add the machine to QEMU_MACHINES in xtask/src/newboard.rs if QEMU emulates it, or pass --like BOARD to build for the real board with that board's [qemu] section",
            facts.root_compatible,
            QEMU_MACHINES.iter().map(|m| m.machine).collect::<Vec<_>>().join(", ")
        ));
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
    let (console, console_comment) = match stdout_uart {
        Some(u) if usable(u) && wired.is_none_or(|w| u.compatible.iter().any(|c| c == w)) => (
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
                        (Some(_), None) => "which this platform cannot drive".to_owned(),
                        (None, _) => "which has no driver here".to_owned(),
                    }
                ),
                (Some(sp), Some(u)) => format!("/chosen/stdout-path {sp:?} is {}, but QEMU's {} wires -serial to its {}", u.describe(), machine.map_or("", |m| m.machine), wired.unwrap_or("")),
                (Some(sp), None) => format!("/chosen/stdout-path {sp:?} does not resolve to a UART node"),
                (None, _) => "there is no /chosen/stdout-path".to_owned(),
            };
            let first = facts.uarts.iter().filter(|u| usable(u)).find(|u| wired.is_none_or(|w| u.compatible.iter().any(|c| c == w)));
            match first {
                Some(u) => (
                    Some((u.driver().unwrap_or(ConsoleDriver::Pl011), Some(u.path.clone()))),
                    format!("{why}; {} is the first UART with a driver{}", u.describe(), if wired.is_some() { " and the one QEMU's -serial reaches" } else { "" }),
                ),
                None => {
                    let seen: Vec<String> = facts.uarts.iter().map(Uart::describe).collect();
                    let key = match stdout_uart {
                        Some(u) if u.driver().is_none() => format!("console: no driver for {}", u.compatible.last().map_or("?", String::as_str)),
                        Some(u) => format!("console: the {} driver cannot run the stdout-path UART as wired", u.driver().map_or("?", |d| d.as_str())),
                        None if stdout.is_some() => "console: stdout-path resolves to no UART node, and no UART has a driver".to_owned(),
                        None => "console: no stdout-path, and no UART has a driver".to_owned(),
                    };
                    out.miss(key, format!(
                        "console: {why}, and no other UART has a driver platform {} can bring up ({}); UARTs in the tree: {}. A console driver is a crate under drivers/ on embedded-io, wired into the platform (docs/PORTING.md)",
                        platform.name,
                        platform.consoles.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", "),
                        if seen.is_empty() { "none".into() } else { seen.join(", ") }
                    ));
                    (None, why)
                }
            }
        }
    };

    // SMP: the platform starts each CPU by its own node's enable-method (psci or spin-table);
    // [smp] enable-method is for nodes without one. A method no platform implements is not a
    // missing piece: those CPUs stay off and the boot says why for each.
    let cpus: Vec<&devicetree::Cpu<'_>> = info.cpus.iter().filter(|c| c.available).collect();
    let methods: Vec<&str> = cpus.iter().filter_map(|c| c.enable_method).collect();
    let supported = |m: &str| matches!(m, "psci" | "spin-table");
    let mut unsupported: Vec<String> = Vec::new();
    for c in &cpus {
        match (c.enable_method, c.enable()) {
            (Some(m), _) if !supported(m) => unsupported.push(format!("{} says {m:?}", c.path())),
            (Some(_), Err(e)) => unsupported.push(e.to_string()),
            _ => {}
        }
    }
    let first_supported = methods.iter().copied().find(|&m| supported(m));
    let (smp, smp_comment) = match first_supported {
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
    };
    if smp == SmpMethod::Psci && info.psci_method.is_none() {
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
    // Where the image goes: the lowest bank, or where the tree's memory node says RAM starts.
    let ram_base = match (banks.first(), facts.memory_nodes.iter().filter_map(|&(_, b)| b).min()) {
        (Some(&(b, _)), _) => Some((b, None)),
        (None, Some(b)) => Some((b, Some((format!("Where the tree's memory node says RAM starts ({})", hex(b)), format!("RAM starts at {} by the tree's memory node", hex(b)))))),
        (None, None) => match like.filter(|l| l.platform == platform.name) {
            Some(l) => {
                let text = if platform.name == "aarch64" { 0x20_0000 } else { 0x10_0000 };
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
    let load_address = ram_base.as_ref().map_or(0, |&(b, _)| b) + if platform.name == "aarch64" { 0x20_0000 } else { 0x10_0000 };
    if let Some((_, Some((_, why)))) = &ram_base {
        out.notes.push(format!("load address: {why}"));
    }

    // CPUs: the tree's model and count where the machine takes -cpu and -smp.
    let cpu_model = facts.cpu_compatible.first().map(|c| c.rsplit(',').next().unwrap_or(c).to_owned());
    let qemu_cpu = match (machine.and_then(|m| m.cpu), &cpu_model) {
        (None, _) => None,
        (Some(_), Some(model)) if QEMU_AARCH64_CPUS.contains(&model.as_str()) => Some((model.clone(), format!("The tree's CPUs are {}", facts.cpu_compatible[0]))),
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
            if platform.name == "aarch64" { "text_offset 0x200000 (where QEMU's loader puts an arm64 Image)" } else { "1 MiB" }
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
platform = {{ workspace = true }}
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
    platform::start_kernel(m, None, &app_select::APP)
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
pub fn survey(root: &Path, dir: &Path, like: Option<&Board>) -> Result<Survey> {
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
                out.emulated.push((shown, machine.split(' ').next().unwrap_or(machine).to_owned()));
            }
            Ok(()) => out.valid_like += 1,
            Err(e) => out.invalid.push((shown, format!("{e:#}"))),
        }
    }
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()))?;
    }
    Ok(out)
}

/// `cargo xtask new-board --survey DIR…`: [`survey`] per folder, printed as tables.
///
/// # Errors
/// As [`survey`]; `--like` names no board; a generated board that does not validate.
pub fn run_survey(root: &Path, dirs: &[PathBuf], like: Option<&str>) -> Result<Vec<Survey>> {
    let like_board = like.map(|l| crate::board::find(root, l)).transpose().context("--like")?;
    let mut all = Vec::new();
    for d in dirs {
        let s = survey(root, d, like_board.as_ref())?;
        println!("{}", s.table(like));
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
            ("platform", "the workspace member platforms/platform is already called \"platform\""),
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
        // 32-bit ARM: no platform.
        let s = scaffold("vexpress", &testdata("armhf__vexpress-v2p-ca15-tc1.dtb"), "v.dtb", None).unwrap();
        assert!(s.files.is_empty());
        assert!(s.missing.iter().any(|m| m.starts_with("platform:") && m.contains("cortex-a15")), "{:?}", s.missing);
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
        // The Snapdragon 8 Gen 1 HDK's console is a Qualcomm GENI UART: no driver.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let virt = board_desc::load(&root.join("boards/qemu-virt-aarch64")).unwrap();
        let s = scaffold("hdk", &testdata("arm64__qcom__sm8450-hdk.dtb"), "hdk.dtb", Some(&virt)).unwrap();
        let console = s.missing.iter().find(|m| m.starts_with("console:"));
        assert!(
            console.is_some_and(|m| m.contains("/soc@0/geniqup@9c0000/serial@99c000 (qcom,geni-debug-uart), which has no driver here")),
            "{:?}",
            s.missing
        );
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
            (testdata("arm64__broadcom__bcm2711-rpi-4-b.dtb"), "pl011", 0x20_0000, "the tree's /memory@0 has no size"),
            (arm64("arm64__allwinner__sun50i-a64-pine64-lts.dtb"), "uart16550", 0x4020_0000, "the tree has no /memory node"),
            (arm64("arm64__freescale__imx8mm-nitrogen-r2.dtb"), "imx-uart", 0x4020_0000, "the tree has no /memory node"),
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
        let (m, text, _) = method(&testdata("arm64__arm__foundation-v8-gicv3-psci.dtb"));
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
        let s = survey(root, &dir, Some(&virt)).unwrap();
        let after: Vec<_> = std::fs::read_dir(root.join("boards")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(before, after);
        assert_eq!((s.trees, s.valid_emulated, s.valid_like, s.refused.len(), s.unreadable.len()), (6, 1, 1, 3, 1), "{s:?}");
        assert_eq!(
            s.ranked(),
            [
                ("platform: 32-bit ARM is not supported yet (ARMv7-A and older; platforms/aarch64 runs AArch64 only)".to_owned(), 2),
                ("console: no driver for qcom,geni-debug-uart".to_owned(), 1)
            ]
        );
        let table = s.table(Some("qemu-virt-aarch64"));
        assert!(table.contains("6 trees, 2 give a valid board (33%)") && table.contains("| valid board, QEMU emulates the machine: virt (qemu__aarch64-virt-1G.dtb) | 1 |"), "{table}");
        assert!(table.contains("junk.dtb: not a usable device tree"), "{table}");
        // Without --like, a machine QEMU does not emulate is a missing piece.
        let s = survey(root, &dir, None).unwrap();
        assert!(s.ranked().contains(&("QEMU machine: not emulated by QEMU, and no --like".to_owned(), 2)), "{:?}", s.ranked());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
