//! The command-line and configured CMA area (Linux 6.1 `kernel/dma/contiguous.c`:
//! `early_cma`, `dma_contiguous_reserve`, `dma_contiguous_reserve_area`).
//!
//! - `cma=SIZE[@BASE[-LIMIT]]` (`early_cma`): the size of the default area, optionally its
//!   base and upper limit; with `@BASE` alone the area is fixed at `BASE` (`LIMIT` =
//!   `BASE + SIZE`). A `cma=` also makes a device-tree `linux,cma-default` region step aside
//!   (`rmem_cma_setup`: "bypass … using cmdline CMA params instead").
//! - Without `cma=`, the kernel configuration's default size (`CONFIG_CMA_SIZE_MBYTES` with
//!   `CONFIG_CMA_SIZE_SEL_MBYTES`): Debian's 6.1 arm64 kernel sets `CONFIG_CMA=y`,
//!   `CONFIG_DMA_CMA=y`, `CONFIG_CMA_SIZE_MBYTES=64`; its x86 kernels (i386 and amd64) have
//!   `CONFIG_CMA` unset, so there `cma=` is an unknown parameter and nothing is reserved (the
//!   platform then has no [`CmaConfig`] and never calls [`dma_contiguous_reserve`]).
//! - [`dma_contiguous_reserve`] places it (arm64: from `bootmem_init`, below
//!   `arm64_dma_phys_limit`, after the device tree's regions) unless the device tree already
//!   named a default area, with `cma_declare_contiguous` ([`page_alloc::cma::CmaAreas`]), as
//!   area `reserved`.
use mm_types::LineSink;
use page_alloc::cma::CmaAreas;

use crate::cmdline::{memparse, Cmdline, CmdlineError};

/// The kernel configuration's CMA settings for an architecture that has `CONFIG_DMA_CMA`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmaConfig {
    /// `CONFIG_CMA_SIZE_MBYTES` in bytes (`size_bytes`).
    pub size_bytes: u64,
    /// `CONFIG_PHYS_ADDR_T_64BIT`.
    pub phys_addr_64bit: bool,
}

impl CmaConfig {
    /// Debian 6.1 arm64: 64 MiB, 64-bit `phys_addr_t`.
    pub const DEBIAN_ARM64: Self = Self { size_bytes: 64 << 20, phys_addr_64bit: true };
    /// Debian 6.1 armhf `armmp`: 64 MiB, 32-bit `phys_addr_t` (no LPAE).
    pub const DEBIAN_ARMMP: Self = Self { size_bytes: 64 << 20, phys_addr_64bit: false };
}

/// `cma=SIZE[@BASE[-LIMIT]]` as `early_cma` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmaCmdline {
    /// `size_cmdline`.
    pub size: u64,
    /// `base_cmdline` (0 when not given).
    pub base: u64,
    /// `limit_cmdline` (0 when not given; `BASE + SIZE` with `@BASE` and no `-LIMIT`).
    pub limit: u64,
}

impl<'a> Cmdline<'a> {
    /// `cma=`: the command-line CMA area, if given.
    ///
    /// # Errors
    /// [`CmdlineError::BadSize`] naming `cma` when a part is not a size.
    pub fn cma(&self) -> Result<Option<CmaCmdline>, CmdlineError<'a>> {
        let Some(v) = self.get("cma") else { return Ok(None) };
        let bad = CmdlineError::BadSize { key: "cma", value: v };
        let (size, rest) = match v.split_once('@') {
            Some((s, r)) => (s, Some(r)),
            None => (v, None),
        };
        let size = memparse(size).ok_or(bad)?;
        let Some(rest) = rest else { return Ok(Some(CmaCmdline { size, base: 0, limit: 0 })) };
        let (base, limit) = match rest.split_once('-') {
            Some((b, l)) => (memparse(b).ok_or(bad)?, Some(memparse(l).ok_or(bad)?)),
            None => (memparse(rest).ok_or(bad)?, None),
        };
        Ok(Some(CmaCmdline { size, base, limit: limit.unwrap_or(base.saturating_add(size)) }))
    }
}

