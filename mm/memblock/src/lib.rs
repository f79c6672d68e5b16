//! memblock: the boot-time physical memory map and allocator, after Linux's `mm/memblock.c` (v6.1).
//!
//! # Concepts (Linux's `DOC: memblock overview`)
//! Memblock keeps two sorted arrays of [`Region`]s:
//! - `memory`: the RAM the firmware described (`memblock_add`, `memblock_add_node`), each region
//!   with a NUMA node id and [`RegionFlags`] (`HOTPLUG`, `MIRROR`, `NOMAP`, `DRIVER_MANAGED`);
//! - `reserved`: the ranges already in use (`memblock_reserve`) and every allocation memblock
//!   itself made (`memblock_alloc_range_nid`), freed again with `memblock_phys_free`.
//!
//! Free memory is `memory` minus `reserved`, minus `NOMAP` (and driver-managed) memory; the
//! allocator walks it top-down by default (`__memblock_find_range_top_down`) or bottom-up.
//!
//! # Invariants (kept after every public call)
//! - Both arrays are sorted by base, regions never overlap and never have size 0.
//! - Two neighbours that touch always differ in nid or flags (`memblock_merge_regions` runs after
//!   every insertion and every attribute change), so each array is minimal.
//! - No region reaches past `u64::MAX`: sizes are clamped with `memblock_cap_size`, so the last
//!   byte `u64::MAX` itself is never covered. All ranges are half-open, `[base, base + size)`.
//! - `phys_mem_size()` / `reserved_size()` equal the sum of the region sizes.
//!
//! # Lifecycle
//! 1. [`Memblock::new`] over two caller-owned arrays (Linux's static
//!    `memblock_{memory,reserved}_init_regions`, [`INIT_MEMBLOCK_REGIONS`] each).
//! 2. The platform adds memory and reserves what the firmware, the image and the boot data use.
//!    While the arrays are static, an operation that needs more room fails with
//!    [`MemblockError::NoMemory`] and changes nothing.
//! 3. [`Memblock::allow_resize`] (`memblock_allow_resize`) hands over a [`RegionArrayMapper`]:
//!    from then on a full array doubles (`memblock_double_array`) into memory memblock
//!    allocates and reserves from itself.
//! 4. Early allocations (`alloc_range`, `alloc_try_nid`, `phys_alloc`), then the free ranges are
//!    handed to the page allocator ([`Memblock::free_ranges`]).
//!
//! # Differences from Linux, all deliberate
//! - An empty array has length 0 here; Linux keeps one zero-size dummy entry and reports
//!   `cnt = 1`. [`Memblock::dump_all`] prints the dummy exactly as Linux does, and
//!   [`Memblock::mem_ranges`] does not yield Linux's zero-length dummy range.
//! - Errors are values ([`MemblockError`]); Linux returns `-ENOMEM`/`0`. Allocation failure is
//!   `Err(NoMemory)` rather than address 0.
//! - A doubled memory array is reserved before it replaces the old one (Linux reserves it last
//!   and `BUG()`s on failure); a failure then leaves everything as it was.
//! - `MEMBLOCK_MIRROR`: [`Memblock::mark_mirror`] behaves as if `kernelcore=mirror` were given:
//!   it marks the range and from then on allocations try mirrored memory first, then fall back.
//! - `movable_node` is not modelled: hotpluggable memory is never skipped by the free-range walk.
//! - `memblock_add_range` recounts the pieces to insert after each doubling: doubling the
//!   reserved array frees the old array, which may lie inside the range being reserved and add a
//!   piece; Linux does not recount and would overflow the array (`BUG()`).
//! - `memblock_cap_memory_range` in Linux leaves NOMAP memory split at the cap edges (it
//!   isolates without merging afterwards); here the memory array is merged again.
//! - `memblock_double_array` in Linux, when the range being reserved starts at 0, searches
//!   `[0, min(0, limit))`, which `end = 0 = MEMBLOCK_ALLOC_ACCESSIBLE` turns into "below the
//!   limit": the new array can land inside the range being reserved. That search is skipped here.
//! - `memblock_trim_memory` in Linux forgets to update `total_size`; here the total stays exact.
//! - There is no slab: a doubled array always comes from memblock itself.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "model")]
extern crate alloc;

