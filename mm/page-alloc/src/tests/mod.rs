//! Host tests: layouts from real machines (figures checked against Linux 6.1 boot logs and
//! derived by hand in the comments), exact buddy cases, error paths, fallback and stealing,
//! watermarks, reports, and a randomized test against a reference model.
//!
//! Pictures: one character per page or per block as labelled; `.` hole, `r` reserved,
//! `f` free, `A` allocated.
extern crate std;

mod buddy;
mod cma;
mod errors;
mod fallback;
mod holes;
mod layout;
mod model;
mod numa;
mod pcp;
mod reports;
mod watermark;

use std::string::String;
use std::vec;
use std::vec::Vec;

use core::fmt;
use memblock::{Memblock, Region, INIT_MEMBLOCK_REGIONS};
use mm_types::LineSink;

use crate::{free_area_init, ArchConfig, MemMap, Node, Page, ZoneType, MAX_NR_ZONES, MAX_ORDER_NR_PAGES};

pub(crate) const SZ_1M: u64 = 0x10_0000;
pub(crate) const SZ_1G: u64 = 0x4000_0000;

/// Collects report lines.
#[derive(Default)]
pub(crate) struct Lines(pub(crate) Vec<String>);

impl LineSink for Lines {
    fn line(&mut self, args: fmt::Arguments<'_>) {
        self.0.push(std::format!("{args}"));
    }
}

/// A machine description: memory and reserved ranges `[base, base + size)` in bytes, the
/// zone limits (pfns), the architecture.
pub(crate) struct Machine {
    pub(crate) config: ArchConfig,
    pub(crate) memory: Vec<(u64, u64)>,
    pub(crate) reserved: Vec<(u64, u64)>,
    pub(crate) max_zone_pfn: [u64; MAX_NR_ZONES],
}

impl Machine {
    /// A page array covering the memory, aligned to MAX_ORDER_NR_PAGES both ends (the way
    /// `alloc_node_mem_map` sizes FLATMEM's mem_map). Returns (pages, start_pfn).
    pub(crate) fn map_storage(&self) -> (Vec<Page>, u64) {
        let start = self.memory.iter().map(|m| m.0 >> 12).min().unwrap() & !(MAX_ORDER_NR_PAGES - 1);
        let end = self.memory.iter().map(|m| (m.0 + m.1) >> 12).max().unwrap().next_multiple_of(MAX_ORDER_NR_PAGES);
        (vec![Page::INIT; MemMap::storage_len((end - start) as usize)], start)
    }

    /// Runs `f` with this machine's memblock.
    pub(crate) fn with_memblock<R>(&self, f: impl FnOnce(&Memblock<'_>) -> R) -> R {
        let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut mb = Memblock::new(&mut mem, &mut res);
        for &(b, s) in &self.memory {
            mb.add(b, s).unwrap();
        }
        for &(b, s) in &self.reserved {
            mb.reserve(b, s).unwrap();
        }
        f(&mb)
    }

    /// free_area_init over `pages`, logging to `log`.
    pub(crate) fn init<'a>(&self, pages: &'a mut [Page], start_pfn: u64, log: &mut Lines) -> Node<'a> {
        self.with_memblock(|mb| {
            free_area_init(self.config, 0, self.max_zone_pfn, mb, MemMap::new(pages, start_pfn), log).unwrap()
        })
    }

    /// free_area_init + memblock_free_all + init_per_zone_wmark_min; returns the pages freed.
    pub(crate) fn boot<'a>(&self, pages: &'a mut [Page], start_pfn: u64, log: &mut Lines) -> (Node<'a>, u64) {
        let mut node = self.init(pages, start_pfn, log);
        let freed = self.with_memblock(|mb| node.memblock_free_all(mb));
        node.init_per_zone_wmark_min();
        (node, freed)
    }
}

/// max_zone_pfn[] from (zone, limit) pairs; other zones 0.
/// `NODE_DATA` storage for node `nid` (leaked: lives as long as the test).
pub(crate) fn node_data<'a>(config: ArchConfig, nid: i32) -> &'a mut Node<'a> {
    std::boxed::Box::leak(std::boxed::Box::new(Node::memoryless(config, nid)))
}

pub(crate) fn zone_limits(limits: &[(ZoneType, u64)]) -> [u64; MAX_NR_ZONES] {
    let mut m = [0; MAX_NR_ZONES];
    for &(z, l) in limits {
        m[z as usize] = l;
    }
    m
}

/// The 128 MiB QEMU PC (i386): e820 RAM [0x1000, 0x9f000) and [0x100000, 0x7fe0000); the
/// BIOS page and the kernel image with boot data reserved. max_low_pfn = max_pfn = 0x7fe0.
pub(crate) fn pc128(config: ArchConfig) -> Machine {
    Machine {
        config,
        memory: vec![(0x1000, 0x9e000), (0x10_0000, 0x7ee_0000)],
        reserved: vec![(0, 0x1000), (0x9f000, 0x124038 - 0x9f000)],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, 0x1000), (ZoneType::Normal, 0x7fe0), (ZoneType::HighMem, 0x7fe0)]),
    }
}

/// nr_free of every order of zone `z`.
pub(crate) fn nr_free(node: &Node<'_>, z: ZoneType) -> [u64; 11] {
    core::array::from_fn(|o| node.zone(z).free_area()[o].nr_free)
}
