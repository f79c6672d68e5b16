//! The first MiB of a PC after memblock is filled: Linux 6.1 `reserve_real_mode()`
//! (arch/x86/realmode/init.c, called through `x86_platform.realmode_reserve` from `setup_arch`).
//!
//! Linux first takes the real-mode trampoline (the code a secondary CPU starts in, which a
//! start-up IPI can only name below 1 MiB) with `memblock_phys_alloc_range(size, PAGE_SIZE, 0,
//! 1 << 20)`, top-down like every memblock allocation, and then reserves the whole first MiB
//! unconditionally (`memblock_reserve(0, SZ_1M)`): BIOSes are known to corrupt low memory, and
//! the few hundred KiB are not worth detecting what gets clobbered. The trampoline thus lies
//! inside a reservation that also covers it; its own allocation only decides where it goes.
//!
//! With both done, no page below 1 MiB ever reaches the page allocator.

use memblock::{Memblock, NUMA_NO_NODE};
use mm_types::{LineSink, MemRange, PAGE_SIZE};

use crate::table::HIGH_MEMORY;

/// Owner name of the first-MiB reservation in the `early reserve:` log line.
pub const FIRST_MIB_OWNER: &str = "first 1 MiB: low memory BIOSes corrupt (reserve_real_mode)";

/// Allocates `trampoline_bytes` (page aligned, below 1 MiB, top-down) for the SMP trampoline and
/// then reserves `[0, 1 MiB)`, as Linux 6.1 `reserve_real_mode()`; see the module docs. Logs
/// `early reserve: [mem …] {trampoline_owner}` for the trampoline (or why there is none) and
/// `early reserve: [mem 0x…0-0x…fffff] {FIRST_MIB_OWNER}`.
///
/// Returns the trampoline's physical base, or `None` when no free page range below 1 MiB was
/// left (Linux: "No sub-1M memory is available for the trampoline"; the first MiB is reserved
/// all the same, and the machine runs on its boot CPU).
///
/// # Errors
/// What memblock said when it refused to reserve the first MiB (its reserved array full).
pub fn reserve_real_mode(
    mb: &mut Memblock<'_>,
    trampoline_bytes: u64,
    trampoline_owner: &str,
    log: &mut dyn LineSink,
) -> Result<Option<u64>, memblock::MemblockError> {
    let base = match mb.alloc_range(trampoline_bytes, PAGE_SIZE, 0, HIGH_MEMORY, NUMA_NO_NODE, false) {
        Ok(base) => {
            log.line(format_args!("early reserve: {} {trampoline_owner}", MemRange::new(base, trampoline_bytes)));
            Some(base)
        }
        Err(_) => {
            log.line(format_args!(
                "No sub-1M memory is available for the trampoline ({trampoline_bytes} bytes): secondary CPUs cannot be started"
            ));
            None
        }
    };
    mb.reserve(0, HIGH_MEMORY)?;
    log.line(format_args!("early reserve: {} {FIRST_MIB_OWNER}", MemRange::new(0, HIGH_MEMORY)));
    Ok(base)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::test_support::{qemu_map, Lines};
    use crate::{reserve_firmware_areas, setup_memory};
    use memblock::{Region, INIT_MEMBLOCK_REGIONS};
    use mm_types::NullSink;
    use std::vec::Vec;

    /// Pages below 1 MiB that memblock would hand to the page allocator: free memory (memory
    /// minus reserved), counted page by page against Linux's rule, which leaves none.
    fn free_low_pages(mb: &Memblock<'_>) -> u64 {
        (0..HIGH_MEMORY / PAGE_SIZE)
            .filter(|pfn| {
                let a = pfn * PAGE_SIZE;
                mb.is_memory(a) && !mb.is_reserved(a)
            })
            .count() as u64
    }

    /// `-machine pc -m 128M` with SeaBIOS's BDA words (639 KiB base memory, EBDA at 0x9fc0).
    ///
    /// ```text
    ///   0      64K                       0x9c000  0x9f000        1M
    ///   |r 64K |  free RAM                |trampol.|r BIOS ...... |
    ///   |r first MiB ................................................|
    /// ```
    /// Expect: before `reserve_real_mode` the RAM in `[64K, 0x9f000)` is free (143 pages with
    /// the trampoline's 3 taken); the trampoline goes top-down to `[0x9c000, 0x9f000)`; after,
    /// no page below 1 MiB is free and reserved holds one region `[0, 1M)`.
    #[test]
    fn qemu_pc_128m_first_mib_reserved_after_the_trampoline() {
        let mut table = qemu_map("qemu-i386-pc-128M");
        let (mut m, mut r) = ([Region::EMPTY; INIT_MEMBLOCK_REGIONS], [Region::EMPTY; INIT_MEMBLOCK_REGIONS]);
        let mut mb = Memblock::new(&mut m, &mut r);
        setup_memory(&mut table, "BIOS-e820", &mut mb, true, None, &mut NullSink).unwrap();
        reserve_firmware_areas(&mut mb, 639, 0x9fc0, &mut NullSink).unwrap();
        // RAM [0x1000, 0x9f000) less the first 64 KiB: pfns 0x10..0x9f.
        assert_eq!(free_low_pages(&mb), 0x9f - 0x10);
        let mut log = Lines::default();
        let base = reserve_real_mode(&mut mb, 3 * PAGE_SIZE, "real-mode trampoline", &mut log).unwrap();
        assert_eq!(base, Some(0x9c000));
        assert_eq!(free_low_pages(&mb), 0);
        let reserved: Vec<(u64, u64)> = mb.reserved().iter().map(|r| (r.base, r.size)).collect();
        assert_eq!(reserved, [(0, HIGH_MEMORY)]);
        assert_eq!(
            log.0,
            [
                "early reserve: [mem 0x000000000009c000-0x000000000009efff] real-mode trampoline",
                "early reserve: [mem 0x0000000000000000-0x00000000000fffff] first 1 MiB: low memory BIOSes corrupt (reserve_real_mode)",
            ]
        );
    }

    /// No free RAM below 1 MiB (all of it reserved already): Linux says so, and still reserves
    /// the first MiB.
    #[test]
    fn no_room_for_the_trampoline_still_reserves_the_first_mib() {
        let (mut m, mut r) = ([Region::EMPTY; 8], [Region::EMPTY; 8]);
        let mut mb = Memblock::new(&mut m, &mut r);
        mb.add(0x1000, 0x9e000).unwrap();
        mb.add(HIGH_MEMORY, 0x100_0000).unwrap();
        mb.reserve(0, 0x9f000).unwrap();
        let mut log = Lines::default();
        assert_eq!(reserve_real_mode(&mut mb, 3 * PAGE_SIZE, "t", &mut log), Ok(None));
        assert!(log.0[0].starts_with("No sub-1M memory is available for the trampoline"), "{:?}", log.0);
        assert!(mb.is_region_reserved(0, HIGH_MEMORY));
        assert_eq!(free_low_pages(&mb), 0);
    }
}
