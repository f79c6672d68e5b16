//! The BIOS e820 memory map: Linux 6.1's sanitising, range edits, printing and memblock hand-off.
//!
//! An x86 PC firmware or boot loader describes physical memory as an e820 map: a list of
//! `[addr, addr + size)` ranges with a type (usable RAM, reserved, ACPI, …). The map may be
//! unsorted, overlapping and redundant. This crate mirrors what Linux 6.1 does with it in
//! `arch/x86/kernel/e820.c`, `setup.c` and `ebda.c`, in the order a platform calls it:
//!
//! 1. fill an [`E820Table`] with [`E820Table::push`] (the platform reads the Multiboot or
//!    BIOS map; a host tool parses JSON itself);
//! 2. [`sanitize`] it (`e820__update_table`) and [`print_table`] it (`e820__print_table`,
//!    `BIOS-e820: [mem …] usable`);
//! 3. [`trim_bios_range`] (`trim_bios_range`: page 0 reserved, RAM in 640 KiB–1 MiB removed),
//!    built on [`range_update`] and [`range_remove`];
//! 4. reserve the BIOS areas below 1 MiB in memblock with [`reserve_bios_regions`]
//!    (`reserve_bios_regions`, part of `early_reserve_memory`), from the two BDA words;
//! 5. [`memblock_setup`] (`e820__memblock_setup`): RAM into memblock memory, soft-reserved into
//!    memblock reserved, partial pages trimmed;
//! 6. [`reserve_real_mode`] (`reserve_real_mode`): the SMP trampoline below 1 MiB, then the
//!    whole first MiB reserved.
//!
//! [`setup_memory`] runs steps 2, 3 and 5 in that order; the x86 platform and the host tool
//! (`cargo xtask memmap --e820`) both call it.
//!
//! Invariants: a table never holds more than [`E820_MAX_ENTRIES`]; every operation that can
//! fail returns an [`E820Error`] naming the entry or range at fault and, except where its docs
//! say otherwise, leaves the table as it was. Nothing here panics on bad input. Reports go to a
//! [`mm_types::LineSink`] in Linux's exact wording.
//!
//! Where this crate differs from Linux, the item docs say so and why (table capacity,
//! refusal instead of silent truncation, deleted instead of zeroed slots, resize and dump left
//! to the caller).
#![no_std]
#![forbid(unsafe_code)]

mod ebda;
mod memblock_setup;
mod range;
mod realmode;
mod sanitize;
mod setup;
mod table;
#[cfg(test)]
mod test_support;

pub use ebda::{
    bios_regions_range, reserve_bios_regions, BDA_BASE_MEM_KB_ADDR, BDA_EBDA_SEGMENT_ADDR,
    BIOS_START_MAX, BIOS_START_MIN,
};
pub use memblock_setup::memblock_setup;
pub use range::{range_remove, range_update, trim_bios_range};
pub use realmode::{reserve_real_mode, FIRST_MIB_OWNER};
pub use sanitize::sanitize;
pub use setup::{
    check_boot_map, e801_table, end_of_ram_pfn, reserve_firmware_areas, setup_memory, LOWMEMSIZE, LOW_RESERVE_BYTES,
    MAX_ARCH_PFN_32, MAX_ARCH_PFN_64,
};
pub use table::{
    print_table, E820Entry, E820Error, E820Table, E820Type, BIOS_BEGIN, BIOS_END, E820_MAX_ENTRIES,
    HIGH_MEMORY,
};
