//! Editing ranges of an e820 table: Linux 6.1 `__e820__range_update()`,
//! `e820__range_remove()` and `trim_bios_range()` (arch/x86/kernel/setup.c).
//!
//! Both edits work on the half-open range `[start, start + size)`, with `size` first clamped so
//! the end does not pass `u64::MAX` (as Linux does). An entry whose own end wraps past 2^64 (a
//! firmware map [`crate::sanitize`] refused, used as handed over) is compared with its wrapped
//! end, as Linux's `u64` arithmetic does: it can only ever be covered whole, never split. Each table entry of the selected type is
//! either fully inside the range, strictly contains it (it is split in two, or three for an
//! update), overlaps one side (it is shortened), or is untouched. New pieces are appended at
//! the end of the table, so an edited table is no longer sorted: run [`crate::sanitize`]
//! afterwards, as `trim_bios_range` does.
//!
//! Each edit prints Linux's `KERN_DEBUG` line first, with `%#010Lx` addresses and an inclusive
//! end, e.g. `e820: update [mem 0x00000000-0x00000fff] usable ==> reserved` and
//! `e820: remove [mem 0x000a0000-0x000fffff] usable` (without `check_type` the remove line
//! ends in the space Linux leaves before the missing type name).
//!
//! Differences from Linux, all on the side of leaving the table consistent:
//! - the extra slots an edit needs are counted first; if the table cannot hold them the edit is
//!   refused whole ([`E820Error::SplitTableFull`]) where Linux would print "too many entries"
//!   and lose the piece;
//! - `e820__range_remove()` zeroes fully removed slots (leaving `type 0` holes until the next
//!   `e820__update_table()`); here they are deleted at once, keeping the order of the rest;
//! - the log line is printed only when the edit goes ahead.

use core::fmt;

use mm_types::{LineSink, PAGE_SIZE};

use crate::sanitize::sanitize;
use crate::table::{E820Entry, E820Error, E820Table, E820Type, BIOS_BEGIN, BIOS_END};

/// How one entry meets the edited range `[start, end)`.
enum Overlap {
    /// No bytes in common.
    None,
    /// The entry lies inside the range.
    Covered,
    /// The entry strictly contains the range (sticks out on both sides).
    Contains,
    /// The entry overlaps one side: `[from, to)` is the common part.
    Partial { from: u64, to: u64 },
}

fn overlap(entry_addr: u64, entry_end: u64, start: u64, end: u64) -> Overlap {
    if entry_addr >= start && entry_end <= end {
        Overlap::Covered
    } else if entry_addr < start && entry_end > end {
        Overlap::Contains
    } else {
        let from = start.max(entry_addr);
        let to = end.min(entry_end);
        if from < to {
            Overlap::Partial { from, to }
        } else {
            Overlap::None
        }
    }
}

/// Clamps `size` so `start + size` fits, and returns `(size, end)`.
fn clamp(start: u64, size: u64) -> (u64, u64) {
    let size = size.min(u64::MAX - start);
    (size, start + size)
}

/// Counts the slots the edit adds to the selected entries, given how many a containing entry
/// needs; ends wrap as in Linux.
fn slots_needed(
    table: &E820Table,
    start: u64,
    size: u64,
    end: u64,
    selected: impl Fn(&E820Entry) -> bool,
    for_contains: usize,
    for_partial: usize,
) -> Result<(), E820Error> {
    let mut needed = 0;
    for e in table.iter().filter(|e| selected(e)) {
        needed += match overlap(e.addr, e.addr.wrapping_add(e.size), start, end) {
            Overlap::None | Overlap::Covered => 0,
            Overlap::Contains => for_contains,
            Overlap::Partial { .. } => for_partial,
        };
    }
    if needed > table.free_slots() {
        return Err(E820Error::SplitTableFull {
            start,
            size,
            needed,
            free: table.free_slots(),
        });
    }
    Ok(())
}

/// Appends an entry the pre-count made room for.
fn append(table: &mut E820Table, addr: u64, size: u64, kind: E820Type) {
    // Cannot fail: `slots_needed` checked the free slots for every append of this edit.
    let _ = table.push_entry(E820Entry::new(addr, size, kind));
}

