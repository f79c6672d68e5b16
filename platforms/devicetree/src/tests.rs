//! Tests against real trees: the 28 testdata blobs with their dtb-truth JSON, NOP-rewritten
//! variants, mutated and truncated copies (no panics), and `apply` into memblock.
//!
//! Trees live in `<workspace>/../shared/testdata/dtb`; the truth format is described in
//! `shared/testdata/README.md`.

extern crate std;

use crate::*;
use memblock::{Memblock, Region, RegionFlags, INIT_MEMBLOCK_REGIONS};
use mm_types::{LineSink, MemRange};
use serde_json::Value;
use std::format;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
}

fn trees() -> Vec<(String, Vec<u8>, Value)> {
    let dir = testdata().join("dtb");
    let mut names: Vec<_> = std::fs::read_dir(&dir).expect("testdata/dtb").map(|e| e.unwrap().path()).collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
            let truth = testdata().join("dtb-truth").join(format!("{stem}.json"));
            let truth: Value = serde_json::from_str(&std::fs::read_to_string(truth).unwrap()).unwrap();
            (stem, std::fs::read(&p).unwrap(), truth)
        })
        .collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

fn ranges(v: &Value, base: &str) -> Vec<(u64, u64)> {
    v.as_array().unwrap().iter().map(|b| (u(&b[base]), u(&b["size"]))).collect()
}

fn check_tree(name: &str, blob: &[u8], t: &Value) {
    let dt = DeviceTree::new(blob).unwrap_or_else(|e| panic!("{name}: {e}"));
    let info = discover(&dt).unwrap_or_else(|e| panic!("{name}: {e}"));

    // Banks: Linux skips the zero-size ones.
    let all = ranges(&t["memory_banks_linux"], "base");
    let want: Vec<_> = all.iter().copied().filter(|b| b.1 != 0).collect();
    let got: Vec<_> = info.banks.iter().map(|b| (b.range.base, b.range.size)).collect();
    assert_eq!(got, want, "{name}: banks");
    assert_eq!(info.zero_size_banks, all.len() - want.len(), "{name}: zero-size banks");
    assert_eq!(info.memory_total(), u(&t["memory_total_linux"]), "{name}: total");
    for node in t["memory_nodes"].as_array().unwrap().iter().filter(|n| n["counted_by_linux"] == true) {
        let path = node["path"].as_str().unwrap();
        for b in info.banks.iter().filter(|b| format!("/{}", b.node) == path) {
            assert_eq!(b.numa_node_id.map(u64::from), node["numa-node-id"].as_u64(), "{name}: numa-node-id of {path}");
        }
    }

    assert_eq!(info.memreserve.iter().map(|r| (r.base, r.size)).collect::<Vec<_>>(), ranges(&t["memreserve"], "address"), "{name}: memreserve");

    // /reserved-memory
    let trm = &t["reserved_memory"];
    match &info.reserved_memory {
        None => assert!(trm.is_null(), "{name}: /reserved-memory missed"),
        Some(rm) => {
            assert_eq!(rm.ignored.is_none(), trm["cells_match_root"] == true && trm["ranges_present"] == true, "{name}");
            let tc = trm["children"].as_array().unwrap();
            assert_eq!(rm.regions.len(), tc.len(), "{name}: reserved-memory children");
            for (r, c) in rm.regions.iter().zip(tc) {
                let cn = c["name"].as_str().unwrap();
                assert_eq!(r.name.to_string(), cn, "{name}");
                assert_eq!(r.no_map, c["no-map"] == true, "{name}/{cn}: no-map");
                assert_eq!(r.reusable, c["reusable"] == true, "{name}/{cn}: reusable");
                assert_eq!(r.available, matches!(c["status"].as_str(), None | Some("okay" | "ok")), "{name}/{cn}: status");
                match (&r.kind, c["kind"].as_str().unwrap()) {
                    (ReservedKind::Static { regs }, "static") => {
                        assert_eq!(regs.iter().map(|r| (r.base, r.size)).collect::<Vec<_>>(), ranges(&c["reg"], "base"), "{name}/{cn}")
                    }
                    (ReservedKind::Dynamic { size, alignment, alloc_ranges }, "dynamic") => {
                        assert_eq!(*size, u(&c["size"]), "{name}/{cn}: size");
                        assert_eq!(*alignment, c["alignment"].as_u64(), "{name}/{cn}: alignment");
                        let want = if c["alloc-ranges"].is_null() { Vec::new() } else { ranges(&c["alloc-ranges"], "base") };
                        assert_eq!(alloc_ranges.iter().map(|r| (r.base, r.size)).collect::<Vec<_>>(), want, "{name}/{cn}");
                    }
                    (k, tk) => panic!("{name}/{cn}: kind {k:?} vs {tk}"),
                }
            }
        }
    }

    // /chosen
    let tc = &t["chosen"];
    let ch = info.chosen.clone().unwrap_or_default();
    assert_eq!(ch.bootargs, tc["bootargs"].as_str(), "{name}: bootargs");
    let tsp = tc["stdout-path"].as_str().or(tc["linux,stdout-path"].as_str());
    assert_eq!(ch.stdout_path, tsp, "{name}: stdout-path");
    let tinitrd = tc["linux,initrd-start"].as_u64().map(|s| (s, u(&tc["linux,initrd-end"]) - s));
    assert_eq!(ch.initrd.map(|r| (r.base, r.size)), tinitrd, "{name}: initrd");
    match tc["stdout_path_resolved"].as_str() {
        Some(p) => {
            let c = info.console.as_ref().unwrap_or_else(|| panic!("{name}: console not resolved"));
            assert!(c.from_stdout_path, "{name}");
            assert_eq!(c.path.as_str(), p, "{name}: console path");
        }
        None => assert!(info.console.as_ref().is_none_or(|c| !c.from_stdout_path), "{name}"),
    }

    // CPUs
    let tcpus = &t["cpus"];
    assert_eq!(info.cpus.len() as u64, u(&tcpus["count"]), "{name}: cpus");
    for (c, tn) in info.cpus.iter().zip(tcpus["nodes"].as_array().unwrap()) {
        let mpidr = tn["reg"].as_array().unwrap().iter().fold(0u64, |a, v| (a << 32) | u(v));
        assert_eq!(c.mpidr, Some(mpidr), "{name}: {} reg", c.name);
        assert_eq!(c.enable_method, tn["enable-method"].as_str(), "{name}: {} enable-method", c.name);
    }
}

#[test]
fn all_trees_match_truth() {
    let trees = trees();
    assert_eq!(trees.len(), 28);
    for (name, blob, truth) in &trees {
        check_tree(name, blob, truth);
    }
}

#[test]
fn qemu_console_and_psci() {
    let blob = std::fs::read(testdata().join("dtb/qemu__aarch64-virt-1G-smp4.dtb")).unwrap();
    let dt = DeviceTree::new(&blob).unwrap();
    let info = discover(&dt).unwrap();
    let c = info.console.unwrap();
    assert_eq!((c.compatible, c.reg_base), (Some("arm,pl011"), Some(0x900_0000)));
    assert_eq!(info.psci_method, Some(PsciMethod::Hvc));
    // Expect: the 1 MiB padding is not part of the tree.
    assert!(dt.totalsize() <= blob.len() as u64);
}

