//! Reports in Linux's formats: `/proc/buddyinfo` (`frag_show_print`), `/proc/zoneinfo`
//! (`zoneinfo_show_print`, the zone part), `show_free_areas` (the per-order line) and the
//! boot line of `mem_init_print_info`.
//!
//! Every line goes to a [`LineSink`] without its newline. `/proc/buddyinfo` lines keep
//! Linux's trailing space.
use core::fmt;

use mm_types::LineSink;

use crate::zone::Zone;
use crate::{Migratetype, Node, ZoneType, MAX_ORDER};

/// Kernel image section sizes in bytes, as `mem_init_print_info` computes them from the linker
/// symbols (`_etext - _stext`, …, already adjusted for overlaps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelSections {
    /// `codesize`.
    pub code_bytes: u64,
    /// `datasize` (rwdata).
    pub rwdata_bytes: u64,
    /// `rosize`.
    pub rodata_bytes: u64,
    /// `init_data_size + init_code_size`.
    pub init_bytes: u64,
    /// `bss_size`.
    pub bss_bytes: u64,
}

/// Pages to KiB (`K(x)`).
pub(crate) const fn k(pages: u64) -> u64 {
    pages << (mm_types::PAGE_SHIFT - 10)
}

struct BuddyinfoLine<'z>(i32, &'z Zone);

impl fmt::Display for BuddyinfoLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node {}, zone {:>8} ", self.0, self.1.name())?;
        for area in &self.1.free_area() {
            write!(f, "{:>6} ", area.nr_free)?;
        }
        Ok(())
    }
}

struct FreeAreasLine<'z>(&'z Zone);

impl fmt::Display for FreeAreasLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let zone = self.0;
        let areas = zone.free_area();
        write!(f, "{}: ", zone.name())?;
        let mut total = 0;
        for order in 0..MAX_ORDER {
            let area = &areas[order as usize];
            total += area.nr_free << order;
            write!(f, "{}*{}kB ", area.nr_free, k(1) << order)?;
            if area.nr_free != 0 {
                f.write_str("(")?;
                for mt in Migratetype::FREE_LISTS {
                    if !area.is_empty(mt) {
                        write!(f, "{}", mt.letter())?;
                    }
                }
                f.write_str(") ")?;
            }
        }
        write!(f, "= {}kB", k(total))
    }
}