/// Changes the type of every `old_type` byte in `[start, start + size)` to `new_type`
/// (Linux 6.1 `__e820__range_update()`), printing
/// `e820: update [mem %#010Lx-%#010Lx] OLD ==> NEW` first.
///
/// Returns the number of bytes whose type changed. Entries are split as needed and the pieces
/// appended; sanitise afterwards.
///
/// # Errors
/// - [`E820Error::SameType`] if `old_type == new_type` (Linux `BUG_ON`);
/// - [`E820Error::SplitTableFull`] if the pieces do not fit.
///
/// The table is unchanged and nothing is printed on error.
pub fn range_update(
    table: &mut E820Table,
    start: u64,
    size: u64,
    old_type: E820Type,
    new_type: E820Type,
    sink: &mut dyn LineSink,
) -> Result<u64, E820Error> {
    if old_type == new_type {
        return Err(E820Error::SameType { kind: old_type });
    }
    let (size, end) = clamp(start, size);
    slots_needed(table, start, size, end, |e| e.kind == old_type, 2, 1)?;

    sink.line(format_args!(
        "e820: update [mem {start:#010x}-{:#010x}] {old_type} ==> {new_type}",
        end.wrapping_sub(1)
    ));

    let mut updated = 0u64;
    // Appended pieces are never of `old_type` inside the range, so only the original entries
    // need visiting (Linux visits the appended ones too, to no effect).
    for i in 0..table.len() {
        let e = table.entries()[i];
        if e.kind != old_type {
            continue;
        }
        let e_end = e.addr.wrapping_add(e.size); // Linux's u64 arithmetic; see the module docs
        match overlap(e.addr, e_end, start, end) {
            Overlap::None => {}
            Overlap::Covered => {
                table.entries_mut()[i].kind = new_type;
                updated = updated.wrapping_add(e.size);
            }
            Overlap::Contains => {
                append(table, start, size, new_type);
                append(table, end, e_end - end, e.kind);
                table.entries_mut()[i].size = start - e.addr;
                updated = updated.wrapping_add(size);
            }
            Overlap::Partial { from, to } => {
                append(table, from, to - from, new_type);
                updated = updated.wrapping_add(to - from);
                let entry = &mut table.entries_mut()[i];
                entry.size -= to - from;
                if entry.addr >= from {
                    // The head went; what is left is the tail.
                    entry.addr = to;
                }
            }
        }
    }
    Ok(updated)
}

/// The type name in a remove line, or nothing when the type is not checked.
struct CheckedType(Option<E820Type>);

impl fmt::Display for CheckedType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(kind) => write!(f, "{kind}"),
            None => Ok(()),
        }
    }
}

/// Removes `[start, start + size)` from the table (Linux 6.1 `e820__range_remove()`): from
/// entries of `old_type` when `check_type`, from every entry otherwise. Prints
/// `e820: remove [mem %#010Lx-%#010Lx] TYPE` first (no type name without `check_type`).
///
/// Returns the number of bytes removed. Fully removed entries are deleted (order kept);
/// a containing entry is split and its tail appended; sanitise afterwards.
///
/// # Errors
/// [`E820Error::SplitTableFull`] if the split tails do not fit.
///
/// The table is unchanged and nothing is printed on error.
pub fn range_remove(
    table: &mut E820Table,
    start: u64,
    size: u64,
    old_type: E820Type,
    check_type: bool,
    sink: &mut dyn LineSink,
) -> Result<u64, E820Error> {
    let (size, end) = clamp(start, size);
    let selected = |e: &E820Entry| !check_type || e.kind == old_type;
    slots_needed(table, start, size, end, selected, 1, 0)?;

    sink.line(format_args!(
        "e820: remove [mem {start:#010x}-{:#010x}] {}",
        end.wrapping_sub(1),
        CheckedType(check_type.then_some(old_type))
    ));

    let mut removed = 0u64;
    let mut i = 0;
    // Entries past `originals` were appended by this call and lie outside the range.
    let mut originals = table.len();
    while i < originals {
        let e = table.entries()[i];
        if !selected(&e) {
            i += 1;
            continue;
        }
        let e_end = e.addr.wrapping_add(e.size); // Linux's u64 arithmetic; see the module docs
        match overlap(e.addr, e_end, start, end) {
            Overlap::None => {}
            Overlap::Covered => {
                // Linux sums in u64 and wraps; so does this (entries may wrap past 2^64).
                removed = removed.wrapping_add(e.size);
                table.remove(i);
                originals -= 1;
                continue;
            }
            Overlap::Contains => {
                append(table, end, e_end - end, e.kind);
                table.entries_mut()[i].size = start - e.addr;
                removed = removed.wrapping_add(size);
            }
            Overlap::Partial { from, to } => {
                removed = removed.wrapping_add(to - from);
                let entry = &mut table.entries_mut()[i];
                entry.size -= to - from;
                if entry.addr >= from {
                    entry.addr = to;
                }
            }
        }
        i += 1;
    }
    Ok(removed)
}

