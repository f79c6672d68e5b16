//! Reference model and operation harness: replays a byte string on memblock and on a flat model.
//!
//! The model is deliberately naive: a small physical space of [`UNITS`] units of [`UNIT`]
//! bytes, one `Option<(nid, flags)>` per unit for memory and one `bool` per unit for reserved.
//! Regions are never stored; the expected region arrays are the maximal runs of equal units, so
//! the model checks Linux's merge rules, splits, totals and the free-range walk independently of
//! the real code's array manipulation. Allocations are predicted from the model's own free runs
//! (same search rules as `memblock_alloc_range_nid`: top-down or bottom-up, mirror first, node
//! fallback, first page skipped, `current_limit`).
//!
//! Arrays memblock allocates for itself (`memblock_double_array`) are followed from the outside:
//! after each operation a moved array's new range is checked (page aligned, below the limit,
//! inside free memory before the operation, outside the range being reserved) and reserved in the
//! model, and the old dynamic array's range takes the real reservation state (Linux ignores a
//! failure to free it). When the reserved array was left short of room, real reservations on
//! previously free units are adopted (an intermediate array whose free failed); when a step of
//! `cap_memory_range`/`enforce_memory_limit` may have been skipped for the same reason, the model
//! takes the real arrays. The structural invariants are checked in every case.
//!
//! `Err(NoMemory)` from the real memblock is accepted only when the array concerned was actually
//! short of room; then the model stays as it was. [`run_ops`] panics with the operation list on
//! any divergence; the crate's tests and the fuzz target call it.

use crate::{
    region_array_bytes, Memblock, MemblockError, Region, RegionArrayMapper, RegionFlags,
    ALLOC_ACCESSIBLE, ALLOC_ANYWHERE, MAX_NUMNODES, NUMA_NO_NODE, SMP_CACHE_BYTES,
};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use mm_types::PAGE_SIZE;

/// Bytes per model unit (every address and size the harness generates is a multiple).
pub const UNIT: u64 = 256;
/// Units in the modelled physical space `[0, UNITS * UNIT)`.
pub const UNITS: usize = 512;
/// Regions in the pool the harness's mapper hands out for doubled arrays.
const POOL_REGIONS: usize = 8192;
/// Most operations decoded from one byte string.
const MAX_OPS: usize = 64;

/// Hands out consecutive slices of one pool (a `Vec` owned by [`run_ops`]).
pub struct PoolMapper<'a> {
    rest: &'a mut [Region],
}

impl<'a> PoolMapper<'a> {
    /// A mapper carving arrays out of `pool`.
    pub fn new(pool: &'a mut [Region]) -> Self {
        Self { rest: pool }
    }
}

impl<'a> RegionArrayMapper<'a> for PoolMapper<'a> {
    fn map(&mut self, _phys_base: u64, count: usize) -> Option<&'a mut [Region]> {
        if self.rest.len() < count {
            return None;
        }
        let (head, tail) = core::mem::take(&mut self.rest).split_at_mut(count);
        self.rest = tail;
        Some(head)
    }
}

/// One decoded operation.
#[derive(Clone, Copy, Debug)]
enum Op {
    Add(u64, u64),
    AddNode(u64, u64, i32, RegionFlags),
    Remove(u64, u64),
    Reserve(u64, u64),
    Free(u64, u64),
    SetClr(u64, u64, bool, RegionFlags),
    SetNode(u64, u64, i32),
    AllocRange {
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: i32,
        exact: bool,
    },
    AllocTryNid {
        size: u64,
        align: u64,
        min: u64,
        max: u64,
        nid: i32,
    },
    PhysAlloc(u64, u64),
    BottomUp(bool),
    Limit(u64),
    EnforceLimit(u64),
    CapRange(u64, u64),
    Trim(u64),
    AllowResize,
}

