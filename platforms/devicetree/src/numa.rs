//! [`of_numa_init`]: which NUMA nodes a device tree describes, decided the way arm64 Linux 6.1
//! does (drivers/of/of_numa.c `of_numa_init`, drivers/base/arch_numa.c `numa_init`,
//! `numa_register_nodes` and `dummy_numa_init`).
//!
//! 1. `of_numa_parse_cpu_nodes`: every available CPU with a `numa-node-id` below
//!    [`MAX_NUMNODES`] marks its node parsed; a larger id is only reported
//!    (`OF: NUMA: Node id N exceeds maximum value`).
//! 2. `of_numa_parse_memory_nodes`: memory nodes without `numa-node-id` are skipped; the first
//!    with an id `>= MAX_NUMNODES` is reported (`OF: NUMA: Node id N exceeds maximum value`,
//!    then `OF: NUMA: bad property in memory node`) and fails the whole of `of_numa_init`;
//!    the others give their banks that node and mark it parsed.
//! 3. `of_numa_parse_distance_map_v1`, when the tree has a `numa-distance-map-v1` node:
//!    `OF: NUMA: parsing numa-distance-map-v1`; no `distance-matrix` (`No distance-matrix
//!    property in distance-map`), an empty one (`Invalid distance-matrix`) or an entry with a
//!    local distance other than 10 or a remote one not above it (`Invalid distance[nodeA ->
//!    nodeB] = D`) fails `of_numa_init`. Each entry sets `A -> B` and, when `B > A`, `B -> A`
//!    (`numa_set_distance`, which ignores ids `>= MAX_NUMNODES` and distances above 255 with a
//!    one-time `NUMA: Warning: …`); [`DtNuma::distance`] is the resulting `__node_distance`.
//! 4. `numa_init`: no node parsed → `No NUMA configuration found`; a memory region left
//!    without a node → `Warning: invalid memblk node N [mem …]` (`numa_register_nodes`). Each
//!    failure falls back to `dummy_numa_init`: one node, 0, holding all memory
//!    (`Faking a node at [mem …]`), and `numa_off`, so every CPU is on node 0.
//!
//! Lines of step 1 and 2 are printed here, at discovery; the `NUMA:` lines of step 3 need the
//! final memblock (after `mem=`), so the caller prints them when it sets the nodes up
//! ([`DtNuma::fallback`] says which).
use mm_types::{align_down, align_up, LineSink, MemRange, PAGE_SIZE};

use crate::discover::{Cpu, DtMemoryInfo, MemoryBank};

/// `MAX_NUMNODES` of arm64 Linux 6.1 (`CONFIG_NODES_SHIFT` 4): node ids `0..16`.
pub const MAX_NUMNODES: u32 = 16;

/// Why the device tree's NUMA description is not used (Linux falls back to one fake node).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumaFallback {
    /// No CPU and no memory node has a usable `numa-node-id` (`No NUMA configuration found`).
    NoConfig,
    /// A memory node's `numa-node-id` is `>= MAX_NUMNODES`: `of_numa_init` failed.
    BadMemoryNode {
        /// The id written.
        nid: u32,
    },
    /// The distance map is unusable: `of_numa_init` failed.
    BadDistanceMap,
    /// Nodes were parsed but this memory region got none (`numa_register_nodes`: `Warning:
    /// invalid memblk node …`, the node printed being `MAX_NUMNODES`, memblock's "none").
    InvalidMemblk {
        /// The region, page-aligned as memblock holds it.
        range: MemRange,
    },
}

/// The outcome of [`of_numa_init`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtNuma {
    /// `numa_nodes_parsed` when the description is used: bit `n` for node `n`. After a
    /// fallback, node 0 only.
    pub nodes: u32,
    /// `Some` when Linux falls back to `dummy_numa_init`.
    pub fallback: Option<NumaFallback>,
    /// `numa_distance[from][to]` (10/20 where the map sets nothing; all default after a
    /// fallback, whose table is a fresh one).
    distance: [[u8; MAX_NUMNODES as usize]; MAX_NUMNODES as usize],
}

/// The default table: `LOCAL_DISTANCE` 10 on the diagonal, `REMOTE_DISTANCE` 20 elsewhere.
const fn default_distances() -> [[u8; MAX_NUMNODES as usize]; MAX_NUMNODES as usize] {
    let mut t = [[20; MAX_NUMNODES as usize]; MAX_NUMNODES as usize];
    let mut i = 0;
    while i < MAX_NUMNODES as usize {
        t[i][i] = 10;
        i += 1;
    }
    t
}

impl DtNuma {
    fn fallback(why: NumaFallback) -> Self {
        Self { nodes: 1, fallback: Some(why), distance: default_distances() }
    }

    /// `__node_distance(from, to)`: the table, or 10/20 for ids outside it.
    pub fn distance(&self, from: i32, to: i32) -> u8 {
        match (usize::try_from(from), usize::try_from(to)) {
            (Ok(f), Ok(t)) if f < MAX_NUMNODES as usize && t < MAX_NUMNODES as usize => self.distance[f][t],
            _ if from == to => 10,
            _ => 20,
        }
    }

    /// Node `nid` is online (`node_possible`/`node_online` after `numa_init`).
    pub const fn is_online(&self, nid: u32) -> bool {
        nid < MAX_NUMNODES && self.nodes & (1 << nid) != 0
    }

