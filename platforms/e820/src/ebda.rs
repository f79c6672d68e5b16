//! Reserving the PC BIOS areas below 1 MiB: Linux 6.1 `reserve_bios_regions()`
//! (arch/x86/kernel/ebda.c).
//!
//! The BIOS keeps its Extended BIOS Data Area at the top of conventional memory and usually
//! lowers the base-memory size it reports (BDA word at 0x413, in KiB) to hide it. Linux
//! reserves everything from that size up to 1 MiB, conservatively:
//! - a base-memory size below 128 KiB ([`BIOS_START_MIN`]) or above 636 KiB
//!   ([`BIOS_START_MAX`], 0x9f000) is not trusted and replaced by 0x9f000; so the page below
//!   640 KiB is always reserved (a Dell EBDA quirk and AMD768MPX erratum #56);
//! - if the EBDA (segment in the BDA word at 0x40e, times 16) starts at or above 128 KiB and
//!   below that point, the reservation starts at the EBDA instead.
//!
//! The platform reads the two BDA words (identity-mapped low memory) and passes them in, so the
//! policy is testable on the host. Linux skips the whole step on paravirtual platforms
//! (`x86_platform.legacy.reserve_bios_regions`); that decision is the caller's.
//!
//! Like Linux, the start is not rounded to a page: it is a KiB multiple from the BDA, or a
//! 16-byte multiple from the EBDA segment, and memblock reserves byte ranges.

use memblock::Memblock;
use mm_types::MemRange;

use crate::table::{E820Error, BIOS_END};

/// Physical address of the BDA word holding the base-memory size in KiB (INT 12h).
pub const BDA_BASE_MEM_KB_ADDR: u64 = 0x413;
/// Physical address of the BDA word holding the EBDA real-mode segment.
pub const BDA_EBDA_SEGMENT_ADDR: u64 = 0x40e;
/// Lowest believable start of the BIOS area, 128 KiB.
pub const BIOS_START_MIN: u64 = 0x2_0000;
/// Highest believable start of the BIOS area, and the fallback: 0x9f000 (636 KiB).
pub const BIOS_START_MAX: u64 = 0x9_f000;

/// The range Linux 6.1 `reserve_bios_regions()` reserves for these BDA words:
/// `[start, 1 MiB)`, see the module docs.
pub fn bios_regions_range(bda_base_mem_kb: u16, ebda_segment: u16) -> MemRange {
    let mut bios_start = u64::from(bda_base_mem_kb) << 10;
    if !(BIOS_START_MIN..=BIOS_START_MAX).contains(&bios_start) {
        bios_start = BIOS_START_MAX;
    }
    let ebda_start = u64::from(ebda_segment) << 4;
    if ebda_start >= BIOS_START_MIN && ebda_start < bios_start {
        bios_start = ebda_start;
    }
    MemRange::new(bios_start, BIOS_END - bios_start)
}

/// Reserves [`bios_regions_range`] in `memblock` and returns it.
///
/// # Errors
/// [`E820Error::BiosRegionsReserve`] if memblock cannot record the reservation.
pub fn reserve_bios_regions(
    bda_base_mem_kb: u16,
    ebda_segment: u16,
    memblock: &mut Memblock<'_>,
) -> Result<MemRange, E820Error> {
    let range = bios_regions_range(bda_base_mem_kb, ebda_segment);
    memblock
        .reserve(range.base, range.size)
        .map_err(|error| E820Error::BiosRegionsReserve {
            addr: range.base,
            size: range.size,
            error,
        })?;
    Ok(range)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use memblock::{Region, INIT_MEMBLOCK_REGIONS};

    fn start(kb: u16, seg: u16) -> u64 {
        let r = bios_regions_range(kb, seg);
        assert_eq!(r.end(), 0x10_0000);
        r.base
    }

    #[test]
    fn seabios_values_reserve_from_636k() {
        // SeaBIOS: 639 KiB base memory (above the 636 KiB cap) and EBDA at 0x9fc00.
        assert_eq!(start(639, 0x9fc0), 0x9f000);
    }

    #[test]
    fn bogus_base_memory_falls_back_to_the_cap() {
        assert_eq!(start(0, 0), 0x9f000); // below 128 KiB: insane
        assert_eq!(start(127, 0), 0x9f000);
        assert_eq!(start(640, 0), 0x9f000); // above the cap
        assert_eq!(start(u16::MAX, 0), 0x9f000);
        assert_eq!(start(128, 0), 0x20000); // the bounds themselves are believed
        assert_eq!(start(636, 0), 0x9f000);
    }

    #[test]
    fn lower_ebda_wins_when_sane() {
        // Dell-style: base memory not lowered, EBDA below it.
        assert_eq!(start(636, 0x9000), 0x90000);
        // EBDA below 128 KiB is ignored.
        assert_eq!(start(600, 0x1000), 600 << 10);
        // EBDA above the base-memory point is already covered.
        assert_eq!(start(600, 0x9e00), 600 << 10);
        // No EBDA (segment 0).
        assert_eq!(start(600, 0), 600 << 10);
    }

    #[test]
    fn unaligned_start_is_kept_like_linux() {
        // 633 KiB = 0x9e400, not a page multiple; Linux reserves from there.
        assert_eq!(start(633, 0), 0x9e400);
        assert_eq!(start(636, 0x9e41), 0x9e410);
    }

    #[test]
    fn reserves_in_memblock() {
        let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut mb = Memblock::new(&mut mem, &mut res);
        let r = reserve_bios_regions(639, 0x9fc0, &mut mb).unwrap();
        assert_eq!(r, MemRange::new(0x9f000, 0x61000));
        assert_eq!(mb.reserved_size(), 0x61000);
        assert_eq!(mb.reserved()[0].base, 0x9f000);
    }

    /// A reserved array of two regions already holding two disjoint ranges. Expect an error
    /// naming the BIOS range.
    #[test]
    fn memblock_refusal_is_reported() {
        let mut mem = [Region::EMPTY; 2];
        let mut res = [Region::EMPTY; 2];
        let mut mb = Memblock::new(&mut mem, &mut res);
        mb.reserve(0x1000, 0x1000).unwrap();
        mb.reserve(0x200_0000, 0x1000).unwrap();
        let err = reserve_bios_regions(639, 0x9fc0, &mut mb).unwrap_err();
        assert_eq!(
            err,
            E820Error::BiosRegionsReserve {
                addr: 0x9f000,
                size: 0x61000,
                error: memblock::MemblockError::NoMemory
            }
        );
        assert!(std::format!("{err}").starts_with(
            "memblock_reserve of the BIOS areas [mem 0x000000000009f000-0x00000000000fffff] failed"
        ));
    }
}
