//! The one error type of the crate: every way a blob or a request can be wrong, by name.
//!
//! Each variant's `Display` says what is wrong and where (offset, block, node), so a firmware log
//! line is enough to find the fault in `dtc -I dtb` output.

use core::fmt;
use heapless::String;

/// Node paths carried in errors are cut to this many bytes.
pub const ERR_PATH: usize = 48;
/// Device paths in translation errors (they are the deepest) are cut to this many bytes.
pub const ERR_LONG_PATH: usize = 80;

/// What is wrong with a device tree, or with applying it to memblock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DtError {
    /// The buffer is shorter than the 40-byte header.
    TooShort {
        /// Bytes available.
        len: usize,
    },
    /// The first word is not `0xd00dfeed`.
    BadMagic {
        /// The word found.
        magic: u32,
    },
    /// The header's `totalsize` is larger than the buffer handed in.
    TotalSizeExceedsBuffer {
        /// `totalsize` from the header.
        totalsize: u64,
        /// Length of the buffer.
        buffer: u64,
    },
    /// Unsupported format version (only version 17, backwards-compatible to 16 or older, is read).
    BadVersion {
        /// `version`.
        version: u32,
        /// `last_comp_version`.
        last_comp_version: u32,
    },
    /// A header field is inconsistent.
    BadHeader {
        /// What is inconsistent.
        what: &'static str,
    },
    /// A block `[off, off + size)` does not lie inside `[40, totalsize)`.
    BlockOutside {
        /// `struct`, `strings` or `memreserve`.
        block: &'static str,
        /// Block offset.
        off: u64,
        /// Block size.
        size: u64,
        /// `totalsize`.
        totalsize: u64,
    },
    /// The structure block's token stream is malformed at `offset` (from the blob start).
    BadStruct {
        /// Offset of the offending token.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// Nodes nest deeper than [`crate::MAX_DEPTH`].
    TooDeep {
        /// The limit.
        depth: usize,
    },
    /// The `fdt` crate reported an error on a blob that passed validation.
    Parser {
        /// The crate's error, as text.
        what: &'static str,
    },
    /// A property has the wrong length or content.
    BadProperty {
        /// Path of the node (possibly cut).
        node: String<ERR_PATH>,
        /// Property name.
        prop: &'static str,
        /// What is wrong.
        what: &'static str,
    },
    /// `#address-cells` / `#size-cells` outside what the reader supports (1 or 2 for the root).
    BadCells {
        /// Path of the node.
        node: String<ERR_PATH>,
        /// Which property.
        prop: &'static str,
        /// The value found.
        value: u32,
    },
    /// More items than a bounded table holds.
    TooMany {
        /// What overflowed.
        what: &'static str,
        /// The table's capacity.
        capacity: usize,
    },
    /// No node at this path.
    NoNode {
        /// The path asked for (possibly cut).
        path: String<ERR_PATH>,
    },
    /// A `reg` address cannot be carried to the CPU's address space (Linux
    /// `of_translate_address` returning `OF_BAD_ADDR`).
    Untranslatable {
        /// Path of the device node whose address was translated (possibly cut).
        node: String<ERR_LONG_PATH>,
        /// The bus node where the translation stopped, an ancestor: its path is the first
        /// `bus_len` bytes of the device's path (1 for the root).
        bus_len: u8,
        /// The address as that bus's children see it, when known.
        addr: Option<u64>,
        /// What is wrong with the bus node.
        why: Untranslatable,
    },
    /// A CPU node's `enable-method` is none this crate knows (`psci`, `spin-table`).
    UnknownEnableMethod {
        /// Path of the CPU node.
        node: String<ERR_PATH>,
        /// The method as written (possibly cut).
        method: String<ERR_PATH>,
    },
    /// memblock refused an operation that Linux treats as fatal (region array full).
    Memblock {
        /// The operation (`add`, `reserve`, `mark_nomap`).
        op: &'static str,
        /// The range's base.
        base: u64,
        /// The range's size.
        size: u64,
        /// memblock's reason.
        err: memblock::MemblockError,
    },
}

