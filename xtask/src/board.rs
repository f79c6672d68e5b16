//! Board descriptions: `boards/<name>/board.toml`, read and checked before anything is built.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// How the image is handed to QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageKind {
    /// The ELF itself, through QEMU's Multiboot v1 loader (`-kernel`).
    MultibootElf,
    /// A raw arm64 Image with the 64-byte Linux header made from the ELF, so QEMU passes the
    /// device-tree address in x0.
    Arm64Image,
}

/// How the firmware tells QEMU (and so the host) that it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitDevice {
    /// x86 `isa-debug-exit`: status `(value << 1) | 1`; the firmware writes 0x10 or 0x11.
    IsaDebugExit,
    /// ARM semihosting `SYS_EXIT_EXTENDED`: the firmware's code is the status (0 or 3).
    Semihosting,
}

impl ExitDevice {
    /// Maps QEMU's exit status onto the firmware's verdict.
    pub fn verdict(self, status: i32) -> Verdict {
        match (self, status) {
            (Self::IsaDebugExit, 33) | (Self::Semihosting, 0) => Verdict::Success,
            (Self::IsaDebugExit, 35) | (Self::Semihosting, 3) => Verdict::FirmwareFailure,
            (Self::Semihosting, 4) => Verdict::Other(
                "the firmware was loaded at an address other than its link address (exit status 4)".into(),
            ),
            (Self::Semihosting, 5) => Verdict::Other("the firmware was entered at EL3, which it does not support (exit status 5)".into()),
            (Self::Semihosting, 6) => Verdict::Other(
                "no usable device tree or no PL011 console in it, so the firmware could not log (exit status 6)".into(),
            ),
            (Self::IsaDebugExit, 0) => Verdict::Other(
                "QEMU exited with status 0: the CPU reset (triple fault?) before the firmware ended the run".into(),
            ),
            (_, s) => Verdict::Other(format!(
                "QEMU exited with status {s}, which the firmware never sends (QEMU error? see its stderr)"
            )),
        }
    }
}

/// What an exit status means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Success,
    FirmwareFailure,
    Other(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Qemu {
    pub binary: String,
    pub machine: String,
    pub cpu: Option<String>,
    pub default_mem: String,
    pub exit: ExitDevice,
    #[serde(default)]
    pub args: Vec<String>,
}

/// One `boards/<name>/board.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Board {
    pub name: String,
    pub description: String,
    pub platform: String,
    pub target: String,
    pub image: ImageKind,
    pub qemu: Qemu,
    /// The board's folder (set after loading).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Board {
    /// The `--target` argument: a JSON path made absolute, or a built-in name.
    pub fn target_arg(&self, root: &Path) -> String {
        if self.target.ends_with(".json") {
            root.join(&self.target).display().to_string()
        } else {
            self.target.clone()
        }
    }

    /// The target's name as cargo uses it for the output folder.
    pub fn target_name(&self) -> String {
        Path::new(&self.target)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.target.clone())
    }

    fn check(&self, file: &Path, root: &Path) -> Result<()> {
        let folder = self.dir.file_name().map(|s| s.to_string_lossy().into_owned());
        if folder.as_deref() != Some(self.name.as_str()) {
            bail!("{}: key `name` is {:?} but the folder is {:?}", file.display(), self.name, folder.unwrap_or_default());
        }
        if !root.join("platforms").join(&self.platform).join("Cargo.toml").is_file() {
            bail!("{}: key `platform`: no crate platforms/{}/", file.display(), self.platform);
        }
        if self.target.ends_with(".json") && !root.join(&self.target).is_file() {
            bail!("{}: key `target`: {} does not exist", file.display(), self.target);
        }
        crate::size::parse_size(&self.qemu.default_mem)
            .with_context(|| format!("{}: key `qemu.default-mem`", file.display()))?;
        Ok(())
    }
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
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let mut board: Board =
            toml::from_str(&text).with_context(|| format!("{} is not a valid board description", file.display()))?;
        board.dir = dir;
        board.check(&file, root)?;
        boards.push(board);
    }
    boards.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(boards)
}

/// The board called `name`, or an error listing the known ones.
pub fn find(root: &Path, name: &str) -> Result<Board> {
    let boards = load_all(root)?;
    let names: Vec<_> = boards.iter().map(|b| b.name.clone()).collect();
    boards
        .into_iter()
        .find(|b| b.name == name)
        .with_context(|| format!("unknown board {name:?}; known boards: {}", names.join(", ")))
}
