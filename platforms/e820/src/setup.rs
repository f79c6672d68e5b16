//! The whole firmware-map path of an x86 boot, in Linux's order, for the firmware and the host
//! tool alike (`e820__memory_setup` → `parse_memopt` / `e820__finish_early_params` →
//! `trim_bios_range` → `e820__end_of_ram_pfn` → `e820__memblock_setup`).

use memblock::Memblock;
use mm_types::LineSink;

use crate::{memblock_setup, print_table, range_remove, sanitize, trim_bios_range, E820Error, E820Table, E820Type};

/// Linux `LOWMEMSIZE()`: the conventional memory assumed when the e820 map is not used
/// (636 KiB, below the usual EBDA).
pub const LOWMEMSIZE: u64 = 0x9_f000;

/// The checks Linux 6.1 `append_e820_table()` makes on the boot loader's map before copying it
/// (the map of `boot_params`, which a Multiboot map stands for here). `e820__memory_setup_default`
/// falls back to [`e801_table`] when they fail.
///
/// # Errors
/// - [`E820Error::TooFewEntries`]: fewer than two entries ("Only one memory region (or
///   negative)? Ignore it");
/// - [`E820Error::EndOverflow`] naming the first non-empty entry whose last byte
///   `addr + size - 1` wraps past 2^64 ("Ignore the entry on 64-bit overflow", which makes Linux
///   ignore the whole map). An entry ending exactly at 2^64 passes here; [`sanitize`] refuses it
///   later and the map is then used unsanitised.
pub fn check_boot_map(table: &E820Table) -> Result<(), E820Error> {
    if table.len() < 2 {
        return Err(E820Error::TooFewEntries { nr_entries: table.len() });
    }
    match table.iter().enumerate().find(|(_, e)| e.size != 0 && e.addr.checked_add(e.size - 1).is_none()) {
        Some((index, e)) => Err(E820Error::EndOverflow { index, addr: e.addr, size: e.size }),
        None => Ok(()),
    }
}

/// The map Linux 6.1 `e820__memory_setup_default()` makes without a usable e820 map, from the
/// BIOS's e801 extended-memory size in KiB (`alt_mem_k`; a Multiboot loader's `mem_upper`):
/// `[0, LOWMEMSIZE)` and `[1 MiB, 1 MiB + ext_mem_kb KiB)`, both usable, printed as
/// `BIOS-e801`. The conventional-memory size the BIOS reports is not used, as in Linux.
pub fn e801_table(ext_mem_kb: u32) -> E820Table {
    let mut t = E820Table::new();
    // Two pushes into an empty 128-entry table cannot fail.
    let _ = t.push(0, LOWMEMSIZE, E820Type::Ram.as_u32());
    let _ = t.push(crate::HIGH_MEMORY, u64::from(ext_mem_kb) << 10, E820Type::Ram.as_u32());
    t
}

/// `MAX_ARCH_PFN` of x86-32 without PAE: 4 GiB in pages.
pub const MAX_ARCH_PFN_32: u64 = 1 << (32 - 12);
/// `MAX_ARCH_PFN` of x86-64 with 4-level paging (`MAXMEM >> PAGE_SHIFT`, 64 TiB).
pub const MAX_ARCH_PFN_64: u64 = 1 << (46 - 12);

