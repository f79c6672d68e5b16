//! [`discover`]: what Linux 6.1's early FDT code reads, gathered into bounded tables.
//!
//! Mirrored functions (drivers/of/fdt.c, drivers/of/of_reserved_mem.c, drivers/of/base.c):
//! - RAM: `early_init_dt_scan_memory` — every *root child* (not a path lookup) whose
//!   `device_type` is `"memory"` and that is available (`status` absent, `okay` or `ok`);
//!   `linux,usable-memory` replaces `reg` when present; every `(address, size)` pair of the
//!   root's `#address-cells`/`#size-cells` is a bank, pairs with size 0 are skipped (and
//!   counted here), trailing bytes shorter than a pair are ignored; `hotpluggable` is noted.
//!   The root's cells default to 1/1 when absent (`OF_ROOT_NODE_*_CELLS_DEFAULT`); values other
//!   than 1 or 2 are refused (a bank address must fit in `u64`).
//! - NUMA: `numa-node-id` is read per memory node and per CPU as `of_numa_parse_memory_nodes`
//!   does; absent stays `None` (the caller decides; see `apply.rs`).
//! - `/memreserve/`: the header block, up to the first zero-size entry.
//! - `/reserved-memory`: `fdt_scan_reserved_mem` — only when `__reserved_mem_check_root`
//!   passes (its `#address-cells`/`#size-cells` equal the root's and `ranges` is present;
//!   otherwise Linux prints "unsupported node format, ignoring" and so do we, see
//!   [`ReservedMemory::ignored`]); each direct child becomes a [`ReservedRegion`]: `reg` →
//!   static (`__reserved_mem_reserve_reg`: a length that is not a multiple of a pair makes the
//!   node invalid), no `reg` but `size` → dynamic (`__reserved_mem_alloc_size`: `size` must be
//!   exactly `#size-cells`, `alignment` exactly `#address-cells`, `alloc-ranges` whole pairs).
//!   Unavailable children are kept with `available = false` so a report can name them; `apply`
//!   skips them as Linux does.
//! - `/chosen` (or `/chosen@0`): `bootargs`; `linux,initrd-start`/`-end` as 1 or 2 cells each,
//!   independent of `#address-cells` (`early_init_dt_check_for_initrd` uses `of_read_number`
//!   with the property's own length; QEMU writes 32-bit cells), ignored when start > end;
//!   `stdout-path` (else `linux,stdout-path`) resolved like `of_find_node_opts_by_path`:
//!   options after `:` are dropped, a path not starting with `/` starts with an alias from
//!   `/aliases`. The console is that node (its first `compatible` string and the address of its
//!   first `reg` entry, as written and translated through the parents' `ranges` to a CPU
//!   address, see `address.rs`), else the first available node compatible with `arm,pl011`.
//! - `/cpus`: children with `device_type = "cpu"`: `reg` (MPIDR on arm64, in `/cpus`'s
//!   `#address-cells`), `enable-method`, `cpu-release-addr`, `numa-node-id`, availability;
//!   `/psci`'s `method`. [`Cpu::enable`] turns a CPU's properties into how to start it, as
//!   arm64 Linux's `cpu_read_enable_method` and `smp_spin_table_cpu_init` /
//!   `cpu_psci_cpu_init` do (the `enable-method` of `/cpus` itself is arm32's and is ignored).

use crate::error::{path_string, DtError};
use core::fmt;
use crate::tree::{cell_prop, children, first_str, is_available, list_contains, name, next_cells, prop, str_prop, DeviceTree, Node, NodeName};
use heapless::{String, Vec};
use mm_types::MemRange;

