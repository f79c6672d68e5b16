//! Per-CPU pagesets: 6.1's batch/high figures, the boot pageset, simulated CPUs against a
//! reference model, and real threads on the facade.
use std::collections::{BTreeMap, BTreeSet};

use super::numa::NumaMachine;
use super::*;
use crate::{
    zone_batchsize, zone_highsize, NodeSet, PerCpuPages, PerCpuPagesets, Gfp, Migratetype, PageAllocator, Pfn, Zone, MAX_NODES, PCP_MAX_HIGH,
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
    a.with_nodes(|s| s.nodes().flat_map(|n| n.zones().iter().map(|z| core::array::from_fn(|o| z.free_area[o].nr_free))).collect())
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

/// Runs `f` on a thread with a big stack (the allocator holds 80 pagesets of ~8.7 KiB).
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
        assert_eq!(a.with_nodes(|s| s.nr_pcp_pages()), 0);
        a.free_pages(1, p, 0).unwrap();
        assert_eq!(a.with_nodes(|s| (s.nr_pcp_pages(), s.nr_free_pages())), (0, freed));
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
        assert!(high0 <= PCP_MAX_HIGH);
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
                a.for_each_pcp_page(&mut |_, _, _, _, p| {
                    assert!(listed.insert(p.0), "step {step}: pfn {:#x} on two lists", p.0);
                    assert!(!owned_pages.contains(&p.0), "step {step}: owned pfn {:#x} on a list", p.0);
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
