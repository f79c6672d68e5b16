//! NUMA: per-node layout from memblock node ids, zonelists (`find_next_best_node`), and the
//! zonelist walk preferring a node.
use super::*;
use crate::{build_all_zonelists, region_nid, Gfp, NodeSet, Pfn, MAX_NODES};
use std::string::ToString;
use memblock::RegionFlags;

/// A NUMA machine: memory `(base, size, nid)` in bytes, reserved ranges, zone limits.
pub(crate) struct NumaMachine {
    pub(crate) config: ArchConfig,
    pub(crate) memory: Vec<(u64, u64, i32)>,
    pub(crate) reserved: Vec<(u64, u64)>,
    pub(crate) max_zone_pfn: [u64; MAX_NR_ZONES],
}

impl NumaMachine {
    pub(crate) fn with_memblock<R>(&self, f: impl FnOnce(&Memblock<'_>) -> R) -> R {
        let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut mb = Memblock::new(&mut mem, &mut res);
        for &(b, s, nid) in &self.memory {
            mb.add_node(b, s, nid, RegionFlags::NONE).unwrap();
        }
        for &(b, s) in &self.reserved {
            mb.reserve(b, s).unwrap();
        }
        f(&mb)
    }

    /// One page array per node, sized by `node_map_pfn_range` (empty for nodes without memory).
    pub(crate) fn map_storage(&self) -> Vec<(Vec<Page>, u64)> {
        self.with_memblock(|mb| {
            (0..MAX_NODES as i32)
                .map(|nid| match crate::node_map_pfn_range(mb, nid) {
                    Some((s, e)) => (vec![Page::INIT; MemMap::storage_len((e - s) as usize)], s),
                    None => (Vec::new(), 0),
                })
                .collect()
        })
    }

    /// The nodes with memory.
    pub(crate) fn memory_nodes(&self) -> Vec<i32> {
        (0..MAX_NODES as i32).filter(|&n| self.memory.iter().any(|m| m.2 == n)).collect()
    }

    /// `free_area_init` over all nodes with memory (all of them online).
    pub(crate) fn init<'a>(&self, storage: &'a mut [(Vec<Page>, u64)], log: &mut Lines) -> NodeSet<'a> {
        self.init_online(storage, &self.memory_nodes(), log)
    }

    /// `free_area_init` with the nodes `online` online (memoryless ones among them).
    pub(crate) fn init_online<'a>(&self, storage: &'a mut [(Vec<Page>, u64)], online: &[i32], log: &mut Lines) -> NodeSet<'a> {
        let mut maps: [Option<MemMap<'a>>; MAX_NODES] = core::array::from_fn(|_| None);
        for (nid, (pages, start)) in storage.iter_mut().enumerate() {
            if !pages.is_empty() {
                maps[nid] = Some(MemMap::new(pages, *start));
            }
        }
        let mut data: [Option<&'a mut crate::Node<'a>>; MAX_NODES] = core::array::from_fn(|_| None);
        for &nid in online {
            data[nid as usize] = Some(node_data(self.config, nid));
        }
        self.with_memblock(|mb| NodeSet::free_area_init(self.config, self.max_zone_pfn, mb, data, maps, log).unwrap())
    }

    /// init + memblock_free_all + watermarks + zonelists (default distances); pages freed.
    pub(crate) fn boot<'a>(&self, storage: &'a mut [(Vec<Page>, u64)], log: &mut Lines) -> (NodeSet<'a>, u64) {
        let mut set = self.init(storage, log);
        let freed = self.with_memblock(|mb| set.memblock_free_all(mb));
        set.init_per_zone_wmark_min();
        build_all_zonelists(&mut set, &crate::numa::default_distance, log);
        (set, freed)
    }
}

