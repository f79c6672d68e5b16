//! Host tests in the style of Linux's memblock simulator (`tools/testing/memblock/tests`): one
//! case per behaviour, a picture of the regions before and after, an "Expect:" sentence, and
//! exact checks of the arrays, counts and totals.
//!
//! Pictures: `|` marks a region edge, `+` an edge of the range operated on, `M` memory,
//! `r` reserved, `X` the range passed to the call.
extern crate std;

mod alloc;
mod basic;
mod dump;
mod iter;
mod model;
mod resize;

use crate::{Memblock, Region, RegionFlags, INIT_MEMBLOCK_REGIONS, MAX_NUMNODES};

pub(crate) const SZ_1K: u64 = 0x400;
pub(crate) const SZ_2K: u64 = 0x800;
pub(crate) const SZ_4K: u64 = 0x1000;
pub(crate) const SZ_8K: u64 = 0x2000;
pub(crate) const SZ_16K: u64 = 0x4000;
pub(crate) const SZ_32K: u64 = 0x8000;
pub(crate) const SZ_64K: u64 = 0x1_0000;
pub(crate) const SZ_128K: u64 = 0x2_0000;
pub(crate) const SZ_256K: u64 = 0x4_0000;
pub(crate) const SZ_512K: u64 = 0x8_0000;
pub(crate) const SZ_1M: u64 = 0x10_0000;
pub(crate) const SZ_2M: u64 = 0x20_0000;
pub(crate) const SZ_4M: u64 = 0x40_0000;
pub(crate) const SZ_8M: u64 = 0x80_0000;
pub(crate) const SZ_16M: u64 = 0x100_0000;
pub(crate) const SZ_1G: u64 = 0x4000_0000;

/// The two static arrays a test's memblock lives in (`memblock_*_init_regions`).
pub(crate) struct Storage {
    mem: [Region; INIT_MEMBLOCK_REGIONS],
    res: [Region; INIT_MEMBLOCK_REGIONS],
}

impl Storage {
    pub(crate) fn new() -> Self {
        Self {
            mem: [Region::EMPTY; INIT_MEMBLOCK_REGIONS],
            res: [Region::EMPTY; INIT_MEMBLOCK_REGIONS],
        }
    }

    /// A fresh memblock over these arrays (`reset_memblock_regions` + attributes).
    pub(crate) fn memblock(&mut self) -> Memblock<'_> {
        Memblock::new(&mut self.mem, &mut self.res)
    }
}

/// A region as memblock_add()/memblock_reserve() create it (no node, no flags).
pub(crate) const fn r(base: u64, size: u64) -> Region {
    Region {
        base,
        size,
        nid: MAX_NUMNODES,
        flags: RegionFlags::NONE,
    }
}

/// A region with node and flags.
pub(crate) const fn rn(base: u64, size: u64, nid: i32, flags: RegionFlags) -> Region {
    Region {
        base,
        size,
        nid,
        flags,
    }
}
