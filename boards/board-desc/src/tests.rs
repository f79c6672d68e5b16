use super::*;

const GOOD: &str = r#"
name = "demo"
description = "a test board"
platform = "aarch64"
target = "aarch64-unknown-none"
image = "arm64-image"
load-address = 0x20_0000

[console]
driver = "pl011"
node = "/soc/serial@7e201000"

[memory]
banks = [{ base = 0x0, size = 0x3c00_0000 }]

[[reserve]]
name = "frame buffer"
base = 0x3b00_0000
size = 0x10_0000

[smp]
enable-method = "spin-table"

[qemu]
binary = "qemu-system-aarch64"
machine = "raspi3b"
default-mem = "1G"
exit = "semihosting"
"#;

fn board(text: &str) -> Board {
    let mut b = parse(text).expect("parses");
    b.dir = PathBuf::from("boards/demo");
    b
}

/// `GOOD` with `from` replaced by `to`, validated: the error's key and problem.
fn broken(from: &str, to: &str) -> (String, String) {
    assert!(GOOD.contains(from), "{from:?} not in GOOD");
    let text = GOOD.replacen(from, to, 1);
    let e = match parse(&text) {
        Ok(mut b) => {
            b.dir = PathBuf::from("boards/demo");
            b.validate().expect_err("should be refused")
        }
        Err(e) => return (e.key, e.problem),
    };
    assert_eq!(e.file, PathBuf::from("boards/demo/board.toml"));
    (e.key, e.problem)
}

#[test]
fn a_good_board_validates_and_generates() {
    let b = board(GOOD);
    b.validate().unwrap();
    let src = firmware_source(&b);
    assert!(src.contains("console: kernel::board::Console::Node(\"/soc/serial@7e201000\")"), "{src}");
    assert!(src.contains("console_driver: kernel::board::ConsoleDriver::Pl011,"), "{src}");
    assert!(src.contains("ram: &[(0x0, 0x3c000000), ]"), "{src}");
    assert!(src.contains("BoardReservation { base: 0x3b000000, size: 0x100000, name: \"frame buffer\" }"), "{src}");
    assert!(src.contains("smp_method: Some(kernel::board::SmpMethod::SpinTable)"), "{src}");
    assert!(linker_fragment(&b).contains("KERNEL_LOAD_ADDRESS = 0x200000;"));
}

#[test]
fn the_committed_boards_validate() {
    let boards = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(boards).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("board.toml").is_file() {
            let b = load(&dir).unwrap_or_else(|e| panic!("{e}"));
            b.validate_in_repo(boards.parent().unwrap()).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 2, "found {n} boards");
}

