//! A boot's decoded log (or the host simulation's report) read into the memory-map model of
//! `memmap_svg.rs`.
//!
//! What each part of the picture comes from, all in Linux's formats:
//! - RAM: the ` memory[…]` lines of the first `MEMBLOCK configuration:` dump (before paging);
//! - the firmware's map outside RAM: `BIOS-e820: [mem …] TYPE` lines other than `usable`;
//! - what stays reserved: the `memblock_free_all: reserved [mem …]` lines `mm_init::mem_init`
//!   prints at the hand-off (everything memblock ever handed out is in them);
//! - owners: `early reserve: [mem …] WHAT` (kernel image, Multiboot data, BIOS areas, the SMP
//!   trampoline, `board: NAME`, …), `OF: fdt: reserved [mem …] WHAT`, `OF: reserved mem: …`,
//!   `paging_init: page-table pages [mem …]`, `percpu: cpu N … unit at [mem …]`,
//!   `mem_map: node N: … at [mem …]`, `memblock: … array … at [mem …] freed`; CMA areas:
//!   `cma: Reserved N MiB at 0x…` (the default or `cma=` area) and the `OF: reserved mem:`
//!   line of a region that has a `Reserved memory: created CMA memory pool at 0x…` line (both
//!   are reserved at the hand-off and become `MIGRATE_CMA` pageblocks right after it);
//! - zones: the `Zone ranges:` block, split by `Initmem setup node N [mem …]`;
//! - free blocks per order: the first `Node N, zone NAME  c0 … c10` (buddyinfo) lines.
//!
//! A log that lacks a part the picture needs is an error that names the missing line.

use anyhow::{bail, Context, Result};

use crate::memmap_svg::{Area, BuddyZone, MemoryMap, NodeSpan, RamBank, ZoneSpan, MAX_ORDER, PAGE};

/// The message of a decoded line (`INFO  message`), or the line itself (host reports).
pub fn message(line: &str) -> &str {
    for level in ["INFO  ", "WARN  ", "ERROR ", "DEBUG ", "TRACE ", "PRINT "] {
        if let Some(rest) = line.strip_prefix(level) {
            return rest;
        }
    }
    line
}

fn hex(s: &str) -> Option<u64> {
    let s = s.trim();
    u64::from_str_radix(s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?, 16).ok()
}

/// `[mem 0xA-0xB]…` at the start of `s`: `(base, end)` with `end` exclusive, and what follows
/// the bracket (trimmed).
pub fn mem_range(s: &str) -> Option<(u64, u64, &str)> {
    let rest = s.trim_start().strip_prefix("[mem ")?;
    let (range, after) = rest.split_once(']')?;
    let (a, b) = range.split_once('-')?;
    let (a, b) = (hex(a)?, hex(b)?);
    (b >= a).then_some((a, b.checked_add(1)?, after.trim()))
}

fn page_up(x: u64) -> u64 {
    x.saturating_add(PAGE - 1) & !(PAGE - 1)
}

