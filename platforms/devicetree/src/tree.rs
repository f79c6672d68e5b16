//! [`DeviceTree`]: a validated blob plus the `fdt` crate's fallible parser over it.
//!
//! Construction runs `header::parse_header` and `header::check_struct` first (Linux 6.1
//! `early_init_dt_verify` → libfdt `fdt_check_header`), then hands exactly
//! `blob[..totalsize]` to `fdt::Fdt::new_unaligned_fallible`. Only the crate's `NoPanic` mode is
//! used and every one of its errors becomes a [`DtError::Parser`]. The crate's path lookup is
//! not used (its components match at any depth); nodes are found by walking children from the
//! root, with Linux's `__of_node_name_eq` rule: a path component without `@` matches a node's
//! name without its unit address.

use crate::header::{self, Header};
use crate::DtError;
use core::fmt;
use fdt::parsing::{unaligned::UnalignedParser, NoPanic};

type Mode<'a> = (UnalignedParser<'a>, NoPanic);
pub(crate) type Node<'a> = fdt::nodes::Node<'a, Mode<'a>>;

/// A node's name split at `@`, borrowed from the blob; prints as `name@unit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeName<'a> {
    /// The part before `@`.
    pub base: &'a str,
    /// The unit address after `@`, if any.
    pub unit: Option<&'a str>,
}

impl fmt::Display for NodeName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unit {
            Some(u) => write!(f, "{}@{}", self.base, u),
            None => f.write_str(self.base),
        }
    }
}

impl NodeName<'_> {
    /// Linux `__of_node_name_eq` applied to one path component.
    pub fn matches(&self, component: &str) -> bool {
        match component.split_once('@') {
            Some((b, u)) => self.base == b && self.unit == Some(u),
            None => self.base == component,
        }
    }
}

/// A validated flattened device tree borrowed from the caller.
pub struct DeviceTree<'a> {
    blob: &'a [u8],
    header: Header,
    fdt: fdt::Fdt<'a, Mode<'a>>,
}

impl fmt::Debug for DeviceTree<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceTree").field("header", &self.header).finish()
    }
}

pub(crate) fn fdt_err(e: fdt::FdtError) -> DtError {
    use fdt::FdtError as E;
    let what = match e {
        E::BadMagic => "bad magic",
        E::BadPtr => "bad pointer",
        E::SliceTooSmall => "slice too small",
        E::ParseError(_) => "parse error in structure block",
        E::MissingPHandleNode(_) => "missing phandle node",
        E::MissingParent => "missing parent",
        E::MissingRequiredNode(_) => "missing required node",
        E::MissingRequiredProperty(_) => "missing required property",
        E::InvalidPropertyValue => "invalid property value",
        E::InvalidNodeName => "invalid node name",
        E::CollectCellsError => "cells do not fit",
    };
    DtError::Parser { what }
}

impl<'a> DeviceTree<'a> {
    /// Validates `blob` (header, block extents, structure-block grammar) and wraps it. `blob` may
    /// be longer than the tree (QEMU pads to 1 MiB; firmware may pass a larger window): only
    /// `totalsize` bytes are read.
    pub fn new(blob: &'a [u8]) -> Result<Self, DtError> {
        let header = header::parse_header(blob)?;
        let blob = &blob[..header.totalsize as usize];
        header::check_struct(blob, &header)?;
        header::for_each_memreserve(blob, &header, |_, _| Ok(()))?;
        let fdt = fdt::Fdt::new_unaligned_fallible(blob).map_err(fdt_err)?;
        Ok(Self { blob, header, fdt })
    }

    /// The header fields.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// `totalsize`: the bytes Linux's `early_init_fdt_reserve_self` reserves.
    pub fn totalsize(&self) -> u64 {
        u64::from(self.header.totalsize)
    }

    /// The blob, cut to `totalsize`.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// Calls `f(address, size)` per `/memreserve/` entry, up to the first zero-size one.
    pub fn for_each_memreserve(&self, f: impl FnMut(u64, u64) -> Result<(), DtError>) -> Result<(), DtError> {
        header::for_each_memreserve(self.blob, &self.header, f)
    }

