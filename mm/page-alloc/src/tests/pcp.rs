//! Per-CPU pagesets: 6.1's batch/high figures, the boot pageset, simulated CPUs against a
//! reference model, and real threads on the facade.
use std::collections::{BTreeMap, BTreeSet};

use super::numa::NumaMachine;
use super::*;
use crate::{
    zone_batchsize, zone_highsize, NodeSet, PerCpuPages, PerCpuPagesets, Gfp, Migratetype, PageAllocator, Pfn, Zone, MAX_NODES,
};

/// `cpus` CPUs' boot pagesets, one per populated zone of `set`.
fn boot_pagesets(set: &NodeSet<'_>, cpus: usize) -> Vec<Vec<spin::Mutex<PerCpuPages>>> {
    (0..cpus).map(|_| set.populated_zones().map(|(n, z)| spin::Mutex::new(PerCpuPages::boot(n, z))).collect()).collect()
}

/// A zone with `managed` pages and the watermarks `__setup_per_zone_wmarks` gives a lone
/// lowmem zone: min = min_free_kbytes / 4, tmp = max(min / 4, managed / 1000).
fn zone(managed: u64) -> Zone {
    let mut z = Zone::new(ZoneType::Normal, 0, 9);
    z.managed_pages = managed;
    let kbytes = crate::int_sqrt(managed * 4 * 16).clamp(128, 262_144);
    let min = kbytes / 4;
    let tmp = (min / 4).max(managed * 10 / 10_000);
    z.watermark = [min, min + tmp, min + 2 * tmp];
    z
}

/// Figures from 6.1's formulas:
/// - 128 MiB (32768 pages): batch = min(32, 256) / 4 = 8 -> rounddown_pow2(12) - 1 = 7;
///   min_free_kbytes = sqrt(131072 * 16) = 1448, min 362, tmp max(90, 32) = 90, low 452;
///   high = 452 / cpus, at least 28: 1 CPU 452, 2 CPUs 226, 4 CPUs 113.
/// - 1 GiB (262144): batch = 256 / 4 = 64 -> rounddown_pow2(96) - 1 = 63; min_free_kbytes
///   4096, min 1024, tmp max(256, 262) = 262, low 1286: 1 CPU 1286, 2 CPUs 643, 4 CPUs 321,
///   8 CPUs 252 (= 63 * 4).
/// - 4 GiB (1048576): batch 63 (capped by 1 MiB); min_free_kbytes 8192, min 2048, tmp
///   max(512, 1048) = 1048, low 3096: 1 CPU 3096, 4 CPUs 774.
/// - 16 MiB (4096): batch = 4 / 4 = 1 -> rounddown_pow2(1) - 1 = 0 (the caller uses 1).
#[test]
fn batch_and_high_figures() {
    let (z128, z1g, z4g) = (zone(32768), zone(262_144), zone(1 << 20));
    assert_eq!([zone_batchsize(&z128), zone_batchsize(&z1g), zone_batchsize(&z4g)], [7, 63, 63]);
    assert_eq!(z128.low_wmark_pages(), 452);
    assert_eq!(z1g.low_wmark_pages(), 1286);
    assert_eq!(z4g.low_wmark_pages(), 3096);
    assert_eq!([1, 2, 4].map(|c| zone_highsize(&z128, 7, c, c)), [452, 226, 113]);
    assert_eq!([1, 2, 4, 8].map(|c| zone_highsize(&z1g, 63, c, c)), [1286, 643, 321, 252]);
    assert_eq!([1, 4].map(|c| zone_highsize(&z4g, 63, c, c)), [3096, 774]);
    // A node without CPUs splits across all online CPUs.
    assert_eq!(zone_highsize(&z1g, 63, 0, 2), 643);
    assert_eq!(zone_batchsize(&zone(4096)), 0);
}

/// Two 128 MiB nodes on arm64: node 0 `[1G, 1G + 128M)`, node 1 after it; all DMA.
fn two_small_nodes() -> NumaMachine {
    let end = (SZ_1G + 256 * SZ_1M) >> 12;
    NumaMachine {
        config: ArchConfig::ARM64_4K,
        memory: vec![(SZ_1G, 128 * SZ_1M, 0), (SZ_1G + 128 * SZ_1M, 128 * SZ_1M, 1)],
        reserved: vec![(SZ_1G + 2 * SZ_1M, 3 * SZ_1M)],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, end), (ZoneType::Dma32, end), (ZoneType::Normal, end)]),
    }
}

fn nr_free_all(a: &PageAllocator<'_>) -> Vec<[u64; 11]> {
    a.with_nodes(|s| s.nodes().flat_map(|n| n.zones().iter().map(|z| core::array::from_fn(|o| z.free_area()[o].nr_free))).collect())
}

