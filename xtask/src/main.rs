//! `cargo xtask`: the one way to build, boot and test the boards.
//!
//! Every subcommand sets up what it needs first (the pinned toolchain, QEMU) and says so.
//! Board descriptions live in `boards/<name>/board.toml`; see `board.rs`.

mod apps;
mod bench;
mod board;
mod browser;
mod firmware;
mod fuzz;
mod image;
mod memmap;
mod memmap_log;
mod memmap_svg;
mod newboard;
mod qemu;
mod setup;
mod size;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

/// The board `run` boots when none is named.
const DEFAULT_BOARD: &str = "qemu-virt-aarch64";

#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", about = "Build, boot and test the firmware's boards")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// List the boards, one line each, then the applications an image can run (`--app`).
    Boards,
    /// Write a new board folder from a device tree: platform from the CPUs, console from
    /// /chosen/stdout-path (or bootargs' console=, numbered by /aliases as Linux numbers ports),
    /// RAM, SMP method, QEMU machine.
    /// Writes nothing and lists what is missing when the platform, console driver or machine
    /// does not exist.
    NewBoard {
        /// The board's name (its folder under boards/ and its crate name).
        #[arg(required_unless_present = "survey")]
        name: Option<String>,
        /// The device tree to read.
        #[arg(long, required_unless_present = "survey")]
        from_dtb: Option<PathBuf>,
        /// Instead of writing a board: run the scaffolder over every .dtb in DIR (repeatable),
        /// writing nothing into boards/, and print per outcome how many trees give a valid
        /// board and the missing pieces, most common first.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["name", "from_dtb"])]
        survey: Vec<PathBuf>,
        /// An existing board (a folder under boards/) to take what a device tree cannot say
        /// from: its exit device and QEMU arguments when it has the tree's platform, and its
        /// [qemu] section when QEMU does not emulate the tree's machine. The tree's CPUs must be
        /// ones a platform runs (AArch64 Cortex-A or Neoverse, ARMv7-A Cortex-A5 to -A17; not
        /// ARMv6 and older, Cortex-R or Cortex-M). With --survey it may be given once per
        /// platform: each tree takes the one of its CPUs' platform.
        #[arg(long, value_parser = board_names())]
        like: Vec<String>,
    },
    /// Build a board's image and print its path.
    Build {
        /// The board to build: a folder under boards/ (`cargo xtask boards` lists them).
        #[arg(long)]
        board: String,
        /// The application the image runs: a folder under apps/ (`cargo xtask boards` lists
        /// them): selftest (the boot self-tests), memtest (a memory tester on every CPU),
        /// hello (the README's example).
        #[arg(long, default_value = apps::DEFAULT_APP)]
        app: String,
        /// Build with the release profile (optimised, with debug info) instead of dev.
        #[arg(long)]
        release: bool,
        /// Most detailed log level compiled in (defmt filters at build time).
        #[arg(long, value_enum, default_value = "info")]
        log_level: LogLevel,
    },
    /// Build a board's image(s) for booting through real firmware (qemu-i386-pc: a GRUB ISO;
    /// qemu-virt-aarch64: a FAT disk with the Image and a U-Boot boot.scr) and print their paths
    /// and sizes. Installs GRUB/U-Boot and the image tools with apt-get when missing.
    Image {
        /// The board: one whose board.toml lists real firmware (`qemu.firmware`): qemu-i386-pc
        /// (grub), qemu-virt-aarch64 and qemu-virt-arm (uboot).
        #[arg(long)]
        board: String,
        /// The application the image runs: a folder under apps/ (`cargo xtask boards` lists
        /// them): selftest (the boot self-tests), memtest (a memory tester on every CPU),
        /// hello (the README's example).
        #[arg(long, default_value = apps::DEFAULT_APP)]
        app: String,
        /// Build with the release profile (optimised, with debug info) instead of dev.
        #[arg(long)]
        release: bool,
        /// Boot command line the firmware passes (grub.cfg / boot.scr).
        #[arg(long, default_value = "")]
        append: String,
        /// A file the firmware loads as the initrd (Multiboot module / booti ramdisk).
        #[arg(long)]
        initrd: Option<PathBuf>,
        /// Write a test initrd (the format the firmware checks, see firmware.rs) of this many
        /// payload bytes to FILE and put it in the image: `--test-initrd 300000:FILE`.
        #[arg(long, conflicts_with = "initrd")]
        test_initrd: Option<String>,
        /// Most detailed log level compiled in (defmt filters at build time).
        #[arg(long, value_enum, default_value = "info")]
        log_level: LogLevel,
    },
    /// Build and boot a board in QEMU, printing the decoded log; exits 0 only if the firmware
    /// reports success.
    Run {
        /// The board to boot: a folder under boards/ (`cargo xtask boards` lists them).
        #[arg(long, default_value = DEFAULT_BOARD)]
        board: String,
        /// The application the image runs: a folder under apps/ (`cargo xtask boards` lists
        /// them): selftest (the boot self-tests), memtest (a memory tester on every CPU),
        /// hello (the README's example).
        #[arg(long, default_value = apps::DEFAULT_APP)]
        app: String,
        /// RAM size (e.g. 128M, 3G); the board's default if omitted.
        #[arg(long)]
        mem: Option<String>,
        /// Number of CPUs, 1 to 8 (the firmware's NR_CPUS); the board's `qemu.default-cpus` if
        /// omitted.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        smp: Option<u32>,
        /// Build with the release profile (optimised, with debug info) instead of dev.
        #[arg(long)]
        release: bool,
        /// Boot command line (e.g. "mem=64M memblock=debug").
        #[arg(long, default_value = "")]
        append: String,
        /// Most detailed log level compiled in (defmt filters at build time).
        #[arg(long, value_enum, default_value = "info")]
        log_level: LogLevel,
        /// Seconds without a log line before the run is declared hung (at least 1); a long
        /// application that prints progress (memtest) runs as long as it needs.
        #[arg(long, default_value_t = 60, value_parser = parse_timeout)]
        timeout: u64,
        /// Boot through real firmware (grub: qemu-i386-pc; uboot: qemu-virt-aarch64, qemu-virt-arm) instead of
        /// QEMU's own loader; the image is made as `cargo xtask image` does.
        #[arg(long, value_enum)]
        firmware: Option<firmware::Firmware>,
        /// An initrd (Multiboot module on x86, /chosen on ARM); with --firmware it goes into
        /// the image.
        #[arg(long)]
        initrd: Option<PathBuf>,
        /// After a successful boot, draw the physical memory map from its log into this SVG.
        #[arg(long, value_name = "OUT.svg")]
        memmap: Option<PathBuf>,
        /// With --memmap: render the SVG in headless Chromium into this PNG and check it.
        #[arg(long, value_name = "OUT.png", requires = "memmap")]
        memmap_png: Option<PathBuf>,
        /// Extra QEMU arguments, after `--`.
        #[arg(last = true)]
        qemu_args: Vec<String>,
    },
    /// Run the platforms' discovery and reservation code on the host over a firmware memory
    /// description and print the resulting memblock.
    Memmap {
        /// An e820 map as JSON (array of {addr, size, type}).
        #[arg(long, conflicts_with = "dtb", required_unless_present = "dtb")]
        e820: Option<PathBuf>,
        /// With --e820 on a file holding several maps: which one.
        #[arg(long, requires = "e820")]
        map: Option<String>,
        /// A flattened device tree.
        #[arg(long)]
        dtb: Option<PathBuf>,
        /// Apply `mem=SIZE` as the platform does (ARM: first SIZE bytes of RAM; x86: RAM below
        /// address SIZE).
        #[arg(long)]
        mem_cap: Option<String>,
        /// JSON instead of the memblock_dump_all text.
        #[arg(long, conflicts_with = "simulate")]
        json: bool,
        /// Go on like the firmware: zones, mem_map, the buddy hand-off and its self-check.
        #[arg(long)]
        simulate: bool,
        /// Also draw the physical memory map into this SVG.
        #[arg(long, value_name = "OUT.svg")]
        svg: Option<PathBuf>,
        /// With --svg: render it in headless Chromium into this PNG and check it.
        #[arg(long, value_name = "OUT.png", requires = "svg")]
        png: Option<PathBuf>,
    },
    /// Run the fuzz targets (cargo fuzz), each for a bounded time.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only this target (dt_discover, e820_sanitize, memblock_ops).
        #[arg(long)]
        target: Option<String>,
    },
    /// Host benchmarks (criterion): the buddy allocator against buddy_system_allocator and a
    /// LIFO floor, as a table with ratios to the floor measured in the same run.
    Bench {
        /// Write the table into README.md's performance section.
        #[arg(long)]
        write_readme: bool,
    },
    /// Host tests of every crate, then boots of every board in QEMU checked against what they
    /// must print.
    Test {
        /// Only the host tests.
        #[arg(long)]
        host_only: bool,
        /// Only the boots whose name contains this (skips host tests and fuzzing).
        #[arg(long)]
        filter: Option<String>,
        /// Seconds each fuzz target runs (0 skips fuzzing).
        #[arg(long, default_value_t = 20)]
        fuzz_seconds: u64,
    },
}

