//! `cargo xtask test`: the host tests of every crate, then boots of every board in QEMU, each
//! checked against what the firmware must print and how it must end.
//!
//! A boot case is data: board, memory, CPUs, command line, the verdict expected and a list of
//! checks on the decoded log. A failing case prints its whole decoded log and QEMU's stderr.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::board::{self, Board, Verdict};
use crate::image::{self, BuildOpts, Built};
use crate::qemu::{self, RunOpts};

/// One check on a boot's decoded log.
#[derive(Debug, Clone)]
pub enum Check {
    /// Some line contains this text.
    Has(&'static str),
    /// No line contains this text.
    Lacks(&'static str),
    /// Exactly `n` lines contain this text.
    Count(&'static str, usize),
    /// Some line contains all of these, in this order.
    HasAll(&'static [&'static str]),
}

impl Check {
    fn holds(&self, lines: &[String]) -> Result<(), String> {
        let count = |s: &str| lines.iter().filter(|l| l.contains(s)).count();
        match self {
            Self::Has(s) if count(s) == 0 => Err(format!("no line contains {s:?}")),
            Self::Lacks(s) if count(s) > 0 => Err(format!("a line contains {s:?}, which must not appear")),
            Self::Count(s, n) if count(s) != *n => {
                Err(format!("{} line(s) contain {s:?}, expected {n}", count(s)))
            }
            Self::HasAll(parts) => {
                let ok = lines.iter().any(|l| {
                    let mut rest = l.as_str();
                    parts.iter().all(|p| match rest.find(p) {
                        Some(i) => {
                            rest = &rest[i + p.len()..];
                            true
                        }
                        None => false,
                    })
                });
                if ok { Ok(()) } else { Err(format!("no line contains {parts:?} in order")) }
            }
            _ => Ok(()),
        }
    }
}

/// One boot to run and check.
#[derive(Debug, Clone)]
pub struct BootCase {
    pub name: &'static str,
    pub board: &'static str,
    pub mem: &'static str,
    pub smp: u32,
    pub cmdline: &'static str,
    pub expect_success: bool,
    pub checks: Vec<Check>,
}

/// The boots `cargo xtask test` runs.
pub fn cases() -> Vec<BootCase> {
    use Check::*;
    let x86 = "qemu-i386-pc";
    let arm = "qemu-virt-aarch64";
    vec![
        BootCase {
            name: "x86-128M",
            board: x86,
            mem: "128M",
            smp: 1,
            cmdline: "",
            expect_success: true,
            checks: vec![
                Count("BIOS-e820: [mem ", 6),
                Has("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"),
                Has("BIOS-e820: [mem 0x0000000000100000-0x0000000007fdffff] usable"),
                Has("BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved"),
            ],
        },
        BootCase {
            name: "x86-512M-smp4",
            board: x86,
            mem: "512M",
            smp: 4,
            cmdline: "",
            expect_success: true,
            checks: vec![Has("BIOS-e820: [mem 0x0000000000100000-0x000000001ffdffff] usable")],
        },
        BootCase {
            name: "x86-3G",
            board: x86,
            mem: "3G",
            smp: 1,
            cmdline: "",
            expect_success: true,
            checks: vec![Has("BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable")],
        },
        BootCase {
            name: "x86-forced-panic",
            board: x86,
            mem: "128M",
            smp: 1,
            cmdline: "selftest=panic",
            expect_success: false,
            checks: vec![HasAll(&["panicked at ", ".rs:", "selftest=panic"])],
        },
        BootCase {
            name: "arm-256M",
            board: arm,
            mem: "256M",
            smp: 1,
            cmdline: "",
            expect_success: true,
            checks: vec![Has("[mem 0x0000000040000000-0x000000004fffffff]")],
        },
        BootCase {
            name: "arm-1G-smp4",
            board: arm,
            mem: "1G",
            smp: 4,
            cmdline: "",
            expect_success: true,
            checks: vec![Has("[mem 0x0000000040000000-0x000000007fffffff]")],
        },
        BootCase {
            name: "arm-forced-panic",
            board: arm,
            mem: "256M",
            smp: 1,
            cmdline: "selftest=panic",
            expect_success: false,
            checks: vec![HasAll(&["panicked at ", ".rs:", "selftest=panic"])],
        },
    ]
}

fn host_tests(root: &Path) -> Result<()> {
    eprintln!("test: host tests (cargo test on the host-testable crates)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .arg("test")
        .status()
        .context("running cargo test")?;
    if !status.success() {
        bail!("host tests failed");
    }
    Ok(())
}

fn run_case(board: &Board, built: &Built, case: &BootCase) -> Result<Result<(), String>> {
    let timeout = Duration::from_secs(60);
    let opts = RunOpts {
        mem_bytes: crate::size::parse_size(case.mem)?,
        smp: case.smp,
        cmdline: case.cmdline.into(),
        extra_args: Vec::new(),
        timeout,
        echo: false,
    };
    let outcome = qemu::run(board, built, &opts)?;
    let mut problems = Vec::new();
    match (&outcome.verdict, case.expect_success) {
        (Some(Verdict::Success), true) | (Some(Verdict::FirmwareFailure), false) => {}
        _ => problems.push(format!(
            "expected the firmware to report {}, but: {}",
            if case.expect_success { "success" } else { "failure" },
            outcome.describe(timeout)
        )),
    }
    if outcome.malformed_frames > 0 {
        problems.push(format!("{} malformed defmt frame(s)", outcome.malformed_frames));
    }
    for check in &case.checks {
        if let Err(p) = check.holds(&outcome.lines) {
            problems.push(p);
        }
    }
    if problems.is_empty() {
        return Ok(Ok(()));
    }
    let mut report = problems.join("\n  ");
    report.push_str("\n  --- decoded log ---\n");
    for l in &outcome.lines {
        report.push_str("  | ");
        report.push_str(l);
        report.push('\n');
    }
    if !outcome.stderr.trim().is_empty() {
        report.push_str("  --- QEMU stderr ---\n");
        report.push_str(&outcome.stderr);
    }
    Ok(Err(report))
}

/// Runs everything; fails if anything failed.
pub fn run_all(root: &Path, host_only: bool, filter: Option<&str>) -> Result<()> {
    if filter.is_none() {
        host_tests(root)?;
    }
    if host_only {
        return Ok(());
    }
    let cases: Vec<BootCase> =
        cases().into_iter().filter(|c| filter.is_none_or(|f| c.name.contains(f))).collect();
    let mut binaries: Vec<String> = Vec::new();
    let mut boards: Vec<(Board, Built)> = Vec::new();
    for case in &cases {
        if boards.iter().any(|(b, _)| b.name == case.board) {
            continue;
        }
        let b = board::find(root, case.board)?;
        binaries.push(b.qemu.binary.clone());
        let built = image::build(root, &b, &BuildOpts { release: false, log_level: "info".into() })?;
        boards.push((b, built));
    }
    let bins: Vec<&str> = binaries.iter().map(String::as_str).collect();
    crate::setup::ensure_qemu(&bins)?;
    let (mut passed, mut failed) = (0, 0);
    for case in &cases {
        let (b, built) = boards.iter().find(|(b, _)| b.name == case.board).expect("built above");
        let t = Instant::now();
        match run_case(b, built, case)? {
            Ok(()) => {
                passed += 1;
                eprintln!("boot {:<24} ok ({:.1} s)", case.name, t.elapsed().as_secs_f64());
            }
            Err(report) => {
                failed += 1;
                eprintln!("boot {:<24} FAILED\n  {report}", case.name);
            }
        }
    }
    println!("boots: {passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} boot(s) failed");
    }
    Ok(())
}