    /// The node of a memory bank: its `numa-node-id` when the description is used, else 0.
    pub fn bank_nid(&self, bank: &MemoryBank<'_>) -> i32 {
        match (self.fallback, bank.numa_node_id) {
            (None, Some(n)) => n as i32,
            _ => 0,
        }
    }

    /// The node of a CPU (`of_node_to_nid`, then `early_map_cpu_to_node`): its `numa-node-id`
    /// if that node is online, else 0 (no id, an id `>= MAX_NUMNODES`, a node that is not
    /// possible, or `numa_off` after a fallback).
    pub fn cpu_nid(&self, cpu: &Cpu<'_>) -> i32 {
        match cpu.numa_node_id {
            Some(n) if self.fallback.is_none() && self.is_online(n) => n as i32,
            _ => 0,
        }
    }
}

/// Decides the NUMA nodes of `info` (module docs), printing the `OF: NUMA:` lines.
pub fn of_numa_init(info: &DtMemoryInfo<'_>, sink: &mut dyn LineSink) -> DtNuma {
    let exceeds = |sink: &mut dyn LineSink, nid: u32| sink.line(format_args!("OF: NUMA: Node id {nid} exceeds maximum value"));
    let mut parsed = 0u32;
    for cpu in info.cpus.iter().filter(|c| c.available) {
        match cpu.numa_node_id {
            Some(n) if n >= MAX_NUMNODES => exceeds(sink, n),
            Some(n) => parsed |= 1 << n,
            None => {}
        }
    }
    for bank in &info.banks {
        match bank.numa_node_id {
            Some(n) if n >= MAX_NUMNODES => {
                exceeds(sink, n);
                sink.line(format_args!("OF: NUMA: bad property in memory node"));
                return DtNuma::fallback(NumaFallback::BadMemoryNode { nid: n });
            }
            Some(n) => parsed |= 1 << n,
            None => {}
        }
    }
    let Some(distance) = parse_distance_map(info, sink) else {
        return DtNuma::fallback(NumaFallback::BadDistanceMap);
    };
    if parsed == 0 {
        return DtNuma::fallback(NumaFallback::NoConfig);
    }
    if let Some(range) = first_region_without_node(info) {
        return DtNuma::fallback(NumaFallback::InvalidMemblk { range });
    }
    DtNuma { nodes: parsed, fallback: None, distance }
}

/// `of_numa_parse_distance_map` + `numa_set_distance` (module docs, step 3); `None` when it
/// fails.
fn parse_distance_map(
    info: &DtMemoryInfo<'_>,
    sink: &mut dyn LineSink,
) -> Option<[[u8; MAX_NUMNODES as usize]; MAX_NUMNODES as usize]> {
    let mut table = default_distances();
    let Some(cells) = info.distance_map else { return Some(table) };
    sink.line(format_args!("OF: NUMA: parsing numa-distance-map-v1"));
    match cells {
        None => {
            sink.line(format_args!("OF: NUMA: No distance-matrix property in distance-map"));
            return None;
        }
        Some(0) => {
            sink.line(format_args!("OF: NUMA: Invalid distance-matrix"));
            return None;
        }
        Some(_) => {}
    }
    let (mut warned_bounds, mut warned_value) = (false, false);
    let mut set = |sink: &mut dyn LineSink, from: u32, to: u32, d: u32| {
        if from >= MAX_NUMNODES || to >= MAX_NUMNODES {
            if !core::mem::replace(&mut warned_bounds, true) {
                sink.line(format_args!("NUMA: Warning: node ids are out of bound, from={from} to={to} distance={d}"));
            }
        } else if d > 255 {
            if !core::mem::replace(&mut warned_value, true) {
                sink.line(format_args!("NUMA: Warning: invalid distance parameter, from={from} to={to} distance={d}"));
            }
        } else {
            table[from as usize][to as usize] = d as u8;
        }
    };
    for &(a, b, d) in &info.distances {
        if (a == b && d != 10) || (a != b && d <= 10) {
            sink.line(format_args!("OF: NUMA: Invalid distance[node{a} -> node{b}] = {d}"));
            return None;
        }
        set(sink, a, b, d);
        if b > a {
            set(sink, b, a, d);
        }
    }
    Some(table)
}

/// The lowest memblock region (page-aligned banks, adjacent ones merged as memblock merges
/// them) made of banks without `numa-node-id`, if any.
fn first_region_without_node(info: &DtMemoryInfo<'_>) -> Option<MemRange> {
    let aligned = |b: &MemoryBank<'_>| {
        let (s, e) = (align_up(b.range.base, PAGE_SIZE), align_down(b.range.base.saturating_add(b.range.size), PAGE_SIZE));
        (s < e).then_some((s, e))
    };
    let no_node = || info.banks.iter().filter(|b| b.numa_node_id.is_none()).filter_map(aligned);
    let (mut start, mut end) = no_node().min()?;
    // Grow across touching or overlapping banks without a node (memblock_add merges them).
    while let Some((s, e)) = no_node().filter(|&(s, e)| s <= end && e > end && s >= start).min() {
        end = e;
        start = start.min(s);
    }
    Some(MemRange::new(start, end - start))
}
