//! The whole firmware-map path of an x86 boot, in Linux's order, for the firmware and the host
//! tool alike (`e820__memory_setup` → `trim_bios_range` → `e820__memblock_setup`).

use memblock::Memblock;
use mm_types::LineSink;

use crate::{memblock_setup, print_table, sanitize, trim_bios_range, E820Error, E820Table};

/// Sanitises `table` (keeping it as handed over when Linux would, and saying so), prints it as
/// `{prefix}: [mem …] type`, applies the low-memory policy ([`trim_bios_range`]) and feeds
/// memblock ([`memblock_setup`]).
///
/// `phys_addr_bits_32`: drop entries ending at or above 4 GiB (x86-32 without PAE).
///
/// # Errors
/// The first step that failed; a failed sanitise is not an error (Linux goes on with the
/// firmware's table) but is logged.
pub fn setup_memory(
    table: &mut E820Table,
    prefix: &str,
    memblock: &mut Memblock<'_>,
    phys_addr_bits_32: bool,
    log: &mut dyn LineSink,
) -> Result<(), E820Error> {
    if let Err(e) = sanitize(table) {
        log.line(format_args!("e820: firmware map not sanitised ({e}); using it as handed over"));
    }
    print_table(table, prefix, log);
    trim_bios_range(table, log)?;
    memblock_setup(table, memblock, phys_addr_bits_32)
}

/// The PC firmware areas every x86 boot reserves before memblock hands anything out (Linux
/// `early_reserve_memory`): page 0, and the BIOS area below 1 MiB that
/// [`crate::bios_regions_range`] derives from the two BDA words. Each reservation is logged as
/// `early reserve: [mem …] owner`.
///
/// # Errors
/// [`E820Error::BiosRegionsReserve`] when memblock refuses a reservation.
pub fn reserve_firmware_areas(
    memblock: &mut Memblock<'_>,
    bda_base_mem_kb: u16,
    ebda_segment: u16,
    log: &mut dyn LineSink,
) -> Result<(), E820Error> {
    let page0 = mm_types::MemRange::new(0, mm_types::PAGE_SIZE);
    let bios = crate::bios_regions_range(bda_base_mem_kb, ebda_segment);
    for (r, owner) in [(page0, "page 0"), (bios, "BIOS: EBDA, VGA and ROM area below 1 MiB")] {
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
        setup_memory(&mut t, "BIOS-e820", &mut mb, true, &mut log).unwrap();
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
        setup_memory(&mut t, "BIOS-e820", &mut mb, true, &mut log).unwrap();
        assert!(log.0[0].starts_with("e820: firmware map not sanitised"), "{:?}", log.0);
        assert_eq!(mb.phys_mem_size(), 0x100_0000);
    }
}