/// Reads operations from the byte string; stops at its end.
struct Decoder<'d> {
    data: &'d [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// A unit-aligned range inside the model space.
    fn range(&mut self) -> Option<(u64, u64)> {
        let base = u16::from_le_bytes([self.byte()?, self.byte()?]) as usize % UNITS;
        let s = self.byte()?;
        let units = if s & 0x80 != 0 {
            (s & 0x7f) as usize * 4
        } else {
            (s & 0x3f) as usize
        };
        let units = units.min(UNITS - base);
        Some((base as u64 * UNIT, units as u64 * UNIT))
    }

    fn nid(&mut self) -> Option<i32> {
        Some([NUMA_NO_NODE, 0, 1, 2, MAX_NUMNODES][self.byte()? as usize % 5])
    }

    fn align(&mut self) -> Option<u64> {
        Some([0, SMP_CACHE_BYTES, UNIT, PAGE_SIZE, 4 * PAGE_SIZE][self.byte()? as usize % 5])
    }

    fn addr(&mut self) -> Option<u64> {
        let b = self.byte()?;
        Some(match b % 8 {
            0 => ALLOC_ACCESSIBLE,
            1 => ALLOC_ANYWHERE,
            _ => (b as u64 * 2 % UNITS as u64) * UNIT,
        })
    }

    fn op(&mut self) -> Option<Op> {
        let code = self.byte()?;
        Some(match code % 24 {
            0 | 1 => {
                let (b, s) = self.range()?;
                Op::Add(b, s)
            }
            2 | 3 => {
                let (b, s) = self.range()?;
                let nid = [0, 1, 2, MAX_NUMNODES][self.byte()? as usize % 4];
                let flags = [
                    RegionFlags::NONE,
                    RegionFlags::HOTPLUG,
                    RegionFlags::NOMAP,
                    RegionFlags::MIRROR,
                ][self.byte()? as usize % 4];
                Op::AddNode(b, s, nid, flags)
            }
            4 => {
                let (b, s) = self.range()?;
                Op::Remove(b, s)
            }
            5 | 6 => {
                let (b, s) = self.range()?;
                Op::Reserve(b, s)
            }
            7 => {
                let (b, s) = self.range()?;
                Op::Free(b, s)
            }
            8 | 9 => {
                let (b, s) = self.range()?;
                let which = self.byte()?;
                let flag = [
                    RegionFlags::NOMAP,
                    RegionFlags::HOTPLUG,
                    RegionFlags::MIRROR,
                ][which as usize % 3];
                // Linux has no clear_mirror.
                let set = which & 0x10 != 0 || flag == RegionFlags::MIRROR;
                Op::SetClr(b, s, set, flag)
            }
            10 => {
                let (b, s) = self.range()?;
                let nid = [0, 1, 2, MAX_NUMNODES][self.byte()? as usize % 4];
                Op::SetNode(b, s, nid)
            }
            11..=13 => {
                let size = (self.byte()? % 24) as u64 * UNIT;
                let align = self.align()?;
                let start = self.addr()?;
                let end = self.addr()?;
                let nid = self.nid()?;
                let exact = self.byte()? & 1 != 0;
                let start = if start == ALLOC_ANYWHERE { 0 } else { start };
                Op::AllocRange {
                    size,
                    align,
                    start,
                    end,
                    nid,
                    exact,
                }
            }
            14 => {
                let size = (self.byte()? % 24) as u64 * UNIT;
                let align = self.align()?;
                let min = self.addr()?;
                let max = self.addr()?;
                let nid = self.nid()?;
                let min = if min == ALLOC_ANYWHERE { 0 } else { min };
                Op::AllocTryNid {
                    size,
                    align,
                    min,
                    max,
                    nid,
                }
            }
            15 => {
                let size = (self.byte()? % 24) as u64 * UNIT;
                let align = self.align()?;
                Op::PhysAlloc(size, align)
            }
            16 => Op::BottomUp(self.byte()? & 1 != 0),
            17 => {
                let a = self.addr()?;
                Op::Limit(if a == ALLOC_ACCESSIBLE {
                    ALLOC_ANYWHERE
                } else {
                    a
                })
            }
            18 => Op::EnforceLimit((self.byte()? as u64 * 2) * UNIT),
            19 => {
                let (b, s) = self.range()?;
                Op::CapRange(b, s)
            }
            20 => Op::Trim([2 * UNIT, PAGE_SIZE][self.byte()? as usize % 2]),
            _ => Op::AllowResize,
        })
    }
}

/// Unit index of a unit-aligned address inside the model space.
fn unit(addr: u64) -> usize {
    (addr / UNIT) as usize
}

