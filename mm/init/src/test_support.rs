//! What the crate's test modules share: a sink that keeps the lines, and an empty region.
extern crate std;

use memblock::{Region, RegionFlags};
use mm_types::LineSink;
use std::string::String;
use std::vec::Vec;

/// Collects every line written to it.
#[derive(Default)]
pub(crate) struct Lines(pub(crate) Vec<String>);

impl LineSink for Lines {
    fn line(&mut self, args: core::fmt::Arguments<'_>) {
        self.0.push(std::format!("{args}"));
    }
}

/// An unused memblock array slot.
pub(crate) const EMPTY: Region = Region { base: 0, size: 0, nid: memblock::MAX_NUMNODES, flags: RegionFlags::NONE };
