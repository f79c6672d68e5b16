//! CPU discovery from the firmware's tables: the ACPI MADT (Linux `arch/x86/kernel/acpi/boot.c`
//! `acpi_parse_madt` / `acpi_parse_lapic`, `drivers/acpi/tables.c`) and, when ACPI is absent or
//! `acpi=off`, the Intel MultiProcessor Specification 1.4 table (Linux
//! `arch/x86/kernel/mpparse.c`).
//!
//! Every table is copied out of physical memory through the fixmap's firmware window
//! ([`paging::copy_from_phys`], Linux `early_memremap`), because none of them is guaranteed to be
//! in the linear map: the BIOS ROM area (0xE0000-0xFFFFF) is not RAM and is not mapped, QEMU puts
//! the ACPI tables in e820-reserved memory at the top of RAM (0x7fe0000 at 128M, above lowmem at
//! 3G). Nothing is reserved: the tables are only read, once, during boot.
//!
//! The parsing works on the copied bytes with bounds-checked reads, so a damaged table gives an
//! error or a skipped entry, never a fault. Checksums are verified (every byte sums to 0).
#![deny(unsafe_code)]

use mm_types::LineSink;

use crate::paging;

/// One processor entry, as the firmware lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuEntry {
    pub apic_id: u32,
    /// ACPI processor UID (MADT); the MP table has none (0).
    pub acpi_id: u32,
    pub enabled: bool,
}

/// Which table described the CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Madt,
    MpTable,
}

/// Most processor entries remembered (QEMU `-smp 4,maxcpus=N` lists N).
pub const MAX_ENTRIES: usize = 64;

/// What discovery found.
#[derive(Debug)]
pub struct Discovery {
    pub source: Source,
    /// The local APIC's physical address as the table states it.
    pub lapic_phys: u32,
    pub cpus: heapless::Vec<CpuEntry, MAX_ENTRIES>,
}

fn le16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn le64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn checksum_ok(b: &[u8]) -> bool {
    b.iter().fold(0u8, |a, &x| a.wrapping_add(x)) == 0
}

fn read_phys(phys: u64, dst: &mut [u8]) -> Result<(), &'static str> {
    paging::copy_from_phys(phys, dst).map_err(|_| "firmware table beyond 4 GiB or fixmap not ready")
}

/// Printable text of a fixed-width ASCII field (OEM ids), NUL padding dropped.
fn ascii(b: &[u8]) -> &str {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    core::str::from_utf8(&b[..end]).unwrap_or("?")
}

/// Finds `sig` (16-byte aligned) in physical `[base, base + len)` whose first `check_len`
/// bytes sum to 0; returns its physical address.
fn scan(base: u64, len: u64, sig: &[u8], check_len: usize) -> Option<u64> {
    let mut chunk = [0u8; 4096];
    let mut at = base;
    let end = base + len;
    while at < end {
        let n = (end - at).min(chunk.len() as u64) as usize;
        read_phys(at, &mut chunk[..n]).ok()?;
        for off in (0..n).step_by(16) {
            if chunk[off..].starts_with(sig) {
                let mut cand = [0u8; 64];
                let cand = &mut cand[..check_len];
                if read_phys(at + off as u64, cand).is_ok() && checksum_ok(cand) {
                    return Some(at + off as u64);
                }
            }
        }
        at += n as u64;
    }
    None
}

/// The EBDA's physical address from the BIOS data area word at 0x40E (0 when absent).
fn ebda_base() -> u64 {
    let mut seg = [0u8; 2];
    match read_phys(e820::BDA_EBDA_SEGMENT_ADDR, &mut seg) {
        Ok(()) => u64::from(u16::from_le_bytes(seg)) << 4,
        Err(_) => 0,
    }
}

/// Linux `acpi_find_root_pointer`: "RSD PTR " in the EBDA's first KiB, then 0xE0000-0xFFFFF.
fn find_rsdp() -> Option<u64> {
    let ebda = ebda_base();
    if (0x400..0xA0000).contains(&ebda) {
        if let Some(p) = scan(ebda, 1024, b"RSD PTR ", 20) {
            return Some(p);
        }
    }
    scan(0xE0000, 0x20000, b"RSD PTR ", 20)
}

/// The ACPI SDT header line Linux prints (`acpi_tb_print_table_header`).
fn print_header(log: &mut dyn LineSink, phys: u64, h: &[u8]) {
    log.line(format_args!(
        "ACPI: {} {:#018X} {:06X} (v{:02} {:<6} {:<8} {:08X} {:<4} {:08X})",
        ascii(&h[0..4]),
        phys,
        le32(h, 4).unwrap_or(0),
        h[8],
        ascii(&h[10..16]),
        ascii(&h[16..24]),
        le32(h, 24).unwrap_or(0),
        ascii(&h[28..32]),
        le32(h, 32).unwrap_or(0)
    ));
}