/// xorshift64*.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Runs `f` on a thread with a big stack (the boot and the reference models are deep).
fn big_stack(f: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        std::thread::Builder::new().stack_size(64 << 20).spawn_scoped(s, f).unwrap().join().unwrap();
    });
}

/// The boot pageset keeps nothing: frees go straight to the buddy lists.
#[test]
fn boot_pageset_keeps_nothing() {
    big_stack(|| {
        let m = two_small_nodes();
        let mut storage = m.map_storage();
        let (set, freed) = m.boot(&mut storage, &mut Lines::default());
        let pcp = boot_pagesets(&set, 4);
        let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
        let a = PageAllocator::new(set, &refs);
        let p = a.alloc_pages(0, 0, Gfp::KERNEL, 0).unwrap();
        assert_eq!(a.nr_pcp_pages(), 0);
        a.free_pages(1, p, 0).unwrap();
        assert_eq!((a.nr_pcp_pages(), a.with_nodes(|s| s.nr_free_pages())), (0, freed));
        a.check().unwrap();
    });
}

/// Pagesets after setup: a refill takes `batch` pages, frees fill the list up to `high`
/// and then give `batch` (doubling) back; the page is not in the buddy while listed; a
/// double free of a listed page is refused; reports count `free_pcp`.
#[test]
fn pageset_refill_and_spill() {
    big_stack(|| {
        let m = two_small_nodes();
        let mut storage = m.map_storage();
        let (set, freed) = m.boot(&mut storage, &mut Lines::default());
        let pcp = boot_pagesets(&set, 4);
        let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
        let a = PageAllocator::new(set, &refs);
        let mut log = Lines::default();
        a.setup_per_cpu_pageset(2, &|cpu| cpu as i32, &mut log);
        // Node 0 DMA: 32768 - 768 reserved = 32000 managed; batch 7. Two nodes' lowmem split
        // the watermarks; 1 CPU per node.
        let (high0, batch0) = a.with_pageset(0, 0, ZoneType::Dma, |p| (p.high(), p.batch()));
        assert_eq!(batch0, 7);
        assert_eq!(log.0[0], std::format!("Node 0, zone      DMA: pageset batch 7 high {high0}"));
        assert_eq!(log.0.len(), 2);
        let p = a.alloc_pages(0, 0, Gfp::KERNEL, 0).unwrap();
        assert_eq!(a.with_pageset(0, 0, ZoneType::Dma, |p| p.count()), 6);
        assert_eq!(a.with_nodes(|s| s.nr_free_pages()), freed - 7);
        assert_eq!(a.nr_free_pages_including_pcp(), freed - 1);
        a.check().unwrap();
        a.free_pages(0, p, 0).unwrap();
        assert_eq!(a.free_pages(0, p, 0), Err(crate::FreeError::DoubleFree { pfn: p }));
        let mut sfa = Lines::default();
        a.show_free_areas(&mut sfa);
        assert_eq!(sfa.0[0], std::format!("free:{} free_pcp:7", freed - 7));
        assert!(sfa.0[1].ends_with("free_pcp:28kB"), "{}", sfa.0[1]);
        // Fill to high: the spill gives back batch pages at a time.
        let mut pages = Vec::new();
        for _ in 0..high0 + 20 {
            pages.push(a.alloc_pages(1, 0, Gfp::KERNEL, 0).unwrap());
        }
        for &p in &pages {
            a.free_pages(0, p, 0).unwrap();
            assert!(a.with_pageset(0, 0, ZoneType::Dma, |p| p.count()) < high0);
            a.check().unwrap();
        }
        let mut zi = Lines::default();
        a.zoneinfo(&mut zi);
        assert!(zi.0.iter().any(|l| l == "  pagesets"));
        assert!(zi.0.iter().any(|l| l == "              batch: 7"));
        a.drain_all();
        assert_eq!(a.with_nodes(|s| (s.nr_pcp_pages(), s.nr_free_pages())), (0, freed));
        a.check().unwrap();
    });
}