/// QEMU virt (arm64) with `-m 2G -numa node,mem=1G -numa node,mem=1G`: RAM at 1 GiB, node 0
/// `[1G, 2G)`, node 1 `[2G, 3G)`; the kernel reserved at 1G + 2M. arm64 6.1 zone limits:
/// `max_zone_phys(32)` = min(4G, end of DRAM) = 3G for DMA and DMA32, Normal = max_pfn.
fn qemu_2g_two_nodes() -> NumaMachine {
    let end = (3 * SZ_1G) >> 12;
    NumaMachine {
        config: ArchConfig::ARM64_4K,
        memory: vec![(SZ_1G, SZ_1G, 0), (2 * SZ_1G, SZ_1G, 1)],
        reserved: vec![(SZ_1G + 2 * SZ_1M, 24 * SZ_1M)],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, end), (ZoneType::Dma32, end), (ZoneType::Normal, end)]),
    }
}

/// ```text
/// pfn 0x40000          0x80000          0xc0000
///     | node 0 (DMA)   | node 1 (DMA)   |
/// ```
/// Expect: Linux's lines with both nodes' ranges, one `Initmem setup` line per node, no
/// hole lines (the holes below 1G are in sections without memory); each node spans 1G of
/// DMA; zonelists `0 1` and `1 0`; before the hand-off `Total pages` is the
/// `free_area_init_core` estimate: per node 262144 present - 262144 * 64 / 4096 = 4096
/// memmap pages = 258048, two nodes 516096.
#[test]
fn qemu_2g_two_nodes_layout_and_zonelists() {
    let m = qemu_2g_two_nodes();
    let mut storage = m.map_storage();
    assert_eq!((storage[0].1, storage[0].0.len()), (0x40000, MemMap::storage_len(0x40000)));
    assert_eq!((storage[1].1, storage[1].0.len()), (0x80000, MemMap::storage_len(0x40000)));
    let mut log = Lines::default();
    let mut set = m.init(&mut storage, &mut log);
    build_all_zonelists(&mut set, &crate::numa::default_distance, &mut log);
    assert_eq!(
        log.0,
        [
            "Zone ranges:",
            "  DMA      [mem 0x0000000040000000-0x00000000bfffffff]",
            "  DMA32    empty",
            "  Normal   empty",
            "Movable zone start for each node",
            "Early memory node ranges",
            "  node   0: [mem 0x0000000040000000-0x000000007fffffff]",
            "  node   1: [mem 0x0000000080000000-0x00000000bfffffff]",
            "Initmem setup node 0 [mem 0x0000000040000000-0x000000007fffffff]",
            "Initmem setup node 1 [mem 0x0000000080000000-0x00000000bfffffff]",
            "Fallback order for Node 0: 0 1 ",
            "Fallback order for Node 1: 1 0 ",
            "Built 2 zonelists, mobility grouping on.  Total pages: 516096",
            "Policy zone: DMA",
        ]
    );
    for (nid, start) in [(0, 0x40000), (1, 0x80000)] {
        let node = set.node(nid).unwrap();
        assert_eq!((node.node_start_pfn, node.node_spanned_pages, node.node_present_pages), (start, 0x40000, 0x40000));
        let dma = node.zone(ZoneType::Dma);
        assert_eq!((dma.nid, dma.zone_start_pfn, dma.spanned_pages, dma.present_pages), (nid, start, 0x40000, 0x40000));
        assert!(!node.zone(ZoneType::Normal).populated());
    }
    assert_eq!(set.zonelist(0).as_slice(), [(0, ZoneType::Dma), (1, ZoneType::Dma)]);
    assert_eq!(set.zonelist(1).as_slice(), [(1, ZoneType::Dma), (0, ZoneType::Dma)]);
    // The hand-off: node 0 keeps the 24 MiB kernel reserved.
    let freed = m.with_memblock(|mb| set.memblock_free_all(mb));
    assert_eq!(freed, 2 * 0x40000 - 24 * 256);
    assert_eq!(set.node(0).unwrap().totalram_pages(), 0x40000 - 24 * 256);
    assert_eq!(set.node(1).unwrap().totalram_pages(), 0x40000);
    set.check().unwrap();
    let mut bi = Lines::default();
    set.buddyinfo(&mut bi);
    assert_eq!(bi.0.len(), 2);
    assert!(bi.0[0].starts_with("Node 0, zone      DMA "), "{}", bi.0[0]);
    assert!(bi.0[1].starts_with("Node 1, zone      DMA "), "{}", bi.0[1]);
}

