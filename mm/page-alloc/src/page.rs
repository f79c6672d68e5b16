//! Page metadata (`struct page`) and the array of it (`mem_map`, FLATMEM).
//!
//! # Layout (12 bytes, checked at compile time)
//! The state word (`AtomicU32`: `flags: u8`, `order: u8` valid on the head page of a free,
//! listed or allocated block, `mt: u8`, the free list the page is on or the migratetype it was
//! allocated or per-CPU listed with, and `zone: u8`, the zone index, `NO_ZONE` outside every
//! zone) and the list links `next`/`prev` (`AtomicU32`, indices into the map, [`Page::NONE`]
//! at the ends: intrusive doubly-linked lists, no pointers, used by the buddy free lists and
//! the per-CPU lists alike). Nothing else: the reference count is 1 exactly on the head of an
//! allocated block, so it is that flag ([`Page::refcount`]) and needs no field, and the usemap
//! entries after the pages (see [`MemMap`]) keep a pageblock's migratetype in their state
//! word. Every byte a page does not need is metadata the hand-off has to read from memory.
//!
//! # Sharing
//! The map is shared by every CPU (`&[Page]`), so every field is an atomic and every change
//! goes through `&self`: no `unsafe`. Links and free-list state change under the lock that
//! owns the list (the zone lock, or the pageset lock for a per-CPU list), with plain atomic
//! loads and stores. The one lock-free transition is the per-CPU free's compare-and-swap of
//! an allocated head to listed, which the checked free uses too, so of two frees of a block
//! exactly one wins; a pageblock's migratetype lives in a usemap entry, which is no page, so
//! changing it under the zone lock never races with that transition.
//!
//! # States (exactly one per page)
//! - hole: `HOLE | RESERVED`, no memory behind it (`init_unavailable_range`);
//! - reserved: `RESERVED` only (memblock reserved, or not handed over yet), refcount 0 (Linux
//!   gives a Reserved page a reference, `init_page_count`, and drops it at the hand-off; here
//!   a reference is only ever taken by an allocation);
//! - free: the head of a free block has `BUDDY` and the order; its tail pages have no flags;
//! - listed: the head of a block on a per-CPU list has `PCP` and the order; tails no flags;
//! - allocated: the head has `HEAD`, the order, refcount 1; tail pages have no flags.
//!
//! # Lifecycle
//! [`MemMap::new`] sets every page to `HOLE | RESERVED` with no zone (Linux's
//! `__init_single_page` + `__SetPageReserved`); `free_area_init` clears `HOLE` on memory and
//! assigns zones; `__free_pages_core` clears `RESERVED` when pages reach the buddy allocator.
use core::fmt;
use core::sync::atomic::AtomicU32;
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::{Migratetype, MAX_ORDER_NR_PAGES};

/// Page flag bits (`enum pageflags`, the ones this allocator needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PageFlags(pub u8);

