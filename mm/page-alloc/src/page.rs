//! Page metadata (`struct page`) and the array of it (`mem_map`, FLATMEM).
//!
//! # Layout (16 bytes, checked at compile time)
//! `flags: u8`, `order: u8` (valid on the head page of a free or allocated block),
//! `mt: u8` (low nibble: the free list the page is on, or the migratetype it was allocated
//! with; high nibble: the pageblock migratetype, meaningful in the first page of a pageblock),
//! `zone: u8` (zone index, `NO_ZONE` outside every zone), `refcount: u32`, and the free-list
//! links `next`/`prev: u32` (indices into the map, [`Page::NONE`] at the ends): intrusive
//! doubly-linked lists, no pointers.
//!
//! # States (exactly one per page)
//! - hole: `HOLE | RESERVED`, no memory behind it (`init_unavailable_range`);
//! - reserved: `RESERVED` only (memblock reserved, or not handed over yet);
//! - free: the head of a free block has `BUDDY` and the order; its tail pages have no flags;
//! - allocated: the head has `HEAD`, the order, refcount 1; tail pages have no flags.
//!
//! # Lifecycle
//! [`MemMap::new`] sets every page to `HOLE | RESERVED` with no zone (Linux's
//! `__init_single_page` + `__SetPageReserved`); `free_area_init` clears `HOLE` on memory and
//! assigns zones; `__free_pages_core` clears `RESERVED` when pages reach the buddy allocator.
use core::fmt;

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
    /// An order-0 page on a per-CPU list (`PagePcp`-like; Linux only knows it from the list
    /// it is on): not in the buddy, not allocated; the low `mt` nibble is the
    /// `pcppage_migratetype`.
    pub const PCP: Self = Self(0x10);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Metadata of one page frame (`struct page`), 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub(crate) flags: PageFlags,
    pub(crate) order: u8,
    pub(crate) mt: u8,
    pub(crate) zone: u8,
    pub(crate) refcount: u32,
    pub(crate) next: u32,
    pub(crate) prev: u32,
}

const _: () = assert!(core::mem::size_of::<Page>() <= 16);

/// Zone index of a page outside every zone.
pub(crate) const NO_ZONE: u8 = 0xff;

impl Page {
    /// Link value meaning "no page" (list end).
    pub const NONE: u32 = u32::MAX;
    /// Bytes of metadata per page.
    pub const BYTES: usize = core::mem::size_of::<Page>();
    /// The state every page starts in: a reserved hole in no zone.
    pub const INIT: Self = Self {
        flags: PageFlags(PageFlags::RESERVED.0 | PageFlags::HOLE.0),
        order: 0,
        mt: 0,
        zone: NO_ZONE,
        refcount: 0,
        next: Self::NONE,
        prev: Self::NONE,
    };

    /// The flag bits.
    pub const fn flags(&self) -> PageFlags {
        self.flags
    }
    /// `PageReserved`.
    pub const fn is_reserved(&self) -> bool {
        self.flags.contains(PageFlags::RESERVED)
    }
    /// `PageBuddy`: head of a free block.
    pub const fn is_buddy(&self) -> bool {
        self.flags.contains(PageFlags::BUDDY)
    }
    /// Head of an allocated block.
    pub const fn is_head(&self) -> bool {
        self.flags.contains(PageFlags::HEAD)
    }
    /// On a per-CPU page list.
    pub const fn is_pcp(&self) -> bool {
        self.flags.contains(PageFlags::PCP)
    }
    /// In a hole (no memory).
    pub const fn is_hole(&self) -> bool {
        self.flags.contains(PageFlags::HOLE)
    }
    /// Block order; meaningful on Buddy and Head pages (`buddy_order`).
    pub const fn order(&self) -> u32 {
        self.order as u32
    }
    /// Reference count (1 on the head of an allocated block, else 0).
    pub const fn refcount(&self) -> u32 {
        self.refcount
    }
    /// Zone index (`page_zonenum`), `None` outside every zone.
    pub fn zone(&self) -> Option<crate::ZoneType> {
        crate::ZoneType::from_index(self.zone as usize)
    }
    /// The free list a Buddy page is on, or the migratetype an allocated head was allocated with.
    pub const fn migratetype(&self) -> Migratetype {
        Migratetype::from_bits(self.mt)
    }
    pub(crate) const fn pageblock_mt(&self) -> Migratetype {
        Migratetype::from_bits(self.mt >> 4)
    }
    pub(crate) fn set_migratetype(&mut self, mt: Migratetype) {
        self.mt = (self.mt & 0xf0) | mt as u8;
    }
    pub(crate) fn set_pageblock_mt(&mut self, mt: Migratetype) {
        self.mt = (self.mt & 0x0f) | ((mt as u8) << 4);
    }
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("flags", &self.flags.0)
            .field("order", &self.order)
            .field("mt", &self.migratetype())
            .field("zone", &self.zone)
            .field("refcount", &self.refcount)
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
}

impl fmt::Display for MemMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MisalignedStart => f.write_str("mem_map: start_pfn not aligned to MAX_ORDER_NR_PAGES"),
            Self::TooLarge => f.write_str("mem_map: more than 2^32 - 2 pages"),
        }
    }
}

/// The page-metadata array for `[start_pfn, start_pfn + pages.len())` (`mem_map`), handed over
/// by the platform (which turned physical memory into the slice).
pub struct MemMap<'a> {
    pub(crate) pages: &'a mut [Page],
    pub(crate) start_pfn: u64,
}

impl fmt::Debug for MemMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemMap").field("start_pfn", &self.start_pfn).field("end_pfn", &self.end_pfn()).finish()
    }
}

impl<'a> MemMap<'a> {
    /// A map over `pages` for pfns from `start_pfn`; every page is reset to [`Page::INIT`].
    ///
    /// # Panics
    /// On the errors of [`MemMap::try_new`].
    pub fn new(pages: &'a mut [Page], start_pfn: u64) -> Self {
        match Self::try_new(pages, start_pfn) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    /// As [`MemMap::new`], reporting a misaligned start or an oversized slice.
    pub fn try_new(pages: &'a mut [Page], start_pfn: u64) -> Result<Self, MemMapError> {
        if !start_pfn.is_multiple_of(MAX_ORDER_NR_PAGES) {
            return Err(MemMapError::MisalignedStart);
        }
        if pages.len() as u64 >= u64::from(Page::NONE) {
            return Err(MemMapError::TooLarge);
        }
        pages.fill(Page::INIT);
        Ok(Self { pages, start_pfn })
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

    pub(crate) fn page_mut(&mut self, pfn: u64) -> &mut Page {
        &mut self.pages[(pfn - self.start_pfn) as usize]
    }

    pub(crate) fn at(&self, idx: u32) -> &Page {
        &self.pages[idx as usize]
    }

    pub(crate) fn at_mut(&mut self, idx: u32) -> &mut Page {
        &mut self.pages[idx as usize]
    }
}