/// Inserts two FDT_NOP tokens before the first property of every root-level memory node and
/// turns the node's first non-`reg`/`device_type` property (if any) into NOPs, fixing up the
/// header: what QEMU's `-dtb` rewrite leaves behind.
fn nop_variant(b: &[u8]) -> Option<Vec<u8>> {
    let be = |o: usize| u32::from_be_bytes(b[o..o + 4].try_into().unwrap());
    let (off_struct, off_str) = (be(8) as usize, be(12) as usize);
    let (mut o, mut depth, mut at) = (off_struct, 0, Vec::new());
    let mut in_mem = false;
    let mut nops = Vec::new();
    loop {
        match be(o) {
            1 => {
                let l = b[o + 4..].iter().position(|&c| c == 0).unwrap();
                depth += 1;
                in_mem = depth == 2 && b[o + 4..o + 4 + l].starts_with(b"memory");
                o = (o + 4 + l + 1 + 3) & !3;
                if in_mem {
                    at.push(o);
                }
            }
            2 => {
                depth -= 1;
                in_mem = false;
                o += 4;
            }
            3 => {
                let end = (o + 12 + be(o + 4) as usize + 3) & !3;
                let n = &b[off_str + be(o + 8) as usize..];
                let n = &n[..n.iter().position(|&c| c == 0).unwrap()];
                if in_mem && n != b"reg" && n != b"device_type" && n != b"status" && n != b"numa-node-id" {
                    nops.push((o, end));
                }
                o = end;
            }
            4 => o += 4,
            _ => break,
        }
    }
    if at.is_empty() {
        return None;
    }
    let mut v = b.to_vec();
    for (s, e) in nops {
        for k in (s..e).step_by(4) {
            v[k..k + 4].copy_from_slice(&4u32.to_be_bytes());
        }
    }
    let mut out = Vec::new();
    let mut last = 0;
    for &a in &at {
        out.extend_from_slice(&v[last..a]);
        out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 4]);
        last = a;
    }
    out.extend_from_slice(&v[last..be(4) as usize]);
    let grow = 8 * at.len() as u32;
    for (field, add) in [(4, grow), (12, grow), (36, grow)] {
        let x = be(field) + add;
        out[field..field + 4].copy_from_slice(&x.to_be_bytes());
    }
    Some(out)
}

#[test]
fn nop_rewritten_trees_still_match_truth() {
    let mut n = 0;
    for (name, blob, truth) in &trees() {
        if let Some(v) = nop_variant(blob) {
            check_tree(&format!("{name} (NOP)"), &v, truth);
            n += 1;
        }
    }
    assert!(n >= 25, "only {n} NOP variants");
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn run_all(b: &[u8]) -> Result<(), DtError> {
    let dt = DeviceTree::new(b)?;
    let info = discover(&dt)?;
    // What the firmware also asks of a tree: how CPUs start, where a named UART is.
    for c in &info.cpus {
        let _ = c.enable();
    }
    for path in ["/soc/serial@7e201000", "/pl011@9000000", "/bus@8000000/motherboard-bus@8000000/iofpga-bus@300000000/serial@90000"] {
        let _ = dt.reg_cpu_address(path, 0);
        let _ = console_at(&dt, path);
    }
    let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
    let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
    let mut mb = Memblock::new(&mut mem, &mut res);
    apply(&info, &mut mb, 0x4000_0000, &mut mm_types::NullSink).map(|_| ())
}

#[test]
fn mutated_and_truncated_blobs_never_panic() {
    let trees = trees();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut errs, mut oks) = (0, 0);
    for i in 0..4000 {
        let src = &trees[i % trees.len()].1;
        let total = u32::from_be_bytes(src[4..8].try_into().unwrap()) as usize;
        let mut v = src[..total].to_vec();
        match rng.next() % 5 {
            0 => {
                for _ in 0..(rng.next() % 8 + 1) {
                    let o = rng.next() as usize % v.len();
                    v[o] = rng.next() as u8;
                }
            }
            1 => {
                let o = (rng.next() as usize % 10) * 4;
                let w = if rng.next().is_multiple_of(2) { rng.next() as u32 } else { u32::MAX - (rng.next() % 64) as u32 };
                v[o..o + 4].copy_from_slice(&w.to_be_bytes());
            }
            2 => v.truncate(rng.next() as usize % v.len()),
            3 => {
                // A huge or odd property length / name offset / token in the structure block.
                let s = u32::from_be_bytes(v[8..12].try_into().unwrap()) as usize;
                let ss = u32::from_be_bytes(v[36..40].try_into().unwrap()) as usize;
                let o = s + (rng.next() as usize % (ss / 4)) * 4;
                v[o..o + 4].copy_from_slice(&[0xff, 0xff, 0xff, rng.next() as u8]);
            }
            _ => {
                let s = u32::from_be_bytes(v[8..12].try_into().unwrap()) as usize;
                let ss = u32::from_be_bytes(v[36..40].try_into().unwrap()) as usize;
                let o = s + (rng.next() as usize % (ss / 4)) * 4;
                v[o..o + 4].copy_from_slice(&((rng.next() % 12) as u32).to_be_bytes());
            }
        }
        match std::panic::catch_unwind(|| run_all(&v)) {
            Ok(Ok(())) => oks += 1,
            Ok(Err(e)) => {
                assert!(!e.to_string().is_empty());
                errs += 1
            }
            Err(_) => panic!("mutation {i} panicked"),
        }
    }
    assert!(errs > 1000 && oks > 100, "errs {errs} oks {oks}");
}