/// Most RAM banks kept (memblock's initial array is 128 regions; a DT rarely has more than 8).
pub const MAX_BANKS: usize = 64;
/// Most `/memreserve/` entries kept.
pub const MAX_MEMRESERVE: usize = 32;
/// Most `/reserved-memory` children kept (Linux `MAX_RESERVED_REGIONS` is 64; sm8450 has 43).
pub const MAX_RESERVED: usize = 64;
/// Most `reg` entries kept per static reserved region.
pub const MAX_STATIC_REGS: usize = 8;
/// Most `alloc-ranges` entries kept per dynamic reserved region.
pub const MAX_ALLOC_RANGES: usize = 8;
/// Most CPUs kept.
pub const MAX_CPUS: usize = 64;
/// Longest node path kept for the console.
pub const MAX_PATH: usize = 128;

/// One RAM bank: one `(address, size)` pair of a memory node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBank<'a> {
    /// `[base, base + size)` as written (not yet page-aligned).
    pub range: MemRange,
    /// The memory node's name, e.g. `memory@40000000`.
    pub node: NodeName<'a>,
    /// The node's `numa-node-id`, if it has one.
    pub numa_node_id: Option<u32>,
    /// The node has `hotpluggable`.
    pub hotpluggable: bool,
    /// The range came from `linux,usable-memory` rather than `reg`.
    pub usable_memory: bool,
}

/// How a `/reserved-memory` child asks for memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReservedKind {
    /// `reg`: fixed ranges (size-0 entries kept as written; `apply` refuses them as Linux does).
    Static {
        /// The `reg` entries in order.
        regs: Vec<MemRange, MAX_STATIC_REGS>,
    },
    /// `size` without `reg`: allocated at boot.
    Dynamic {
        /// Bytes wanted.
        size: u64,
        /// `alignment`, if present.
        alignment: Option<u64>,
        /// `alloc-ranges`, tried in order; empty means anywhere.
        alloc_ranges: Vec<MemRange, MAX_ALLOC_RANGES>,
    },
    /// A property has a length Linux refuses; the node is skipped.
    Invalid {
        /// What Linux would print.
        what: &'static str,
    },
    /// Neither `reg` nor `size`: Linux ignores the node.
    Empty,
}

/// One child of `/reserved-memory`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservedRegion<'a> {
    /// Node name (the path is `/reserved-memory/<name>`).
    pub name: NodeName<'a>,
    /// Static, dynamic, invalid or empty.
    pub kind: ReservedKind,
    /// `no-map`: not to be mapped (memblock NOMAP).
    pub no_map: bool,
    /// `reusable`: the OS may use it until the owner claims it (CMA).
    pub reusable: bool,
    /// First `compatible` string.
    pub compatible: Option<&'a str>,
    /// `compatible` contains `shared-dma-pool` (affects the CMA alignment).
    pub shared_dma_pool: bool,
    /// `linux,cma-default`: the default CMA area (`dma_contiguous_default_area`).
    pub cma_default: bool,
    /// `status` absent or okay; Linux skips the others.
    pub available: bool,
}

/// The `/reserved-memory` node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReservedMemory<'a> {
    /// Why Linux would ignore the whole node (`__reserved_mem_check_root` failed), if it would.
    pub ignored: Option<&'static str>,
    /// Children in node order (empty when ignored).
    pub regions: Vec<ReservedRegion<'a>, MAX_RESERVED>,
}

/// Where the console description came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Console<'a> {
    /// Absolute path of the console node.
    pub path: String<MAX_PATH>,
    /// First `compatible` string of the node.
    pub compatible: Option<&'a str>,
    /// Address of the first `reg` entry, in the parent's address cells (untranslated).
    pub reg_base: Option<u64>,
    /// The first `reg` entry's address translated through every parent's `ranges` to a CPU
    /// physical address (Linux `of_address_to_resource(np, 0)`), or why it cannot be: no
    /// `reg`, or a parent that is not a memory-mapped bus (the error names the node).
    pub cpu_base: Result<u64, DtError>,
    /// `true` when found through `stdout-path`, `false` for the `arm,pl011` fallback.
    pub from_stdout_path: bool,
}

/// What `/chosen` says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chosen<'a> {
    /// `bootargs`, unparsed.
    pub bootargs: Option<&'a str>,
    /// `stdout-path` (or `linux,stdout-path`) as written, options included.
    pub stdout_path: Option<&'a str>,
    /// `[linux,initrd-start, linux,initrd-end)` when both are present and start <= end.
    pub initrd: Option<MemRange>,
}

