//! Fuzz harnesses: each takes arbitrary bytes, drives one input-facing piece of the firmware, and
//! panics only when an invariant breaks (a panic inside the code under test counts too).
//!
//! The same functions run under libFuzzer (`cargo xtask fuzz`, targets in `fuzz_targets/`) and
//! over every saved input in `regressions/<target>/` in the ordinary test suite
//! (`tests/regressions.rs`), so a crash once found stays fixed.
//!
//! - [`e820_sanitize`]: a firmware map decoded from the bytes goes through the whole x86 path
//!   (`setup_memory`); the sanitised table must be sorted, non-overlapping, free of zero-size
//!   entries, with touching same-type neighbours merged, and every probed address must carry the
//!   highest type any input entry gave it (Linux's rule).
//! - [`memblock_ops`]: memblock operation sequences against a reference model
//!   (`memblock::model::run_ops`).
//! - [`dt_discover`]: device-tree parsing and discovery on arbitrary blobs must return a value or
//!   an error, never panic; what it returns must then apply to a memblock without panicking.
//! - [`dt_boot`]: the same blobs through the whole host simulation of an arm64 boot (discovery
//!   with the platform's physical limit, reservations, zones, `mem_init`, the buddy hand-off):
//!   it must end (no per-pfn walk of an absurd hole), and the page accounting must add up.

use e820::{E820Error, E820Table};
use memblock::{Memblock, Region, RegionFlags, MAX_NUMNODES};
use mm_types::NullSink;

const EMPTY: Region = Region { base: 0, size: 0, nid: MAX_NUMNODES, flags: RegionFlags::NONE };

