//! [`Kmalloc`]: `kmalloc`/`kfree` over the `kmalloc-*` size classes (`kmalloc_info[]`,
//! `kmalloc_slab`, `kmalloc_large`, mm/slab_common.c 6.1), with `Layout` semantics.
//!
//! # Classes
//! [`KMALLOC_SIZES`]: 8, 16, 32, 64, 96, 128, 192, 256, 512 bytes, 1, 2, 4 and 8 KiB, named as in
//! Linux. Each power-of-two class is aligned to its size (Linux's natural-alignment guarantee
//! for power-of-two sizes); `kmalloc-96` is 32-byte and `kmalloc-192` 64-byte aligned. A
//! request `(size, align)` goes to the first class at least `size` bytes big whose alignment is
//! a multiple of `align` ([`kmalloc_index`]); a size of 0 is served as 1.
//!
//! # Large allocations
//! Anything bigger than [`KMALLOC_MAX_CACHE_SIZE`], or aligned more than its class, comes
//! straight from the page provider: `get_order(max(size, align))` pages, which are aligned to
//! their size. No header or side table records the order: like `GlobalAlloc::dealloc`,
//! [`Kmalloc::kfree`] takes the allocation's size and alignment, and the class or order is a
//! pure function of them. A `kfree` with a different layout than the `kmalloc` is refused
//! (`InvalidFree`) when it points at another cache's slab, and otherwise is the caller's bug
//! exactly as with `GlobalAlloc`.
use core::alloc::Layout;
use core::sync::atomic::{AtomicUsize, Ordering};

use mm_types::LineSink;

use crate::cache::{slabinfo_header, CacheConfig, CacheStats, KmemCache};
use crate::{Memory, PageProvider, SlabError, SlabFlags, MAX_CPUS, MAX_SLAB_ORDER, PAGE_SIZE};

/// The `kmalloc-*` classes: name, size, alignment (Linux `kmalloc_info[]`, 8 bytes to 8 KiB).
pub const KMALLOC_SIZES: [(&str, usize, usize); 13] = [
    ("kmalloc-8", 8, 8),
    ("kmalloc-16", 16, 16),
    ("kmalloc-32", 32, 32),
    ("kmalloc-64", 64, 64),
    ("kmalloc-96", 96, 32),
    ("kmalloc-128", 128, 128),
    ("kmalloc-192", 192, 64),
    ("kmalloc-256", 256, 256),
    ("kmalloc-512", 512, 512),
    ("kmalloc-1k", 1024, 1024),
    ("kmalloc-2k", 2048, 2048),
    ("kmalloc-4k", 4096, 4096),
    ("kmalloc-8k", 8192, 8192),
];

/// The largest size served by a slab class (`KMALLOC_MAX_CACHE_SIZE`).
pub const KMALLOC_MAX_CACHE_SIZE: usize = 8192;

/// Name used in errors about large (page) allocations.
const LARGE: &str = "kmalloc-large";

/// Class of each size 1..=192 in steps of 8 bytes, indexed by `(size - 1) / 8` (Linux's
/// `size_index[24]`, in [`KMALLOC_SIZES`] order: 8, 16, 32, 64, 96, 128, 192).
const SIZE_INDEX: [u8; 24] = [0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6];

/// The class of a size with no alignment demand (`kmalloc_slab`): the table up to 192 bytes,
/// `fls(size - 1)` above, so that 193..=256 is `kmalloc-256` and so on up to 8 KiB.
#[inline]
const fn size_class(size: usize) -> Option<usize> {
    if size <= 192 {
        // A size of 0 is served as 1.
        let size = if size == 0 { 1 } else { size };
        Some(SIZE_INDEX[(size - 1) / 8] as usize)
    } else if size <= KMALLOC_MAX_CACHE_SIZE {
        // fls(size - 1): 8 for 256, up to 13 for 8 KiB; kmalloc-256 is class 7.
        let fls = usize::BITS - (size - 1).leading_zeros();
        Some(fls as usize - 1)
    } else {
        None
    }
}

