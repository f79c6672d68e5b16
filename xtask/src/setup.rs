//! Set-up a fresh machine needs, done on demand and said out loud: the pinned toolchain (with
//! `rust-src` for build-std), QEMU, and the boot firmware and image tools (GRUB, U-Boot,
//! xorriso, mtools, dosfstools).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The channel pinned in `boards/rust-toolchain.toml`.
pub fn pinned_channel(root: &Path) -> Result<String> {
    let file = root.join("boards/rust-toolchain.toml");
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let doc: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    doc.get("toolchain")
        .and_then(|t| t.get("channel"))
        .and_then(|c| c.as_str())
        .map(str::to_owned)
        .with_context(|| format!("{}: no [toolchain] channel", file.display()))
}

fn has_rust_src(channel: &str) -> bool {
    let Ok(out) = Command::new("rustup").args(["run", channel, "rustc", "--print", "sysroot"]).output() else {
        return false;
    };
    if !out.status.success() {
        return false;
    }
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Path::new(&sysroot).join("lib/rustlib/src/rust/library/core/Cargo.toml").is_file()
}

/// Installs the pinned toolchain with `rust-src` unless it is there already.
pub fn ensure_toolchain(root: &Path) -> Result<String> {
    let channel = pinned_channel(root)?;
    if has_rust_src(&channel) {
        return Ok(channel);
    }
    eprintln!("setup: installing Rust toolchain {channel} with rust-src (pinned in boards/rust-toolchain.toml)");
    let status = Command::new("rustup")
        .args(["toolchain", "install", &channel, "--profile", "minimal", "--component", "rust-src"])
        .status()
        .context("running rustup (is rustup on PATH?)")?;
    if !status.success() || !has_rust_src(&channel) {
        bail!("could not install toolchain {channel} with rust-src; run: rustup toolchain install {channel} --profile minimal --component rust-src");
    }
    Ok(channel)
}

fn on_path(binary: &str) -> bool {
    Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Debian packages that provide each QEMU binary.
fn qemu_package(binary: &str) -> &'static str {
    match binary {
        "qemu-system-i386" | "qemu-system-x86_64" => "qemu-system-x86",
        _ => "qemu-system-arm",
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes sure every QEMU binary in `binaries` runs, installing both QEMU packages with apt-get
/// when missing and we are root; otherwise says exactly what to run.
pub fn ensure_qemu(binaries: &[&str]) -> Result<()> {
    let missing: Vec<&str> = binaries.iter().copied().filter(|b| !on_path(b)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut pkgs: Vec<&str> = missing.iter().map(|b| qemu_package(b)).collect();
    pkgs.sort_unstable();
    pkgs.dedup();
    // This machine image ships qemu-utils from bookworm-backports (10.x), which declares
    // Breaks on the 7.2 qemu-system-common that bookworm's qemu-system-* need; the install
    // pins qemu-utils back to bookworm's version in the same transaction.
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends", "--allow-downgrades"];
    args.extend(&pkgs);
    let needs_utils_pin = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "qemu-utils"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("bpo"));
    if needs_utils_pin {
        args.push("qemu-utils/bookworm");
    }
    let cmd = format!("apt-get update && apt-get {}", args.join(" "));
    if !is_root() {
        bail!("{} not found; install QEMU with: sudo sh -c '{cmd}'", missing.join(", "));
    }
    eprintln!("setup: {} not found; installing {} with apt-get", missing.join(", "), pkgs.join(" "));
    let ok = |c: &mut Command| c.env("DEBIAN_FRONTEND", "noninteractive").status().is_ok_and(|s| s.success());
    if !ok(Command::new("apt-get").args(["update", "-q"])) || !ok(Command::new("apt-get").args(&args)) {
        bail!("installing QEMU failed; the command was: {cmd}");
    }
    for b in &missing {
        if !on_path(b) {
            bail!("{b} still not runnable after installing {}", pkgs.join(" "));
        }
    }
    Ok(())
}

/// Something a firmware boot needs on the host, and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct HostTool {
    /// An absolute file path (checked to exist) or a command name (checked on `PATH`).
    pub path: &'static str,
    pub package: &'static str,
}

fn tool_present(path: &str) -> bool {
    if path.starts_with('/') {
        return Path::new(path).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|dirs| std::env::split_paths(&dirs).any(|d| d.join(path).is_file()))
}

/// Makes sure every tool in `tools` is there, installing the missing ones' packages with
/// apt-get when we are root (and saying so); otherwise says exactly what to run.
pub fn ensure_host_tools(tools: &[HostTool]) -> Result<()> {
    let missing: Vec<&HostTool> = tools.iter().filter(|t| !tool_present(t.path)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut pkgs: Vec<&str> = missing.iter().map(|t| t.package).collect();
    pkgs.sort_unstable();
    pkgs.dedup();
    let names: Vec<&str> = missing.iter().map(|t| t.path).collect();
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&pkgs);
    let cmd = format!("apt-get update && apt-get {}", args.join(" "));
    if !is_root() {
        bail!("{} not found; install with: sudo sh -c '{cmd}'", names.join(", "));
    }
    eprintln!("setup: {} not found; installing {} with apt-get", names.join(", "), pkgs.join(" "));
    let ok = |c: &mut Command| c.env("DEBIAN_FRONTEND", "noninteractive").status().is_ok_and(|s| s.success());
    if !ok(Command::new("apt-get").args(["update", "-q"])) || !ok(Command::new("apt-get").args(&args)) {
        bail!("installing {} failed; the command was: {cmd}", pkgs.join(" "));
    }
    if let Some(t) = tools.iter().find(|t| !tool_present(t.path)) {
        bail!("{} still missing after installing {}", t.path, t.package);
    }
    Ok(())
}

/// Headless Chromium and the fonts the memory-map picture names, for rendering it in a real
/// browser (`cargo xtask test`, `--png`).
pub const CHROMIUM: &[HostTool] = &[
    HostTool { path: "/usr/bin/chromium", package: "chromium" },
    HostTool { path: "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", package: "fonts-dejavu-core" },
];

/// Installs Chromium (and the fonts) with apt-get when missing, saying so; see
/// [`ensure_host_tools`].
pub fn ensure_chromium() -> Result<()> {
    ensure_host_tools(CHROMIUM)
}