/// A 4G machine split unevenly across the 4G DMA limit: node 0 `[1G, 2G)`, node 1
/// `[2G, 5G)`.
///
/// ```text
/// pfn 0x40000    0x80000              0x100000        0x140000
///     | n0 DMA   | n1 DMA             | n1 Normal     |
/// ```
/// Expect: node 1 has DMA `[0x80000, 0x100000)` and Normal `[0x100000, 0x140000)`; zonelist of
/// node 0: its DMA, then node 1's Normal and DMA; of node 1: Normal, DMA, then node 0's DMA.
#[test]
fn uneven_split_gives_per_node_zones() {
    let m = NumaMachine {
        config: ArchConfig::ARM64_4K,
        memory: vec![(SZ_1G, SZ_1G, 0), (2 * SZ_1G, 3 * SZ_1G, 1)],
        reserved: vec![],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, 0x100000), (ZoneType::Dma32, 0x100000), (ZoneType::Normal, 0x140000)]),
    };
    let mut storage = m.map_storage();
    let (set, freed) = m.boot(&mut storage, &mut Lines::default());
    assert_eq!(freed, 0x100000);
    let n1 = set.node(1).unwrap();
    let (dma, normal) = (n1.zone(ZoneType::Dma), n1.zone(ZoneType::Normal));
    assert_eq!((dma.zone_start_pfn, dma.spanned_pages), (0x80000, 0x80000));
    assert_eq!((normal.zone_start_pfn, normal.spanned_pages), (0x100000, 0x40000));
    let n0 = set.node(0).unwrap();
    assert_eq!((n0.zone(ZoneType::Dma).spanned_pages, n0.zone(ZoneType::Normal).spanned_pages), (0x40000, 0));
    assert_eq!(set.zonelist(0).as_slice(), [(0, ZoneType::Dma), (1, ZoneType::Normal), (1, ZoneType::Dma)]);
    assert_eq!(set.zonelist(1).as_slice(), [(1, ZoneType::Normal), (1, ZoneType::Dma), (0, ZoneType::Dma)]);
    // The zones with pagesets, from memblock before the nodes existed, equal the populated ones.
    let before = m.with_memblock(|mb| crate::populated_zones(&m.config, m.max_zone_pfn, mb));
    assert_eq!(before.as_slice(), [(0, ZoneType::Dma), (1, ZoneType::Dma), (1, ZoneType::Normal)]);
    assert_eq!(set.populated_zones().collect::<Vec<_>>(), before.as_slice());
    // check_highest_zone: Normal is populated (on node 1), so it is the policy zone.
    assert_eq!(set.policy_zone(), ZoneType::Normal);
    set.check().unwrap();
}

/// Memory without a node (memblock's MAX_NUMNODES) is node 0.
#[test]
fn regions_without_node_are_node_0() {
    let r = Region { base: 0, size: 4096, nid: memblock::MAX_NUMNODES, flags: RegionFlags::NONE };
    assert_eq!(region_nid(&r), 0);
    assert_eq!(region_nid(&Region { nid: 2, ..r }), 2);
}

/// Allocation prefers the given node and falls back to the other once it is down to its
/// watermark; frees go back to the pfn's node.
#[test]
fn alloc_prefers_node_then_falls_back() {
    let m = qemu_2g_two_nodes();
    let mut storage = m.map_storage();
    let (set, freed) = m.boot(&mut storage, &mut Lines::default());
    let in_node = |p: u64, nid: i32| set_span(nid).contains(&p);
    fn set_span(nid: i32) -> core::ops::Range<u64> {
        let s = 0x40000 * (nid as u64 + 1);
        s..s + 0x40000
    }
    let mut blocks = Vec::new();
    // Order-10 blocks preferring node 1 come from node 1 until it reaches its low watermark.
    loop {
        let p = set.alloc_pages(1, Gfp::KERNEL, 10).unwrap();
        blocks.push(p);
        if !in_node(p.0, 1) {
            assert!(in_node(p.0, 0));
            break;
        }
        assert_eq!(set.pfn_to_nid(p.0), Some(1));
    }
    let n1 = set.node(1).unwrap().zone(ZoneType::Dma);
    assert!(n1.free_pages() < n1.low_wmark_pages() + 1024 + 1, "node 1 not exhausted: {}", n1.free_pages());
    // Node 0 preferred: node 0.
    let p = set.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    assert!(in_node(p.0, 0));
    blocks.push(p);
    set.check().unwrap();
    for (i, b) in blocks.iter().enumerate() {
        let order = if i + 1 == blocks.len() { 0 } else { 10 };
        set.free_pages(*b, order).unwrap();
    }
    assert_eq!(set.nr_free_pages(), freed);
    assert!(set.free_pages(Pfn(0x10), 0).is_err());
    set.check().unwrap();
}