impl Node<'_> {
    /// `/proc/buddyinfo`: one line per populated zone, the free block count of each order.
    ///
    /// ```text
    /// Node 0, zone      DMA      1      0      1 …
    /// ```
    pub fn buddyinfo(&self, log: &mut dyn LineSink) {
        for zone in self.zones.iter().filter(|z| z.populated()) {
            log.line(format_args!("{}", BuddyinfoLine(self.nid, zone)));
        }
    }

    /// The zone part of `/proc/zoneinfo` for every configured zone except Movable: free pages,
    /// boost, watermarks, spanned/present/managed, cma, protection (`lowmem_reserve`),
    /// start_pfn. Unpopulated zones stop after `protection`, as in Linux.
    pub fn zoneinfo(&self, log: &mut dyn LineSink) {
        self.zoneinfo_with(log, &mut |_, _| {});
    }

    /// As [`Node::zoneinfo`], calling `pagesets(zone, log)` for each populated zone where Linux
    /// prints the `pagesets` block (before `start_pfn`).
    pub fn zoneinfo_with(&self, log: &mut dyn LineSink, pagesets: &mut dyn FnMut(&Zone, &mut dyn LineSink)) {
        for zone in self.zones.iter().filter(|z| self.config.has_zone(z.zone_type)) {
            log.line(format_args!("Node {}, zone {:>8}", self.nid, zone.name()));
            log.line(format_args!("  pages free     {}", zone.free_pages()));
            log.line(format_args!("        boost    0"));
            log.line(format_args!("        min      {}", zone.min_wmark_pages()));
            log.line(format_args!("        low      {}", zone.low_wmark_pages()));
            log.line(format_args!("        high     {}", zone.high_wmark_pages()));
            log.line(format_args!("        spanned  {}", zone.spanned_pages));
            log.line(format_args!("        present  {}", zone.present_pages));
            log.line(format_args!("        managed  {}", zone.managed_pages));
            log.line(format_args!("        cma      {}", zone.cma_pages));
            let r = &zone.lowmem_reserve;
            // Linux prints one entry per configured zone (MAX_NR_ZONES of the build).
            struct Protection<'r>(&'r [u64], [bool; crate::MAX_NR_ZONES]);
            impl fmt::Display for Protection<'_> {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    let mut first = true;
                    for (v, _) in self.0.iter().zip(self.1).filter(|(_, on)| *on) {
                        if !first {
                            f.write_str(", ")?;
                        }
                        write!(f, "{v}")?;
                        first = false;
                    }
                    Ok(())
                }
            }
            let mut cfg = self.config.zones;
            cfg[ZoneType::Movable as usize] = true;
            log.line(format_args!("        protection: ({})", Protection(r, cfg)));
            if zone.populated() {
                pagesets(zone, log);
                log.line(format_args!("  start_pfn:           {}", zone.zone_start_pfn));
            }
        }
    }

    /// The per-zone free-area lines of `show_free_areas` (`show_mem`):
    ///
    /// ```text
    /// DMA: 1*4kB (U) 0*8kB 1*16kB (M) … = 20kB
    /// ```
    pub fn show_free_areas(&self, log: &mut dyn LineSink) {
        for zone in self.zones.iter().filter(|z| z.populated()) {
            log.line(format_args!("{}", FreeAreasLine(zone)));
        }
    }

    /// The KiB figures of the `Memory:` line: `(available, total, reserved, highmem)`:
    /// available = free pages (`nr_free_pages()`, equal to the managed pages right after
    /// `memblock_free_all`), total = present pages (`get_num_physpages`), reserved = present -
    /// managed (no CMA), highmem = HighMem managed pages.
    pub fn mem_init_totals_kib(&self) -> (u64, u64, u64, u64) {
        let physpages = self.physpages();
        (k(self.nr_free_pages()), k(physpages), k(physpages - self.totalram_pages()), k(self.totalhigh_pages()))
    }

    /// Prints `mem_init_print_info`'s line; `, …K highmem` is there when the architecture has
    /// HighMem (`CONFIG_HIGHMEM`):
    ///
    /// ```text
    /// Memory: 122384K/130552K available (6154K kernel code, 598K rwdata, 1688K rodata, 588K init, 336K bss, 8168K reserved, 0K cma-reserved, 0K highmem)
    /// ```
    pub fn mem_init_print_info(&self, sections: &KernelSections, log: &mut dyn LineSink) {
        print_memory_line(&self.config, self.mem_init_totals_kib(), sections, log);
    }
}

/// Prints the `Memory:` line from `(available, total, reserved, highmem)` KiB, without CMA.
pub(crate) fn print_memory_line(
    config: &crate::ArchConfig,
    totals: (u64, u64, u64, u64),
    sections: &KernelSections,
    log: &mut dyn LineSink,
) {
    print_memory_line_cma(config, totals, 0, sections, log);
}

/// Prints the `Memory:` line from `(available, total, reserved, highmem)` KiB and
/// `totalcma_pages` in KiB (`cma-reserved`).
pub(crate) fn print_memory_line_cma(
    config: &crate::ArchConfig,
    (avail, total, reserved, high): (u64, u64, u64, u64),
    cma: u64,
    sections: &KernelSections,
    log: &mut dyn LineSink,
) {
    let s = sections;
    let args = (s.code_bytes >> 10, s.rwdata_bytes >> 10, s.rodata_bytes >> 10, s.init_bytes >> 10, s.bss_bytes >> 10);
    if config.has_zone(ZoneType::HighMem) {
        log.line(format_args!(
            "Memory: {avail}K/{total}K available ({}K kernel code, {}K rwdata, {}K rodata, {}K init, {}K bss, {reserved}K reserved, {cma}K cma-reserved, {high}K highmem)",
            args.0, args.1, args.2, args.3, args.4
        ));
    } else {
        log.line(format_args!(
            "Memory: {avail}K/{total}K available ({}K kernel code, {}K rwdata, {}K rodata, {}K init, {}K bss, {reserved}K reserved, {cma}K cma-reserved)",
            args.0, args.1, args.2, args.3, args.4
        ));
    }
}
