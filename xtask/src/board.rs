//! Board descriptions: `boards/<name>/board.toml`, read and checked before anything is built
//! (the schema and its checks are the `board-desc` crate, which the boards' build scripts use
//! too), and what xtask adds: the cargo target, and what an exit status means.

use std::path::Path;

use anyhow::{Context, Result};

pub use board_desc::{Board, ExitDevice, ImageKind};

/// What an exit status means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Success,
    FirmwareFailure,
    Other(String),
}

/// Maps QEMU's exit status onto the firmware's verdict.
pub fn verdict(exit: ExitDevice, status: i32) -> Verdict {
    match (exit, status) {
        (ExitDevice::IsaDebugExit | ExitDevice::Semihosting, 33) => Verdict::Success,
        (ExitDevice::IsaDebugExit, 35) | (ExitDevice::Semihosting, 3) => Verdict::FirmwareFailure,
        (ExitDevice::Semihosting, 4) => {
            Verdict::Other("the firmware was loaded at an address other than its link address (exit status 4)".into())
        }
        (ExitDevice::Semihosting, 5) => {
            Verdict::Other("the firmware was entered at EL3, which it does not support (exit status 5)".into())
        }
        (ExitDevice::Semihosting, 6) => Verdict::Other(
            "no usable device tree or no console the board description names in it, so the firmware could not log (exit status 6)".into(),
        ),
        (ExitDevice::IsaDebugExit, 0) => Verdict::Other(
            "QEMU exited with status 0: the CPU reset (triple fault?) before the firmware ended the run".into(),
        ),
        (ExitDevice::Semihosting, 0) => Verdict::Other(
            "QEMU exited with status 0, which the firmware never sends (its success is 33): something other than the firmware ended QEMU".into(),
        ),
        (_, s) => Verdict::Other(format!("QEMU exited with status {s}, which the firmware never sends (QEMU error? see its stderr)")),
    }
}

/// What xtask needs from a board beyond the description.
pub trait BoardExt {
    fn target_arg(&self, root: &Path) -> String;
    fn target_name(&self) -> String;
}

impl BoardExt for Board {
    /// The `--target` argument: a JSON path made absolute, or a built-in name.
    fn target_arg(&self, root: &Path) -> String {
        if self.target.ends_with(".json") {
            root.join(&self.target).display().to_string()
        } else {
            self.target.clone()
        }
    }

    /// The target's name as cargo uses it for the output folder.
    fn target_name(&self) -> String {
        Path::new(&self.target)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.target.clone())
    }
}

