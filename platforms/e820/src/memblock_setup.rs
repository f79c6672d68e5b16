//! Handing a sanitised e820 table to memblock: Linux 6.1 `e820__memblock_setup()`.
//!
//! For every entry, in table order:
//! - entries whose exclusive end does not fit the platform's `resource_size_t` are skipped.
//!   With 32-bit physical addresses (x86-32 without PAE) that is every entry ending at or
//!   above 4 GiB: Linux tests `end != (resource_size_t)end`, so even RAM ending exactly at
//!   4 GiB is dropped. With PAE or on 64-bit nothing is skipped. `end` is `addr + size` in
//!   `u64` arithmetic, so the end of an entry that wraps past 2^64 (in a table the sanitiser
//!   refused, used as handed over) wraps too, exactly as in Linux;
//! - `SOFT_RESERVED` entries are reserved in memblock (they stay out of the page allocator);
//! - `RAM` and `RESERVED_KERN` entries are added to memblock memory. `memblock_add` takes a
//!   `phys_addr_t`: with 32 bits, the address and size are truncated to 32 bits and the size
//!   capped at `PHYS_ADDR_MAX - base` (`memblock_cap_size`), which only matters for a wrapping
//!   entry whose wrapped end fits 32 bits;
//! - everything else is left out (memblock knows only usable RAM).
//!
//! Then partial pages are trimmed off every memory region (`memblock_trim_memory(PAGE_SIZE)`).
//!
//! Left to the caller, unlike Linux:
//! - `memblock_allow_resize()`, which Linux calls first so EFI maps with more than 128 RAM
//!   ranges fit: resizing needs a mapper only the platform has (`Memblock::allow_resize`);
//! - the closing `memblock_dump_all()`: call `Memblock::dump_all` with a sink if wanted.

use memblock::Memblock;
use mm_types::PAGE_SIZE;

use crate::table::{E820Error, E820Table, E820Type};

