//! Bus addresses to CPU physical addresses: Linux 6.1's `of_translate_address` and
//! `of_address_to_resource` (drivers/of/address.c) for the default bus.
//!
//! A `reg` address is in the address space of the node's parent bus. To reach the CPU's space,
//! the walk goes up one bus at a time, as `__of_translate_address` does:
//! - the address and size cells of a node come from the nearest ancestor that has
//!   `#address-cells` / `#size-cells` (`of_bus_n_addr_cells`: Linux inherits them, and the root
//!   defaults to 1 and 1); the counts must pass `OF_CHECK_COUNTS` (1 to 4 address cells, at
//!   least one size cell: a bus with `#size-cells = 0`, like I2C or SPI, is not memory-mapped);
//! - each bus node between the device and the root must have `ranges`: empty means 1:1, missing
//!   means the bus is not memory-mapped and the address cannot be translated (an error naming
//!   that node); otherwise each entry `<child-address parent-address size>` (in the bus's
//!   address cells, its parent's address cells and the bus's size cells) is tried in order and
//!   the first one with `child <= address < child + size` moves the address to
//!   `parent + (address - child)` (`of_bus_default_map`); none matching is an error;
//! - at the root the address is a CPU physical address.
//!
//! Addresses are read as Linux's `of_read_number` does (the low 64 bits of the cells). Two
//! deliberate differences: a translated address too wide for a parent with one address cell is
//! an error here (Linux truncates it to 32 bits), and PCI and ISA buses (`device_type` "pci",
//! "pciex", "isa"), whose addresses carry a space code in their first cell (`of_bus_pci_map`),
//! are refused with an error rather than translated wrongly.

use crate::error::{path_string, DtError, Untranslatable, ERR_LONG_PATH};
use crate::header::MAX_DEPTH;
use crate::tree::{cell_prop, first_str, next_cells, prop, DeviceTree, Node};
use heapless::Vec;

/// `OF_MAX_ADDR_CELLS`.
const MAX_ADDR_CELLS: u32 = 4;

/// One `reg` entry of a node, in the bus's and the CPU's address spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegEntry {
    /// The address as written in `reg` (the parent bus's address space).
    pub bus_address: u64,
    /// The same address after every parent's `ranges`: what the CPU uses.
    pub cpu_address: u64,
    /// The size as written.
    pub size: u64,
}

/// The nodes from the root to the node at a path, and where each component ends in the path.
struct Chain<'a, 'p> {
    path: &'p str,
    nodes: Vec<Node<'a>, { MAX_DEPTH + 1 }>,
    /// `ends[j]`: byte offset in `path` after component `j` (`ends[0] = 0`, the root).
    ends: Vec<usize, { MAX_DEPTH + 1 }>,
}

impl<'a> Chain<'a, '_> {
    /// The path of `nodes[j]`.
    fn path_of(&self, j: usize) -> &str {
        if j == 0 {
            "/"
        } else {
            &self.path[..self.ends[j]]
        }
    }

    /// Linux `of_bus_n_addr_cells` / `of_bus_n_size_cells` from `nodes[j]` upwards: the cells
    /// `nodes[j]`'s children use, and the node that said so (the root's default is 1).
    fn cells(&self, j: usize, p: &str) -> Result<(u32, usize), DtError> {
        for k in (0..=j).rev() {
            if let Some(c) = cell_prop(&self.nodes[k], p)? {
                return Ok((c, k));
            }
        }
        Ok((1, 0))
    }

    /// The address and size cells of the children of `nodes[j]`, checked as `OF_CHECK_COUNTS`.
    fn bus_cells(&self, j: usize, fail: &dyn Fn(usize, Untranslatable) -> DtError) -> Result<(u32, u32), DtError> {
        let (na, na_at) = self.cells(j, "#address-cells")?;
        let (ns, ns_at) = self.cells(j, "#size-cells")?;
        if !(1..=MAX_ADDR_CELLS).contains(&na) {
            return Err(fail(na_at, Untranslatable::BadAddressCells));
        }
        if ns == 0 {
            return Err(fail(ns_at, Untranslatable::ZeroSizeCells));
        }
        Ok((na, ns))
    }
}