/// The flat reference model.
#[derive(Clone)]
struct Model {
    mem: Vec<Option<(i32, RegionFlags)>>,
    res: Vec<bool>,
    bottom_up: bool,
    limit: u64,
    has_mirror: bool,
}

/// Units `[start, end)` that share one memory and reserved state.
#[derive(Clone, Copy, Debug)]
struct Segment {
    start: usize,
    end: usize,
    mem: Option<(i32, RegionFlags)>,
    res: bool,
}

impl Segment {
    /// `(base, size)` in bytes.
    fn bytes(&self) -> (u64, u64) {
        (self.start as u64 * UNIT, (self.end - self.start) as u64 * UNIT)
    }
}

const SKIPPED: RegionFlags = RegionFlags(RegionFlags::NOMAP.0 | RegionFlags::DRIVER_MANAGED.0);

impl Model {
    fn new() -> Self {
        Self {
            mem: vec![None; UNITS],
            res: vec![false; UNITS],
            bottom_up: false,
            limit: ALLOC_ANYWHERE,
            has_mirror: false,
        }
    }

    fn units(base: u64, size: u64) -> core::ops::Range<usize> {
        unit(base)..unit(base + size)
    }

    /// Maximal runs of units with the same memory and reserved state, as unit ranges: one pass
    /// over the units, after which regions and free runs cost per run, not per unit (the
    /// harness checks them after every operation, so this is the fuzz target's hot path).
    fn segments(&self) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        for (u, (m, r)) in self.mem.iter().zip(&self.res).enumerate() {
            match out.last_mut() {
                Some(s) if s.mem == *m && s.res == *r => s.end = u + 1,
                _ => out.push(Segment { start: u, end: u + 1, mem: *m, res: *r }),
            }
        }
        out
    }

    /// Maximal runs of equal memory units, as regions.
    fn memory_regions(&self) -> Vec<Region> {
        Self::memory_regions_of(&self.segments())
    }

    fn memory_regions_of(segs: &[Segment]) -> Vec<Region> {
        let mut out: Vec<Region> = Vec::new();
        for seg in segs {
            let Some((nid, flags)) = seg.mem else { continue };
            let (base, size) = seg.bytes();
            match out.last_mut() {
                Some(r) if r.end() == base && r.nid == nid && r.flags == flags => r.size += size,
                _ => out.push(Region { base, size, nid, flags }),
            }
        }
        out
    }

    fn reserved_regions_of(segs: &[Segment]) -> Vec<Region> {
        let mut out: Vec<Region> = Vec::new();
        for seg in segs.iter().filter(|s| s.res) {
            let (base, size) = seg.bytes();
            match out.last_mut() {
                Some(r) if r.end() == base => r.size += size,
                _ => out.push(Region { base, size, nid: MAX_NUMNODES, flags: RegionFlags::NONE }),
            }
        }
        out
    }

    /// Free runs `(start, end, nid)`, ascending, filtered by node and (optionally) mirror.
    fn free_runs(&self, nid: i32, mirror: bool) -> Vec<(u64, u64, i32)> {
        Self::free_runs_of(&self.segments(), nid, mirror)
    }

    fn free_runs_of(segs: &[Segment], nid: i32, mirror: bool) -> Vec<(u64, u64, i32)> {
        let nid = if nid == MAX_NUMNODES { NUMA_NO_NODE } else { nid };
        let mut out: Vec<(u64, u64, i32)> = Vec::new();
        // A run grows while the units before it were usable memory of the same kind.
        let mut prev: Option<(i32, RegionFlags)> = None;
        for seg in segs {
            let usable = match seg.mem {
                Some((n, f)) => {
                    !seg.res
                        && !f.intersects(SKIPPED)
                        && (nid == NUMA_NO_NODE || n == nid)
                        && (!mirror || f.contains(RegionFlags::MIRROR))
                }
                None => false,
            };
            let (base, size) = seg.bytes();
            if usable {
                match out.last_mut() {
                    Some(r) if r.1 == base && prev == seg.mem => r.1 += size,
                    _ => out.push((base, base + size, seg.mem.map_or(0, |m| m.0))),
                }
            }
            prev = seg.mem;
        }
        out
    }

    fn find_node(
        &self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: i32,
        mirror: bool,
    ) -> Option<u64> {
        let end = if end == ALLOC_ACCESSIBLE || end == 1 {
            self.limit
        } else {
            end
        };
        let start = start.max(PAGE_SIZE);
        let end = end.max(start);
        let runs = self.free_runs(nid, mirror);
        if self.bottom_up {
            for &(s, e, _) in &runs {
                let (s, e) = (s.clamp(start, end), e.clamp(start, end));
                let cand = mm_types::align_up(s, align);
                if cand < e && e - cand >= size {
                    return Some(cand);
                }
            }
        } else {
            for &(s, e, _) in runs.iter().rev() {
                let (s, e) = (s.clamp(start, end), e.clamp(start, end));
                if e >= size && mm_types::align_down(e - size, align) >= s {
                    return Some(mm_types::align_down(e - size, align));
                }
            }
        }
        None
    }

    fn alloc_range(
        &self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: i32,
        exact: bool,
    ) -> Option<u64> {
        let align = if align == 0 { SMP_CACHE_BYTES } else { align };
        let nid = if nid == MAX_NUMNODES {
            NUMA_NO_NODE
        } else {
            nid
        };
        let mut mirror = self.has_mirror;
        loop {
            if let Some(a) = self.find_node(size, align, start, end, nid, mirror) {
                return Some(a);
            }
            if nid != NUMA_NO_NODE && !exact {
                if let Some(a) = self.find_node(size, align, start, end, NUMA_NO_NODE, mirror) {
                    return Some(a);
                }
            }
            if !mirror {
                return None;
            }
            mirror = false;
        }
    }

    /// Number of new regions `memblock_add_range` needs for `[base, base + size)`: the maximal
    /// uncovered pieces.
    fn pieces(covered: impl Fn(usize) -> bool, base: u64, size: u64) -> usize {
        let mut n = 0;
        let mut prev_covered = true;
        for u in Self::units(base, size) {
            let c = covered(u);
            if !c && prev_covered {
                n += 1;
            }
            prev_covered = c;
        }
        n
    }
}