/// `find_next_best_node` with three nodes, derived in the comments from 6.1's formula
/// `val = (distance + (n < local) + 1 [node has CPUs]) * 16 + node_load[n]` (16: arm64's
/// `MAX_NUMNODES`), `node_load`
/// bumped for the first node of each new distance group, shared across the lists.
#[test]
fn zonelist_order_three_nodes() {
    // Three 64 MiB nodes.
    let m = NumaMachine {
        config: ArchConfig::ARM64_4K,
        memory: vec![(SZ_1G, 64 * SZ_1M, 0), (SZ_1G + 64 * SZ_1M, 64 * SZ_1M, 1), (SZ_1G + 128 * SZ_1M, 64 * SZ_1M, 2)],
        reserved: vec![],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, 0x4c000), (ZoneType::Dma32, 0x4c000), (ZoneType::Normal, 0x4c000)]),
    };
    let orders = |dist: [[u8; 3]; 3], cpus: &dyn Fn(i32) -> bool| {
        let mut storage = m.map_storage();
        let mut set = m.init(&mut storage, &mut Lines::default());
        let mut log = Lines::default();
        set.build_all_zonelists_with_cpus(&|a, b| dist[a as usize][b as usize], cpus, &mut log);
        let o: Vec<Vec<i32>> = (0..3).map(|n| set.fallback_order(n).to_vec()).collect();
        (o, log.0)
    };
    // Uniform 10/20: node 0: 1 and 2 tie at (20+0+1)*16 = 336, 1 wins (first), load[1] = 1.
    // node 1: 0 = (20+1+1)*16 = 352, 2 = 336 -> 2, load[2] = 1. node 2: 0 = 352,
    // 1 = 352 + 1 -> 0. Round-robin.
    let uniform = [[10, 20, 20], [20, 10, 20], [20, 20, 10]];
    let (o, log) = orders(uniform, &|_| true);
    assert_eq!(o, [vec![0, 1, 2], vec![1, 2, 0], vec![2, 0, 1]]);
    assert_eq!(
        log,
        [
            "Fallback order for Node 0: 0 1 2 ",
            "Fallback order for Node 1: 1 2 0 ",
            "Fallback order for Node 2: 2 0 1 ",
            "Built 3 zonelists, mobility grouping on.  Total pages: 48384",
            "Policy zone: DMA",
        ]
    );
    // A line 0 - 1 - 2: node 0: 1 (16*16) before 2 (21*16); load[1] = 1, load[2] = 1.
    // node 1: 0 = 17*16 = 272, 2 = 16*16 + 1 = 257 -> 2 (load[2] = 2), then 0 (same
    // distance, no bump). node 2: 0 = 22*16 = 352, 1 = 17*16 + 1 = 273 -> 1, then 0.
    let line = [[10, 15, 20], [15, 10, 15], [20, 15, 10]];
    assert_eq!(orders(line, &|_| true).0, [vec![0, 1, 2], vec![1, 2, 0], vec![2, 1, 0]]);
    // Node 2 headless (no CPU penalty): node 0: 2 = 20*16 = 320 < 1 = 336 -> 2 first.
    // node 1: 2 = 320 + 1 < 0 = 352 -> 2. node 2: 0 = 352, 1 = 352 -> 0.
    assert_eq!(orders(uniform, &|n| n != 2).0, [vec![0, 2, 1], vec![1, 2, 0], vec![2, 0, 1]]);
    // Total pages above: each node 16384 present - 16384 * 64 / 4096 = 256 -> 16128, x3.
}

