//! `cargo xtask memmap`: the platforms' real discovery and reservation code, run on the host
//! over a firmware description from a file, printing the memblock it builds.
//!
//! - `--e820 FILE.json`: the x86 PC path (`e820::setup_memory`, `e820::reserve_firmware_areas`)
//!   over a JSON e820 map: an array of `{"addr", "size", "type"}` (integers or `"0x…"`
//!   strings), or one map of a collection (`{"maps": {NAME: [...]}}` or `{"cases": [{"name",
//!   "input"}]}`) chosen with `--map NAME`.
//! - `--dtb FILE.dtb`: the device-tree path (`devicetree::discover` + `devicetree::apply`).
//!
//! With `--simulate` the pipeline goes on as the firmware's does after paging: the
//! architecture's zone limits (`mm_init::zones`), `mem_map`, `free_area_init`, the
//! `memblock_free_all` hand-off, the `Memory:` line, `buddyinfo` and the drain self-check.
//!
//! Both go through `mm_init::setup_memblock`, the same sequence the firmware runs, with a
//! host `Platform` that has no kernel image, no Multiboot block and no BDA (the BIOS area falls
//! back to Linux's conservative 0x9f000 start). Output: `memblock_dump_all` text, or JSON
//! `{"memory":[{"base","size","nid","flags"}],"reserved":[…]}` with plain integers.

use std::path::Path;

use anyhow::{bail, Context, Result};
use memblock::{Memblock, Region, RegionArrayMapper, RegionFlags, INIT_MEMBLOCK_REGIONS, MAX_NUMNODES};
use mm_init::{MemblockStorage, Platform, PlatformError};
use mm_types::LineSink;
use serde_json::Value;

use crate::memmap_log;
use crate::memmap_svg::{self, BuddyZone, MemoryMap, NodeSpan, RamBank, ZoneSpan};

const EMPTY: Region = Region { base: 0, size: 0, nid: MAX_NUMNODES, flags: RegionFlags::NONE };

/// Collects report lines.
#[derive(Default)]
pub struct Lines(pub Vec<String>);

impl LineSink for Lines {
    fn line(&mut self, args: std::fmt::Arguments<'_>) {
        self.0.push(args.to_string());
    }
}

/// Doubled region arrays on the host: leaked vectors.
struct VecMapper;

impl RegionArrayMapper<'static> for VecMapper {
    fn map(&mut self, _phys: u64, count: usize) -> Option<&'static mut [Region]> {
        Some(vec![EMPTY; count].leak())
    }
}

fn number(v: &Value, what: &str) -> Result<u64> {
    match v {
        Value::Number(n) => n.as_u64().with_context(|| format!("{what}: {n} is not a u64")),
        Value::String(s) => {
            let t = s.trim();
            let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => t.parse(),
            };
            parsed.with_context(|| format!("{what}: {s:?} is not a number"))
        }
        other => bail!("{what}: expected an integer or a \"0x…\" string, found {other}"),
    }
}

/// What a JSON value is, for messages.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads an e820 map from JSON; see the module documentation for the accepted shapes.
pub fn read_e820_json(text: &str, map: Option<&str>) -> Result<Vec<(u64, u64, u32)>> {
    let doc: Value = serde_json::from_str(text).context("not JSON")?;
    let entries = match (&doc, map) {
        (Value::Array(a), None) => a.clone(),
        (Value::Array(_), Some(_)) => bail!("--map given but the file is a single map"),
        (Value::Object(o), Some(name)) => {
            if let Some(maps) = o.get("maps").and_then(Value::as_object) {
                maps.get(name)
                    .and_then(Value::as_array)
                    .cloned()
                    .with_context(|| format!("no map {name:?}; maps: {}", maps.keys().cloned().collect::<Vec<_>>().join(", ")))?
            } else if let Some(cases) = o.get("cases").and_then(Value::as_array) {
                cases
                    .iter()
                    .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
                    .and_then(|c| c.get("input"))
                    .and_then(Value::as_array)
                    .cloned()
                    .with_context(|| format!("no case {name:?} with an \"input\" array"))?
            } else {
                bail!("the object has neither \"maps\" nor \"cases\"")
            }
        }
        (Value::Object(o), None) => {
            let names: Vec<String> = match (o.get("maps").and_then(Value::as_object), o.get("cases").and_then(Value::as_array)) {
                (Some(maps), _) => maps.keys().cloned().collect(),
                (None, Some(cases)) => cases.iter().filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from)).collect(),
                (None, None) => bail!(
                    "expected a JSON array of {{addr, size, type}} entries, or an object with \"maps\" or \"cases\"; found an object with keys {}",
                    o.keys().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")
                ),
            };
            bail!("the file holds several maps: name one with --map ({})", names.join(", "))
        }
        (other, _) => bail!("expected a JSON array of {{addr, size, type}} entries, found {}", json_kind(other)),
    };
    if entries.is_empty() {
        bail!("the e820 map is empty: no entries, so there is no RAM to set up");
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let field = |k: &str| e.get(k).with_context(|| format!("entry {i}: no \"{k}\""));
            let addr = number(field("addr")?, &format!("entry {i} addr"))?;
            let size = number(field("size")?, &format!("entry {i} size"))?;
            let ty = number(field("type")?, &format!("entry {i} type"))?;
            let ty = u32::try_from(ty).with_context(|| format!("entry {i}: type {ty} does not fit 32 bits"))?;
            Ok((addr, size, ty))
        })
        .collect()
}