/// The PC low-memory policy of Linux 6.1 `trim_bios_range()` (arch/x86/kernel/setup.c, run on
/// 32- and 64-bit x86 alike):
/// 1. the first page, BIOS-owned but usually listed as RAM, becomes reserved;
/// 2. RAM reported in the legacy hole `[BIOS_BEGIN, BIOS_END)` (640 KiB to 1 MiB) is removed;
/// 3. the table is sanitised again.
///
/// Prints the two edit lines (see [`range_update`], [`range_remove`]).
///
/// # Errors
/// Those of the edits, and [`E820Error::SanitizedTooLarge`] from [`sanitize`]. Linux ignores
/// the result of `e820__update_table()` here: a one-entry table is already sane, and one with
/// an entry wrapping past 2^64 stays as it was (Linux's -1).
pub fn trim_bios_range(table: &mut E820Table, sink: &mut dyn LineSink) -> Result<(), E820Error> {
    range_update(table, 0, PAGE_SIZE, E820Type::Ram, E820Type::Reserved, sink)?;
    range_remove(
        table,
        BIOS_BEGIN,
        BIOS_END - BIOS_BEGIN,
        E820Type::Ram,
        true,
        sink,
    )?;
    match sanitize(table) {
        Ok(()) | Err(E820Error::TooFewEntries { .. } | E820Error::EndOverflow { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::table::E820_MAX_ENTRIES;
    use crate::test_support::{qemu_map, Lines};
    use mm_types::NullSink;
    use std::vec::Vec;

    fn triples(t: &E820Table) -> Vec<(u64, u64, u32)> {
        t.iter()
            .map(|e| (e.addr, e.size, e.kind.as_u32()))
            .collect()
    }

    fn table(entries: &[(u64, u64, u32)]) -> E820Table {
        let mut t = E820Table::new();
        for &(a, s, k) in entries {
            t.push(a, s, k).unwrap();
        }
        t
    }

    /// ```text
    ///   RAM  |0x1000 ........................ 0x9000|
    ///   update          [0x3000 .. 0x5000) RAM ==> ACPI
    /// ```
    /// Expect: RAM head kept in place, ACPI middle and RAM tail appended; 0x2000 bytes updated.
    #[test]
    fn update_splits_containing_entry_in_three() {
        let mut t = table(&[(0x1000, 0x8000, 1)]);
        let mut log = Lines::default();
        let n = range_update(
            &mut t,
            0x3000,
            0x2000,
            E820Type::Ram,
            E820Type::Acpi,
            &mut log,
        )
        .unwrap();
        assert_eq!(n, 0x2000);
        assert_eq!(
            triples(&t),
            [
                (0x1000, 0x2000, 1),
                (0x3000, 0x2000, 3),
                (0x5000, 0x4000, 1)
            ]
        );
        assert_eq!(
            log.0,
            ["e820: update [mem 0x00003000-0x00004fff] usable ==> ACPI data"]
        );
    }

    /// ```text
    ///   RAM  |a: 0x0-0x2000|   |b: 0x3000-0x6000|   |c: 0x8000-0x9000|   NVS |0x2000-0x3000|
    ///   update [0x1000 .. 0x8800) RAM ==> reserved
    /// ```
    /// Expect: a keeps its head, b turns reserved whole, c keeps its tail; NVS untouched.
    #[test]
    fn update_partial_and_covered() {
        let mut t = table(&[
            (0, 0x2000, 1),
            (0x2000, 0x1000, 4),
            (0x3000, 0x3000, 1),
            (0x8000, 0x1000, 1),
        ]);
        let n = range_update(
            &mut t,
            0x1000,
            0x7800,
            E820Type::Ram,
            E820Type::Reserved,
            &mut NullSink,
        )
        .unwrap();
        assert_eq!(n, 0x1000 + 0x3000 + 0x800);
        assert_eq!(
            triples(&t),
            [
                (0, 0x1000, 1),
                (0x2000, 0x1000, 4),
                (0x3000, 0x3000, 2),
                (0x8800, 0x800, 1),
                (0x1000, 0x1000, 2),
                (0x8000, 0x800, 2),
            ]
        );
        sanitize(&mut t).unwrap();
        assert_eq!(
            triples(&t),
            [
                (0, 0x1000, 1),
                (0x1000, 0x1000, 2),
                (0x2000, 0x1000, 4),
                (0x3000, 0x3000, 2),
                (0x8000, 0x800, 2),
                (0x8800, 0x800, 1)
            ]
        );
    }

    #[test]
    fn update_same_type_is_refused_silently() {
        let mut t = table(&[(0, 0x1000, 1)]);
        let mut log = Lines::default();
        let err =
            range_update(&mut t, 0, 0x1000, E820Type::Ram, E820Type::Ram, &mut log).unwrap_err();
        assert_eq!(
            err,
            E820Error::SameType {
                kind: E820Type::Ram
            }
        );
        assert!(log.0.is_empty());
    }

    /// A full table whose one RAM entry would need two more slots: refused, untouched.
    #[test]
    fn update_refused_when_pieces_do_not_fit() {
        let mut t = table(&[(0, 0x10_0000, 1)]);
        for i in 1..E820_MAX_ENTRIES as u64 - 1 {
            t.push(0x1000_0000 + i * 0x1000, 0x1000, 2).unwrap();
        }
        assert_eq!(t.free_slots(), 1);
        let before = t.clone();
        let err = range_update(
            &mut t,
            0x1000,
            0x1000,
            E820Type::Ram,
            E820Type::Reserved,
            &mut NullSink,
        )
        .unwrap_err();
        assert_eq!(
            err,
            E820Error::SplitTableFull {
                start: 0x1000,
                size: 0x1000,
                needed: 2,
                free: 1
            }
        );
        assert_eq!(t, before);
        // A partial overlap needs one slot, which is there.
        assert_eq!(
            range_update(
                &mut t,
                0,
                0x1000,
                E820Type::Ram,
                E820Type::Reserved,
                &mut NullSink
            ),
            Ok(0x1000)
        );
    }

    /// ```text
    ///   RAM |0x0-0x1000|                       RAM |0xffff_ffff_ffff_f000 -> wraps to 0x1000|
    /// ```
    /// An entry whose end wraps past 2^64 is compared with its wrapped end, as Linux's `u64`
    /// arithmetic does. Expect: updating `[0, 0x1000)` RAM ==> reserved retypes both entries
    /// (the wrapped one counts as covered: addr >= 0 and end 0x1000 <= 0x1000) and reports
    /// their sizes; removing `[0x2000, 0x3000)` removes `[u64::MAX, +2)` whole (addr >= 0x2000,
    /// wrapped end 1 <= 0x3000) and leaves the first; nothing is split.
    #[test]
    fn edits_treat_a_wrapping_entry_as_linux_does() {
        let mut t = table(&[(0, 0x1000, 1), (0xffff_ffff_ffff_f000, 0x2000, 1)]);
        let n = range_update(&mut t, 0, 0x1000, E820Type::Ram, E820Type::Reserved, &mut NullSink).unwrap();
        assert_eq!(n, 0x1000 + 0x2000);
        assert_eq!(triples(&t), [(0, 0x1000, 2), (0xffff_ffff_ffff_f000, 0x2000, 2)]);
        let mut t = table(&[(0, 0x1000, 1), (u64::MAX, 2, 1)]);
        assert_eq!(range_remove(&mut t, 0x2000, 0x1000, E820Type::Ram, true, &mut NullSink), Ok(2));
        assert_eq!(triples(&t), [(0, 0x1000, 1)]);
        // trim_bios_range on such a table: the edits go ahead, the sanitiser's refusal is
        // ignored (Linux ignores its -1 there) and the table stays unsorted.
        let mut t = table(&[(0x10_0000, 0x100_0000, 1), (0, 0x9fc00, 1), (u64::MAX - 0xfff, 0x2000, 2)]);
        let mut log = Lines::default();
        trim_bios_range(&mut t, &mut log).unwrap();
        assert_eq!(
            triples(&t),
            [(0x10_0000, 0x100_0000, 1), (0x1000, 0x9ec00, 1), (u64::MAX - 0xfff, 0x2000, 2), (0, 0x1000, 2)]
        );
        assert_eq!(log.0.len(), 2);
    }

    /// ```text
    ///   RAM |0x0 ..................... 0x10000|  RES |0x10000-0x11000|
    ///   remove [0x4000 .. 0x11000), any type
    /// ```
    /// Expect: RAM keeps its head, the reserved entry is deleted; no type in the log line.
    #[test]
    fn remove_without_type_check() {
        let mut t = table(&[(0, 0x10000, 1), (0x10000, 0x1000, 2)]);
        let mut log = Lines::default();
        let n = range_remove(&mut t, 0x4000, 0xd000, E820Type::Ram, false, &mut log).unwrap();
        assert_eq!(n, 0xc000 + 0x1000);
        assert_eq!(triples(&t), [(0, 0x4000, 1)]);
        assert_eq!(log.0, ["e820: remove [mem 0x00004000-0x00010fff] "]);
    }

    /// Remove from the middle of RAM with the type checked; size clamped at the top of the
    /// address space (Linux's `mem=` style "remove everything above").
    #[test]
    fn remove_splits_and_clamps() {
        let mut t = table(&[(0, 0x10000, 1), (0x2000, 0x1000, 2), (0x20000, 0x1000, 1)]);
        let mut log = Lines::default();
        let n = range_remove(&mut t, 0x4000, 0x1000, E820Type::Ram, true, &mut log).unwrap();
        assert_eq!(n, 0x1000);
        assert_eq!(
            triples(&t),
            [
                (0, 0x4000, 1),
                (0x2000, 0x1000, 2),
                (0x20000, 0x1000, 1),
                (0x5000, 0xb000, 1)
            ]
        );
        let n = range_remove(&mut t, 0x8000, u64::MAX, E820Type::Ram, true, &mut log).unwrap();
        assert_eq!(n, 0x1000 + 0x8000);
        assert_eq!(
            triples(&t),
            [(0, 0x4000, 1), (0x2000, 0x1000, 2), (0x5000, 0x3000, 1)]
        );
        assert_eq!(
            log.0,
            [
                "e820: remove [mem 0x00004000-0x00004fff] usable",
                "e820: remove [mem 0x00008000-0xfffffffffffffffe] usable",
            ]
        );
    }

    /// QEMU `-machine pc` with 128 MiB: what Linux 6.1 logs and keeps.
    #[test]
    fn trim_bios_range_on_qemu_pc() {
        let mut t = qemu_map("qemu-i386-pc-128M");
        sanitize(&mut t).unwrap();
        let mut log = Lines::default();
        trim_bios_range(&mut t, &mut log).unwrap();
        assert_eq!(
            log.0,
            [
                "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved",
                "e820: remove [mem 0x000a0000-0x000fffff] usable",
            ]
        );
        assert_eq!(
            triples(&t),
            [
                (0, 0x1000, 2),
                (0x1000, 0x9ec00, 1),
                (0x9fc00, 0x400, 2),
                (0xf0000, 0x10000, 2),
                (0x100000, 0x7ee0000, 1),
                (0x7fe0000, 0x20000, 2),
                (0xfffc0000, 0x40000, 2),
            ]
        );
    }

    /// A firmware that lists all of the first MiB as RAM: the hole goes, page 0 is reserved.
    #[test]
    fn trim_bios_range_removes_ram_in_hole() {
        let mut t = table(&[(0, 0x800_0000, 1)]);
        trim_bios_range(&mut t, &mut NullSink).unwrap();
        assert_eq!(
            triples(&t),
            [
                (0, 0x1000, 2),
                (0x1000, 0x9f000, 1),
                (0x100000, 0x7f00000, 1)
            ]
        );
    }

    /// Empty table: nothing to do, not an error (Linux ignores the sanitiser's -1 here).
    #[test]
    fn trim_bios_range_on_empty_table() {
        let mut t = E820Table::new();
        assert_eq!(trim_bios_range(&mut t, &mut NullSink), Ok(()));
        assert!(t.is_empty());
    }
}