fn minimal_tree(struct_words: &[u32], strings: &[u8]) -> Vec<u8> {
    let off_struct = 40 + 16;
    let size_struct = struct_words.len() * 4;
    let off_strings = off_struct + size_struct;
    let total = off_strings + strings.len();
    let mut v = Vec::new();
    for w in [0xd00d_feed, total as u32, off_struct as u32, off_strings as u32, 40, 17, 16, 0, strings.len() as u32, size_struct as u32] {
        v.extend_from_slice(&u32::to_be_bytes(w));
    }
    v.extend_from_slice(&[0; 16]);
    for w in struct_words {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v.extend_from_slice(strings);
    v
}

#[test]
fn handcrafted_bad_blobs_are_errors() {
    let good = minimal_tree(&[1, 0, 2, 9], b"");
    assert!(DeviceTree::new(&good).is_ok());
    let e = |b: &[u8]| DeviceTree::new(b).unwrap_err().to_string();
    assert!(e(&good[..30]).contains("shorter than"));
    let mut bad = good.clone();
    bad[0] = 0xde;
    assert!(e(&bad).starts_with("bad magic 0xde0dfeed"), "{}", e(&bad));
    assert!(e(&good[..good.len() - 4]).starts_with("totalsize 0x"), "{}", e(&good[..good.len() - 4]));
    // Property length past the end of the structure block.
    let long = minimal_tree(&[1, 0, 3, 0xffff_fff0, 0, 2, 9], b"reg\0");
    assert!(e(&long).contains("runs past"), "{}", e(&long));
    // Name offset outside the strings block.
    let off = minimal_tree(&[1, 0, 3, 0, 0x100, 2, 9], b"reg\0");
    assert!(e(&off).contains("strings block"), "{}", e(&off));
    // Garbage token, unbalanced nodes, missing FDT_END.
    assert!(e(&minimal_tree(&[1, 0, 7, 2, 9], b"")).contains("unknown token"));
    assert!(e(&minimal_tree(&[1, 0, 9], b"")).contains("FDT_END inside"));
    assert!(e(&minimal_tree(&[1, 0, 2], b"")).contains("without FDT_END"));
    // Deep nesting: 10,000 levels.
    let mut deep = Vec::new();
    for _ in 0..10_000 {
        deep.extend_from_slice(&[1, 0x6100_0000]);
    }
    deep.extend(core::iter::repeat_n(2, 10_000));
    deep.push(9);
    assert!(e(&minimal_tree(&deep, b"")).contains("deeper"));
    // A memreserve block that is never terminated.
    let mut unterminated = good.clone();
    unterminated[40 + 8..40 + 16].copy_from_slice(&1u64.to_be_bytes());
    assert!(e(&unterminated).contains("memreserve"), "{}", e(&unterminated));
}

#[test]
fn bad_cells_and_truncated_initrd_are_errors() {
    // Root with #address-cells = 3.
    let b = minimal_tree(&[1, 0, 3, 4, 0, 3, 2, 9], b"#address-cells\0");
    let dt = DeviceTree::new(&b).unwrap();
    assert!(discover(&dt).unwrap_err().to_string().contains("#address-cells = 3"));
    // /chosen with a 3-byte linux,initrd-start.
    let s = b"linux,initrd-start\0linux,initrd-end\0";
    let b = minimal_tree(&[1, 0, 1, u32::from_be_bytes(*b"chos"), u32::from_be_bytes(*b"en\0\0"), 3, 3, 0, 0x0102_0300, 3, 4, 19, 5, 2, 2, 9], s);
    let dt = DeviceTree::new(&b).unwrap();
    let e = discover(&dt).unwrap_err().to_string();
    assert!(e.contains("linux,initrd-start") && e.contains("/chosen"), "{e}");
}

#[derive(Default)]
struct Lines(Vec<String>);
impl LineSink for Lines {
    fn line(&mut self, args: core::fmt::Arguments<'_>) {
        self.0.push(args.to_string());
    }
}

fn apply_tree(file: &str, dtb_phys: u64) -> (Vec<String>, Vec<Region>, Vec<Region>, Result<usize, DtError>) {
    let blob = std::fs::read(testdata().join("dtb").join(file)).unwrap();
    let dt = DeviceTree::new(&blob).unwrap();
    let info = discover(&dt).unwrap();
    let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
    let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
    let mut mb = Memblock::new(&mut mem, &mut res);
    let mut lines = Lines::default();
    let r = apply(&info, &mut mb, dtb_phys, &mut lines).map(|r| r.failures);
    (lines.0, mb.memory().to_vec(), mb.reserved().to_vec(), r)
}

#[test]
fn apply_qemu_numa_uses_node_ids() {
    // Expect: two banks, in descending address order in the tree, each on its NUMA node.
    let (lines, mem, res, r) = apply_tree("qemu__aarch64-virt-2G-numa2.dtb", 0x4800_0000);
    assert_eq!(r, Ok(0));
    assert_eq!(lines[0], "OF: fdt: memory bank [mem 0x0000000080000000-0x00000000bfffffff] node 1");
    assert_eq!(lines[1], "OF: fdt: memory bank [mem 0x0000000040000000-0x000000007fffffff] node 0");
    assert_eq!(mem.iter().map(|r| (r.base, r.nid)).collect::<Vec<_>>(), [(0x4000_0000, 0), (0x8000_0000, 1)]);
    assert_eq!(res.len(), 1);
    assert_eq!((res[0].base, res[0].size), (0x4800_0000, 0x10_0000));
}

#[test]
fn apply_qemu_initrd_is_page_aligned() {
    let (lines, _, res, r) = apply_tree("qemu__aarch64-virt-1G-kernel-initrd.dtb", 0x4000_0000);
    assert_eq!(r, Ok(0));
    // initrd [0x48000000, 0x4812de87) → pages [0x48000000, 0x4812e000)
    assert!(lines.iter().any(|l| l == "OF: fdt: reserved [mem 0x0000000048000000-0x000000004812dfff] initrd"), "{lines:#?}");
    assert!(res.iter().any(|r| r.base == 0x4800_0000 && r.size == 0x12_e000));
}

#[test]
fn apply_fvp_reserves_outside_ram_and_marks_nomap() {
    // FVP: /memreserve/ at 0x80000000 (RAM), vram@18000000 no-map outside RAM (kept anyway).
    let (lines, mem, res, r) = apply_tree("arm64__arm__fvp-base-revc.dtb", 0x8800_0000);
    assert_eq!(r, Ok(0), "{lines:#?}");
    assert!(res.iter().any(|r| r.base == 0x8000_0000 && r.size == 0x1_0000));
    // Linux: memblock_mark_nomap outside RAM changes nothing; the line still names it.
    assert!(mem.iter().all(|r| r.flags == RegionFlags::NONE), "{mem:#x?}");
    assert!(lines.iter().any(|l| l.ends_with("(8192 KiB) nomap non-reusable vram@18000000")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.ends_with("of 'vram@18000000' is outside RAM")), "{lines:#?}");
}

#[test]
fn apply_sm8450_allocates_dynamic_regions() {
    let (lines, _, _, r) = apply_tree("arm64__qcom__sm8450-hdk.dtb", 0x8800_0000);
    // sm8450-hdk's memory node is a placeholder the bootloader fills: without RAM every
    // dynamic region fails, which must be reported, not panic.
    std::println!("{}", lines.join("\n"));
    assert!(r.is_ok());
}

#[test]
fn apply_rpi4_cma_without_ram_fails_with_a_line() {
    // The rpi4 tree has a zero-size memory placeholder: nothing to allocate CMA from.
    let (lines, _, _, r) = apply_tree("arm64__broadcom__bcm2711-rpi-4-b.dtb", 0x100_0000);
    assert_eq!(r, Ok(1), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("OF: reserved mem: failed to allocate memory for node 'linux,cma': size 64 MiB")), "{lines:#?}");
}

#[test]
fn apply_romulus_cma_aligned() {
    // Aspeed: 512 MiB at 0x80000000; framebuffer and jpegbuffer are reusable shared-dma-pool
    // with 16 MiB alignment, allocated top-down below the no-map regions.
    let (lines, _, res, r) = apply_tree("armhf__aspeed-bmc-opp-romulus.dtb", 0x8800_0000);
    assert_eq!(r, Ok(0), "{lines:#?}");
    let dynamic: Vec<_> = lines.iter().filter(|l| l.contains(" map reusable ")).collect();
    assert_eq!(dynamic.len(), 2, "{lines:#?}");
    for r in res.iter().filter(|r| r.size >= 16 << 20) {
        assert_eq!(r.base % (16 << 20), 0);
    }
    let _ = MemRange::new(0, 0);
}