/// Linux 6.1's `Total pages` for a one-node x86-32 machine, computed from the RAM ranges and
/// zone limits alone: per zone, spanned = `[max(first RAM pfn, zone start), min(last RAM pfn,
/// zone end))`, present = RAM pfns inside it; lowmem zones lose `calc_memmap_size` (FLATMEM:
/// `PAGE_ALIGN(spanned * sizeof(struct page)) >> PAGE_SHIFT`, with Debian i386's 40-byte
/// `struct page`); HighMem keeps all present pages; the watermarks are still 0 when
/// `build_all_zonelists` prints (`init_per_zone_wmark_min` is a later initcall).
fn linux_total_pages_x86_32(ram: &[(u64, u64)], zone_ends: &[(u64, bool)]) -> u64 {
    const SIZEOF_STRUCT_PAGE: u64 = 40;
    let pfns: Vec<(u64, u64)> = ram.iter().map(|&(b, s)| (b.div_ceil(4096), (b + s) / 4096)).collect();
    let (first, last) = (pfns.iter().map(|r| r.0).min().unwrap(), pfns.iter().map(|r| r.1).max().unwrap());
    let mut zone_start = 0;
    let mut total = 0;
    for &(zone_end, highmem) in zone_ends {
        let (s, e) = (zone_start.max(first), zone_end.min(last));
        zone_start = zone_end;
        if s >= e {
            continue;
        }
        let spanned = e - s;
        let present: u64 = pfns.iter().map(|&(a, b)| b.min(e).saturating_sub(a.max(s))).sum();
        let memmap = (spanned * SIZEOF_STRUCT_PAGE).div_ceil(4096);
        total += if highmem || present < memmap { present } else { present - memmap };
    }
    total
}

/// ```text
/// pfn 1      0x9f  0x100         0x1000                       0x7fe0
///     |RAM    |     |RAM          |RAM (Normal)                |
///     |DMA (spanned 4095)         |
/// ```
/// Expect Linux 6.1 i386 (Debian `686`) `Total pages`: DMA 3998 present - 40 memmap pages
/// (4095 * 40 bytes) = 3958; Normal 28640 - 280 (28640 * 40 bytes) = 28360; 32318 in all.
/// And for 3 GiB: Normal `[0x1000, 0x377fe)` 223230 - 2180 = 221050, HighMem 559074 whole:
/// 3958 + 221050 + 559074 = 784082.
#[test]
fn x86_32_total_pages_is_linux_figure() {
    let pc = |ram_end: u64, max_low_pfn: u64| NumaMachine {
        config: ArchConfig::X86_32,
        memory: vec![(0x1000, 0x9e000, 0), (0x10_0000, ram_end - 0x10_0000, 0)],
        reserved: vec![(0, 0x1000)],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, 0x1000), (ZoneType::Normal, max_low_pfn), (ZoneType::HighMem, ram_end >> 12)]),
    };
    for (ram_end, max_low_pfn, by_hand) in [(0x7fe_0000u64, 0x7fe0u64, 32_318u64), (0xbffe_0000, 0x377fe, 784_082)] {
        let m = pc(ram_end, max_low_pfn);
        let ram: Vec<(u64, u64)> = m.memory.iter().map(|&(b, s, _)| (b, s)).collect();
        let want = linux_total_pages_x86_32(&ram, &[(0x1000, false), (max_low_pfn, false), (ram_end >> 12, true)]);
        assert_eq!(want, by_hand, "the formula and the hand derivation agree");
        let mut storage = m.map_storage();
        let mut log = Lines::default();
        let mut set = m.init(&mut storage, &mut log);
        build_all_zonelists(&mut set, &crate::numa::default_distance, &mut log);
        let line = std::format!("Built 1 zonelists, mobility grouping on.  Total pages: {want}");
        assert!(log.0.contains(&line), "{line:?} not in {:#?}", log.0);
    }
}

