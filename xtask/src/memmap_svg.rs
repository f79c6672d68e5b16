//! The physical memory map as a picture: `cargo xtask memmap … --svg OUT.svg` (host simulation)
//! and `cargo xtask run … --memmap OUT.svg` (a real boot's log).
//!
//! Three pure steps: a data model ([`MemoryMap`]: RAM banks, the firmware's own map, what
//! memblock holds reserved, who owns each reserved range, zones, NUMA nodes, free blocks per buddy
//! order), a [`layout`] of positioned shapes, and [`to_svg`], which only prints them. The
//! producers are `memmap.rs` (the host simulation) and `memmap_log.rs` (a boot log).
//!
//! The address axis runs down the page, low addresses first, and is cut at every boundary any
//! range has: each piece is a row. A row's height grows with the logarithm of its size
//! ([`MIN_ROW`] px up to a page, [`PX_PER_DOUBLING`] more per doubling), so a 120-byte
//! Multiboot block and a 3 GiB bank are both visible; rows of [`BREAK_BYTES`] or more carry a
//! break mark, since their height no longer says how long they are. Exact hex ranges and sizes
//! are printed on every label and in the `<title>` tooltips.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::{bail, Result};

/// Bytes per page frame (4 KiB on both architectures here).
pub const PAGE: u64 = 4096;
/// Buddy orders, 0 to `MAX_ORDER - 1` (Linux 6.1's `MAX_ORDER` 11).
pub const MAX_ORDER: usize = 11;

/// Height of a row of one page or less.
pub const MIN_ROW: f64 = 16.0;
/// Extra height per doubling of a row's size above one page.
pub const PX_PER_DOUBLING: f64 = 6.0;
/// Rows at least this long get a break mark.
pub const BREAK_BYTES: u64 = 64 << 20;
/// Height of one label line.
const LINE: f64 = 14.0;
/// Font size of labels, addresses and tables.
const FONT: f64 = 11.0;
/// Advance of one character of the monospace font (DejaVu Sans Mono: 0.602 em).
const MONO_ADVANCE: f64 = 0.602;
/// Longest owner text on a label before it is cut (the tooltip keeps all of it).
const MAX_LABEL_CHARS: usize = 60;

/// Who owns a reserved range, for its colour and the legend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    KernelImage,
    PageTables,
    DeviceTree,
    Initrd,
    BootLoader,
    Firmware,
    PerCpu,
    MemMap,
    MemblockArrays,
    Board,
    Cma,
    Other,
}

impl Owner {
    pub const ALL: [Self; 12] = [
        Self::KernelImage,
        Self::PageTables,
        Self::DeviceTree,
        Self::Initrd,
        Self::BootLoader,
        Self::Firmware,
        Self::PerCpu,
        Self::MemMap,
        Self::MemblockArrays,
        Self::Board,
        Self::Cma,
        Self::Other,
    ];

    /// The owner a log's description names (`early reserve: [mem …] kernel image …`, …).
    pub fn classify(label: &str) -> Self {
        let l = label.to_ascii_lowercase();
        let has = |s: &str| l.contains(s);
        if l.starts_with("board:") {
            Self::Board
        } else if l.starts_with("cma") {
            Self::Cma
        } else if has("trampoline") {
            // Its own code and page tables: not the kernel's page tables.
            Self::Other
        } else if has("kernel image") {
            Self::KernelImage
        } else if has("page-table") || has("page table") {
            Self::PageTables
        } else if has("device tree") || has("fdt") {
            Self::DeviceTree
        } else if has("initrd") {
            Self::Initrd
        } else if has("per-cpu") || has("percpu") {
            Self::PerCpu
        } else if has("mem_map") {
            Self::MemMap
        } else if has("memblock") && has("array") {
            Self::MemblockArrays
        } else if has("multiboot") || has("boot loader") || has("u-boot") || has("grub") {
            Self::BootLoader
        } else if has("bios") || has("e820") || has("firmware") || has("memreserve") || has("reserved-memory") || has("acpi")
        {
            Self::Firmware
        } else {
            Self::Other
        }
    }

    pub fn legend(self) -> &'static str {
        match self {
            Self::KernelImage => "kernel image",
            Self::PageTables => "page tables",
            Self::DeviceTree => "device tree",
            Self::Initrd => "initrd",
            Self::BootLoader => "boot loader data (Multiboot)",
            Self::Firmware => "firmware / BIOS areas",
            Self::PerCpu => "per-CPU areas",
            Self::MemMap => "page metadata (mem_map)",
            Self::MemblockArrays => "memblock region arrays",
            Self::Board => "board reservations",
            Self::Cma => "CMA areas (MIGRATE_CMA pageblocks after the hand-off)",
            Self::Other => "other named reservations",
        }
    }

    pub fn color(self) -> &'static str {
        match self {
            Self::KernelImage => "#4e79a7",
            Self::PageTables => "#b07aa1",
            Self::DeviceTree => "#f28e2b",
            Self::Initrd => "#edc948",
            Self::BootLoader => "#76b7b2",
            Self::Firmware => "#9c755f",
            Self::PerCpu => "#ff9da7",
            Self::MemMap => "#e15759",
            Self::MemblockArrays => "#17becf",
            Self::Board => "#bcbd22",
            Self::Cma => "#5f3c99",
            Self::Other => "#8c8c8c",
        }
    }
}

/// Colours of what is not a named reservation.
pub const FREE_COLOR: &str = "#c9ecc0";
pub const PARTIAL_COLOR: &str = "#f2e6b8";
pub const UNNAMED_COLOR: &str = "#2b2b2b";
pub const NOMAP_COLOR: &str = "#a6a6a6";
const HOLE_FILL: &str = "url(#hole)";

/// Colours of the zone band.
pub fn zone_color(name: &str) -> &'static str {
    match name {
        "DMA" => "#c6dbef",
        "DMA32" => "#9ecae1",
        "Normal" => "#6baed6",
        "HighMem" => "#fdd0a2",
        _ => "#dadaeb",
    }
}

/// Colours of the node band.
pub fn node_color(nid: i32) -> &'static str {
    ["#e5d8bd", "#ddcbe8", "#f0e2b6", "#dcdcdc"][nid.rem_euclid(4) as usize]
}

/// Colours of the buddy orders, light (order 0) to dark (order 10).
pub const ORDER_COLORS: [&str; MAX_ORDER] = [
    "#fde725", "#bddf26", "#7ad151", "#44bf70", "#22a884", "#21918c", "#2a788e", "#355f8d", "#414487", "#482475", "#440154",
];

/// One bank of RAM (`memblock.memory`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RamBank {
    pub base: u64,
    pub size: u64,
    pub nid: Option<i32>,
    /// `MEMBLOCK_NOMAP`: RAM the kernel neither maps nor hands out.
    pub nomap: bool,
}

/// A named range: a reservation with its owner, or an entry of the firmware's own map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Area {
    pub base: u64,
    pub size: u64,
    pub label: String,
    pub owner: Owner,
}