/// Every range a line names an owner for (see the module documentation).
pub fn named_areas<S: AsRef<str>>(lines: &[S]) -> Vec<Area> {
    let mut out = Vec::new();
    // Bases of device-tree regions that became CMA areas.
    let cma_pools: Vec<u64> = lines
        .iter()
        .filter_map(|l| message(l.as_ref()).strip_prefix("Reserved memory: created CMA memory pool at "))
        .filter_map(|rest| hex(rest.split(',').next()?))
        .collect();
    for line in lines {
        let m = message(line.as_ref());
        let area = |(a, b, what): (u64, u64, &str), label: String| Area::new(a, b - a, if label.is_empty() { what.to_owned() } else { label });
        if let Some(r) = m.strip_prefix("early reserve: ").and_then(mem_range) {
            out.push(area(r, String::new()));
        } else if let Some(r) = m.strip_prefix("OF: fdt: reserved ").and_then(mem_range) {
            out.push(area(r, String::new()));
        } else if let Some((a, b, rest)) = m.strip_prefix("OF: reserved mem: ").and_then(mem_range) {
            // `(1024 KiB) nomap non-reusable firmware@4e000000`; other lines of this prefix
            // (`… of 'NAME' is outside RAM`) are diagnostics, not reservations.
            if !rest.starts_with('(') {
                continue;
            }
            let words: Vec<&str> = rest.split_once(") ").map_or(rest, |(_, r)| r).split_whitespace().collect();
            let (name, flags) = words.split_last().map_or(("?", &[][..]), |(n, f)| (*n, f));
            let cma = if cma_pools.contains(&a) { "CMA: " } else { "" };
            out.push(Area::new(a, b - a, format!("{cma}reserved-memory: {name} ({})", flags.join(" "))));
        } else if let Some(rest) = m.strip_prefix("cma: Reserved ") {
            // `cma: Reserved 64 MiB at 0x000000004be00000` (cma_declare_contiguous).
            let Some((mib, at)) = rest.split_once(" MiB at ") else { continue };
            let (Ok(mib), Some(base)) = (mib.parse::<u64>(), hex(at)) else { continue };
            out.push(Area::new(base, mib << 20, format!("CMA area reserved ({mib} MiB; cma= or the configured default)")));
        } else if let Some((a, b, _)) = m.strip_prefix("NUMA: NODE_DATA ").and_then(mem_range) {
            // `NUMA: NODE_DATA [mem 0x4fff6140-0x4fff6fff]` (arm64 setup_node_data).
            out.push(Area::new(a, b - a, "NODE_DATA: a node's pg_data_t".to_owned()));
        } else if let Some((a, b, rest)) = m.strip_prefix("paging_init: page-table pages ").and_then(mem_range) {
            out.push(Area::new(a, b - a, format!("page tables, paging_init {rest}")));
        } else if let Some(rest) = m.strip_prefix("percpu: cpu ") {
            // `percpu: cpu 0 (hw id 0x0, node 0) unit at [mem …]`
            let Some((head, range)) = rest.split_once(" unit at ") else { continue };
            let Some((a, b, _)) = mem_range(range) else { continue };
            let cpu = head.split_whitespace().next().unwrap_or("?");
            let node = head.split_once("node ").map_or("?", |(_, n)| n.trim_end_matches(')'));
            out.push(Area::new(a, b - a, format!("per-CPU area: cpu {cpu} (node {node})")));
        } else if let Some(rest) = m.strip_prefix("mem_map: node ") {
            // `mem_map: node 0: 786400 pages x 16 bytes = 12287 KiB at [mem …] for pfns […)`
            let Some((head, range)) = rest.split_once(" at ") else { continue };
            let Some((a, b, _)) = mem_range(range) else { continue };
            let (nid, pages) = head.split_once(": ").unwrap_or((head, ""));
            let pages = pages.split(" = ").next().unwrap_or(pages);
            // memblock allocated whole pages (mem_init rounds the size up); the log gives bytes.
            out.push(Area::new(a, page_up(b) - a, format!("mem_map: node {nid} page metadata ({pages})")));
        } else if let Some(rest) = m.strip_prefix("memblock: ") {
            // `memblock: reserved array (256 regions) at [mem …] freed, 2 page(s)`
            let Some((head, range)) = rest.split_once(" at ") else { continue };
            if !head.contains(" array (") {
                continue;
            }
            let Some((a, b, _)) = mem_range(range) else { continue };
            out.push(Area::new(a, b - a, format!("memblock {head}, freed by memblock_discard after the hand-off")));
        }
    }
    out
}

/// The firmware's own map outside RAM: every `BIOS-e820:` entry that is not `usable`.
pub fn firmware_areas<S: AsRef<str>>(lines: &[S]) -> Vec<Area> {
    lines
        .iter()
        .filter_map(|l| message(l.as_ref()).strip_prefix("BIOS-e820: ").and_then(mem_range))
        .filter(|(_, _, ty)| *ty != "usable")
        .map(|(a, b, ty)| Area::new(a, b - a, format!("BIOS-e820: {ty}")))
        .collect()
}

/// Lines worth repeating in the picture's side panel.
pub fn notes<S: AsRef<str>>(lines: &[S]) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["memblock: ", "paging_init: ", "memblock_free_all: ", "Memory: ", "mem_init: "] {
        let found = lines.iter().map(|l| message(l.as_ref())).find(|m| {
            m.starts_with(prefix)
                && match prefix {
                    "memblock: " => m.contains(" KiB RAM in "),
                    "paging_init: " => m.contains(" page-table page(s) from memblock"),
                    "memblock_free_all: " => m.contains(" reserved region(s), "),
                    "mem_init: " => m.contains(" pages freed to the buddy allocator"),
                    _ => true,
                }
        });
        if let Some(m) = found {
            out.push(m.to_owned());
        }
    }
    out
}