/// QEMU virt `-m 1G -smp 4 -numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,cpus=2-3`:
/// node 0 `[1G, 2G)`, node 1 online with CPUs and no memory.
///
/// ```text
/// pfn 0x40000          0x80000
///     | node 0 (DMA)   |          node 1: no memory
/// ```
/// Expect (6.1 `free_area_init_node`, `build_zonelists`): node 1 is set up as memoryless and
/// counted in `Built 2 zonelists`; its fallback order starts with itself (the local node is
/// taken before the `N_MEMORY` walk) and then node 0, whose zones make up its zonelist; node
/// 0's order is only itself (node 1 has no memory to fall back to). `Total pages` is node 0's
/// estimate alone: 262144 present - 262144 * 64 / 4096 memmap pages.
#[test]
fn memoryless_node_falls_back_to_node_0() {
    let end = (2 * SZ_1G) >> 12;
    let m = NumaMachine {
        config: ArchConfig::ARM64_4K,
        memory: vec![(SZ_1G, SZ_1G, 0)],
        reserved: vec![(SZ_1G + 2 * SZ_1M, 24 * SZ_1M)],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, end), (ZoneType::Dma32, end), (ZoneType::Normal, end)]),
    };
    let mut storage = m.map_storage();
    let mut log = Lines::default();
    let mut set = m.init_online(&mut storage, &[0, 1], &mut log);
    build_all_zonelists(&mut set, &crate::numa::default_distance, &mut log);
    let present = SZ_1G >> 12;
    let estimate = present - present * 64 / 4096;
    assert_eq!(
        log.0[7..],
        [
            "Initmem setup node 0 [mem 0x0000000040000000-0x000000007fffffff]".to_string(),
            "Initmem setup node 1 as memoryless".to_string(),
            "Fallback order for Node 0: 0 ".to_string(),
            "Fallback order for Node 1: 1 0 ".to_string(),
            std::format!("Built 2 zonelists, mobility grouping on.  Total pages: {estimate}"),
            "Policy zone: DMA".to_string(),
        ]
    );
    assert_eq!(set.nr_online_nodes(), 2);
    let n1 = set.node(1).unwrap();
    assert!(!n1.has_memory());
    assert_eq!((n1.node_spanned_pages, n1.mem_map().start_pfn(), n1.mem_map().end_pfn()), (0, 0, 0));
    assert_eq!(set.zonelist(1).as_slice(), [(0, ZoneType::Dma)]);
    assert_eq!(set.zonelist(0).as_slice(), [(0, ZoneType::Dma)]);
    // Per-CPU pagesets: the populated zones, known before and after free_area_init.
    let before = m.with_memblock(|mb| crate::populated_zones(&m.config, m.max_zone_pfn, mb));
    assert_eq!(set.populated_zones().collect::<Vec<_>>(), [(0, ZoneType::Dma)]);
    assert_eq!(before.as_slice(), [(0, ZoneType::Dma)]);
    // A CPU of node 1 allocates from node 0; everything goes back.
    let freed = m.with_memblock(|mb| set.memblock_free_all(mb));
    assert_eq!(freed, present - 24 * 256);
    set.init_per_zone_wmark_min();
    let p = set.alloc_pages(1, Gfp::KERNEL, 3).unwrap();
    assert_eq!(set.pfn_to_nid(p.0), Some(0));
    set.free_pages(p, 3).unwrap();
    assert_eq!(set.nr_free_pages(), freed);
    set.check().unwrap();
}