/// Simulated CPUs, interleaved by a PRNG: random order-0..3 allocations with mixed
/// migratetypes and preferred nodes, frees on random CPUs (cross-CPU frees), occasional
/// drains. Model: the set of pages owned by callers. After every step: no page owned twice,
/// no owned page on a per-CPU list, no pfn on two lists, free + pcp + owned = managed, and
/// `check` passes. At the end, after freeing and draining everything, every zone's free
/// lists are exactly as after boot.
#[test]
fn simulated_cpus_match_model() {
    big_stack(|| {
        for seed in [1u64, 0xdead_beef, 42] {
            let m = two_small_nodes();
            let mut storage = m.map_storage();
            let (set, freed) = m.boot(&mut storage, &mut Lines::default());
            let pcp = boot_pagesets(&set, 4);
        let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
        let a = PageAllocator::new(set, &refs);
            a.setup_per_cpu_pageset(4, &|cpu| (cpu % 2) as i32, &mut Lines::default());
            let boot = nr_free_all(&a);
            let mut owned: BTreeMap<u64, u32> = BTreeMap::new();
            let mut owned_pages: BTreeSet<u64> = BTreeSet::new();
            let mut rng = Rng(seed);
            let gfps = [Gfp::KERNEL, Gfp::RECLAIMABLE, Gfp::HIGHUSER_MOVABLE, Gfp::ATOMIC];
            for step in 0..1500 {
                let cpu = rng.below(4) as usize;
                let r = rng.below(100);
                if r < 55 || owned.is_empty() {
                    let order = if rng.below(4) == 0 { rng.below(4) as u32 } else { 0 };
                    let gfp = gfps[rng.below(4) as usize];
                    if let Ok(Pfn(p)) = a.alloc_pages(cpu, rng.below(MAX_NODES as u64) as i32, gfp, order) {
                        for q in p..p + (1 << order) {
                            assert!(owned_pages.insert(q), "step {step}: pfn {q:#x} handed out twice");
                        }
                        owned.insert(p, order);
                    }
                } else if r < 98 {
                    let i = rng.below(owned.len() as u64) as usize;
                    let (&p, &o) = owned.iter().nth(i).unwrap();
                    a.free_pages(cpu, Pfn(p), o).unwrap();
                    owned.remove(&p);
                    (p..p + (1 << o)).for_each(|q| assert!(owned_pages.remove(&q)));
                } else if r < 99 {
                    a.drain_local(cpu);
                } else {
                    a.drain_all();
                }
                let mut listed = BTreeSet::new();
                a.for_each_pcp_page(&mut |_, _, _, _, o, p| {
                    for q in p.0..p.0 + (1 << o) {
                        assert!(listed.insert(q), "step {step}: pfn {q:#x} on two lists");
                        assert!(!owned_pages.contains(&q), "step {step}: owned pfn {q:#x} on a list");
                    }
                });
                assert_eq!(a.nr_free_pages_including_pcp() + owned_pages.len() as u64, freed, "step {step}");
                if let Err(e) = a.check() {
                    panic!("step {step}: {e}");
                }
            }
            for (&p, &o) in &owned {
                a.free_pages(rng.below(4) as usize, Pfn(p), o).unwrap();
            }
            a.drain_all();
            a.check().unwrap();
            assert_eq!(a.with_nodes(|s| s.nr_free_pages()), freed);
            assert_eq!(nr_free_all(&a), boot, "seed {seed}: blocks not merged back");
            let _ = Migratetype::ALL;
        }
    });
}

/// Four real threads, one per CPU, on the facade and its spin locks: random allocations,
/// frees of their own blocks and of blocks other threads handed over (cross-CPU frees), a
/// shared set catching any page handed out twice. Afterwards everything is freed and drained
/// and the totals and free lists are exactly as after boot.
#[test]
fn threads_on_the_facade() {
    big_stack(|| {
        let m = two_small_nodes();
        let mut storage = m.map_storage();
        let (set, freed) = m.boot(&mut storage, &mut Lines::default());
        let pcp = boot_pagesets(&set, 4);
        let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
        let a = PageAllocator::new(set, &refs);
        a.setup_per_cpu_pageset(4, &|cpu| (cpu % 2) as i32, &mut Lines::default());
        let boot = nr_free_all(&a);
        let owned = std::sync::Mutex::new(BTreeSet::<u64>::new());
        let handover = std::sync::Mutex::new(Vec::<(u64, u32)>::new());
        std::thread::scope(|s| {
            for cpu in 0..4usize {
                let (a, owned, handover) = (&a, &owned, &handover);
                s.spawn(move || {
                    let mut rng = Rng(0x1234_5678 + cpu as u64);
                    let mut mine: Vec<(u64, u32)> = Vec::new();
                    for _ in 0..3000 {
                        let r = rng.below(100);
                        if r < 50 || mine.is_empty() {
                            let order = if rng.below(5) == 0 { rng.below(4) as u32 } else { 0 };
                            let gfp = [Gfp::KERNEL, Gfp::HIGHUSER_MOVABLE, Gfp::RECLAIMABLE][rng.below(3) as usize];
                            if let Ok(Pfn(p)) = a.alloc_pages(cpu, (cpu % 2) as i32, gfp, order) {
                                let mut o = owned.lock().unwrap();
                                for q in p..p + (1 << order) {
                                    assert!(o.insert(q), "pfn {q:#x} handed out twice");
                                }
                                mine.push((p, order));
                            }
                        } else if r < 90 {
                            let (p, o) = mine.swap_remove(rng.below(mine.len() as u64) as usize);
                            if rng.below(4) == 0 {
                                handover.lock().unwrap().push((p, o));
                            } else {
                                let mut set = owned.lock().unwrap();
                                (p..p + (1 << o)).for_each(|q| assert!(set.remove(&q)));
                                drop(set);
                                a.free_pages(cpu, Pfn(p), o).unwrap();
                            }
                        } else if let Some((p, o)) = handover.lock().unwrap().pop() {
                            let mut set = owned.lock().unwrap();
                            (p..p + (1 << o)).for_each(|q| assert!(set.remove(&q)));
                            drop(set);
                            a.free_pages(cpu, Pfn(p), o).unwrap();
                        } else if r == 99 {
                            a.drain_all();
                        }
                    }
                    for (p, o) in mine {
                        let mut set = owned.lock().unwrap();
                        (p..p + (1 << o)).for_each(|q| assert!(set.remove(&q)));
                        drop(set);
                        a.free_pages(cpu, Pfn(p), o).unwrap();
                    }
                });
            }
        });
        for (p, o) in handover.into_inner().unwrap() {
            a.free_pages(0, Pfn(p), o).unwrap();
        }
        a.check().unwrap();
        assert_eq!(a.nr_free_pages_including_pcp(), freed);
        a.drain_all();
        a.check().unwrap();
        assert_eq!(a.with_nodes(|s| (s.nr_free_pages(), s.nr_pcp_pages())), (freed, 0));
        assert_eq!(nr_free_all(&a), boot);
    });
}

