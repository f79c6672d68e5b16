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
use crate::firmware::{Firmware, FirmwareImage};
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
    /// Each line's timestamp in seconds since the firmware's first instruction.
    pub stamps: Vec<Option<f64>>,
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
            None => format!("timed out: no log line for {} s and the firmware never ended the run", timeout.as_secs()),
        }
    }
}

/// QEMU arguments that leave the machine without a network device.
pub const NO_NIC: [&str; 2] = ["-nic", "none"];

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
                cmd.args(["-bios", crate::firmware::uboot_bin(board)])
                    .arg("-drive")
                    .arg(format!("if=none,file={},format=raw,id=fwdisk", fw.disk.display()))
                    .args(["-device", "virtio-blk-device,drive=fwdisk"]);
            }
        },
    }
    // No network device on any board or firmware path: the firmware has no driver for one,
    // `virt`'s default NIC needs a boot ROM (efi-virtio.rom) that qemu-system-arm only
    // recommends, and U-Boot would try DHCP/TFTP first.
    cmd.args(NO_NIC);
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

    // A run is hung when the firmware is silent for `timeout`: each log line moves the deadline,
    // so a long application that reports progress (memtest) runs as long as it needs.
    let mut deadline = Instant::now() + opts.timeout;
    // Every byte the decoder saw: the exit line's check is recomputed over it.
    let mut stream = Vec::new();
    let mut lines = Vec::new();
    let mut stamps = Vec::new();
    let mut malformed = 0;
    let mut status = None;
    let emit = |frame: &defmt_decoder::Frame<'_>, lines: &mut Vec<String>, stamps: &mut Vec<Option<f64>>| {
        let level = level_name(frame.level());
        let mut line = format!("{level:<5} {}", frame.display_message());
        if matches!(level, "ERROR" | "WARN") {
            if let Some(loc) = locations.get(&frame.index()) {
                line.push_str(&format!("  (at {}:{})", loc.file.display(), loc.line));
            }
        }
        // The frame's timestamp (seconds since the firmware's first instruction, Linux's
        // `[    0.012345]`) is printed, and kept apart from the line the checks read.
        let stamp = frame.display_timestamp().map(|t| t.to_string());
        if opts.echo {
            match &stamp {
                Some(t) => println!("[{t:>12}] {line}"),
                None => println!("{line}"),
            }
        }
        stamps.push(stamp.and_then(|t| t.parse::<f64>().ok()));
        lines.push(line);
    };
    loop {
        let done = match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(bytes) => {
                let firmware_bytes = loader.split(&bytes);
                stream.extend_from_slice(firmware_bytes);
                decoder.received(firmware_bytes);
                false
            }
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            Err(mpsc::RecvTimeoutError::Disconnected) => true,
        };
        loop {
            match decoder.decode() {
                Ok(frame) => {
                    emit(&frame, &mut lines, &mut stamps);
                    deadline = Instant::now() + opts.timeout;
                }
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
    let verdict = status.map(|s| judge(board, s, &stderr, &lines, malformed, &stream));
    Ok(Outcome { lines, stamps, verdict, stderr, malformed_frames: malformed, loader_text: loader.into_string() })
}

/// What ended QEMU, from its exit status, its stderr and the firmware's last log line.
///
/// A success needs the firmware's own evidence twice over: its exit device's success status and,
/// as the very last frame, its exit line (`kernel::log_exit`) whose check (frames, bytes,
/// CRC-32) matches every byte received before it. A QEMU ended by a signal is a failure that
/// names the signal, whatever status it exited with.
fn judge(board: &Board, status: std::process::ExitStatus, stderr: &str, lines: &[String], malformed: usize, stream: &[u8]) -> Verdict {
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        return Verdict::Other(format!("QEMU was killed by signal {sig} ({}) before the firmware ended the run", signal_name(sig)));
    }
    // QEMU catches SIGTERM, SIGINT and SIGHUP and exits with status 0, saying so on stderr.
    if let Some(sig) = stderr.split("terminating on signal ").nth(1).and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()).and_then(|n| n.parse::<i32>().ok()) {
        let from = stderr.split("terminating on signal ").nth(1).and_then(|r| r.lines().next()).unwrap_or("").trim();
        return Verdict::Other(format!("QEMU was ended by signal {sig} ({}) before the firmware ended the run: \"terminating on signal {from}\"", signal_name(sig)));
    }
    let verdict = crate::board::verdict(board.qemu.exit, status.code().unwrap_or(-1));
    if verdict != Verdict::Success {
        return verdict;
    }
    match check_exit_line(lines, malformed, stream) {
        Ok(()) => Verdict::Success,
        Err(why) => Verdict::Other(format!("QEMU's exit status says success, but {why}: not a success the firmware reported")),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "a signal",
    }
}