    pub(crate) fn root(&self) -> Result<Node<'a>, DtError> {
        self.fdt.find_node("/").map_err(fdt_err)?.ok_or(DtError::Parser { what: "no root node" })
    }

    /// Child `component` of `parent` (first match in node order).
    pub(crate) fn child(&self, parent: &Node<'a>, component: &str) -> Result<Option<Node<'a>>, DtError> {
        for c in children(parent)? {
            let c = c?;
            if name(&c)?.matches(component) {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// The node at absolute `path`, walking from the root; also returns the `#address-cells` of
    /// its parent (2 when the parent does not say, as the specification defaults).
    pub(crate) fn find(&self, path: &str) -> Result<Option<(Node<'a>, u32)>, DtError> {
        if !path.starts_with('/') {
            return Ok(None);
        }
        let mut node = self.root()?;
        let mut parent_ac = 2;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            let ac = cell_prop(&node, "#address-cells")?.unwrap_or(2);
            match self.child(&node, comp)? {
                Some(c) => {
                    node = c;
                    parent_ac = ac;
                }
                None => return Ok(None),
            }
        }
        Ok(Some((node, parent_ac)))
    }
}

/// Children of `n` in node order, each an error value if the parser chokes.
pub(crate) fn children<'a>(n: &Node<'a>) -> Result<impl Iterator<Item = Result<Node<'a>, DtError>>, DtError> {
    let it = n.children().map_err(fdt_err)?.iter();
    Ok(it.map(|r| r.map_err(fdt_err)))
}

pub(crate) fn name<'a>(n: &Node<'a>) -> Result<NodeName<'a>, DtError> {
    let nn = n.name().map_err(fdt_err)?;
    Ok(NodeName { base: nn.name, unit: nn.unit_address })
}

/// Raw value of property `p` of `n`, if present.
pub(crate) fn prop<'a>(n: &Node<'a>, p: &str) -> Result<Option<&'a [u8]>, DtError> {
    Ok(n.raw_property(p).map_err(fdt_err)?.map(|p| p.value))
}

/// A property that holds one string (NUL-terminated; only the first string of a list).
pub(crate) fn str_prop<'a>(n: &Node<'a>, p: &str) -> Result<Option<&'a str>, DtError> {
    Ok(prop(n, p)?.and_then(first_str))
}

/// First string of a string list (`None` if empty or not UTF-8).
pub(crate) fn first_str(v: &[u8]) -> Option<&str> {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    core::str::from_utf8(&v[..end]).ok()
}

/// Whether the string list `v` contains `s`.
pub(crate) fn list_contains(v: &[u8], s: &str) -> bool {
    v.split(|&c| c == 0).any(|e| e == s.as_bytes())
}

/// A one-cell `u32` property (`#address-cells`, `numa-node-id`); `None` when absent or not 4 bytes.
pub(crate) fn cell_prop(n: &Node<'_>, p: &str) -> Result<Option<u32>, DtError> {
    Ok(prop(n, p)?.and_then(|v| <[u8; 4]>::try_from(v).ok()).map(u32::from_be_bytes))
}

/// Linux `of_fdt_device_is_available`: no `status`, or `okay`/`ok`.
pub(crate) fn is_available(n: &Node<'_>) -> Result<bool, DtError> {
    Ok(match prop(n, "status")? {
        None => true,
        Some(v) => matches!(first_str(v), Some("okay" | "ok")),
    })
}

/// Reads `cells` big-endian 32-bit cells from the front of `v` into a `u64` (Linux
/// `dt_mem_next_cell`/`of_read_number`: only the low 64 bits survive), advancing `v`.
pub(crate) fn next_cells(v: &mut &[u8], cells: u32) -> Option<u64> {
    let n = cells as usize * 4;
    if v.len() < n {
        return None;
    }
    let (head, tail) = v.split_at(n);
    *v = tail;
    Some(head.chunks_exact(4).fold(0u64, |acc, c| (acc << 32) | u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))))
}