/// QEMU `-numa dist,src=0,dst=1,val=30`: `/distance-map` read as written.
#[test]
fn distance_map_is_read() {
    let blob = include_bytes!("../testdata/qemu-virt-2G-numa2-dist30.dtb");
    let dt = crate::DeviceTree::new(blob).unwrap();
    let info = crate::discover(&dt).unwrap();
    assert_eq!(info.distances.as_slice(), &[(0, 0, 10), (0, 1, 30), (1, 0, 30), (1, 1, 10)]);
    let nodes: std::vec::Vec<_> = info.cpus.iter().map(|c| c.numa_node_id).collect();
    assert_eq!(nodes, [Some(0), Some(0), Some(1), Some(1)]);
    // The shared 2-node tree has no distance map: Linux falls back to 10/20.
    let blob = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata/dtb/qemu__aarch64-virt-2G-numa2.dtb")).unwrap();
    let dt = crate::DeviceTree::new(&blob).unwrap();
    assert!(crate::discover(&dt).unwrap().distances.is_empty());
}

/// arm64 `enable-method`: spin-table CPUs with their release addresses, PSCI CPUs, and every
/// way a CPU node can fail to say how it starts.
mod enable_method {
    use super::*;
    use crate::test_fdt::FdtBuilder;

    fn info_of(file: &str) -> Vec<(String, Result<Option<EnableMethod>, DtError>)> {
        let blob = std::fs::read(testdata().join("dtb").join(file)).unwrap();
        let dt = DeviceTree::new(&blob).unwrap();
        let info = discover(&dt).unwrap();
        info.cpus.iter().map(|c| (c.path().to_string(), c.enable())).collect()
    }

    #[test]
    fn rpi3b_cpus_use_a_spin_table_at_0xd8() {
        // /cpus also says enable-method = "brcm,bcm2836-smp": arm32's, ignored on arm64.
        let got = info_of("arm64__broadcom__bcm2837-rpi-3-b.dtb");
        let want: Vec<_> = [0xd8, 0xe0, 0xe8, 0xf0]
            .iter()
            .enumerate()
            .map(|(i, &a)| (format!("/cpus/cpu@{i}"), Ok(Some(EnableMethod::SpinTable { release_addr: a }))))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn apm_release_address_has_two_cells() {
        // X-Gene: cpu-release-addr = <0x1 0xfff8>, above 4 GiB.
        for (path, m) in info_of("arm64__apm__apm-mustang.dtb") {
            assert_eq!(m, Ok(Some(EnableMethod::SpinTable { release_addr: 0x1_0000_fff8 })), "{path}");
        }
    }

    #[test]
    fn qemu_virt_cpus_use_psci_and_one_cpu_says_nothing() {
        let got = info_of("qemu__aarch64-virt-1G-smp4.dtb");
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|(_, m)| *m == Ok(Some(EnableMethod::Psci))), "{got:?}");
        // QEMU writes no enable-method for a single CPU: the board's default applies.
        assert_eq!(info_of("qemu__aarch64-virt-1G.dtb"), [("/cpus/cpu@0".to_string(), Ok(None))]);
    }

    #[test]
    fn every_real_tree_reads_without_error() {
        for (name, blob, _) in trees() {
            let dt = DeviceTree::new(&blob).unwrap();
            for c in &discover(&dt).unwrap().cpus {
                assert!(c.enable().is_ok(), "{name}: {}: {:?}", c.path(), c.enable());
            }
        }
    }

    /// `testdata/rpi3b-bad-cpus.dtb`: Debian's bcm2837-rpi-3-b.dtb with cpu@2's enable-method
    /// changed to "spin-tabl3" and cpu@3's cpu-release-addr renamed "release-addr" (its name
    /// offset moved 4 bytes into the same string). `cargo xtask test` boots it on raspi3b too
    /// (case rpi3b-bad-cpus): those two CPUs stay off with these messages, the others start.
    #[test]
    fn rpi3b_with_two_broken_cpu_nodes() {
        let blob = include_bytes!("../testdata/rpi3b-bad-cpus.dtb");
        let dt = DeviceTree::new(blob).unwrap();
        let info = discover(&dt).unwrap();
        let got: Vec<_> = info.cpus.iter().map(|c| c.enable().map_err(|e| e.to_string())).collect();
        assert_eq!(
            got,
            [
                Ok(Some(EnableMethod::SpinTable { release_addr: 0xd8 })),
                Ok(Some(EnableMethod::SpinTable { release_addr: 0xe0 })),
                Err("unsupported enable-method \"spin-tabl3\" in node /cpus/cpu@2 (supported: psci, spin-table)".to_string()),
                Err("missing property cpu-release-addr in node /cpus/cpu@3".to_string()),
            ]
        );
    }

    /// `/cpus/cpu@1` with these properties (besides `device_type` and `reg`).
    fn one_cpu(props: &[(&str, &[u32])], method: Option<&str>) -> Vec<u8> {
        let mut f = FdtBuilder::default();
        f.begin("").begin("cpus").cells("#address-cells", &[1]).cells("#size-cells", &[0]);
        f.begin("cpu@1").string("device_type", "cpu").cells("reg", &[1]);
        if let Some(m) = method {
            f.string("enable-method", m);
        }
        for (name, cells) in props {
            f.cells(name, cells);
        }
        f.end().end().end().finish()
    }

    fn enable_of(b: &[u8]) -> Result<Option<EnableMethod>, DtError> {
        let dt = DeviceTree::new(b).unwrap();
        discover(&dt).unwrap().cpus[0].enable()
    }

    #[test]
    fn bad_cpu_nodes_name_the_node_and_the_property() {
        let e = enable_of(&one_cpu(&[], Some("brcm,bcm2836-smp"))).unwrap_err();
        assert_eq!(e.to_string(), "unsupported enable-method \"brcm,bcm2836-smp\" in node /cpus/cpu@1 (supported: psci, spin-table)");
        let e = enable_of(&one_cpu(&[], Some("spin-table"))).unwrap_err();
        assert_eq!(e.to_string(), "missing property cpu-release-addr in node /cpus/cpu@1");
        // One cell: the binding asks for 64 bits.
        let e = enable_of(&one_cpu(&[("cpu-release-addr", &[0xe0])], Some("spin-table"))).unwrap_err();
        assert_eq!(e.to_string(), "not 64 bits (two cells): property cpu-release-addr in node /cpus/cpu@1");
        assert_eq!(
            enable_of(&one_cpu(&[("cpu-release-addr", &[0, 0xe0])], Some("spin-table"))),
            Ok(Some(EnableMethod::SpinTable { release_addr: 0xe0 }))
        );
        // A release address without a spin-table method is not used; no method at all is None.
        assert_eq!(enable_of(&one_cpu(&[("cpu-release-addr", &[0, 0xe0])], Some("psci"))), Ok(Some(EnableMethod::Psci)));
        assert_eq!(enable_of(&one_cpu(&[], None)), Ok(None));
    }
}

/// `early_init_dt_add_memory_arch` against the platform's `MAX_MEMBLOCK_ADDR`.
mod phys_limit {
    use super::*;
    use crate::test_fdt::FdtBuilder;


    /// One memory node per bank (2 address and 2 size cells).
    fn memory(banks: &[(u64, u64)]) -> Vec<u8> {
        let mut f = FdtBuilder::default();
        f.begin("").cells("#address-cells", &[2]).cells("#size-cells", &[2]);
        for (i, &(b, s)) in banks.iter().enumerate() {
            f.begin(&format!("memory@{i}")).string("device_type", "memory");
            f.cells("reg", &[(b >> 32) as u32, b as u32, (s >> 32) as u32, s as u32]).end();
        }
        f.end().finish()
    }

