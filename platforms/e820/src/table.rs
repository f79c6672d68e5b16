//! The e820 table: typed entries in a fixed-capacity array, and how Linux prints them.
//!
//! Concepts (Linux `arch/x86/include/asm/e820/types.h`, `arch/x86/kernel/e820.c`):
//! - An [`E820Entry`] is a half-open physical range `[addr, addr + size)` with a firmware type.
//!   Types are compared by their number: when entries overlap, the higher number wins
//!   (see [`crate::sanitize`]).
//! - [`E820Type`] keeps every `u32` the firmware gives: the types Linux 6.1 names have variants,
//!   anything else is [`E820Type::Unknown`] and prints as `type N`, exactly as Linux does.
//!   Equality, ordering and hashing go through [`E820Type::as_u32`], so `Unknown(1)` and `Ram`
//!   are the same type.
//! - An [`E820Table`] holds at most [`E820_MAX_ENTRIES`] entries in insertion order. Adding to a
//!   full table is refused with [`E820Error::TableFull`] (Linux's `__e820__range_add` prints
//!   "too many entries" and drops the range; here the caller decides).
//!
//! Invariants: `nr_entries <= E820_MAX_ENTRIES`; only `entries[..nr_entries]` is meaningful.
//! A freshly filled table may overlap, contain zero-size entries or entries whose end overflows
//! `u64`; [`crate::sanitize`] either fixes the first two or rejects the table.
//!
//! Printing mirrors `e820__print_table()` / `e820_print_type()` (Linux 6.1), one line per
//! entry through a [`LineSink`].

use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};

use mm_types::{LineSink, MemRange};

/// Capacity of an [`E820Table`]: the 128 entries the boot protocol's zero page carries
/// (Linux `E820_MAX_ENTRIES_ZEROPAGE`, and memblock's `INIT_MEMBLOCK_REGIONS`).
///
/// Linux sizes its tables `E820_MAX_ENTRIES = E820_MAX_ENTRIES_ZEROPAGE + 3 * MAX_NUMNODES`
/// (131 on a non-NUMA i386 kernel) to leave room for EFI-extended maps; a BIOS/Multiboot map
/// never has those, so this crate keeps the zero-page limit.
pub const E820_MAX_ENTRIES: usize = 128;

/// Start of the legacy VGA/BIOS hole, 640 KiB (Linux `BIOS_BEGIN`).
pub const BIOS_BEGIN: u64 = 0x000a_0000;
/// End (exclusive) of the legacy VGA/BIOS hole, 1 MiB (Linux `BIOS_END`).
pub const BIOS_END: u64 = 0x0010_0000;
/// First byte above the legacy area (Linux `HIGH_MEMORY`).
pub const HIGH_MEMORY: u64 = 0x0010_0000;

/// An e820 memory type (Linux `enum e820_type`), keeping unknown numbers.
#[derive(Clone, Copy, Debug)]
pub enum E820Type {
    /// 1: usable RAM (`E820_TYPE_RAM`).
    Ram,
    /// 2: reserved by firmware or chipset (`E820_TYPE_RESERVED`).
    Reserved,
    /// 3: ACPI tables, reclaimable after parsing (`E820_TYPE_ACPI`).
    Acpi,
    /// 4: ACPI non-volatile storage (`E820_TYPE_NVS`).
    Nvs,
    /// 5: memory with detected errors (`E820_TYPE_UNUSABLE`).
    Unusable,
    /// 7: persistent memory, ACPI 6 (`E820_TYPE_PMEM`).
    Pmem,
    /// 12: legacy persistent memory (`E820_TYPE_PRAM`); never merged with neighbours.
    Pram,
    /// 0xefffffff: EFI "specific purpose" memory (`E820_TYPE_SOFT_RESERVED`); never merged.
    SoftReserved,
    /// 128: RAM the kernel itself reserved (`E820_TYPE_RESERVED_KERN`, Linux 6.1); prints as
    /// `usable` and is handed to memblock like RAM.
    ReservedKern,
    /// Any other number, kept as given; prints as `type N`.
    Unknown(u32),
}