/// Pagesets are per populated zone: a memoryless node has none, and a populated zone left
/// without one (storage sized for fewer zones) is served by the buddy lists directly, with the
/// accounting still exact. Expect: CPUs of node 1 (memoryless) fill node 0's pageset; with
/// only node 1's zone given a pageset, order-0 frees of node 0 pages go straight back.
#[test]
fn pagesets_follow_populated_zones() {
    big_stack(|| {
        let end = (2 * SZ_1G) >> 12;
        let m = NumaMachine {
            config: ArchConfig::ARM64_4K,
            memory: vec![(SZ_1G, SZ_1G, 0)],
            reserved: vec![],
            max_zone_pfn: zone_limits(&[(ZoneType::Dma, end), (ZoneType::Dma32, end), (ZoneType::Normal, end)]),
        };
        let mut storage = m.map_storage();
        let mut set = m.init_online(&mut storage, &[0, 1], &mut Lines::default());
        let freed = m.with_memblock(|mb| set.memblock_free_all(mb));
        set.init_per_zone_wmark_min();
        crate::build_all_zonelists(&mut set, &crate::numa::default_distance, &mut Lines::default());
        let pcp = boot_pagesets(&set, 2);
        assert!(pcp.iter().all(|sets| sets.len() == 1));
        let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
        let a = PageAllocator::new(set, &refs);
        // CPU 1 is on node 1 (memoryless): its node-0 pageset takes a batch.
        a.setup_per_cpu_pageset(2, &|cpu| cpu as i32, &mut Lines::default());
        let p = a.alloc_pages(1, 1, Gfp::KERNEL, 0).unwrap();
        assert_eq!(a.with_nodes(|s| s.pfn_to_nid(p.0)), Some(0));
        assert!(a.with_pageset(1, 0, ZoneType::Dma, |s| s.count()) > 0);
        a.free_pages(1, p, 0).unwrap();
        a.check().unwrap();
        a.drain_all();
        assert_eq!(a.with_nodes(|s| s.nr_free_pages()), freed);
    });
    big_stack(|| {
        let m = two_small_nodes();
        let mut storage = m.map_storage();
        let (set, freed) = m.boot(&mut storage, &mut Lines::default());
        // Only node 1's DMA zone has a pageset.
        let pcp: Vec<Vec<spin::Mutex<PerCpuPages>>> = (0..2).map(|_| vec![spin::Mutex::new(PerCpuPages::boot(1, ZoneType::Dma))]).collect();
        let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
        let a = PageAllocator::new(set, &refs);
        a.setup_per_cpu_pageset(2, &|_| 0, &mut Lines::default());
        let p = a.alloc_pages(0, 0, Gfp::KERNEL, 0).unwrap();
        assert_eq!(a.with_nodes(|s| (s.pfn_to_nid(p.0), s.nr_pcp_pages())), (Some(0), 0));
        a.free_pages(0, p, 0).unwrap();
        let q = a.alloc_pages(0, 1, Gfp::KERNEL, 0).unwrap();
        assert_eq!(a.with_nodes(|s| s.pfn_to_nid(q.0)), Some(1));
        assert!(a.with_nodes(|s| s.nr_pcp_pages()) > 0);
        a.free_pages(0, q, 0).unwrap();
        a.check().unwrap();
        a.drain_all();
        assert_eq!(a.with_nodes(|s| s.nr_free_pages()), freed);
    });
}