/// Adds the table's RAM to `memblock`, as Linux 6.1 `e820__memblock_setup()` does (see the
/// module docs). `phys_addr_bits_32` selects a 32-bit `resource_size_t` and `phys_addr_t`
/// (x86-32 without PAE): entries ending at or above 4 GiB are then skipped.
///
/// # Errors
/// [`E820Error::Memblock`] if memblock refuses an add or reserve (typically its region array
/// is full and resizing was not allowed). Entries before the failing one have been recorded
/// and trimming has not run.
pub fn memblock_setup(
    table: &E820Table,
    memblock: &mut Memblock<'_>,
    phys_addr_bits_32: bool,
) -> Result<(), E820Error> {
    for (index, e) in table.iter().enumerate() {
        let end = e.addr.wrapping_add(e.size);
        if phys_addr_bits_32 && u32::try_from(end).is_err() {
            continue;
        }
        let reserve = match e.kind {
            E820Type::SoftReserved => true,
            E820Type::Ram | E820Type::ReservedKern => false,
            _ => continue,
        };
        let (base, size) = if phys_addr_bits_32 {
            // (phys_addr_t) casts, then memblock_cap_size with PHYS_ADDR_MAX = 0xffffffff.
            let base = u64::from(e.addr as u32);
            (base, u64::from(e.size as u32).min(u64::from(u32::MAX) - base))
        } else {
            (e.addr, e.size)
        };
        let result = if reserve {
            memblock.reserve(base, size)
        } else {
            memblock.add(base, size)
        };
        result.map_err(|error| E820Error::Memblock {
            index,
            addr: e.addr,
            size: e.size,
            reserve,
            error,
        })?;
    }
    memblock.trim_memory(PAGE_SIZE);
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::ebda::reserve_bios_regions;
    use crate::range::trim_bios_range;
    use crate::sanitize::sanitize;
    use crate::test_support::{qemu_map, Lines};
    use memblock::{MemblockError, Region, INIT_MEMBLOCK_REGIONS};
    use mm_types::NullSink;
    use std::{format, vec::Vec};

    fn ranges(regions: &[Region]) -> Vec<(u64, u64)> {
        regions.iter().map(|r| (r.base, r.base + r.size)).collect()
    }

    /// The firmware path of an x86-32 PC for one QEMU map: sanitise, trim the BIOS range,
    /// hand to memblock. Returns memblock's memory as `[start, end)` pairs and its size.
    fn boot(name: &str, phys_addr_bits_32: bool) -> (Vec<(u64, u64)>, u64) {
        let mut table = qemu_map(name);
        sanitize(&mut table).unwrap();
        trim_bios_range(&mut table, &mut NullSink).unwrap();
        let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut mb = Memblock::new(&mut mem, &mut res);
        memblock_setup(&table, &mut mb, phys_addr_bits_32).unwrap();
        (ranges(mb.memory()), mb.phys_mem_size())
    }

    /// Acceptance, `-machine pc -m 128M`. Page 0 became reserved and the RAM below the EBDA
    /// (`[0x1000, 0x9fc00)`) loses its partial last page to the trim. Expect exactly
    /// `[0x1000-0x9f000)` and `[0x100000-0x7fe0000)`: 632 KiB + 129920 KiB = 130552 KiB, the
    /// second figure of Linux 6.1 i386's `Memory: …K/130552K available`.
    #[test]
    fn acceptance_qemu_pc_128m() {
        let (memory, total) = boot("qemu-i386-pc-128M", true);
        assert_eq!(memory, [(0x1000, 0x9f000), (0x100000, 0x7fe0000)]);
        assert_eq!(total / 1024, 130_552);
    }

    /// Acceptance, `-machine pc -m 3G`. Same low part; high RAM runs from 1 MiB to the
    /// reserved range SeaBIOS puts just below 3 GiB (`0xbffe0000`). Every end is below 4 GiB,
    /// so the 32-bit skip rule drops nothing (the reserved BIOS ROM ending exactly at 4 GiB is
    /// skipped, but it is not RAM anyway). Expect `[0x1000-0x9f000)` and
    /// `[0x100000-0xbffe0000)`: 632 KiB + 3144576 KiB = 3145208 KiB. (A non-PAE kernel maps
    /// only the low 896 MiB directly; the rest is highmem, still memblock memory.)
    #[test]
    fn acceptance_qemu_pc_3g() {
        let (memory, total) = boot("qemu-i386-pc-3G", true);
        assert_eq!(memory, [(0x1000, 0x9f000), (0x100000, 0xbffe0000)]);
        assert_eq!(total / 1024, 632 + 3_144_576);
    }

    /// Acceptance, `-machine q35 -m 3G`: low RAM stops at 2 GiB (`0x7ffdf000`, below the
    /// reserved `0x7ffdf000-0x80000000` and the PCIe MMCONFIG window) and the last GiB sits at
    /// `[0x100000000-0x140000000)`. A non-PAE x86-32 kernel has a 32-bit `resource_size_t`, so
    /// `e820__memblock_setup()` skips that entry: the RAM above 4 GiB is lost. Expect
    /// `[0x1000-0x9f000)` and `[0x100000-0x7ffdf000)`: 632 KiB + 2095996 KiB = 2096628 KiB.
    /// With 64-bit physical addresses (PAE) the high GiB is kept.
    #[test]
    fn acceptance_qemu_q35_3g() {
        let (memory, total) = boot("qemu-i386-q35-3G", true);
        assert_eq!(memory, [(0x1000, 0x9f000), (0x100000, 0x7ffdf000)]);
        assert_eq!(total / 1024, 632 + 2_095_996);

        let (memory, total) = boot("qemu-i386-q35-3G", false);
        assert_eq!(
            memory,
            [
                (0x1000, 0x9f000),
                (0x100000, 0x7ffdf000),
                (0x1_0000_0000, 0x1_4000_0000)
            ]
        );
        assert_eq!(total / 1024, 632 + 2_095_996 + 1_048_576);
    }

    /// The full low-memory picture for `-machine pc -m 128M`, with the BDA words SeaBIOS
    /// writes (base memory 639 KiB, EBDA at segment 0x9fc0). Expect reserved
    /// `[0x9f000-0x100000)` and the printed table Linux shows after `trim_bios_range`.
    #[test]
    fn qemu_pc_128m_with_bios_regions() {
        let mut table = qemu_map("qemu-i386-pc-128M");
        sanitize(&mut table).unwrap();
        trim_bios_range(&mut table, &mut NullSink).unwrap();
        let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut mb = Memblock::new(&mut mem, &mut res);
        let reserved = reserve_bios_regions(639, 0x9fc0, &mut mb).unwrap();
        assert_eq!((reserved.base, reserved.end()), (0x9f000, 0x100000));
        memblock_setup(&table, &mut mb, true).unwrap();
        assert_eq!(ranges(mb.reserved()), [(0x9f000, 0x100000)]);
        let mut log = Lines::default();
        crate::print_table(&table, "modified", &mut log);
        assert_eq!(
            log.0,
            [
                "modified: [mem 0x0000000000000000-0x0000000000000fff] reserved",
                "modified: [mem 0x0000000000001000-0x000000000009fbff] usable",
                "modified: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
                "modified: [mem 0x00000000000f0000-0x00000000000fffff] reserved",
                "modified: [mem 0x0000000000100000-0x0000000007fdffff] usable",
                "modified: [mem 0x0000000007fe0000-0x0000000007ffffff] reserved",
                "modified: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved",
            ]
        );
    }

    /// ```text
    ///   RAM       |0x1000800 ..... 0x2000000|          partial first page
    ///   RESV_KERN |0x3000000-0x3001000|                added like RAM
    ///   SOFT_RES  |0x4000000-0x4100000|                reserved, not memory
    ///   ACPI      |0x5000000-0x5001000|                ignored
    ///   RAM       |0xfff00000 ... 0x100000000|         ends exactly at 4 GiB
    /// ```
    /// Expect (32-bit): memory = trimmed RAM + RESERVED_KERN; the RAM ending at 4 GiB is
    /// skipped (its end does not fit 32 bits, as in Linux); reserved = the soft-reserved range.
    #[test]
    fn types_and_the_32_bit_end_rule() {
        let mut table = E820Table::new();
        table.push(0x100_0800, 0xff_f800, 1).unwrap();
        table.push(0x300_0000, 0x1000, 128).unwrap();
        table.push(0x400_0000, 0x10_0000, 0xefff_ffff).unwrap();
        table.push(0x500_0000, 0x1000, 3).unwrap();
        table.push(0xfff0_0000, 0x10_0000, 1).unwrap();
        for (bits32, expected_memory) in [
            (
                true,
                &[(0x100_1000, 0x200_0000), (0x300_0000, 0x300_1000)][..],
            ),
            (
                false,
                &[
                    (0x100_1000, 0x200_0000),
                    (0x300_0000, 0x300_1000),
                    (0xfff0_0000, 0x1_0000_0000),
                ][..],
            ),
        ] {
            let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
            let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
            let mut mb = Memblock::new(&mut mem, &mut res);
            memblock_setup(&table, &mut mb, bits32).unwrap();
            assert_eq!(ranges(mb.memory()), expected_memory, "32-bit: {bits32}");
            assert_eq!(ranges(mb.reserved()), [(0x400_0000, 0x410_0000)]);
        }
    }

    /// memblock arrays of two regions and three disjoint RAM ranges. Expect the third add to
    /// fail with an error naming e820 entry 2.
    #[test]
    fn memblock_full_is_reported_with_the_entry() {
        let mut table = E820Table::new();
        for i in 0..3u64 {
            table.push(i * 0x10_0000, 0x1000, 1).unwrap();
        }
        let mut mem = [Region::EMPTY; 2];
        let mut res = [Region::EMPTY; 2];
        let mut mb = Memblock::new(&mut mem, &mut res);
        let err = memblock_setup(&table, &mut mb, true).unwrap_err();
        assert_eq!(
            err,
            E820Error::Memblock {
                index: 2,
                addr: 0x20_0000,
                size: 0x1000,
                reserve: false,
                error: MemblockError::NoMemory
            }
        );
        assert!(format!("{err}").starts_with(
            "memblock_add of e820 entry 2 [mem 0x0000000000200000-0x0000000000200fff] failed"
        ));
    }

    /// ```text
    ///   RAM |0x0-0x100000|
    ///   RAM |0xffff_ffff_ffff_f000 + 0x3000|       wraps to 0x2000
    ///   RAM |0xffff_ffff_0000_0000 + 0x1_0000_1000|  wraps to 0x1000 (truncates to 0x0 + 0x1000)
    ///   RAM |0xffff_ffff_ffff_0000 + 0x1_8000|     wraps to 0x8000
    ///   RAM |0xffff_ffff_ffff_0000 + 0xffff_0001_0000| wraps to 0xffff_0000_0000: skipped (32-bit)
    /// ```
    /// Linux's `u64` arithmetic, unchecked. Expect, 64-bit: each wrapping entry added from its
    /// base up to the top of the address space (memblock caps the size), then trimmed to whole
    /// pages; 32-bit: the wrapped ends fit 32 bits, so the entries are added with their
    /// address and size truncated to 32 bits and capped below 4 GiB: `[0xfffff000, +0xfff)`
    /// trims away, `[0, 0x1000)` joins the first RAM, `[0xffff0000, +0xffff)` keeps 15 pages.
    #[test]
    fn a_wrapping_entry_is_handled_as_linux_does() {
        let mut table = E820Table::new();
        table.push(0, 0x10_0000, 1).unwrap();
        table.push(0xffff_ffff_ffff_f000, 0x3000, 1).unwrap();
        table.push(0xffff_ffff_0000_0000, 0x1_0000_1000, 1).unwrap();
        table.push(0xffff_ffff_ffff_0000, 0x1_8000, 1).unwrap();
        table.push(0xffff_ffff_ffff_0000, 0xffff_0001_0000, 1).unwrap();
        let mut mem = [Region::EMPTY; 8];
        let mut res = [Region::EMPTY; 8];
        let mut mb = Memblock::new(&mut mem, &mut res);
        memblock_setup(&table, &mut mb, true).unwrap();
        assert_eq!(ranges(mb.memory()), [(0, 0x10_0000), (0xffff_0000, 0xffff_f000)]);
        let mut mem = [Region::EMPTY; 8];
        let mut res = [Region::EMPTY; 8];
        let mut mb = Memblock::new(&mut mem, &mut res);
        memblock_setup(&table, &mut mb, false).unwrap();
        assert_eq!(
            ranges(mb.memory()),
            [(0, 0x10_0000), (0xffff_ffff_0000_0000, 0xffff_ffff_ffff_f000)]
        );
    }
}