/// A host platform: what the simulation asks beyond [`Platform`].
trait HostPlatform: Platform {
    /// Why the last failing call failed, in full (a [`PlatformError`] carries a fixed text only).
    fn reason(&mut self) -> Option<String>;
}

/// The x86 PC as the host sees it: only the firmware map.
struct HostPc {
    entries: Vec<(u64, u64, u32)>,
    cmdline: String,
    reason: Option<String>,
}

impl Platform for HostPc {
    fn cmdline(&self) -> &str {
        &self.cmdline
    }

    fn phys_addr_width(&self) -> memblock::PhysAddrWidth {
        memblock::PhysAddrWidth::Bits32
    }

    /// As Linux's `e820__range_add`: entries past the table's `E820_MAX_ENTRIES` are ignored, each
    /// with "too many entries; ignoring [mem …]", and the boot goes on with the first ones.
    fn discover_memory(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        let mut table = e820::E820Table::new();
        table.push_firmware_entries(self.entries.iter().copied(), log);
        let mem_limit = mm_init::Cmdline::new(&self.cmdline).mem_limit().ok().flatten();
        e820::setup_memory(&mut table, "BIOS-e820", mb, true, mem_limit, log).map_err(|e| {
            self.reason = Some(e.to_string());
            PlatformError::BadFirmwareData("e820 map could not be applied")
        })?;
        Ok(())
    }

    fn reserve_early(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        // No BDA on the host: 0 makes Linux's policy fall back to 0x9f000.
        e820::reserve_firmware_areas(mb, 0, 0, log).map_err(|e| {
            self.reason = Some(e.to_string());
            PlatformError::Memblock("cannot reserve the BIOS areas")
        })?;
        // The firmware's three trampoline pages (platforms/x86-pc smpboot), then [0, 1M).
        e820::reserve_real_mode(mb, 3 * 4096, "real-mode trampoline for SMP bring-up (code, page directory, page table)", log)?;
        Ok(())
    }

    /// x86 mem= was applied to the e820 table in `discover_memory` (Linux parse_memopt).
    fn limit_memory(&mut self, _mb: &mut Memblock<'_>, _limit: u64, _log: &mut dyn LineSink) -> Result<(), PlatformError> {
        Ok(())
    }
}

impl HostPlatform for HostPc {
    fn reason(&mut self) -> Option<String> {
        self.reason.take()
    }
}

/// The error of a failed host run: what failed, with the platform's full reason, then the log
/// up to the failure. `setup_memblock` logs each error as it returns it; that last line repeats
/// the error and is left out.
fn failure(e: &mm_init::BootError, reason: Option<String>, mut lines: Vec<String>) -> anyhow::Error {
    let echo = match e {
        mm_init::BootError::Discovery(pe) | mm_init::BootError::Reservation(pe) => Some(pe.to_string()),
        mm_init::BootError::NoMemory { .. } => Some("no RAM left after discovery".to_owned()),
        _ => None,
    };
    if echo.is_some_and(|t| lines.last().is_some_and(|l| l.contains(&t))) {
        lines.pop();
    }
    let head = match reason {
        Some(r) => format!("{e}: {r}"),
        None => e.to_string(),
    };
    if lines.is_empty() {
        anyhow::anyhow!("{head}")
    } else {
        anyhow::anyhow!("{head}\nthe log up to the failure:\n{}", lines.join("\n"))
    }
}

/// What `memmap` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Dump,
    Json,
}

fn regions_json(r: &[Region]) -> Value {
    Value::Array(
        r.iter()
            .map(|x| serde_json::json!({"base": x.base, "size": x.size, "nid": x.nid, "flags": x.flags.0}))
            .collect(),
    )
}

/// Which architecture's zone policy `--simulate` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arch {
    X86_32,
    Arm64,
}

/// What a run produced: the report text and the model of the picture.
pub struct Simulated {
    pub text: String,
    pub map: MemoryMap,
}

/// Merges touching or overlapping `(base, size)` ranges.
fn merge(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.retain(|&(_, s)| s > 0);
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (b, s) in v {
        match out.last_mut() {
            Some((pb, ps)) if b <= *pb + *ps => *ps = (*ps).max(b + s - *pb),
            _ => out.push((b, s)),
        }
    }
    out
}