    /// The banks memblock ends up with and the lines printed, for `max_addr`.
    fn add(banks: &[(u64, u64)], max_addr: u64) -> (Vec<(u64, u64)>, Vec<String>) {
        let blob = memory(banks);
        let dt = DeviceTree::new(&blob).unwrap();
        let info = discover(&dt).unwrap();
        let (mut m, mut r) = ([Region::EMPTY; INIT_MEMBLOCK_REGIONS], [Region::EMPTY; INIT_MEMBLOCK_REGIONS]);
        let mut mb = Memblock::new(&mut m, &mut r);
        let mut lines = Lines::default();
        crate::add_memory(&info, &mut mb, max_addr, &mut crate::ApplyReport::default(), &mut lines).unwrap();
        (mb.memory().iter().map(|r| (r.base, r.size)).collect(), lines.0)
    }

    /// ```text
    /// 0xc0000000   4 GiB (limit)            8 GiB
    ///     | bank 0 |xx| (cut)      | bank 1 (ignored) |
    /// ```
    /// With a 32-bit limit (ARM without LPAE): bank 0 is cut at 4 GiB with "Ignoring memory
    /// range", bank 1 lies wholly above and is ignored with "Ignoring memory block".
    #[test]
    fn memory_beyond_the_limit_is_cut_or_ignored_with_linuxs_lines() {
        let (banks, lines) = add(&[(0xc000_0000, 0x8000_0000), (0x2_0000_0000, 0x4000_0000)], 0xffff_ffff);
        assert_eq!(banks, [(0xc000_0000, 0x4000_0000)]);
        assert!(lines.contains(&"OF: fdt: Ignoring memory range 0x100000000 - 0x140000000".to_string()), "{lines:#?}");
        assert!(lines.contains(&"OF: fdt: Ignoring memory block 0x200000000 - 0x240000000".to_string()), "{lines:#?}");
    }

    /// RAM at 2^63 on a 64-bit platform whose linear map ends at 256 GiB: ignored; a bank
    /// ending exactly at the limit is kept whole; without a limit, a bank wrapping past 2^64
    /// is cut at 2^64, and memblock_add's `memblock_cap_size` then takes one more byte, as in
    /// Linux (`PHYS_ADDR_MAX - base`).
    #[test]
    fn absurd_banks_never_reach_memblock() {
        let (banks, lines) = add(&[(1 << 63, 1 << 30)], (1 << 38) - 1);
        assert!(banks.is_empty());
        assert_eq!(lines, ["OF: fdt: Ignoring memory block 0x8000000000000000 - 0x8000000040000000"]);
        let (banks, lines) = add(&[((1 << 38) - (1 << 30), 1 << 30)], (1 << 38) - 1);
        assert_eq!(banks, [((1 << 38) - (1 << 30), 1 << 30)]);
        assert!(!lines.iter().any(|l| l.contains("Ignoring")), "{lines:#?}");
        let (banks, lines) = add(&[(u64::MAX - 0xfff_ffff, 1 << 30)], u64::MAX);
        assert_eq!(banks, [(u64::MAX - 0xfff_ffff, 0xfff_ffff)]);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[0].starts_with("OF: fdt: Ignoring memory range 0x0 - "), "{lines:#?}");
    }
}

/// CMA regions of `/reserved-memory` (`rmem_cma_setup`) on a hand-built tree: RAM
/// `[0x40000000, 0x50000000)`, two address and size cells everywhere.
mod cma {
    use super::*;
    use crate::test_fdt::FdtBuilder;
    use crate::ApplyParams;