/// The class of [`KMALLOC_SIZES`] serving `(size, align)`, or `None` for a large allocation,
/// in O(1): the first class at least `size` bytes big whose alignment is a multiple of `align`
/// (a power of two). Power-of-two classes are aligned to their size, so when the class for
/// `max(size, align)` (96 or 192: 32- and 64-byte aligned) is aligned less than asked, the
/// answer is the power-of-two class above.
#[inline]
pub const fn kmalloc_index(size: usize, align: usize) -> Option<usize> {
    let need = if size > align { size } else { align };
    let Some(i) = size_class(need) else { return None };
    if KMALLOC_SIZES[i].2 >= align {
        Some(i)
    } else {
        size_class(need.next_power_of_two())
    }
}

/// Order of the block for a large allocation, if there is one.
const fn large_order(size: usize, align: usize) -> Option<u32> {
    let need = if size > align { size } else { align };
    let mut order = 0;
    while order <= MAX_SLAB_ORDER {
        if PAGE_SIZE << order >= need {
            return Some(order);
        }
        order += 1;
    }
    None
}

/// Counters of the large (page) allocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct KmallocStats {
    /// Large allocations live.
    pub large_live: usize,
    /// Pages they hold.
    pub large_pages: usize,
}

/// The `kmalloc` caches and the large-allocation path.
pub struct Kmalloc<'a, P, M> {
    caches: [KmemCache<'a, P, M>; 13],
    pages: &'a P,
    nr_cpus: usize,
    large_live: AtomicUsize,
    large_pages: AtomicUsize,
}

impl<'a, P: PageProvider, M: Memory> Kmalloc<'a, P, M> {
    /// `create_kmalloc_caches` for `nr_cpus` CPUs with debug `flags` (usually
    /// [`SlabFlags::DEFAULT`]).
    ///
    /// # Errors
    /// [`SlabError::BadCpu`] unless `1 <= nr_cpus <= MAX_CPUS`.
    pub const fn try_new(nr_cpus: usize, flags: SlabFlags, pages: &'a P, mem: &'a M) -> Result<Self, SlabError> {
        if nr_cpus == 0 || nr_cpus > MAX_CPUS {
            return Err(SlabError::BadCpu { cache: "kmalloc", cpu: nr_cpus });
        }
        macro_rules! class {
            ($i:expr) => {{
                let (name, size, align) = KMALLOC_SIZES[$i];
                KmemCache::new(CacheConfig::new(name, size).align(align).flags(flags), nr_cpus, pages, mem)
            }};
        }
        Ok(Self {
            caches: [
                class!(0),
                class!(1),
                class!(2),
                class!(3),
                class!(4),
                class!(5),
                class!(6),
                class!(7),
                class!(8),
                class!(9),
                class!(10),
                class!(11),
                class!(12),
            ],
            pages,
            nr_cpus,
            large_live: AtomicUsize::new(0),
            large_pages: AtomicUsize::new(0),
        })
    }

    /// [`Kmalloc::try_new`], panicking on a bad `nr_cpus` (for statics).
    pub const fn new(nr_cpus: usize, flags: SlabFlags, pages: &'a P, mem: &'a M) -> Self {
        match Self::try_new(nr_cpus, flags, pages, mem) {
            Ok(k) => k,
            Err(_) => panic!("kmalloc: bad nr_cpus"),
        }
    }

    /// The caches, smallest first.
    pub fn caches(&self) -> &[KmemCache<'a, P, M>] {
        &self.caches
    }