/// One `/cpus/cpu@*` node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu<'a> {
    /// Node name.
    pub name: NodeName<'a>,
    /// `reg` (MPIDR affinity bits on arm64), in `/cpus`'s `#address-cells`.
    pub mpidr: Option<u64>,
    /// `enable-method` (`psci`, `spin-table`, …).
    pub enable_method: Option<&'a str>,
    /// `cpu-release-addr` as written; [`Cpu::cpu_release_addr`] checks it.
    cpu_release_addr: Option<&'a [u8]>,
    /// `numa-node-id`.
    pub numa_node_id: Option<u32>,
    /// `status` absent or okay.
    pub available: bool,
}

/// How a CPU is started: arm64 Linux's `cpu_ops` that `enable-method` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnableMethod {
    /// `psci`: PSCI `CPU_ON` through the `/psci` conduit.
    Psci,
    /// `spin-table`: the CPU waits in firmware for a non-zero entry address at `release_addr`
    /// (a CPU physical address; Documentation/arm64/booting.rst).
    SpinTable {
        /// `cpu-release-addr`.
        release_addr: u64,
    },
}

impl fmt::Display for EnableMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Psci => f.write_str("psci"),
            Self::SpinTable { .. } => f.write_str("spin-table"),
        }
    }
}

/// The path of a CPU node, `/cpus/<name>`.
#[derive(Clone, Copy, Debug)]
pub struct CpuPath<'n, 'a>(&'n NodeName<'a>);

impl fmt::Display for CpuPath<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/cpus/{}", self.0)
    }
}

impl<'a> Cpu<'a> {
    /// The node's path, e.g. `/cpus/cpu@1`.
    pub fn path(&self) -> CpuPath<'_, 'a> {
        CpuPath(&self.name)
    }

    /// `cpu-release-addr`: the CPU physical address a spin-table CPU polls (Linux
    /// `smp_spin_table_cpu_init`; the binding says 64 bits, two cells).
    ///
    /// # Errors
    /// The property is missing or not exactly 8 bytes ([`DtError::BadProperty`] naming the
    /// node).
    pub fn cpu_release_addr(&self) -> Result<u64, DtError> {
        match self.cpu_release_addr {
            None => Err(DtError::prop(&self.path(), "cpu-release-addr", "missing")),
            Some(mut v) if v.len() == 8 => Ok(next_cells(&mut v, 2).unwrap_or(0)),
            Some(_) => Err(DtError::prop(&self.path(), "cpu-release-addr", "not 64 bits (two cells):")),
        }
    }

    /// How to start this CPU, from its own `enable-method` (arm64 Linux
    /// `cpu_read_enable_method`, then the `cpu_ops` init); `None` when the node has none, so
    /// the caller's default applies. For `spin-table`, `cpu-release-addr` is read too.
    ///
    /// # Errors
    /// A method other than `psci` and `spin-table` ([`DtError::UnknownEnableMethod`]), or a
    /// spin-table CPU without a valid `cpu-release-addr`; both name the node.
    pub fn enable(&self) -> Result<Option<EnableMethod>, DtError> {
        match self.enable_method {
            None => Ok(None),
            Some("psci") => Ok(Some(EnableMethod::Psci)),
            Some("spin-table") => Ok(Some(EnableMethod::SpinTable { release_addr: self.cpu_release_addr()? })),
            Some(other) => Err(DtError::UnknownEnableMethod { node: path_string(&self.path()), method: path_string(&other) }),
        }
    }
}

/// PSCI conduit from `/psci`'s `method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    /// `hvc`.
    Hvc,
    /// `smc`.
    Smc,
    /// Anything else (Linux: "invalid \"method\" property", PSCI unused).
    Unknown,
}

