//! `cargo xtask fuzz`: the cargo-fuzz targets in `fuzz/`, each for a bounded time.
//!
//! Seeds come from `fuzz/regressions/<target>/` (and, for the device-tree target, every tree in
//! `../shared/testdata/dtb/` when present). A crash stops the run with the input's path; copy it
//! into `fuzz/regressions/<target>/`, fix the bug, and the ordinary test suite keeps it fixed.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The targets, in the order they run.
pub const TARGETS: [&str; 4] = ["dt_discover", "dt_boot", "e820_sanitize", "memblock_ops"];

fn ensure_cargo_fuzz(channel: &str) -> Result<()> {
    let ok = Command::new("rustup")
        .args(["run", channel, "cargo", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Ok(());
    }
    eprintln!("setup: installing cargo-fuzz 0.13.2 (cargo install --locked)");
    let status = Command::new("cargo")
        .args(["install", "cargo-fuzz", "--version", "=0.13.2", "--locked"])
        .status()
        .context("running cargo install")?;
    if !status.success() {
        bail!("installing cargo-fuzz failed; run: cargo install cargo-fuzz --version =0.13.2 --locked");
    }
    Ok(())
}

/// Runs every target (or `only`) for `seconds` each.
pub fn run(root: &Path, seconds: u64, only: Option<&str>) -> Result<()> {
    let channel = crate::setup::ensure_toolchain(root)?;
    ensure_cargo_fuzz(&channel)?;
    let fuzz = root.join("fuzz");
    let mut ran = 0;
    for target in TARGETS.iter().filter(|t| only.is_none_or(|o| o == **t)) {
        let corpus = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        let mut seeds = vec![fuzz.join("regressions").join(target)];
        let dtbs = root.join("../shared/testdata/dtb");
        if target.starts_with("dt_") && dtbs.is_dir() {
            seeds.push(dtbs);
        }
        eprintln!("fuzz: {target} for {seconds} s");
        let status = Command::new("rustup")
            .current_dir(root)
            .args(["run", &channel, "cargo", "fuzz", "run", "--fuzz-dir", "fuzz", "--features", "libfuzzer"])
            // memblock_ops spends its time in the reference model's per-unit loops, where
            // comparison tracing costs a callback per unit and finds nothing (the inputs are
            // opcodes, not magic values): 6x the inputs per second without it. It runs last, so
            // the other flag set is built once.
            .args(if *target == "memblock_ops" { &["--no-trace-compares"][..] } else { &[] })
            .arg(target)
            .arg(&corpus)
            .args(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            // Device trees come padded to 1 MiB (QEMU's); the other targets read at most a few
            // KiB (64 memblock operations, 128 e820 entries), and longer inputs only slow
            // libFuzzer down (memblock_ops ran ~100 inputs/s with a 1 MiB limit).
            .arg(format!("-max_len={}", if target.starts_with("dt_") { 1 << 20 } else { 4096 }))
            .arg("-rss_limit_mb=4096")
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("CARGO")
            .env_remove("RUSTC")
            .status()
            .context("running cargo fuzz")?;
        if !status.success() {
            bail!(
                "fuzz target {target} failed: see the crash input named above (fuzz/artifacts/{target}/); \
                 keep it under fuzz/regressions/{target}/ once fixed"
            );
        }
        ran += 1;
    }
    if ran == 0 {
        bail!("no fuzz target named {:?}; targets: {}", only.unwrap_or(""), TARGETS.join(", "));
    }
    Ok(())
}