/// Checks that the last decoded line is the firmware's success exit line and that its check
/// covers exactly what arrived before it.
fn check_exit_line(lines: &[String], malformed: usize, stream: &[u8]) -> Result<(), String> {
    const HEAD: &str = "INFO  exit: success; log check: ";
    let Some(last) = lines.last() else { return Err("the firmware logged nothing".into()) };
    let Some(rest) = last.strip_prefix(HEAD) else {
        return Err(format!("the firmware's last line is not its success exit line (last line: {last:?})"));
    };
    let field = |name: &str| -> Option<u64> {
        let (before, _) = rest.split_once(name)?;
        let word = before.rsplit([' ', ',']).find(|w| !w.is_empty())?;
        match word.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => word.parse().ok(),
        }
    };
    let (Some(frames), Some(bytes), Some(crc)) =
        (field(" frames"), field(" bytes"), rest.rsplit("CRC-32 ").next().and_then(|h| u64::from_str_radix(h.trim().trim_start_matches("0x"), 16).ok()))
    else {
        return Err(format!("the exit line {last:?} is garbled"));
    };
    // The exit frame is the stream's last: `... 0x00 <frame> 0x00`; its check covers the bytes
    // up to and including the delimiter before it.
    let body = stream.strip_suffix(&[0]).unwrap_or(stream);
    let before = body.iter().rposition(|&b| b == 0).map_or(&[][..], |i| &stream[..=i]);
    let received_frames = (lines.len() - 1 + malformed) as u64;
    let want_crc = u64::from(crc32fast::hash(before));
    if frames != received_frames || bytes != before.len() as u64 & 0xffff_ffff || crc != want_crc {
        return Err(format!(
            "the exit line's check ({frames} frames, {bytes} bytes, CRC-32 {crc:#010x}) does not match the log received \
             ({received_frames} frames, {} bytes, CRC-32 {want_crc:#010x}): frames were lost, damaged or injected",
            before.len()
        ));
    }
    Ok(())
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