/// Sanitises `table` (keeping it as handed over when Linux would, and saying so in one line
/// that names the entry at fault), prints it as `{prefix}: [mem …] type`, applies `mem=`
/// (`mem_limit`, as Linux's `parse_memopt` and `e820__finish_early_params`), the low-memory
/// policy ([`trim_bios_range`]), prints `last_pfn = … max_arch_pfn = …`
/// ([`end_of_ram_pfn`]) and feeds memblock ([`memblock_setup`]).
///
/// `phys_addr_bits_32`: x86-32 without PAE: a 32-bit `phys_addr_t` and `resource_size_t`
/// (entries ending at or above 4 GiB are dropped) and a 32-bit `unsigned long`
/// (`max_arch_pfn` 4 GiB). Otherwise x86-64's figures.
///
/// `mem_limit`: `mem=SIZE` from the command line. Linux removes the RAM at and above `SIZE`
/// from the e820 table (`e820: remove [mem SIZE-0xfffffffffffffffe] usable`), sanitises it
/// again and prints it as `user-defined physical RAM map:` with `user: [mem …]` lines. 0 is
/// ignored, as Linux does (it would remove all memory).
///
/// Returns `max_pfn` (the `last_pfn` printed).
///
/// # Errors
/// The first step that failed. A failed first sanitise is not an error (Linux goes on with
/// the firmware's table); one after `mem=` is (Linux panics: "Invalid user supplied memory
/// map").
pub fn setup_memory(
    table: &mut E820Table,
    prefix: &str,
    memblock: &mut Memblock<'_>,
    phys_addr_bits_32: bool,
    mem_limit: Option<u64>,
    log: &mut dyn LineSink,
) -> Result<u64, E820Error> {
    if let Err(e) = sanitize(table) {
        log.line(format_args!("e820: firmware map not sanitised, used as handed over: {e}"));
    }
    print_table(table, prefix, log);
    if mem_limit == Some(0) {
        // parse_memopt refuses "mem=0" (-EINVAL) so as not to remove all memory, and
        // do_early_param says so; the boot goes on with all RAM.
        log.line(format_args!("Malformed early option 'mem'"));
    }
    if let Some(limit) = mem_limit.filter(|&l| l != 0) {
        range_remove(table, limit, u64::MAX - limit, E820Type::Ram, true, log)?;
        sanitize(table)?;
        log.line(format_args!("user-defined physical RAM map:"));
        print_table(table, "user", log);
    }
    trim_bios_range(table, log)?;
    let max_pfn = end_of_ram_pfn(table, phys_addr_bits_32, log);
    memblock_setup(table, memblock, phys_addr_bits_32)?;
    Ok(max_pfn)
}

/// Linux 6.1 `e820__end_of_ram_pfn()`: one past the last page of RAM or ACPI data in the table
/// (partial pages rounded down), capped at `MAX_ARCH_PFN`; logs
/// `last_pfn = {:#x} max_arch_pfn = {:#x}`. Page numbers are `unsigned long`: with
/// `phys_addr_bits_32` (x86-32) they are truncated to 32 bits, and an end that wraps past 2^64
/// wraps as in C.
pub fn end_of_ram_pfn(table: &E820Table, phys_addr_bits_32: bool, log: &mut dyn LineSink) -> u64 {
    let (max_arch_pfn, ulong) = if phys_addr_bits_32 { (MAX_ARCH_PFN_32, u64::from(u32::MAX)) } else { (MAX_ARCH_PFN_64, u64::MAX) };
    let limit_pfn = max_arch_pfn;
    let mut last_pfn = 0;
    for e in table.iter().filter(|e| matches!(e.kind, E820Type::Ram | E820Type::Acpi)) {
        let start_pfn = (e.addr >> 12) & ulong;
        let end_pfn = (e.addr.wrapping_add(e.size) >> 12) & ulong;
        if start_pfn >= limit_pfn {
            continue;
        }
        if end_pfn > limit_pfn {
            last_pfn = limit_pfn;
            break;
        }
        last_pfn = last_pfn.max(end_pfn);
    }
    let last_pfn = last_pfn.min(max_arch_pfn);
    log.line(format_args!("last_pfn = {last_pfn:#x} max_arch_pfn = {max_arch_pfn:#x}"));
    last_pfn
}

/// The first 64 KiB, which Linux 6.1 `early_reserve_memory` reserves before memblock hands
/// anything out: page 0 is BIOS-owned (and leaks through L1TF), and some BIOSes are known to
/// corrupt low memory (`memblock_reserve(0, SZ_64K)`).
pub const LOW_RESERVE_BYTES: u64 = 0x1_0000;

