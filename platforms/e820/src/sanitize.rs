//! Sanitising a raw e820 map: Linux 6.1 `e820__update_table()`.
//!
//! Firmware maps may overlap, repeat themselves, contain zero-size entries and list touching
//! ranges of the same type separately. Sanitising rewrites the table so that:
//! - entries are sorted by address and do not overlap;
//! - where input entries overlap, the range takes the highest type number among them
//!   (1 = usable loses to everything; a type-0 entry counts as "no entry");
//! - touching ranges of the same type are merged, except PRAM and soft-reserved ranges
//!   (`e820_nomerge()`), which are also split at every input boundary inside them;
//! - zero-size entries disappear (they produce no change points).
//!
//! The method is Linux's change-point sweep: every non-empty entry contributes a start and an
//! end point; points are sorted by address with starts before ends at equal addresses (so
//! touching same-type entries merge); walking them while tracking the set of open entries
//! gives the winning type between consecutive points.
//!
//! Refusals leave the table untouched and return an [`E820Error`]:
//! - fewer than two entries ([`E820Error::TooFewEntries`]; Linux 6.1 returns -1 too);
//! - an entry whose `addr + size` overflows ([`E820Error::EndOverflow`], naming the entry);
//! - a result that needs more than [`E820_MAX_ENTRIES`] entries
//!   ([`E820Error::SanitizedTooLarge`]). Linux instead stops at the limit and silently drops
//!   the rest of the map; an error is safer for firmware that cannot see that log.
//!
//! Scratch space lives on the stack (about 7.5 KiB: 256 change points, the open-entry list and
//! a 128-entry output), where Linux uses static `__initdata` arrays.

use crate::table::{E820Entry, E820Error, E820Table, E820Type, E820_MAX_ENTRIES};

/// One start or end of a non-empty input entry.
#[derive(Clone, Copy)]
struct ChangePoint {
    addr: u64,
    /// Index of the input entry (below [`E820_MAX_ENTRIES`]).
    entry: u8,
    is_end: bool,
}

impl ChangePoint {
    const EMPTY: Self = Self {
        addr: 0,
        entry: 0,
        is_end: false,
    };
}

