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
        (Value::Object(_), None) => bail!("the file holds several maps: name one with --map"),
        _ => bail!("expected a JSON array of {{addr, size, type}} entries"),
    };
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

/// The x86 PC as the host sees it: only the firmware map.
struct HostPc {
    entries: Vec<(u64, u64, u32)>,
    cmdline: String,
}

impl Platform for HostPc {
    fn cmdline(&self) -> &str {
        &self.cmdline
    }

    fn discover_memory(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        let mut table = e820::E820Table::new();
        for &(a, s, t) in &self.entries {
            table.push(a, s, t).map_err(|e| {
                log.line(format_args!("e820: {e}"));
                PlatformError::BadFirmwareData("the e820 map does not fit")
            })?;
        }
        e820::setup_memory(&mut table, "BIOS-e820", mb, true, log).map_err(|e| {
            log.line(format_args!("e820: {e}"));
            PlatformError::BadFirmwareData("e820 map could not be applied")
        })
    }

    fn reserve_early(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        // No BDA on the host: 0 makes Linux's policy fall back to 0x9f000.
        e820::reserve_firmware_areas(mb, 0, 0, log).map_err(|e| {
            log.line(format_args!("e820: {e}"));
            PlatformError::Memblock("cannot reserve the BIOS areas")
        })
    }

    fn limit_memory(&mut self, mb: &mut Memblock<'_>, limit: u64, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        mb.remove(limit, u64::MAX - limit)?;
        log.line(format_args!("mem={limit:#x}: RAM at and above {limit:#x} removed"));
        Ok(())
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

/// Runs the generic path over `platform` and renders the result.
fn run(platform: &mut dyn Platform, format: Format, simulate: Option<Arch>, distance: &dyn Fn(i32, i32) -> u8) -> Result<String> {
    let storage = MemblockStorage {
        memory: vec![EMPTY; INIT_MEMBLOCK_REGIONS].leak(),
        reserved: vec![EMPTY; INIT_MEMBLOCK_REGIONS].leak(),
        mapper: Box::leak(Box::new(VecMapper)),
    };
    let mut lines = Lines::default();
    fn quiet(_: std::fmt::Arguments<'_>) {}
    let mb = match mm_init::setup_memblock(platform, storage, &mm_init::BoardMemory::default(), quiet, &mut lines) {
        Ok(mb) => mb,
        Err(e) => bail!("{e}\n{}", lines.0.join("\n")),
    };
    if let Some(arch) = simulate {
        let (config, paging) = match arch {
            Arch::X86_32 => (page_alloc::ArchConfig::X86_32, mm_init::zones::x86_32(&mb)),
            Arch::Arm64 => (page_alloc::ArchConfig::ARM64_4K, mm_init::zones::arm64(&mb)),
        };
        let mut map = |_phys: u64, count: usize| Some(vec![page_alloc::Page::INIT; count].leak());
        let sections = page_alloc::KernelSections::default();
        let (mut node, _) = match mm_init::mem_init::mem_init(config, &paging, mb, &mut map, &sections, &distance, &mut lines) {
            Ok(r) => r,
            Err(e) => bail!("{e}\n{}", lines.0.join("\n")),
        };
        node.buddyinfo(&mut lines);
        let mut scratch = vec![(0u64, 0u32); 1 << 16];
        if let Err(why) = mm_init::selfcheck::drain_and_restore(&mut node, &mut scratch, &mut lines) {
            bail!("buddy self-check failed: {why}\n{}", lines.0.join("\n"));
        }
        return Ok(lines.0.join("\n"));
    }
    Ok(match format {
        Format::Dump => lines.0.join("\n"),
        Format::Json => serde_json::to_string_pretty(
            &serde_json::json!({"memory": regions_json(mb.memory()), "reserved": regions_json(mb.reserved())}),
        )?,
    })
}

/// `memmap --e820`.
pub fn e820(file: &Path, map: Option<&str>, mem_cap: Option<u64>, format: Format, simulate: bool) -> Result<String> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let entries = read_e820_json(&text, map).with_context(|| format!("{}", file.display()))?;
    let cmdline = mem_cap.map(|m| format!("mem={m}")).unwrap_or_default();
    run(&mut HostPc { entries, cmdline }, format, simulate.then_some(Arch::X86_32), &page_alloc::default_distance)
}

/// A device-tree machine as the host sees it: the blob, read from a file (not placed in RAM, so
/// it is not itself reserved), and no kernel image.
struct HostDt {
    info: devicetree::DtMemoryInfo<'static>,
    cmdline: String,
}

impl Platform for HostDt {
    fn cmdline(&self) -> &str {
        &self.cmdline
    }

    fn discover_memory(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        let mut rep = devicetree::ApplyReport::default();
        devicetree::add_memory(&self.info, mb, &mut rep, log).map_err(|e| {
            log.line(format_args!("device tree: {e}"));
            PlatformError::BadFirmwareData("device-tree memory could not be added")
        })?;
        if rep.banks_added == 0 {
            return Err(PlatformError::NoMemoryMap("the device tree describes no RAM (no usable /memory node)"));
        }
        Ok(())
    }

    fn reserve_early(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        let mut rep = devicetree::ApplyReport::default();
        devicetree::reserve(&self.info, mb, None, &devicetree::ApplyParams::default(), &mut rep, log).map_err(|e| {
            log.line(format_args!("device tree: {e}"));
            PlatformError::BadFirmwareData("device-tree reservations could not be recorded")
        })
    }
}

/// Node distances from `/distance-map` (Linux's 10/20 default for pairs it does not list).
pub fn dt_distance(info: &devicetree::DtMemoryInfo<'_>) -> impl Fn(i32, i32) -> u8 + 'static {
    let table: Vec<(u32, u32, u32)> = info.distances.iter().copied().collect();
    move |a, b| {
        table
            .iter()
            .find(|&&(f, t, _)| f as i32 == a && t as i32 == b)
            .map_or_else(|| page_alloc::default_distance(a, b), |&(_, _, d)| d.min(255) as u8)
    }
}

/// `memmap --dtb`.
pub fn dtb(file: &Path, mem_cap: Option<u64>, format: Format, simulate: bool) -> Result<String> {
    let blob: &'static [u8] =
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?.leak();
    let dt = devicetree::DeviceTree::new(blob).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let info = devicetree::discover(&dt).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let mut cmdline = info.chosen.as_ref().and_then(|c| c.bootargs).unwrap_or("").to_owned();
    if let Some(m) = mem_cap {
        cmdline.push_str(&format!(" mem={m}"));
    }
    let distance = dt_distance(&info);
    run(&mut HostDt { info, cmdline }, format, simulate.then_some(Arch::Arm64), &distance)
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
        assert!(dump.contains(" memory size = 0x0000000007f7e000 reserved size = "), "{dump}");
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

    #[test]
    fn bad_json_is_named() {
        assert!(read_e820_json("[{\"addr\": 1}]", None).unwrap_err().to_string().contains("entry 0: no \"size\""));
        assert!(read_e820_json("[{\"addr\": \"0xzz\", \"size\": 1, \"type\": 1}]", None)
            .unwrap_err()
            .to_string()
            .contains("entry 0 addr"));
        assert!(read_e820_json("{\"maps\": {}}", None).unwrap_err().to_string().contains("--map"));
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