    /// `(name, reg or None, size, alloc-ranges, flags)`: flags from "reusable", "no-map",
    /// "default" (`linux,cma-default`), "pool" (compatible shared-dma-pool).
    type Child<'a> = (&'a str, Option<(u64, u64)>, u64, Option<(u64, u64)>, &'a [&'a str]);

    fn cells64(v: &[u64]) -> Vec<u32> {
        v.iter().flat_map(|&x| [(x >> 32) as u32, x as u32]).collect()
    }

    fn tree(children: &[Child<'_>]) -> Vec<u8> {
        let mut f = FdtBuilder::default();
        f.begin("").cells("#address-cells", &[2]).cells("#size-cells", &[2]);
        f.begin("memory@40000000").string("device_type", "memory").cells("reg", &cells64(&[0x4000_0000, 0x1000_0000])).end();
        f.begin("reserved-memory").cells("#address-cells", &[2]).cells("#size-cells", &[2]).prop("ranges", &[]);
        for &(name, reg, size, ranges, flags) in children {
            f.begin(name);
            if flags.contains(&"pool") {
                f.string("compatible", "shared-dma-pool");
            }
            match reg {
                Some((b, s)) => f.cells("reg", &cells64(&[b, s])),
                None => f.cells("size", &cells64(&[size])),
            };
            if let Some((b, s)) = ranges {
                f.cells("alloc-ranges", &cells64(&[b, s]));
            }
            for (flag, prop) in [("reusable", "reusable"), ("no-map", "no-map"), ("default", "linux,cma-default")] {
                if flags.contains(&flag) {
                    f.prop(prop, &[]);
                }
            }
            f.end();
        }
        f.end().end().finish()
    }

    /// Applies `blob` with `params`; returns (lines, memory, reserved, areas as (name, base,
    /// pages), default area, totalcma_pages, failures).
    #[allow(clippy::type_complexity)]
    fn run(blob: &[u8], params: ApplyParams) -> (Vec<String>, Vec<Region>, Vec<Region>, Vec<(String, u64, u64)>, Option<usize>, u64, usize) {
        let dt = DeviceTree::new(blob).unwrap();
        let info = discover(&dt).unwrap();
        let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut mb = Memblock::new(&mut mem, &mut res);
        let mut lines = Lines::default();
        let mut cma = params.cma_areas();
        let rep = crate::apply_with(&info, &mut mb, 0x4f00_0000, &params, &mut cma, &mut lines).unwrap();
        let areas = cma.areas().iter().map(|a| (a.name().to_string(), a.base(), a.count())).collect();
        (lines.0, mb.memory().to_vec(), mb.reserved().to_vec(), areas, cma.default_area(), cma.totalcma_pages(), rep.failures)
    }

    fn after<'l>(lines: &'l [String], first: &str) -> &'l [String] {
        let i = lines.iter().position(|l| l == first).unwrap_or_else(|| panic!("no line {first:?} in {lines:#?}"));
        &lines[i..]
    }

    /// Expect: the dynamic `linux,cma` (16 MiB, top-down in its alloc-range, so at
    /// 0x48000000 - 16 MiB) is initialised first, then the static 8 MiB one at 0x48000000; both
    /// become areas (the default is linux,cma), 16 + 8 MiB = 6144 pages of totalcma; each gets
    /// Linux's three lines in order.
    #[test]
    fn static_and_dynamic_cma_regions_become_areas() {
        let blob = tree(&[
            ("cma@48000000", Some((0x4800_0000, 0x80_0000)), 0, None, &["pool", "reusable"]),
            ("linux,cma", None, 0x100_0000, Some((0x4000_0000, 0x800_0000)), &["pool", "reusable", "default"]),
        ]);
        let (lines, _, res, areas, default, total, failures) = run(&blob, ApplyParams::default());
        assert_eq!(failures, 0, "{lines:#?}");
        assert_eq!(
            after(&lines, "Reserved memory: created CMA memory pool at 0x0000000047000000, size 16 MiB")[..6],
            [
                "Reserved memory: created CMA memory pool at 0x0000000047000000, size 16 MiB",
                "OF: reserved mem: initialized node linux,cma, compatible id shared-dma-pool",
                "OF: reserved mem: [mem 0x0000000047000000-0x0000000047ffffff] (16384 KiB) map reusable linux,cma",
                "Reserved memory: created CMA memory pool at 0x0000000048000000, size 8 MiB",
                "OF: reserved mem: initialized node cma@48000000, compatible id shared-dma-pool",
                "OF: reserved mem: [mem 0x0000000048000000-0x00000000487fffff] (8192 KiB) map reusable cma@48000000",
            ]
        );
        assert_eq!(areas, [("linux,cma".to_string(), 0x4700_0000, 4096), ("cma@48000000".to_string(), 0x4800_0000, 2048)]);
        assert_eq!((default, total), (Some(0), 6144));
        assert!(res.iter().any(|r| r.base == 0x4700_0000 && r.size == 0x180_0000), "both stay reserved, merged: {res:#x?}");
    }

    /// Expect: reusable + no-map, and a base not aligned to the 2 MiB CMA minimum, are refused
    /// with Linux's messages and given back (NOMAP cleared, reservation freed); a non-reusable
    /// pool is no CMA area: a coherent DMA pool (`rmem_dma_setup`), it stays reserved.
    #[test]
    fn bad_cma_regions_are_refused_and_given_back() {
        let blob = tree(&[
            ("bad-nomap@49000000", Some((0x4900_0000, 0x40_0000)), 0, None, &["pool", "reusable", "no-map"]),
            ("bad-align@4a100000", Some((0x4a10_0000, 0x40_0000)), 0, None, &["pool", "reusable"]),
            ("pool@4b000000", Some((0x4b00_0000, 0x40_0000)), 0, None, &["pool"]),
        ]);
        let (lines, mem, res, areas, default, total, failures) = run(&blob, ApplyParams::default());
        assert_eq!(failures, 2, "{lines:#?}");
        assert_eq!(
            after(&lines, "OF: reserved mem: node bad-nomap@49000000 compatible matching fail")[..6],
            [
                "OF: reserved mem: node bad-nomap@49000000 compatible matching fail",
                "Reserved memory: incorrect alignment of CMA region",
                "OF: reserved mem: node bad-align@4a100000 compatible matching fail",
                "Reserved memory: created DMA memory pool at 0x000000004b000000, size 4 MiB",
                "OF: reserved mem: initialized node pool@4b000000, compatible id shared-dma-pool",
                "OF: reserved mem: [mem 0x000000004b000000-0x000000004b3fffff] (4096 KiB) map non-reusable pool@4b000000",
            ]
        );
        assert!(!lines.iter().any(|l| l.contains("map reusable") || l.contains("nomap reusable")), "{lines:#?}");
        assert!(mem.iter().all(|r| r.flags == RegionFlags::NONE), "NOMAP cleared again: {mem:#x?}");
        assert!(!res.iter().any(|r| r.base < 0x4a50_0000 && 0x4a10_0000 < r.end()), "misaligned region freed: {res:#x?}");
        assert!(res.iter().any(|r| r.base == 0x4b00_0000 && r.size == 0x40_0000), "{res:#x?}");
        assert_eq!((areas.len(), default, total), (0, None, 0));
    }

    /// Expect: with `cma=` on the command line the `linux,cma-default` region steps aside,
    /// fails every handler and is freed; no area is made (dma_contiguous_reserve makes the
    /// command-line one).
    #[test]
    fn cmdline_cma_bypasses_the_default_region() {
        let blob = tree(&[("linux,cma", None, 0x400_0000, None, &["pool", "reusable", "default"])]);
        let params = ApplyParams { cmdline_cma: true, ..ApplyParams::default() };
        let (lines, _, res, areas, default, total, failures) = run(&blob, params);
        assert_eq!(failures, 1);
        assert_eq!(
            after(&lines, "Reserved memory: bypass linux,cma node, using cmdline CMA params instead")[..2],
            [
                "Reserved memory: bypass linux,cma node, using cmdline CMA params instead",
                "OF: reserved mem: node linux,cma compatible matching fail",
            ]
        );
        assert_eq!((areas.len(), default, total), (0, None, 0));
        // Only the blob itself stays reserved.
        assert_eq!(res.iter().map(|r| (r.base, r.size)).collect::<Vec<_>>(), [(0x4f00_0000, blob.len() as u64)]);
    }

    /// The Raspberry Pi 3B tree QEMU boots (Debian's): `linux,cma` is dynamic, 64 MiB, reusable
    /// and the default. Expect: top of the 960 MiB RAM, 0x3c000000 - 64 MiB.
    #[test]
    fn rpi3b_linux_cma() {
        let blob = std::fs::read(testdata().join("dtb").join("arm64__broadcom__bcm2837-rpi-3-b.dtb")).unwrap();
        let dt = DeviceTree::new(&blob).unwrap();
        let info = discover(&dt).unwrap();
        let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut mb = Memblock::new(&mut mem, &mut res);
        mb.add(0, 0x3c00_0000).unwrap();
        let params = ApplyParams::default();
        let mut cma = params.cma_areas();
        let mut lines = Lines::default();
        let mut rep = crate::ApplyReport::default();
        crate::reserve(&info, &mut mb, None, &params, &mut cma, &mut rep, &mut lines).unwrap();
        let base = 0x3c00_0000 - (64 << 20);
        assert!(lines.0.contains(&format!("Reserved memory: created CMA memory pool at {base:#018x}, size 64 MiB")), "{:#?}", lines.0);
        assert_eq!(cma.areas()[0].base(), base);
        assert_eq!((cma.default_area(), cma.totalcma_pages()), (Some(0), 16384));
    }
}

/// `of_numa_init` and arm64's fallback rule (Linux 6.1 drivers/of/of_numa.c,
/// drivers/base/arch_numa.c), on trees built here: memory nodes `(base, size, numa-node-id)`
/// at 1 GiB steps and CPUs `(reg, numa-node-id)`.
mod numa {
    use super::*;
    use crate::test_fdt::FdtBuilder;
    use crate::{NumaFallback, MAX_NUMNODES};

    fn tree(memory: &[(u64, u64, Option<u32>)], cpus: &[(u32, Option<u32>)]) -> Vec<u8> {
        tree_with_map(memory, cpus, None)
    }