    /// `kmalloc_slab`: the cache serving `(size, align)`, `None` for a large allocation.
    pub fn cache_for(&self, size: usize, align: usize) -> Option<&KmemCache<'a, P, M>> {
        kmalloc_index(size, align).map(|i| &self.caches[i])
    }

    /// `kmalloc` on `cpu`: `size` bytes aligned to `align` (a power of two).
    ///
    /// # Errors
    /// [`SlabError::OutOfMemory`] with `size` when memory runs out or the request is larger
    /// than `PAGE_SIZE << MAX_SLAB_ORDER`; [`SlabError::BadLayout`] for an alignment that is
    /// not a power of two; the cache's errors (corruption found on allocation, bad cpu).
    pub fn kmalloc(&self, cpu: usize, size: usize, align: usize) -> Result<usize, SlabError> {
        if !align.is_power_of_two() {
            return Err(SlabError::BadLayout { cache: "kmalloc", size, align });
        }
        if cpu >= self.nr_cpus {
            return Err(SlabError::BadCpu { cache: "kmalloc", cpu });
        }
        match kmalloc_index(size, align) {
            Some(i) => self.caches[i].alloc(cpu).map_err(|e| match e {
                SlabError::OutOfMemory { cache, .. } => SlabError::OutOfMemory { cache, size },
                e => e,
            }),
            None => {
                let oom = SlabError::OutOfMemory { cache: LARGE, size };
                let order = large_order(size, align).ok_or(oom)?;
                let addr = self.pages.alloc_pages(order).ok_or(oom)?;
                if addr == 0 {
                    return Err(oom);
                }
                if addr & ((PAGE_SIZE << order) - 1) != 0 {
                    self.pages.free_pages(addr, order);
                    return Err(SlabError::MisalignedPages { cache: LARGE, addr, order });
                }
                self.large_live.fetch_add(1, Ordering::Relaxed);
                self.large_pages.fetch_add(1 << order, Ordering::Relaxed);
                Ok(addr)
            }
        }
    }

    /// `kfree` on `cpu` of `addr` from [`Kmalloc::kmalloc`] with the same `size` and `align`.
    ///
    /// # Errors
    /// [`SlabError::BadLayout`]; the cache's free errors (invalid or double free, red zones);
    /// [`SlabError::InvalidFree`] for a large allocation that is not page aligned.
    pub fn kfree(&self, cpu: usize, addr: usize, size: usize, align: usize) -> Result<(), SlabError> {
        if !align.is_power_of_two() {
            return Err(SlabError::BadLayout { cache: "kmalloc", size, align });
        }
        if cpu >= self.nr_cpus {
            return Err(SlabError::BadCpu { cache: "kmalloc", cpu });
        }
        match kmalloc_index(size, align) {
            Some(i) => self.caches[i].free(cpu, addr),
            None => {
                let order = large_order(size, align).ok_or(SlabError::InvalidFree { cache: LARGE, addr })?;
                if addr == 0 || addr & ((PAGE_SIZE << order) - 1) != 0 {
                    return Err(SlabError::InvalidFree { cache: LARGE, addr });
                }
                self.pages.free_pages(addr, order);
                self.large_live.fetch_sub(1, Ordering::Relaxed);
                self.large_pages.fetch_sub(1 << order, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// [`Kmalloc::kmalloc`] for a [`Layout`] (what `GlobalAlloc::alloc` forwards).
    ///
    /// # Errors
    /// As [`Kmalloc::kmalloc`].
    pub fn kmalloc_layout(&self, cpu: usize, layout: Layout) -> Result<usize, SlabError> {
        self.kmalloc(cpu, layout.size(), layout.align())
    }

    /// [`Kmalloc::kfree`] for a [`Layout`] (what `GlobalAlloc::dealloc` forwards).
    ///
    /// # Errors
    /// As [`Kmalloc::kfree`].
    pub fn kfree_layout(&self, cpu: usize, addr: usize, layout: Layout) -> Result<(), SlabError> {
        self.kfree(cpu, addr, layout.size(), layout.align())
    }

    /// Flushes `cpu`'s array caches of every class.
    pub fn flush_cpu(&self, cpu: usize) {
        for c in &self.caches {
            c.flush_cpu(cpu);
        }
    }

    /// Shrinks every class; returns the number of slabs freed.
    pub fn shrink(&self) -> usize {
        self.caches.iter().map(|c| c.shrink()).sum()
    }

    /// Validates every class.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), SlabError> {
        self.caches.iter().try_for_each(|c| c.validate())
    }

    /// Counters of the large allocations.
    pub fn stats(&self) -> KmallocStats {
        KmallocStats {
            large_live: self.large_live.load(Ordering::Relaxed),
            large_pages: self.large_pages.load(Ordering::Relaxed),
        }
    }

    /// Statistics of each class, smallest first.
    pub fn cache_stats(&self) -> [CacheStats; 13] {
        core::array::from_fn(|i| self.caches[i].stats())
    }

    /// `/proc/slabinfo` for the classes: the header, then one line per cache, largest first
    /// (Linux lists the most recently created cache first).
    pub fn slabinfo(&self, sink: &mut dyn LineSink) {
        slabinfo_header(sink);
        for c in self.caches.iter().rev() {
            c.slabinfo_line(sink);
        }
    }
}