impl E820Type {
    /// The type for a firmware number (never fails: unknown numbers are kept).
    pub const fn from_u32(raw: u32) -> Self {
        match raw {
            1 => Self::Ram,
            2 => Self::Reserved,
            3 => Self::Acpi,
            4 => Self::Nvs,
            5 => Self::Unusable,
            7 => Self::Pmem,
            12 => Self::Pram,
            0xefff_ffff => Self::SoftReserved,
            128 => Self::ReservedKern,
            other => Self::Unknown(other),
        }
    }

    /// The firmware number of this type.
    pub const fn as_u32(self) -> u32 {
        match self {
            Self::Ram => 1,
            Self::Reserved => 2,
            Self::Acpi => 3,
            Self::Nvs => 4,
            Self::Unusable => 5,
            Self::Pmem => 7,
            Self::Pram => 12,
            Self::SoftReserved => 0xefff_ffff,
            Self::ReservedKern => 128,
            Self::Unknown(raw) => raw,
        }
    }

    /// Linux `e820_nomerge()`: PRAM and soft-reserved ranges may mark NUMA, protection or
    /// performance-domain boundaries, so sanitising never joins two of them.
    pub const fn is_nomerge(self) -> bool {
        matches!(self.as_u32(), 12 | 0xefff_ffff)
    }
}

impl PartialEq for E820Type {
    fn eq(&self, other: &Self) -> bool {
        self.as_u32() == other.as_u32()
    }
}

impl Eq for E820Type {}

impl PartialOrd for E820Type {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for E820Type {
    /// By firmware number, the order `e820__update_table()` resolves overlaps with.
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_u32().cmp(&other.as_u32())
    }
}

impl Hash for E820Type {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_u32().hash(state);
    }
}

impl From<u32> for E820Type {
    fn from(raw: u32) -> Self {
        Self::from_u32(raw)
    }
}

impl From<E820Type> for u32 {
    fn from(kind: E820Type) -> Self {
        kind.as_u32()
    }
}

impl fmt::Display for E820Type {
    /// The words of Linux 6.1 `e820_print_type()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_u32() {
            1 | 128 => f.write_str("usable"),
            2 => f.write_str("reserved"),
            0xefff_ffff => f.write_str("soft reserved"),
            3 => f.write_str("ACPI data"),
            4 => f.write_str("ACPI NVS"),
            5 => f.write_str("unusable"),
            raw @ (7 | 12) => write!(f, "persistent (type {raw})"),
            raw => write!(f, "type {raw}"),
        }
    }
}

/// One e820 range: `[addr, addr + size)` of type `kind` (Linux `struct e820_entry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct E820Entry {
    /// First byte.
    pub addr: u64,
    /// Length in bytes (may be zero in a raw firmware map).
    pub size: u64,
    /// Memory type.
    pub kind: E820Type,
}

impl E820Entry {
    /// A placeholder used to fill unused table slots.
    pub(crate) const EMPTY: Self = Self::new(0, 0, E820Type::Unknown(0));

    /// The entry `[addr, addr + size)` of type `kind`.
    pub const fn new(addr: u64, size: u64, kind: E820Type) -> Self {
        Self { addr, size, kind }
    }

    /// Exclusive end, or `None` when `addr + size` does not fit in a `u64` (an entry Linux's
    /// `e820__update_table()` calls "unreasonable").
    pub const fn end(&self) -> Option<u64> {
        self.addr.checked_add(self.size)
    }

    /// The range, for printing as `[mem 0x…-0x…]`.
    pub const fn range(&self) -> MemRange {
        MemRange::new(self.addr, self.size)
    }
}

