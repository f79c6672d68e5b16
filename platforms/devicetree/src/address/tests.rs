//! `ranges` translation on real trees (the addresses Linux 6.1 prints for these devices) and on
//! hand-made ones for every way a translation can fail.

extern crate std;

use std::string::ToString;
use std::vec::Vec;

use crate::test_fdt::FdtBuilder;
use crate::{console_at, discover, DeviceTree, DtError, RegEntry};

fn blob(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/dtb").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn reg(b: &[u8], path: &str) -> Result<RegEntry, DtError> {
    DeviceTree::new(b).unwrap().reg_cpu_address(path, 0)
}

#[test]
fn rpi3b_soc_ranges_move_bus_addresses_to_the_cpu_view() {
    // /soc ranges = <0x7e000000 0x3f000000 0x1000000>, <0x40000000 0x40000000 0x1000>:
    // Linux 6.1 on a Pi 3 names these devices 3f201000.serial, 3f215040.serial, 40000000.local_intc.
    let b = blob("arm64__broadcom__bcm2837-rpi-3-b.dtb");
    assert_eq!(
        reg(&b, "/soc/serial@7e201000"),
        Ok(RegEntry { bus_address: 0x7e20_1000, cpu_address: 0x3f20_1000, size: 0x200 })
    );
    assert_eq!(reg(&b, "/soc/serial@7e215040").map(|r| r.cpu_address), Ok(0x3f21_5040));
    // The second ranges entry, 1:1.
    assert_eq!(reg(&b, "/soc/local_intc@40000000").map(|r| r.cpu_address), Ok(0x4000_0000));
    // A root child needs no translation.
    assert_eq!(reg(&b, "/memory@0").map(|r| (r.cpu_address, r.size)), Ok((0, 0x4000_0000)));
    // Expect: the same answer with the unit address left out (the first `serial` child), as
    // Linux's path lookup allows; a register offset inside the range moves with it.
    assert_eq!(reg(&b, "/soc/serial").map(|r| r.cpu_address), Ok(0x3f20_1000));
    let dt = DeviceTree::new(&b).unwrap();
    assert_eq!(dt.translate_address("/soc/serial@7e201000", 0x7e20_1018), Ok(0x3f20_1018));
    // Just past the end of the first range (0x7f000000) nothing covers it.
    assert!(matches!(dt.translate_address("/soc/serial@7e201000", 0x7f00_0000), Err(DtError::Untranslatable { .. })));
}

#[test]
fn rpi3b_console_is_translated_both_ways() {
    let b = blob("arm64__broadcom__bcm2837-rpi-3-b.dtb");
    let dt = DeviceTree::new(&b).unwrap();
    let info = discover(&dt).unwrap();
    // stdout-path is serial1, the mini UART: bus address as written, CPU address translated.
    let c = info.console.unwrap();
    assert_eq!(c.path.as_str(), "/soc/serial@7e215040");
    assert_eq!((c.compatible, c.reg_base, c.cpu_base), (Some("brcm,bcm2835-aux-uart"), Some(0x7e21_5040), Ok(0x3f21_5040)));
    // The PL011 the board names.
    let p = console_at(&dt, "/soc/serial@7e201000").unwrap();
    assert_eq!((p.compatible, p.reg_base, p.cpu_base, p.from_stdout_path), (Some("arm,pl011"), Some(0x7e20_1000), Ok(0x3f20_1000), false));
    let e = console_at(&dt, "/soc/serial@7e201001").unwrap_err();
    assert_eq!(e.to_string(), "no node /soc/serial@7e201001 in the device tree");
}

#[test]
fn rpi4_ranges_into_two_parent_cells() {
    // bcm2711: the root has #address-cells = 2; /soc ranges = <0x7e000000 0x0 0xfe000000 ...>.
    let b = blob("arm64__broadcom__bcm2711-rpi-4-b.dtb");
    assert_eq!(reg(&b, "/soc/serial@7e201000").map(|r| r.cpu_address), Ok(0xfe20_1000));
    let info = discover(&DeviceTree::new(&b).unwrap()).unwrap();
    assert_eq!(info.console.unwrap().cpu_base, Ok(0xfe21_5040));
}

