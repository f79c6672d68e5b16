//! Test-only helpers: a line-collecting sink and readers for the JSON maps in `testdata/`.
//!
//! The JSON files are copies of `shared/testdata/e820/` (small enough to keep in the crate, so
//! the tests need nothing outside the repository). Numbers appear either as JSON integers or as
//! `"0x…"` strings; both are accepted. Helpers panic on malformed data: they only run in tests.

extern crate std;

use core::fmt;
use std::{string::String, string::ToString, vec::Vec};

use mm_types::LineSink;

use crate::table::{E820Entry, E820Table, E820Type};

/// Collects report lines.
#[derive(Debug, Default)]
pub(crate) struct Lines(pub Vec<String>);

impl LineSink for Lines {
    fn line(&mut self, args: fmt::Arguments<'_>) {
        self.0.push(args.to_string());
    }
}

/// Reads a `u64` written as a JSON integer or a `"0x…"` / decimal string.
pub(crate) fn json_u64(v: &serde_json::Value) -> u64 {
    if let Some(n) = v.as_u64() {
        return n;
    }
    let s = v.as_str().unwrap_or_else(|| panic!("not a number: {v}"));
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

/// Reads an array of `{addr, size, type}` objects.
pub(crate) fn entries_from_json(v: &serde_json::Value) -> Vec<E820Entry> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|e| {
            let kind = u32::try_from(json_u64(&e["type"])).unwrap();
            E820Entry::new(
                json_u64(&e["addr"]),
                json_u64(&e["size"]),
                E820Type::from_u32(kind),
            )
        })
        .collect()
}

/// A table holding `entries` (which must fit).
pub(crate) fn table_of(entries: &[E820Entry]) -> E820Table {
    E820Table::try_from_entries(entries).unwrap()
}

/// The maps of `testdata/qemu_maps.json`, by name.
pub(crate) fn qemu_map(name: &str) -> E820Table {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../testdata/qemu_maps.json")).unwrap();
    table_of(&entries_from_json(&doc["maps"][name]))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn json_numbers_both_spellings() {
        let v: serde_json::Value = serde_json::from_str(r#"[16, "0x10", "16"]"#).unwrap();
        let parsed: Vec<u64> = v.as_array().unwrap().iter().map(json_u64).collect();
        assert_eq!(parsed, [16, 16, 16]);
    }
}