/// Snapshot of one array's bookkeeping.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct ArrayState {
    base: Option<u64>,
    cap: usize,
    cnt: usize,
}

fn arrays(mb: &Memblock<'_>) -> (ArrayState, ArrayState) {
    (
        ArrayState {
            base: mb.memory_array_base(),
            cap: mb.memory_capacity(),
            cnt: mb.memory().len(),
        },
        ArrayState {
            base: mb.reserved_array_base(),
            cap: mb.reserved_capacity(),
            cnt: mb.reserved().len(),
        },
    )
}

/// Checks the structural invariants of one real array.
fn check_array(name: &str, regions: &[Region], total: u64) -> Result<(), String> {
    let mut sum = 0u64;
    for (i, r) in regions.iter().enumerate() {
        if r.size == 0 {
            return Err(format!("{name}[{i}] has size 0"));
        }
        if r.base.checked_add(r.size).is_none() {
            return Err(format!("{name}[{i}] wraps"));
        }
        if let Some(next) = regions.get(i + 1) {
            if r.end() > next.base {
                return Err(format!(
                    "{name}[{i}] {r:?} overlaps or is out of order with {next:?}"
                ));
            }
            if r.end() == next.base && r.nid == next.nid && r.flags == next.flags {
                return Err(format!(
                    "{name}[{i}] {r:?} should have merged with {next:?}"
                ));
            }
        }
        sum += r.size;
    }
    if sum != total {
        return Err(format!(
            "{name} total size {total:#x} but regions sum to {sum:#x}"
        ));
    }
    Ok(())
}

struct Harness<'m, 'a> {
    mb: &'m mut Memblock<'a>,
    model: Model,
}