/// CPUs whose pagesets are laid out differently are refused.
#[test]
#[should_panic(expected = "CPU 1's pagesets are not laid out like CPU 0's")]
fn pageset_layouts_must_match() {
    let m = two_small_nodes();
    let mut storage = m.map_storage();
    let (set, _) = m.boot(&mut storage, &mut Lines::default());
    let mut pcp = boot_pagesets(&set, 2);
    pcp[1].reverse();
    let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
    let _ = PageAllocator::new(set, &refs);
}

/// 6.1's pageset figures computed here from scratch, from the managed pages alone:
/// `min_free_kbytes = clamp(isqrt(lowmem KiB * 16), 128, 262144)`, the zone's share of
/// `min_free_kbytes / 4` by managed pages, `low = min + max(min / 4, managed * 10 / 10000)`
/// (lowmem zones), `batch = rounddown_pow2(b + b / 2) - 1` with `b = max(1, min(managed >>
/// 10, 256) / 4)`, at least 1, and `high = max(low / CPUs of the node (all CPUs if none),
/// batch * 4)`.
fn linux_pageset(managed: u64, lowmem_pages: u64, cpus_in_node: u64, nr_cpus: u64) -> (u64, u64) {
    let kbytes = ((lowmem_pages * 4 * 16) as f64).sqrt().floor() as u64;
    let kbytes = kbytes.clamp(128, 262_144);
    let min = (kbytes / 4) * managed / lowmem_pages;
    let low = min + (min / 4).max(managed * 10 / 10_000);
    let b = ((managed >> 10).min(256) / 4).max(1);
    let batch = ((1u64 << (63 - (b + b / 2).leading_zeros())) - 1).max(1);
    let split = if cpus_in_node == 0 { nr_cpus } else { cpus_in_node };
    (batch, (low / split).max(batch * 4))
}

/// Boots `m`, sets the pagesets up for `nr_cpus` CPUs on `cpu_to_node`, and checks every
/// printed `pageset batch B high H` line (and every CPU's pageset) against
/// [`linux_pageset`]. Returns the lines.
fn check_printed_pagesets(m: &NumaMachine, nr_cpus: usize, cpu_to_node: &dyn Fn(usize) -> i32) -> Vec<String> {
    let mut storage = m.map_storage();
    let (set, _) = m.boot(&mut storage, &mut Lines::default());
    let lowmem: u64 = set.nodes().flat_map(|n| n.zones().iter()).filter(|z| z.zone_type <= ZoneType::Normal).map(|z| z.managed_pages).sum();
    let expected: Vec<(String, u32, u32, i32, ZoneType)> = set
        .populated_zones()
        .map(|(nid, z)| {
            let managed = set.zone(nid, z).unwrap().managed_pages;
            let in_node = (0..nr_cpus).filter(|&c| cpu_to_node(c) == nid).count() as u64;
            let (batch, high) = linux_pageset(managed, lowmem, in_node, nr_cpus as u64);
            (std::format!("Node {nid}, zone {:>8}: pageset batch {batch} high {high}", z.name()), batch as u32, high as u32, nid, z)
        })
        .collect();
    let pcp = boot_pagesets(&set, nr_cpus);
    let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
    let a = PageAllocator::new(set, &refs);
    let mut log = Lines::default();
    a.setup_per_cpu_pageset(nr_cpus, cpu_to_node, &mut log);
    assert_eq!(log.0, expected.iter().map(|e| e.0.clone()).collect::<Vec<_>>());
    for (_, batch, high, nid, z) in &expected {
        for cpu in 0..nr_cpus {
            assert_eq!(a.with_pageset(cpu, *nid, *z, |p| (p.batch(), p.high())), (*batch, *high));
        }
    }
    log.0
}

/// The printed pageset figures are 6.1's on every zone, with no cap: a 16 GiB arm64 machine
/// (RAM at 1 GiB: DMA up to 4 GiB, Normal above), 1 and 4 CPUs; two 128 MiB nodes with their
/// CPUs, and with every CPU on node 0 (node 1 splits across all CPUs).
#[test]
fn printed_pagesets_are_linux_formula() {
    big_stack(|| {
        let end = (17 * SZ_1G) >> 12;
        let four_g = (4 * SZ_1G) >> 12;
        let m16 = NumaMachine {
            config: ArchConfig::ARM64_4K,
            memory: vec![(SZ_1G, 16 * SZ_1G, 0)],
            reserved: vec![(SZ_1G + 2 * SZ_1M, 24 * SZ_1M)],
            max_zone_pfn: zone_limits(&[(ZoneType::Dma, four_g), (ZoneType::Dma32, four_g), (ZoneType::Normal, end)]),
        };
        let one = check_printed_pagesets(&m16, 1, &|_| 0);
        // Normal: 13 GiB of 16, high = its low watermark, far above the old 1024 cap.
        let normal = one.iter().find(|l| l.contains("Normal")).unwrap();
        let high: u32 = normal.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(high > 6000, "{normal}");
        check_printed_pagesets(&m16, 4, &|_| 0);
        check_printed_pagesets(&two_small_nodes(), 4, &|cpu| (cpu % 2) as i32);
        check_printed_pagesets(&two_small_nodes(), 3, &|_| 0);
    });
}