/// The PC firmware areas every x86 boot reserves before memblock hands anything out (Linux
/// `early_reserve_memory`): the first 64 KiB ([`LOW_RESERVE_BYTES`]), and the BIOS area below
/// 1 MiB that [`crate::bios_regions_range`] derives from the two BDA words
/// (`reserve_bios_regions`). Each reservation is logged as `early reserve: [mem …] owner`.
///
/// The rest of the first MiB is reserved later, by the platform's `reserve_real_mode`, once the
/// SMP trampoline has been allocated below 1 MiB (Linux reserves `[0, 1M)` there).
///
/// # Errors
/// [`E820Error::BiosRegionsReserve`] when memblock refuses a reservation.
pub fn reserve_firmware_areas(
    memblock: &mut Memblock<'_>,
    bda_base_mem_kb: u16,
    ebda_segment: u16,
    log: &mut dyn LineSink,
) -> Result<(), E820Error> {
    let low = mm_types::MemRange::new(0, LOW_RESERVE_BYTES);
    let bios = crate::bios_regions_range(bda_base_mem_kb, ebda_segment);
    for (r, owner) in [
        (low, "first 64 KiB: page 0 and low memory BIOSes corrupt (early_reserve_memory)"),
        (bios, "BIOS: EBDA, VGA and ROM area below 1 MiB"),
    ] {
        memblock
            .reserve(r.base, r.size)
            .map_err(|error| E820Error::BiosRegionsReserve { addr: r.base, size: r.size, error })?;
        log.line(format_args!("early reserve: {r} {owner}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use memblock::{Region, RegionFlags, MAX_NUMNODES};
    use crate::{E820Entry, E820Type};
    use std::{format, string::String, vec, vec::Vec};

    struct Lines(Vec<String>);
    impl LineSink for Lines {
        fn line(&mut self, args: core::fmt::Arguments<'_>) {
            self.0.push(format!("{args}"));
        }
    }

    const EMPTY: Region = Region { base: 0, size: 0, nid: MAX_NUMNODES, flags: RegionFlags::NONE };

    #[test]
    fn qemu_pc_128m_gives_linux_figures() {
        // SeaBIOS's map for `-machine pc -m 128M`, out of order to exercise the sanitiser.
        let mut t = E820Table::new();
        t.push(0x10_0000, 0x7ee_0000, 1).unwrap();
        t.push(0, 0x9_fc00, 1).unwrap();
        t.push(0x9_fc00, 0x400, 2).unwrap();
        t.push(0xf_0000, 0x1_0000, 2).unwrap();
        t.push(0x7fe_0000, 0x2_0000, 2).unwrap();
        t.push(0xfffc_0000, 0x4_0000, 2).unwrap();
        let (mut m, mut r) = (vec![EMPTY; 128], vec![EMPTY; 128]);
        let mut mb = Memblock::new(&mut m, &mut r);
        let mut log = Lines(Vec::new());
        setup_memory(&mut t, "BIOS-e820", &mut mb, true, None, &mut log).unwrap();
        assert_eq!(log.0[0], "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable");
        assert_eq!(log.0.iter().filter(|l| l.starts_with("BIOS-e820")).count(), 6);
        assert!(log.0.iter().any(|l| l == "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved"));
        assert_eq!(mb.phys_mem_size() >> 10, 130_552, "Linux 6.1 i386: Memory: …K/130552K");
    }

    #[test]
    fn an_unsanitisable_map_is_used_as_is_and_said() {
        let mut t = E820Table::new();
        t.push(0x10_0000, 0x100_0000, 1).unwrap();
        let (mut m, mut r) = (vec![EMPTY; 128], vec![EMPTY; 128]);
        let mut mb = Memblock::new(&mut m, &mut r);
        let mut log = Lines(Vec::new());
        setup_memory(&mut t, "BIOS-e820", &mut mb, true, None, &mut log).unwrap();
        assert!(log.0[0].starts_with("e820: firmware map not sanitised, used as handed over: "), "{:?}", log.0);
        assert_eq!(mb.phys_mem_size(), 0x100_0000);
    }

    fn seabios_128m() -> E820Table {
        let mut t = E820Table::new();
        t.push(0, 0x9_fc00, 1).unwrap();
        t.push(0x9_fc00, 0x400, 2).unwrap();
        t.push(0xf_0000, 0x1_0000, 2).unwrap();
        t.push(0x10_0000, 0x7ee_0000, 1).unwrap();
        t.push(0x7fe_0000, 0x2_0000, 2).unwrap();
        t.push(0xfffc_0000, 0x4_0000, 2).unwrap();
        t
    }

    /// Linux 6.1 i386 with `mem=64M` on the 128 MiB PC: `parse_memopt` removes RAM from 64 MiB
    /// up (`e820: remove [mem 0x04000000-0xfffffffffffffffe] usable`: `%#010Lx` of 64 MiB and of
    /// `ULLONG_MAX - 1`), `e820__finish_early_params` prints the user map, then
    /// `trim_bios_range`, then `e820__end_of_ram_pfn`: the last RAM page frame ends at
    /// 64 MiB = pfn 0x4000, `MAX_ARCH_PFN` without PAE is 4 GiB = pfn 0x100000.
    #[test]
    fn mem_limit_prints_what_linux_prints() {
        let mut t = seabios_128m();
        let (mut m, mut r) = (vec![EMPTY; 128], vec![EMPTY; 128]);
        let mut mb = Memblock::new(&mut m, &mut r);
        let mut log = Lines(Vec::new());
        let max_pfn = setup_memory(&mut t, "BIOS-e820", &mut mb, true, Some(64 << 20), &mut log).unwrap();
        assert_eq!(max_pfn, (64 << 20) >> 12);
        assert_eq!(
            log.0[6..],
            [
                "e820: remove [mem 0x04000000-0xfffffffffffffffe] usable",
                "user-defined physical RAM map:",
                "user: [mem 0x0000000000000000-0x000000000009fbff] usable",
                "user: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
                "user: [mem 0x00000000000f0000-0x00000000000fffff] reserved",
                "user: [mem 0x0000000000100000-0x0000000003ffffff] usable",
                "user: [mem 0x0000000007fe0000-0x0000000007ffffff] reserved",
                "user: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved",
                "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved",
                "e820: remove [mem 0x000a0000-0x000fffff] usable",
                "last_pfn = 0x4000 max_arch_pfn = 0x100000",
            ]
        );
        assert_eq!(mb.phys_mem_size(), 0x9e000 + (64 << 20) - 0x10_0000);
        // Without mem=: the RAM ends at 0x7fe0000; mem=0 is ignored, as Linux does.
        let (mut m, mut r) = (vec![EMPTY; 128], vec![EMPTY; 128]);
        let mut mb = Memblock::new(&mut m, &mut r);
        let mut log = Lines(Vec::new());
        assert_eq!(setup_memory(&mut seabios_128m(), "BIOS-e820", &mut mb, true, Some(0), &mut log), Ok(0x7fe0));
        assert_eq!(log.0.last().unwrap(), "last_pfn = 0x7fe0 max_arch_pfn = 0x100000");
        assert!(!log.0.iter().any(|l| l.starts_with("user")));
        assert!(log.0.iter().any(|l| l == "Malformed early option 'mem'"), "{:#?}", log.0);
    }

    /// `e820__end_of_ram_pfn`: RAM and ACPI data count, other types do not; a range past
    /// `MAX_ARCH_PFN` stops the walk at the limit; x86-64's limit is 64 TiB.
    #[test]
    fn end_of_ram_pfn_follows_linux() {
        let t = E820Table::try_from_entries(&[
            E820Entry::new(0, 0x9_f000, E820Type::Ram),
            E820Entry::new(0x10_0000, 0x100_0000, E820Type::Acpi),
            E820Entry::new(0x200_0000, 0x100_0000, E820Type::Reserved),
        ])
        .unwrap();
        let mut log = Lines(Vec::new());
        assert_eq!(end_of_ram_pfn(&t, true, &mut log), 0x1100);
        let t = E820Table::try_from_entries(&[
            E820Entry::new(0, 0x9_f000, E820Type::Ram),
            E820Entry::new(0xc000_0000, 0x8000_0000, E820Type::Ram),
        ])
        .unwrap();
        assert_eq!(end_of_ram_pfn(&t, true, &mut log), MAX_ARCH_PFN_32);
        assert_eq!(end_of_ram_pfn(&t, false, &mut log), 0x14_0000);
        assert_eq!(
            log.0,
            [
                "last_pfn = 0x1100 max_arch_pfn = 0x100000",
                "last_pfn = 0x100000 max_arch_pfn = 0x100000",
                "last_pfn = 0x140000 max_arch_pfn = 0x400000000",
            ]
        );
    }

    /// A firmware map with an entry that wraps past 2^64: Linux's `e820__update_table()`
    /// returns -1 and leaves the table as it was; the boot goes on with it. Expect one line
    /// naming the entry, the table printed unsorted as handed over (the wrapped entry's end
    /// printed wrapped), the usual trim and memblock from the RAM entries: 130552 KiB as without
    /// the bad entry, whose wrapped end does not fit 32 bits (skipped).
    #[test]
    fn a_map_with_a_wrapping_entry_is_used_as_handed_over() {
        let mut t = seabios_128m();
        t.push(0xffff_ffff_0000_0000, 0x2_0000_0000, 2).unwrap();
        let (mut m, mut r) = (vec![EMPTY; 128], vec![EMPTY; 128]);
        let mut mb = Memblock::new(&mut m, &mut r);
        let mut log = Lines(Vec::new());
        assert_eq!(setup_memory(&mut t, "BIOS-e820", &mut mb, true, None, &mut log), Ok(0x7fe0));
        assert_eq!(
            log.0[0],
            "e820: firmware map not sanitised, used as handed over: e820 entry 6 \
             [mem 0xffffffff00000000-0x00000000ffffffff] (size 0x200000000) wraps past 2^64"
        );
        assert_eq!(log.0[7], "BIOS-e820: [mem 0xffffffff00000000-0x00000000ffffffff] reserved");
        assert_eq!(mb.phys_mem_size() >> 10, 130_552);
    }

    /// `append_e820_table`'s checks: one entry, or an entry whose last byte wraps, make Linux
    /// ignore the map; an entry ending exactly at 2^64 passes (sanitise refuses it later).
    #[test]
    fn boot_map_checks_follow_append_e820_table() {
        let mut t = seabios_128m();
        assert_eq!(check_boot_map(&t), Ok(()));
        t.push(u64::MAX - 0xfff, 0x1000, 2).unwrap();
        assert_eq!(check_boot_map(&t), Ok(()));
        t.push(0x1_0000, 0, 1).unwrap();
        t.push(u64::MAX - 0xfff, 0x1001, 2).unwrap();
        assert_eq!(check_boot_map(&t), Err(E820Error::EndOverflow { index: 8, addr: u64::MAX - 0xfff, size: 0x1001 }));
        let one = E820Table::try_from_entries(&[E820Entry::new(0, 0x1000, E820Type::Ram)]).unwrap();
        assert_eq!(check_boot_map(&one), Err(E820Error::TooFewEntries { nr_entries: 1 }));
        // The e801 fallback for a 128 MiB PC (mem_upper = 127 MiB = 130048 KiB, SeaBIOS's
        // figure minus the ACPI tables): Linux's two ranges.
        let e801 = e801_table(130_048);
        let mut log = Lines(Vec::new());
        print_table(&e801, "BIOS-e801", &mut log);
        assert_eq!(
            log.0,
            [
                "BIOS-e801: [mem 0x0000000000000000-0x000000000009efff] usable",
                "BIOS-e801: [mem 0x0000000000100000-0x0000000007ffffff] usable",
            ]
        );
    }
}