impl Area {
    pub fn new(base: u64, size: u64, label: impl Into<String>) -> Self {
        let label = label.into();
        Self { base, size, owner: Owner::classify(&label), label }
    }

    fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// A zone's span on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSpan {
    pub nid: i32,
    pub name: String,
    pub base: u64,
    pub size: u64,
}

/// A NUMA node's span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpan {
    pub nid: i32,
    pub base: u64,
    pub size: u64,
}

/// Free blocks of one zone per buddy order (`/proc/buddyinfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuddyZone {
    pub nid: i32,
    pub zone: String,
    pub free: [u64; MAX_ORDER],
}

impl BuddyZone {
    pub fn free_kib(&self, order: usize) -> u64 {
        (self.free[order] * (PAGE >> 10)) << order
    }

    pub fn total_kib(&self) -> u64 {
        (0..MAX_ORDER).map(|o| self.free_kib(o)).sum()
    }
}

/// Everything the picture shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryMap {
    pub title: String,
    /// Where the data came from, one line each.
    pub subtitle: Vec<String>,
    pub ram: Vec<RamBank>,
    /// The firmware's map outside RAM (e820 `reserved`, ACPI, …), labelled with its type.
    pub firmware: Vec<Area>,
    /// `memblock.reserved`, `(base, size)`.
    pub reserved: Vec<(u64, u64)>,
    /// When `reserved` was taken, e.g. "at the memblock_free_all hand-off".
    pub reserved_when: String,
    /// Every range the source names an owner for.
    pub named: Vec<Area>,
    pub zones: Vec<ZoneSpan>,
    pub nodes: Vec<NodeSpan>,
    pub buddy: Vec<BuddyZone>,
    /// Totals and remarks printed in the side panel.
    pub notes: Vec<String>,
}

/// What a row of the map is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    /// No RAM (the firmware's map may say what is there).
    Hole,
    /// RAM the buddy allocator got.
    Free,
    /// RAM memblock does not hold reserved, but in a page it does: never handed over.
    PartialPage,
    /// RAM memblock holds reserved.
    Reserved,
    /// RAM marked nomap.
    Nomap,
}

/// One piece of the address axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub base: u64,
    pub end: u64,
    pub kind: RowKind,
    /// Indices into `named` of the ranges covering the row, smallest first.
    pub owners: Vec<usize>,
    /// Indices into `firmware` of the entries covering the row.
    pub firmware: Vec<usize>,
    pub zone: Option<usize>,
    pub node: Option<usize>,
    /// Set by [`layout`].
    pub y: f64,
    pub h: f64,
}

impl Row {
    pub fn size(&self) -> u64 {
        self.end - self.base
    }
}

fn contains(base: u64, size: u64, addr: u64) -> bool {
    addr >= base && addr - base < size
}

fn overlaps(a0: u64, a1: u64, b0: u64, b1: u64) -> bool {
    a0 < b1 && b0 < a1
}

impl MemoryMap {
    /// Drops empty ranges, sorts, and refuses a map without RAM.
    pub fn normalize(&mut self) -> Result<()> {
        self.ram.retain(|b| b.size > 0);
        self.ram.sort_by_key(|b| b.base);
        self.firmware.retain(|a| a.size > 0);
        self.firmware.sort_by_key(|a| (a.base, std::cmp::Reverse(a.size)));
        self.reserved.retain(|&(_, s)| s > 0);
        self.reserved.sort_unstable();
        self.named.retain(|a| a.size > 0);
        self.named.sort_by_key(|a| (a.base, std::cmp::Reverse(a.size)));
        self.named.dedup();
        self.zones.retain(|z| z.size > 0);
        self.zones.sort_by_key(|z| (z.base, z.nid));
        self.nodes.retain(|n| n.size > 0);
        self.nodes.sort_by_key(|n| n.base);
        if self.ram.is_empty() {
            bail!("the memory map has no RAM");
        }
        Ok(())
    }

    fn is_reserved(&self, addr: u64) -> bool {
        self.reserved.iter().any(|&(b, s)| contains(b, s, addr))
    }

    /// Where the axis ends: the end of the highest range of any kind.
    pub fn end(&self) -> u64 {
        let ends = self.ram.iter().map(|b| b.base.saturating_add(b.size));
        let ends = ends.chain(self.firmware.iter().chain(&self.named).map(Area::end));
        let ends = ends.chain(self.reserved.iter().map(|&(b, s)| b.saturating_add(s)));
        let ends = ends.chain(self.zones.iter().map(|z| z.base.saturating_add(z.size)));
        ends.chain(self.nodes.iter().map(|n| n.base.saturating_add(n.size))).max().unwrap_or(0)
    }

    /// Cuts the address axis at every boundary (and at the page boundaries around each
    /// reservation, where the buddy allocator's view changes) and merges neighbours that do not
    /// differ. Heights are left at 0.
    pub fn rows(&self) -> Vec<Row> {
        let end = self.end();
        let mut cuts = BTreeSet::from([0, end]);
        let mut cut = |b: u64, s: u64| {
            cuts.insert(b.min(end));
            cuts.insert(b.saturating_add(s).min(end));
        };
        for b in &self.ram {
            cut(b.base, b.size);
        }
        for a in self.firmware.iter().chain(&self.named) {
            cut(a.base, a.size);
        }
        for z in &self.zones {
            cut(z.base, z.size);
        }
        for n in &self.nodes {
            cut(n.base, n.size);
        }
        for &(b, s) in &self.reserved {
            cut(b, s);
            let (lo, hi) = (b & !(PAGE - 1), b.saturating_add(s).saturating_add(PAGE - 1) & !(PAGE - 1));
            cut(lo, hi - lo);
        }
        let cuts: Vec<u64> = cuts.into_iter().collect();
        let mut rows: Vec<Row> = Vec::new();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let bank = self.ram.iter().find(|r| contains(r.base, r.size, a));
            let mut owners: Vec<usize> = (0..self.named.len()).filter(|&i| contains(self.named[i].base, self.named[i].size, a)).collect();
            owners.sort_by_key(|&i| (self.named[i].size, i));
            let firmware = (0..self.firmware.len()).filter(|&i| contains(self.firmware[i].base, self.firmware[i].size, a)).collect();
            let kind = match bank {
                None => RowKind::Hole,
                Some(r) if r.nomap => RowKind::Nomap,
                Some(_) if self.is_reserved(a) => RowKind::Reserved,
                Some(_) => {
                    let (lo, hi) = (a & !(PAGE - 1), b.saturating_add(PAGE - 1) & !(PAGE - 1));
                    if self.reserved.iter().any(|&(rb, rs)| overlaps(lo, hi, rb, rb.saturating_add(rs))) {
                        RowKind::PartialPage
                    } else {
                        RowKind::Free
                    }
                }
            };
            let zone = self.zones.iter().position(|z| contains(z.base, z.size, a));
            let node = self.nodes.iter().position(|n| contains(n.base, n.size, a));
            let row = Row { base: a, end: b, kind, owners, firmware, zone, node, y: 0.0, h: 0.0 };
            match rows.last_mut() {
                Some(prev)
                    if prev.kind == row.kind
                        && prev.owners == row.owners
                        && prev.firmware == row.firmware
                        && prev.zone == row.zone
                        && prev.node == row.node
                        // A named range that starts here needs its own row, even if it looks the same.
                        && !self.named.iter().chain(&self.firmware).any(|x| x.base == a) =>
                {
                    prev.end = b;
                }
                _ => rows.push(row),
            }
        }
        rows
    }
}