/// Everything [`discover`] found, bounded; borrowed strings point into the blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DtMemoryInfo<'a> {
    /// `totalsize` of the blob (what reserving the DTB itself covers).
    pub totalsize: u64,
    /// Root `#address-cells` (1 or 2).
    pub root_addr_cells: u32,
    /// Root `#size-cells` (1 or 2).
    pub root_size_cells: u32,
    /// RAM banks with size > 0, in node order.
    pub banks: Vec<MemoryBank<'a>, MAX_BANKS>,
    /// Size-0 pairs skipped (bootloader placeholders).
    pub zero_size_banks: usize,
    /// `/memreserve/` entries.
    pub memreserve: Vec<MemRange, MAX_MEMRESERVE>,
    /// `/reserved-memory`, if the node exists.
    pub reserved_memory: Option<ReservedMemory<'a>>,
    /// `/chosen`, if the node exists.
    pub chosen: Option<Chosen<'a>>,
    /// The console node, if one was found.
    pub console: Option<Console<'a>>,
    /// CPU nodes in order.
    pub cpus: Vec<Cpu<'a>, MAX_CPUS>,
    /// `/psci` method, if a PSCI node exists.
    pub psci_method: Option<PsciMethod>,
    /// `/distance-map` (`numa-distance-map-v1`) entries `(from, to, distance)`, as written
    /// (whole triples; checked by [`crate::of_numa_init`], which falls back as Linux does);
    /// empty when the tree has none (Linux then uses 10 local / 20 remote).
    pub distances: Vec<(u32, u32, u32), MAX_DISTANCES>,
    /// `Some(cells)` when the tree has a `numa-distance-map-v1` node: the length of its
    /// `distance-matrix` in cells (`None` inside: no such property).
    pub distance_map: Option<Option<usize>>,
}

/// Most `/distance-map` entries kept: a full matrix of 16 nodes.
pub const MAX_DISTANCES: usize = 256;

/// The triples `<from to distance>` of `distance-matrix` as `of_numa_parse_distance_map_v1`
/// reads them (a trailing partial triple is ignored); returns the property's length in cells,
/// `None` when it is absent. Values are checked by [`crate::of_numa_init`].
fn scan_distance_map(node: &Node<'_>, out: &mut Vec<(u32, u32, u32), MAX_DISTANCES>) -> Result<Option<usize>, DtError> {
    let Some(mut m) = prop(node, "distance-matrix")? else { return Ok(None) };
    let cells = m.len() / 4;
    while m.len() >= 12 {
        let mut cell = || next_cells(&mut m, 1).map_or(0, |v| v as u32);
        let (from, to, d) = (cell(), cell(), cell());
        out.push((from, to, d)).map_err(|_| DtError::TooMany { what: "distance-map entries", capacity: MAX_DISTANCES })?;
    }
    Ok(Some(cells))
}

fn root_cells(root: &Node<'_>, p: &'static str) -> Result<u32, DtError> {
    match cell_prop(root, p)? {
        None => Ok(1),
        Some(v @ (1 | 2)) => Ok(v),
        Some(value) => Err(DtError::BadCells { node: path_string(&"/"), prop: p, value }),
    }
}