fn u64_at(d: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, x) in b.iter_mut().enumerate() {
        *x = d.get(i + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

/// Decodes 17-byte records `(addr: u64, size: u64, type: u8)`; addresses and sizes are scaled
/// down by the first byte so that overlaps are frequent, not astronomically rare.
fn decode_map(data: &[u8]) -> Vec<(u64, u64, u32)> {
    let Some((&mode, rest)) = data.split_first() else { return Vec::new() };
    rest.chunks(17)
        .map(|c| {
            let (mut a, mut s) = (u64_at(c, 0), u64_at(c, 8));
            if mode & 1 == 0 {
                a = (a & 0xffff) << 12;
                s = (s & 0xffff) << 10;
            }
            let t = match c.get(16).copied().unwrap_or(1) % 10 {
                0..=2 => 1,
                3 => 2,
                4 => 3,
                5 => 4,
                6 => 5,
                7 => 7,
                8 => 12,
                _ => 0xefff_ffff,
            };
            (a, s, t)
        })
        .collect()
}

/// See the module documentation.
pub fn e820_sanitize(data: &[u8]) {
    let input = decode_map(data);
    let mut table = E820Table::new();
    for &(a, s, t) in &input {
        if table.push(a, s, t).is_err() {
            break;
        }
    }
    let kept: Vec<_> = table.iter().copied().collect();
    let mut sanitized = table.clone();
    if e820::sanitize(&mut sanitized).is_ok() {
        let e = sanitized.entries();
        for w in e.windows(2) {
            assert!(w[0].addr < w[1].addr, "not sorted: {w:?}");
            let end = w[0].addr + w[0].size;
            assert!(end <= w[1].addr, "overlap: {w:?}");
            assert!(!(end == w[1].addr && w[0].kind == w[1].kind && !w[0].kind.is_nomerge()), "unmerged: {w:?}");
        }
        assert!(e.iter().all(|x| x.size > 0), "zero-size entry left: {e:?}");
        // Probe the edges of every input entry: the highest type covering a byte wins.
        for x in &kept {
            for probe in [x.addr, x.addr.wrapping_add(x.size).wrapping_sub(1)] {
                let want = kept
                    .iter()
                    .filter(|y| y.size > 0 && probe >= y.addr && probe - y.addr < y.size)
                    .map(|y| y.kind.as_u32())
                    .max();
                let got = e.iter().find(|y| probe >= y.addr && probe - y.addr < y.size).map(|y| y.kind.as_u32());
                assert_eq!(got, want, "address {probe:#x}: type after sanitise");
            }
        }
    }
    // The whole platform path must take any map without panicking, and must not refuse one
    // Linux would use: a map the sanitiser refuses (an entry wrapping past 2^64) is used as
    // handed over, as Linux does after e820__update_table's -1. Only running out of room may
    // fail: memblock's static arrays, or the e820 table for a split or a sanitised result.
    let (mut m, mut r) = (vec![EMPTY; 128], vec![EMPTY; 128]);
    let mut mb = Memblock::new(&mut m, &mut r);
    match e820::setup_memory(&mut table, "BIOS-e820", &mut mb, data.len().is_multiple_of(2), None, &mut NullSink) {
        Ok(_) | Err(E820Error::Memblock { .. } | E820Error::SplitTableFull { .. } | E820Error::SanitizedTooLarge { .. }) => {}
        Err(e) => panic!("setup_memory refused a map Linux would use: {e}"),
    }
}

/// See the module documentation.
pub fn memblock_ops(data: &[u8]) {
    memblock::model::run_ops(data);
}

/// See the module documentation.
pub fn dt_discover(data: &[u8]) {
    let Ok(dt) = devicetree::DeviceTree::new(data) else { return };
    let Ok(info) = devicetree::discover(&dt) else { return };
    let (mut m, mut r) = (vec![EMPTY; 128], vec![EMPTY; 128]);
    let mut mb = Memblock::new(&mut m, &mut r);
    if let Ok(rep) = devicetree::apply(&info, &mut mb, 0x4800_0000, &mut NullSink) {
        assert!(rep.banks_added <= info.banks.len());
        let total: u64 = mb.memory().iter().map(|x| x.size).sum();
        assert_eq!(total, mb.phys_mem_size(), "memblock total disagrees with its regions");
        for w in mb.memory().windows(2) {
            assert!(w[0].base + w[0].size <= w[1].base, "memory regions overlap: {w:?}");
        }
    }
}

/// Entries of `mem_map` storage the [`dt_boot`] harness hands out per input (2 GiB of RAM span
/// and its usemap, for up to 2 nodes); a tree needing more is a tree the harness does not boot,
/// not a failure.
const DT_BOOT_MAP_PAGES: usize = page_alloc::MemMap::storage_len(1 << 18) * 2;

std::thread_local! {
    static DT_BOOT_ARENA: std::cell::RefCell<Vec<page_alloc::Page>> =
        std::cell::RefCell::new(vec![page_alloc::Page::INIT; DT_BOOT_MAP_PAGES]);
}

/// See the module documentation.
pub fn dt_boot(data: &[u8]) {
    dt_boot_run(data);
}

/// [`dt_boot`]; whether the input got as far as the buddy hand-off and its checks.
pub fn dt_boot_run(data: &[u8]) -> bool {
    let Ok(dt) = devicetree::DeviceTree::new(data) else { return false };
    let Ok(info) = devicetree::discover(&dt) else { return false };
    let (mut m, mut r) = (vec![EMPTY; 128], vec![EMPTY; 128]);
    let mut mb = Memblock::new(&mut m, &mut r);
    let limit = board_desc::PLATFORMS.iter().find(|p| p.name == "aarch64").map(|p| p.phys_limit).unwrap();
    let mut rep = devicetree::ApplyReport::default();
    if devicetree::add_memory(&info, &mut mb, limit - 1, &mut rep, &mut NullSink).is_err() || rep.banks_added == 0 {
        return false;
    }
    assert!(mb.end_of_dram() <= limit, "memory above the platform limit reached memblock: {:?}", mb.memory());
    let params = devicetree::ApplyParams::default();
    let mut cma = params.cma_areas();
    if devicetree::reserve(&info, &mut mb, None, &params, &mut cma, &mut rep, &mut NullSink).is_err() {
        return false;
    }
    let paging = mm_init::zones::arm64(&mb);
    DT_BOOT_ARENA.with_borrow_mut(|arena| {
        let mut rest: &mut [page_alloc::Page] = arena;
        let mut map_pages = |_phys: u64, count: usize| {
            if count > rest.len() {
                return None;
            }
            let (map, tail) = core::mem::take(&mut rest).split_at_mut(count);
            rest = tail;
            Some(map)
        };
        let sections = page_alloc::KernelSections::default();
        let distance = page_alloc::default_distance;
        let config = page_alloc::ArchConfig::ARM64_4K;
        // Every node with memory is online, its data plain host memory owned here (a leak
        // would be reported by libFuzzer's leak checker).
        let mut nodes: Vec<page_alloc::Node<'_>> = (0..page_alloc::MAX_NODES as i32).map(|nid| page_alloc::Node::memoryless(config, nid)).collect();
        let mut slots = nodes.iter_mut();
        let node_data = std::array::from_fn(|nid| {
            let slot = slots.next();
            page_alloc::node_pfn_range(&mb, nid as i32).and(slot)
        });
        let Ok((set, report)) =
            mm_init::mem_init::mem_init(config, &paging, mb, node_data, &mut map_pages, &sections, &distance, &mut cma, &mut NullSink)
        else {
            return false;
        };
        set.check().unwrap_or_else(|e| panic!("buddy state inconsistent after the hand-off: {e}"));
        let (mut present, mut managed) = (0u64, 0u64);
        for node in set.nodes() {
            for z in node.zones() {
                present += z.present_pages;
                managed += z.managed_pages;
            }
        }
        assert_eq!(present, report.present_pages, "zones and mem_init disagree on present pages");
        assert_eq!(present, managed + report.reserved_pages, "present != managed + reserved");
        true
    })
}