/// Runs the generic path over `platform`; the report and the picture's model. Names (the early
/// reservations, the firmware's map) come from the lines the platform code logs, as on a real
/// boot; RAM, reservations, zones and buddy counts from the structures themselves.
fn run(platform: &mut dyn HostPlatform, format: Format, simulate: Option<Arch>, distance: &dyn Fn(i32, i32) -> u8) -> Result<Simulated> {
    let storage = MemblockStorage {
        memory: vec![EMPTY; INIT_MEMBLOCK_REGIONS].leak(),
        reserved: vec![EMPTY; INIT_MEMBLOCK_REGIONS].leak(),
        mapper: Box::leak(Box::new(VecMapper)),
    };
    let mut lines = Lines::default();
    fn quiet(_: std::fmt::Arguments<'_>) {}
    let mb = match mm_init::setup_memblock(platform, storage, &mm_init::BoardMemory::default(), quiet, &mut lines) {
        Ok(mb) => mb,
        Err(e) => {
            let reason = platform.reason();
            return Err(failure(&e, reason, lines.0));
        }
    };
    let ram = mb
        .memory()
        .iter()
        .map(|r| RamBank {
            base: r.base,
            size: r.size,
            nid: (0..MAX_NUMNODES).contains(&r.nid).then_some(r.nid),
            nomap: r.flags.contains(RegionFlags::NOMAP),
        })
        .collect();
    let json = (simulate.is_none() && format == Format::Json)
        .then(|| serde_json::json!({"memory": regions_json(mb.memory()), "reserved": regions_json(mb.reserved())}));
    let mut reserved: Vec<(u64, u64)> = mb.reserved().iter().map(|r| (r.base, r.size)).collect();
    let mut map = MemoryMap { ram, ..MemoryMap::default() };
    if let Some(arch) = simulate {
        let (config, paging) = match arch {
            Arch::X86_32 => (page_alloc::ArchConfig::X86_32, mm_init::zones::x86_32(&mb)),
            Arch::Arm64 => (page_alloc::ArchConfig::ARM64_4K, mm_init::zones::arm64(&mb)),
        };
        // mem_map is the one memblock allocation mem_init makes: whole pages of `Page::BYTES` entries.
        let mut mem_maps: Vec<(u64, u64)> = Vec::new();
        let mut map_pages = |phys: u64, count: usize| {
            mem_maps.push((phys, (count as u64 * page_alloc::Page::BYTES as u64).next_multiple_of(memmap_svg::PAGE)));
            Some(vec![page_alloc::Page::INIT; count].leak())
        };
        let sections = page_alloc::KernelSections::default();
        // Every node with memory is online; its data is plain host memory here.
        let node_data = std::array::from_fn(|nid| {
            page_alloc::node_pfn_range(&mb, nid as i32)
                .map(|_| &mut *Box::leak(Box::new(page_alloc::Node::memoryless(config, nid as i32))))
        });
        let (mut node, _) = match mm_init::mem_init::mem_init(config, &paging, mb, node_data, &mut map_pages, &sections, &distance, &mut page_alloc::cma::CmaAreas::new(config.pageblock_order, false), &mut lines) {
            Ok(r) => r,
            Err(e) => bail!("{e}\n{}", lines.0.join("\n")),
        };
        reserved.extend(mem_maps);
        for n in node.nodes() {
            let pages = |pfn: u64| pfn << mm_types::PAGE_SHIFT;
            map.nodes.push(NodeSpan { nid: n.nid, base: pages(n.node_start_pfn), size: pages(n.node_spanned_pages) });
            for z in n.zones().iter().filter(|z| z.spanned_pages > 0) {
                map.zones.push(ZoneSpan { nid: n.nid, name: z.name().into(), base: pages(z.zone_start_pfn), size: pages(z.spanned_pages) });
                if z.present_pages > 0 {
                    let free = std::array::from_fn(|o| z.free_area()[o].nr_free);
                    map.buddy.push(BuddyZone { nid: n.nid, zone: z.name().into(), free });
                }
            }
        }
        node.buddyinfo(&mut lines);
        let mut scratch = vec![(0u64, 0u32); 1 << 16];
        if let Err(why) = mm_init::selfcheck::drain_and_restore(&mut node, &mut scratch, &mut lines) {
            bail!("buddy self-check failed: {why}\n{}", lines.0.join("\n"));
        }
        map.reserved_when = "at the memblock_free_all hand-off".into();
    } else {
        map.reserved_when = "after the early reservations (memblock_dump_all; --simulate goes on to the buddy hand-off)".into();
    }
    map.reserved = merge(reserved);
    map.named = memmap_log::named_areas(&lines.0);
    map.firmware = memmap_log::firmware_areas(&lines.0);
    map.notes = memmap_log::notes(&lines.0);
    map.notes.push("Host simulation: no kernel image, page tables, per-CPU areas or boot loader data exist here.".into());
    let text = match json {
        Some(v) => serde_json::to_string_pretty(&v)?,
        None => lines.0.join("\n"),
    };
    Ok(Simulated { text, map })
}

/// `memmap --e820`: the report text.
#[cfg(test)]
pub fn e820(file: &Path, map: Option<&str>, mem_cap: Option<u64>, format: Format, simulate: bool) -> Result<String> {
    e820_full(file, map, mem_cap, format, simulate).map(|r| r.text)
}

/// `memmap --e820`: the report and the picture's model.
pub fn e820_full(file: &Path, map: Option<&str>, mem_cap: Option<u64>, format: Format, simulate: bool) -> Result<Simulated> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let entries = read_e820_json(&text, map).with_context(|| format!("{}", file.display()))?;
    let cmdline = mem_cap.map(|m| format!("mem={m}")).unwrap_or_default();
    run(&mut HostPc { entries, cmdline, reason: None }, format, simulate.then_some(Arch::X86_32), &page_alloc::default_distance).map(|mut r| {
        let name = map.map_or_else(|| file.display().to_string(), |m| format!("{m} from {}", file.display()));
        r.map.title = format!("Physical memory map: {name}, host simulation");
        r.map.subtitle = vec![format!(
            "cargo xtask memmap --e820 {}{}{}: the e820 sanitiser, memblock{} run on the host",
            file.display(),
            map.map(|m| format!(" --map {m}")).unwrap_or_default(),
            if simulate { " --simulate" } else { "" },
            if simulate { ", zones and the buddy hand-off" } else { " and the early reservations" },
        )];
        r
    })
}