impl PageFlags {
    /// `PG_reserved`: never handed to the buddy allocator (or not yet).
    pub const RESERVED: Self = Self(0x1);
    /// `PageBuddy`: head page of a free block on a free list; `order` is valid.
    pub const BUDDY: Self = Self(0x2);
    /// Head page of a block handed out by `alloc_pages` (`PG_head` for a compound page, set
    /// here for every allocation so frees can be checked); `order` is valid.
    pub const HEAD: Self = Self(0x4);
    /// Not backed by memory (a hole inside the map); always with `RESERVED`.
    pub const HOLE: Self = Self(0x8);
    /// Head of a block on a per-CPU list (`PagePcp`-like; Linux only knows it from the list
    /// it is on): not in the buddy, not allocated; `order` is valid and the low `mt` nibble is
    /// the `pcppage_migratetype`.
    pub const PCP: Self = Self(0x10);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Metadata of one page frame (`struct page`), 12 bytes, every field an atomic so that a CPU
/// holding only its own pageset (not the zone lock) can change the state of a page it owns and
/// check a free against it (see the module documentation, "Sharing").
pub struct Page {
    /// `flags | order << 8 | mt << 16 | zone << 24`.
    state: AtomicU32,
    next: AtomicU32,
    prev: AtomicU32,
}

const _: () = assert!(core::mem::size_of::<Page>() == 12);

/// Pages the hand-off checks before it stores (1 KiB of metadata: 16 cache lines).
const HAND_OFF_CHUNK: usize = 64;

/// Zone index of a page outside every zone.
pub(crate) const NO_ZONE: u8 = 0xff;

/// A copy of a page's state word, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct State(pub(crate) u32);

impl State {
    pub(crate) const fn new(flags: PageFlags, order: u8, mt: u8, zone: u8) -> Self {
        Self(flags.0 as u32 | (order as u32) << 8 | (mt as u32) << 16 | (zone as u32) << 24)
    }
    pub(crate) const fn flags(self) -> PageFlags {
        PageFlags(self.0 as u8)
    }
    pub(crate) const fn order(self) -> u32 {
        (self.0 >> 8) & 0xff
    }
    pub(crate) const fn mt(self) -> u8 {
        (self.0 >> 16) as u8
    }
    pub(crate) const fn zone(self) -> u8 {
        (self.0 >> 24) as u8
    }
    pub(crate) const fn with_flags(self, f: PageFlags) -> Self {
        Self((self.0 & !0xff) | f.0 as u32)
    }
    const fn with_order(self, o: u8) -> Self {
        Self((self.0 & !0xff00) | (o as u32) << 8)
    }
    const fn with_mt(self, mt: u8) -> Self {
        Self((self.0 & !0xff_0000) | (mt as u32) << 16)
    }
    const fn with_zone(self, z: u8) -> Self {
        Self((self.0 & !0xff00_0000) | (z as u32) << 24)
    }
}

impl Clone for Page {
    fn clone(&self) -> Self {
        Self {
            state: AtomicU32::new(self.state.load(Relaxed)),
            next: AtomicU32::new(self.next.load(Relaxed)),
            prev: AtomicU32::new(self.prev.load(Relaxed)),
        }
    }
}

impl PartialEq for Page {
    fn eq(&self, o: &Self) -> bool {
        self.state.load(Relaxed) == o.state.load(Relaxed)
            && self.next.load(Relaxed) == o.next.load(Relaxed)
            && self.prev.load(Relaxed) == o.prev.load(Relaxed)
    }
}
impl Eq for Page {}

impl Page {
    /// Link value meaning "no page" (list end).
    pub const NONE: u32 = u32::MAX;
    /// Bytes of metadata per page.
    pub const BYTES: usize = core::mem::size_of::<Page>();
    /// The state every page starts in: a reserved hole in no zone. (A `const` so that map
    /// storage can be filled with it; every use is a fresh value.)
    #[allow(clippy::declare_interior_mutable_const)]
    pub const INIT: Self = Self {
        state: AtomicU32::new(State::new(PageFlags(PageFlags::RESERVED.0 | PageFlags::HOLE.0), 0, 0, NO_ZONE).0),
        next: AtomicU32::new(Self::NONE),
        prev: AtomicU32::new(Self::NONE),
    };

    pub(crate) fn state(&self) -> State {
        State(self.state.load(Acquire))
    }
    /// Changes the state word. A plain load and store, not a read-modify-write: whoever
    /// changes a page's state owns it at that moment (the zone lock for a free block or one
    /// leaving the buddy lists, the pageset lock for a listed one, the caller for an
    /// allocated one), and the only lock-free writer, the per-CPU free's compare-and-swap,
    /// succeeds only on an allocated head, which none of those writes touches (the checked
    /// free of an allocated head claims it with the same compare-and-swap).
    fn update(&self, f: impl Fn(State) -> State) {
        self.state.store(f(State(self.state.load(Acquire))).0, Release);
    }
    /// Replaces the state word with `new` if it is still `old` (the lock-free transitions of
    /// the per-CPU fast path).
    pub(crate) fn cas_state(&self, old: State, new: State) -> Result<(), State> {
        self.state.compare_exchange(old.0, new.0, AcqRel, Acquire).map(|_| ()).map_err(State)
    }