#[test]
fn vexpress_translates_through_four_buses() {
    // iofpga-bus: <0 3 0 0x200000> (into the motherboard's two address cells, chip select 3),
    // motherboard-bus: <3 0 0x1c000000 0x4000000>, bus@8000000: 1:1 into the root's two cells.
    // Linux names the first UART 1c090000.serial.
    let b = blob("armhf__vexpress-v2p-ca15-tc1.dtb");
    let iofpga = "/bus@8000000/motherboard-bus@8000000/iofpga-bus@300000000";
    let uart = std::format!("{iofpga}/serial@90000");
    assert_eq!(reg(&b, &uart), Ok(RegEntry { bus_address: 0x9_0000, cpu_address: 0x1c09_0000, size: 0x1000 }));
    // One level deeper: sysreg's own ranges <0 0x10000 0x1000>.
    assert_eq!(reg(&b, &std::format!("{iofpga}/sysreg@10000/gpio@8")).map(|r| r.cpu_address), Ok(0x1c01_0008));
    // The flash's second reg entry is on chip select 4: <4 0 0x4000000> → 0x0c000000.
    let dt = DeviceTree::new(&b).unwrap();
    let flash = dt.reg_cpu_address("/bus@8000000/motherboard-bus@8000000/flash@0", 1).unwrap();
    assert_eq!((flash.bus_address, flash.cpu_address, flash.size), (0x4_0000_0000, 0x0c00_0000, 0x400_0000));
    let e = dt.reg_cpu_address("/bus@8000000/motherboard-bus@8000000/flash@0", 2).unwrap_err();
    assert_eq!(e.to_string(), "too few entries in property reg in node /bus@8000000/motherboard-bus@8000000/flash@0");
}

#[test]
fn qemu_virt_console_needs_no_ranges() {
    let b = blob("qemu__aarch64-virt-1G-smp4.dtb");
    let info = discover(&DeviceTree::new(&b).unwrap()).unwrap();
    assert_eq!(info.console.unwrap().cpu_base, Ok(0x900_0000));
}

#[test]
fn a_bus_with_size_cells_zero_is_not_memory_mapped() {
    // rpi3b: the USB hub's ethernet is addressed by port number, not memory.
    let b = blob("arm64__broadcom__bcm2837-rpi-3-b.dtb");
    let e = reg(&b, "/soc/usb@7e980000/usb1@1/ethernet@1").unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot translate the address of /soc/usb@7e980000/usb1@1/ethernet@1 to a CPU address: \
         node /soc/usb@7e980000/usb1@1 has #size-cells = 0, so its children are not memory-mapped"
    );
}

/// `/` (2 address cells, 1 size cell) → `/bus@10000000` → `/bus@10000000/dev@100`, with
/// `ranges` on `/bus@10000000` set by `ranges` (`None`: no property).
fn one_bus(ranges: Option<&[u32]>, child_cells: (u32, u32), dev_reg: &[u32]) -> Vec<u8> {
    let mut f = FdtBuilder::default();
    f.begin("").cells("#address-cells", &[2]).cells("#size-cells", &[1]);
    f.begin("bus@10000000").cells("#address-cells", &[child_cells.0]).cells("#size-cells", &[child_cells.1]);
    if let Some(r) = ranges {
        f.cells("ranges", r);
    }
    f.begin("dev@100").string("compatible", "arm,pl011").cells("reg", dev_reg).end();
    f.end().end().finish()
}

#[test]
fn empty_ranges_is_identity_and_entries_are_tried_in_order() {
    let b = one_bus(Some(&[]), (1, 1), &[0x100, 0x10]);
    assert_eq!(reg(&b, "/bus@10000000/dev@100").map(|r| r.cpu_address), Ok(0x100));
    // The first entry does not cover 0x100; the second does: 0x100 - 0x80 + 0x1_2000_0000.
    let b = one_bus(Some(&[0x0, 0x0, 0x1000_0000, 0x80, 0x80, 0x1, 0x2000_0000, 0x100]), (1, 1), &[0x100, 0x10]);
    assert_eq!(reg(&b, "/bus@10000000/dev@100").map(|r| r.cpu_address), Ok(0x1_2000_0080));
    // Expect: an entry's end is exclusive ([0x80, 0x100) does not hold 0x100).
    let b = one_bus(Some(&[0x80, 0x0, 0x1000_0000, 0x80]), (1, 1), &[0x100, 0x10]);
    assert!(matches!(reg(&b, "/bus@10000000/dev@100"), Err(DtError::Untranslatable { .. })));
}

