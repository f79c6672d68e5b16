//! Watermarks and lowmem reserves (`init_per_zone_wmark_min`, mm/page_alloc.c 6.1).
//!
//! - `calculate_min_free_kbytes`: `min_free_kbytes = clamp(int_sqrt(lowmem_kbytes * 16), 128,
//!   262144)` where `lowmem_kbytes` is `nr_free_buffer_pages()` in KiB: the managed pages of
//!   the zones up to Normal (`gfp_zone(GFP_USER)`) above their high watermarks (0 at boot).
//! - `__setup_per_zone_wmarks`: `pages_min = min_free_kbytes / 4` is split between the lowmem
//!   zones by managed pages (`min = pages_min * managed / lowmem_pages`); HighMem and Movable
//!   get `clamp(managed / 1024, SWAP_CLUSTER_MAX, 128)`. Then `tmp = max(min_share / 4,
//!   managed * watermark_scale_factor / 10000)`, `low = min + tmp`, `high = low + tmp`
//!   (`min_share` is the proportional share even for highmem, as in Linux).
//! - `setup_per_zone_lowmem_reserve`: `lowmem_reserve[j]` of zone `i < j` is the managed pages
//!   of zones `i+1..=j` divided by `sysctl_lowmem_reserve_ratio[i]` (0 if the ratio is 0 or the
//!   zone has no managed pages).
use crate::zone::{WMARK_HIGH, WMARK_LOW, WMARK_MIN};
use crate::{int_sqrt, Node, ZoneType, LOWMEM_RESERVE_RATIO, MAX_NR_ZONES, SWAP_CLUSTER_MAX, WATERMARK_SCALE_FACTOR};

/// `mult_frac(x, n, d)`: `x * n / d` without overflowing.
const fn mult_frac(x: u64, n: u64, d: u64) -> u64 {
    (x / d) * n + (x % d) * n / d
}

impl Node<'_> {
    /// `nr_free_buffer_pages`: managed pages above the high watermark in zones up to Normal.
    pub fn nr_free_buffer_pages(&self) -> u64 {
        self.zones[..=ZoneType::Normal as usize]
            .iter()
            .map(|z| z.managed_pages.saturating_sub(z.high_wmark_pages()))
            .sum()
    }

    /// `calculate_min_free_kbytes` (no `user_min_free_kbytes`): sets and returns
    /// `min_free_kbytes`.
    pub fn calculate_min_free_kbytes(&mut self) -> u64 {
        let lowmem_kbytes = self.nr_free_buffer_pages() * (mm_types::PAGE_SIZE >> 10);
        self.min_free_kbytes = int_sqrt(lowmem_kbytes * 16).clamp(128, 262_144);
        self.min_free_kbytes
    }

    /// `__setup_per_zone_wmarks` from the current `min_free_kbytes`.
    pub fn setup_per_zone_wmarks(&mut self) {
        let lowmem_pages: u64 = self
            .zones
            .iter()
            .filter(|z| !z.zone_type.is_highmem() && z.zone_type != ZoneType::Movable)
            .map(|z| z.managed_pages)
            .sum();
        self.setup_per_zone_wmarks_with(lowmem_pages);
    }

    /// `__setup_per_zone_wmarks` with `lowmem_pages` summed over every node (NUMA).
    pub(crate) fn setup_per_zone_wmarks_with(&mut self, lowmem_pages: u64) {
        let pages_min = self.min_free_kbytes >> (mm_types::PAGE_SHIFT - 10);
        for zone in &mut self.zones {
            let managed = zone.managed_pages;
            let tmp = (pages_min * managed).checked_div(lowmem_pages).unwrap_or(0);
            zone.watermark[WMARK_MIN] = if zone.zone_type.is_highmem() || zone.zone_type == ZoneType::Movable {
                (managed / 1024).clamp(SWAP_CLUSTER_MAX, 128)
            } else {
                tmp
            };
            let tmp = (tmp >> 2).max(mult_frac(managed, WATERMARK_SCALE_FACTOR, 10_000));
            zone.watermark[WMARK_LOW] = zone.watermark[WMARK_MIN] + tmp;
            zone.watermark[WMARK_HIGH] = zone.watermark[WMARK_LOW] + tmp;
        }
    }

    /// `setup_per_zone_lowmem_reserve` with the default `sysctl_lowmem_reserve_ratio`.
    pub fn setup_per_zone_lowmem_reserve(&mut self) {
        for (i, &ratio) in LOWMEM_RESERVE_RATIO.iter().enumerate().take(MAX_NR_ZONES - 1) {
            let clear = ratio == 0 || self.zones[i].managed_pages == 0;
            let mut managed = 0;
            for j in i + 1..MAX_NR_ZONES {
                managed += self.zones[j].managed_pages;
                self.zones[i].lowmem_reserve[j] = if clear { 0 } else { managed / ratio };
            }
        }
    }

    /// `init_per_zone_wmark_min`: `min_free_kbytes`, watermarks, lowmem reserves. Call after
    /// [`Node::memblock_free_all`]. Returns `min_free_kbytes`.
    pub fn init_per_zone_wmark_min(&mut self) -> u64 {
        let k = self.calculate_min_free_kbytes();
        self.setup_per_zone_wmarks();
        self.setup_per_zone_lowmem_reserve();
        k
    }
}