    /// The flag bits.
    pub fn flags(&self) -> PageFlags {
        self.state().flags()
    }
    /// `PageReserved`.
    pub fn is_reserved(&self) -> bool {
        self.flags().contains(PageFlags::RESERVED)
    }
    /// `PageBuddy`: head of a free block.
    pub fn is_buddy(&self) -> bool {
        self.flags().contains(PageFlags::BUDDY)
    }
    /// Head of an allocated block.
    pub fn is_head(&self) -> bool {
        self.flags().contains(PageFlags::HEAD)
    }
    /// On a per-CPU page list.
    pub fn is_pcp(&self) -> bool {
        self.flags().contains(PageFlags::PCP)
    }
    /// In a hole (no memory).
    pub fn is_hole(&self) -> bool {
        self.flags().contains(PageFlags::HOLE)
    }
    /// Block order; meaningful on Buddy and Head pages (`buddy_order`).
    pub fn order(&self) -> u32 {
        self.state().order()
    }
    /// Reference count (`page_count`): 1 on the head of an allocated block, else 0. Nothing
    /// takes another reference, so it is the `HEAD` flag.
    pub fn refcount(&self) -> u32 {
        u32::from(self.is_head())
    }
    /// Zone index (`page_zonenum`), `None` outside every zone.
    pub fn zone(&self) -> Option<crate::ZoneType> {
        crate::ZoneType::from_index(self.zone_idx() as usize)
    }
    pub(crate) fn zone_idx(&self) -> u8 {
        self.state().zone()
    }
    /// The free list a Buddy page is on, or the migratetype an allocated head was allocated with.
    pub fn migratetype(&self) -> Migratetype {
        Migratetype::from_bits(self.state().mt())
    }
    /// The migratetype a usemap entry holds (its whole state word).
    fn pageblock_mt(&self) -> Migratetype {
        Migratetype::from_bits(self.state.load(Relaxed) as u8)
    }
    pub(crate) fn set_flags(&self, f: PageFlags) {
        self.update(|s| s.with_flags(f));
    }
    /// `__ClearPageReserved` of the hand-off: every flag cleared (the caller owns the page: it
    /// is Reserved and off every list).
    pub(crate) fn clear_flags(&self) {
        self.state.store(State(self.state.load(Relaxed)).with_flags(PageFlags(0)).0, Release);
    }
    /// The hand-off's common case: if every page of `block` holds the state word `st`, stores
    /// `new` in each and returns true; otherwise changes nothing and returns false.
    ///
    /// One pass over the metadata, a chunk of [`HAND_OFF_CHUNK`] pages at a time: the chunk's
    /// words are compared without a branch a page, then stored while their lines are still in
    /// the L1 cache. A mismatch puts `st` back into the chunks already stored (they all held
    /// `st`, so that is exact). The state word is all there is to write: a page holds no
    /// reference count of its own (see "Layout"). The stores are relaxed: the caller owns the block (Reserved pages are on
    /// no list), and it reaches other CPUs only through the free list the caller then adds it
    /// to under the zone lock, whose release publishes these stores.
    pub(crate) fn hand_off_uniform(block: &[Page], st: State, new: State) -> bool {
        for (i, chunk) in block.chunks(HAND_OFF_CHUNK).enumerate() {
            if !chunk.iter().fold(true, |all, p| all & (p.state.load(Relaxed) == st.0)) {
                for p in &block[..i * HAND_OFF_CHUNK] {
                    p.state.store(st.0, Relaxed);
                }
                return false;
            }
            for p in chunk {
                p.state.store(new.0, Relaxed);
            }
        }
        true
    }
    /// Clears every flag and the order of a page whose state word is `st` (the caller owns
    /// the page and read `st` from it under the same lock).
    pub(crate) fn clear_flags_and_order(&self, st: State) {
        self.state.store(st.with_flags(PageFlags(0)).with_order(0).0, Release);
    }
    pub(crate) fn set_order(&self, o: u32) {
        self.update(|s| s.with_order(o as u8));
    }
    pub(crate) fn set_zone(&self, z: u8) {
        self.update(|s| s.with_zone(z));
    }
    /// Sets flags, order and the low (list) migratetype nibble in one step.
    pub(crate) fn set_state(&self, f: PageFlags, order: u32, mt: Migratetype) {
        self.update(|s| s.with_flags(f).with_order(order as u8).with_mt(mt as u8));
    }
    /// Sets the migratetype a usemap entry holds.
    fn set_pageblock_mt(&self, mt: Migratetype) {
        self.state.store(mt as u32, Relaxed);
    }
    pub(crate) fn next(&self) -> u32 {
        self.next.load(Relaxed)
    }
    pub(crate) fn prev(&self) -> u32 {
        self.prev.load(Relaxed)
    }
    pub(crate) fn set_next(&self, i: u32) {
        self.next.store(i, Relaxed);
    }
    pub(crate) fn set_prev(&self, i: u32) {
        self.prev.store(i, Relaxed);
    }
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("flags", &self.flags().0)
            .field("order", &self.order())
            .field("mt", &self.migratetype())
            .field("zone", &self.zone_idx())
            .field("refcount", &self.refcount())
            .finish()
    }
}

