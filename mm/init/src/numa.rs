//! `arch_numa_init` (drivers/base/arch_numa.c, Linux 6.1): which nodes are online, and each
//! online node's `pg_data_t` (`NODE_DATA`) allocated from memblock on the node itself.
//!
//! The firmware describes the nodes ([`FirmwareNuma`]: the device tree's `numa-node-id`s, see
//! `devicetree::of_numa_init`); memblock already carries each region's node. Then, as
//! `numa_init` does:
//! - a failed description falls back to `dummy_numa_init`: `NUMA: No NUMA configuration found`
//!   (only when no node was parsed) or `NUMA: Warning: invalid memblk node N [mem …]` (a
//!   region without a node), then `NUMA: Faking a node at [mem A-B]` over
//!   `[memblock_start_of_DRAM, memblock_end_of_DRAM)`, `%pap`-formatted (arm64 `phys_addr_t`
//!   is 64-bit: 16 hex digits); node 0 is the only node;
//! - `numa_register_nodes` → `setup_node_data` for every online node in nid order: a node
//!   without memory first says `NUMA: Initmem setup node N [<memory-less node>]`; the node's
//!   data (`sizeof(pg_data_t)` rounded up to `SMP_CACHE_BYTES`; here the size of a
//!   [`page_alloc::Node`]) is allocated with `memblock_phys_alloc_try_nid` (on the node, else
//!   anywhere) and reported as `NUMA: NODE_DATA [mem %#010Lx-%#010Lx]`, plus
//!   `NUMA: NODE_DATA(N) on node M` when it did not land on its node (`early_pfn_to_nid`).
//!
//! Only NUMA builds ([`page_alloc::ArchConfig::numa`]) run this; a non-NUMA build has one
//! static node 0 (`contig_page_data`) and prints none of these lines.
use memblock::{Memblock, ALLOC_ACCESSIBLE, SMP_CACHE_BYTES};
use mm_types::{LineSink, PAGE_SHIFT};
use page_alloc::{node_pfn_range, region_nid, Node, MAX_NODES};

use crate::PlatformError;

/// Why the firmware's NUMA description is not used (`dummy_numa_init` follows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumaFallback {
    /// No node was parsed: `No NUMA configuration found`.
    NoConfig,
    /// The firmware parser failed (it printed why).
    InitFailed,
    /// A memory region has no node (`numa_register_nodes`); `nid` is what the region holds
    /// (`MAX_NUMNODES`), `[base, end)` the region.
    InvalidMemblk {
        /// The node id printed.
        nid: u32,
        /// First byte of the region.
        base: u64,
        /// One past the last byte.
        end: u64,
    },
}

/// What the firmware says about NUMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirmwareNuma {
    /// These nodes (bit `n` = node `n`, `numa_nodes_parsed`); memblock regions carry them.
    Nodes(u32),
    /// Fall back to one fake node 0.
    Fallback(NumaFallback),
}