/// Reads banks, reservations, `/chosen`, console and CPUs from `dt` (see the module doc).
pub fn discover<'a>(dt: &DeviceTree<'a>) -> Result<DtMemoryInfo<'a>, DtError> {
    let root = dt.root()?;
    let ac = root_cells(&root, "#address-cells")?;
    let sc = root_cells(&root, "#size-cells")?;
    let mut info = DtMemoryInfo {
        totalsize: dt.totalsize(),
        root_addr_cells: ac,
        root_size_cells: sc,
        banks: Vec::new(),
        zero_size_banks: 0,
        memreserve: Vec::new(),
        reserved_memory: None,
        chosen: None,
        console: None,
        cpus: Vec::new(),
        psci_method: None,
        distances: Vec::new(),
        distance_map: None,
    };

    // RAM and the other root children.
    for c in children(&root)? {
        let c = c?;
        let cname = name(&c)?;
        let is_memory = prop(&c, "device_type")?.and_then(first_str) == Some("memory");
        if is_memory && is_available(&c)? {
            scan_memory_node(&c, cname, ac, sc, &mut info)?;
        }
        if info.psci_method.is_none() {
            if let Some(compat) = prop(&c, "compatible")? {
                if compat.split(|&b| b == 0).any(|s| s.starts_with(b"arm,psci")) {
                    info.psci_method = Some(match str_prop(&c, "method")? {
                        Some("hvc") => PsciMethod::Hvc,
                        Some("smc") => PsciMethod::Smc,
                        _ => PsciMethod::Unknown,
                    });
                }
            }
        }
    }

    dt.for_each_memreserve(|base, size| {
        info.memreserve
            .push(MemRange::new(base, size))
            .map_err(|_| DtError::TooMany { what: "/memreserve/ entries", capacity: MAX_MEMRESERVE })
    })?;

    if let Some(rm) = dt.child(&root, "reserved-memory")? {
        info.reserved_memory = Some(scan_reserved_memory(&rm, ac, sc)?);
    }

    let chosen_node = match dt.child(&root, "chosen")? {
        Some(n) => Some(n),
        None => dt.child(&root, "chosen@0")?,
    };
    if let Some(ch) = chosen_node {
        let chosen = scan_chosen(&ch)?;
        if let Some(sp) = chosen.stdout_path {
            info.console = resolve_stdout(dt, sp)?;
        }
        info.chosen = Some(chosen);
    }
    if info.console.is_none() {
        let mut path: String<MAX_PATH> = String::new();
        info.console = find_pl011(dt, &root, &mut path)?;
    }

    if let Some(dm) = dt.child(&root, "distance-map")? {
        if prop(&dm, "compatible")?.is_some_and(|c| list_contains(c, "numa-distance-map-v1")) {
            info.distance_map = Some(scan_distance_map(&dm, &mut info.distances)?);
        }
    }

    if let Some(cpus) = dt.child(&root, "cpus")? {
        let cac = cell_prop(&cpus, "#address-cells")?.unwrap_or(1);
        for c in children(&cpus)? {
            let c = c?;
            if prop(&c, "device_type")?.and_then(first_str) != Some("cpu") {
                continue;
            }
            let cname = name(&c)?;
            let mpidr = match prop(&c, "reg")? {
                Some(mut r) if cac <= 2 => {
                    Some(next_cells(&mut r, cac).ok_or_else(|| DtError::prop(&cname, "reg", "truncated"))?)
                }
                _ => None,
            };
            let cpu = Cpu {
                name: cname,
                mpidr,
                enable_method: str_prop(&c, "enable-method")?,
                cpu_release_addr: prop(&c, "cpu-release-addr")?,
                numa_node_id: cell_prop(&c, "numa-node-id")?,
                available: is_available(&c)?,
            };
            info.cpus.push(cpu).map_err(|_| DtError::TooMany { what: "CPUs", capacity: MAX_CPUS })?;
        }
    }
    Ok(info)
}

fn scan_memory_node<'a>(
    c: &Node<'a>,
    cname: NodeName<'a>,
    ac: u32,
    sc: u32,
    info: &mut DtMemoryInfo<'a>,
) -> Result<(), DtError> {
    let (mut reg, usable_memory) = match prop(c, "linux,usable-memory")? {
        Some(r) => (r, true),
        None => match prop(c, "reg")? {
            Some(r) => (r, false),
            None => return Ok(()),
        },
    };
    let numa_node_id = cell_prop(c, "numa-node-id")?;
    let hotpluggable = prop(c, "hotpluggable")?.is_some();
    while let (Some(base), Some(size)) = (next_cells(&mut reg, ac), next_cells(&mut reg, sc)) {
        if size == 0 {
            info.zero_size_banks += 1;
            continue;
        }
        let bank = MemoryBank { range: MemRange::new(base, size), node: cname, numa_node_id, hotpluggable, usable_memory };
        info.banks.push(bank).map_err(|_| DtError::TooMany { what: "memory banks", capacity: MAX_BANKS })?;
    }
    Ok(())
}

