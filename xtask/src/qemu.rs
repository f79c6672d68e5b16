//! Booting an image in QEMU and decoding what the firmware logs.
//!
//! The firmware writes defmt frames (rzcobs, 0x00-delimited) to its console, which QEMU
//! connects to our pipe. Frames are decoded against the exact ELF that was booted and printed
//! as they arrive. The run ends when the firmware ends QEMU through its exit device, or at the
//! time-out; the exit status says which verdict it was.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use defmt_decoder::{DecodeError, Location, Table};

use crate::board::{Board, ImageKind, Verdict};
use crate::image::Built;

/// How to boot.
#[derive(Debug, Clone)]
pub struct RunOpts {
    pub mem_bytes: u64,
    pub smp: u32,
    pub cmdline: String,
    pub extra_args: Vec<String>,
    pub timeout: Duration,
    /// Print decoded lines as they arrive.
    pub echo: bool,
}

/// The result of one boot.
#[derive(Debug)]
pub struct Outcome {
    /// Decoded log lines, `LEVEL message` each.
    pub lines: Vec<String>,
    /// `None` on time-out.
    pub verdict: Option<Verdict>,
    pub stderr: String,
    pub malformed_frames: usize,
}

impl Outcome {
    /// Whether the firmware ended the run with success.
    pub fn success(&self) -> bool {
        self.verdict == Some(Verdict::Success)
    }

    /// One sentence on how the run ended.
    pub fn describe(&self, timeout: Duration) -> String {
        match &self.verdict {
            Some(Verdict::Success) => "firmware reported success".into(),
            Some(Verdict::FirmwareFailure) => "firmware reported failure".into(),
            Some(Verdict::Other(why)) => why.clone(),
            None => format!("timed out after {} s: the firmware never ended the run", timeout.as_secs()),
        }
    }
}

/// The QEMU command line for `board`.
pub fn command(board: &Board, built: &Built, opts: &RunOpts) -> Result<Command> {
    let q = &board.qemu;
    let mut cmd = Command::new(&q.binary);
    cmd.args(["-machine", &q.machine]);
    if let Some(cpu) = &q.cpu {
        cmd.args(["-cpu", cpu]);
    }
    cmd.args(["-m", &crate::size::qemu_mem_arg(opts.mem_bytes)?])
        .args(["-smp", &opts.smp.to_string()])
        .arg("-kernel")
        .arg(&built.image)
        .args(["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"])
        .args(["-accel", "tcg"])
        .args(&q.args);
    // QEMU refuses -append without -kernel only; with a raw arm64 Image it writes /chosen/bootargs,
    // with Multiboot it becomes the command line after the image path.
    if !opts.cmdline.is_empty() {
        cmd.args(["-append", &opts.cmdline]);
    }
    debug_assert!(matches!(board.image, ImageKind::MultibootElf | ImageKind::Arm64Image));
    cmd.args(&opts.extra_args);
    Ok(cmd)
}

fn level_name(level: Option<defmt_parser::Level>) -> &'static str {
    match level {
        Some(defmt_parser::Level::Trace) => "TRACE",
        Some(defmt_parser::Level::Debug) => "DEBUG",
        Some(defmt_parser::Level::Info) => "INFO",
        Some(defmt_parser::Level::Warn) => "WARN",
        Some(defmt_parser::Level::Error) => "ERROR",
        None => "PRINT",
    }
}

/// Boots and decodes until QEMU exits or the time-out.
pub fn run(board: &Board, built: &Built, opts: &RunOpts) -> Result<Outcome> {
    crate::setup::ensure_qemu(&[board.qemu.binary.as_str()])?;
    let elf = std::fs::read(&built.elf).with_context(|| format!("reading {}", built.elf.display()))?;
    let table = Table::parse(&elf)
        .context("reading the defmt table")?
        .with_context(|| format!("{} has no .defmt section", built.elf.display()))?;
    let locations: BTreeMap<u64, Location> = table.get_locations(&elf).unwrap_or_default();
    let mut decoder = table.new_stream_decoder();

    let mut cmd = command(board, built, opts)?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", board.qemu.binary))?;
    let mut stdout = child.stdout.take().context("QEMU stdout")?;
    let mut stderr = child.stderr.take().context("QEMU stderr")?;
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let deadline = Instant::now() + opts.timeout;
    let mut lines = Vec::new();
    let mut malformed = 0;
    let mut status = None;
    let emit = |frame: &defmt_decoder::Frame<'_>, lines: &mut Vec<String>| {
        let level = level_name(frame.level());
        let mut line = format!("{level:<5} {}", frame.display_message());
        if matches!(level, "ERROR" | "WARN") {
            if let Some(loc) = locations.get(&frame.index()) {
                line.push_str(&format!("  (at {}:{})", loc.file.display(), loc.line));
            }
        }
        if opts.echo {
            println!("{line}");
        }
        lines.push(line);
    };
    loop {
        let done = match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(bytes) => {
                decoder.received(&bytes);
                false
            }
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            Err(mpsc::RecvTimeoutError::Disconnected) => true,
        };
        loop {
            match decoder.decode() {
                Ok(frame) => emit(&frame, &mut lines),
                Err(DecodeError::UnexpectedEof) => break,
                Err(DecodeError::Malformed) => malformed += 1,
            }
        }
        if done {
            status = Some(child.wait().context("waiting for QEMU")?);
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
    }
    let _ = reader.join();
    let stderr = err_reader.join().unwrap_or_default();
    let verdict = status.map(|s| board.qemu.exit.verdict(s.code().unwrap_or(-1)));
    Ok(Outcome { lines, verdict, stderr, malformed_frames: malformed })
}

/// Boots once for `cargo xtask run`: prints the log and turns the verdict into the exit status.
pub fn run_interactive(board: &Board, built: &Built, opts: &RunOpts) -> Result<()> {
    eprintln!(
        "run: {} with {} MiB, {} CPU(s){}",
        board.name,
        opts.mem_bytes >> 20,
        opts.smp,
        if opts.cmdline.is_empty() { String::new() } else { format!(", command line {:?}", opts.cmdline) }
    );
    let outcome = run(board, built, opts)?;
    if outcome.malformed_frames > 0 {
        eprintln!("run: {} malformed defmt frame(s) skipped", outcome.malformed_frames);
    }
    if !outcome.success() && !outcome.stderr.trim().is_empty() {
        eprintln!("QEMU stderr:\n{}", outcome.stderr.trim_end());
    }
    let how = outcome.describe(opts.timeout);
    if outcome.success() {
        eprintln!("run: {how}");
        Ok(())
    } else {
        bail!("{how}")
    }
}