mod array;
mod dump;
mod find;
mod iter;
#[cfg(feature = "model")]
pub mod model;
#[cfg(test)]
mod tests;

use array::{Kind, RegionArray};
use core::fmt;
pub use iter::{FreeRanges, FreeRangesRev};
use mm_types::PAGE_SIZE;

/// Initial capacity of each static region array (`INIT_MEMBLOCK_REGIONS`).
pub const INIT_MEMBLOCK_REGIONS: usize = 128;
/// The "no node" id memblock_add() stores, as Linux does with `MAX_NUMNODES` (64 here).
pub const MAX_NUMNODES: i32 = 64;
/// "Any node" for queries and allocations (`NUMA_NO_NODE`).
pub const NUMA_NO_NODE: i32 = -1;
/// Bytes one region takes in a doubled array: `sizeof(struct memblock_region)` on a 64-bit
/// kernel (base 8 + size 8 + flags 4 + nid 4). Only used to size the arrays memblock allocates.
pub const REGION_BYTES: u64 = 24;
/// Default alignment when an allocation passes `align = 0` (`SMP_CACHE_BYTES`, one cache line).
pub const SMP_CACHE_BYTES: u64 = 64;
/// `end` value meaning "up to `current_limit`" (`MEMBLOCK_ALLOC_ACCESSIBLE`, 0 as in Linux).
pub const ALLOC_ACCESSIBLE: u64 = 0;
/// Same as [`ALLOC_ACCESSIBLE`] but skips leak tracking in Linux (`MEMBLOCK_ALLOC_NOLEAKTRACE`).
pub const ALLOC_NOLEAKTRACE: u64 = 1;
/// `end` value meaning "no upper limit" (`MEMBLOCK_ALLOC_ANYWHERE`); the default `current_limit`.
pub const ALLOC_ANYWHERE: u64 = u64::MAX;

/// Attributes of a memory region (`enum memblock_flags`). Reserved regions always have `NONE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RegionFlags(pub u32);

impl RegionFlags {
    /// No special request (`MEMBLOCK_NONE`).
    pub const NONE: Self = Self(0);
    /// Hot(un)pluggable memory (`MEMBLOCK_HOTPLUG`).
    pub const HOTPLUG: Self = Self(0x1);
    /// Mirrored memory (`MEMBLOCK_MIRROR`); allocations prefer it once some exists.
    pub const MIRROR: Self = Self(0x2);
    /// Not in the direct map (`MEMBLOCK_NOMAP`); never handed out, never freed to the buddy.
    pub const NOMAP: Self = Self(0x4);
    /// Added by a driver, always detected as hotplugged (`MEMBLOCK_DRIVER_MANAGED`); skipped by
    /// the allocator and the free-range walk like `NOMAP`.
    pub const DRIVER_MANAGED: Self = Self(0x8);

    /// True if every bit of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any bit of `other` is set in `self`.
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// `self` with the bits of `other` set.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// `self` with the bits of `other` cleared.
    pub const fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }
}

impl core::ops::BitOr for RegionFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

/// One region `[base, base + size)` of `memory` or `reserved` (`struct memblock_region`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub base: u64,
    /// Length in bytes; never 0 inside [`Memblock::memory`] / [`Memblock::reserved`].
    pub size: u64,
    /// NUMA node, or [`MAX_NUMNODES`] when none was given.
    pub nid: i32,
    /// Attributes (always [`RegionFlags::NONE`] for reserved regions).
    pub flags: RegionFlags,
}

impl Region {
    /// An unused slot, for initialising the static arrays: `[Region::EMPTY; INIT_MEMBLOCK_REGIONS]`.
    pub const EMPTY: Self = Self {
        base: 0,
        size: 0,
        nid: 0,
        flags: RegionFlags::NONE,
    };