#[test]
fn untranslatable_addresses_name_the_node_and_the_bus() {
    // No ranges at all: not a memory-mapped bus.
    let b = one_bus(None, (1, 1), &[0x100, 0x10]);
    assert_eq!(
        reg(&b, "/bus@10000000/dev@100").unwrap_err().to_string(),
        "cannot translate the address of /bus@10000000/dev@100 to a CPU address: node /bus@10000000 \
         has no property ranges, so it is not a memory-mapped bus (address there 0x100)"
    );
    // ranges that do not cover the address.
    let b = one_bus(Some(&[0x1000, 0x0, 0x1000_0000, 0x1000]), (1, 1), &[0x100, 0x10]);
    assert_eq!(
        reg(&b, "/bus@10000000/dev@100").unwrap_err().to_string(),
        "cannot translate the address of /bus@10000000/dev@100 to a CPU address: node /bus@10000000 \
         has no ranges entry that covers the address (address there 0x100)"
    );
    // A ranges property cut short covers nothing either.
    let b = one_bus(Some(&[0x0, 0x0]), (1, 1), &[0x100, 0x10]);
    assert!(reg(&b, "/bus@10000000/dev@100").unwrap_err().to_string().contains("no ranges entry"));
    // #address-cells = 5 on the bus.
    let b = one_bus(Some(&[]), (5, 1), &[0, 0, 0, 0, 0x100, 0x10]);
    assert!(reg(&b, "/bus@10000000/dev@100").unwrap_err().to_string().contains("node /bus@10000000 has #address-cells outside 1 to 4"));
    // No reg, the root, a missing node.
    let mut f = FdtBuilder::default();
    let b = f.begin("").begin("soc").cells("ranges", &[]).begin("uart").end().end().end().finish();
    assert_eq!(reg(&b, "/soc/uart").unwrap_err().to_string(), "missing property reg in node /soc/uart");
    assert_eq!(reg(&b, "/").unwrap_err().to_string(), "no parent bus for property reg in node /");
    assert_eq!(reg(&b, "/soc/uart2").unwrap_err().to_string(), "no node /soc/uart2 in the device tree");
    assert_eq!(reg(&b, "soc").unwrap_err().to_string(), "no node soc in the device tree");
}

#[test]
fn translation_never_silently_truncates() {
    // A 1-cell root: a bus that maps its child space to 0xffff_f000 + 0x2000 overflows 32 bits.
    let mut f = FdtBuilder::default();
    f.begin("").cells("#address-cells", &[1]).cells("#size-cells", &[1]);
    f.begin("bus").cells("#address-cells", &[1]).cells("#size-cells", &[1]).cells("ranges", &[0x0, 0xffff_f000, 0x10000]);
    let b = f.begin("dev").cells("reg", &[0x2000, 0x10]).end().end().end().finish();
    assert!(reg(&b, "/bus/dev").unwrap_err().to_string().contains("beyond its parent's single address cell"));
    // A PCI bus's first cell is a space code: refused, not misread.
    let mut f = FdtBuilder::default();
    f.begin("").cells("#address-cells", &[2]).cells("#size-cells", &[2]);
    f.begin("pcie@10000000").string("device_type", "pci").cells("#address-cells", &[3]).cells("#size-cells", &[2]);
    f.cells("ranges", &[0x0200_0000, 0, 0x1000_0000, 0, 0x1000_0000, 0, 0x2eff_0000]);
    let b = f.begin("dev@0").cells("reg", &[0x0200_0000, 0, 0x1000_0000, 0, 0x1000]).end().end().end().finish();
    assert!(reg(&b, "/pcie@10000000/dev@0").unwrap_err().to_string().contains("node /pcie@10000000 is a PCI or ISA bus"));
}

#[test]
fn cells_are_inherited_as_linux_does() {
    // The bus says nothing: its children use the root's cells (2/1), Linux's inheritance.
    let mut f = FdtBuilder::default();
    f.begin("").cells("#address-cells", &[2]).cells("#size-cells", &[1]);
    f.begin("bus").cells("ranges", &[]);
    let b = f.begin("dev").cells("reg", &[0x1, 0x2345_0000, 0x1000]).end().end().end().finish();
    assert_eq!(reg(&b, "/bus/dev"), Ok(RegEntry { bus_address: 0x1_2345_0000, cpu_address: 0x1_2345_0000, size: 0x1000 }));
}

#[test]
fn every_real_console_translates() {
    // The 27 trees with a console (stdout-path or the first PL011) have it on memory-mapped
    // buses.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/dtb");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let b = std::fs::read(&p).unwrap();
        let info = discover(&DeviceTree::new(&b).unwrap()).unwrap();
        // APM Mustang names no stdout and has no PL011.
        let Some(c) = info.console else { continue };
        let cpu = c.cpu_base.unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        n += 1;
        // Meson A1: /soc/bus@fe000000 ranges <0 0 0 0xfe000000 0 0x1000000> (Linux: fe002000.serial).
        if c.path.as_str() == "/soc/bus@fe000000/serial@2000" {
            assert_eq!((c.reg_base, cpu), (Some(0x2000), 0xfe00_2000));
        }
    }
    assert_eq!(n, 27);
}