/// RAM banks from the first ` memory[…]` dump.
fn ram_banks<S: AsRef<str>>(lines: &[S]) -> Result<Vec<RamBank>> {
    let start = lines
        .iter()
        .position(|l| message(l.as_ref()) == "MEMBLOCK configuration:")
        .context("the log has no `MEMBLOCK configuration:` line (memblock_dump_all): RAM banks unknown")?;
    let mut banks = Vec::new();
    for l in &lines[start + 1..] {
        let m = message(l.as_ref()).trim_start();
        let Some(rest) = m.strip_prefix("memory[") else {
            if m.starts_with("memory") {
                continue; // `memory size = …`, `memory.cnt  = …`
            }
            if m.starts_with("reserved") {
                break;
            }
            continue;
        };
        // `0x0]\t[0x0000000040000000-0x000000007fffffff], 0x… bytes on node 0 flags: 0x0`
        let range = rest.split_once("]\t[").or_else(|| rest.split_once("] [")).map(|(_, r)| r).with_context(|| format!("malformed memblock line: {m}"))?;
        let (r, tail) = range.split_once(']').with_context(|| format!("malformed memblock line: {m}"))?;
        let (a, b) = r.split_once('-').with_context(|| format!("malformed memblock line: {m}"))?;
        let (a, b) = (hex(a).context("memblock line: base")?, hex(b).context("memblock line: end")?);
        let nid = tail.split_once(" on node ").and_then(|(_, n)| n.split_whitespace().next()?.parse().ok());
        let flags = tail.split_once("flags: ").and_then(|(_, f)| hex(f)).unwrap_or(0);
        let size = (b - a).wrapping_add(1);
        if size == 0 || b < a {
            continue; // the dummy entry of an empty array
        }
        banks.push(RamBank { base: a, size, nid, nomap: flags & u64::from(memblock::RegionFlags::NOMAP.0) != 0 });
    }
    if banks.is_empty() {
        bail!("the `MEMBLOCK configuration:` dump has no ` memory[0x0]` line: RAM banks unknown");
    }
    Ok(banks)
}

/// `memblock.reserved` at the hand-off.
fn reserved_at_handoff<S: AsRef<str>>(lines: &[S]) -> Result<Vec<(u64, u64)>> {
    let header = lines.iter().map(|l| message(l.as_ref())).find_map(|m| {
        let n = m.strip_prefix("memblock_free_all: ")?.split_once(" reserved region(s), ")?.0;
        n.parse::<usize>().ok()
    });
    let Some(count) = header else {
        bail!(
            "the log has no `memblock_free_all: N reserved region(s), …` line, which mm_init::mem_init prints at the \
             buddy hand-off: the boot stopped before it, or the image predates it"
        );
    };
    let regions: Vec<(u64, u64)> = lines
        .iter()
        .filter_map(|l| message(l.as_ref()).strip_prefix("memblock_free_all: reserved ").and_then(mem_range))
        .map(|(a, b, _)| (a, b - a))
        .collect();
    if regions.len() != count {
        bail!("the log announces {count} `memblock_free_all: reserved [mem …]` line(s) but has {}", regions.len());
    }
    Ok(regions)
}

/// `Zone ranges:` split by node spans.
fn zones<S: AsRef<str>>(lines: &[S], nodes: &[NodeSpan]) -> Result<Vec<ZoneSpan>> {
    let start = lines
        .iter()
        .position(|l| message(l.as_ref()) == "Zone ranges:")
        .context("the log has no `Zone ranges:` line (free_area_init): zones unknown")?;
    let mut out = Vec::new();
    for l in &lines[start + 1..] {
        let m = message(l.as_ref());
        let Some(body) = m.strip_prefix("  ") else { break };
        let Some((name, rest)) = body.trim_start().split_once(' ') else { break };
        if rest.trim() == "empty" {
            continue;
        }
        let Some((a, b, _)) = mem_range(rest) else { break };
        for n in nodes {
            let (s, e) = (a.max(n.base), b.min(n.base + n.size));
            if s < e {
                out.push(ZoneSpan { nid: n.nid, name: name.to_owned(), base: s, size: e - s });
            }
        }
    }
    Ok(out)
}

/// Node spans from `Initmem setup node N [mem …]`, else from the RAM banks' node ids.
fn nodes<S: AsRef<str>>(lines: &[S], ram: &[RamBank]) -> Vec<NodeSpan> {
    let mut out: Vec<NodeSpan> = lines
        .iter()
        .filter_map(|l| {
            let rest = message(l.as_ref()).strip_prefix("Initmem setup node ")?;
            let (nid, range) = rest.split_once(' ')?;
            let (a, b, _) = mem_range(range)?;
            Some(NodeSpan { nid: nid.parse().ok()?, base: a, size: b - a })
        })
        .collect();
    if out.is_empty() {
        for b in ram {
            let nid = b.nid.unwrap_or(0);
            match out.iter_mut().find(|n| n.nid == nid) {
                Some(n) => {
                    let end = (n.base + n.size).max(b.base + b.size);
                    n.base = n.base.min(b.base);
                    n.size = end - n.base;
                }
                None => out.push(NodeSpan { nid, base: b.base, size: b.size }),
            }
        }
    }
    out
}