    /// The exclusive end `base + size` (never overflows: sizes are capped on insertion).
    pub const fn end(&self) -> u64 {
        self.base + self.size
    }
}

/// Why memblock refused an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemblockError {
    /// A region array is full and could not grow (before `allow_resize`, no free memory for
    /// the doubled array, or the mapper could not map it), or an allocation found no free
    /// range (`-ENOMEM` / a 0 address in Linux).
    NoMemory,
    /// The caller passed something Linux leaves undefined (for example an alignment that is
    /// not a power of two); `what` names the argument.
    InvalidArgument {
        /// The offending argument and the rule it broke.
        what: &'static str,
    },
}

impl MemblockError {
    /// A short static description, for error types that only carry `&'static str`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::NoMemory => "out of memory (region array full or no free range)",
            Self::InvalidArgument { what } => what,
        }
    }
}

impl fmt::Display for MemblockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMemory => {
                f.write_str("memblock: out of memory (region array full or no free range)")
            }
            Self::InvalidArgument { what } => write!(f, "memblock: invalid argument: {what}"),
        }
    }
}

/// Turns the physical address memblock chose for a doubled region array into storage.
///
/// memblock picks `phys_base` itself (page aligned, inside free memory, never inside a range
/// being added or reserved at the time) and reserves `[phys_base, phys_base +
/// region_array_bytes(count))` right after `map` succeeds. In firmware the mapper returns the
/// identity-mapped memory at `phys_base`; on the host a test returns a slice from a pool.
pub trait RegionArrayMapper<'a> {
    /// Storage for `count` regions at physical address `phys_base` (already chosen by memblock;
    /// memblock reserves it). `None` if it cannot be mapped. A longer slice is fine; only the
    /// first `count` entries are used.
    fn map(&mut self, phys_base: u64, count: usize) -> Option<&'a mut [Region]>;
}

/// Bytes memblock allocates and reserves for an array of `count` regions: `count *
/// REGION_BYTES` rounded up to a page, as `memblock_double_array` does so the array can be freed
/// whole.
pub const fn region_array_bytes(count: usize) -> u64 {
    mm_types::align_up(count as u64 * REGION_BYTES, PAGE_SIZE)
}

/// Clamps `size` so that `base + size` does not overflow (`memblock_cap_size`).
pub(crate) const fn cap_size(base: u64, size: u64) -> u64 {
    let room = u64::MAX - base;
    if size < room {
        size
    } else {
        room
    }
}

/// How wide the architecture's `phys_addr_t` is. Linux prints physical addresses with `%pa`,
/// which always shows the whole type: `0x` and 8 hex digits with a 32-bit `phys_addr_t` (x86-32
/// without PAE), 16 with a 64-bit one (arm64, x86-64, PAE). The `MEMBLOCK configuration:` dump
/// and the `memblock=debug` lines use it ([`Memblock::set_phys_addr_width`]); values are
/// shown truncated to the width, as the C type would hold them (the dummy entry's end
/// `0 + 0 - 1` is `0xffffffff` on a 32-bit `phys_addr_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PhysAddrWidth {
    /// 32-bit `phys_addr_t`: `%pa` prints `0x%08x`.
    Bits32,
    /// 64-bit `phys_addr_t`: `%pa` prints `0x%016llx` (the default).
    #[default]
    Bits64,
}

impl PhysAddrWidth {
    /// Hex digits `%pa` prints.
    pub const fn hex_digits(self) -> usize {
        match self {
            Self::Bits32 => 8,
            Self::Bits64 => 16,
        }
    }

    /// `value` as a `phys_addr_t` of this width holds it.
    pub const fn truncate(self, value: u64) -> u64 {
        match self {
            Self::Bits32 => value & 0xffff_ffff,
            Self::Bits64 => value,
        }
    }
}