/// `bytes` as `--mem` would be written: `3583M`, `5G`, `512K`.
fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 40 && b % (1 << 40) == 0 => format!("{}T", b >> 40),
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b if b % (1 << 10) == 0 => format!("{}K", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// Refuses a memory size or CPU count the board cannot run with, before QEMU says it less
/// clearly or the firmware runs out of memory in silence: more CPUs than the firmware's
/// `NR_CPUS` ([`board_desc::MAX_CPUS`]), a machine's fixed RAM or CPU count (raspi3b: exactly
/// 1 GiB and 4 CPUs), and RAM outside the board's `qemu.mem-limits`.
pub fn check_machine_limits(board: &Board, mem_bytes: u64, cpus: u32) -> Result<()> {
    let q = &board.qemu;
    if cpus > board_desc::MAX_CPUS {
        anyhow::bail!(
            "--smp {cpus}: the firmware runs at most {} CPUs (NR_CPUS in kernel/src/percpu.rs, MAX_CPUS in the platform crates)",
            board_desc::MAX_CPUS
        );
    }
    if q.mem_fixed && mem_bytes != board.default_mem_bytes() {
        anyhow::bail!(
            "board {}: QEMU's {} machine has exactly {} of RAM ({}: qemu.mem-fixed); {} MiB was asked for",
            board.name,
            q.machine,
            q.default_mem,
            board.file().display(),
            mem_bytes >> 20
        );
    }
    if q.cpus_fixed && cpus != q.default_cpus {
        anyhow::bail!(
            "board {}: QEMU's {} machine has exactly {} CPUs ({}: qemu.cpus-fixed); {cpus} were asked for",
            board.name,
            q.machine,
            q.default_cpus,
            board.file().display()
        );
    }
    if let Some(l) = &q.mem_limits {
        let least = l.min_bytes(cpus);
        if mem_bytes < least {
            anyhow::bail!(
                "board {}: --mem {} is too little: the firmware needs at least {} with {cpus} CPU(s) ({}; {}: qemu.mem-limits)",
                board.name,
                size_text(mem_bytes),
                size_text(least),
                l.min_rule(),
                board.file().display()
            );
        }
        if mem_bytes > l.max_bytes() {
            anyhow::bail!(
                "board {}: --mem {} is more than the board runs with: at most {}, because {} ({}: qemu.mem-limits)",
                board.name,
                size_text(mem_bytes),
                l.max,
                l.why_max,
                board.file().display()
            );
        }
    }
    Ok(())
}

/// Refuses guest RAM this host cannot give QEMU (more than its RAM and swap together: QEMU
/// would stop with "cannot set up guest memory … Cannot allocate memory").
pub fn check_host_memory(mem_bytes: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else { return Ok(()) };
    let kib = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let host = (kib("MemTotal:") + kib("SwapTotal:")) << 10;
    if host > 0 && mem_bytes > host {
        anyhow::bail!(
            "--mem {}: this host has {:.1} GiB of RAM and swap, so QEMU cannot set up that much guest memory",
            size_text(mem_bytes),
            host as f64 / f64::from(1u32 << 30)
        );
    }
    Ok(())
}

/// Every board under `boards/`, sorted by name, each checked.
pub fn load_all(root: &Path) -> Result<Vec<Board>> {
    let mut boards = Vec::new();
    for entry in std::fs::read_dir(root.join("boards")).context("reading boards/")? {
        let dir = entry?.path();
        let file = dir.join("board.toml");
        if !file.is_file() {
            continue;
        }
        let board = board_desc::load(&dir)?;
        board.validate_in_repo(root)?;
        boards.push(board);
    }
    boards.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(boards)
}

/// The board called `name`, read and checked; an error lists the known ones. Only this board's
/// description is checked, so one broken board does not stop work on the others.
pub fn find(root: &Path, name: &str) -> Result<Board> {
    let dir = root.join("boards").join(name);
    if !dir.join("board.toml").is_file() {
        let mut names: Vec<String> = std::fs::read_dir(root.join("boards"))
            .context("reading boards/")?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|d| d.join("board.toml").is_file())
            .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        anyhow::bail!("unknown board {name:?}; known boards: {}", names.join(", "));
    }
    let board = board_desc::load(&dir)?;
    board.validate_in_repo(root)?;
    check_against_dtb(&board)?;
    Ok(board)
}

/// Whether the board's console driver can run the node at `path` as it is wired (see
/// `ConsoleDriver::check_wiring`); the error names the node.
fn check_wiring(dt: &devicetree::DeviceTree<'_>, path: &str, driver: board_desc::ConsoleDriver) -> Result<()> {
    let props = devicetree::uart_props(dt, path).map_err(|e| anyhow::anyhow!("{path:?}: {e}"))?;
    let compatible = props.first_of(driver.compatibles()).unwrap_or(driver.compatibles()[0]);
    driver
        .check_wiring(compatible, props.reg_shift, props.reg_io_width)
        .map_err(|why| anyhow::anyhow!("{path:?} ({compatible}) has {why}"))
}

