//! slab-alloc: object caches (`kmem_cache`), per-CPU object arrays and `kmalloc` size classes
//! (Linux 6.1 `mm/slab_common.c`, `mm/slub.c`, `mm/slab.c`), host-testable and free of `unsafe`.
//!
//! # Concepts
//! - The allocator deals in *addresses* (`usize`), never in pointers. Pages come from a
//!   [`PageProvider`] (the buddy allocator in firmware); the only way this crate touches memory is
//!   the [`Memory`] trait (free-list links, slab headers, poison and red zones). Firmware
//!   implements it with volatile accesses, host tests with an arena.
//! - A [`KmemCache`] hands out objects of one size and alignment. Its memory is a set of *slabs*:
//!   `2^order` contiguous pages, aligned to their size, starting with a small header (like SLAB's
//!   on-slab management) followed by `objs_per_slab` object slots. A free object holds the address
//!   of the next free object of its slab (SLUB's in-object free pointer), so the free list costs
//!   no memory outside the slab.
//! - Slabs sit on one of three lists of the cache's shared state (SLAB's `kmem_cache_node`):
//!   *partial*, *full* or *empty*. Empty slabs beyond [`MAX_EMPTY_SLABS`] go back to the
//!   provider at once; [`KmemCache::shrink`] returns all of them.
//! - In front of the shared state each CPU has an *array cache* (SLAB's `array_cache`, chosen over
//!   SLUB's cpu slab because it needs no per-slab locking and no cmpxchg): a LIFO stack of up to
//!   `limit` free object addresses, refilled and flushed `batchcount` objects at a time.
//! - [`Kmalloc`] is the set of `kmalloc-*` caches ([`KMALLOC_SIZES`], Linux's `kmalloc_info[]`
//!   from 8 bytes to 8 KiB); bigger or over-aligned requests go straight to the page provider.
//!
//! # Addresses, ownership and the `Memory` contract
//! The crate calls [`Memory`] only on addresses inside slabs it obtained from the provider and has
//! not returned, *provided* every address passed to a `free`/`kfree` was returned by the matching
//! `alloc`/`kmalloc` and is still live (the `GlobalAlloc::dealloc` contract). Before writing for a
//! free, it checks (by reading) that the address's slab header carries this cache's magic and
//! identity and that the address is an object boundary; a wrong address therefore costs at most a
//! read of the header word(s) at `addr & !(slab_bytes - 1)` and returns
//! [`SlabError::InvalidFree`]. A firmware that exposes the safe `free` to untrusted callers should
//! make its `Memory` reads tolerate any address in the kernel's linear map.
//!
//! # Locking
//! Each CPU's array cache has its own `spin::Mutex`; the shared slab lists have one more. The
//! order is: array-cache lock, then shared lock, then whatever locks the provider takes (the
//! provider and a constructor must never call back into the same cache). A caller that uses a
//! cache from interrupt context must mask interrupts around every call, as for `page-alloc`'s
//! pagesets.
//!
//! # Debugging ([`SlabFlags`], cargo feature `debug`)
//! - `POISON`: a free object is filled with [`POISON_FREE`] (0x6b) and ends in [`POISON_END`]
//!   (0xa5); the pattern is checked when the object is handed out again (use-after-free writes).
//!   An object handed out is filled with `POISON_INUSE` (0x5a, as SLAB does) so that an untouched
//!   object is never mistaken for a free one (poison-only double-free detection). As in SLUB,
//!   caches with a constructor are not poisoned.
//! - `RED_ZONE`: bytes before and after each object hold [`RED_INACTIVE`] (0xbb) while it is free
//!   and [`RED_ACTIVE`] (0xcc) while allocated; checked on alloc and free (overflows, underflows,
//!   double frees).
//! - A failed check returns a [`SlabError`] naming the cache and the object; the object stays
//!   counted as allocated (it is leaked rather than reused), never a panic.
#![no_std]
#![forbid(unsafe_code)]

mod cache;
mod kmalloc;

#[cfg(test)]
mod tests;

use core::fmt;