impl Harness<'_, '_> {
    fn verify(&self) -> Result<(), String> {
        check_array("memory", self.mb.memory(), self.mb.phys_mem_size())?;
        check_array("reserved", self.mb.reserved(), self.mb.reserved_size())?;
        let segs = self.model.segments();
        let want_mem = Model::memory_regions_of(&segs);
        if self.mb.memory() != want_mem.as_slice() {
            return Err(format!(
                "memory differs:\n real  {:?}\n model {:?}",
                self.mb.memory(),
                want_mem
            ));
        }
        let want_res = Model::reserved_regions_of(&segs);
        if self.mb.reserved() != want_res.as_slice() {
            return Err(format!(
                "reserved differs:\n real  {:?}\n model {:?}",
                self.mb.reserved(),
                want_res
            ));
        }
        for nid in [NUMA_NO_NODE, 0, 1, 2] {
            let want = Model::free_runs_of(&segs, nid, false);
            let real: Vec<_> = self.mb.free_ranges(nid).collect();
            if real != want {
                return Err(format!(
                    "free_ranges({nid}) differs:\n real  {real:?}\n model {want:?}"
                ));
            }
            let mut real_rev: Vec<_> = self.mb.free_ranges_rev(nid).collect();
            real_rev.reverse();
            if real_rev != want {
                return Err(format!(
                    "free_ranges_rev({nid}) differs:\n real  {real_rev:?}\n model {want:?}"
                ));
            }
        }
        Ok(())
    }

    /// True if an array that may have needed two more entries did not grow: a step of a
    /// multi-step operation (`cap_memory_range`, `enforce_memory_limit`) may then have been
    /// skipped, as Linux ignores those errors.
    fn doubling_failed(&self, before: (ArrayState, ArrayState)) -> bool {
        let after = arrays(self.mb);
        // The count may have grown during the operation (a doubled array's reservation), and
        // an array may have doubled once and then failed to double again.
        let stuck = |b: ArrayState, a: ArrayState| b.cnt.max(a.cnt) + 2 > a.cap;
        stuck(before.0, after.0) || stuck(before.1, after.1)
    }

    /// An array allocated and replaced within one operation stays reserved when freeing it
    /// failed (reserved array full and unable to grow; Linux ignores that error). The model
    /// never saw it, so when the reserved array ended up short of room, real reservations on
    /// units that were free memory before the operation are adopted.
    fn adopt_leaked_arrays(&mut self, before: (ArrayState, ArrayState), pre: &Model) {
        let after = arrays(self.mb);
        if before.1.cnt.max(after.1.cnt) + 2 <= after.1.cap {
            return;
        }
        for u in 0..UNITS {
            let was_free = pre.mem[u].is_some_and(|(_, f)| !f.intersects(SKIPPED)) && !pre.res[u];
            if was_free && !self.model.res[u] && self.mb.is_reserved(u as u64 * UNIT) {
                self.model.res[u] = true;
            }
        }
    }

    /// Takes the real arrays as the new model state (invariants are still checked).
    fn sync_from_real(&mut self) {
        self.model.mem.iter_mut().for_each(|m| *m = None);
        self.model.res.iter_mut().for_each(|r| *r = false);
        for r in self.mb.memory() {
            Model::units(r.base, r.size).for_each(|u| self.model.mem[u] = Some((r.nid, r.flags)));
        }
        for r in self.mb.reserved() {
            Model::units(r.base, r.size).for_each(|u| self.model.res[u] = true);
        }
    }