/// Why a [`MemMap`] could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemMapError {
    /// `start_pfn` is not a multiple of `MAX_ORDER_NR_PAGES` (Linux aligns `mem_map` the same
    /// way in `alloc_node_mem_map`, so every buddy and pageblock head is inside the map).
    MisalignedStart,
    /// More than `u32::MAX - 1` pages (links are 32-bit indices).
    TooLarge,
    /// The storage is not [`MemMap::storage_len`] of any page count.
    StorageLength,
}

impl fmt::Display for MemMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MisalignedStart => f.write_str("mem_map: start_pfn not aligned to MAX_ORDER_NR_PAGES"),
            Self::TooLarge => f.write_str("mem_map: more than 2^32 - 2 pages"),
            Self::StorageLength => f.write_str("mem_map: storage is not MemMap::storage_len(pages) entries"),
        }
    }
}

/// Pages per usemap entry (`1 << USEMAP_SHIFT`): the smallest `pageblock_order` of any
/// configuration (9: arm64 4K, x86 PAE); with a larger order (x86-32: 10) a pageblock uses
/// the entry of its first page.
pub const USEMAP_SHIFT: u32 = 9;

/// The page-metadata array for `[start_pfn, start_pfn + pages.len())` (`mem_map`), handed over
/// by the platform (which turned physical memory into the slice), and after it the usemap
/// (`pageblock_flags`): one entry per `1 << USEMAP_SHIFT` pages holding the pageblock's
/// migratetype. Linux keeps the usemap apart from `struct page` too; here it also keeps the
/// per-CPU fast path, which reads a page's pageblock type on every free, from reading a cache
/// line that another CPU writes (the first page of a pageblock is often some CPU's hot page).
pub struct MemMap<'a> {
    pub(crate) pages: &'a [Page],
    usemap: &'a [Page],
    pub(crate) start_pfn: u64,
}

impl fmt::Debug for MemMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemMap").field("start_pfn", &self.start_pfn).field("end_pfn", &self.end_pfn()).finish()
    }
}

impl<'a> MemMap<'a> {
    /// Entries of storage a map of `nr_pages` pages needs: the pages, then the usemap.
    pub const fn storage_len(nr_pages: usize) -> usize {
        nr_pages + nr_pages.div_ceil(1 << USEMAP_SHIFT)
    }