pub use cache::{slabinfo_header, CacheConfig, CacheStats, KmemCache};
pub use kmalloc::{kmalloc_index, Kmalloc, KmallocStats, KMALLOC_SIZES, KMALLOC_MAX_CACHE_SIZE};

/// Bytes in a page (the provider's unit).
pub const PAGE_SIZE: usize = mm_types::PAGE_SIZE as usize;
/// Number of CPUs a cache can serve (array caches are statically sized).
pub const MAX_CPUS: usize = 8;
/// Empty slabs a cache keeps for reuse before returning pages to the provider.
pub const MAX_EMPTY_SLABS: usize = 2;
/// Largest slab order (Linux `MAX_ORDER - 1` in 6.1); objects that do not fit are refused.
pub const MAX_SLAB_ORDER: u32 = 10;

/// Byte written over a free object (Linux `POISON_FREE`).
pub const POISON_FREE: u8 = 0x6b;
/// Last byte of a poisoned object (Linux `POISON_END`).
pub const POISON_END: u8 = 0xa5;
/// Red-zone byte while the object is free (Linux `SLUB_RED_INACTIVE`).
pub const RED_INACTIVE: u8 = 0xbb;
/// Red-zone byte while the object is allocated (Linux `SLUB_RED_ACTIVE`).
pub const RED_ACTIVE: u8 = 0xcc;

/// Where slabs come from: `2^order` contiguous pages at a time (the buddy allocator).
pub trait PageProvider {
    /// Allocates `2^order` contiguous pages and returns the virtual address of the first.
    ///
    /// The block must be aligned to its own size (`PAGE_SIZE << order`), as buddy blocks are,
    /// and must not start at address 0. Returns `None` when no such block is available; must
    /// never panic or block indefinitely.
    fn alloc_pages(&self, order: u32) -> Option<usize>;
    /// Returns a block obtained from [`PageProvider::alloc_pages`] with the same `order`.
    fn free_pages(&self, addr: usize, order: u32);
}

/// The crate's only access to memory: word and byte-pattern operations on slab pages.
///
/// Addresses are always inside blocks returned by the [`PageProvider`] and not yet freed (see the
/// crate docs for the exact contract); words are accessed at `usize`-aligned addresses.
pub trait Memory {
    /// Reads the `usize` at `addr` (aligned).
    fn read_word(&self, addr: usize) -> usize;
    /// Writes the `usize` at `addr` (aligned).
    fn write_word(&self, addr: usize, v: usize);
    /// Sets the bytes `[addr, addr + len)` to `byte`.
    fn fill(&self, addr: usize, len: usize, byte: u8);
    /// Returns the offset of the first byte of `[addr, addr + len)` that is not `byte`, if any.
    fn check(&self, addr: usize, len: usize, byte: u8) -> Option<usize>;
}

/// An object constructor, run once for every object slot when its slab is created (Linux's
/// `ctor`): objects must be freed in their constructed state. It runs under the cache's shared
/// lock and must not call into the same cache.
pub type Ctor = fn(mem: &dyn Memory, addr: usize);

/// Debug options of a cache (Linux `SLAB_RED_ZONE`, `SLAB_POISON`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SlabFlags(u32);

impl SlabFlags {
    /// No debugging.
    pub const NONE: Self = Self(0);
    /// Red zones around every object.
    pub const RED_ZONE: Self = Self(1 << 0);
    /// Poison free objects.
    pub const POISON: Self = Self(1 << 1);
    /// Both checks.
    pub const DEBUG: Self = Self(Self::RED_ZONE.0 | Self::POISON.0);
    /// [`SlabFlags::DEBUG`] with the cargo feature `debug`, else [`SlabFlags::NONE`].
    pub const DEFAULT: Self = if cfg!(feature = "debug") { Self::DEBUG } else { Self::NONE };

    /// Both sets of flags.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Which red zone a [`SlabError::RedZone`] was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedZoneSide {
    /// Before the object (an underflow).
    Left,
    /// After the object (an overflow).
    Right,
}