/// The first buddyinfo block: `Node 0, zone   Normal      1      1 …` (11 counts).
fn buddyinfo<S: AsRef<str>>(lines: &[S]) -> Result<Vec<BuddyZone>> {
    let mut out: Vec<BuddyZone> = Vec::new();
    for l in lines {
        let m = message(l.as_ref());
        let Some(rest) = m.strip_prefix("Node ") else { continue };
        let Some((nid, rest)) = rest.split_once(", zone ") else { continue };
        let mut words = rest.split_whitespace();
        let Some(zone) = words.next() else { continue };
        let counts: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
        let (Ok(nid), Ok(free)) = (nid.parse::<i32>(), <[u64; MAX_ORDER]>::try_from(counts)) else { continue };
        if zone.ends_with(':') || out.iter().any(|b| b.nid == nid && b.zone == zone) {
            continue;
        }
        out.push(BuddyZone { nid, zone: zone.to_owned(), free });
    }
    if out.is_empty() {
        bail!("the log has no buddyinfo lines (`Node 0, zone      DMA      …` with {MAX_ORDER} counts): free blocks per order unknown");
    }
    Ok(out)
}

/// Reads a boot log (decoded lines, `LEVEL message` or bare messages) into the model.
///
/// # Errors
/// A line the picture needs is missing; the message names it.
pub fn parse<S: AsRef<str>>(lines: &[S], title: &str, subtitle: Vec<String>) -> Result<MemoryMap> {
    let ram = ram_banks(lines)?;
    let reserved = reserved_at_handoff(lines)?;
    let nodes = nodes(lines, &ram);
    let zones = zones(lines, &nodes)?;
    let buddy = buddyinfo(lines)?;
    let mut map = MemoryMap {
        title: title.to_owned(),
        subtitle,
        ram,
        firmware: firmware_areas(lines),
        reserved,
        reserved_when: "at the memblock_free_all hand-off".into(),
        named: named_areas(lines),
        zones,
        nodes,
        buddy,
        notes: notes(lines),
    };
    map.normalize()?;
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memmap_svg::{self, Owner, RowKind};

    fn fixture(name: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).lines().map(str::to_owned).collect()
    }

    #[test]
    fn an_x86_boot_log_gives_every_part_of_the_map() {
        let lines = fixture("boot-qemu-i386-pc-3G-smp2.log");
        let m = parse(&lines, "x86", vec![]).unwrap();
        assert_eq!(m.ram.len(), 2);
        assert_eq!((m.ram[1].base, m.ram[1].size), (0x10_0000, 0xbfee_0000));
        assert_eq!(m.firmware.len(), 4, "{:?}", m.firmware);
        let owners: Vec<Owner> = m.named.iter().map(|a| a.owner).collect();
        for o in [Owner::KernelImage, Owner::PageTables, Owner::BootLoader, Owner::Firmware, Owner::PerCpu, Owner::MemMap, Owner::Other] {
            assert!(owners.contains(&o), "{o:?} in {:#?}", m.named);
        }
        assert_eq!(m.named.iter().filter(|a| a.owner == Owner::PerCpu).count(), 2);
        // Linux reserve_real_mode's [0, 1M), a firmware area, with the trampoline inside it.
        let first_mib = m.named.iter().find(|a| a.label.starts_with("first 1 MiB")).expect("the first MiB has its owner line");
        assert_eq!((first_mib.base, first_mib.size, first_mib.owner), (0, 0x10_0000, Owner::Firmware));
        assert_eq!(m.zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>(), ["DMA", "Normal", "HighMem"]);
        assert_eq!(m.nodes.len(), 1);
        assert_eq!(m.buddy.len(), 3);
        assert_eq!(m.buddy[0].free, [0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 3]);
        assert!(m.notes.iter().any(|n| n.starts_with("Memory: ")));
        // Every reserved byte in RAM has a named owner: nothing is left unexplained.
        let rows = m.rows();
        let unnamed: Vec<_> = rows.iter().filter(|r| r.kind == RowKind::Reserved && r.owners.is_empty()).collect();
        assert!(unnamed.is_empty(), "{unnamed:#?}");
        // The picture draws it.
        let svg = memmap_svg::render(&m);
        roxmltree::Document::parse(&svg).unwrap();
        assert!(svg.contains("kernel image (text to end of bss, boot stack)"));
    }

    #[test]
    fn an_arm_numa_log_has_two_nodes_and_their_zones() {
        let lines = fixture("boot-qemu-virt-aarch64-numa2.log");
        let m = parse(&lines, "arm", vec![]).unwrap();
        assert_eq!(m.nodes.iter().map(|n| n.nid).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(m.zones.len(), 2, "DMA on each node: {:?}", m.zones);
        assert_eq!(m.zones[1], ZoneSpan { nid: 1, name: "DMA".into(), base: 0x8000_0000, size: 0x4000_0000 });
        assert_eq!(m.buddy.len(), 2);
        assert_eq!(m.ram.iter().map(|b| b.nid).collect::<Vec<_>>(), [Some(0), Some(1)]);
        for o in [Owner::KernelImage, Owner::DeviceTree, Owner::PageTables, Owner::PerCpu, Owner::MemMap] {
            assert!(m.named.iter().any(|a| a.owner == o), "{o:?}");
        }
        let rows = m.rows();
        assert!(!rows.iter().any(|r| r.kind == RowKind::Reserved && r.owners.is_empty()));
    }

    #[test]
    fn a_log_without_the_needed_lines_says_which() {
        let lines = fixture("boot-qemu-i386-pc-3G-smp2.log");
        let without = |pat: &str| -> String {
            let kept: Vec<&String> = lines.iter().filter(|l| !l.contains(pat)).collect();
            format!("{:#}", parse(&kept, "t", vec![]).unwrap_err())
        };
        assert!(without("MEMBLOCK configuration:").contains("`MEMBLOCK configuration:`"));
        assert!(without("memblock_free_all: ").contains("memblock_free_all: N reserved region(s)"));
        assert!(without("Zone ranges:").contains("`Zone ranges:`"));
        assert!(without(", zone ").contains("buddyinfo"));
        // A hand-off block with a line missing.
        let mut cut = lines.clone();
        let i = cut.iter().position(|l| l.contains("memblock_free_all: reserved [mem")).unwrap();
        cut.remove(i);
        assert!(format!("{:#}", parse(&cut, "t", vec![]).unwrap_err()).contains("but has"));
    }

    #[test]
    fn owner_lines_are_read() {
        let lines = [
            "INFO  OF: reserved mem: [mem 0x000000004e000000-0x000000004e0fffff] (1024 KiB) nomap non-reusable firmware@4e000000",
            "INFO  percpu: cpu 3 (hw id 0x3, node 1) unit at [mem 0x00000000bff82000-0x00000000bffbcfff]",
            "INFO  mem_map: node 0: 786400 pages x 16 bytes = 12287 KiB at [mem 0x0000000036b83000-0x0000000037782dff] for pfns [0x0, 0xbffe0)",
            "INFO  memblock: reserved array (256 regions) at [mem 0x0000000007f7c000-0x0000000007f7d7ff] freed, 2 page(s)",
            "INFO  early reserve: [mem 0x0000000003000000-0x0000000003001fff] board: frame buffer",
            "INFO  paging_init: page-table pages [mem 0x00000000377f9000-0x00000000377fdfff] (5 page(s))",
            "INFO  OF: reserved mem: [mem 0x0000000021f00000-0x0000000021ffffff] of 'ramoops@21f00000' is outside RAM",
            "INFO  cma: Reserved 64 MiB at 0x000000004be00000",
            "INFO  Reserved memory: created CMA memory pool at 0x0000000038000000, size 64 MiB",
            "INFO  OF: reserved mem: [mem 0x0000000038000000-0x000000003bffffff] (65536 KiB) map reusable linux,cma",
        ];
        let a = named_areas(&lines);
        assert_eq!(a[0].label, "reserved-memory: firmware@4e000000 (nomap non-reusable)");
        assert_eq!(a[1].label, "per-CPU area: cpu 3 (node 1)");
        assert_eq!(a[2].label, "mem_map: node 0 page metadata (786400 pages x 16 bytes)");
        assert_eq!(a[2].base + a[2].size, 0x3778_3000, "page-rounded");
        assert_eq!(a[3].owner, Owner::MemblockArrays);
        assert_eq!(a[4].owner, Owner::Board);
        assert_eq!((a[5].owner, a[5].size), (Owner::PageTables, 0x5000));
        assert_eq!((a[6].owner, a[6].base, a[6].size), (Owner::Cma, 0x4be0_0000, 64 << 20));
        assert_eq!((a[7].owner, a[7].label.as_str()), (Owner::Cma, "CMA: reserved-memory: linux,cma (map reusable)"));
        assert_eq!(a.len(), 8);
    }
}