/// Memory on a node that is not online (no `NODE_DATA` given) is refused, as are node ids at
/// or above `MAX_NODES` (16, arm64's `MAX_NUMNODES`).
#[test]
fn memory_on_offline_or_too_large_node_is_refused() {
    let limits = zone_limits(&[(ZoneType::Dma, 0x50000), (ZoneType::Dma32, 0x50000), (ZoneType::Normal, 0x50000)]);
    let m = NumaMachine {
        config: ArchConfig::ARM64_4K,
        memory: vec![(SZ_1G, 128 * SZ_1M, 0), (SZ_1G + 128 * SZ_1M, 128 * SZ_1M, 1)],
        reserved: vec![],
        max_zone_pfn: limits,
    };
    let mut storage = m.map_storage();
    let mut maps: [Option<MemMap<'_>>; MAX_NODES] = core::array::from_fn(|_| None);
    for (nid, (pages, start)) in storage.iter_mut().enumerate() {
        if !pages.is_empty() {
            maps[nid] = Some(MemMap::new(pages, *start));
        }
    }
    let mut data: [Option<&mut crate::Node<'_>>; MAX_NODES] = core::array::from_fn(|_| None);
    data[0] = Some(node_data(m.config, 0));
    let r = m.with_memblock(|mb| NodeSet::free_area_init(m.config, limits, mb, data, maps, &mut Lines::default()).map(|_| ()));
    assert_eq!(r.unwrap_err(), crate::InitError::NotOnline { nid: 1 });
    let m = NumaMachine { memory: vec![(SZ_1G, 128 * SZ_1M, MAX_NODES as i32)], ..m };
    let r = m.with_memblock(|mb| {
        let data = core::array::from_fn(|_| None);
        NodeSet::free_area_init(m.config, limits, mb, data, core::array::from_fn(|_| None), &mut Lines::default()).map(|_| ())
    });
    let e = r.unwrap_err();
    assert_eq!(e, crate::InitError::BadNid { nid: 16 });
    assert_eq!(std::format!("{e}"), "free_area_init: node 16 >= MAX_NODES (16)");
}

/// Five 256 MiB nodes (more than the old limit of 4), uniform 10/20 distances, CPUs on every
/// node. Orders worked by hand from `val = (20 + (n < local) + 1) * 16 + node_load[n]`:
/// node 0 takes 1 (336, first of the group: load[1] = 1), then 2, 3, 4; node 1: 0 costs 352,
/// 2 costs 336 -> 2 (load[2] = 1), 3, 4, then 0; node 2: 3 (336, load[3] = 1), 4, then 0 (352)
/// before 1 (352 + 1); node 3: 4 (load[4] = 1), then 0, 1, 2 (1 and 2 tie at 353, lower
/// first); node 4: 0 (352, load[0] = 1), 1, 2, 3. Each node is its own DMA zone.
#[test]
fn five_nodes() {
    let end = (SZ_1G + 5 * 256 * SZ_1M) >> 12;
    let m = NumaMachine {
        config: ArchConfig::ARM64_4K,
        memory: (0..5).map(|n| (SZ_1G + n as u64 * 256 * SZ_1M, 256 * SZ_1M, n)).collect(),
        reserved: vec![],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, end), (ZoneType::Dma32, end), (ZoneType::Normal, end)]),
    };
    let mut storage = m.map_storage();
    let mut log = Lines::default();
    let (set, freed) = m.boot(&mut storage, &mut log);
    assert_eq!(freed, 5 * 65536);
    let orders: Vec<Vec<i32>> = (0..5).map(|n| set.fallback_order(n).to_vec()).collect();
    assert_eq!(orders, [vec![0, 1, 2, 3, 4], vec![1, 2, 3, 4, 0], vec![2, 3, 4, 0, 1], vec![3, 4, 0, 1, 2], vec![4, 0, 1, 2, 3]]);
    assert!(log.0.iter().any(|l| l.starts_with("Built 5 zonelists, mobility grouping on.  Total pages: ")));
    assert_eq!(set.nr_online_nodes(), 5);
    assert_eq!(set.populated_zones().count(), 5);
    set.check().unwrap();
}

/// A non-NUMA build (x86-32, `ArchConfig::numa` false) prints neither `Fallback order` nor
/// `Policy zone`; `Built 1 zonelists` stays.
#[test]
fn no_numa_lines_without_config_numa() {
    let m = pc128(ArchConfig::X86_32);
    let nm = NumaMachine {
        config: m.config,
        memory: m.memory.iter().map(|&(b, s)| (b, s, 0)).collect(),
        reserved: m.reserved.clone(),
        max_zone_pfn: m.max_zone_pfn,
    };
    let mut storage = nm.map_storage();
    let mut log = Lines::default();
    let _ = nm.boot(&mut storage, &mut log);
    assert!(log.0.iter().all(|l| !l.starts_with("Fallback order") && !l.starts_with("Policy zone")), "{:?}", log.0);
    assert!(log.0.iter().any(|l| l.starts_with("Built 1 zonelists, mobility grouping on.  Total pages: ")));
}