/// Why an e820 operation refused to act. Every variant names the entry or range at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E820Error {
    /// The table already holds [`E820_MAX_ENTRIES`] entries; `[addr, addr + size)` of `kind`
    /// was not added.
    TableFull {
        /// First byte of the refused range.
        addr: u64,
        /// Length of the refused range.
        size: u64,
        /// Type of the refused range.
        kind: E820Type,
    },
    /// [`crate::sanitize`] was given fewer than two entries; Linux 6.1's
    /// `e820__update_table()` returns -1 and leaves such a table alone. The table is unchanged.
    TooFewEntries {
        /// Entries in the table.
        nr_entries: usize,
    },
    /// Entry `index` ends beyond the 64-bit address space (`addr + size` overflows). The
    /// table is unchanged.
    EndOverflow {
        /// Index of the offending entry in the table.
        index: usize,
        /// Its first byte.
        addr: u64,
        /// Its length.
        size: u64,
    },
    /// Sanitising would produce `needed` entries, more than [`E820_MAX_ENTRIES`] (Linux
    /// silently drops the excess). The table is unchanged.
    SanitizedTooLarge {
        /// Entries the sanitised map needs.
        needed: usize,
    },
    /// [`crate::range_update`] was asked to change `kind` into itself (a `BUG_ON` in Linux).
    SameType {
        /// The type given as both old and new.
        kind: E820Type,
    },
    /// Splitting entries for an update or removal of `[start, start + size)` needs `needed`
    /// more slots but only `free` are left. The table is unchanged.
    SplitTableFull {
        /// First byte of the requested range.
        start: u64,
        /// Length of the requested range (after clamping to the address space).
        size: u64,
        /// Slots the operation would add.
        needed: usize,
        /// Slots left in the table.
        free: usize,
    },
    /// memblock refused to record entry `index` (`[addr, addr + size)`) as memory
    /// (`reserve == false`) or as reserved (`reserve == true`).
    Memblock {
        /// Index of the entry in the e820 table.
        index: usize,
        /// First byte of the range.
        addr: u64,
        /// Length of the range.
        size: u64,
        /// Whether the failed call was `reserve` (else `add`).
        reserve: bool,
        /// What memblock said.
        error: memblock::MemblockError,
    },
    /// memblock refused to reserve the BIOS areas `[addr, addr + size)` found from the BDA
    /// ([`crate::reserve_bios_regions`]).
    BiosRegionsReserve {
        /// First byte of the range.
        addr: u64,
        /// Length of the range.
        size: u64,
        /// What memblock said.
        error: memblock::MemblockError,
    },
}

impl fmt::Display for E820Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TableFull { addr, size, kind } => write!(
                f,
                "e820 table full ({E820_MAX_ENTRIES} entries); cannot add {} {kind}",
                MemRange::new(addr, size)
            ),
            Self::TooFewEntries { nr_entries } => write!(
                f,
                "e820 table has {nr_entries} entr{}; sanitising needs at least 2",
                if nr_entries == 1 { "y" } else { "ies" }
            ),
            Self::EndOverflow { index, addr, size } => write!(
                f,
                "e820 entry {index} [mem {addr:#018x}-{:#018x}] (size {size:#x}) wraps past 2^64",
                addr.wrapping_add(size).wrapping_sub(1)
            ),
            Self::SanitizedTooLarge { needed } => write!(
                f,
                "sanitised e820 map needs {needed} entries, more than the {E820_MAX_ENTRIES} that fit"
            ),
            Self::SameType { kind } => {
                write!(f, "e820 range update from {kind} to the same type")
            }
            Self::SplitTableFull { start, size, needed, free } => write!(
                f,
                "e820 edit of {} needs {needed} more entries, only {free} free",
                MemRange::new(start, size)
            ),
            Self::Memblock { index, addr, size, reserve, error } => write!(
                f,
                "memblock_{} of e820 entry {index} {} failed: {}",
                if reserve { "reserve" } else { "add" },
                MemRange::new(addr, size),
                error.as_str()
            ),
            Self::BiosRegionsReserve { addr, size, error } => write!(
                f,
                "memblock_reserve of the BIOS areas {} failed: {}",
                MemRange::new(addr, size),
                error.as_str()
            ),
        }
    }
}

/// A fixed-capacity e820 map (Linux `struct e820_table`), in insertion order until sanitised.
#[derive(Clone, Debug)]
pub struct E820Table {
    entries: [E820Entry; E820_MAX_ENTRIES],
    nr_entries: usize,
}