    /// As [`tree`], with a `numa-distance-map-v1` node when `map` is `Some` (its
    /// `distance-matrix` cells, or no such property).
    fn tree_with_map(memory: &[(u64, u64, Option<u32>)], cpus: &[(u32, Option<u32>)], map: Option<Option<&[u32]>>) -> Vec<u8> {
        let mut f = FdtBuilder::default();
        f.begin("").cells("#address-cells", &[2]).cells("#size-cells", &[2]);
        for &(base, size, nid) in memory {
            f.begin(&format!("memory@{base:x}")).string("device_type", "memory");
            f.cells("reg", &[(base >> 32) as u32, base as u32, (size >> 32) as u32, size as u32]);
            if let Some(n) = nid {
                f.cells("numa-node-id", &[n]);
            }
            f.end();
        }
        if let Some(matrix) = map {
            f.begin("distance-map").string("compatible", "numa-distance-map-v1");
            if let Some(m) = matrix {
                f.cells("distance-matrix", m);
            }
            f.end();
        }
        f.begin("cpus").cells("#address-cells", &[1]).cells("#size-cells", &[0]);
        for &(reg, nid) in cpus {
            f.begin(&format!("cpu@{reg}")).string("device_type", "cpu").cells("reg", &[reg]);
            if let Some(n) = nid {
                f.cells("numa-node-id", &[n]);
            }
            f.end();
        }
        f.end().end().finish()
    }

    /// What [`run`] saw: the lines, the regions' `(base, nid)`, the decision, each CPU's node.
    type Outcome = (Vec<String>, Vec<(u64, i32)>, crate::DtNuma, Vec<i32>);

    /// Runs discovery and `add_memory` (which runs `of_numa_init`).
    fn run(blob: &[u8]) -> Outcome {
        let dt = DeviceTree::new(blob).unwrap();
        let info = discover(&dt).unwrap();
        let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut mb = Memblock::new(&mut mem, &mut res);
        let mut lines = Lines::default();
        let mut rep = crate::ApplyReport::default();
        crate::add_memory(&info, &mut mb, u64::MAX, &mut rep, &mut lines).unwrap();
        let numa = rep.numa.unwrap();
        let nodes = mb.memory().iter().map(|r| (r.base, r.nid)).collect();
        let cpus = info.cpus.iter().map(|c| numa.cpu_nid(c)).collect();
        (lines.0, nodes, numa, cpus)
    }

    const G: u64 = 1 << 30;

    /// Expect: a memory node naming node 16 (the first id past arm64's 16 nodes) is reported
    /// with of_numa's two lines and fails NUMA init; every bank goes to node 0 (the fake node)
    /// and so does every CPU; the boot goes on.
    #[test]
    fn memory_node_id_beyond_the_limit_falls_back() {
        assert_eq!(MAX_NUMNODES, 16);
        let blob = tree(&[(G, G, Some(0)), (2 * G, G, Some(16))], &[(0, Some(0)), (1, Some(1))]);
        let (lines, nodes, numa, cpus) = run(&blob);
        assert_eq!(lines[..2], ["OF: NUMA: Node id 16 exceeds maximum value", "OF: NUMA: bad property in memory node"]);
        assert_eq!(numa.fallback, Some(NumaFallback::BadMemoryNode { nid: 16 }));
        assert_eq!(numa.nodes, 1);
        // Both banks on node 0: memblock merges them into one region.
        assert_eq!(nodes, [(G, 0)]);
        assert_eq!(cpus, [0, 0]);
        assert!(lines.contains(&"OF: fdt: memory bank [mem 0x0000000080000000-0x00000000bfffffff] node 0".to_string()), "{lines:#?}");
    }

    /// Expect: a CPU naming node 16 is only reported; with memory nodes carrying no id nothing
    /// was parsed: `No NUMA configuration found` follows (printed at NUMA init), all on node 0.
    #[test]
    fn cpu_node_id_beyond_the_limit_is_reported() {
        let blob = tree(&[(G, G, None)], &[(0, Some(16)), (1, None)]);
        let (lines, nodes, numa, cpus) = run(&blob);
        assert_eq!(lines[0], "OF: NUMA: Node id 16 exceeds maximum value");
        assert_eq!(numa.fallback, Some(NumaFallback::NoConfig));
        assert_eq!((nodes, cpus), (std::vec![(G, 0)], std::vec![0, 0]));
    }

    /// Expect: with ids below the limit they are used: the largest, 15, included; a CPU of a
    /// node without memory (node 2) keeps its node, which is online.
    #[test]
    fn node_ids_below_the_limit_are_used() {
        let blob = tree(&[(G, G, Some(0)), (2 * G, G, Some(15))], &[(0, Some(0)), (1, Some(2)), (2, Some(15))]);
        let (lines, nodes, numa, cpus) = run(&blob);
        assert!(lines.iter().all(|l| !l.contains("NUMA")), "{lines:#?}");
        assert_eq!(numa.fallback, None);
        assert_eq!(numa.nodes, 1 | 1 << 2 | 1 << 15);
        assert_eq!(nodes, [(G, 0), (2 * G, 15)]);
        assert_eq!(cpus, [0, 2, 15]);
    }

    /// Expect: one memory node with an id and one without: `numa_register_nodes` finds the
    /// region without a node (memblock's MAX_NUMNODES) and NUMA init falls back; the region
    /// is recorded for the warning, and everything is node 0.
    #[test]
    fn memory_without_id_next_to_memory_with_one_falls_back() {
        let blob = tree(&[(G, G, Some(1)), (2 * G, G, None), (3 * G, G, None)], &[(0, Some(1))]);
        let (lines, nodes, numa, cpus) = run(&blob);
        assert!(lines.iter().all(|l| !l.contains("NUMA")), "{lines:#?}");
        assert_eq!(numa.fallback, Some(NumaFallback::InvalidMemblk { range: MemRange::new(2 * G, 2 * G) }));
        assert!(nodes.iter().all(|&(_, n)| n == 0), "{nodes:?}");
        assert_eq!(cpus, [0]);
    }

    /// Expect: no numa-node-id anywhere (QEMU without -numa): no configuration.
    #[test]
    fn plain_qemu_tree_has_no_numa_configuration() {
        let (_, _, numa, cpus) = run(&std::fs::read(testdata().join("dtb").join("qemu__aarch64-virt-1G-smp4.dtb")).unwrap());
        assert_eq!(numa.fallback, Some(NumaFallback::NoConfig));
        assert_eq!(cpus, [0, 0, 0, 0]);
    }

    /// Two nodes of 1 GiB with one CPU each, and this distance map.
    fn two_nodes_with(map: Option<&[u32]>) -> (Vec<String>, crate::DtNuma) {
        let blob = tree_with_map(&[(G, G, Some(0)), (2 * G, G, Some(1))], &[(0, Some(0)), (1, Some(1))], Some(map));
        let (lines, _, numa, _) = run(&blob);
        (lines, numa)
    }