/// Bytes of one node's data: `sizeof(pg_data_t)` rounded up to `SMP_CACHE_BYTES`.
pub const fn node_data_bytes() -> u64 {
    (core::mem::size_of::<Node<'static>>() as u64).next_multiple_of(SMP_CACHE_BYTES)
}

/// `early_pfn_to_nid`: the node of the memblock region holding `pfn` (0 if none).
fn early_pfn_to_nid(mb: &Memblock<'_>, pfn: u64) -> i32 {
    let addr = pfn << PAGE_SHIFT;
    mb.memory().iter().find(|r| r.base <= addr && addr < r.end()).map_or(0, region_nid)
}

/// Runs `numa_init` for `fw` (module docs) and allocates every online node's data. Returns the
/// physical address of each online node's data (`None` for nodes that are not online).
///
/// # Errors
/// [`PlatformError::Memblock`] when memblock has no room for a node's data (Linux panics),
/// [`PlatformError::BadFirmwareData`] when a described node is `>= MAX_NODES`.
pub fn arch_numa_init(
    fw: FirmwareNuma,
    mb: &mut Memblock<'_>,
    log: &mut dyn LineSink,
) -> Result<[Option<u64>; MAX_NODES], PlatformError> {
    let online = match fw {
        FirmwareNuma::Nodes(mask) => {
            if (MAX_NODES..32).any(|n| mask & (1 << n) != 0) {
                return Err(PlatformError::BadFirmwareData("a NUMA node id is not below MAX_NUMNODES"));
            }
            mask
        }
        FirmwareNuma::Fallback(why) => {
            match why {
                NumaFallback::NoConfig => log.line(format_args!("NUMA: No NUMA configuration found")),
                NumaFallback::InvalidMemblk { nid, base, end } => log.line(format_args!(
                    "NUMA: Warning: invalid memblk node {nid} [mem {base:#018x}-{:#018x}]",
                    end - 1
                )),
                NumaFallback::InitFailed => {}
            }
            let (start, end) = (mb.start_of_dram(), mb.end_of_dram());
            log.line(format_args!("NUMA: Faking a node at [mem {start:#018x}-{:#018x}]", end - 1));
            // dummy_numa_init: numa_add_memblk(0, start, end): every region on node 0.
            mb.set_node(start, end - start, 0)?;
            1
        }
    };
    let nd_size = node_data_bytes();
    let mut data = [None; MAX_NODES];
    for (nid, slot) in data.iter_mut().enumerate().filter(|&(n, _)| online & (1 << n) != 0) {
        let nid = nid as i32;
        if node_pfn_range(mb, nid).is_none() {
            log.line(format_args!("NUMA: Initmem setup node {nid} [<memory-less node>]"));
        }
        let pa = mb
            .alloc_range(nd_size, SMP_CACHE_BYTES, 0, ALLOC_ACCESSIBLE, nid, false)
            .map_err(|_| PlatformError::Memblock("cannot allocate a node's data (NODE_DATA)"))?;
        log.line(format_args!("NUMA: NODE_DATA [mem {pa:#010x}-{:#010x}]", pa + nd_size - 1));
        let tnid = early_pfn_to_nid(mb, pa >> PAGE_SHIFT);
        if tnid != nid {
            log.line(format_args!("NUMA: NODE_DATA({nid}) on node {tnid}"));
        }
        *slot = Some(pa);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use memblock::RegionFlags;
    use std::string::String;

    use crate::test_support::Lines;

    use crate::test_support::EMPTY;
    const G: u64 = 1 << 30;

    /// `NODE_DATA` of `pa` as Linux prints it: `%#010Lx`, the end inclusive.
    fn nd_line(pa: u64) -> String {
        let end = pa + node_data_bytes() - 1;
        std::format!("NUMA: NODE_DATA [mem 0x{pa:08x}-0x{end:08x}]")
    }

    /// QEMU virt, 1 GiB on node 0 at 1 GiB, node 1 with CPUs only.
    ///
    /// ```text
    /// 0x4000_0000                         0x8000_0000
    /// | node 0 RAM               |ND1|ND0|
    /// ```
    /// Expect: memblock allocates top-down, so node 0's data ends at 2 GiB, aligned down to a
    /// cache line; node 1 has no memory: `[<memory-less node>]`, its data falls back to any
    /// node, right below node 0's, and it says it is on node 0.
    #[test]
    fn memoryless_node_data_lands_on_node_0() {
        let (mut memory, mut reserved) = ([EMPTY; 8], [EMPTY; 8]);
        let mut mb = Memblock::new(&mut memory, &mut reserved);
        mb.add_node(G, G, 0, RegionFlags::NONE).unwrap();
        let mut log = Lines::default();
        let data = arch_numa_init(FirmwareNuma::Nodes(0b11), &mut mb, &mut log).unwrap();
        let size = node_data_bytes();
        assert_eq!(size % 64, 0);
        let nd0 = (2 * G - size) & !63;
        let nd1 = (nd0 - size) & !63;
        assert_eq!((data[0], data[1], data[2]), (Some(nd0), Some(nd1), None));
        assert_eq!(
            log.0,
            [
                nd_line(nd0),
                String::from("NUMA: Initmem setup node 1 [<memory-less node>]"),
                nd_line(nd1),
                String::from("NUMA: NODE_DATA(1) on node 0"),
            ]
        );
        assert!(mb.is_region_reserved(nd1, 2 * size));
    }

    /// No NUMA description: `dummy_numa_init` fakes node 0 over all of DRAM, printed with
    /// `%pap` (16 hex digits), and sets every region to node 0.
    #[test]
    fn no_config_fakes_one_node() {
        let (mut memory, mut reserved) = ([EMPTY; 8], [EMPTY; 8]);
        let mut mb = Memblock::new(&mut memory, &mut reserved);
        mb.add(G, 256 << 20).unwrap();
        let mut log = Lines::default();
        let data = arch_numa_init(FirmwareNuma::Fallback(NumaFallback::NoConfig), &mut mb, &mut log).unwrap();
        let nd0 = (G + (256 << 20) - node_data_bytes()) & !63;
        assert_eq!(
            log.0,
            [
                String::from("NUMA: No NUMA configuration found"),
                String::from("NUMA: Faking a node at [mem 0x0000000040000000-0x000000004fffffff]"),
                nd_line(nd0),
            ]
        );
        assert_eq!(data.iter().flatten().count(), 1);
        assert_eq!(mb.memory()[0].nid, 0);
    }

    /// A region without a node: Linux's warning names memblock's "no node" (`MAX_NUMNODES`,
    /// 16 on arm64) and the region, then fakes a node; an address above 4 GiB widens
    /// `%#010Lx`.
    #[test]
    fn invalid_memblk_warns_then_fakes() {
        let (mut memory, mut reserved) = ([EMPTY; 8], [EMPTY; 8]);
        let mut mb = Memblock::new(&mut memory, &mut reserved);
        mb.add_node(4 * G, G, 0, RegionFlags::NONE).unwrap();
        let mut log = Lines::default();
        let why = NumaFallback::InvalidMemblk { nid: 16, base: 4 * G, end: 5 * G };
        arch_numa_init(FirmwareNuma::Fallback(why), &mut mb, &mut log).unwrap();
        assert_eq!(log.0[0], "NUMA: Warning: invalid memblk node 16 [mem 0x0000000100000000-0x000000013fffffff]");
        assert_eq!(log.0[1], "NUMA: Faking a node at [mem 0x0000000100000000-0x000000013fffffff]");
        assert!(log.0[2].starts_with("NUMA: NODE_DATA [mem 0x13ff"), "{}", log.0[2]);
    }

    /// A node id beyond the array is refused, not indexed.
    #[test]
    fn node_beyond_max_is_refused() {
        let (mut memory, mut reserved) = ([EMPTY; 8], [EMPTY; 8]);
        let mut mb = Memblock::new(&mut memory, &mut reserved);
        mb.add_node(G, G, 0, RegionFlags::NONE).unwrap();
        let r = arch_numa_init(FirmwareNuma::Nodes(1 | 1 << MAX_NODES), &mut mb, &mut Lines::default());
        assert!(matches!(r, Err(PlatformError::BadFirmwareData(_))));
    }
}