fn pairs<const N: usize>(mut v: &[u8], ac: u32, sc: u32) -> Result<Vec<MemRange, N>, ()> {
    let mut out = Vec::new();
    while let (Some(b), Some(s)) = (next_cells(&mut v, ac), next_cells(&mut v, sc)) {
        out.push(MemRange::new(b, s)).map_err(|_| ())?;
    }
    Ok(out)
}

fn scan_reserved_memory<'a>(rm: &Node<'a>, ac: u32, sc: u32) -> Result<ReservedMemory<'a>, DtError> {
    let mut out = ReservedMemory::default();
    // __reserved_mem_check_root
    if cell_prop(rm, "#size-cells")? != Some(sc) {
        out.ignored = Some("#size-cells differs from the root's");
    } else if cell_prop(rm, "#address-cells")? != Some(ac) {
        out.ignored = Some("#address-cells differs from the root's");
    } else if prop(rm, "ranges")?.is_none() {
        out.ignored = Some("no ranges property");
    }
    if out.ignored.is_some() {
        return Ok(out);
    }
    let t_len = (ac + sc) as usize * 4;
    for c in children(rm)? {
        let c = c?;
        let cname = name(&c)?;
        let too_many = |_| DtError::TooMany { what: "entries in one /reserved-memory child", capacity: MAX_STATIC_REGS };
        let kind = if let Some(reg) = prop(&c, "reg")? {
            if !reg.is_empty() && reg.len() % t_len != 0 {
                ReservedKind::Invalid { what: "invalid reg property" }
            } else {
                ReservedKind::Static { regs: pairs(reg, ac, sc).map_err(too_many)? }
            }
        } else if let Some(mut size) = prop(&c, "size")? {
            let alignment = prop(&c, "alignment")?;
            let ranges = prop(&c, "alloc-ranges")?;
            if size.len() != sc as usize * 4 {
                ReservedKind::Invalid { what: "invalid size property" }
            } else if alignment.is_some_and(|a| a.len() != ac as usize * 4) {
                ReservedKind::Invalid { what: "invalid alignment property" }
            } else if ranges.is_some_and(|r| r.len() % t_len != 0) {
                ReservedKind::Invalid { what: "invalid alloc-ranges property" }
            } else {
                ReservedKind::Dynamic {
                    size: next_cells(&mut size, sc).unwrap_or(0),
                    alignment: alignment.and_then(|mut a| next_cells(&mut a, ac)),
                    alloc_ranges: match ranges {
                        Some(r) => pairs(r, ac, sc).map_err(too_many)?,
                        None => Vec::new(),
                    },
                }
            }
        } else {
            ReservedKind::Empty
        };
        let compat = prop(&c, "compatible")?;
        let region = ReservedRegion {
            name: cname,
            kind,
            no_map: prop(&c, "no-map")?.is_some(),
            reusable: prop(&c, "reusable")?.is_some(),
            compatible: compat.and_then(first_str),
            shared_dma_pool: compat.is_some_and(|v| list_contains(v, "shared-dma-pool")),
            cma_default: prop(&c, "linux,cma-default")?.is_some(),
            available: is_available(&c)?,
        };
        out.regions
            .push(region)
            .map_err(|_| DtError::TooMany { what: "/reserved-memory children", capacity: MAX_RESERVED })?;
    }
    Ok(out)
}

fn initrd_cell(v: &[u8], p: &'static str) -> Result<u64, DtError> {
    let mut s = v;
    match v.len() {
        4 => Ok(next_cells(&mut s, 1).unwrap_or(0)),
        8 => Ok(next_cells(&mut s, 2).unwrap_or(0)),
        _ => Err(DtError::prop(&"/chosen", p, "not 1 or 2 cells:")),
    }
}