#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    /// A stream of two frames: `[0] a b c [0]` and the exit frame `x y [0]`.
    fn exit_case(line: &str) -> (Vec<String>, Vec<u8>) {
        let stream = vec![0, 1, 2, 3, 0, 9, 9, 0];
        (vec!["INFO  hello".into(), line.into()], stream)
    }

    fn exit_line(frames: u32, bytes: u32, crc: u32) -> String {
        format!("INFO  exit: success; log check: {frames} frames, {bytes} bytes, CRC-32 {crc:#010x}")
    }

    #[test]
    fn a_success_needs_the_exit_line_and_its_check() {
        let crc = crc32fast::hash(&[0, 1, 2, 3, 0]);
        let (lines, stream) = exit_case(&exit_line(1, 5, crc));
        check_exit_line(&lines, 0, &stream).unwrap();
        // Wrong CRC, wrong byte count, a frame lost or one malformed frame extra.
        for (line, malformed) in [(exit_line(1, 5, crc ^ 1), 0), (exit_line(1, 4, crc), 0), (exit_line(2, 5, crc), 0), (exit_line(1, 5, crc), 1)] {
            let (lines, stream) = exit_case(&line);
            let e = check_exit_line(&lines, malformed, &stream).unwrap_err();
            assert!(e.contains("does not match the log received"), "{e}");
        }
        // No exit line at all (QEMU ended from outside, a stray write to the exit device).
        let e = check_exit_line(&["INFO  mem_map: node 0".into()], 0, &[0, 1, 0]).unwrap_err();
        assert!(e.contains("not its success exit line") && e.contains("mem_map"), "{e}");
        let e = check_exit_line(&[], 0, &[]).unwrap_err();
        assert!(e.contains("logged nothing"), "{e}");
        let e = check_exit_line(&["INFO  exit: failure; log check: 1 frames, 5 bytes, CRC-32 0x0".into()], 0, &[0, 1, 0]).unwrap_err();
        assert!(e.contains("not its success exit line"), "{e}");
    }

    #[test]
    fn signals_and_foreign_statuses_are_failures_naming_the_cause() {
        use std::os::unix::process::ExitStatusExt;
        use std::process::ExitStatus;
        let boards = crate::board::load_all(&root()).unwrap();
        let arm = boards.iter().find(|b| b.qemu.exit == crate::board::ExitDevice::Semihosting).unwrap();
        let x86 = boards.iter().find(|b| b.qemu.exit == crate::board::ExitDevice::IsaDebugExit).unwrap();
        let crc = crc32fast::hash(&[0, 1, 2, 3, 0]);
        let (lines, stream) = exit_case(&exit_line(1, 5, crc));
        // Raw wait statuses: a signal in the low bits, an exit code shifted by 8.
        let killed = ExitStatus::from_raw(9);
        let code = |c: i32| ExitStatus::from_raw(c << 8);
        for board in [arm, x86] {
            assert_eq!(judge(board, code(33), "", &lines, 0, &stream), Verdict::Success);
            let Verdict::Other(why) = judge(board, killed, "", &lines, 0, &stream) else { panic!() };
            assert!(why.contains("signal 9 (SIGKILL)"), "{why}");
            let stderr = "qemu-system-aarch64: terminating on signal 15 from pid 1234 (kill)\n";
            let Verdict::Other(why) = judge(board, code(0), stderr, &lines, 0, &stream) else { panic!() };
            assert!(why.contains("signal 15 (SIGTERM)") && why.contains("from pid 1234"), "{why}");
            // Even with the success status, a signal on stderr wins.
            assert!(matches!(judge(board, code(33), stderr, &lines, 0, &stream), Verdict::Other(_)));
            // The success status without the exit line.
            let Verdict::Other(why) = judge(board, code(33), "", &lines[..1], 0, &stream[..5]) else { panic!() };
            assert!(why.contains("exit status says success"), "{why}");
        }
        let Verdict::Other(why) = judge(arm, code(0), "", &lines, 0, &stream) else { panic!() };
        assert!(why.contains("status 0"), "{why}");
    }

    /// Every board, booted directly and through each firmware, gets a machine without a NIC:
    /// with one, `virt` needs efi-virtio.rom, which a machine with only qemu-system-arm lacks.
    #[test]
    fn no_board_or_firmware_path_asks_for_a_network_device() {
        let boards = crate::board::load_all(&root()).unwrap();
        assert!(boards.len() >= 3);
        let built = Built { elf: "fw.elf".into(), image: "fw.img".into() };
        for board in &boards {
            let firmware = [Firmware::Grub, Firmware::Uboot]
                .into_iter()
                .map(|f| Some(FirmwareImage { firmware: f, disk: "disk.img".into(), files: vec![] }));
            for fw in std::iter::once(None).chain(firmware) {
                let what = format!("{} through {:?}", board.name, fw.as_ref().map(|f| f.firmware));
                let opts = RunOpts {
                    mem_bytes: 256 << 20,
                    smp: 1,
                    cmdline: String::new(),
                    extra_args: vec![],
                    timeout: Duration::from_secs(1),
                    echo: false,
                    initrd: None,
                    firmware: fw,
                };
                let cmd = command(board, &built, &opts).unwrap();
                let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
                let nic = args.windows(2).filter(|w| w[0] == "-nic" || w[0] == "-net" || w[0] == "-netdev").collect::<Vec<_>>();
                assert_eq!(nic, [["-nic", "none"]], "{what}: {args:?}");
                assert!(!args.iter().any(|a| a.contains("nic,") || a.starts_with("virtio-net") || a.starts_with("e1000")), "{what}: {args:?}");
            }
        }
    }
}
