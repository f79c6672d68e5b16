//! Building a board's image: the firmware ELF with the pinned toolchain and build-std, and for
//! ARM boards the raw arm64 Image made from it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use object::{Object, ObjectSegment};

use crate::board::{Board, BoardExt, ImageKind};

/// What a build produced.
#[derive(Debug, Clone)]
pub struct Built {
    /// The ELF (what defmt decodes against).
    pub elf: PathBuf,
    /// What QEMU is given (the ELF itself, or the raw Image).
    pub image: PathBuf,
}

/// Build options shared by `build`, `run` and `test`.
#[derive(Debug, Clone)]
pub struct BuildOpts {
    pub release: bool,
    /// defmt's compile-time filter (DEFMT_LOG).
    pub log_level: String,
    /// The application the image runs (a folder under `apps/`, passed as `MEMFW_APP`).
    pub app: String,
}

/// Builds `board` and returns its ELF and image.
///
/// Cargo writes the ELF under the board's name whatever the application; it is copied to
/// `<board>-<app>` next to it (and the raw Image made from that copy), so that images of
/// several applications (the test matrix) stay apart.
pub fn build(root: &Path, board: &Board, opts: &BuildOpts) -> Result<Built> {
    let cargo_elf = cargo_build(root, board, opts, None)?;
    let elf = cargo_elf.with_file_name(format!("{}-{}", board.name, opts.app));
    std::fs::copy(&cargo_elf, &elf).with_context(|| format!("copying {} to {}", cargo_elf.display(), elf.display()))?;
    let image = match board.image {
        ImageKind::MultibootElf => elf.clone(),
        ImageKind::Arm64Image => {
            let img = elf.with_extension("img");
            write_raw_image(&elf, &img)?;
            img
        }
        ImageKind::ArmZimage => {
            let img = elf.with_extension("img");
            write_raw_zimage(&elf, &img)?;
            img
        }
    };
    Ok(Built { elf, image })
}

/// Builds the crate of `board` (a committed board of the same platform) from the board.toml in
/// `board_dir` instead of its own (`MEMFW_BOARD_DIR`, read by `board_desc::build_script`): how
/// `cargo xtask test` builds a board new-board writes from a surveyed tree without adding it
/// to the workspace. Returns the ELF; the next ordinary build of `board` rebuilds its crate.
pub fn build_from_dir(root: &Path, board: &Board, opts: &BuildOpts, board_dir: &Path) -> Result<PathBuf> {
    cargo_build(root, board, opts, Some(board_dir))
}

/// `cargo build` of the board's package with the pinned toolchain; the ELF cargo wrote.
fn cargo_build(root: &Path, board: &Board, opts: &BuildOpts, board_dir: Option<&Path>) -> Result<PathBuf> {
    crate::apps::check(root, &opts.app)?;
    let channel = crate::setup::ensure_toolchain(root)?;
    let mut cmd = Command::new("rustup");
    match board_dir {
        Some(d) => cmd.env("MEMFW_BOARD_DIR", d),
        None => cmd.env_remove("MEMFW_BOARD_DIR"),
    };
    cmd.current_dir(root)
        .args(["run", &channel, "cargo", "build", "--package", &board.name])
        .args(["--target", &board.target_arg(root)])
        .args(["-Zbuild-std=core,compiler_builtins,alloc", "-Zbuild-std-features=compiler-builtins-mem"])
        .env("DEFMT_LOG", &opts.log_level)
        .env("MEMFW_APP", &opts.app)
        // The toolchain is the pinned one, not the one running xtask.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("CARGO");
    if board.target.ends_with(".json") {
        cmd.arg("-Zjson-target-spec");
    }
    if opts.release {
        cmd.arg("--release");
    }
    let status = cmd.status().context("running cargo for the firmware")?;
    if !status.success() {
        bail!("building board {} failed", board.name);
    }
    let profile = if opts.release { "release" } else { "debug" };
    // Where cargo put it: CARGO_TARGET_DIR when set (relative to the root, as cargo reads it).
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
    let cargo_elf = target_dir.join(board.target_name()).join(profile).join(&board.name);
    if !cargo_elf.is_file() {
        bail!("cargo reported success but {} is missing", cargo_elf.display());
    }
    Ok(cargo_elf)
}

/// Flattens the ELF's loadable segments into a raw binary starting at the lowest load address
/// (the arm64 Image header is the first thing in .text, put there by the platform's linker
/// script). Bytes between segments are zero; .bss is not included (the header's `image_size`
/// covers it).
pub fn write_raw_image(elf: &Path, out: &Path) -> Result<()> {
    let img = flatten(elf)?;
    if img.len() < 64 || &img[56..60] != b"ARM\x64" {
        bail!("{}: no arm64 Image header (magic ARM\\x64 at offset 56) at the start of the image", elf.display());
    }
    std::fs::write(out, &img).with_context(|| format!("writing {}", out.display()))
}

/// The 32-bit ARM raw image: the ELF's loadable segments flattened as for arm64, checked for the
/// zImage magic 0x016f2818 at offset 0x24 that the platform's entry code puts there (U-Boot's
/// `bootz` looks for it; QEMU's `-kernel` loads the bytes at RAM base + 0x10000 either way).
pub fn write_raw_zimage(elf: &Path, out: &Path) -> Result<()> {
    let img = flatten(elf)?;
    if img.len() < 0x30 || img[0x24..0x28] != 0x016f_2818u32.to_le_bytes() {
        bail!("{}: no zImage magic 0x016f2818 at offset 0x24 of the image", elf.display());
    }
    std::fs::write(out, &img).with_context(|| format!("writing {}", out.display()))
}

/// The ELF's loadable bytes from its lowest load address, zeros between segments.
fn flatten(elf: &Path) -> Result<Vec<u8>> {
    let data = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file = object::File::parse(&*data).with_context(|| format!("parsing {}", elf.display()))?;
    let mut segs = Vec::new();
    for seg in file.segments() {
        let bytes = seg.data().context("reading a segment")?;
        if !bytes.is_empty() {
            segs.push((seg.address(), bytes));
        }
    }
    let Some(base) = segs.iter().map(|(a, _)| *a).min() else {
        bail!("{} has no loadable data", elf.display());
    };
    let end = segs.iter().map(|(a, b)| a + b.len() as u64).max().unwrap_or(base);
    let len = usize::try_from(end - base).context("image too large")?;
    if len > 64 << 20 {
        bail!("{}: loadable segments span {len} bytes; a linker-script problem?", elf.display());
    }
    let mut img = vec![0u8; len];
    for (addr, bytes) in segs {
        let off = (addr - base) as usize;
        img[off..off + bytes.len()].copy_from_slice(bytes);
    }
    Ok(img)
}