/// Writes the picture of `map` to `svg` and, with `png`, renders it in headless Chromium and
/// checks the screenshot; says what it wrote.
pub fn draw(map: &MemoryMap, svg: &Path, png: Option<&Path>) -> Result<()> {
    let layout = memmap_svg::write(map, svg)?;
    let named = layout.labels.iter().filter(|l| l.named.is_some()).count();
    let smallest = layout.rows.iter().map(|r| r.h).fold(f64::INFINITY, f64::min);
    eprintln!(
        "memmap: wrote {} ({}x{} px: {} rows, {named} named ranges, {} labels; smallest row {smallest} px)",
        svg.display(),
        layout.width,
        layout.height,
        layout.rows.len(),
        layout.labels.len()
    );
    if let Some(png) = png {
        let summary = crate::browser::render_and_check(&layout, svg, png)?;
        eprintln!("memmap: rendered {} in Chromium: {summary}", png.display());
    }
    Ok(())
}

/// `run --memmap`: the picture of a boot from its decoded log.
pub fn draw_boot_log(lines: &[String], board: &str, opts: &crate::qemu::RunOpts, svg: &Path, png: Option<&Path>) -> Result<()> {
    let title = format!("Physical memory map: {board}, {} MiB, {} CPU(s), QEMU boot", opts.mem_bytes >> 20, opts.smp);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let subtitle = vec![
        format!("cargo xtask {}", args.join(" ")),
        "Read from the decoded boot log: memblock_dump_all, early reservations, the memblock_free_all hand-off, zones, buddyinfo".into(),
    ];
    let map = memmap_log::parse(lines, &title, subtitle).context("drawing the memory map from the boot log")?;
    draw(&map, svg, png)
}

/// The name `cargo xtask test` reports the picture checks under (`--filter` matches it).
pub const TEST_NAME: &str = "memmap-svg";
/// The boots whose logs `cargo xtask test` draws and renders.
pub const TEST_BOOTS: [&str; 3] = ["x86-3G-smp4", "arm-numa2-smp4", "arm32-2G-smp4"];

/// Writes one picture under `dir`, checks its layout (no text over another), renders it in
/// headless Chromium and checks the screenshot.
fn test_picture(map: &MemoryMap, dir: &Path, stem: &str) -> Result<String> {
    let (svg, png) = (dir.join(format!("{stem}.svg")), dir.join(format!("{stem}.png")));
    let layout = memmap_svg::write(map, &svg)?;
    let clashes = layout.overlapping_texts();
    if let Some((a, b)) = clashes.first() {
        bail!("{}: {} text(s) overlap, e.g. {a:?} and {b:?}", svg.display(), clashes.len());
    }
    roxmltree::Document::parse(&std::fs::read_to_string(&svg)?).with_context(|| format!("{} is not well-formed XML", svg.display()))?;
    let smallest = layout.rows.iter().map(|r| r.h).fold(f64::INFINITY, f64::min);
    let summary = crate::browser::render_and_check(&layout, &svg, &png)?;
    Ok(format!("{} rows (smallest {smallest} px), {} labels; {}: {summary}", layout.rows.len(), layout.labels.len(), png.display()))
}

/// `cargo xtask test`'s memory-map checks: the log of every boot that came up reads into a map
/// in which all reserved RAM has a named owner; the pictures of the host simulation
/// (qemu-i386-pc-3G, `--simulate`) and of [`TEST_BOOTS`] are drawn, rendered in headless
/// Chromium and checked (`browser.rs`). One result per check.
pub fn test_pictures(root: &Path, logs: &[(&str, Vec<String>)]) -> Vec<(String, Result<String>)> {
    let mut out = Vec::new();
    let dir = root.join("target/xtask-test");
    let up: Vec<&(&str, Vec<String>)> = logs.iter().filter(|(_, l)| l.iter().any(|l| l.contains("boot: memory management up on "))).collect();
    let read_all = || -> Result<String> {
        let mut rows = 0;
        for (name, lines) in &up {
            let map = memmap_log::parse(lines, name, vec![]).with_context(|| format!("boot {name}"))?;
            let all = map.rows();
            let unnamed: Vec<String> = all
                .iter()
                .filter(|r| r.kind == memmap_svg::RowKind::Reserved && r.owners.is_empty())
                .map(|r| format!("[mem {:#x}-{:#x}]", r.base, r.end - 1))
                .collect();
            if !unnamed.is_empty() {
                bail!("boot {name}: reserved RAM that no log line names: {}", unnamed.join(", "));
            }
            rows += all.len();
        }
        Ok(format!("{} boot logs read into maps ({rows} rows), every reserved byte of RAM has a named owner", up.len()))
    };
    out.push(("boot logs".to_owned(), read_all()));
    let shared = root.join("../shared/testdata/e820/qemu_maps.json");
    let sim = (|| {
        std::fs::create_dir_all(&dir)?;
        let sim = e820_full(&shared, Some("qemu-i386-pc-3G"), None, Format::Dump, true)?;
        test_picture(&sim.map, &dir, "memmap-sim-qemu-i386-pc-3G")
    })();
    out.push(("host simulation qemu-i386-pc-3G".to_owned(), sim));
    for boot in TEST_BOOTS {
        let result = match logs.iter().find(|(n, _)| *n == boot) {
            Some((_, lines)) => memmap_log::parse(lines, &format!("Physical memory map: boot {boot} (cargo xtask test)"), vec![])
                .and_then(|map| test_picture(&map, &dir, &format!("memmap-{boot}"))),
            None => Err(anyhow::anyhow!("boot {boot} did not pass: no log to draw")),
        };
        out.push((format!("boot {boot}"), result));
    }
    out
}