impl Default for E820Table {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for E820Table {
    fn eq(&self, other: &Self) -> bool {
        self.entries() == other.entries()
    }
}

impl Eq for E820Table {}

impl E820Table {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            entries: [E820Entry::EMPTY; E820_MAX_ENTRIES],
            nr_entries: 0,
        }
    }

    /// A table holding `entries` in order.
    ///
    /// # Errors
    /// [`E820Error::TableFull`] naming the first entry that does not fit.
    pub fn try_from_entries(entries: &[E820Entry]) -> Result<Self, E820Error> {
        let mut table = Self::new();
        for &entry in entries {
            table.push_entry(entry)?;
        }
        Ok(table)
    }

    /// Appends `[addr, addr + size)` with the firmware type number `type_raw`, unchecked
    /// otherwise (overlaps, zero sizes and overflowing ends are for [`crate::sanitize`]).
    ///
    /// # Errors
    /// [`E820Error::TableFull`] when [`E820_MAX_ENTRIES`] entries are already present.
    pub fn push(&mut self, addr: u64, size: u64, type_raw: u32) -> Result<(), E820Error> {
        self.push_entry(E820Entry::new(addr, size, E820Type::from_u32(type_raw)))
    }

    /// Appends the firmware's entries in order, as Linux's `append_e820_table` →
    /// `e820__range_add` does: once the table holds [`E820_MAX_ENTRIES`], each further entry is
    /// ignored with `e820: too many entries; ignoring [mem …]`, and a last line says how many
    /// were kept and ignored. The boot goes on with the first entries. Returns how many were
    /// ignored.
    pub fn push_firmware_entries(&mut self, entries: impl IntoIterator<Item = (u64, u64, u32)>, log: &mut dyn mm_types::LineSink) -> usize {
        let (mut given, mut ignored) = (0usize, 0usize);
        for (addr, size, type_raw) in entries {
            given += 1;
            if self.push(addr, size, type_raw).is_err() {
                log.line(format_args!("e820: too many entries; ignoring [mem {addr:#010x}-{:#010x}]", addr.wrapping_add(size).wrapping_sub(1)));
                ignored += 1;
            }
        }
        if ignored > 0 {
            log.line(format_args!(
                "e820: the map has {given} entries, more than the table's E820_MAX_ENTRIES ({E820_MAX_ENTRIES}): the first {} are used, {ignored} ignored",
                given - ignored
            ));
        }
        ignored
    }

    /// Appends `entry` (Linux `__e820__range_add`).
    ///
    /// # Errors
    /// [`E820Error::TableFull`] when [`E820_MAX_ENTRIES`] entries are already present.
    pub fn push_entry(&mut self, entry: E820Entry) -> Result<(), E820Error> {
        match self.entries.get_mut(self.nr_entries) {
            Some(slot) => {
                *slot = entry;
                self.nr_entries += 1;
                Ok(())
            }
            None => Err(E820Error::TableFull {
                addr: entry.addr,
                size: entry.size,
                kind: entry.kind,
            }),
        }
    }

    /// The entries, in table order.
    pub fn entries(&self) -> &[E820Entry] {
        &self.entries[..self.nr_entries]
    }

    /// Iterates over the entries in table order.
    pub fn iter(&self) -> core::slice::Iter<'_, E820Entry> {
        self.entries().iter()
    }

    /// Number of entries.
    pub const fn len(&self) -> usize {
        self.nr_entries
    }

    /// Whether the table has no entries.
    pub const fn is_empty(&self) -> bool {
        self.nr_entries == 0
    }

    /// Slots still free.
    pub const fn free_slots(&self) -> usize {
        E820_MAX_ENTRIES - self.nr_entries
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.nr_entries = 0;
    }

    /// Mutable view of the live entries (crate-internal edits keep the count invariant).
    pub(crate) fn entries_mut(&mut self) -> &mut [E820Entry] {
        &mut self.entries[..self.nr_entries]
    }

    /// Removes entry `index`, keeping the order of the others. Out-of-range is a no-op.
    pub(crate) fn remove(&mut self, index: usize) {
        if index < self.nr_entries {
            self.entries.copy_within(index + 1..self.nr_entries, index);
            self.nr_entries -= 1;
        }
    }

    /// Replaces the contents with `entries` (at most [`E820_MAX_ENTRIES`]; callers check).
    pub(crate) fn replace_with(&mut self, entries: &[E820Entry]) {
        let n = entries.len().min(E820_MAX_ENTRIES);
        self.entries[..n].copy_from_slice(&entries[..n]);
        self.nr_entries = n;
    }
}