/// Why a bus node stops an address translation ([`DtError::Untranslatable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Untranslatable {
    /// No `ranges`: the bus is not memory-mapped (Linux: "no ranges; cannot translate").
    NoRanges,
    /// No `ranges` entry covers the address (Linux: "not found !").
    NotCovered,
    /// The covering entry moves the address past 64 bits.
    PastU64,
    /// The result does not fit the parent's single address cell (Linux would truncate).
    BeyondParentCell,
    /// A PCI or ISA bus, whose first address cell is a space code.
    PciOrIsa,
    /// `#address-cells` outside 1..=4 (`OF_CHECK_ADDR_COUNT`).
    BadAddressCells,
    /// `#size-cells = 0` (`OF_CHECK_COUNTS`): the children are addressed, not memory-mapped.
    ZeroSizeCells,
}

impl fmt::Display for Untranslatable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoRanges => "has no property ranges, so it is not a memory-mapped bus",
            Self::NotCovered => "has no ranges entry that covers the address",
            Self::PastU64 => "has a ranges entry that moves the address past 64 bits",
            Self::BeyondParentCell => "translates the address beyond its parent's single address cell",
            Self::PciOrIsa => "is a PCI or ISA bus, whose addresses are not translated here",
            Self::BadAddressCells => "has #address-cells outside 1 to 4",
            Self::ZeroSizeCells => "has #size-cells = 0, so its children are not memory-mapped",
        })
    }
}

impl DtError {
    /// A [`DtError::BadProperty`] for `node` (cut to [`ERR_PATH`] bytes).
    pub(crate) fn prop(node: &dyn fmt::Display, prop: &'static str, what: &'static str) -> Self {
        Self::BadProperty { node: path_string(node), prop, what }
    }
}

/// Formats `d` into a bounded string, cutting at the capacity instead of failing.
pub(crate) fn path_string<const N: usize>(d: &dyn fmt::Display) -> String<N> {
    struct Cut<'s, const N: usize>(&'s mut String<N>);
    impl<const N: usize> fmt::Write for Cut<'_, N> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for c in s.chars() {
                if self.0.push(c).is_err() {
                    break;
                }
            }
            Ok(())
        }
    }
    let mut s = String::new();
    let _ = fmt::write(&mut Cut(&mut s), format_args!("{d}"));
    s
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(f, "blob of {len} bytes is shorter than the 40-byte FDT header"),
            Self::BadMagic { magic } => write!(f, "bad magic {magic:#010x} (expected 0xd00dfeed)"),
            Self::TotalSizeExceedsBuffer { totalsize, buffer } => {
                write!(f, "totalsize {totalsize:#x} exceeds buffer of {buffer:#x} bytes")
            }
            Self::BadVersion { version, last_comp_version } => write!(
                f,
                "unsupported FDT version {version} (last compatible {last_comp_version}); need 17"
            ),
            Self::BadHeader { what } => write!(f, "bad FDT header: {what}"),
            Self::BlockOutside { block, off, size, totalsize } => write!(
                f,
                "{block} block [{off:#x}, {off:#x}+{size:#x}) outside blob [0x28, {totalsize:#x})"
            ),
            Self::BadStruct { offset, what } => write!(f, "bad structure block at offset {offset:#x}: {what}"),
            Self::TooDeep { depth } => write!(f, "nodes nest deeper than {depth} levels"),
            Self::Parser { what } => write!(f, "fdt parser: {what}"),
            Self::BadProperty { node, prop, what } => write!(f, "{what} property {prop} in node {node}"),
            Self::BadCells { node, prop, value } => write!(f, "unsupported {prop} = {value} in node {node}"),
            Self::TooMany { what, capacity } => write!(f, "more than {capacity} {what}"),
            Self::NoNode { path } => write!(f, "no node {path} in the device tree"),
            Self::Untranslatable { node, bus_len, addr, why } => {
                let bus = node.get(..usize::from(*bus_len)).unwrap_or(node);
                write!(f, "cannot translate the address of {node} to a CPU address: node {bus} {why}")?;
                match addr {
                    Some(a) => write!(f, " (address there {a:#x})"),
                    None => Ok(()),
                }
            }
            Self::UnknownEnableMethod { node, method } => {
                write!(f, "unsupported enable-method \"{method}\" in node {node} (supported: psci, spin-table)")
            }
            Self::Memblock { op, base, size, err } => {
                write!(f, "memblock_{op} {} failed: {err}", mm_types::MemRange::new(*base, *size))
            }
        }
    }
}