/// A block allocated on one CPU and freed on another lands on the freeing CPU's list (a
/// remote free), is handed out again from there (LIFO) and the accounting stays exact;
/// orders 1..=3 use their own lists, refilled `max(batch >> order, 2)` blocks at a time.
#[test]
fn remote_free_and_high_order_lists() {
    big_stack(|| {
        let m = two_small_nodes();
        let mut storage = m.map_storage();
        let (set, freed) = m.boot(&mut storage, &mut Lines::default());
        let pcp = boot_pagesets(&set, 2);
        let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
        let a = PageAllocator::new(set, &refs);
        a.setup_per_cpu_pageset(2, &|_| 0, &mut Lines::default());
        let count = |cpu| a.with_pageset(cpu, 0, ZoneType::Dma, |p| p.count());
        let batch = a.with_pageset(0, 0, ZoneType::Dma, |p| p.batch());
        assert_eq!(batch, 7);
        let p = a.alloc_pages(0, 0, Gfp::KERNEL, 0).unwrap();
        assert_eq!((count(0), count(1)), (6, 0));
        let free = a.with_nodes(|s| s.zone(0, ZoneType::Dma).unwrap().free_pages());
        assert_eq!(a.zone_counts(0, ZoneType::Dma), Some((free, 6, 1)));
        a.free_pages(1, p, 0).unwrap();
        assert_eq!((count(0), count(1)), (6, 1));
        // The fast paths changed no zone counter; the pagesets' deltas make the totals exact.
        assert_eq!(a.zone_counts(0, ZoneType::Dma), Some((free, 7, 0)));
        a.check().unwrap();
        // CPU 1 gets the very page back from its own list.
        assert_eq!(a.alloc_pages(1, 0, Gfp::KERNEL, 0), Ok(p));
        assert_eq!(count(1), 0);
        // Orders 1..=3: max(7 >> order, 2) blocks per refill.
        for (order, blocks) in [(1u32, 3u32), (2, 2), (3, 2)] {
            let before = count(0);
            let q = a.alloc_pages(0, 0, Gfp::KERNEL, order).unwrap();
            assert_eq!(q.0 & ((1 << order) - 1), 0);
            assert_eq!(count(0), before + (blocks - 1) * (1 << order), "order {order}");
            a.free_pages(1, q, order).unwrap();
            assert_eq!(a.free_pages(0, q, order), Err(crate::FreeError::DoubleFree { pfn: q }));
            a.check().unwrap();
        }
        // Order 4 is not per-CPU.
        let before = (count(0), count(1));
        let big = a.alloc_pages(0, 0, Gfp::KERNEL, 4).unwrap();
        a.free_pages(1, big, 4).unwrap();
        assert_eq!((count(0), count(1)), before);
        a.free_pages(0, p, 0).unwrap();
        a.drain_all();
        a.check().unwrap();
        assert_eq!(a.with_nodes(|s| (s.nr_free_pages(), s.nr_pcp_pages())), (freed, 0));
    });
}

/// A drain folds every pageset's unfolded counts into its zone, also one whose list is empty:
/// CPU 0 takes every page of its refill (its list empty, its count of pages handed out not yet
/// in the zone), CPU 1 frees them all; after `drain_all` the zone's own per-CPU and allocated
/// counts are exact, not only `zone_counts`.
#[test]
fn drain_folds_an_empty_pagesets_counts() {
    big_stack(|| {
        let m = two_small_nodes();
        let mut storage = m.map_storage();
        let (set, freed) = m.boot(&mut storage, &mut Lines::default());
        let pcp = boot_pagesets(&set, 2);
        let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
        let a = PageAllocator::new(set, &refs);
        a.setup_per_cpu_pageset(2, &|_| 0, &mut Lines::default());
        let batch = a.with_pageset(0, 0, ZoneType::Dma, |p| p.batch());
        let pages: Vec<Pfn> = (0..batch).map(|_| a.alloc_pages(0, 0, Gfp::KERNEL, 0).unwrap()).collect();
        assert_eq!(a.with_pageset(0, 0, ZoneType::Dma, |p| p.count()), 0, "CPU 0 took its whole refill");
        for p in pages {
            a.free_pages(1, p, 0).unwrap();
        }
        a.drain_all();
        let zone = |f: fn(&crate::Zone) -> u64| a.with_nodes(|s| f(s.zone(0, ZoneType::Dma).unwrap()));
        assert_eq!(zone(|z| z.free_pcp()), 0, "the zone's own count of listed pages");
        assert_eq!(zone(|z| z.allocated_pages()), 0, "the zone's own count of allocated pages");
        assert_eq!(a.with_nodes(|s| (s.nr_free_pages(), s.nr_pcp_pages())), (freed, 0));
        a.check().unwrap();
    });
}

