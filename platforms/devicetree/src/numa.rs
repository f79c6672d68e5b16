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
//! 3. `numa_init`: no node parsed → `No NUMA configuration found`; a memory region left
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
}

impl DtNuma {
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
                return DtNuma { nodes: 1, fallback: Some(NumaFallback::BadMemoryNode { nid: n }) };
            }
            Some(n) => parsed |= 1 << n,
            None => {}
        }
    }
    if parsed == 0 {
        return DtNuma { nodes: 1, fallback: Some(NumaFallback::NoConfig) };
    }
    if let Some(range) = first_region_without_node(info) {
        return DtNuma { nodes: 1, fallback: Some(NumaFallback::InvalidMemblk { range }) };
    }
    DtNuma { nodes: parsed, fallback: None }
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