/// The boards under `boards/` (each folder with a board.toml), as the values `--like` accepts.
fn board_names() -> clap::builder::PossibleValuesParser {
    let mut names: Vec<String> = std::fs::read_dir(root().join("boards"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("board.toml").is_file())
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    // clap keeps `&'static str` values; this runs once per parse.
    clap::builder::PossibleValuesParser::new(names.into_iter().map(|n| &*Box::leak(n.into_boxed_str())))
}

/// `--timeout SECONDS`: a whole number of seconds, at least 1 (0 would declare every boot hung
/// before it starts).
fn parse_timeout(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("0 would time out at once, before the firmware runs: give the seconds a boot may take (at least 1; the default is 60)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number of seconds")),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    let root = root();
    match cli.cmd {
        Cmd::Boards => {
            for b in board::load_all(&root)? {
                println!("{:<20} {}", b.name, b.description);
            }
            println!();
            println!("applications (--app; default {}):", apps::DEFAULT_APP);
            for a in apps::list(&root)? {
                println!("{:<20} {}", a.name, a.description);
            }
            Ok(())
        }
        Cmd::NewBoard { name, from_dtb, survey, like } => match (name, from_dtb) {
            (Some(name), Some(from_dtb)) => match like.as_slice() {
                [] => newboard::run(&root, &name, &from_dtb, None),
                [one] => newboard::run(&root, &name, &from_dtb, Some(one)),
                more => anyhow::bail!("new-board {name}: --like is given {} times ({}); one board is written from one --like (several are for --survey)", more.len(), more.join(", ")),
            },
            _ => newboard::run_survey(&root, &survey, &like).map(|_| ()),
        },
        Cmd::Build { board, app, release, log_level } => {
            let b = board::find(&root, &board)?;
            let built = image::build(&root, &b, &image::BuildOpts { release, log_level: log_level.as_str().into(), app: app.clone() })?;
            println!("{}", built.image.display());
            Ok(())
        }
        Cmd::Image { board, app, release, append, initrd, test_initrd, log_level } => {
            let b = board::find(&root, &board)?;
            let fw = firmware::Firmware::for_board(&b)?;
            let initrd = match test_initrd {
                Some(spec) => {
                    let (len, file) = spec.split_once(':').context("--test-initrd wants LEN:FILE")?;
                    let len: u32 = len.parse().context("--test-initrd LEN")?;
                    let file = PathBuf::from(file);
                    std::fs::write(&file, firmware::initrd_bytes(len, 0x5eed))
                        .with_context(|| format!("writing {}", file.display()))?;
                    Some(file)
                }
                None => initrd,
            };
            let built = image::build(&root, &b, &image::BuildOpts { release, log_level: log_level.as_str().into(), app: app.clone() })?;
            let out_dir = firmware::out_dir(&built, fw, "image");
            let img = firmware::make_image(&b, &built, fw, &firmware::ImageOpts { cmdline: &append, initrd: initrd.as_deref() }, &out_dir)?;
            for f in img.files.iter().chain(initrd.as_ref()) {
                let len = std::fs::metadata(f).with_context(|| format!("reading {}", f.display()))?.len();
                println!("{}  {len} bytes ({} KiB)", f.display(), len.div_ceil(1024));
            }
            Ok(())
        }
        Cmd::Run { board, app, mem, smp, release, append, log_level, timeout, firmware, initrd, memmap, memmap_png, qemu_args } => {
            let b = board::find(&root, &board)?;
            apps::check(&root, &app)?;
            let mem_bytes = size::parse_size(mem.as_deref().unwrap_or(&b.qemu.default_mem))
                .context("--mem")?;
            size::qemu_mem_arg(mem_bytes).context("--mem")?;
            let smp = smp.unwrap_or(b.qemu.default_cpus);
            board::check_machine_limits(&b, mem_bytes, smp)?;
            board::check_host_memory(mem_bytes)?;
            if let Some(fw) = firmware {
                fw.check_board(&b)?;
            }
            setup::ensure_qemu(&[b.qemu.binary.as_str()])?;
            for out in memmap.iter().chain(&memmap_png) {
                memmap_svg::check_writable(out)?;
            }
            let built = image::build(&root, &b, &image::BuildOpts { release, log_level: log_level.as_str().into(), app: app.clone() })?;
            if let Some(i) = &initrd {
                anyhow::ensure!(i.is_file(), "--initrd {} is not a file", i.display());
            }
            let fw_image = match firmware {
                Some(fw) => {
                    let out_dir = firmware::out_dir(&built, fw, "run");
                    let opts = firmware::ImageOpts { cmdline: &append, initrd: initrd.as_deref() };
                    Some(firmware::make_image(&b, &built, fw, &opts, &out_dir)?)
                }
                None => None,
            };
            let opts = qemu::RunOpts {
                mem_bytes,
                smp,
                cmdline: append,
                extra_args: qemu_args,
                timeout: Duration::from_secs(timeout),
                echo: true,
                initrd,
                firmware: fw_image,
            };
            let lines = match (qemu::run_interactive(&b, &built, &opts), &memmap) {
                (Err(e), Some(svg)) => return Err(e.context(format!("the boot failed: no memory map drawn to {}", svg.display()))),
                (r, _) => r?,
            };
            match memmap {
                Some(svg) => memmap::draw_boot_log(&lines, &b.name, &opts, &svg, memmap_png.as_deref()),
                None => Ok(()),
            }
        }
        Cmd::Memmap { e820, map, dtb, mem_cap, json, simulate, svg, png } => {
            let cap = mem_cap.as_deref().map(size::parse_size).transpose().context("--mem-cap")?;
            let format = if json { memmap::Format::Json } else { memmap::Format::Dump };
            for out in svg.iter().chain(&png) {
                memmap_svg::check_writable(out)?;
            }
            let out = match (e820, dtb) {
                (Some(f), None) => memmap::e820_full(&f, map.as_deref(), cap, format, simulate)?,
                (None, Some(f)) => memmap::dtb_full(&f, cap, format, simulate)?,
                _ => unreachable!("clap enforces exactly one of --e820 and --dtb"),
            };
            println!("{}", out.text);
            match svg {
                Some(svg) => memmap::draw(&out.map, &svg, png.as_deref()),
                None => Ok(()),
            }
        }
        Cmd::Bench { write_readme } => bench::run(&root, write_readme),
        Cmd::Fuzz { seconds, target } => fuzz::run(&root, seconds, target.as_deref()),
        Cmd::Test { host_only, filter, fuzz_seconds } => test::run_all(&root, host_only, filter.as_deref(), fuzz_seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(args: &[&str]) -> String {
        match Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied())) {
            Ok(_) => panic!("{args:?} should be refused"),
            Err(e) => e.to_string(),
        }
    }

    fn help(sub: &str) -> String {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        cmd.find_subcommand_mut(sub).unwrap_or_else(|| panic!("{sub}")).render_long_help().to_string()
    }

    /// Every option of every subcommand says what it is; new-board lists the boards --like takes.
    #[test]
    fn every_option_has_help_text() {
        let cmd = <Cli as clap::CommandFactory>::command();
        for sub in cmd.get_subcommands() {
            for arg in sub.get_arguments().filter(|a| a.get_id() != "help") {
                assert!(arg.get_help().is_some() || arg.get_long_help().is_some(), "{} --{}: no help text", sub.get_name(), arg.get_id());
            }
        }
        let h = help("new-board");
        assert!(h.contains("qemu-i386-pc") && h.contains("qemu-raspi3b") && h.contains("qemu-virt-aarch64"), "{h}");
        assert!(help("build").contains("Build with the release profile"));
        for sub in ["build", "image", "run"] {
            assert!(help(sub).contains("memtest (a memory tester on every CPU)"), "{sub}");
        }
        assert!(parse_err(&["new-board", "x", "--from-dtb", "f.dtb", "--like", "nosuch"]).contains("qemu-virt-aarch64"));
    }

    #[test]
    fn a_zero_timeout_is_refused_clearly() {
        let e = parse_err(&["run", "--timeout", "0"]);
        assert!(e.contains("0 would time out at once"), "{e}");
        assert!(parse_err(&["run", "--timeout", "soon"]).contains("not a whole number of seconds"));
        assert!(Cli::try_parse_from(["cargo xtask", "run", "--timeout", "5"]).is_ok());
    }
}