fn scan_chosen<'a>(ch: &Node<'a>) -> Result<Chosen<'a>, DtError> {
    let mut out = Chosen { bootargs: str_prop(ch, "bootargs")?, ..Chosen::default() };
    out.stdout_path = match str_prop(ch, "stdout-path")? {
        Some(s) => Some(s),
        None => str_prop(ch, "linux,stdout-path")?,
    };
    if let (Some(s), Some(e)) = (prop(ch, "linux,initrd-start")?, prop(ch, "linux,initrd-end")?) {
        let (start, end) = (initrd_cell(s, "linux,initrd-start")?, initrd_cell(e, "linux,initrd-end")?);
        if start <= end {
            out.initrd = Some(MemRange::new(start, end - start));
        }
    }
    Ok(out)
}

/// `of_find_node_opts_by_path` without the options: `/a/b:opts` or `alias/rest:opts`.
fn resolve_stdout<'a>(dt: &DeviceTree<'a>, sp: &'a str) -> Result<Option<Console<'a>>, DtError> {
    let spec = sp.split(':').next().unwrap_or("");
    let mut path: String<MAX_PATH> = String::new();
    let cap = |_| DtError::prop(&"/chosen", "stdout-path", "too long");
    if spec.starts_with('/') {
        path.push_str(spec).map_err(cap)?;
    } else {
        let (alias, rest) = match spec.find('/') {
            Some(i) => spec.split_at(i),
            None => (spec, ""),
        };
        let root = dt.root()?;
        let Some(aliases) = dt.child(&root, "aliases")? else { return Ok(None) };
        let Some(target) = str_prop(&aliases, alias)? else { return Ok(None) };
        if !target.starts_with('/') {
            return Ok(None);
        }
        path.push_str(target).map_err(cap)?;
        path.push_str(rest).map_err(cap)?;
    }
    let Some((node, parent_ac)) = dt.find(&path)? else { return Ok(None) };
    console_of(dt, &node, parent_ac, path, true).map(Some)
}

/// The UART at `path` (a board names it), described as [`discover`] describes the console:
/// `from_stdout_path` is `false`, and [`Console::cpu_base`] holds the translated address or
/// why there is none.
///
/// # Errors
/// No node at `path`, or a parser error.
pub fn console_at<'a>(dt: &DeviceTree<'a>, path: &str) -> Result<Console<'a>, DtError> {
    let Some((node, parent_ac)) = dt.find(path)? else { return Err(DtError::NoNode { path: path_string(&path) }) };
    let mut p: String<MAX_PATH> = String::new();
    p.push_str(path).map_err(|_| DtError::NoNode { path: path_string(&path) })?;
    console_of(dt, &node, parent_ac, p, false)
}

fn console_of<'a>(
    dt: &DeviceTree<'a>,
    node: &Node<'a>,
    parent_ac: u32,
    path: String<MAX_PATH>,
    from_stdout_path: bool,
) -> Result<Console<'a>, DtError> {
    let reg_base = match prop(node, "reg")? {
        Some(mut r) if parent_ac <= 2 => next_cells(&mut r, parent_ac),
        _ => None,
    };
    // A parser error is fatal as elsewhere; a node that cannot be translated is reported.
    let cpu_base = match dt.reg_cpu_address(&path, 0) {
        Err(e @ (DtError::Parser { .. } | DtError::TooDeep { .. })) => return Err(e),
        r => r.map(|r| r.cpu_address),
    };
    Ok(Console { path, compatible: str_prop(node, "compatible")?, reg_base, cpu_base, from_stdout_path })
}

/// What a console UART's node says about how to drive it (Linux `of_platform_serial_setup`,
/// `8250_of.c`): its whole `compatible` list and the wiring properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UartProps<'a> {
    /// The raw `compatible` string list; [`UartProps::compatibles`] walks it.
    compatible: &'a [u8],
    /// `reg-shift`: register *n* is at `n << reg-shift`.
    pub reg_shift: Option<u32>,
    /// `reg-io-width`: 1 or 4 bytes per access.
    pub reg_io_width: Option<u32>,
    /// `clock-frequency`: the UART's input clock in Hz.
    pub clock_frequency: Option<u32>,
    /// `current-speed`: the baud rate the line is to run at.
    pub current_speed: Option<u32>,
    /// `snps,uart-16550-compatible`: a DesignWare UART without the busy quirk.
    pub snps_uart_16550_compatible: bool,
}