/// The physical limit of the platform device-tree machines run on (its `PHYS_LIMIT`, which the
/// board build checks against the same table).
fn aarch64_phys_limit() -> u64 {
    board_desc::PLATFORMS.iter().find(|p| p.name == "aarch64").map_or(u64::MAX, |p| p.phys_limit)
}

/// A device-tree machine as the host sees it: the blob, read from a file (not placed in RAM, so
/// it is not itself reserved), and no kernel image.
struct HostDt {
    info: devicetree::DtMemoryInfo<'static>,
    cmdline: String,
    reason: Option<String>,
}

impl HostPlatform for HostDt {
    fn reason(&mut self) -> Option<String> {
        self.reason.take()
    }
}

impl Platform for HostDt {
    fn cmdline(&self) -> &str {
        &self.cmdline
    }

    fn discover_memory(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        let mut rep = devicetree::ApplyReport::default();
        let reason = &mut self.reason;
        devicetree::add_memory(&self.info, mb, aarch64_phys_limit() - 1, &mut rep, log).map_err(|e| {
            *reason = Some(format!("device tree: {e}"));
            PlatformError::BadFirmwareData("device-tree memory could not be added")
        })?;
        if rep.banks_added == 0 {
            if self.info.banks.is_empty() && self.info.zero_size_banks > 0 {
                return Err(PlatformError::NoMemoryMap(
                    "the device tree's /memory has size 0 (a placeholder the boot loader fills in), so it describes no RAM",
                ));
            }
            return Err(PlatformError::NoMemoryMap("the device tree describes no RAM (no usable /memory node)"));
        }
        Ok(())
    }

    fn reserve_early(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        let mut rep = devicetree::ApplyReport::default();
        // CMA regions become areas of this throw-away set: the simulation's mem_init gets none,
        // so they stay reserved in the picture (the boot activates them).
        let params = devicetree::ApplyParams::default();
        let reason = &mut self.reason;
        devicetree::reserve(&self.info, mb, None, &params, &mut params.cma_areas(), &mut rep, log).map_err(|e| {
            *reason = Some(format!("device tree: {e}"));
            PlatformError::BadFirmwareData("device-tree reservations could not be recorded")
        })
    }
}