    /// The page count whose [`MemMap::storage_len`] is `len`, if there is one.
    pub const fn pages_for_storage(len: usize) -> Option<usize> {
        // storage_len grows by 1 or 2 per page, so n is within one of len * 512 / 513.
        let per = 1usize << USEMAP_SHIFT;
        let guess = len / (per + 1) * per + (len % (per + 1)).saturating_sub(1);
        let mut n = guess.saturating_sub(1);
        while n <= guess + 1 {
            if Self::storage_len(n) == len {
                return Some(n);
            }
            n += 1;
        }
        None
    }

    /// A map over `storage` ([`MemMap::storage_len`] entries for the pages covered) for pfns
    /// from `start_pfn`; every entry is reset to [`Page::INIT`].
    ///
    /// # Panics
    /// On the errors of [`MemMap::try_new`].
    pub fn new(storage: &'a mut [Page], start_pfn: u64) -> Self {
        match Self::try_new(storage, start_pfn) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    /// As [`MemMap::new`], reporting a misaligned start, an oversized slice or a storage length
    /// that is no [`MemMap::storage_len`].
    pub fn try_new(storage: &'a mut [Page], start_pfn: u64) -> Result<Self, MemMapError> {
        if !start_pfn.is_multiple_of(MAX_ORDER_NR_PAGES) {
            return Err(MemMapError::MisalignedStart);
        }
        if storage.len() as u64 >= u64::from(Page::NONE) {
            return Err(MemMapError::TooLarge);
        }
        let n = Self::pages_for_storage(storage.len()).ok_or(MemMapError::StorageLength)?;
        storage.fill(Page::INIT);
        let (pages, usemap) = storage.split_at(n);
        for entry in usemap {
            entry.set_pageblock_mt(Migratetype::Unmovable);
        }
        Ok(Self { pages, usemap, start_pfn })
    }

    /// The migratetype of the pageblock holding `pfn` (`get_pfnblock_migratetype`); `pfn` is
    /// covered by the map.
    pub(crate) fn pageblock_mt(&self, pfn: u64) -> Migratetype {
        self.usemap[((pfn - self.start_pfn) >> USEMAP_SHIFT) as usize].pageblock_mt()
    }

    /// Sets the migratetype of the pageblock starting at `pfn` (`set_pageblock_migratetype`;
    /// under the zone lock).
    pub(crate) fn set_pageblock_mt(&self, pfn: u64, mt: Migratetype) {
        self.usemap[((pfn - self.start_pfn) >> USEMAP_SHIFT) as usize].set_pageblock_mt(mt);
    }

    /// First pfn covered.
    pub const fn start_pfn(&self) -> u64 {
        self.start_pfn
    }

    /// One past the last pfn covered.
    pub fn end_pfn(&self) -> u64 {
        self.start_pfn + self.pages.len() as u64
    }

    /// The metadata of `pfn`, if the map covers it (`pfn_to_page`).
    pub fn get(&self, pfn: u64) -> Option<&Page> {
        self.idx(pfn).map(|i| &self.pages[i as usize])
    }

    /// Map index of `pfn`, if covered.
    pub(crate) fn idx(&self, pfn: u64) -> Option<u32> {
        let i = pfn.checked_sub(self.start_pfn)?;
        (i < self.pages.len() as u64).then_some(i as u32)
    }

    pub(crate) fn pfn_of(&self, idx: u32) -> u64 {
        self.start_pfn + u64::from(idx)
    }

    /// Page at `pfn`; callers have checked that it is covered.
    pub(crate) fn page(&self, pfn: u64) -> &Page {
        &self.pages[(pfn - self.start_pfn) as usize]
    }

    pub(crate) fn at(&self, idx: u32) -> &Page {
        &self.pages[idx as usize]
    }
}