    /// Follows arrays memblock moved during the last operation. `avoid` is the range a
    /// reserved-array doubling had to stay out of.
    fn follow_arrays(
        &mut self,
        before: (ArrayState, ArrayState),
        pre: &Model,
        avoid: Option<(u64, u64)>,
    ) -> Result<(), String> {
        let after = arrays(self.mb);
        let mut olds: Vec<(u64, u64)> = Vec::new();
        for (name, b, a, is_res) in [
            ("memory", before.0, after.0, false),
            ("reserved", before.1, after.1, true),
        ] {
            if b.base == a.base && b.cap == a.cap {
                continue;
            }
            let Some(new) = a.base else {
                return Err(format!("{name} array lost its base"));
            };
            let bytes = region_array_bytes(a.cap);
            if a.cap < b.cap * 2 || new % PAGE_SIZE != 0 || new + bytes > UNITS as u64 * UNIT {
                return Err(format!("{name} array moved badly: {b:?} -> {a:?}"));
            }
            if new + bytes > pre.limit {
                return Err(format!(
                    "{name} array at {new:#x} above current_limit {:#x}",
                    pre.limit
                ));
            }
            if let (true, Some((s, sz))) = (is_res, avoid) {
                if sz != 0 && new < s + sz && s < new + bytes {
                    return Err(format!("reserved array at {new:#x}+{bytes:#x} inside the range being reserved {s:#x}+{sz:#x}"));
                }
            }
            if let Some(old) = b.base {
                olds.push((old, region_array_bytes(b.cap)));
            }
            for u in Model::units(new, bytes) {
                let in_old = |(o, ob): &(u64, u64)| (*o..o + ob).contains(&(u as u64 * UNIT));
                let was_free =
                    pre.mem[u].is_some_and(|(_, f)| !f.intersects(SKIPPED)) && !pre.res[u];
                let was_old_array = [before.0, before.1]
                    .iter()
                    .filter_map(|s| s.base.map(|b| (b, region_array_bytes(s.cap))))
                    .any(|r| in_old(&r));
                if !was_free && !was_old_array {
                    return Err(format!(
                        "{name} array at {new:#x} was placed on unit {u} which was not free"
                    ));
                }
                self.model.res[u] = true;
            }
        }
        // Old dynamic arrays: take the real state (Linux ignores a failed free).
        for (old, bytes) in olds {
            for u in Model::units(old, bytes) {
                self.model.res[u] = self.mb.is_reserved(u as u64 * UNIT);
            }
        }
        Ok(())
    }
}

/// Decodes `data` into memblock operations, applies each to a real [`Memblock`] (small static
/// arrays, then a pool-backed mapper once the sequence allows resizing) and to the reference
/// model, and panics on the first divergence.
pub fn run_ops(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let cap = 2 + (first % 7) as usize;
    let mut mem_store = vec![Region::EMPTY; cap];
    let mut res_store = vec![Region::EMPTY; cap];
    let mut pool = vec![Region::EMPTY; POOL_REGIONS];
    let mut mapper = PoolMapper::new(&mut pool);
    let mut mb = Memblock::new(&mut mem_store, &mut res_store);
    if first & 0x80 != 0 {
        mb.allow_resize(&mut mapper);
        run(Decoder { data: rest, pos: 0 }, &mut mb, true);
    } else {
        run_with_late_resize(Decoder { data: rest, pos: 0 }, &mut mb, &mut mapper);
    }
}

/// Runs until an `AllowResize` op, hands over the mapper, then runs the rest.
fn run_with_late_resize<'a>(
    mut dec: Decoder<'_>,
    mb: &mut Memblock<'a>,
    mapper: &'a mut PoolMapper<'a>,
) {
    let mut h = Harness {
        mb,
        model: Model::new(),
    };
    let mut log: Vec<Op> = Vec::new();
    while log.len() < MAX_OPS {
        let Some(op) = dec.op() else { return };
        log.push(op);
        if let Op::AllowResize = op {
            h.mb.allow_resize(mapper);
            let model = h.model.clone();
            continue_run(dec, h.mb, model, log, true);
            return;
        }
        step(&mut h, op, &log, false);
    }
}

fn run(dec: Decoder<'_>, mb: &mut Memblock<'_>, resize: bool) {
    continue_run(dec, mb, Model::new(), Vec::new(), resize);
}

fn continue_run(
    mut dec: Decoder<'_>,
    mb: &mut Memblock<'_>,
    model: Model,
    mut log: Vec<Op>,
    resize: bool,
) {
    let mut h = Harness { mb, model };
    while log.len() < MAX_OPS {
        let Some(op) = dec.op() else { return };
        log.push(op);
        step(&mut h, op, &log, resize);
    }
}

/// Applies one operation to both sides and compares.
fn step(h: &mut Harness<'_, '_>, op: Op, log: &[Op], resize: bool) {
    if let Err(msg) = apply(h, op, resize).and_then(|()| h.verify()) {
        panic!(
            "memblock model divergence at op #{} {op:?}: {msg}\nops: {log:?}",
            log.len() - 1
        );
    }
}