/// Bad frees through the per-CPU path are errors naming the pfn and change nothing: a
/// second free of a listed block, a wrong order (larger and smaller), a tail page, a reserved
/// page, a hole, a page of a listed block's tail.
#[test]
fn fast_path_free_errors() {
    big_stack(|| {
        let m = two_small_nodes();
        let mut storage = m.map_storage();
        let (set, _) = m.boot(&mut storage, &mut Lines::default());
        let pcp = boot_pagesets(&set, 2);
        let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
        let a = PageAllocator::new(set, &refs);
        a.setup_per_cpu_pageset(2, &|_| 0, &mut Lines::default());
        use crate::FreeError as E;
        let p2 = a.alloc_pages(0, 0, Gfp::KERNEL, 2).unwrap();
        let snapshot = |a: &PageAllocator<'_>| (nr_free_all(a), a.nr_free_pages_including_pcp(), a.with_pageset(1, 0, ZoneType::Dma, |p| p.count()));
        let before = snapshot(&a);
        assert_eq!(a.free_pages(1, p2, 1), Err(E::NotAllocatedAs { pfn: p2, order: 1 }));
        let too_big = if p2.0 & 7 == 0 { E::NotAllocatedAs { pfn: p2, order: 3 } } else { E::Misaligned { pfn: p2, order: 3 } };
        assert_eq!(a.free_pages(1, p2, 3), Err(too_big));
        assert_eq!(a.free_pages(1, Pfn(p2.0 + 1), 0), Err(E::NotAllocatedAs { pfn: Pfn(p2.0 + 1), order: 0 }));
        let reserved = Pfn((SZ_1G + 2 * SZ_1M) >> 12);
        assert_eq!(a.free_pages(1, reserved, 0), Err(E::Reserved { pfn: reserved }));
        assert_eq!(snapshot(&a), before);
        a.check().unwrap();
        a.free_pages(1, p2, 2).unwrap();
        assert_eq!(a.free_pages(1, p2, 2), Err(E::DoubleFree { pfn: p2 }));
        assert_eq!(a.free_pages(0, p2, 2), Err(E::DoubleFree { pfn: p2 }));
        assert_eq!(a.free_pages(0, Pfn(p2.0 + 2), 0), Err(E::DoubleFree { pfn: Pfn(p2.0 + 2) }));
        let p0 = a.alloc_pages(0, 0, Gfp::KERNEL, 0).unwrap();
        a.free_pages(0, p0, 0).unwrap();
        assert_eq!(a.free_pages(1, p0, 0), Err(E::DoubleFree { pfn: p0 }));
        a.check().unwrap();
    });
}

/// A barrier for test threads that gives up (panics) once one of them panicked, so that a
/// failure fails the test instead of leaving the others waiting forever.
struct AbortableBarrier {
    n: usize,
    state: std::sync::Mutex<(usize, u64)>,
    cv: std::sync::Condvar,
    failed: std::sync::atomic::AtomicBool,
}