impl<'a> IntoIterator for &'a E820Table {
    type Item = &'a E820Entry;
    type IntoIter = core::slice::Iter<'a, E820Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Prints one line per entry, as Linux 6.1 `e820__print_table(who)` does:
/// `{prefix}: [mem 0x%016llx-0x%016llx] {type}` with an inclusive end, e.g.
/// `BIOS-e820: [mem 0x0000000000100000-0x0000000007fdffff] usable`.
///
/// A zero-size entry prints with end `addr - 1`, as in Linux.
pub fn print_table(table: &E820Table, prefix: &str, sink: &mut dyn LineSink) {
    for entry in table {
        sink.line(format_args!("{prefix}: {} {}", entry.range(), entry.kind));
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::test_support::Lines;
    use std::{format, string::ToString, vec::Vec};

    #[test]
    fn type_numbers_round_trip_and_unknown_is_kept() {
        for raw in [1, 2, 3, 4, 5, 7, 12, 0xefff_ffff, 128, 0, 6, 20, u32::MAX] {
            assert_eq!(E820Type::from_u32(raw).as_u32(), raw);
        }
        assert_eq!(E820Type::from_u32(20), E820Type::Unknown(20));
        // Non-canonical spelling of a known number is the same type.
        assert_eq!(E820Type::Unknown(1), E820Type::Ram);
        assert!(E820Type::SoftReserved > E820Type::ReservedKern);
        assert!(E820Type::Unknown(20) > E820Type::Pram);
    }

    #[test]
    fn type_names_match_e820_print_type() {
        let cases = [
            (1, "usable"),
            (2, "reserved"),
            (3, "ACPI data"),
            (4, "ACPI NVS"),
            (5, "unusable"),
            (7, "persistent (type 7)"),
            (12, "persistent (type 12)"),
            (0xefff_ffff, "soft reserved"),
            (128, "usable"),
            (6, "type 6"),
            (0, "type 0"),
        ];
        for (raw, name) in cases {
            assert_eq!(E820Type::from_u32(raw).to_string(), name, "type {raw}");
        }
    }

    #[test]
    fn print_table_matches_linux_lines() {
        let mut t = E820Table::new();
        t.push(0, 0x9fc00, 1).unwrap();
        t.push(0x9fc00, 0x400, 2).unwrap();
        t.push(0x100000, 0x7ee0000, 1).unwrap();
        t.push(0x1_0000_0000, 0x1000, 0xefff_ffff).unwrap();
        t.push(0x2000, 0, 99).unwrap();
        let mut out = Lines::default();
        print_table(&t, "BIOS-e820", &mut out);
        assert_eq!(
            out.0,
            [
                "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
                "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
                "BIOS-e820: [mem 0x0000000000100000-0x0000000007fdffff] usable",
                "BIOS-e820: [mem 0x0000000100000000-0x0000000100000fff] soft reserved",
                "BIOS-e820: [mem 0x0000000000002000-0x0000000000001fff] type 99",
            ]
        );
    }

    #[test]
    fn push_refuses_the_129th_entry() {
        let mut t = E820Table::new();
        for i in 0..E820_MAX_ENTRIES as u64 {
            t.push(i * 0x1000, 0x1000, 1).unwrap();
        }
        assert_eq!(t.free_slots(), 0);
        let err = t.push(0xdead_0000, 0x1000, 2).unwrap_err();
        assert_eq!(
            err,
            E820Error::TableFull {
                addr: 0xdead_0000,
                size: 0x1000,
                kind: E820Type::Reserved
            }
        );
        assert_eq!(
            format!("{err}"),
            "e820 table full (128 entries); cannot add [mem 0x00000000dead0000-0x00000000dead0fff] reserved"
        );
        assert_eq!(t.len(), E820_MAX_ENTRIES);
        let many: Vec<E820Entry> = (0..129)
            .map(|i| E820Entry::new(i, 1, E820Type::Ram))
            .collect();
        assert!(matches!(
            E820Table::try_from_entries(&many),
            Err(E820Error::TableFull { addr: 128, .. })
        ));
    }

    #[test]
    fn remove_keeps_order() {
        let mut t = E820Table::new();
        for i in 0..4u64 {
            t.push(i, 1, 1).unwrap();
        }
        t.remove(1);
        t.remove(10);
        let addrs: Vec<u64> = t.iter().map(|e| e.addr).collect();
        assert_eq!(addrs, [0, 2, 3]);
    }
}