/// `dma_contiguous_reserve(limit)`: reserves the default CMA area, of `cmdline`'s size (and
/// place) or else `config.size_bytes`, below `limit` (0: anywhere), unless it is 0 or a default
/// area exists already (a device tree's `linux,cma-default`). `highmem_start` is the end of
/// the linear map (arm64: the end of RAM). Failures are printed by `cma_declare_contiguous`
/// and otherwise ignored, as in Linux. Returns the new area's index.
pub fn dma_contiguous_reserve(
    mb: &mut memblock::Memblock<'_>,
    areas: &mut CmaAreas,
    cmdline: Option<CmaCmdline>,
    config: &CmaConfig,
    limit: u64,
    highmem_start: u64,
    log: &mut dyn LineSink,
) -> Option<usize> {
    let (size, base, limit, fixed) = match cmdline {
        Some(c) => {
            let selected_limit = if c.limit == 0 { limit } else if limit == 0 { c.limit } else { c.limit.min(limit) };
            (c.size, c.base, selected_limit, c.base.wrapping_add(c.size) == c.limit)
        }
        None => (config.size_bytes, 0, limit, false),
    };
    if size == 0 || areas.default_area().is_some() {
        return None;
    }
    let i = areas.declare_contiguous(mb, base, size, limit, 0, 0, fixed, "reserved", highmem_start, log).ok()?;
    areas.set_default_area(i);
    Some(i)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use memblock::{Memblock, Region, INIT_MEMBLOCK_REGIONS};
    use std::string::String;
    use std::vec::Vec;

    use crate::test_support::Lines;

    #[test]
    fn cma_parameter_as_early_cma_reads_it() {
        let c = |s| Cmdline::new(s).cma();
        assert_eq!(c("quiet"), Ok(None));
        assert_eq!(c("cma=64M"), Ok(Some(CmaCmdline { size: 64 << 20, base: 0, limit: 0 })));
        assert_eq!(c("cma=32M@0x30000000"), Ok(Some(CmaCmdline { size: 32 << 20, base: 0x3000_0000, limit: 0x3200_0000 })));
        assert_eq!(c("cma=16M@256M-512M"), Ok(Some(CmaCmdline { size: 16 << 20, base: 256 << 20, limit: 512 << 20 })));
        assert_eq!(c("cma=0"), Ok(Some(CmaCmdline { size: 0, base: 0, limit: 0 })));
        assert_eq!(c("cma=lots"), Err(CmdlineError::BadSize { key: "cma", value: "lots" }));
        assert_eq!(c("cma=64M@x"), Err(CmdlineError::BadSize { key: "cma", value: "64M@x" }));
    }

    /// RAM [0x40000000, 0x50000000), kernel at 0x40200000. Expect: the configured 64 MiB go
    /// top-down below the limit; `cma=` replaces the size or fixes the place; `cma=0` and an
    /// existing default area reserve nothing.
    #[test]
    fn default_area_placement() {
        let run = |cmdline: Option<CmaCmdline>, limit: u64, preexisting: bool| {
            let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
            let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
            let mut mb = Memblock::new(&mut mem, &mut res);
            mb.add(0x4000_0000, 0x1000_0000).unwrap();
            mb.reserve(0x4020_0000, 0x20_0000).unwrap();
            let mut areas = CmaAreas::new(9, true);
            let mut log = Lines::default();
            if preexisting {
                mb.reserve(0x4800_0000, 0x40_0000).unwrap();
                let i = areas.init_reserved_mem(&mb, 0x4800_0000, 0x40_0000, 0, Some("linux,cma"), &mut log).unwrap();
                areas.set_default_area(i);
            }
            let r = dma_contiguous_reserve(&mut mb, &mut areas, cmdline, &CmaConfig::DEBIAN_ARM64, limit, 0x5000_0000, &mut log);
            (r.map(|i| (areas.get(i).unwrap().base(), areas.get(i).unwrap().size())), log.0)
        };
        let (r, log) = run(None, 0x5000_0000, false);
        assert_eq!(r, Some((0x5000_0000 - (64 << 20), 64 << 20)));
        assert_eq!(log, ["cma: Reserved 64 MiB at 0x000000004c000000"]);
        let (r, _) = run(None, 0x4800_0000, false);
        assert_eq!(r, Some((0x4800_0000 - (64 << 20), 64 << 20)), "below arm64_dma_phys_limit");
        let (r, log) = run(Some(CmaCmdline { size: 32 << 20, base: 0x4400_0000, limit: 0x4600_0000 }), 0x5000_0000, false);
        assert_eq!(r, Some((0x4400_0000, 32 << 20)), "fixed at BASE");
        assert_eq!(log, ["cma: Reserved 32 MiB at 0x0000000044000000"]);
        let (r, _) = run(Some(CmaCmdline { size: 16 << 20, base: 0, limit: 0 }), 0x5000_0000, false);
        assert_eq!(r, Some((0x5000_0000 - (16 << 20), 16 << 20)));
        assert_eq!(run(Some(CmaCmdline { size: 0, base: 0, limit: 0 }), 0x5000_0000, false), (None, Vec::<String>::new()));
        assert_eq!(run(None, 0x5000_0000, true).0, None, "the device tree's default area stays the only one");
        let (r, log) = run(Some(CmaCmdline { size: 32 << 20, base: 0x4020_0000, limit: 0x4220_0000 }), 0x5000_0000, false);
        assert_eq!(r, None, "over the kernel");
        assert_eq!(log, ["cma: Failed to reserve 32 MiB"]);
    }
}