#[test]
fn each_mistake_names_its_key() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("name = \"demo\"", "name = \"other\"", "name", "folder"),
        ("platform = \"aarch64\"", "platform = \"riscv\"", "platform", "unknown platform"),
        ("image = \"arm64-image\"", "image = \"multiboot-elf\"", "image", "boots a"),
        (
            "target = \"aarch64-unknown-none\"",
            "target = \"platforms/x86-pc/i686-unknown-none.json\"",
            "target",
            "platform aarch64 builds for \"aarch64-unknown-none\", not \"platforms/x86-pc/i686-unknown-none.json\"",
        ),
        ("exit = \"semihosting\"", "exit = \"isa-debug-exit\"", "qemu.exit", "ends runs"),
        ("load-address = 0x20_0000", "load-address = 0x20_1000", "load-address", "not aligned"),
        ("load-address = 0x20_0000", "load-address = 0x4000_0000", "load-address", "not inside any RAM bank"),
        ("driver = \"pl011\"", "driver = \"sh-sci\"", "", "unknown variant `sh-sci`"),
        ("node = \"/soc/serial@7e201000\"", "node = \"soc/serial\"", "console.node", "absolute"),
        ("node = \"/soc/serial@7e201000\"", "node = \"/a\"\nbase = 0x3f20_1000", "console", "exactly one"),
        ("node = \"/soc/serial@7e201000\"", "port = 0x3f8", "console.port", "platform aarch64 has no I/O ports"),
        ("size = 0x3c00_0000 }", "size = 0x3c00_0800 }", "memory.banks[0]", "not page-aligned"),
        ("banks = [{ base = 0x0, size = 0x3c00_0000 }]", "banks = []", "memory.banks", "or set `from-device-tree = true`"),
        (
            "banks = [{ base = 0x0, size = 0x3c00_0000 }]",
            "banks = [{ base = 0x0, size = 0x3c00_0000 }]\nfrom-device-tree = true",
            "memory.from-device-tree",
            "either the board knows its RAM",
        ),
        ("banks = [{ base = 0x0, size = 0x3c00_0000 }]", "from-devicetree = true", "", "unknown field `from-devicetree`, expected `banks` or `from-device-tree`"),
        (
            "banks = [{ base = 0x0, size = 0x3c00_0000 }]",
            "banks = [{ base = 0x0, size = 0x2000_0000 }, { base = 0x1000_0000, size = 0x1000 }]",
            "memory.banks[1]",
            "overlaps",
        ),
        ("base = 0x3b00_0000", "base = 0x3bff_0000", "reserve[0]", "not inside one RAM bank"),
        ("base = 0x3b00_0000", "base = 0x3b00_0200", "reserve[0]", "not page-aligned"),
        ("base = 0x3b00_0000", "base = 0x20_0000", "reserve[0]", "covers the load address"),
        ("name = \"frame buffer\"", "name = \" \"", "reserve[0].name", "empty"),
        ("enable-method = \"spin-table\"", "enable-method = \"acpi-madt\"", "smp.enable-method", "cannot start CPUs"),
        ("default-mem = \"1G\"", "default-mem = \"1X\"", "qemu.default-mem", "bad size"),
        ("default-mem = \"1G\"", "default-mem = \"512M\"", "memory.banks", "more than qemu.default-mem"),
        ("default-mem = \"1G\"", "default-mem = \"1G\"\ndefault-cpus = 9", "qemu.default-cpus", "outside"),
        ("default-mem = \"1G\"", "default-mem = \"1G\"\ndtb = \"missing.dtb\"", "qemu.dtb", "not a file"),
        ("default-mem = \"1G\"", "default-mem = \"1G\"\ndtb = \"../x.dtb\"", "qemu.dtb", "not a path"),
        // U-Boot's qemu_arm64 build runs on virt, not on the raspi3b; GRUB boots no arm64 Image.
        ("exit = \"semihosting\"", "exit = \"semihosting\"\nfirmware = [\"uboot\"]", "qemu.firmware[0]", "runs on QEMU's virt machine(s), not raspi3b"),
        ("exit = \"semihosting\"", "exit = \"semihosting\"\nfirmware = [\"grub\"]", "qemu.firmware[0]", "cannot boot through grub; it boots through: uboot"),
        (
            "exit = \"semihosting\"",
            "exit = \"semihosting\"\n[qemu.mem-limits]\nmin = \"1G\"\nmin-per-cpu = \"1M\"\nmax = \"4G\"\nwhy-max = \"w\"",
            "qemu.default-mem",
            "1G is outside qemu.mem-limits (1G plus 1M per CPU with 1 CPU(s), at most 4G)",
        ),
        ("exit = \"semihosting\"", "exit = \"semihosting\"\n[qemu.mem-limits]\nmin = \"1X\"\nmax = \"4G\"\nwhy-max = \"w\"", "qemu.mem-limits.min", "bad size"),
        ("exit = \"semihosting\"", "exit = \"semihosting\"\n[qemu.mem-limits]\nmin = \"4M\"\nmax = \"4G\"\nwhy-max = \" \"", "qemu.mem-limits.why-max", "empty"),
    ];
    for &(from, to, key, problem) in cases {
        let (k, p) = broken(from, to);
        assert_eq!(k, key, "{to:?}: {p}");
        assert!(p.contains(problem), "{to:?}: {p:?} should say {problem:?}");
    }
}

#[test]
fn overlapping_reservations_name_both() {
    let text = GOOD.replace(
        "[smp]",
        "[[reserve]]\nname = \"mailbox\"\nbase = 0x3b0f_f000\nsize = 0x2000\n\n[smp]",
    );
    let e = board(&text).validate().unwrap_err();
    assert_eq!(e.key, "reserve[1]");
    assert!(e.problem.contains("\"mailbox\"") && e.problem.contains("reserve[0] \"frame buffer\""), "{}", e.problem);
    assert!(e.to_string().starts_with("boards/demo/board.toml: key `reserve[1]`: "), "{e}");
}

#[test]
fn a_missing_console_and_unknown_keys_are_refused() {
    let text = GOOD.replace("[console]\ndriver = \"pl011\"\nnode = \"/soc/serial@7e201000\"\n", "");
    let e = board(&text).validate().unwrap_err();
    assert_eq!(e.key, "console");
    assert!(e.problem.contains("every board needs a console"), "{}", e.problem);
    let e = parse(&GOOD.replace("[smp]", "[smp]\nenable = true")).unwrap_err();
    assert!(e.problem.contains("unknown field `enable`"), "{}", e.problem);
    let e = parse(&GOOD.replace("load-address = 0x20_0000\n", "")).unwrap_err();
    assert!(e.problem.contains("missing field `load-address`"), "{}", e.problem);
}