impl<'a> DeviceTree<'a> {
    /// The nodes from the root to `path` (an absolute path, unit addresses optional as in
    /// [`crate::NodeName::matches`]).
    fn chain<'p>(&self, path: &'p str) -> Result<Chain<'a, 'p>, DtError> {
        let no_node = || DtError::NoNode { path: path_string(&path) };
        if !path.starts_with('/') {
            return Err(no_node());
        }
        let mut chain = Chain { path, nodes: Vec::new(), ends: Vec::new() };
        let too_deep = |_| DtError::TooDeep { depth: MAX_DEPTH };
        chain.nodes.push(self.root()?).map_err(too_deep)?;
        chain.ends.push(0).map_err(|_| DtError::TooDeep { depth: MAX_DEPTH })?;
        let mut at = 0;
        for comp in path.split('/') {
            at += comp.len() + 1;
            if comp.is_empty() {
                continue;
            }
            let Some(parent) = chain.nodes.last() else { return Err(no_node()) };
            let child = self.child(parent, comp)?.ok_or_else(no_node)?;
            chain.nodes.push(child).map_err(too_deep)?;
            chain.ends.push((at - 1).min(path.len())).map_err(|_| DtError::TooDeep { depth: MAX_DEPTH })?;
        }
        Ok(chain)
    }

    /// Linux `of_address_to_resource(np, index)`: entry `index` of the `reg` of the node at
    /// `path`, with its address translated to the CPU's address space (see the module doc).
    ///
    /// # Errors
    /// No node at `path`; no `reg`, or fewer than `index + 1` entries in it
    /// ([`DtError::BadProperty`] naming the node); an address that cannot be translated
    /// ([`DtError::Untranslatable`] naming the node and the bus where it stopped).
    pub fn reg_cpu_address(&self, path: &str, index: usize) -> Result<RegEntry, DtError> {
        let chain = self.chain(path)?;
        let k = chain.nodes.len() - 1;
        let node_path = chain.path_of(k);
        if k == 0 {
            return Err(DtError::prop(&"/", "reg", "no parent bus for"));
        }
        let fail = |j: usize, what| untranslatable(node_path, chain.path_of(j), None, what);
        let (na, ns) = chain.bus_cells(k - 1, &fail)?;
        let Some(mut reg) = prop(&chain.nodes[k], "reg")? else {
            return Err(DtError::prop(&node_path, "reg", "missing"));
        };
        let mut entry = None;
        for _ in 0..=index {
            entry = match (next_cells(&mut reg, na), next_cells(&mut reg, ns)) {
                (Some(a), Some(s)) => Some((a, s)),
                _ => None,
            };
        }
        let Some((bus_address, size)) = entry else {
            return Err(DtError::prop(&node_path, "reg", "too few entries in"));
        };
        let cpu_address = translate(&chain, na, bus_address)?;
        Ok(RegEntry { bus_address, cpu_address, size })
    }

    /// Linux `of_translate_address`: `bus_address`, an address in the space of the parent bus
    /// of the node at `path`, in the CPU's address space.
    ///
    /// # Errors
    /// As [`Self::reg_cpu_address`], without the `reg` checks.
    pub fn translate_address(&self, path: &str, bus_address: u64) -> Result<u64, DtError> {
        let chain = self.chain(path)?;
        let k = chain.nodes.len() - 1;
        if k == 0 {
            return Err(DtError::prop(&"/", "reg", "no parent bus for"));
        }
        let fail = |j: usize, what| untranslatable(chain.path_of(k), chain.path_of(j), Some(bus_address), what);
        let (na, _) = chain.bus_cells(k - 1, &fail)?;
        translate(&chain, na, bus_address)
    }
}

/// `bus` is an ancestor of `node`, so its path is a prefix of `node`'s (or `/`).
fn untranslatable(node: &str, bus: &str, addr: Option<u64>, why: Untranslatable) -> DtError {
    let node: heapless::String<ERR_LONG_PATH> = path_string(&node);
    let bus_len = if bus == "/" { 1 } else { bus.len().min(node.len()) };
    DtError::Untranslatable { node, bus_len: bus_len.min(usize::from(u8::MAX)) as u8, addr, why }
}

/// `__of_translate_address` from the last node of `chain` (whose address has `na` cells) up to
/// the root.
fn translate(chain: &Chain<'_, '_>, mut na: u32, mut addr: u64) -> Result<u64, DtError> {
    let node_path = chain.path_of(chain.nodes.len() - 1);
    // `bus` is the node whose children's address space `addr` is in.
    let mut bus = chain.nodes.len() - 2;
    while bus > 0 {
        let fail = |j: usize, what| untranslatable(node_path, chain.path_of(j), Some(addr), what);
        let bus_node = &chain.nodes[bus];
        if let Some(t) = prop(bus_node, "device_type")?.and_then(first_str) {
            if matches!(t, "pci" | "pciex" | "isa") {
                return Err(fail(bus, Untranslatable::PciOrIsa));
            }
        }
        let (_, ns) = chain.bus_cells(bus, &fail)?;
        let (pna, _) = chain.bus_cells(bus - 1, &fail)?;
        let Some(ranges) = prop(bus_node, "ranges")? else {
            return Err(fail(bus, Untranslatable::NoRanges));
        };
        // `of_translate_one`: empty ranges is 1:1; otherwise the first entry that covers it.
        let mut parent = if ranges.is_empty() { Some(addr) } else { None };
        let mut r = ranges;
        while parent.is_none() {
            let (Some(child), Some(p), Some(size)) = (next_cells(&mut r, na), next_cells(&mut r, pna), next_cells(&mut r, ns))
            else {
                return Err(fail(bus, Untranslatable::NotCovered));
            };
            if child <= addr && u128::from(addr) < u128::from(child) + u128::from(size) {
                parent = p.checked_add(addr - child);
                if parent.is_none() {
                    return Err(fail(bus, Untranslatable::PastU64));
                }
            }
        }
        let Some(parent) = parent else { return Err(fail(bus, Untranslatable::NotCovered)) };
        if pna == 1 && parent > u64::from(u32::MAX) {
            return Err(fail(bus, Untranslatable::BeyondParentCell));
        }
        addr = parent;
        na = pna;
        bus -= 1;
    }
    Ok(addr)
}

#[cfg(test)]
mod tests;