const SDT_HEADER: usize = 36;

/// Reads the whole table at `phys` into `buf` (header first for its length) and checks it.
fn read_table(phys: u64, buf: &mut [u8]) -> Result<&[u8], &'static str> {
    read_phys(phys, &mut buf[..SDT_HEADER])?;
    let len = le32(buf, 4).ok_or("short ACPI header")? as usize;
    if len < SDT_HEADER {
        return Err("ACPI table shorter than its header");
    }
    if len > buf.len() {
        return Err("ACPI table larger than the 4 KiB read buffer");
    }
    read_phys(phys, &mut buf[..len])?;
    if !checksum_ok(&buf[..len]) {
        return Err("ACPI table checksum mismatch");
    }
    Ok(&buf[..len])
}

/// The MADT's CPUs: RSDP, then the XSDT (revision 2 and later) or RSDT, then "APIC".
///
/// # Errors
/// When there is no RSDP, no MADT, or a table is damaged.
pub fn parse_madt(log: &mut dyn LineSink) -> Result<Discovery, &'static str> {
    let rsdp_phys = find_rsdp().ok_or("no ACPI RSDP found")?;
    let mut rsdp = [0u8; 36];
    read_phys(rsdp_phys, &mut rsdp)?;
    let revision = rsdp[15];
    log.line(format_args!("ACPI: RSDP {:#018X} {:06X} (v{:02} {:<6})", rsdp_phys, if revision >= 2 { 36 } else { 20 }, revision, ascii(&rsdp[9..15])));
    let xsdt = if revision >= 2 && checksum_ok(&rsdp) { le64(&rsdp, 24).filter(|&x| x != 0 && x < 1 << 32) } else { None };
    let (root_phys, entry_size) = match xsdt {
        Some(x) => (x, 8),
        None => (u64::from(le32(&rsdp, 16).ok_or("short RSDP")?), 4),
    };
    let mut root_buf = [0u8; 1024];
    let root = read_table(root_phys, &mut root_buf)?;
    print_header(log, root_phys, root);
    let mut madt_phys = None;
    let mut hdr = [0u8; SDT_HEADER];
    for off in (SDT_HEADER..root.len()).step_by(entry_size) {
        let p = if entry_size == 8 { le64(root, off) } else { le32(root, off).map(u64::from) };
        let Some(p) = p.filter(|&p| p != 0 && p < 1 << 32) else { continue };
        if read_phys(p, &mut hdr).is_err() {
            continue;
        }
        print_header(log, p, &hdr);
        if &hdr[0..4] == b"APIC" {
            madt_phys = Some(p);
        }
    }
    let madt_phys = madt_phys.ok_or("no MADT (\"APIC\" table) in the ACPI root table")?;
    let mut madt_buf = [0u8; 4096];
    let madt = read_table(madt_phys, &mut madt_buf)?;
    let lapic_phys = le32(madt, 36).ok_or("short MADT")?;
    log.line(format_args!("ACPI: Local APIC address {lapic_phys:#010x}"));
    let mut cpus = heapless::Vec::new();
    let mut off = 44;
    while off + 2 <= madt.len() {
        let (kind, len) = (madt[off], usize::from(madt[off + 1]));
        if len < 2 || off + len > madt.len() {
            log.line(format_args!("ACPI: MADT entry at offset {off} has a bad length {len}, rest ignored"));
            break;
        }
        let e = &madt[off..off + len];
        match kind {
            // Processor Local APIC: UID, APIC id, flags (bit 0 enabled, bit 1 online capable).
            0 if len >= 8 => {
                let flags = le32(e, 4).unwrap_or(0);
                let cpu = CpuEntry { acpi_id: u32::from(e[2]), apic_id: u32::from(e[3]), enabled: flags & 1 != 0 };
                log.line(format_args!(
                    "ACPI: LAPIC (acpi_id[{:#04x}] lapic_id[{:#04x}] {})",
                    cpu.acpi_id,
                    cpu.apic_id,
                    if cpu.enabled { "enabled" } else { "disabled" }
                ));
                if cpus.push(cpu).is_err() {
                    log.line(format_args!("ACPI: more than {MAX_ENTRIES} LAPIC entries, the rest ignored"));
                }
            }
            // Local APIC address override: a 64-bit address; beyond 4 GiB is useless here.
            5 if len >= 12 => log.line(format_args!("ACPI: LAPIC address override {:#x} (IA32_APIC_BASE is used)", le64(e, 4).unwrap_or(0))),
            // Processor Local x2APIC: ids above 254, which xAPIC mode cannot address.
            9 if len >= 16 => log.line(format_args!(
                "ACPI: X2APIC (apic_id[{:#x}] uid[{:#x}]) ignored: x2APIC mode is not supported",
                le32(e, 4).unwrap_or(0),
                le32(e, 12).unwrap_or(0)
            )),
            _ => {}
        }
        off += len;
    }
    log.line(format_args!("ACPI: Using ACPI (MADT) for SMP configuration information"));
    Ok(Discovery { source: Source::Madt, lapic_phys, cpus })
}