impl<'a> UartProps<'a> {
    /// Every `compatible` string, most specific first (non-UTF-8 entries skipped).
    pub fn compatibles(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.compatible.split(|&c| c == 0).filter(|s| !s.is_empty()).filter_map(|s| core::str::from_utf8(s).ok())
    }

    /// The first `compatible` string that `known` lists, in the node's order.
    pub fn first_of(&self, known: &[&str]) -> Option<&'a str> {
        self.compatibles().find(|c| known.contains(c))
    }
}

/// The wiring properties of the UART node at `path` (see [`UartProps`]). A one-cell property of
/// another length is an error naming the node and the property, as a value cannot be guessed.
///
/// # Errors
/// No node at `path`, a malformed property, or a parser error.
pub fn uart_props<'a>(dt: &DeviceTree<'a>, path: &str) -> Result<UartProps<'a>, DtError> {
    let Some((node, _)) = dt.find(path)? else { return Err(DtError::NoNode { path: path_string(&path) }) };
    let cell = |p: &'static str| -> Result<Option<u32>, DtError> {
        match prop(&node, p)? {
            None => Ok(None),
            Some(v) => <[u8; 4]>::try_from(v).map(|b| Some(u32::from_be_bytes(b))).map_err(|_| DtError::prop(&path, p, "not one 32-bit cell:")),
        }
    };
    Ok(UartProps {
        compatible: prop(&node, "compatible")?.unwrap_or(&[]),
        reg_shift: cell("reg-shift")?,
        reg_io_width: cell("reg-io-width")?,
        clock_frequency: cell("clock-frequency")?,
        current_speed: cell("current-speed")?,
        snps_uart_16550_compatible: prop(&node, "snps,uart-16550-compatible")?.is_some(),
    })
}

/// The first available node (depth first, in node order) whose `compatible` list holds one of
/// `known`, described as [`discover`] describes the console (`from_stdout_path` is `false`).
///
/// # Errors
/// A parser error.
pub fn find_console<'a>(dt: &DeviceTree<'a>, known: &[&str]) -> Result<Option<Console<'a>>, DtError> {
    let root = dt.root()?;
    let mut path: String<MAX_PATH> = String::new();
    find_uart(dt, &root, &mut path, known)
}

/// Depth-first search for the first available `arm,pl011` node (depth bounded by validation).
fn find_pl011<'a>(dt: &DeviceTree<'a>, node: &Node<'a>, path: &mut String<MAX_PATH>) -> Result<Option<Console<'a>>, DtError> {
    find_uart(dt, node, path, &["arm,pl011"])
}

/// Depth-first search for the first available node compatible with one of `known`.
fn find_uart<'a>(dt: &DeviceTree<'a>, node: &Node<'a>, path: &mut String<MAX_PATH>, known: &[&str]) -> Result<Option<Console<'a>>, DtError> {
    let my_ac = cell_prop(node, "#address-cells")?.unwrap_or(2);
    for c in children(node)? {
        let c = c?;
        let len = path.len();
        let cname = name(&c)?;
        if path.push('/').is_err() || core::fmt::write(path, format_args!("{cname}")).is_err() {
            path.truncate(len);
            continue; // a path longer than MAX_PATH cannot be reported; skip that subtree
        }
        if prop(&c, "compatible")?.is_some_and(|v| known.iter().any(|k| list_contains(v, k))) && is_available(&c)? {
            return console_of(dt, &c, my_ac, path.clone(), false).map(Some);
        }
        if let Some(found) = find_uart(dt, &c, path, known)? {
            return Ok(Some(found));
        }
        path.truncate(len);
    }
    Ok(None)
}

impl<'a> DtMemoryInfo<'a> {
    /// Sum of the bank sizes (saturating).
    pub fn memory_total(&self) -> u64 {
        self.banks.iter().fold(0u64, |a, b| a.saturating_add(b.range.size))
    }
}