#[test]
fn board_names_follow_cargos_package_rules() {
    for good in ["demo", "qemu-raspi3b", "a1", "my-board-2"] {
        check_package_name(good).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    let cases = [
        ("1board", "starts with a digit"),
        ("-board", "starts with '-'"),
        ("", "empty"),
        ("My-Board", "contains 'M'"),
        ("my_board", "contains '_'"),
        ("fn", "Rust keyword"),
        ("core", "standard-library crate"),
        ("test", "standard-library crate"),
        ("com1", "Windows device name"),
        ("nul", "Windows device name"),
    ];
    for (name, why) in cases {
        let e = check_package_name(name).expect_err(name);
        assert!(e.contains(why), "{name:?}: {e:?} should say {why:?}");
    }
    // A board.toml whose name breaks the rules is refused under its key.
    let mut b = board(&GOOD.replacen("name = \"demo\"", "name = \"1demo\"", 1));
    b.dir = PathBuf::from("boards/1demo");
    let e = b.validate().unwrap_err();
    assert_eq!(e.key, "name");
    assert!(e.problem.contains("starts with a digit"), "{}", e.problem);
}

/// A board folder copied by hand from another board: its package still has the old name, and
/// the workspace does not list it. Each is said with what to do.
#[test]
fn a_copied_board_folder_says_what_to_rename_and_add() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().parent().unwrap();
    let scratch = std::env::temp_dir().join(format!("board-desc-copy-{}", std::process::id()));
    let dir = scratch.join("boards/my-board");
    std::fs::create_dir_all(&dir).unwrap();
    let src = repo.join("boards/qemu-virt-aarch64");
    let toml_text = std::fs::read_to_string(src.join("board.toml")).unwrap().replace("name = \"qemu-virt-aarch64\"", "name = \"my-board\"");
    std::fs::write(dir.join("board.toml"), toml_text).unwrap();
    let cargo = std::fs::read_to_string(src.join("Cargo.toml")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), &cargo).unwrap();
    std::fs::write(scratch.join("Cargo.toml"), "[workspace]\nmembers = [\"boards/qemu-virt-aarch64\", \"xtask\"]\n").unwrap();
    let b = load(&dir).unwrap();
    let e = b.validate_package(&scratch).unwrap_err();
    assert_eq!(e.key, "package.name");
    assert!(e.to_string().contains("is \"qemu-virt-aarch64\", not the board's name \"my-board\": rename the package"), "{e}");
    std::fs::write(dir.join("Cargo.toml"), cargo.replace("name = \"qemu-virt-aarch64\"", "name = \"my-board\"")).unwrap();
    let e = b.validate_package(&scratch).unwrap_err();
    assert_eq!((e.file.clone(), e.key.as_str()), (scratch.join("Cargo.toml"), "workspace.members"));
    assert!(e.problem.contains("does not list \"boards/my-board\": add \"boards/my-board\" to the members"), "{e}");
    std::fs::write(scratch.join("Cargo.toml"), "[workspace]\nmembers = [\"boards/qemu-virt-aarch64\", \"boards/my-board\"]\n").unwrap();
    b.validate_package(&scratch).unwrap();
    std::fs::write(scratch.join("Cargo.toml"), "[workspace]\nmembers = [\"boards/*\"]\n").unwrap();
    b.validate_package(&scratch).unwrap();
    std::fs::remove_dir_all(&scratch).unwrap();
}

/// Every memory-mapped console driver is one the arm64 platform takes, through a node, the
/// stdout-path or a fixed address, and reaches the firmware as its own variant.
#[test]
fn every_mmio_driver_is_an_arm64_console() {
    for (driver, variant) in [
        ("uart16550", "Uart16550"),
        ("imx-uart", "ImxUart"),
        ("meson-uart", "MesonUart"),
        ("cadence-uart", "CadenceUart"),
        ("exynos-uart", "ExynosUart"),
        ("geni-uart", "GeniUart"),
        ("msm-uartdm", "MsmUartdm"),
    ] {
        for (how, generated) in [
            ("node = \"/soc/serial@7e201000\"", "Node(\"/soc/serial@7e201000\")"),
            ("device-tree = true", "DeviceTree"),
            ("base = 0xff00_0000", "MmioAt(0xff000000)"),
        ] {
            let text = GOOD.replace("driver = \"pl011\"\nnode = \"/soc/serial@7e201000\"", &format!("driver = \"{driver}\"\n{how}"));
            let b = board(&text);
            b.validate().unwrap_or_else(|e| panic!("{driver} {how}: {e}"));
            let src = firmware_source(&b);
            assert!(src.contains(&format!("console: kernel::board::Console::{generated},")), "{src}");
            assert!(src.contains(&format!("console_driver: kernel::board::ConsoleDriver::{variant},")), "{src}");
        }
    }
}