/// A physical address or size printed like Linux's `%pa` for a given width.
#[derive(Clone, Copy, Debug)]
pub struct Pa(pub u64, pub PhysAddrWidth);

impl fmt::Display for Pa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#0w$x}", self.1.truncate(self.0), w = 2 + self.1.hex_digits())
    }
}

/// The boot memory map: `memory`, `reserved`, and the allocator state (`struct memblock`).
pub struct Memblock<'a> {
    pub(crate) memory: RegionArray<'a>,
    pub(crate) reserved: RegionArray<'a>,
    bottom_up: bool,
    current_limit: u64,
    /// `system_has_some_mirror`: set by the first `mark_mirror`.
    has_mirror: bool,
    mapper: Option<&'a mut dyn RegionArrayMapper<'a>>,
    debug: Option<fn(fmt::Arguments<'_>)>,
    /// `%pa` width of the dump and debug lines.
    pa_width: PhysAddrWidth,
}

impl fmt::Debug for Memblock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memblock")
            .field("memory", &self.memory())
            .field("reserved", &self.reserved())
            .field("bottom_up", &self.bottom_up)
            .field("current_limit", &self.current_limit)
            .field("can_resize", &self.mapper.is_some())
            .finish()
    }
}

impl<'a> Memblock<'a> {
    /// An empty memblock over the initial static arrays (normally [`INIT_MEMBLOCK_REGIONS`]
    /// entries each). Their previous contents are ignored.
    ///
    /// # Panics
    /// If either array is shorter than 2 entries (an isolate needs room for two splits); see
    /// [`Memblock::try_new`].
    pub fn new(memory: &'a mut [Region], reserved: &'a mut [Region]) -> Self {
        match Self::try_new(memory, reserved) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    /// As [`Memblock::new`], but reports arrays shorter than 2 entries as an error.
    pub fn try_new(
        memory: &'a mut [Region],
        reserved: &'a mut [Region],
    ) -> Result<Self, MemblockError> {
        if memory.len() < 2 || reserved.len() < 2 {
            return Err(MemblockError::InvalidArgument {
                what: "region arrays need at least 2 entries",
            });
        }
        Ok(Self {
            memory: RegionArray::new(memory, "memory"),
            reserved: RegionArray::new(reserved, "reserved"),
            bottom_up: false,
            current_limit: ALLOC_ANYWHERE,
            has_mirror: false,
            mapper: None,
            debug: None,
            pa_width: PhysAddrWidth::Bits64,
        })
    }

    /// Sets the width of `phys_addr_t` the dump and debug lines print with (`%pa`): a
    /// per-architecture parameter, 64-bit unless the platform says otherwise.
    pub fn set_phys_addr_width(&mut self, width: PhysAddrWidth) {
        self.pa_width = width;
    }

    /// The width set with [`Memblock::set_phys_addr_width`].
    pub fn phys_addr_width(&self) -> PhysAddrWidth {
        self.pa_width
    }

    /// `value` printed as `%pa` at this memblock's width.
    pub(crate) fn pa(&self, value: u64) -> Pa {
        Pa(value, self.pa_width)
    }

    /// Logs through the `memblock=debug` hook, if set.
    pub(crate) fn dbg(&self, args: fmt::Arguments<'_>) {
        if let Some(log) = self.debug {
            log(args);
        }
    }

    /// Adds `[base, base + size)` to `memory` with no node (`memblock_add`: nid
    /// [`MAX_NUMNODES`], flags `NONE`). Overlaps with existing memory leave it unchanged.
    pub fn add(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.dbg(format_args!(
            "memblock_add: [{}-{}]",
            self.pa(base),
            self.pa(last(base, size))
        ));
        self.add_range(Kind::Memory, base, size, MAX_NUMNODES, RegionFlags::NONE)
    }

    /// Adds `[base, base + size)` to `memory` on node `nid` with `flags` (`memblock_add_node`).
    pub fn add_node(
        &mut self,
        base: u64,
        size: u64,
        nid: i32,
        flags: RegionFlags,
    ) -> Result<(), MemblockError> {
        self.dbg(format_args!(
            "memblock_add_node: [{}-{}] nid={} flags={:x}",
            self.pa(base),
            self.pa(last(base, size)),
            nid,
            flags.0
        ));
        self.add_range(Kind::Memory, base, size, nid, flags)
    }

    /// Removes `[base, base + size)` from `memory`, splitting regions that cross its edges
    /// (`memblock_remove`). Removing memory that is not there is not an error.
    pub fn remove(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.dbg(format_args!(
            "memblock_remove: [{}-{}]",
            self.pa(base),
            self.pa(last(base, size))
        ));
        self.remove_range(Kind::Memory, base, size)
    }

    /// Marks `[base, base + size)` as in use (`memblock_reserve`); it need not be memory.
    pub fn reserve(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.dbg(format_args!(
            "memblock_reserve: [{}-{}]",
            self.pa(base),
            self.pa(last(base, size))
        ));
        self.add_range(Kind::Reserved, base, size, MAX_NUMNODES, RegionFlags::NONE)
    }

    /// Returns `[base, base + size)` to the free pool (`memblock_phys_free`).
    pub fn free(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.dbg(format_args!(
            "memblock_phys_free: [{}-{}]",
            self.pa(base),
            self.pa(last(base, size))
        ));
        self.remove_range(Kind::Reserved, base, size)
    }

    /// Sets or clears `flag` on the memory in `[base, base + size)` (`memblock_setclr_flag`).
    fn setclr_flag(
        &mut self,
        base: u64,
        size: u64,
        set: bool,
        flag: RegionFlags,
    ) -> Result<(), MemblockError> {
        let (start, end) = self.isolate_range(Kind::Memory, base, size)?;
        for r in &mut self.memory.regions[start..end] {
            r.flags = if set {
                r.flags.union(flag)
            } else {
                r.flags.difference(flag)
            };
        }
        self.memory.merge_regions();
        Ok(())
    }

    /// Marks memory `NOMAP` (`memblock_mark_nomap`): it stays memory but is never allocated or
    /// listed as free.
    pub fn mark_nomap(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.setclr_flag(base, size, true, RegionFlags::NOMAP)
    }

    /// Clears `NOMAP` (`memblock_clear_nomap`).
    pub fn clear_nomap(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.setclr_flag(base, size, false, RegionFlags::NOMAP)
    }

    /// Marks memory hotpluggable (`memblock_mark_hotplug`).
    pub fn mark_hotplug(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.setclr_flag(base, size, true, RegionFlags::HOTPLUG)
    }

    /// Clears `HOTPLUG` (`memblock_clear_hotplug`).
    pub fn clear_hotplug(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.setclr_flag(base, size, false, RegionFlags::HOTPLUG)
    }

    /// Marks memory mirrored (`memblock_mark_mirror`, as if `kernelcore=mirror` were given): from
    /// now on allocations try mirrored memory first and fall back to any memory.
    pub fn mark_mirror(&mut self, base: u64, size: u64) -> Result<(), MemblockError> {
        self.has_mirror = true;
        self.setclr_flag(base, size, true, RegionFlags::MIRROR)
    }

    /// Sets the node of the memory in `[base, base + size)`, splitting regions at the edges
    /// (`memblock_set_node(base, size, &memblock.memory, nid)`).
    pub fn set_node(&mut self, base: u64, size: u64, nid: i32) -> Result<(), MemblockError> {
        let (start, end) = self.isolate_range(Kind::Memory, base, size)?;
        for r in &mut self.memory.regions[start..end] {
            r.nid = nid;
        }
        self.memory.merge_regions();
        Ok(())
    }

    /// Chooses bottom-up (`true`) or top-down (default) allocation (`memblock_set_bottom_up`).
    pub fn set_bottom_up(&mut self, on: bool) {
        self.bottom_up = on;
    }

    /// True if allocations go bottom-up (`memblock_bottom_up`).
    pub fn bottom_up(&self) -> bool {
        self.bottom_up
    }

    /// Sets the highest address (exclusive) that `end = ALLOC_ACCESSIBLE` allocations and the
    /// doubled arrays may use (`memblock_set_current_limit`); default [`ALLOC_ANYWHERE`].
    pub fn set_current_limit(&mut self, limit: u64) {
        self.current_limit = limit;
    }

    /// The current limit (`memblock_get_current_limit`).
    pub fn current_limit(&self) -> u64 {
        self.current_limit
    }

    /// The memory regions, sorted (`memblock.memory`); empty when there is none.
    pub fn memory(&self) -> &[Region] {
        self.memory.as_slice()
    }

    /// The reserved regions, sorted (`memblock.reserved`); empty when there is none.
    pub fn reserved(&self) -> &[Region] {
        self.reserved.as_slice()
    }

    /// Capacity of the memory array (`memblock.memory.max`).
    pub fn memory_capacity(&self) -> usize {
        self.memory.max()
    }

    /// Capacity of the reserved array (`memblock.reserved.max`).
    pub fn reserved_capacity(&self) -> usize {
        self.reserved.max()
    }

    /// Physical base of the memory array if memblock allocated it (`None` while static).
    pub fn memory_array_base(&self) -> Option<u64> {
        self.memory.array_phys
    }

    /// Physical base of the reserved array if memblock allocated it (`None` while static).
    pub fn reserved_array_base(&self) -> Option<u64> {
        self.reserved.array_phys
    }

    /// Total bytes of memory (`memblock_phys_mem_size`).
    pub fn phys_mem_size(&self) -> u64 {
        self.memory.total_size
    }

    /// Total bytes reserved (`memblock_reserved_size`).
    pub fn reserved_size(&self) -> u64 {
        self.reserved.total_size
    }

    /// Lowest memory address, 0 without memory (`memblock_start_of_DRAM`).
    pub fn start_of_dram(&self) -> u64 {
        self.memory().first().map_or(0, |r| r.base)
    }

    /// End (exclusive) of the highest memory region, 0 without memory (`memblock_end_of_DRAM`).
    pub fn end_of_dram(&self) -> u64 {
        self.memory().last().map_or(0, Region::end)
    }

    /// True if `[base, base + size)` lies inside one memory region (`memblock_is_region_memory`).
    pub fn is_region_memory(&self, base: u64, size: u64) -> bool {
        let end = base + cap_size(base, size);
        match self.memory.search(base) {
            Some(i) => self.memory.regions[i].end() >= end,
            None => false,
        }
    }

    /// True if `[base, base + size)` intersects a reserved region (`memblock_is_region_reserved`).
    pub fn is_region_reserved(&self, base: u64, size: u64) -> bool {
        self.reserved.overlaps(base, size)
    }

    /// True if `addr` is memory (`memblock_is_memory`).
    pub fn is_memory(&self, addr: u64) -> bool {
        self.memory.search(addr).is_some()
    }

    /// True if `addr` is memory and not `NOMAP` (`memblock_is_map_memory`).
    pub fn is_map_memory(&self, addr: u64) -> bool {
        self.memory
            .search(addr)
            .is_some_and(|i| !self.memory.regions[i].flags.contains(RegionFlags::NOMAP))
    }

    /// True if `addr` is reserved (`memblock_is_reserved`).
    pub fn is_reserved(&self, addr: u64) -> bool {
        self.reserved.search(addr).is_some()
    }

    /// Keeps only `[base, base + size)` of the mappable memory (`memblock_cap_memory_range`, used
    /// by crash kernels): memory outside it is removed unless it is `NOMAP`, reserved regions
    /// outside it are dropped. Does nothing for size 0 or before any memory was added.
    pub fn cap_memory_range(&mut self, base: u64, size: u64) {
        if size == 0 {
            return;
        }
        if self.memory.total_size == 0 {
            self.dbg(format_args!(
                "memblock_cap_memory_range: No memory registered yet"
            ));
            return;
        }
        let Ok((start, end)) = self.isolate_range(Kind::Memory, base, size) else {
            return;
        };
        let nomap = |m: &RegionArray<'_>, i: usize| m.regions[i].flags.contains(RegionFlags::NOMAP);
        for i in (end..self.memory.cnt).rev() {
            if !nomap(&self.memory, i) {
                self.memory.remove_region(i);
            }
        }
        for i in (0..start).rev() {
            if !nomap(&self.memory, i) {
                self.memory.remove_region(i);
            }
        }
        // Linux stops here, leaving a NOMAP region split at the cap edges by the isolate;
        // merging keeps the arrays minimal (only region counts and dumps can tell).
        self.memory.merge_regions();
        // Linux ignores these results too: a failed truncation leaves extra reservations.
        let _ = self.remove_range(Kind::Reserved, 0, base);
        let _ = self.remove_range(Kind::Reserved, base.saturating_add(size), u64::MAX);
    }

    /// Translates `limit` bytes of memory into the address where they end (`__find_max_addr`);
    /// `None` if there is less memory than that.
    fn find_max_addr(&self, mut limit: u64) -> Option<u64> {
        for r in self.memory() {
            if limit <= r.size {
                return Some(r.base + limit);
            }
            limit -= r.size;
        }
        None
    }

    /// `mem=limit` (`memblock_enforce_memory_limit`): keeps the first `limit` bytes of memory
    /// and drops memory and reservations above them. 0 or a limit above the memory size does
    /// nothing.
    pub fn enforce_memory_limit(&mut self, limit: u64) {
        if limit == 0 {
            return;
        }
        let Some(max_addr) = self.find_max_addr(limit) else {
            return;
        };
        let _ = self.remove_range(Kind::Memory, max_addr, u64::MAX);
        let _ = self.remove_range(Kind::Reserved, max_addr, u64::MAX);
    }

    /// Rounds every memory region inward to `align` and drops the ones that vanish
    /// (`memblock_trim_memory`). Unlike Linux, `phys_mem_size()` follows the trimmed sizes.
    ///
    /// # Panics
    /// If `align` is not a power of two.
    pub fn trim_memory(&mut self, align: u64) {
        assert!(
            align.is_power_of_two(),
            "memblock_trim_memory: align {align:#x} is not a power of two"
        );
        let mut i = 0;
        while i < self.memory.cnt {
            let r = self.memory.regions[i];
            let start = r.base.checked_add(align - 1).map(|v| v & !(align - 1));
            let end = r.end() & !(align - 1);
            if start == Some(r.base) && end == r.end() {
                i += 1;
                continue;
            }
            match start {
                Some(start) if start < end => {
                    self.memory.total_size -= r.size - (end - start);
                    self.memory.regions[i].base = start;
                    self.memory.regions[i].size = end - start;
                    i += 1;
                }
                _ => self.memory.remove_region(i),
            }
        }
    }

    /// Lets full arrays grow (`memblock_allow_resize`); `mapper` turns the address memblock
    /// picks for a doubled array into storage. Call it once the boot data that must not be
    /// overwritten is reserved.
    pub fn allow_resize(&mut self, mapper: &'a mut dyn RegionArrayMapper<'a>) {
        self.mapper = Some(mapper);
    }

    /// `memblock=debug`: `log` receives one line per add/remove/reserve/free/allocation, in
    /// Linux's `memblock_dbg` format without the caller (`memblock_reserve: [0x…-0x…]`).
    pub fn set_debug(&mut self, log: Option<fn(fmt::Arguments<'_>)>) {
        self.debug = log;
    }
}

/// The inclusive end Linux prints in debug lines (`base + size - 1`, wrapping like C).
pub(crate) const fn last(base: u64, size: u64) -> u64 {
    base.wrapping_add(size).wrapping_sub(1)
}