/// Linux `smp_scan_config`: the "_MP_" floating pointer structure in the EBDA's first KiB, the
/// last KiB of base memory, or the BIOS ROM 0xF0000-0xFFFFF.
fn find_mpf() -> Option<u64> {
    let ebda = ebda_base();
    if (0x400..0xA0000).contains(&ebda) {
        if let Some(p) = scan(ebda, 1024, b"_MP_", 16) {
            return Some(p);
        }
    }
    scan(0x9FC00, 1024, b"_MP_", 16).or_else(|| scan(0xF0000, 0x10000, b"_MP_", 16))
}

/// The MP table's CPUs (processor entries, type 0).
///
/// # Errors
/// When there is no floating pointer, a default configuration is asked for (not supported:
/// no SMP machine of this century uses one), or the table is damaged.
pub fn parse_mptable(log: &mut dyn LineSink) -> Result<Discovery, &'static str> {
    let mpf_phys = find_mpf().ok_or("no MP floating pointer found")?;
    let mut mpf = [0u8; 16];
    read_phys(mpf_phys, &mut mpf)?;
    log.line(format_args!("found SMP MP-table at [mem {:#010x}-{:#010x}]", mpf_phys, mpf_phys + 15));
    log.line(format_args!("Intel MultiProcessor Specification v1.{}", mpf[9]));
    if mpf[11] != 0 {
        return Err("MP table: default configuration requested, not supported");
    }
    let cfg_phys = u64::from(le32(&mpf, 4).ok_or("short MP floating pointer")?);
    if cfg_phys == 0 {
        return Err("MP floating pointer has no configuration table");
    }
    let mut buf = [0u8; 4096];
    read_phys(cfg_phys, &mut buf[..44])?;
    if &buf[0..4] != b"PCMP" {
        return Err("MP configuration table signature is not PCMP");
    }
    let len = usize::from(le16(&buf, 4).unwrap_or(0));
    if !(44..=buf.len()).contains(&len) {
        return Err("MP configuration table length out of range");
    }
    read_phys(cfg_phys, &mut buf[..len])?;
    let cfg = &buf[..len];
    if !checksum_ok(cfg) {
        return Err("MP configuration table checksum mismatch");
    }
    log.line(format_args!("MPTABLE: OEM ID: {}", ascii(&cfg[8..16])));
    log.line(format_args!("MPTABLE: Product ID: {}", ascii(&cfg[16..28])));
    let lapic_phys = le32(cfg, 36).unwrap_or(0);
    log.line(format_args!("MPTABLE: APIC at: {lapic_phys:#X}"));
    let count = usize::from(le16(cfg, 34).unwrap_or(0));
    let mut cpus = heapless::Vec::new();
    let mut off = 44;
    for _ in 0..count {
        let Some(&kind) = cfg.get(off) else { break };
        let len = if kind == 0 { 20 } else { 8 };
        if off + len > cfg.len() {
            break;
        }
        if kind == 0 {
            let flags = cfg[off + 3];
            let cpu = CpuEntry { apic_id: u32::from(cfg[off + 1]), acpi_id: 0, enabled: flags & 1 != 0 };
            log.line(format_args!(
                "MPTABLE: Processor #{}{}{}",
                cpu.apic_id,
                if flags & 2 != 0 { " (Bootup-CPU)" } else { "" },
                if cpu.enabled { "" } else { " disabled" }
            ));
            if cpus.push(cpu).is_err() {
                break;
            }
        } else if kind > 4 {
            log.line(format_args!("MPTABLE: unknown entry type {kind}, rest ignored"));
            break;
        }
        off += len;
    }
    Ok(Discovery { source: Source::MpTable, lapic_phys, cpus })
}
