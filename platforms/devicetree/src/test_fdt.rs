//! Test support: builds small flattened device trees by hand, for the cases real trees do not
//! have (a bus without `ranges`, an unknown `enable-method`, a malformed `cpu-release-addr`).

extern crate std;

use std::vec::Vec;

/// Writes the structure and strings blocks token by token; [`FdtBuilder::finish`] adds the
/// header and an empty `/memreserve/` block.
#[derive(Default)]
pub(crate) struct FdtBuilder {
    words: Vec<u8>,
    strings: Vec<u8>,
}

impl FdtBuilder {
    fn pad(&mut self) {
        while !self.words.len().is_multiple_of(4) {
            self.words.push(0);
        }
    }

    fn word(&mut self, w: u32) {
        self.words.extend_from_slice(&w.to_be_bytes());
    }

    /// `FDT_BEGIN_NODE name` (the root is `""`).
    pub(crate) fn begin(&mut self, name: &str) -> &mut Self {
        self.word(1);
        self.words.extend_from_slice(name.as_bytes());
        self.words.push(0);
        self.pad();
        self
    }

    /// `FDT_END_NODE`.
    pub(crate) fn end(&mut self) -> &mut Self {
        self.word(2);
        self
    }

    /// A property with raw bytes.
    pub(crate) fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let off = match self.strings.windows(name.len() + 1).position(|w| &w[..name.len()] == name.as_bytes() && w[name.len()] == 0) {
            Some(o) => o,
            None => {
                let o = self.strings.len();
                self.strings.extend_from_slice(name.as_bytes());
                self.strings.push(0);
                o
            }
        };
        self.word(3);
        self.word(value.len() as u32);
        self.word(off as u32);
        self.words.extend_from_slice(value);
        self.pad();
        self
    }

    /// A property of 32-bit cells.
    pub(crate) fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let v: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &v)
    }

    /// A string property.
    pub(crate) fn string(&mut self, name: &str, value: &str) -> &mut Self {
        let mut v = value.as_bytes().to_vec();
        v.push(0);
        self.prop(name, &v)
    }

    /// The blob: header, empty memreserve block, structure block (with `FDT_END`), strings.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        self.word(9);
        let off_struct = 40 + 16;
        let off_strings = off_struct + self.words.len();
        let total = off_strings + self.strings.len();
        let mut v = Vec::new();
        for w in [0xd00d_feed, total, off_struct, off_strings, 40, 17, 16, 0, self.strings.len(), self.words.len()] {
            v.extend_from_slice(&(w as u32).to_be_bytes());
        }
        v.extend_from_slice(&[0; 16]);
        v.extend_from_slice(&self.words);
        v.extend_from_slice(&self.strings);
        v
    }
}
