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
        (ExitDevice::IsaDebugExit, 33) | (ExitDevice::Semihosting, 0) => Verdict::Success,
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

/// Refuses a memory size or CPU count the board's QEMU machine cannot take (raspi3b: exactly
/// 1 GiB and 4 CPUs), before QEMU says it less clearly.
pub fn check_machine_limits(board: &Board, mem_bytes: u64, cpus: u32) -> Result<()> {
    let q = &board.qemu;
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
    Ok(board)
}