/// `0x0009f000-0x000fffff` (inclusive end, as Linux prints ranges), `digits` hex digits each.
pub fn range_text(base: u64, end: u64, digits: usize) -> String {
    format!("{base:#0w$x}-{:#0w$x}", end.saturating_sub(1), w = digits + 2)
}

/// A short exact-enough size: bytes below 1 KiB, else KiB/MiB/GiB with up to two decimals.
pub fn size_text(size: u64) -> String {
    let unit = |v: f64, u: &str| {
        let s = format!("{v:.2}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s} {u}")
    };
    match size {
        0..1024 => format!("{size} B"),
        1024..0x10_0000 => unit(size as f64 / 1024.0, "KiB"),
        0x10_0000..0x4000_0000 => unit(size as f64 / f64::from(1u32 << 20), "MiB"),
        _ => unit(size as f64 / f64::from(1u32 << 30), "GiB"),
    }
}

/// `[mem 0x…-0x…] 0x… bytes (…)`: the exact form for tooltips.
fn exact(base: u64, end: u64) -> String {
    format!("[mem {base:#018x}-{:#018x}] {:#x} bytes ({})", end.saturating_sub(1), end - base, size_text(end - base))
}

/// Where a text starts relative to its x.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
}

/// One positioned element of the picture.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Rect { x: f64, y: f64, w: f64, h: f64, fill: String, stroke: Option<String>, opacity: Option<f64>, title: Option<String> },
    Text { x: f64, y: f64, size: f64, text: String, anchor: Anchor, bold: bool, title: Option<String> },
    Line { x1: f64, y1: f64, x2: f64, y2: f64, stroke: String, width: f64, dash: bool },
    Path { d: String, stroke: String, width: f64 },
}

impl Shape {
    /// The box a text occupies: `(x0, y0, x1, y1)`, from the font's advance and ascent.
    pub fn text_box(&self) -> Option<(f64, f64, f64, f64)> {
        let Self::Text { x, y, size, text, anchor, bold, .. } = self else { return None };
        let advance = if *bold { 0.68 } else { MONO_ADVANCE };
        let w = text.chars().count() as f64 * size * advance;
        let x0 = match anchor {
            Anchor::Start => *x,
            Anchor::Middle => x - w / 2.0,
        };
        Some((x0, y - size * 0.78, x0 + w, y + size * 0.24))
    }
}

/// A positioned label of the map: the line of text and the rows it describes.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub text: String,
    pub first_row: usize,
    pub last_row: usize,
    /// The named range (`named` index) it describes, if any.
    pub named: Option<usize>,
    pub y: f64,
}

/// The picture before it is printed: shapes in drawing order, and what tests look at.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub rows: Vec<Row>,
    pub labels: Vec<Label>,
    pub shapes: Vec<Shape>,
    /// `(x, y, w, h)` of the map column and of the label column.
    pub map_area: (f64, f64, f64, f64),
    pub label_area: (f64, f64, f64, f64),
}