impl AbortableBarrier {
    fn new(n: usize) -> Self {
        Self { n, state: std::sync::Mutex::new((0, 0)), cv: std::sync::Condvar::new(), failed: false.into() }
    }
    fn wait(&self) {
        let mut st = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let generation = st.1;
        st.0 += 1;
        if st.0 == self.n {
            *st = (0, generation + 1);
            self.cv.notify_all();
            return;
        }
        while st.1 == generation {
            assert!(!self.failed.load(std::sync::atomic::Ordering::SeqCst), "another thread failed");
            st = self.cv.wait_timeout(st, std::time::Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
    /// Runs `f`, marking the barrier failed if it panics.
    fn run(&self, f: impl FnOnce()) {
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            self.failed.store(true, std::sync::atomic::Ordering::SeqCst);
            std::panic::resume_unwind(e);
        }
    }
}

/// Real threads against a reference model, in rounds: every thread allocates blocks of
/// orders 0..=3 on its own CPU (refills), then — with no allocation running — every block is
/// freed by two threads at once, on different CPUs (remote frees racing on the per-CPU fast
/// path, spills and drains): exactly one free of each block succeeds and the other is
/// `DoubleFree` naming the pfn. Between rounds the allocator's check (every pageset and zone
/// locked) must hold and free + listed + owned = managed. At the end every page is back and
/// the free lists are exactly as after boot.
#[test]
fn racing_remote_frees_match_model() {
    big_stack(|| {
        const CPUS: usize = 4;
        let m = two_small_nodes();
        let mut storage = m.map_storage();
        let (set, freed) = m.boot(&mut storage, &mut Lines::default());
        let pcp = boot_pagesets(&set, CPUS);
        let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
        let a = PageAllocator::new(set, &refs);
        a.setup_per_cpu_pageset(CPUS, &|cpu| (cpu % 2) as i32, &mut Lines::default());
        let boot = nr_free_all(&a);
        let barrier = AbortableBarrier::new(CPUS);
        // Blocks of this round, by the thread that allocated them.
        let round_blocks: Vec<std::sync::Mutex<Vec<(u64, u32)>>> = (0..CPUS).map(|_| std::sync::Mutex::new(Vec::new())).collect();
        // Per block: how many frees succeeded, how many were DoubleFree.
        let outcomes = std::sync::Mutex::new(BTreeMap::<u64, (u32, u32)>::new());
        let owned_model = std::sync::Mutex::new(BTreeSet::<u64>::new());
        std::thread::scope(|s| {
            for cpu in 0..CPUS {
                let (a, barrier, round_blocks, outcomes, owned_model) = (&a, &barrier, &round_blocks, &outcomes, &owned_model);
                s.spawn(move || barrier.run(|| {
                    let mut rng = Rng(0xfeed_0000 + cpu as u64);
                    for round in 0..40 {
                        // Phase 1: allocate.
                        let mut mine = Vec::new();
                        for _ in 0..(20 + rng.below(60)) {
                            let order = rng.below(4) as u32;
                            let gfp = [Gfp::KERNEL, Gfp::HIGHUSER_MOVABLE, Gfp::RECLAIMABLE][rng.below(3) as usize];
                            if let Ok(Pfn(p)) = a.alloc_pages(cpu, (cpu % 2) as i32, gfp, order) {
                                let mut o = owned_model.lock().unwrap();
                                for q in p..p + (1 << order) {
                                    assert!(o.insert(q), "round {round}: pfn {q:#x} handed out twice");
                                }
                                mine.push((p, order));
                            }
                        }
                        *round_blocks[cpu].lock().unwrap() = mine;
                        barrier.wait();
                        // Phase 2: free my blocks and my neighbour's, both racing.
                        let other = (cpu + 1) % CPUS;
                        let a_list = round_blocks[cpu].lock().unwrap().clone();
                        let b_list = round_blocks[other].lock().unwrap().clone();
                        let (mut i, mut j) = (0, 0);
                        while i < a_list.len() || j < b_list.len() {
                            let take_a = j >= b_list.len() || (i < a_list.len() && rng.below(2) == 0);
                            let (p, o) = if take_a { i += 1; a_list[i - 1] } else { j += 1; b_list[j - 1] };
                            let r = a.free_pages(cpu, Pfn(p), o);
                            let mut out = outcomes.lock().unwrap();
                            let e = out.entry(p).or_default();
                            match r {
                                Ok(()) => e.0 += 1,
                                Err(crate::FreeError::DoubleFree { pfn }) if pfn == Pfn(p) => e.1 += 1,
                                Err(other) => panic!("round {round}: free of {p:#x} order {o}: {other:?}"),
                            }
                            if rng.below(200) == 0 {
                                drop(out);
                                a.drain_local(cpu);
                            }
                        }
                        barrier.wait();
                        // Phase 3: one thread checks the model.
                        if cpu == 0 {
                            let mut out = outcomes.lock().unwrap();
                            let mut owned = owned_model.lock().unwrap();
                            for blocks in round_blocks.iter() {
                                for &(p, o) in blocks.lock().unwrap().iter() {
                                    assert_eq!(out.get(&p), Some(&(1, 1)), "round {round}: block {p:#x} order {o}");
                                    (p..p + (1 << o)).for_each(|q| assert!(owned.remove(&q)));
                                }
                            }
                            out.clear();
                            assert!(owned.is_empty());
                            a.check().unwrap_or_else(|e| panic!("round {round}: {e}"));
                            assert_eq!(a.nr_free_pages_including_pcp(), freed, "round {round}");
                        }
                        barrier.wait();
                    }
                }));
            }
        });
        a.drain_all();
        a.check().unwrap();
        assert_eq!(a.with_nodes(|s| (s.nr_free_pages(), s.nr_pcp_pages())), (freed, 0));
        assert_eq!(nr_free_all(&a), boot);
    });
}

/// More pagesets than one check can hold locked: the check says so instead of passing
/// without them.
#[test]
fn check_refuses_too_many_pagesets() {
    big_stack(|| {
        let m = two_small_nodes();
        let mut storage = m.map_storage();
        let (set, _) = m.boot(&mut storage, &mut Lines::default());
        let cpus = crate::MAX_CHECK_PAGESETS / 2 + 1;
        let pcp = boot_pagesets(&set, cpus);
        let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
        let a = PageAllocator::new(set, &refs);
        assert_eq!(a.check().unwrap_err().what, "more pagesets than one check can hold locked");
    });
}