/// Sanitises `table` in place (Linux 6.1 `e820__update_table()`); see the module docs.
///
/// # Errors
/// [`E820Error::TooFewEntries`], [`E820Error::EndOverflow`] or
/// [`E820Error::SanitizedTooLarge`]; the table is unchanged in every error case.
pub fn sanitize(table: &mut E820Table) -> Result<(), E820Error> {
    let input = table.entries();
    if input.len() < 2 {
        return Err(E820Error::TooFewEntries {
            nr_entries: input.len(),
        });
    }
    if let Some((index, e)) = input.iter().enumerate().find(|(_, e)| e.end().is_none()) {
        return Err(E820Error::EndOverflow {
            index,
            addr: e.addr,
            size: e.size,
        });
    }

    // Change points of the non-empty entries, sorted (Linux `cpcompare`): by address, and at
    // equal addresses starts before ends. The entry index only makes the order total.
    let mut points = [ChangePoint::EMPTY; 2 * E820_MAX_ENTRIES];
    let mut nr_points = 0;
    for (index, e) in input.iter().enumerate() {
        if e.size == 0 {
            continue;
        }
        let entry = index as u8; // index < E820_MAX_ENTRIES = 128
        points[nr_points] = ChangePoint {
            addr: e.addr,
            entry,
            is_end: false,
        };
        points[nr_points + 1] = ChangePoint {
            addr: e.addr.wrapping_add(e.size),
            entry,
            is_end: true,
        };
        nr_points += 2;
    }
    let points = &mut points[..nr_points];
    points.sort_unstable_by_key(|p| (p.addr, p.is_end, p.entry));

    // The sweep. `open` lists the input entries covering the current point (Linux
    // `overlap_list`); `last_type` is the type of the output entry being built (0: none), which
    // started at `last_addr`.
    let mut open = [0u8; E820_MAX_ENTRIES];
    let mut nr_open = 0;
    let mut out = [E820Entry::EMPTY; E820_MAX_ENTRIES];
    let mut needed = 0;
    let mut last_type = 0u32;
    let mut last_addr = 0u64;
    for p in points.iter() {
        if p.is_end {
            if let Some(pos) = open[..nr_open].iter().position(|&i| i == p.entry) {
                open[pos] = open[nr_open - 1];
                nr_open -= 1;
            }
        } else {
            open[nr_open] = p.entry;
            nr_open += 1;
        }
        let current_type = open[..nr_open]
            .iter()
            .map(|&i| input[usize::from(i)].kind.as_u32())
            .max()
            .unwrap_or(0);

        if current_type != last_type || E820Type::from_u32(current_type).is_nomerge() {
            if last_type != 0 {
                // Close the entry being built; empty ones (several points at one address)
                // are dropped, as Linux does by not advancing its index.
                let size = p.addr - last_addr;
                if size != 0 {
                    if let Some(slot) = out.get_mut(needed) {
                        *slot = E820Entry::new(last_addr, size, E820Type::from_u32(last_type));
                    }
                    needed += 1;
                }
            }
            if current_type != 0 {
                last_addr = p.addr;
            }
            last_type = current_type;
        }
    }

    if needed > E820_MAX_ENTRIES {
        return Err(E820Error::SanitizedTooLarge { needed });
    }
    table.replace_with(&out[..needed]);
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::test_support::{entries_from_json, table_of};
    use std::{format, vec, vec::Vec};

    fn triples(t: &E820Table) -> Vec<(u64, u64, u32)> {
        t.iter()
            .map(|e| (e.addr, e.size, e.kind.as_u32()))
            .collect()
    }

    /// Every case of `testdata/sanitize_cases.json` (inputs and the table Linux's
    /// `e820__update_table()` makes of them).
    #[test]
    fn sanitize_cases_json() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../testdata/sanitize_cases.json")).unwrap();
        let cases = doc["cases"].as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let mut table = table_of(&entries_from_json(&case["input"]));
            let expected = entries_from_json(&case["expected"]);
            let result = sanitize(&mut table);
            assert_eq!(
                case["expected_return"].as_i64(),
                Some(0),
                "{name}: only success cases exist"
            );
            assert_eq!(result, Ok(()), "{name}");
            assert_eq!(table.entries(), &expected[..], "{name}");
            assert_eq!(
                Some(table.len() as u64),
                case["expected_nr_entries"].as_u64(),
                "{name}"
            );
        }
    }

    /// The sample of Linux's comment above `e820__update_table()`, one column per 0x1000.
    ///
    /// ```text
    ///   ____22__________________        1_______________________
    ///   ______________________4_        _44_____________________
    ///   ____1111________________        ___1____________________
    ///   _44_____________________        ____22__________________
    ///   11111111________________        ______11________________
    ///   ____________________33__        _________1______________
    ///   ___________44___________  ==>   __________3_____________
    ///   __________33333_________        ___________44___________
    ///   ______________22________        _____________33_________
    ///   ___________________2222_        _______________2________
    ///   _________111111111______        ________________1_______
    ///   _____________________11_        _________________4______
    ///   _________________4______        ___________________2____
    ///                                   ____________________33__
    ///                                   ______________________4_
    /// ```
    /// Expect: the fifteen entries on the right, in address order.
    #[test]
    fn linux_comment_sample() {
        let rows = [
            "____22__________________",
            "______________________4_",
            "____1111________________",
            "_44_____________________",
            "11111111________________",
            "____________________33__",
            "___________44___________",
            "__________33333_________",
            "______________22________",
            "___________________2222_",
            "_________111111111______",
            "_____________________11_",
            "_________________4______",
        ];
        let mut t = E820Table::new();
        for row in rows {
            let start = row.find(|c| c != '_').unwrap();
            let len = row[start..].find('_').unwrap();
            let kind = row.as_bytes()[start] - b'0';
            t.push(start as u64 * 0x1000, len as u64 * 0x1000, u32::from(kind))
                .unwrap();
        }
        sanitize(&mut t).unwrap();
        let got: Vec<(u64, u64, u32)> = t
            .iter()
            .map(|e| (e.addr / 0x1000, e.size / 0x1000, e.kind.as_u32()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 1, 1),
                (1, 2, 4),
                (3, 1, 1),
                (4, 2, 2),
                (6, 2, 1),
                (9, 1, 1),
                (10, 1, 3),
                (11, 2, 4),
                (13, 2, 3),
                (15, 1, 2),
                (16, 1, 1),
                (17, 1, 4),
                (19, 1, 2),
                (20, 2, 3),
                (22, 1, 4),
            ]
        );
    }

    #[test]
    fn fewer_than_two_entries_is_refused_untouched() {
        let mut t = table_of(&[E820Entry::new(0, 0, E820Type::Ram)]);
        assert_eq!(
            sanitize(&mut t),
            Err(E820Error::TooFewEntries { nr_entries: 1 })
        );
        assert_eq!(triples(&t), [(0, 0, 1)]);
        let mut empty = E820Table::new();
        assert_eq!(
            sanitize(&mut empty),
            Err(E820Error::TooFewEntries { nr_entries: 0 })
        );
    }

    #[test]
    fn end_overflow_names_the_entry_and_leaves_table() {
        let mut t = E820Table::new();
        t.push(0, 0x1000, 1).unwrap();
        t.push(0x1000, 0x1000, 1).unwrap();
        // Ends exactly at 2^64: `addr + size` wraps to 0, which Linux rejects too.
        t.push(0xffff_ffff_ffff_f000, 0x1000, 2).unwrap();
        let before = t.clone();
        let err = sanitize(&mut t).unwrap_err();
        assert_eq!(
            err,
            E820Error::EndOverflow {
                index: 2,
                addr: 0xffff_ffff_ffff_f000,
                size: 0x1000
            }
        );
        assert_eq!(
            format!("{err}"),
            "e820 entry 2 [mem 0xfffffffffffff000-0xffffffffffffffff] (size 0x1000) wraps past 2^64"
        );
        assert_eq!(t, before);
        // The last byte of the address space itself is fine when the end does not wrap.
        let mut ok = table_of(&[
            E820Entry::new(0, 0x1000, E820Type::Ram),
            E820Entry::new(u64::MAX - 0x1000, 0x1000, E820Type::Reserved),
        ]);
        assert_eq!(sanitize(&mut ok), Ok(()));
    }

    /// One huge RAM entry with 127 reserved holes punched in it sanitises into 255 entries.
    /// Expect: refused, table untouched (Linux would keep the first 128 and drop the rest).
    #[test]
    fn result_larger_than_capacity_is_refused() {
        let mut t = E820Table::new();
        t.push(0, 0x1_0000_0000, 1).unwrap();
        for i in 0..127u64 {
            t.push(0x10_0000 + i * 0x10_0000, 0x1000, 2).unwrap();
        }
        let before = t.clone();
        assert_eq!(
            sanitize(&mut t),
            Err(E820Error::SanitizedTooLarge { needed: 255 })
        );
        assert_eq!(t, before);
    }

    /// 64 holes give exactly 129 entries; 63 holes give 127, which fits.
    #[test]
    fn result_limit_is_exact() {
        for (holes, result) in [(63u64, Ok(127)), (64, Err(129))] {
            let mut t = E820Table::new();
            t.push(0, 0x1_0000_0000, 1).unwrap();
            for i in 0..holes {
                t.push(0x10_0000 + i * 0x10_0000, 0x1000, 2).unwrap();
            }
            let got = sanitize(&mut t).map(|()| t.len()).map_err(|e| match e {
                E820Error::SanitizedTooLarge { needed } => needed,
                other => panic!("{other:?}"),
            });
            assert_eq!(got, result, "{holes} holes");
        }
    }

    /// ```text
    ///   PRAM  |aaaa|bbbb|        two touching PRAM entries
    ///   SOFT            |cc|dd|  two touching soft-reserved entries
    ///   RAM   |eeeeeeeeeeeeeeeeeeeeeee|ffff|  RAM over all of it, then RAM touching
    /// ```
    /// Expect: PRAM and soft-reserved pieces stay separate (`e820_nomerge`), the RAM tail is
    /// one merged entry.
    #[test]
    fn pram_and_soft_reserved_never_merge() {
        let mut t = E820Table::new();
        t.push(0x0000, 0x4000, 12).unwrap();
        t.push(0x4000, 0x4000, 12).unwrap();
        t.push(0x8000, 0x2000, 0xefff_ffff).unwrap();
        t.push(0xa000, 0x2000, 0xefff_ffff).unwrap();
        t.push(0x0000, 0x10000, 1).unwrap();
        t.push(0x10000, 0x4000, 1).unwrap();
        sanitize(&mut t).unwrap();
        assert_eq!(
            triples(&t),
            [
                (0x0000, 0x4000, 12),
                (0x4000, 0x4000, 12),
                (0x8000, 0x2000, 0xefff_ffff),
                (0xa000, 0x2000, 0xefff_ffff),
                (0xc000, 0x8000, 1),
            ]
        );
    }

    /// Unknown and type-0 entries: unknown 20 beats PRAM (higher number); a type-0 entry is
    /// "no entry" to the sweep and disappears, as in Linux.
    #[test]
    fn unknown_types_compete_by_number_and_type_zero_vanishes() {
        let mut t = E820Table::new();
        t.push(0x0000, 0x3000, 12).unwrap();
        t.push(0x1000, 0x1000, 20).unwrap();
        t.push(0x8000, 0x1000, 0).unwrap();
        sanitize(&mut t).unwrap();
        assert_eq!(
            triples(&t),
            [
                (0x0000, 0x1000, 12),
                (0x1000, 0x1000, 20),
                (0x2000, 0x1000, 12)
            ]
        );
    }

    /// Duplicates and identical ranges of different types: the higher type wins whole.
    #[test]
    fn duplicates_collapse() {
        let mut t = E820Table::new();
        for _ in 0..5 {
            t.push(0x1000, 0x1000, 1).unwrap();
        }
        t.push(0x1000, 0x1000, 3).unwrap();
        t.push(0x2000, 0x1000, 1).unwrap();
        sanitize(&mut t).unwrap();
        assert_eq!(triples(&t), [(0x1000, 0x1000, 3), (0x2000, 0x1000, 1)]);
    }

    /// Random small maps against a reference model: per 0x1000 unit, the maximum type of the
    /// entries covering it. Expect: same coverage, sorted, non-overlapping, and no two
    /// touching entries of one mergeable type.
    #[test]
    fn random_maps_match_per_page_model() {
        const UNITS: usize = 48;
        const TYPES: [u32; 8] = [1, 2, 3, 4, 5, 12, 0xefff_ffff, 128];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        for round in 0..3000 {
            let n = 2 + next(12) as usize;
            let mut t = E820Table::new();
            let mut model = [0u32; UNITS];
            for _ in 0..n {
                let start = next(UNITS as u64);
                let len = next(UNITS as u64 - start + 1);
                let kind = TYPES[next(TYPES.len() as u64) as usize];
                t.push(start * 0x1000, len * 0x1000, kind).unwrap();
                for unit in &mut model[start as usize..(start + len) as usize] {
                    *unit = (*unit).max(kind);
                }
            }
            let input = t.clone();
            sanitize(&mut t).unwrap();
            let mut got = [0u32; UNITS];
            let mut prev_end = 0;
            let mut prev: Option<E820Entry> = None;
            for e in &t {
                assert!(
                    e.size > 0 && e.addr >= prev_end,
                    "round {round}: {input:?} -> {t:?}"
                );
                if let Some(p) = prev {
                    let touching = p.addr + p.size == e.addr;
                    assert!(
                        !(touching && p.kind == e.kind && !e.kind.is_nomerge()),
                        "round {round}: unmerged neighbours in {t:?}"
                    );
                }
                for unit in
                    &mut got[(e.addr / 0x1000) as usize..((e.addr + e.size) / 0x1000) as usize]
                {
                    *unit = e.kind.as_u32();
                }
                prev_end = e.addr + e.size;
                prev = Some(*e);
            }
            assert_eq!(got, model, "round {round}: {input:?} -> {t:?}");
        }
    }
}