/// Every failure of the allocator; each names the cache involved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlabError {
    /// No memory: the provider refused a slab or a large block. `size` is the size requested
    /// (the object size for a cache, the caller's size for `kmalloc`).
    OutOfMemory { cache: &'static str, size: usize },
    /// `size`/`align` cannot be served: zero size, alignment not a power of two, or an object
    /// too large for a slab of [`MAX_SLAB_ORDER`] pages.
    BadLayout { cache: &'static str, size: usize, align: usize },
    /// `cpu` is not below the cache's `nr_cpus`.
    BadCpu { cache: &'static str, cpu: usize },
    /// `destroy` with objects still allocated (`live` of them).
    Busy { cache: &'static str, live: usize },
    /// The cache was destroyed.
    Destroyed { cache: &'static str },
    /// `addr` is not an object of this cache.
    InvalidFree { cache: &'static str, addr: usize },
    /// `addr` was already free.
    DoubleFree { cache: &'static str, addr: usize },
    /// A red-zone byte of the object at `addr` was overwritten; `offset` is relative to `addr`
    /// (negative: before the object).
    RedZone { cache: &'static str, addr: usize, side: RedZoneSide, offset: isize },
    /// A poisoned free object at `addr` was written at `offset` (use after free).
    Poison { cache: &'static str, addr: usize, offset: usize },
    /// A slab's free list was corrupted: it pointed to `bad` in the slab at `slab`.
    FreelistCorrupt { cache: &'static str, slab: usize, bad: usize },
    /// The provider returned a block not aligned to its size.
    MisalignedPages { cache: &'static str, addr: usize, order: u32 },
    /// [`KmemCache::validate`] found inconsistent bookkeeping (a description).
    Inconsistent { cache: &'static str, what: &'static str, slab: usize },
}

impl SlabError {
    /// The cache the error concerns.
    pub const fn cache(&self) -> &'static str {
        match *self {
            Self::OutOfMemory { cache, .. }
            | Self::BadLayout { cache, .. }
            | Self::BadCpu { cache, .. }
            | Self::Busy { cache, .. }
            | Self::Destroyed { cache }
            | Self::InvalidFree { cache, .. }
            | Self::DoubleFree { cache, .. }
            | Self::RedZone { cache, .. }
            | Self::Poison { cache, .. }
            | Self::FreelistCorrupt { cache, .. }
            | Self::MisalignedPages { cache, .. }
            | Self::Inconsistent { cache, .. } => cache,
        }
    }
}

impl fmt::Display for SlabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::OutOfMemory { cache, size } => write!(f, "{cache}: out of memory allocating {size} bytes"),
            Self::BadLayout { cache, size, align } => write!(f, "{cache}: cannot serve size {size} align {align}"),
            Self::BadCpu { cache, cpu } => write!(f, "{cache}: no such cpu {cpu}"),
            Self::Busy { cache, live } => write!(f, "{cache}: destroy with {live} objects still allocated"),
            Self::Destroyed { cache } => write!(f, "{cache}: cache destroyed"),
            Self::InvalidFree { cache, addr } => write!(f, "{cache}: invalid free of 0x{addr:x}"),
            Self::DoubleFree { cache, addr } => write!(f, "{cache}: object 0x{addr:x} already free"),
            Self::RedZone { cache, addr, side, offset } => {
                let which = match side {
                    RedZoneSide::Left => "left",
                    RedZoneSide::Right => "right",
                };
                write!(f, "{cache}: object 0x{addr:x}: {which} redzone overwritten at offset {offset}")
            }
            Self::Poison { cache, addr, offset } => {
                write!(f, "{cache}: object 0x{addr:x}: poison overwritten at offset {offset}")
            }
            Self::FreelistCorrupt { cache, slab, bad } => {
                write!(f, "{cache}: slab 0x{slab:x}: freelist corrupt (0x{bad:x})")
            }
            Self::MisalignedPages { cache, addr, order } => {
                write!(f, "{cache}: page provider returned 0x{addr:x}, not aligned for order {order}")
            }
            Self::Inconsistent { cache, what, slab } => write!(f, "{cache}: slab 0x{slab:x}: {what}"),
        }
    }
}