impl Layout {
    /// Pairs of texts whose boxes intersect, or that leave the canvas (paired with themselves).
    pub fn overlapping_texts(&self) -> Vec<(String, String)> {
        type Boxed<'a> = (&'a str, (f64, f64, f64, f64));
        let texts: Vec<Boxed<'_>> = self
            .shapes
            .iter()
            .filter_map(|s| match s {
                Shape::Text { text, .. } => Some((text.as_str(), s.text_box()?)),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for (i, (ta, a)) in texts.iter().enumerate() {
            if a.0 < 0.0 || a.1 < 0.0 || a.2 > self.width || a.3 > self.height {
                out.push(((*ta).to_owned(), (*ta).to_owned()));
            }
            for (tb, b) in &texts[i + 1..] {
                if !(a.2 <= b.0 || b.2 <= a.0 || a.3 <= b.1 || b.3 <= a.1) {
                    out.push(((*ta).to_owned(), (*tb).to_owned()));
                }
            }
        }
        out
    }

    /// The fills of solid rectangles big enough to have interior pixels: colours a rendering
    /// of the picture must contain.
    pub fn solid_colors(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .shapes
            .iter()
            .filter_map(|s| match s {
                Shape::Rect { fill, opacity: None, w, h, .. } if fill.starts_with('#') && *w >= 6.0 && *h >= 6.0 => Some(fill.clone()),
                _ => None,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

fn text(x: f64, y: f64, s: impl Into<String>) -> Shape {
    Shape::Text { x, y, size: FONT, text: s.into(), anchor: Anchor::Start, bold: false, title: None }
}

fn cut_text(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// Lines of at most `width` characters, broken at spaces.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in s.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
            line.push_str("  ");
        }
        if !line.is_empty() && !line.ends_with("  ") {
            line.push(' ');
        }
        line.push_str(&cut_text(word, width));
    }
    if !line.trim().is_empty() {
        out.push(line);
    }
    out
}

/// Places everything. Rows get their heights (see the module documentation), each label sits
/// inside the row where its range starts (so labels never share a line), and ranges that span
/// several rows get a bracket in a lane of their own.
pub fn layout(map: &MemoryMap) -> Layout {
    let end = map.end();
    let digits = (64 - end.saturating_sub(1).leading_zeros() as usize).div_ceil(4).max(8);
    let cw = FONT * MONO_ADVANCE;
    let mut rows = map.rows();

    // Labels, anchored at the row where their range starts.
    struct Pending {
        row: usize,
        last: usize,
        text: String,
        tip: String,
        color: &'static str,
        named: Option<usize>,
        bracket: bool,
    }
    let row_at = |rows: &[Row], addr: u64| rows.iter().position(|r| r.base <= addr && addr < r.end).unwrap_or(rows.len() - 1);
    let row_ending = |rows: &[Row], addr: u64| rows.iter().position(|r| r.base < addr && addr <= r.end).unwrap_or(rows.len() - 1);
    let mut pending: Vec<Pending> = Vec::new();
    for (i, a) in map.named.iter().enumerate() {
        let (first, last) = (row_at(&rows, a.base), row_ending(&rows, a.end()));
        let in_ram = rows[first..=last].iter().any(|r| r.kind != RowKind::Hole);
        let not_reserved = rows[first..=last].iter().any(|r| r.kind == RowKind::Free);
        let mut tip = format!("{}: {}", a.label, exact(a.base, a.end()));
        let mut label = a.label.clone();
        if !in_ram {
            tip.push_str(", outside RAM");
            label.push_str(" (no RAM)");
        } else if not_reserved {
            write!(tip, ", not reserved {}", map.reserved_when).unwrap();
            label.push_str(" (not reserved)");
        }
        pending.push(Pending {
            row: first,
            last,
            text: format!("{}  {:>9}  {}", range_text(a.base, a.end(), digits), size_text(a.size), cut_text(&label, MAX_LABEL_CHARS)),
            tip,
            color: a.owner.color(),
            named: Some(i),
            bracket: true,
        });
    }
    for a in &map.firmware {
        let (first, last) = (row_at(&rows, a.base), row_ending(&rows, a.end()));
        pending.push(Pending {
            row: first,
            last,
            text: format!("{}  {:>9}  {}", range_text(a.base, a.end(), digits), size_text(a.size), cut_text(&a.label, MAX_LABEL_CHARS)),
            tip: format!("{}: {}", a.label, exact(a.base, a.end())),
            color: a.owner.color(),
            named: None,
            bracket: true,
        });
    }
    for (i, r) in rows.iter().enumerate() {
        let what = match r.kind {
            _ if !r.owners.is_empty() => continue,
            RowKind::Hole if !r.firmware.is_empty() => continue,
            RowKind::Hole => "no RAM".to_owned(),
            RowKind::Free => match r.zone {
                Some(z) => format!("free, handed to the buddy allocator ({})", map.zones[z].name),
                None => "free".to_owned(),
            },
            RowKind::PartialPage => "not reserved, but in a reserved page: not freed".to_owned(),
            RowKind::Reserved => "reserved: no owner named".to_owned(),
            RowKind::Nomap => "RAM marked nomap: never mapped or freed".to_owned(),
        };
        let color = match r.kind {
            RowKind::Hole => "#e6e6e6",
            RowKind::Free => FREE_COLOR,
            RowKind::PartialPage => PARTIAL_COLOR,
            RowKind::Reserved => UNNAMED_COLOR,
            RowKind::Nomap => NOMAP_COLOR,
        };
        pending.push(Pending {
            row: i,
            last: i,
            text: format!("{}  {:>9}  {what}", range_text(r.base, r.end, digits), size_text(r.size())),
            tip: format!("{what}: {}", exact(r.base, r.end)),
            color,
            named: None,
            bracket: false,
        });
    }
    // Outer ranges first within a row, then by address.
    pending.sort_by_key(|p| (p.row, std::cmp::Reverse(p.last), p.named.is_none()));

    // Row heights.
    let mut per_row = vec![0usize; rows.len()];
    for p in &pending {
        per_row[p.row] += 1;
    }
    for (r, n) in rows.iter_mut().zip(&per_row) {
        let doublings = (r.size().max(PAGE) as f64 / PAGE as f64).log2();
        r.h = (MIN_ROW + PX_PER_DOUBLING * doublings).max(*n as f64 * LINE + 4.0).max(MIN_ROW).round();
    }

    // Bracket lanes: interval colouring over row indices.
    let mut lanes: Vec<usize> = Vec::new(); // last row used per lane
    let mut lane_of = vec![0usize; pending.len()];
    let mut order: Vec<usize> = (0..pending.len()).filter(|&i| pending[i].bracket).collect();
    order.sort_by_key(|&i| (pending[i].row, std::cmp::Reverse(pending[i].last)));
    for i in order {
        let p = &pending[i];
        match lanes.iter().position(|&last| last < p.row) {
            Some(l) => {
                lanes[l] = p.last;
                lane_of[i] = l;
            }
            None => {
                lanes.push(p.last);
                lane_of[i] = lanes.len() - 1;
            }
        }
    }

    // Columns.
    let addr_x = 12.0;
    let node_x = addr_x + (digits + 2) as f64 * cw + 10.0;
    let node_w = 52.0;
    let zone_x = node_x + node_w + 4.0;
    let zone_w = 60.0;
    let map_x = zone_x + zone_w + 4.0;
    let map_w = 150.0;
    let lane_w = 7.0;
    let lanes_x = map_x + map_w + 6.0;
    let label_x = lanes_x + lanes.len() as f64 * lane_w + 10.0;
    let label_chars = pending.iter().map(|p| p.text.chars().count()).max().unwrap_or(0);
    let panel_x = (label_x + 14.0 + label_chars as f64 * cw + 30.0).max(label_x + 420.0);
    let panel_chars = 80usize;
    let panel_w = panel_chars as f64 * cw;
    let width = (panel_x + panel_w + 16.0).ceil();
    // The subtitle wraps to the canvas; the title is cut to it (bold sans: about 0.68 em).
    let sub_chars = ((width - 2.0 * addr_x) / cw) as usize;
    let subtitle: Vec<String> = map.subtitle.iter().flat_map(|l| wrap(l, sub_chars)).collect();
    let title = cut_text(&map.title, ((width - 2.0 * addr_x) / (18.0 * 0.68)) as usize);
    let top = 24.0 + (1 + subtitle.len()) as f64 * 16.0 + 26.0;

    let mut y = top;
    for r in &mut rows {
        r.y = y;
        y += r.h;
    }
    let map_bottom = y;
    let y_of = |rows: &[Row], addr: u64| -> f64 {
        match rows.iter().find(|r| r.base <= addr && addr < r.end) {
            Some(r) => r.y + r.h * ((addr - r.base) as f64 / r.size() as f64),
            None => map_bottom,
        }
    };

    let mut shapes = Vec::new();
    let mut s = |sh: Shape| shapes.push(sh);

    // Title.
    s(Shape::Text { x: addr_x, y: 28.0, size: 18.0, text: title, anchor: Anchor::Start, bold: true, title: None });
    for (i, line) in subtitle.iter().enumerate() {
        s(text(addr_x, 48.0 + i as f64 * 16.0, line.clone()));
    }
    let head_y = top - 8.0;
    s(text(addr_x, head_y, "address"));
    s(text(node_x, head_y, "node"));
    s(text(zone_x, head_y, "zone"));
    s(text(map_x, head_y, "physical memory"));
    s(text(label_x, head_y, format!("range{}size  owner", " ".repeat(2 * digits + 2 + 2 + 2))));

    // Rows: the map column and the address axis.
    for r in &rows {
        let tip = {
            let mut t = format!("{} ", exact(r.base, r.end));
            t.push_str(match r.kind {
                RowKind::Hole => "no RAM",
                RowKind::Free => "free RAM",
                RowKind::PartialPage => "RAM, in a reserved page",
                RowKind::Reserved => "reserved RAM",
                RowKind::Nomap => "nomap RAM",
            });
            for &o in &r.owners {
                write!(t, "; {}", map.named[o].label).unwrap();
            }
            for &f in &r.firmware {
                write!(t, "; {}", map.firmware[f].label).unwrap();
            }
            t
        };
        let owner_color = r.owners.first().map(|&o| map.named[o].owner.color());
        let fw_color = r.firmware.first().map(|&f| map.firmware[f].owner.color());
        let (fill, overlay) = match r.kind {
            RowKind::Hole => (HOLE_FILL, owner_color.or(fw_color)),
            RowKind::Free => (FREE_COLOR, None),
            RowKind::PartialPage => (PARTIAL_COLOR, None),
            RowKind::Reserved => (owner_color.unwrap_or(UNNAMED_COLOR), None),
            RowKind::Nomap => (NOMAP_COLOR, None),
        };
        s(Shape::Rect { x: map_x, y: r.y, w: map_w, h: r.h, fill: fill.into(), stroke: Some("#555555".into()), opacity: None, title: Some(tip.clone()) });
        if let Some(c) = overlay {
            s(Shape::Rect { x: map_x, y: r.y, w: map_w, h: r.h, fill: c.into(), stroke: None, opacity: Some(0.55), title: Some(tip) });
        }
        if r.size() >= BREAK_BYTES {
            // A zigzag across the column: this stretch is drawn far shorter than it is.
            let mid = r.y + r.h / 2.0;
            let mut d = format!("M{:.1},{:.1}", map_x - 4.0, mid);
            let mut x = map_x - 4.0;
            let mut up = true;
            while x < map_x + map_w + 4.0 {
                x += 8.0;
                write!(d, " L{:.1},{:.1}", x, mid + if up { -4.0 } else { 4.0 }).unwrap();
                up = !up;
            }
            s(Shape::Path { d: d.clone(), stroke: "#ffffff".into(), width: 5.0 });
            s(Shape::Path { d, stroke: "#333333".into(), width: 1.2 });
        }
        s(text(addr_x, r.y + 11.0, format!("{:#0w$x}", r.base, w = digits + 2)));
        s(Shape::Line { x1: addr_x + (digits + 2) as f64 * cw + 2.0, y1: r.y, x2: map_x, y2: r.y, stroke: "#bbbbbb".into(), width: 0.6, dash: false });
    }
    s(text(addr_x, map_bottom + 11.0, format!("{:#0w$x}", end, w = digits + 2)));
    s(Shape::Line { x1: addr_x + (digits + 2) as f64 * cw + 2.0, y1: map_bottom, x2: map_x + map_w, y2: map_bottom, stroke: "#bbbbbb".into(), width: 0.6, dash: false });

    // Zone and node bands.
    for z in &map.zones {
        let (y0, y1) = (y_of(&rows, z.base), y_of(&rows, z.base.saturating_add(z.size)));
        let tip = format!("node {} zone {}: {}", z.nid, z.name, exact(z.base, z.base.saturating_add(z.size)));
        s(Shape::Rect { x: zone_x, y: y0, w: zone_w, h: y1 - y0, fill: zone_color(&z.name).into(), stroke: Some("#555555".into()), opacity: None, title: Some(tip) });
        if y1 - y0 >= 14.0 {
            s(Shape::Text { x: zone_x + zone_w / 2.0, y: (y0 + y1) / 2.0 + 4.0, size: FONT, text: z.name.clone(), anchor: Anchor::Middle, bold: false, title: None });
        }
    }
    for n in &map.nodes {
        let (y0, y1) = (y_of(&rows, n.base), y_of(&rows, n.base.saturating_add(n.size)));
        let tip = format!("node {}: {}", n.nid, exact(n.base, n.base.saturating_add(n.size)));
        s(Shape::Rect { x: node_x, y: y0, w: node_w, h: y1 - y0, fill: node_color(n.nid).into(), stroke: Some("#555555".into()), opacity: None, title: Some(tip) });
        if y1 - y0 >= 14.0 {
            s(Shape::Text { x: node_x + node_w / 2.0, y: (y0 + y1) / 2.0 + 4.0, size: FONT, text: format!("node {}", n.nid), anchor: Anchor::Middle, bold: false, title: None });
        }
    }

    // Labels and brackets.
    let mut labels = Vec::new();
    let mut slot = vec![0usize; rows.len()];
    for (i, p) in pending.iter().enumerate() {
        let r = &rows[p.row];
        let ty = r.y + 12.0 + slot[p.row] as f64 * LINE;
        slot[p.row] += 1;
        if p.bracket {
            let lx = lanes_x + lane_of[i] as f64 * lane_w + 3.0;
            let (y0, y1) = (r.y + 1.5, rows[p.last].y + rows[p.last].h - 1.5);
            s(Shape::Path { d: format!("M{:.1},{y0:.1} L{lx:.1},{y0:.1} L{lx:.1},{y1:.1} L{:.1},{y1:.1}", lanes_x - 4.0, lanes_x - 4.0), stroke: p.color.into(), width: 2.0 });
            s(Shape::Line { x1: lx, y1: ty - 4.0, x2: label_x - 1.0, y2: ty - 4.0, stroke: p.color.into(), width: 1.0, dash: true });
        }
        s(Shape::Rect { x: label_x, y: ty - 9.0, w: 9.0, h: 9.0, fill: p.color.into(), stroke: Some("#555555".into()), opacity: None, title: None });
        s(Shape::Text { x: label_x + 14.0, y: ty, size: FONT, text: p.text.clone(), anchor: Anchor::Start, bold: false, title: Some(p.tip.clone()) });
        labels.push(Label { text: p.text.clone(), first_row: p.row, last_row: p.last, named: p.named, y: ty });
    }

    // The side panel.
    let mut py = top;
    let heading = |shapes: &mut Vec<Shape>, py: &mut f64, t: &str| {
        *py += 8.0;
        shapes.push(Shape::Text { x: panel_x, y: *py + 12.0, size: 13.0, text: t.into(), anchor: Anchor::Start, bold: true, title: None });
        *py += 20.0;
    };
    let swatch = |shapes: &mut Vec<Shape>, py: &mut f64, fill: &str, opacity: Option<f64>, t: String| {
        shapes.push(Shape::Rect { x: panel_x, y: *py + 1.0, w: 12.0, h: 11.0, fill: fill.into(), stroke: Some("#555555".into()), opacity, title: None });
        shapes.push(text(panel_x + 18.0, *py + 11.0, t));
        *py += LINE + 1.0;
    };
    heading(&mut shapes, &mut py, "Legend");
    for o in Owner::ALL {
        if map.named.iter().chain(&map.firmware).any(|a| a.owner == o) {
            swatch(&mut shapes, &mut py, o.color(), None, o.legend().into());
        }
    }
    let has = |k: RowKind| rows.iter().any(|r| r.kind == k && (r.owners.is_empty() || k != RowKind::Reserved));
    if has(RowKind::Reserved) {
        swatch(&mut shapes, &mut py, UNNAMED_COLOR, None, "reserved, no owner named in the source".into());
    }
    if has(RowKind::Free) {
        swatch(&mut shapes, &mut py, FREE_COLOR, None, "free: handed to the buddy allocator".into());
    }
    if has(RowKind::PartialPage) {
        swatch(&mut shapes, &mut py, PARTIAL_COLOR, None, "unreserved bytes in a reserved page (not freed)".into());
    }
    if has(RowKind::Nomap) {
        swatch(&mut shapes, &mut py, NOMAP_COLOR, None, "nomap RAM".into());
    }
    swatch(&mut shapes, &mut py, HOLE_FILL, None, "no RAM (tinted: what the firmware or a reservation says is there)".into());
    for name in ["DMA", "DMA32", "Normal", "HighMem", "Movable"] {
        if map.zones.iter().any(|z| z.name == name) {
            swatch(&mut shapes, &mut py, zone_color(name), None, format!("zone {name}"));
        }
    }
    let mut nids: Vec<i32> = map.nodes.iter().map(|n| n.nid).collect();
    nids.dedup();
    for nid in nids {
        swatch(&mut shapes, &mut py, node_color(nid), None, format!("NUMA node {nid}"));
    }
    for line in wrap(
        &format!(
            "Heights are logarithmic: {MIN_ROW} px up to one page, {PX_PER_DOUBLING} px more per doubling; the zigzag marks \
             stretches of {} or more. Ranges are [first-last] in hex; hover for exact tooltips. Reserved means memblock.reserved {}.",
            size_text(BREAK_BYTES),
            map.reserved_when
        ),
        panel_chars,
    ) {
        shapes.push(text(panel_x, py + 11.0, line));
        py += LINE;
    }
    if !map.notes.is_empty() {
        heading(&mut shapes, &mut py, "Totals");
        for n in &map.notes {
            for line in wrap(n, panel_chars) {
                shapes.push(text(panel_x, py + 11.0, line));
                py += LINE;
            }
        }
    }
    if !map.zones.is_empty() {
        heading(&mut shapes, &mut py, "Zones");
        for z in &map.zones {
            let line = format!(
                "node {} {:<8} {}  {}",
                z.nid,
                z.name,
                range_text(z.base, z.base.saturating_add(z.size), digits),
                size_text(z.size)
            );
            swatch(&mut shapes, &mut py, zone_color(&z.name), None, line);
        }
    }
    if !map.buddy.is_empty() {
        heading(&mut shapes, &mut py, "Free memory by buddy order after the hand-off");
        for line in wrap("Each bar is 100% of the zone's free memory, split by the block size it is free in; the numbers are free blocks per order (buddyinfo).", panel_chars) {
            shapes.push(text(panel_x, py + 11.0, line));
            py += LINE;
        }
        // Order legend: 11 swatches in a row.
        let step = panel_w / MAX_ORDER as f64;
        for (o, c) in ORDER_COLORS.iter().enumerate() {
            let x = panel_x + o as f64 * step;
            shapes.push(Shape::Rect { x, y: py + 2.0, w: 12.0, h: 11.0, fill: (*c).into(), stroke: Some("#555555".into()), opacity: None, title: None });
            shapes.push(text(x + 15.0, py + 12.0, format!("{o}")));
            shapes.push(text(x, py + 12.0 + LINE, size_text(PAGE << o).replace(" ", "")));
        }
        py += 2.0 * LINE + 8.0;
        let bar_w = panel_w;
        for b in &map.buddy {
            let total = b.total_kib();
            let blocks: u64 = b.free.iter().sum();
            shapes.push(text(panel_x, py + 11.0, format!("Node {}, zone {}: {} free in {blocks} block(s)", b.nid, b.zone, size_text(total << 10))));
            py += LINE + 2.0;
            shapes.push(Shape::Rect { x: panel_x, y: py, w: bar_w, h: 14.0, fill: "#ffffff".into(), stroke: Some("#555555".into()), opacity: None, title: None });
            if total > 0 {
                // Widths by share, at least 2 px for any order that has a block.
                let nonzero = b.free.iter().filter(|&&n| n > 0).count() as f64;
                let spare = bar_w - 2.0 * nonzero;
                let mut x = panel_x;
                for (o, color) in ORDER_COLORS.iter().enumerate() {
                    if b.free[o] == 0 {
                        continue;
                    }
                    let w = 2.0 + spare * b.free_kib(o) as f64 / total as f64;
                    let tip = format!(
                        "node {} {} order {o} ({} blocks): {} free block(s) = {} KiB",
                        b.nid,
                        b.zone,
                        size_text(PAGE << o),
                        b.free[o],
                        b.free_kib(o)
                    );
                    shapes.push(Shape::Rect { x, y: py, w, h: 14.0, fill: (*color).into(), stroke: None, opacity: None, title: Some(tip) });
                    x += w;
                }
            }
            py += 14.0;
            let counts: Vec<String> = b.free.iter().map(|n| format!("{n:>5}")).collect();
            shapes.push(text(panel_x, py + 12.0, format!("blocks{}", counts.join(""))));
            py += LINE + 8.0;
        }
    }

    let height = (map_bottom + 24.0).max(py + 16.0).ceil();
    let map_area = (map_x, top, map_w, map_bottom - top);
    let label_area = (label_x, top, panel_x - 30.0 - label_x, map_bottom - top);
    Layout { width, height, rows, labels, shapes, map_area, label_area }
}

/// XML text and attribute escaping.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\t' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// Prints a layout as a standalone SVG document.
pub fn to_svg(l: &Layout) -> String {
    let mut o = String::new();
    let w = &mut o;
    writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#).unwrap();
    writeln!(
        w,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT}">"#,
        l.width, l.height
    )
    .unwrap();
    writeln!(
        w,
        "<defs><pattern id=\"hole\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
         <rect width=\"6\" height=\"6\" fill=\"#f4f4f4\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#c4c4c4\" stroke-width=\"2\"/></pattern></defs>"
    )
    .unwrap();
    writeln!(w, r##"<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>"##, l.width, l.height).unwrap();
    for sh in &l.shapes {
        match sh {
            Shape::Rect { x, y, w: rw, h, fill, stroke, opacity, title } => {
                write!(w, r#"<rect x="{x:.1}" y="{y:.1}" width="{rw:.1}" height="{h:.1}" fill="{}""#, escape(fill)).unwrap();
                if let Some(st) = stroke {
                    write!(w, r#" stroke="{}" stroke-width="0.6""#, escape(st)).unwrap();
                }
                if let Some(op) = opacity {
                    write!(w, r#" fill-opacity="{op}""#).unwrap();
                }
                match title {
                    Some(t) => writeln!(w, "><title>{}</title></rect>", escape(t)).unwrap(),
                    None => writeln!(w, "/>").unwrap(),
                }
            }
            Shape::Text { x, y, size, text, anchor, bold, title } => {
                let open = match title {
                    Some(t) => format!("<g><title>{}</title>", escape(t)),
                    None => String::new(),
                };
                write!(w, r#"{open}<text x="{x:.1}" y="{y:.1}" xml:space="preserve""#).unwrap();
                if (*size - FONT).abs() > f64::EPSILON {
                    write!(w, r#" font-size="{size}""#).unwrap();
                }
                if *anchor == Anchor::Middle {
                    write!(w, r#" text-anchor="middle""#).unwrap();
                }
                if *bold {
                    write!(w, r#" font-weight="bold" font-family="DejaVu Sans, Helvetica, Arial, sans-serif""#).unwrap();
                }
                write!(w, r##" fill="#1a1a1a">{}</text>"##, escape(text)).unwrap();
                writeln!(w, "{}", if title.is_some() { "</g>" } else { "" }).unwrap();
            }
            Shape::Line { x1, y1, x2, y2, stroke, width, dash } => {
                write!(w, r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{}" stroke-width="{width}""#, escape(stroke)).unwrap();
                if *dash {
                    write!(w, r#" stroke-dasharray="2 2""#).unwrap();
                }
                writeln!(w, "/>").unwrap();
            }
            Shape::Path { d, stroke, width } => {
                writeln!(w, r#"<path d="{d}" fill="none" stroke="{}" stroke-width="{width}" stroke-linejoin="round"/>"#, escape(stroke)).unwrap();
            }
        }
    }
    writeln!(w, "</svg>").unwrap();
    o
}

/// The model as SVG text.
#[cfg(test)]
pub fn render(map: &MemoryMap) -> String {
    to_svg(&layout(map))
}

/// Refuses an output path whose folder does not exist, or that is a folder: said before a
/// boot or a simulation runs, not after.
pub fn check_writable(path: &std::path::Path) -> Result<()> {
    if path.is_dir() {
        bail!("cannot write the memory map to {}: it is a directory", path.display());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!("cannot write the memory map to {}: {} is not a directory", path.display(), dir.display());
        }
    }
    Ok(())
}

/// Writes the picture, saying what went wrong if it cannot; returns its layout.
pub fn write(map: &MemoryMap, path: &std::path::Path) -> Result<Layout> {
    use anyhow::Context as _;
    let mut map = map.clone();
    map.normalize()?;
    let l = layout(&map);
    check_writable(path)?;
    std::fs::write(path, to_svg(&l)).with_context(|| format!("cannot write the memory map to {}", path.display()))?;
    Ok(l)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small PC: page 0, two banks, a 120-byte block, a 4 KiB page-table page next to a 3 GiB
    /// bank, a firmware area in the hole, an unnamed reservation, zones and buddy counts.
    pub(crate) fn sample() -> MemoryMap {
        let mut m = MemoryMap {
            title: "sample".into(),
            subtitle: vec!["unit test".into()],
            ram: vec![
                RamBank { base: 0x1000, size: 0x9e000, nid: None, nomap: false },
                RamBank { base: 0x10_0000, size: 0xbfee_0000, nid: None, nomap: false },
            ],
            firmware: vec![Area::new(0x9_fc00, 0x400, "BIOS-e820: reserved"), Area::new(0xffc0_0000, 0x40_0000, "BIOS-e820: reserved")],
            reserved: vec![
                (0, 0x1000),
                (0x9500, 0x78),
                (0x9_f000, 0x6_1000),
                (0x10_0000, 0xc_3000),
                (0x3000_0000, 0x1000),
                (0x3000_1000, 0x2000),
                (0x3600_0000, 0xc0_0000),
            ],
            reserved_when: "at the memblock_free_all hand-off".into(),
            named: vec![
                Area::new(0, 0x1000, "page 0"),
                Area::new(0x9500, 0x78, "Multiboot information"),
                Area::new(0x9_f000, 0x6_1000, "BIOS: EBDA, VGA and ROM area below 1 MiB"),
                Area::new(0x10_0000, 0xc_3000, "kernel image (text to end of bss, boot stack)"),
                Area::new(0x3000_0000, 0x1000, "page tables (paging_init)"),
                Area::new(0x3600_0000, 0xc0_0000, "mem_map: node 0 (786400 pages x 16 bytes)"),
            ],
            zones: vec![
                ZoneSpan { nid: 0, name: "DMA".into(), base: 0x1000, size: 0xfff000 },
                ZoneSpan { nid: 0, name: "Normal".into(), base: 0x100_0000, size: 0x367f_e000 },
                ZoneSpan { nid: 0, name: "HighMem".into(), base: 0x377f_e000, size: 0x887e_2000 },
            ],
            nodes: vec![NodeSpan { nid: 0, base: 0x1000, size: 0xbffd_f000 }],
            buddy: vec![
                BuddyZone { nid: 0, zone: "DMA".into(), free: [2, 2, 4, 2, 3, 2, 1, 0, 0, 1, 3] },
                BuddyZone { nid: 0, zone: "Normal".into(), free: [1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 214] },
                BuddyZone { nid: 0, zone: "HighMem".into(), free: [0; MAX_ORDER] },
            ],
            notes: vec!["Memory: 3131628K/3145208K available".into()],
        };
        m.normalize().unwrap();
        m
    }

    #[test]
    fn owners_are_classified_from_log_text() {
        for (label, owner) in [
            ("kernel image (text to end of bss, boot stack)", Owner::KernelImage),
            ("page tables (paging_init)", Owner::PageTables),
            ("device tree blob", Owner::DeviceTree),
            ("initrd (Multiboot module)", Owner::Initrd),
            ("Multiboot memory map", Owner::BootLoader),
            ("BIOS: EBDA, VGA and ROM area below 1 MiB", Owner::Firmware),
            ("/memreserve/", Owner::Firmware),
            ("per-CPU area: cpu 1 (node 0)", Owner::PerCpu),
            ("mem_map: node 1", Owner::MemMap),
            ("memblock reserved array (256 regions)", Owner::MemblockArrays),
            ("board: frame buffer", Owner::Board),
            ("CMA area reserved (64 MiB)", Owner::Cma),
            ("CMA: reserved-memory linux,cma (map reusable)", Owner::Cma),
            ("real-mode trampoline for SMP bring-up", Owner::Other),
        ] {
            assert_eq!(Owner::classify(label), owner, "{label}");
        }
    }

    #[test]
    fn rows_cover_the_axis_and_keep_reservations_apart() {
        let m = sample();
        let rows = m.rows();
        assert_eq!(rows[0].base, 0);
        assert_eq!(rows.last().unwrap().end, 0x1_0000_0000);
        for w in rows.windows(2) {
            assert_eq!(w[0].end, w[1].base);
        }
        let row = |a: u64| rows.iter().find(|r| r.base <= a && a < r.end).unwrap();
        assert_eq!(row(0x9500).kind, RowKind::Reserved);
        assert_eq!((row(0x9500).base, row(0x9500).end), (0x9500, 0x9578));
        // Around the 120-byte block, the rest of its page is not handed over.
        assert_eq!(row(0x9578).kind, RowKind::PartialPage);
        assert_eq!(row(0x9000).kind, RowKind::PartialPage);
        assert_eq!(row(0x8000).kind, RowKind::Free);
        // The BIOS area reaches into the hole; the e820 entry is inside it.
        assert_eq!(row(0xa_0000).kind, RowKind::Hole);
        assert_eq!(row(0x9_fc00).firmware, vec![0]);
        // A reservation nobody named.
        let unnamed = row(0x3000_1000);
        assert_eq!((unnamed.kind, unnamed.owners.is_empty()), (RowKind::Reserved, true));
        assert_eq!(unnamed.end, 0x3000_3000);
        // Zone boundaries are row boundaries.
        assert!(rows.iter().any(|r| r.base == 0x377f_e000));
    }

    #[test]
    fn tiny_ranges_get_room_and_big_ones_a_break_mark() {
        let m = sample();
        let l = layout(&m);
        let row = |a: u64| l.rows.iter().find(|r| r.base <= a && a < r.end).unwrap();
        assert!(row(0x3000_0000).h >= MIN_ROW, "a 4 KiB page-table page");
        assert!(row(0x9500).h >= MIN_ROW, "a 120-byte block");
        assert!(row(0x4000_0000).h > row(0x3000_0000).h * 5.0);
        let breaks = l.shapes.iter().filter(|s| matches!(s, Shape::Path { stroke, .. } if stroke == "#ffffff")).count();
        let big = l.rows.iter().filter(|r| r.size() >= BREAK_BYTES).count();
        assert!(big >= 2);
        assert_eq!(breaks, big);
        // Rows are stacked without gaps.
        for w in l.rows.windows(2) {
            assert!((w[0].y + w[0].h - w[1].y).abs() < 1e-9);
        }
    }

    #[test]
    fn every_reserved_range_is_labelled_and_the_unnamed_one_too() {
        let m = sample();
        let l = layout(&m);
        let texts: Vec<&str> = l.shapes.iter().filter_map(|s| if let Shape::Text { text, .. } = s { Some(text.as_str()) } else { None }).collect();
        for a in &m.named {
            let want = range_text(a.base, a.end(), 8);
            assert!(texts.iter().any(|t| t.contains(&want) && t.contains(&cut_text(&a.label, MAX_LABEL_CHARS))), "{} {want}", a.label);
        }
        assert!(texts.iter().any(|t| t.starts_with("0x30001000-0x30002fff") && t.contains("reserved: no owner named")), "{texts:#?}");
        // Every reserved byte lies in a row drawn as reserved (or in a hole).
        for &(b, s) in &m.reserved {
            for r in l.rows.iter().filter(|r| overlaps(r.base, r.end, b, b + s)) {
                assert!(matches!(r.kind, RowKind::Reserved | RowKind::Hole), "{r:?}");
            }
        }
        // Tooltips carry exact addresses.
        assert!(l.shapes.iter().any(|s| matches!(s, Shape::Rect { title: Some(t), .. } if t.contains("[mem 0x0000000000009500-0x0000000000009577] 0x78 bytes"))));
    }

    #[test]
    fn texts_do_not_overlap_and_stay_on_the_canvas() {
        for m in [sample(), {
            let mut m = sample();
            // Many small reservations packed together.
            for i in 0..40u64 {
                m.reserved.push((0x200_0000 + i * 0x1000, 0x800));
                m.named.push(Area::new(0x200_0000 + i * 0x1000, 0x800, format!("board: block {i}")));
            }
            m.named.push(Area::new(0x200_0000, 0x28000, "board: all blocks"));
            m.normalize().unwrap();
            m
        }] {
            let l = layout(&m);
            assert!(l.shapes.iter().filter_map(Shape::text_box).count() > 100);
            assert_eq!(l.overlapping_texts(), Vec::<(String, String)>::new());
        }
    }

    #[test]
    fn long_titles_wrap_or_are_cut_to_the_canvas() {
        let mut m = sample();
        m.title = "T".repeat(400);
        m.subtitle = vec![format!("cargo xtask run {}", "--some-long-argument ".repeat(40))];
        let l = layout(&m);
        assert_eq!(l.overlapping_texts(), Vec::<(String, String)>::new());
        let subtitle_lines = l.shapes.iter().filter(|s| matches!(s, Shape::Text { text, .. } if text.contains("--some-long-argument"))).count();
        assert!(subtitle_lines >= 3, "{subtitle_lines}");
    }

    #[test]
    fn buddy_bars_split_by_order() {
        let m = sample();
        let l = layout(&m);
        let segs: Vec<(f64, &str)> = l
            .shapes
            .iter()
            .filter_map(|s| match s {
                Shape::Rect { w, title: Some(t), .. } if t.starts_with("node 0 Normal order") => Some((*w, t.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(segs.len(), 6, "{segs:?}");
        let widest = segs.iter().max_by(|a, b| a.0.total_cmp(&b.0)).unwrap();
        assert!(widest.1.contains("order 10"), "{widest:?}");
        assert!(segs.iter().all(|s| s.0 >= 2.0));
        assert!(l.shapes.iter().any(|s| matches!(s, Shape::Text { text, .. } if text.starts_with("Node 0, zone HighMem: 0 B free"))));
    }

    #[test]
    fn the_svg_is_well_formed_and_holds_the_labels() {
        let mut m = sample();
        m.named.push(Area::new(0x5000_0000, 0x1000, "board: <odd> & \"quoted\" name"));
        m.reserved.push((0x5000_0000, 0x1000));
        m.normalize().unwrap();
        let svg = render(&m);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        let l = layout(&m);
        assert_eq!(root.attribute("width"), Some(l.width.to_string().as_str()));
        let texts: Vec<String> = root.descendants().filter(|n| n.has_tag_name("text")).map(|n| n.text().unwrap_or("").to_owned()).collect();
        assert!(texts.iter().any(|t| t.contains("board: <odd> & \"quoted\" name")));
        let titles = root.descendants().filter(|n| n.has_tag_name("title")).count();
        assert!(titles > m.named.len());
    }

    #[test]
    fn sizes_and_ranges_read_well() {
        assert_eq!(size_text(0x78), "120 B");
        assert_eq!(size_text(0x1000), "4 KiB");
        assert_eq!(size_text(0xc_3000), "780 KiB");
        assert_eq!(size_text(0xbfe_e000), "191.93 MiB");
        assert_eq!(size_text(0xbfee_0000), "3 GiB");
        assert_eq!(range_text(0x9_f000, 0x10_0000, 8), "0x0009f000-0x000fffff");
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa bbb", "  ccc"]);
    }

    #[test]
    fn a_map_without_ram_is_refused_and_a_bad_path_is_named() {
        let mut m = MemoryMap::default();
        assert!(m.normalize().unwrap_err().to_string().contains("no RAM"));
        let e = write(&sample(), std::path::Path::new("/nonexistent-dir/x.svg")).unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent-dir"), "{e:#}");
    }
}