/// For a board that ships its device tree: the console node exists, is available and is a
/// UART of the board's driver; no board reservation overlaps one the tree makes (two owners for
/// one range).
pub fn check_against_dtb(board: &Board) -> Result<()> {
    let Some(path) = board.dtb_path() else { return Ok(()) };
    let file = board.file();
    let blob = std::fs::read(&path).with_context(|| format!("{}: key `qemu.dtb`: reading {}", file.display(), path.display()))?;
    let dt = devicetree::DeviceTree::new(&blob)
        .map_err(|e| anyhow::anyhow!("{}: key `qemu.dtb`: {} is not a usable device tree: {e}", file.display(), path.display()))?;
    let info = devicetree::discover(&dt)
        .map_err(|e| anyhow::anyhow!("{}: key `qemu.dtb`: reading {}: {e}", file.display(), path.display()))?;
    if let Some(board_desc::Console { driver, node: Some(node), .. }) = &board.console {
        let mut found: Option<(Vec<String>, bool)> = None;
        dt.walk(&mut |n| {
            if n.path == node.as_str() {
                found = Some((n.strings("compatible")?.map(String::from).collect(), n.available()?));
            }
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("{}: walking {}: {e}", file.display(), path.display()))?;
        let Some((compatible, available)) = found else {
            anyhow::bail!("{}: key `console.node`: {node:?} is not a node of {}", file.display(), path.display());
        };
        if !compatible.iter().any(|c| driver.compatibles().contains(&c.as_str())) {
            anyhow::bail!(
                "{}: key `console.node`: {node:?} is {:?}, not a {} UART ({})",
                file.display(),
                compatible,
                driver.as_str(),
                driver.compatibles().join(", ")
            );
        }
        if !available {
            anyhow::bail!("{}: key `console.node`: {node:?} has status disabled in {}", file.display(), path.display());
        }
        check_wiring(&dt, node, *driver).map_err(|e| anyhow::anyhow!("{}: key `console.node`: {e}", file.display()))?;
    }
    if let Some(board_desc::Console { driver, device_tree: true, .. }) = &board.console {
        // The firmware takes stdout-path's node when it is of the driver, else the first
        // available node of the driver: one of them has to exist.
        let known = driver.compatibles();
        let stdout = info.console.as_ref().filter(|c| c.from_stdout_path).map(|c| c.path.as_str().to_owned());
        let of_driver = |p: &str| devicetree::uart_props(&dt, p).is_ok_and(|u| u.first_of(known).is_some());
        let chosen = match stdout.filter(|p| of_driver(p)) {
            Some(p) => p,
            None => match devicetree::find_console(&dt, known) {
                Ok(Some(c)) => c.path.as_str().to_owned(),
                Ok(None) => anyhow::bail!(
                    "{}: key `console.device-tree`: {} has neither a /chosen/stdout-path of a {} UART nor any available node compatible with {}",
                    file.display(),
                    path.display(),
                    driver.as_str(),
                    known.join(", ")
                ),
                Err(e) => anyhow::bail!("{}: reading {}: {e}", file.display(), path.display()),
            },
        };
        check_wiring(&dt, &chosen, *driver).map_err(|e| anyhow::anyhow!("{}: key `console.device-tree`: {e}", file.display()))?;
    }
    let mut tree_reserved: Vec<(u64, u64, String)> =
        info.memreserve.iter().map(|r| (r.base, r.size, "/memreserve/".to_owned())).collect();
    if let Some(rm) = &info.reserved_memory {
        for r in &rm.regions {
            if let devicetree::ReservedKind::Static { regs } = &r.kind {
                tree_reserved.extend(regs.iter().map(|g| (g.base, g.size, format!("/reserved-memory/{}", r.name))));
            }
        }
    }
    for (i, r) in board.reserve.iter().enumerate() {
        if let Some((b, s, what)) = tree_reserved.iter().find(|(b, s, _)| *b < r.base + r.size && r.base < b + s) {
            anyhow::bail!(
                "{}: key `reserve[{i}]`: {:?} {} overlaps the device tree's {what} [{b:#x}, {:#x}): reserve it once",
                file.display(),
                r.name,
                r.range(),
                b + s
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed raspi3b board copied to a scratch folder with `edit` applied to its
    /// board.toml; the result of loading and checking it.
    fn raspi_with(tag: &str, edit: impl Fn(String) -> String) -> Result<Board> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let src = root.join("boards/qemu-raspi3b");
        let dir = std::env::temp_dir().join(format!("xtask-board-{}-{tag}", std::process::id())).join("qemu-raspi3b");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(src.join("bcm2837-rpi-3-b.dtb"), dir.join("bcm2837-rpi-3-b.dtb")).unwrap();
        std::fs::write(dir.join("board.toml"), edit(std::fs::read_to_string(src.join("board.toml")).unwrap())).unwrap();
        let r = board_desc::load(&dir).map_err(anyhow::Error::from).and_then(|b| check_against_dtb(&b).map(|()| b));
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
        r
    }

    #[test]
    fn the_console_node_is_checked_in_the_boards_tree() {
        raspi_with("ok", |t| t).unwrap();
        let e = raspi_with("missing", |t| t.replace("/soc/serial@7e201000", "/soc/serial@7e201800")).unwrap_err().to_string();
        assert!(e.contains("key `console.node`") && e.contains("is not a node of"), "{e}");
        let e = raspi_with("mini", |t| t.replace("/soc/serial@7e201000", "/soc/serial@7e215040")).unwrap_err().to_string();
        assert!(e.contains("brcm,bcm2835-aux-uart") && e.contains("not a pl011 UART"), "{e}");
    }

    /// `device-tree = true` with a shipped tree: stdout-path's UART (or the first) must be one
    /// the driver serves. The Pi's stdout-path is the mini UART, so the PL011 is the first of
    /// its driver; there is no Cadence UART at all.
    #[test]
    fn a_device_tree_console_is_checked_in_the_boards_tree() {
        let dt = |driver: &'static str| move |t: String| t.replace("driver = \"pl011\"\nnode = \"/soc/serial@7e201000\"", &format!("driver = \"{driver}\"\ndevice-tree = true"));
        raspi_with("dt-pl011", dt("pl011")).unwrap();
        let e = raspi_with("dt-cadence", dt("cadence-uart")).unwrap_err().to_string();
        assert!(
            e.contains("key `console.device-tree`") && e.contains("neither a /chosen/stdout-path of a cadence-uart UART nor any available node compatible with cdns,uart-r1p8"),
            "{e}"
        );
    }

    #[test]
    fn run_sizes_outside_the_boards_limits_are_refused_with_the_limits() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let board = |n: &str| board_desc::load(&root.join("boards").join(n)).unwrap();
        let (pc, virt, rpi) = (board("qemu-i386-pc"), board("qemu-virt-aarch64"), board("qemu-raspi3b"));
        let err = |b: &Board, mem: u64, cpus: u32| check_machine_limits(b, mem, cpus).unwrap_err().to_string();
        // x86-32 without PAE: the smallest size that boots, and the 4 GiB hole.
        let e = err(&pc, 1 << 20, 1);
        assert!(e.contains("--mem 1M is too little: the firmware needs at least 5M with 1 CPU(s) (4M plus 1M per CPU"), "{e}");
        assert!(err(&pc, 11 << 20, 8).contains("at least 12M with 8 CPU(s)"));
        check_machine_limits(&pc, 5 << 20, 1).unwrap();
        check_machine_limits(&pc, 3583 << 20, 1).unwrap();
        let e = err(&pc, 3584 << 20, 1);
        assert!(e.contains("--mem 3584M is more than the board runs with: at most 3583M, because") && e.contains("without PAE"), "{e}");
        assert!(err(&pc, 64 << 30, 1).contains("--mem 64G is more than"));
        // arm64 virt: the identity map's end.
        let e = err(&virt, 5 << 40, 1);
        assert!(e.contains("--mem 5T is more than the board runs with: at most 255G, because RAM starts at 1 GiB"), "{e}");
        check_machine_limits(&virt, 255 << 30, 1).unwrap();
        // raspi3b: fixed RAM and CPUs.
        assert!(err(&rpi, 2 << 30, 4).contains("has exactly 1G of RAM"));
        check_machine_limits(&rpi, 1 << 30, 4).unwrap();
        // More CPUs than the firmware's NR_CPUS, on any board.
        for b in [&pc, &virt] {
            let e = err(b, 1 << 30, 64);
            assert!(e.contains("--smp 64: the firmware runs at most 8 CPUs (NR_CPUS"), "{e}");
        }
        check_machine_limits(&virt, 1 << 30, 8).unwrap();
    }

    /// board_desc::MAX_CPUS is the firmware's NR_CPUS and the platforms' MAX_CPUS.
    #[test]
    fn max_cpus_matches_the_firmware() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for (file, name) in [
            ("kernel/src/percpu.rs", "pub const NR_CPUS: usize = "),
            ("platforms/aarch64/src/smp.rs", "pub const MAX_CPUS: usize = "),
            ("platforms/x86-pc/src/cpu.rs", "pub const MAX_CPUS: usize = "),
            ("mm/slab/src/lib.rs", "pub const MAX_CPUS: usize = "),
        ] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let line = text.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_else(|| panic!("{file}: no {name}"));
            assert_eq!(line.trim_end_matches(';').parse::<u32>().unwrap(), board_desc::MAX_CPUS, "{file}");
        }
    }

    #[test]
    fn a_guest_bigger_than_the_host_is_refused() {
        let e = check_host_memory(1 << 50).unwrap_err().to_string();
        assert!(e.contains("--mem 1024T: this host has ") && e.contains(" GiB of RAM and swap"), "{e}");
        check_host_memory(16 << 20).unwrap();
    }

    #[test]
    fn a_reservation_the_tree_already_makes_is_refused() {
        let add = |t: String| t.replace("[smp]", "[[reserve]]\nname = \"spin table\"\nbase = 0x0\nsize = 0x1000\n\n[smp]");
        let e = raspi_with("memreserve", add).unwrap_err().to_string();
        assert!(e.contains("key `reserve[0]`") && e.contains("/memreserve/"), "{e}");
    }
}