    /// Expect (of_numa_parse_distance_map_v1 + numa_set_distance): an entry A -> B also sets
    /// B -> A when B > A, never the other way; a later entry overwrites; pairs not set are
    /// 10/20; ids outside the table read 10/20 too.
    #[test]
    fn distance_map_fills_the_table_as_linux() {
        let (lines, numa) = two_nodes_with(Some(&[0, 1, 30]));
        assert_eq!(lines[0], "OF: NUMA: parsing numa-distance-map-v1");
        assert_eq!(numa.fallback, None);
        assert_eq!([numa.distance(0, 0), numa.distance(0, 1), numa.distance(1, 0), numa.distance(1, 1)], [10, 30, 30, 10]);
        let (_, numa) = two_nodes_with(Some(&[1, 0, 25]));
        assert_eq!((numa.distance(1, 0), numa.distance(0, 1)), (25, 20));
        let (_, numa) = two_nodes_with(Some(&[0, 1, 30, 1, 0, 40]));
        assert_eq!((numa.distance(0, 1), numa.distance(1, 0)), (30, 40));
        assert_eq!((numa.distance(16, 16), numa.distance(0, 20)), (10, 20));
        // QEMU's full matrix (-numa dist,src=0,dst=1,val=30).
        let info = discover(&DeviceTree::new(include_bytes!("../testdata/qemu-virt-2G-numa2-dist30.dtb")).unwrap()).unwrap();
        let numa = of_numa_init_quiet(&info);
        assert_eq!((numa.distance(0, 1), numa.distance(1, 0)), (30, 30));
    }

    fn of_numa_init_quiet(info: &crate::DtMemoryInfo<'_>) -> crate::DtNuma {
        crate::of_numa_init(info, &mut Lines::default())
    }

    /// Expect: a bad map fails of_numa_init (Linux's line names it) and the boot falls back to
    /// one node with default distances; ids past the table and distances above 255 are only
    /// warned about, once each, and leave the default.
    #[test]
    fn bad_distance_maps() {
        let (lines, numa) = two_nodes_with(Some(&[0, 1, 5]));
        assert_eq!(lines[..2], ["OF: NUMA: parsing numa-distance-map-v1", "OF: NUMA: Invalid distance[node0 -> node1] = 5"]);
        assert_eq!((numa.fallback, numa.nodes, numa.distance(0, 1)), (Some(NumaFallback::BadDistanceMap), 1, 20));
        let (lines, numa) = two_nodes_with(Some(&[1, 1, 20]));
        assert_eq!(lines[1], "OF: NUMA: Invalid distance[node1 -> node1] = 20");
        assert_eq!(numa.fallback, Some(NumaFallback::BadDistanceMap));
        let (lines, numa) = two_nodes_with(None);
        assert_eq!(lines[1], "OF: NUMA: No distance-matrix property in distance-map");
        assert_eq!(numa.fallback, Some(NumaFallback::BadDistanceMap));
        let (lines, numa) = two_nodes_with(Some(&[]));
        assert_eq!(lines[1], "OF: NUMA: Invalid distance-matrix");
        assert_eq!(numa.fallback, Some(NumaFallback::BadDistanceMap));
        let (lines, numa) = two_nodes_with(Some(&[0, 16, 30, 0, 17, 30, 0, 1, 300, 1, 0, 400]));
        let warnings: Vec<_> = lines.iter().filter(|l| l.starts_with("NUMA: Warning")).collect();
        assert_eq!(
            warnings,
            [
                "NUMA: Warning: node ids are out of bound, from=0 to=16 distance=30",
                "NUMA: Warning: invalid distance parameter, from=0 to=1 distance=300",
            ]
        );
        assert_eq!((numa.fallback, numa.distance(0, 1), numa.distance(1, 0)), (None, 20, 20));
    }
}

mod uart_nodes {
    extern crate std;
    use crate::test_fdt::FdtBuilder;
    use crate::{find_console, uart_props, DeviceTree};
    use std::string::ToString;

    /// `/soc` (identity ranges) with a disabled DesignWare UART and an enabled one that has every
    /// wiring property, and an i.MX UART with a two-byte `reg-shift`.
    fn soc() -> std::vec::Vec<u8> {
        let mut f = FdtBuilder::default();
        f.begin("").cells("#address-cells", &[1]).cells("#size-cells", &[1]);
        f.begin("soc").cells("#address-cells", &[1]).cells("#size-cells", &[1]).prop("ranges", &[]);
        f.begin("serial@1000").prop("compatible", b"rockchip,rk3399-uart\0snps,dw-apb-uart\0").cells("reg", &[0x1000, 0x100]).string("status", "disabled").end();
        f.begin("serial@2000").prop("compatible", b"rockchip,rk3399-uart\0snps,dw-apb-uart\0").cells("reg", &[0x2000, 0x100]);
        f.cells("reg-shift", &[2]).cells("reg-io-width", &[4]).cells("clock-frequency", &[24_000_000]).cells("current-speed", &[1_500_000]).end();
        f.begin("serial@3000").string("compatible", "fsl,imx8mq-uart").cells("reg", &[0x3000, 0x100]).prop("reg-shift", &[0, 2]).end();
        f.end().end().finish()
    }

    #[test]
    fn the_first_available_uart_of_a_driver_is_found_with_its_wiring() {
        let blob = soc();
        let dt = DeviceTree::new(&blob).unwrap();
        let c = find_console(&dt, &["ns16550a", "snps,dw-apb-uart"]).unwrap().unwrap();
        // Expect: serial@1000 is disabled, so serial@2000, at its CPU address.
        assert_eq!((c.path.as_str(), c.cpu_base.clone().ok(), c.from_stdout_path), ("/soc/serial@2000", Some(0x2000), false));
        let p = uart_props(&dt, &c.path).unwrap();
        assert_eq!(p.compatibles().collect::<std::vec::Vec<_>>(), ["rockchip,rk3399-uart", "snps,dw-apb-uart"]);
        assert_eq!(p.first_of(&["ns16550a", "snps,dw-apb-uart"]), Some("snps,dw-apb-uart"));
        assert_eq!((p.reg_shift, p.reg_io_width, p.clock_frequency, p.current_speed), (Some(2), Some(4), Some(24_000_000), Some(1_500_000)));
        assert!(!p.snps_uart_16550_compatible);
        assert!(find_console(&dt, &["amlogic,meson-ao-uart"]).unwrap().is_none());
    }

    #[test]
    fn a_malformed_wiring_property_names_the_node() {
        let blob = soc();
        let dt = DeviceTree::new(&blob).unwrap();
        let e = uart_props(&dt, "/soc/serial@3000").unwrap_err();
        assert!(e.to_string().contains("reg-shift") && e.to_string().contains("/soc/serial@3000"), "{e}");
        assert!(uart_props(&dt, "/soc/serial@9000").unwrap_err().to_string().contains("no node /soc/serial@9000"));
    }

    /// `testdata/zcu102-current-speed*.dtb` (testdata/README.md says how they were made): the
    /// console node's `current-speed`, with and without `clock-frequency`.
    #[test]
    fn zcu102_console_speed_variants() {
        for (blob, clock) in [
            (&include_bytes!("../testdata/zcu102-current-speed.dtb")[..], None),
            (&include_bytes!("../testdata/zcu102-current-speed-clock.dtb")[..], Some(100_000_000)),
        ] {
            let dt = DeviceTree::new(blob).unwrap();
            let info = crate::discover(&dt).unwrap();
            let c = info.console.unwrap();
            assert_eq!((c.path.as_str(), c.from_stdout_path, c.cpu_base.clone().ok()), ("/axi/serial@ff000000", true, Some(0xff00_0000)));
            let p = uart_props(&dt, &c.path).unwrap();
            assert_eq!((p.current_speed, p.clock_frequency, p.reg_shift, p.reg_io_width), (Some(115_200), clock, None, None));
            assert_eq!(p.first_of(&["cdns,uart-r1p12"]), Some("cdns,uart-r1p12"));
        }
    }
}