fn apply(h: &mut Harness<'_, '_>, op: Op, resize: bool) -> Result<(), String> {
    let before = arrays(h.mb);
    let pre = h.model.clone();
    // Checks an Err(NoMemory) was due to a full array; `need` is how many entries were missing.
    let short = |state: ArrayState, need: usize| -> Result<(), String> {
        if state.cnt + need > state.cap {
            Ok(())
        } else {
            Err(format!(
                "NoMemory although the array had room: {state:?}, needed {need} (resize {resize})"
            ))
        }
    };
    match op {
        Op::Add(b, s) | Op::AddNode(b, s, _, _) => {
            let (nid, flags) = match op {
                Op::AddNode(_, _, n, f) => (n, f),
                _ => (MAX_NUMNODES, RegionFlags::NONE),
            };
            let r = if let Op::Add(..) = op {
                h.mb.add(b, s)
            } else {
                h.mb.add_node(b, s, nid, flags)
            };
            h.follow_arrays(before, &pre, None)?;
            match r {
                Ok(()) => {
                    for u in Model::units(b, s) {
                        h.model.mem[u].get_or_insert((nid, flags));
                    }
                }
                Err(MemblockError::NoMemory) => {
                    short(before.0, Model::pieces(|u| pre.mem[u].is_some(), b, s))?
                }
                Err(e) => return Err(format!("unexpected {e:?}")),
            }
        }
        Op::Reserve(b, s) => {
            let r = h.mb.reserve(b, s);
            h.follow_arrays(before, &pre, Some((b, s)))?;
            match r {
                Ok(()) => Model::units(b, s).for_each(|u| h.model.res[u] = true),
                Err(MemblockError::NoMemory) => {
                    short(before.1, Model::pieces(|u| pre.res[u], b, s))?
                }
                Err(e) => return Err(format!("unexpected {e:?}")),
            }
        }
        Op::Remove(b, s) | Op::Free(b, s) | Op::SetClr(b, s, _, _) | Op::SetNode(b, s, _) => {
            let r = match op {
                Op::Remove(..) => h.mb.remove(b, s),
                Op::Free(..) => h.mb.free(b, s),
                Op::SetClr(_, _, set, f) => match (set, f) {
                    (true, RegionFlags::NOMAP) => h.mb.mark_nomap(b, s),
                    (false, RegionFlags::NOMAP) => h.mb.clear_nomap(b, s),
                    (true, RegionFlags::HOTPLUG) => h.mb.mark_hotplug(b, s),
                    (false, RegionFlags::HOTPLUG) => h.mb.clear_hotplug(b, s),
                    _ => h.mb.mark_mirror(b, s),
                },
                Op::SetNode(_, _, nid) => h.mb.set_node(b, s, nid),
                _ => unreachable!(),
            };
            let on_reserved = matches!(op, Op::Free(..));
            h.follow_arrays(before, &pre, on_reserved.then_some((b, s)))?;
            if let Op::SetClr(_, _, true, RegionFlags::MIRROR) = op {
                h.model.has_mirror = true;
            }
            match r {
                Ok(()) => {
                    for u in Model::units(b, s) {
                        match op {
                            Op::Remove(..) => h.model.mem[u] = None,
                            Op::Free(..) => h.model.res[u] = false,
                            Op::SetClr(_, _, set, f) => {
                                if let Some((_, flags)) = &mut h.model.mem[u] {
                                    *flags = if set {
                                        flags.union(f)
                                    } else {
                                        flags.difference(f)
                                    };
                                }
                            }
                            Op::SetNode(_, _, nid) => {
                                if let Some((n, _)) = &mut h.model.mem[u] {
                                    *n = nid;
                                }
                            }
                            _ => unreachable!(),
                        }
                    }
                }
                Err(MemblockError::NoMemory) => {
                    short(if on_reserved { before.1 } else { before.0 }, 2)?
                }
                Err(e) => return Err(format!("unexpected {e:?}")),
            }
        }
        Op::AllocRange { .. } | Op::AllocTryNid { .. } | Op::PhysAlloc(..) => {
            let (size, align, start, end, want) = match op {
                Op::AllocRange {
                    size,
                    align,
                    start,
                    end,
                    nid,
                    exact,
                } => (
                    size,
                    align,
                    start,
                    end,
                    pre.alloc_range(size, align, start, end, nid, exact),
                ),
                Op::AllocTryNid {
                    size,
                    align,
                    min,
                    max,
                    nid,
                } => {
                    let max = max.min(pre.limit);
                    let first = pre.alloc_range(size, align, min, max, nid, false);
                    let want = if first.is_none() && min != 0 {
                        pre.alloc_range(size, align, 0, max, nid, false)
                    } else {
                        first
                    };
                    (size, align, 0, max, want)
                }
                Op::PhysAlloc(size, align) => (
                    size,
                    align,
                    0,
                    ALLOC_ACCESSIBLE,
                    pre.alloc_range(size, align, 0, 0, NUMA_NO_NODE, false),
                ),
                _ => unreachable!(),
            };
            let got = match op {
                Op::AllocRange {
                    size,
                    align,
                    start,
                    end,
                    nid,
                    exact,
                } => h.mb.alloc_range(size, align, start, end, nid, exact),
                Op::AllocTryNid {
                    size,
                    align,
                    min,
                    max,
                    nid,
                } => h.mb.alloc_try_nid(size, align, min, max, nid),
                Op::PhysAlloc(size, align) => h.mb.phys_alloc(size, align),
                _ => unreachable!(),
            };
            h.follow_arrays(before, &pre, got.ok().map(|a| (a, size)))?;
            match (got, want) {
                (Ok(a), Some(w)) if a == w => {}
                (Err(MemblockError::NoMemory), None) => {}
                (got, want) => {
                    // Only a reserve that could not grow the reserved array may change the outcome.
                    short(before.1, 1).map_err(|e| {
                        format!("alloc returned {got:?}, model expected {want:?} ({e})")
                    })?;
                    if let Ok(a) = got {
                        let align = if align == 0 { SMP_CACHE_BYTES } else { align };
                        let end = if end <= 1 { pre.limit } else { end };
                        let ok = a % align == 0
                            && a >= PAGE_SIZE
                            && a + size <= end.max(start)
                            && Model::units(a, size).all(|u| pre.mem[u].is_some() && !pre.res[u]);
                        if !ok {
                            return Err(format!("alloc returned invalid block {a:#x}+{size:#x}"));
                        }
                    }
                }
            }
            if let Ok(a) = got {
                Model::units(a, size).for_each(|u| h.model.res[u] = true);
            }
        }
        Op::BottomUp(on) => {
            h.mb.set_bottom_up(on);
            h.model.bottom_up = on;
        }
        Op::Limit(l) => {
            h.mb.set_current_limit(l);
            h.model.limit = l;
        }
        Op::EnforceLimit(limit) => {
            h.mb.enforce_memory_limit(limit);
            h.follow_arrays(before, &pre, None)?;
            if h.doubling_failed(before) {
                h.sync_from_real();
            } else if limit != 0 {
                let mut left = limit;
                let mut max_addr = None;
                for r in pre.memory_regions() {
                    if left <= r.size {
                        max_addr = Some(r.base + left);
                        break;
                    }
                    left -= r.size;
                }
                if let Some(m) = max_addr {
                    for u in unit(m)..UNITS {
                        h.model.mem[u] = None;
                        h.model.res[u] = false;
                    }
                }
            }
        }
        Op::CapRange(b, s) => {
            h.mb.cap_memory_range(b, s);
            h.follow_arrays(before, &pre, None)?;
            if h.doubling_failed(before) {
                h.sync_from_real();
            } else if s != 0 && pre.mem.iter().any(Option::is_some) {
                for u in (0..UNITS).filter(|u| !Model::units(b, s).contains(u)) {
                    if h.model.mem[u].is_some_and(|(_, f)| !f.contains(RegionFlags::NOMAP)) {
                        h.model.mem[u] = None;
                    }
                    h.model.res[u] = false;
                }
            }
        }
        Op::Trim(align) => {
            h.mb.trim_memory(align);
            for r in pre.memory_regions() {
                let start = mm_types::align_up(r.base, align);
                let end = mm_types::align_down(r.end(), align);
                for u in Model::units(r.base, r.size) {
                    let a = u as u64 * UNIT;
                    if a < start || a >= end {
                        h.model.mem[u] = None;
                    }
                }
            }
        }
        Op::AllowResize => {}
    }
    h.adopt_leaked_arrays(before, &pre);
    Ok(())
}
