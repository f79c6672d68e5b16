//! Booting an image in QEMU and decoding what the firmware logs.
//!
//! The firmware writes defmt frames (rzcobs, 0x00-delimited) to its console, which QEMU
//! connects to our pipe. Frames are decoded against the exact ELF that was booted and printed
//! as they arrive. The run ends when the firmware ends QEMU through its exit device, or at the
//! time-out; the exit status says which verdict it was.
//!
//! A boot is direct (QEMU loads the image itself: `-kernel`, `-append`, `-initrd`) or through
//! real firmware (`firmware.rs`: GRUB from `-cdrom`, U-Boot as `-bios` with a virtio disk).
//! Firmware may print text on the same serial line before the firmware starts; everything up to
//! the logger's first frame delimiter (0x00) is kept apart as the boot loader's text (echoed
//! with a `loader|` prefix) and never reaches the defmt decoder.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use defmt_decoder::{DecodeError, Location, Table};

use crate::board::{Board, Verdict};
use crate::firmware::{Firmware, FirmwareImage, UBOOT_BIN};
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
    /// An initrd: `-initrd` for a direct boot (a Multiboot module on x86, `/chosen` on ARM).
    /// Firmware boots carry theirs in the image.
    pub initrd: Option<PathBuf>,
    /// Boot through this firmware image instead of QEMU's own loader.
    pub firmware: Option<FirmwareImage>,
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
    /// What the boot loader printed on the serial line before the firmware's first frame.
    pub loader_text: String,
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
    cmd.args(["-m", &crate::size::qemu_mem_arg(opts.mem_bytes)?]).args(["-smp", &opts.smp.to_string()]);
    match &opts.firmware {
        None => {
            cmd.arg("-kernel").arg(&built.image);
            // QEMU refuses -append without -kernel only; with a raw arm64 Image it writes
            // /chosen/bootargs, with Multiboot it becomes the command line after the image path.
            if !opts.cmdline.is_empty() {
                cmd.args(["-append", &opts.cmdline]);
            }
            if let Some(i) = &opts.initrd {
                cmd.arg("-initrd").arg(i);
            }
            // Machines without a device tree of their own (raspi3b) get the board's; QEMU
            // writes /memory, /chosen bootargs and the initrd into it.
            if let Some(dtb) = board.dtb_path() {
                cmd.arg("-dtb").arg(dtb);
            }
        }
        // The command line and initrd are in the image (grub.cfg, boot.scr).
        Some(fw) => match fw.firmware {
            // SeaBIOS boots the ISO's El Torito image: GRUB.
            Firmware::Grub => {
                cmd.arg("-cdrom").arg(&fw.disk).args(["-boot", "d"]);
            }
            // U-Boot finds boot.scr on the virtio disk; no network, or it tries DHCP/TFTP first.
            Firmware::Uboot => {
                cmd.args(["-bios", UBOOT_BIN])
                    .arg("-drive")
                    .arg(format!("if=none,file={},format=raw,id=fwdisk", fw.disk.display()))
                    .args(["-device", "virtio-blk-device,drive=fwdisk", "-nic", "none"]);
            }
        },
    }
    cmd.args(["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"])
        .args(["-accel", "tcg"])
        .args(&q.args);
    cmd.args(&opts.extra_args);
    Ok(cmd)
}

/// Splits the serial stream into the boot loader's text (before the logger's first 0x00) and
/// the defmt stream (from that delimiter on).
#[derive(Debug, Default)]
struct LoaderText {
    /// The bytes before the first delimiter.
    text: Vec<u8>,
    /// Whether the delimiter has passed.
    done: bool,
    /// Echo completed lines with a prefix as they arrive; `echoed` bytes of `text` were.
    echo: bool,
    echoed: usize,
}

impl LoaderText {
    fn new(echo: bool) -> Self {
        Self { echo, ..Self::default() }
    }

    /// Takes the loader's bytes off the front of `bytes`; returns what belongs to the decoder.
    fn split<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        if self.done {
            return bytes;
        }
        let cut = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        self.text.extend_from_slice(&bytes[..cut]);
        self.done = cut < bytes.len();
        if self.echo {
            while let Some(nl) = self.text[self.echoed..].iter().position(|&b| b == b'\n') {
                eprintln!("loader| {}", String::from_utf8_lossy(&self.text[self.echoed..self.echoed + nl]).trim_end());
                self.echoed += nl + 1;
            }
            if self.done && self.echoed < self.text.len() {
                eprintln!("loader| {}", String::from_utf8_lossy(&self.text[self.echoed..]).trim_end());
                self.echoed = self.text.len();
            }
        }
        &bytes[cut..]
    }

    fn into_string(self) -> String {
        // Control sequences (U-Boot's, GRUB's) made visible rather than interpreted.
        String::from_utf8_lossy(&self.text)
            .chars()
            .filter(|c| *c == '\n' || !c.is_control())
            .collect()
    }
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
    // Direct boots too: QEMU's loaders print nothing, so this only ever holds what a boot loader
    // (or a misbehaving BIOS) left on the line.
    let mut loader = LoaderText::new(opts.echo && opts.firmware.is_some());

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
                decoder.received(loader.split(&bytes));
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
    let verdict = status.map(|s| crate::board::verdict(board.qemu.exit, s.code().unwrap_or(-1)));
    Ok(Outcome { lines, verdict, stderr, malformed_frames: malformed, loader_text: loader.into_string() })
}

/// Boots once for `cargo xtask run`: prints the log and turns the verdict into the exit status.
/// On success, the decoded lines.
pub fn run_interactive(board: &Board, built: &Built, opts: &RunOpts) -> Result<Vec<String>> {
    eprintln!(
        "run: {} with {} MiB, {} CPU(s){}{}{}",
        board.name,
        opts.mem_bytes >> 20,
        opts.smp,
        if opts.cmdline.is_empty() { String::new() } else { format!(", command line {:?}", opts.cmdline) },
        opts.initrd.as_ref().map(|i| format!(", initrd {}", i.display())).unwrap_or_default(),
        opts.firmware.as_ref().map(|f| format!(", through {} ({})", f.firmware.name(), f.disk.display())).unwrap_or_default(),
    );
    let outcome = run(board, built, opts)?;
    if outcome.malformed_frames > 0 {
        eprintln!("run: {} malformed defmt frame(s) skipped", outcome.malformed_frames);
    }
    if !outcome.success() && opts.firmware.is_some() && outcome.lines.is_empty() {
        eprintln!("run: the firmware never logged a frame; the boot loader printed:\n{}", outcome.loader_text.trim_end());
    }
    if !outcome.success() && !outcome.stderr.trim().is_empty() {
        eprintln!("QEMU stderr:\n{}", outcome.stderr.trim_end());
    }
    let how = outcome.describe(opts.timeout);
    if outcome.success() {
        eprintln!("run: {how}");
        Ok(outcome.lines)
    } else {
        bail!("{how}")
    }
}