/// Node distances as arm64 Linux fills them from `/distance-map` (`devicetree::of_numa_init`;
/// 10/20 for pairs it does not set, and everywhere after a NUMA fallback).
pub fn dt_distance(info: &devicetree::DtMemoryInfo<'_>) -> impl Fn(i32, i32) -> u8 + 'static {
    let numa = devicetree::of_numa_init(info, &mut mm_types::NullSink);
    move |a, b| numa.distance(a, b)
}

/// `memmap --dtb`: the report text.
#[cfg(test)]
pub fn dtb(file: &Path, mem_cap: Option<u64>, format: Format, simulate: bool) -> Result<String> {
    dtb_full(file, mem_cap, format, simulate).map(|r| r.text)
}

/// `memmap --dtb`: the report and the picture's model.
pub fn dtb_full(file: &Path, mem_cap: Option<u64>, format: Format, simulate: bool) -> Result<Simulated> {
    let blob: &'static [u8] =
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?.leak();
    let dt = devicetree::DeviceTree::new(blob).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let info = devicetree::discover(&dt).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let mut cmdline = info.chosen.as_ref().and_then(|c| c.bootargs).unwrap_or("").to_owned();
    if let Some(m) = mem_cap {
        cmdline.push_str(&format!(" mem={m}"));
    }
    let distance = dt_distance(&info);
    run(&mut HostDt { info, cmdline, reason: None }, format, simulate.then_some(Arch::Arm64), &distance).map(|mut r| {
        r.map.title = format!("Physical memory map: {}, host simulation", file.display());
        r.map.subtitle = vec![format!(
            "cargo xtask memmap --dtb {}{}: device-tree discovery, memblock{} run on the host",
            file.display(),
            if simulate { " --simulate" } else { "" },
            if simulate { ", zones and the buddy hand-off" } else { " and the reservations" },
        )];
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata").join(rel)
    }

    fn memory_of(json: &str) -> Vec<(u64, u64)> {
        let v: Value = serde_json::from_str(json).unwrap();
        v["memory"].as_array().unwrap().iter().map(|r| (r["base"].as_u64().unwrap(), r["size"].as_u64().unwrap())).collect()
    }

    #[test]
    fn qemu_maps_match_linux() {
        let f = shared("e820/qemu_maps.json");
        // Linux 6.1 i386 (non-PAE) on these machines: the first page and 640K-1M are not RAM,
        // partial pages are trimmed, RAM at or above 4 GiB is out of reach.
        let cases: [(&str, &[(u64, u64)]); 3] = [
            ("qemu-i386-pc-128M", &[(0x1000, 0x9e000), (0x10_0000, 0x7ee_0000)]),
            ("qemu-i386-pc-3G", &[(0x1000, 0x9e000), (0x10_0000, 0xbfee_0000)]),
            ("qemu-i386-q35-3G", &[(0x1000, 0x9e000), (0x10_0000, 0x7fed_f000)]),
        ];
        for (name, want) in cases {
            let out = e820(&f, Some(name), None, Format::Json, false).unwrap();
            assert_eq!(memory_of(&out), want, "{name}");
        }
        let dump = e820(&f, Some("qemu-i386-pc-128M"), None, Format::Dump, false).unwrap();
        // %pa of i386's 32-bit phys_addr_t; reserve_real_mode leaves all of [0, 1M) reserved.
        assert!(dump.contains(" memory size = 0x07f7e000 reserved size = 0x00100000"), "{dump}");
        assert!(dump.contains(" reserved[0x0]\t[0x00000000-0x000fffff], 0x00100000 bytes flags: 0x0"), "{dump}");
        assert!(dump.contains("last_pfn = 0x7fe0 max_arch_pfn = 0x100000"), "{dump}");
        assert!(dump.contains("BIOS-e820: [mem 0x0000000000100000-0x0000000007fdffff] usable"));
    }

    #[test]
    fn every_sanitize_case_runs() {
        let f = shared("e820/sanitize_cases.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let mut n = 0;
        for case in doc["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            // Some cases hold no RAM at all; those must fail with a clear message, not panic.
            match e820(&f, Some(name), None, Format::Json, false) {
                Ok(out) => assert!(!memory_of(&out).is_empty(), "{name}"),
                Err(e) => assert!(format!("{e:#}").contains("RAM"), "{name}: {e:#}"),
            }
            n += 1;
        }
        assert_eq!(n, doc["cases"].as_array().unwrap().len());
        assert_eq!(n, 4, "the shared test data has four cases");
    }

    #[test]
    fn simulate_runs_the_whole_pipeline_like_the_firmware() {
        let out = e820(&shared("e820/qemu_maps.json"), Some("qemu-i386-pc-3G"), None, Format::Dump, true).unwrap();
        for want in [
            "BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable",
            "Zone ranges:",
            "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
            "  Normal   [mem 0x0000000001000000-0x00000000377fdfff]",
            "  HighMem  [mem 0x00000000377fe000-0x00000000bffdffff]",
            "K/3145208K available (",
            "buddy self-check: drained ",
        ] {
            assert!(out.contains(want), "missing {want:?} in:\n{out}");
        }
        let numa = dtb(&shared("dtb/qemu__aarch64-virt-2G-numa2.dtb"), None, Format::Dump, true).unwrap();
        assert!(numa.contains("Built 2 zonelists, mobility grouping on.  Total pages: "), "{numa}");
        assert!(numa.contains("Node 1, zone      DMA "), "{numa}");
        let arm = dtb(&shared("dtb/qemu__aarch64-virt-8G.dtb"), None, Format::Dump, true).unwrap();
        assert!(arm.contains("  Normal   [mem 0x0000000100000000-0x000000023fffffff]"), "{arm}");
        assert!(arm.contains("K/8388608K available ("), "{arm}");
    }

    /// The structures the simulation reads and the lines it prints tell the same story: the
    /// picture of a simulation and of a boot log come out alike.
    #[test]
    fn the_simulation_model_matches_what_its_log_says() {
        let runs = [
            e820_full(&shared("e820/qemu_maps.json"), Some("qemu-i386-pc-3G"), None, Format::Dump, true).unwrap(),
            dtb_full(&shared("dtb/qemu__aarch64-virt-2G-numa2.dtb"), None, Format::Dump, true).unwrap(),
            dtb_full(&shared("dtb/qemu__aarch64-virt-8G.dtb"), None, Format::Dump, true).unwrap(),
        ];
        for sim in runs {
            let lines: Vec<&str> = sim.text.lines().collect();
            let mut parsed = memmap_log::parse(&lines, "t", vec![]).unwrap();
            let mut m = sim.map.clone();
            m.normalize().unwrap();
            parsed.reserved = merge(parsed.reserved);
            assert_eq!(parsed.ram, m.ram, "{}", m.title);
            assert_eq!(parsed.reserved, m.reserved, "{}", m.title);
            assert_eq!(parsed.zones, m.zones, "{}", m.title);
            assert_eq!(parsed.nodes, m.nodes, "{}", m.title);
            assert_eq!(parsed.buddy, m.buddy, "{}", m.title);
            assert_eq!(parsed.named, m.named, "{}", m.title);
            assert_eq!(parsed.firmware, m.firmware, "{}", m.title);
            assert!(m.named.iter().any(|a| a.owner == memmap_svg::Owner::MemMap), "{}", m.title);
        }
    }

    #[test]
    fn svg_of_a_numa_simulation_has_both_nodes() {
        let sim = dtb_full(&shared("dtb/qemu__aarch64-virt-2G-numa2.dtb"), None, Format::Dump, true).unwrap();
        let out = std::env::temp_dir().join(format!("memfw-numa2-{}.svg", std::process::id()));
        let layout = memmap_svg::write(&sim.map, &out).unwrap();
        let svg = std::fs::read_to_string(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        roxmltree::Document::parse(&svg).unwrap();
        for want in [">node 0<", ">node 1<", "mem_map: node 1 page metadata", "Node 1, zone DMA: "] {
            assert!(svg.contains(want), "{want}");
        }
        assert!(layout.overlapping_texts().is_empty());
        // Without --simulate: memblock after the early reservations, no zones or buddy counts.
        let early = e820_full(&shared("e820/qemu_maps.json"), Some("qemu-i386-pc-128M"), None, Format::Dump, false).unwrap();
        assert!(early.map.zones.is_empty() && early.map.buddy.is_empty());
        assert!(early.map.named.iter().any(|a| a.label.starts_with("BIOS: EBDA")));
        let l = memmap_svg::layout(&{
            let mut m = early.map;
            m.normalize().unwrap();
            m
        });
        assert!(l.overlapping_texts().is_empty());
    }

    /// Every tree of the shared test data draws (simulated where the pipeline runs on it, else
    /// memblock after the reservations): well-formed, every named range labelled, no text
    /// over another.
    #[test]
    fn every_dtb_draws_cleanly() {
        let mut drawn = 0;
        for entry in std::fs::read_dir(shared("dtb")).unwrap() {
            let path = entry.unwrap().path();
            let Ok(sim) = dtb_full(&path, None, Format::Dump, true).or_else(|_| dtb_full(&path, None, Format::Dump, false)) else {
                continue; // no RAM: refused, as every_dtb_matches_its_truth checks
            };
            let mut m = sim.map;
            m.normalize().unwrap();
            let l = memmap_svg::layout(&m);
            assert_eq!(l.overlapping_texts(), Vec::<(String, String)>::new(), "{}", path.display());
            let named: std::collections::BTreeSet<usize> = l.labels.iter().filter_map(|x| x.named).collect();
            assert_eq!(named.len(), m.named.len(), "{}", path.display());
            assert!(l.rows.iter().all(|r| r.h >= memmap_svg::MIN_ROW), "{}", path.display());
            roxmltree::Document::parse(&memmap_svg::to_svg(&l)).unwrap();
            drawn += 1;
        }
        assert_eq!(drawn, 23, "23 of the 28 trees describe RAM");
    }

    #[test]
    fn bad_json_is_named() {
        assert!(read_e820_json("[{\"addr\": 1}]", None).unwrap_err().to_string().contains("entry 0: no \"size\""));
        assert!(read_e820_json("[{\"addr\": \"0xzz\", \"size\": 1, \"type\": 1}]", None)
            .unwrap_err()
            .to_string()
            .contains("entry 0 addr"));
        assert!(read_e820_json("{\"maps\": {}}", None).unwrap_err().to_string().contains("--map"));
    }

    /// Writes `text` to a scratch file and runs `memmap --e820` on it.
    fn e820_text(tag: &str, text: &str) -> Result<String> {
        let f = std::env::temp_dir().join(format!("memfw-e820-{tag}-{}.json", std::process::id()));
        std::fs::write(&f, text).unwrap();
        let r = e820(&f, None, None, Format::Dump, false);
        std::fs::remove_file(&f).unwrap();
        r
    }

    #[test]
    fn e820_input_problems_are_said_once_and_precisely() {
        // An empty map: said as such, without a mem= nobody gave.
        let e = format!("{:#}", e820_text("empty", "[]").unwrap_err());
        assert!(e.contains("the e820 map is empty") && !e.contains("mem="), "{e}");
        // An object that is no collection of maps is not "several maps".
        let e = read_e820_json("{\"a\": 1}", None).unwrap_err().to_string();
        assert!(e.contains("found an object with keys \"a\"") && !e.contains("several maps"), "{e}");
        let e = read_e820_json("{\"maps\": {\"x\": [], \"y\": []}}", None).unwrap_err().to_string();
        assert!(e.contains("several maps") && e.contains("(x, y)"), "{e}");
        // An entry that runs past 2^64: e820__update_table() gives up, the map is used as handed
        // over (Linux), and the one line that says so names the entry.
        let t = e820_text("wrap", r#"[{"addr": 0, "size": "0x9fc00", "type": 1}, {"addr": "0xfffffffffffff000", "size": "0x2000", "type": 1}]"#).unwrap();
        assert_eq!(t.matches("wraps past 2^64").count(), 1, "{t}");
        assert!(t.contains("e820 entry 1 [mem 0xfffffffffffff000-0x0000000000000fff] (size 0x2000) wraps past 2^64"), "{t}");
        // More entries than the table holds: Linux keeps the first E820_MAX_ENTRIES and says
        // which it ignores.
        let entries: Vec<String> = (0..200).map(|i| format!("{{\"addr\": {}, \"size\": 4096, \"type\": 1}}", (i + 1) << 20)).collect();
        let out = e820_text("many", &format!("[{}]", entries.join(","))).unwrap();
        assert_eq!(out.matches("e820: too many entries; ignoring [mem ").count(), 72, "{out}");
        assert!(out.contains("e820: too many entries; ignoring [mem 0x08100000-0x08100fff]"), "{out}");
        assert!(out.contains("the map has 200 entries, more than the table's E820_MAX_ENTRIES (128): the first 128 are used, 72 ignored"), "{out}");
        assert!(out.contains("BIOS-e820: [mem 0x0000000008000000-0x0000000008000fff] usable"), "{out}");
    }

    /// A /memory placeholder of size 0 (the Raspberry Pi 4's, which its boot loader fills in)
    /// is called that.
    #[test]
    fn a_zero_size_memory_node_is_named() {
        let e = format!("{:#}", dtb(&shared("dtb/arm64__broadcom__bcm2711-rpi-4-b.dtb"), None, Format::Dump, false).unwrap_err());
        assert!(e.contains("/memory has size 0"), "{e}");
        assert_eq!(e.matches("no memory map").count(), 1, "{e}");
    }

    #[test]
    fn mem_cap_is_an_address_limit_on_x86() {
        let f = shared("e820/qemu_maps.json");
        let out = e820(&f, Some("qemu-i386-pc-128M"), Some(64 << 20), Format::Json, false).unwrap();
        assert_eq!(memory_of(&out), vec![(0x1000, 0x9e000), (0x10_0000, (64 << 20) - 0x10_0000)]);
    }

    /// Every tree in the shared test data: memblock memory equals the truth's Linux banks
    /// (page-aligned inwards, merged where they touch on the same node), and every static
    /// reservation and /memreserve/ entry is in memblock.reserved.
    #[test]
    fn every_dtb_matches_its_truth() {
        let dir = shared("dtb");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let truth: Value = serde_json::from_str(
                &std::fs::read_to_string(shared("dtb-truth").join(format!("{stem}.json"))).unwrap(),
            )
            .unwrap();
            let banks: Vec<(u64, u64)> = truth["memory_banks_linux"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| (b["base"].as_u64().unwrap(), b["size"].as_u64().unwrap()))
                .filter(|&(_, s)| s > 0)
                .collect();
            let result = dtb(&path, None, Format::Json, false);
            if banks.is_empty() {
                let e = format!("{:#}", result.unwrap_err());
                assert!(e.contains("no RAM") || e.contains("no usable /memory"), "{stem}: {e}");
                n += 1;
                continue;
            }
            let out = result.unwrap_or_else(|e| panic!("{stem}: {e:#}"));
            let v: Value = serde_json::from_str(&out).unwrap();
            let total: u64 = v["memory"].as_array().unwrap().iter().map(|r| r["size"].as_u64().unwrap()).sum();
            let want: u64 = banks
                .iter()
                .map(|&(b, s)| {
                    let start = (b + 0xfff) & !0xfff;
                    let end = (b + s) & !0xfff;
                    end.saturating_sub(start)
                })
                .sum();
            assert_eq!(total, want, "{stem}: RAM total");
            let reserved: Vec<(u64, u64)> = v["reserved"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r["base"].as_u64().unwrap(), r["size"].as_u64().unwrap()))
                .collect();
            let covered = |b: u64, s: u64| reserved.iter().any(|&(rb, rs)| rb <= b && b + s <= rb + rs);
            for m in truth["memreserve"].as_array().unwrap() {
                let (b, s) = (m["address"].as_u64().or(m["base"].as_u64()).unwrap(), m["size"].as_u64().unwrap());
                if s > 0 {
                    assert!(covered(b, s), "{stem}: /memreserve/ {b:#x}+{s:#x} not reserved");
                }
            }
            n += 1;
        }
        assert_eq!(n, 28);
    }

    #[test]
    fn dtb_mem_cap_keeps_the_first_bytes() {
        let out = dtb(&shared("dtb/qemu__aarch64-virt-1G.dtb"), Some(64 << 20), Format::Json, false).unwrap();
        assert_eq!(memory_of(&out), vec![(0x4000_0000, 64 << 20)]);
    }

    #[test]
    fn a_truncated_dtb_is_an_error_naming_the_file() {
        let tmp = std::env::temp_dir().join("memfw-truncated.dtb");
        let blob = std::fs::read(shared("dtb/qemu__aarch64-virt-1G.dtb")).unwrap();
        std::fs::write(&tmp, &blob[..100]).unwrap();
        let e = format!("{:#}", dtb(&tmp, None, Format::Dump, false).unwrap_err());
        assert!(e.contains("memfw-truncated.dtb"), "{e}");
    }
}