/// The driver for a node is the first of its `compatible` strings a driver handles, from the
/// drivers' own lists.
#[test]
fn a_node_s_driver_comes_from_its_compatible_list() {
    let cases: &[(&[&str], Option<ConsoleDriver>)] = &[
        (&["arm,pl011", "arm,primecell"], Some(ConsoleDriver::Pl011)),
        (&["rockchip,rk3399-uart", "snps,dw-apb-uart"], Some(ConsoleDriver::Uart16550)),
        (&["nvidia,tegra194-uart", "nvidia,tegra20-uart"], Some(ConsoleDriver::Uart16550)),
        (&["ti,am654-uart"], Some(ConsoleDriver::Uart16550)),
        (&["fsl,imx8mq-uart", "fsl,imx6q-uart"], Some(ConsoleDriver::ImxUart)),
        (&["amlogic,meson-gx-uart", "amlogic,meson-ao-uart"], Some(ConsoleDriver::MesonUart)),
        (&["xlnx,zynqmp-uart", "cdns,uart-r1p12"], Some(ConsoleDriver::CadenceUart)),
        (&["samsung,exynos4210-uart"], Some(ConsoleDriver::ExynosUart)),
        (&["qcom,geni-debug-uart"], Some(ConsoleDriver::GeniUart)),
        (&["brcm,bcm2835-aux-uart"], None),
        (&["qcom,msm-uartdm-v1.4", "qcom,msm-uartdm"], Some(ConsoleDriver::MsmUartdm)),
    ];
    for &(list, want) in cases {
        assert_eq!(ConsoleDriver::for_compatibles(list.iter().copied()), want, "{list:?}");
    }
}

/// On the PC a console is an I/O port and nothing else; a driver the platform lacks is named.
#[test]
fn the_pc_console_is_a_port() {
    let pc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu-i386-pc/board.toml")).unwrap();
    let check = |from: &str, to: &str, key: &str, problem: &str| {
        let mut b = parse(&pc.replacen(from, to, 1)).unwrap();
        b.dir = PathBuf::from("boards/qemu-i386-pc");
        let e = b.validate().expect_err(to);
        assert_eq!(e.key, key, "{to}: {e}");
        assert!(e.problem.contains(problem), "{to}: {e}");
    };
    check("driver = \"uart16550\"", "driver = \"pl011\"", "console.driver", "platform x86-pc has no pl011 console driver; it has: uart16550");
    check("driver = \"uart16550\"", "driver = \"imx-uart\"", "console.driver", "no imx-uart");
    check("port = 0x3f8", "node = \"/serial@3f8\"", "console.port", "finds no UART in a device tree");
}

#[test]
fn a_16550_wiring_the_driver_cannot_use_is_named() {
    let d = ConsoleDriver::Uart16550;
    d.check_wiring("snps,dw-apb-uart", Some(2), Some(4)).unwrap();
    d.check_wiring("ns16550a", None, None).unwrap();
    let e = d.check_wiring("ns16550a", Some(0), Some(2)).unwrap_err();
    assert!(e.contains("reg-io-width = <2>"), "{e}");
    let e = d.check_wiring("ns16550a", Some(5), None).unwrap_err();
    assert!(e.contains("reg-shift = <5>"), "{e}");
    // Fixed 32-bit register blocks ignore both properties.
    ConsoleDriver::ImxUart.check_wiring("fsl,imx21-uart", Some(9), Some(2)).unwrap();
}

/// RAM from the boot loader's tree: no banks, the flag in the firmware's BOARD; the load address
/// and reservations cannot be checked against banks, so they are not, but alignment still is.
#[test]
fn ram_may_come_from_the_running_device_tree() {
    let text = GOOD.replace("banks = [{ base = 0x0, size = 0x3c00_0000 }]", "from-device-tree = true").replace("base = 0x3b00_0000", "base = 0x8_0000_0000");
    let b = board(&text);
    b.validate().unwrap();
    let src = firmware_source(&b);
    assert!(src.contains("ram: &[],") && src.contains("ram_from_device_tree: true,"), "{src}");
    assert!(firmware_source(&board(GOOD)).contains("ram_from_device_tree: false,"));
    let e = board(&text.replace("load-address = 0x20_0000", "load-address = 0x20_1000")).validate().unwrap_err();
    assert_eq!(e.key, "load-address");
    // The PC reads no device tree.
    let pc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu-i386-pc/board.toml")).unwrap();
    let start = pc.find("banks = [").unwrap();
    let end = start + pc[start..].find('\n').unwrap();
    let mut b = parse(&format!("{}from-device-tree = true{}", &pc[..start], &pc[end..])).unwrap();
    b.dir = PathBuf::from("boards/qemu-i386-pc");
    let e = b.validate().unwrap_err();
    assert_eq!(e.key, "memory.from-device-tree");
    assert!(e.problem.contains("platform x86-pc reads no device tree"), "{e}");
}
