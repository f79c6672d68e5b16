//! [`KmemCache`]: one object cache (`kmem_cache_create`, `kmem_cache_alloc`, `kmem_cache_free`,
//! `kmem_cache_shrink`, `kmem_cache_destroy`, `/proc/slabinfo`).
//!
//! # Slab layout (`slab_bytes = PAGE_SIZE << order`, the block aligned to `slab_bytes`)
//! ```text
//! base                     base + first
//! | header (7 words) | pad | slot 0 | slot 1 | ... | slot objs-1 | waste |
//! slot: | left red zone (red_left) | object (object_size) | right red zone | free ptr? | pad |
//!                                   ^ object address (aligned to `align`)
//! ```
//! - Header words: magic, cache identity (a per-cache token), free-list head, `inuse`, list
//!   `prev`/`next`, list tag. The slab of an object is `addr & !(slab_bytes - 1)`.
//! - The free pointer of a free object is at `object + fp_offset`: 0 (inside the object, SLUB's
//!   default) unless the cache poisons or has a constructor, in which case it follows the right
//!   red zone so it never clobbers the poison pattern or constructed state (as SLUB moves
//!   `s->offset`).
//! - The right red zone is `[object_size, inuse)`: up to the next word, and at least one word
//!   (SLUB's rule). The left red zone is one word rounded up to the alignment (`red_left_pad`).
//!
//! # Order (`calculate_order`, simplified)
//! The smallest order up to 3 (`slub_max_order`) that gives at least `min_objects` objects (8,
//! then 4, 2, 1) and wastes at most 1/16, 1/8 or 1/4 of the slab; otherwise the smallest order
//! up to [`MAX_SLAB_ORDER`] that holds one object.
//!
//! # Array caches (SLAB's `enable_cpucache`)
//! `limit` = 120 / 54 / 24 / 8 for slot sizes up to 256, 1024, `PAGE_SIZE`, larger;
//! `batchcount` = `(limit + 1) / 2`. An allocation pops the CPU's stack, refilling `batchcount`
//! objects (partial slabs first, then empty ones, then a new slab) when it is empty; a free
//! pushes, first flushing the `batchcount` oldest objects to their slabs when the stack is full.
//!
//! # Accounting (as SLAB's `get_slabinfo`)
//! `active_objs` counts objects taken from slabs, including those sitting in array caches;
//! `active_slabs` are slabs that are not empty. [`CacheStats::cpu_cached`] says how many objects
//! the array caches hold, so `active_objs - cpu_cached` are the objects callers own.
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mm_types::LineSink;
use spin::Mutex;

use crate::{
    Ctor, Memory, PageProvider, RedZoneSide, SlabError, SlabFlags, MAX_CPUS, MAX_EMPTY_SLABS, MAX_SLAB_ORDER,
    PAGE_SIZE, POISON_END, POISON_FREE, RED_ACTIVE, RED_INACTIVE,
};

const WORD: usize = core::mem::size_of::<usize>();

// Slab header, word indices.
const H_MAGIC: usize = 0;
const H_TOKEN: usize = 1;
const H_FREELIST: usize = 2;
const H_INUSE: usize = 3;
const H_PREV: usize = 4;
const H_NEXT: usize = 5;
const H_LIST: usize = 6;
const HDR_WORDS: usize = 7;
const SLAB_MAGIC: usize = 0x51ab_5eed;

// List tags (header word `H_LIST`).
const LIST_PARTIAL: usize = 1;
const LIST_FULL: usize = 2;
const LIST_EMPTY: usize = 3;

/// Capacity of an array cache (the largest `limit`).
const AC_MAX: usize = 120;

/// Byte written over an object when it is handed out with poisoning on (Linux `POISON_INUSE`,
/// as SLAB does), so an untouched object is never mistaken for a free one.
const POISON_INUSE: u8 = 0x5a;

/// Source of the per-cache identity stored in every slab header.
static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(1);

/// What a cache is created with (`kmem_cache_create(name, size, align, flags, ctor)`).
#[derive(Clone, Copy, Debug)]
pub struct CacheConfig {
    /// Name in errors and `slabinfo`.
    pub name: &'static str,
    /// Object size in bytes (non-zero).
    pub size: usize,
    /// Object alignment in bytes (a power of two; raised to the word size).
    pub align: usize,
    /// Debug options.
    pub flags: SlabFlags,
    /// Constructor, run once per object slot when its slab is created.
    pub ctor: Option<Ctor>,
}

impl CacheConfig {
    /// `size`-byte objects, word-aligned, [`SlabFlags::DEFAULT`], no constructor.
    pub const fn new(name: &'static str, size: usize) -> Self {
        Self { name, size, align: WORD, flags: SlabFlags::DEFAULT, ctor: None }
    }
    /// With alignment `align`.
    pub const fn align(mut self, align: usize) -> Self {
        self.align = align;
        self
    }
    /// With debug flags `flags`.
    pub const fn flags(mut self, flags: SlabFlags) -> Self {
        self.flags = flags;
        self
    }
    /// With constructor `ctor`.
    pub const fn ctor(mut self, ctor: Ctor) -> Self {
        self.ctor = Some(ctor);
        self
    }
}

/// Object and slab geometry, fixed at creation.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    object_size: usize,
    align: usize,
    /// Left red zone bytes before the object (0 without red zones).
    red_left: usize,
    /// End of the right red zone, relative to the object (`inuse` in SLUB).
    rz_end: usize,
    /// Free pointer offset relative to the object.
    fp_offset: usize,
    /// Bytes per slot (`s->size`).
    slot: usize,
    /// `ceil(2^32 / slot)`: an offset into the slab divided by `slot` with a multiply and a
    /// shift, as Linux's `obj_to_index` does with `reciprocal_divide` (a division is tens of
    /// cycles on x86 and a library call on ARM cores without `udiv`).
    recip: u64,
    /// Offset of slot 0 from the slab base.
    first: usize,
    objs: usize,
    order: u32,
    slab_bytes: usize,
    poison: bool,
    red_zone: bool,
}

const fn round_up(x: usize, align: usize) -> usize {
    (x + align - 1) & !(align - 1)
}

/// `ceil(2^32 / slot)` for [`slot_index`].
const fn slot_reciprocal(slot: usize) -> u64 {
    (1u64 << 32).div_ceil(slot as u64)
}

/// `off / slot` when `off` is a multiple of `slot`, else `None`, for `off < 2^32` and
/// `2 <= slot`, with `recip` from [`slot_reciprocal`]. For `off = q * slot` the product is
/// `q * (2^32 + e)` with `0 <= e < slot`, and `q * e < off < 2^32`, so the shift gives exactly
/// `q`; for any other `off` no index `i` has `i * slot == off`, so the check refuses it. The
/// product stays below `2^64`: `off * recip <= off * (2^32 / slot + 1) < 2^63 + 2^32`.
#[inline]
const fn slot_index(off: usize, slot: usize, recip: u64) -> Option<usize> {
    let i = ((off as u64 * recip) >> 32) as usize;
    if i * slot == off {
        Some(i)
    } else {
        None
    }
}

const fn objs_at(first: usize, slot: usize, order: u32) -> usize {
    let bytes = PAGE_SIZE << order;
    if first >= bytes {
        0
    } else {
        (bytes - first) / slot
    }
}

const fn geometry(name: &'static str, size: usize, align: usize, flags: SlabFlags, has_ctor: bool) -> Result<Geometry, SlabError> {
    let bad = SlabError::BadLayout { cache: name, size, align };
    let max_bytes = PAGE_SIZE << MAX_SLAB_ORDER;
    if size == 0 || !align.is_power_of_two() || size > max_bytes || align > max_bytes {
        return Err(bad);
    }
    let align = if align < WORD { WORD } else { align };
    let poison = flags.contains(SlabFlags::POISON) && !has_ctor;
    let red_zone = flags.contains(SlabFlags::RED_ZONE);
    let mut inner = round_up(size, WORD);
    if red_zone && inner == size {
        inner += WORD;
    }
    let rz_end = inner;
    let fp_offset = if poison || has_ctor {
        inner += WORD;
        rz_end
    } else {
        0
    };
    let red_left = if red_zone { round_up(WORD, align) } else { 0 };
    let slot = round_up(red_left + inner, align);
    let first = round_up(HDR_WORDS * WORD, align);

    let mut order = u32::MAX;
    let mut min_objs = 8;
    'search: while min_objs >= 1 {
        let mut frac = 16;
        while frac >= 4 {
            let mut o = 0;
            while o <= 3 {
                let n = objs_at(first, slot, o);
                let bytes = PAGE_SIZE << o;
                if n >= min_objs && (bytes - n * slot) * frac <= bytes {
                    order = o;
                    break 'search;
                }
                o += 1;
            }
            frac /= 2;
        }
        min_objs /= 2;
    }
    if order == u32::MAX {
        let mut o = 0;
        while o <= MAX_SLAB_ORDER {
            if objs_at(first, slot, o) >= 1 {
                order = o;
                break;
            }
            o += 1;
        }
    }
    if order == u32::MAX {
        return Err(bad);
    }
    Ok(Geometry {
        object_size: size,
        align,
        red_left,
        rz_end,
        fp_offset,
        slot,
        recip: slot_reciprocal(slot),
        first,
        objs: objs_at(first, slot, order),
        order,
        slab_bytes: PAGE_SIZE << order,
        poison,
        red_zone,
    })
}

/// SLAB's `enable_cpucache` limits by object size.
const fn ac_limit(slot: usize) -> usize {
    if slot > PAGE_SIZE {
        8
    } else if slot > 1024 {
        24
    } else if slot > 256 {
        54
    } else {
        AC_MAX
    }
}

#[derive(Clone, Copy, Debug)]
struct List {
    head: usize,
    nr: usize,
}

impl List {
    const EMPTY: Self = Self { head: 0, nr: 0 };
}

/// The state behind the shared lock (`kmem_cache_node`).
struct Shared {
    partial: List,
    full: List,
    empty: List,
    /// Sum of `inuse` over all slabs.
    active_objs: usize,
    slabs_grown: u64,
    slabs_freed: u64,
    refills: u64,
    flushes: u64,
}

impl Shared {
    fn list(&mut self, tag: usize) -> &mut List {
        match tag {
            LIST_PARTIAL => &mut self.partial,
            LIST_FULL => &mut self.full,
            _ => &mut self.empty,
        }
    }
    fn nr_slabs(&self) -> usize {
        self.partial.nr + self.full.nr + self.empty.nr
    }
}

/// One CPU's stack of free objects (`struct array_cache`). Cache-line aligned, so that the
/// CPUs' caches (and their locks), which sit side by side in the cache, never share a line:
/// a hit writes `len` and the counters, which would otherwise bounce between CPUs.
#[repr(align(64))]
struct ArrayCache {
    objs: [usize; AC_MAX],
    len: usize,
    allocs: u64,
    frees: u64,
}

impl ArrayCache {
    const fn new() -> Self {
        Self { objs: [0; AC_MAX], len: 0, allocs: 0, frees: 0 }
    }
}

/// A snapshot of a cache's counters (see the module docs for what `active` means).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Objects taken from slabs (allocated or in an array cache).
    pub active_objs: usize,
    /// Object slots in all slabs.
    pub num_objs: usize,
    /// Slabs that are not empty.
    pub active_slabs: usize,
    /// All slabs.
    pub num_slabs: usize,
    /// Slabs on the partial list.
    pub partial_slabs: usize,
    /// Slabs on the full list.
    pub full_slabs: usize,
    /// Slabs on the empty list.
    pub empty_slabs: usize,
    /// Objects held by array caches.
    pub cpu_cached: usize,
    /// Successful allocations.
    pub allocs: u64,
    /// Frees accepted.
    pub frees: u64,
    /// Array-cache refills from the slabs.
    pub refills: u64,
    /// Array-cache flushes to the slabs.
    pub flushes: u64,
    /// Slabs taken from the page provider.
    pub slabs_grown: u64,
    /// Slabs given back to the page provider.
    pub slabs_freed: u64,
    /// Errors reported (corruption, double and invalid frees).
    pub errors: usize,
}

/// An object cache (`struct kmem_cache`) over pages from `P`, touching memory through `M`.
pub struct KmemCache<'a, P, M> {
    name: &'static str,
    geo: Geometry,
    flags: SlabFlags,
    ctor: Option<Ctor>,
    nr_cpus: usize,
    limit: usize,
    batchcount: usize,
    /// Identity written into every slab header; assigned when the first slab is created.
    token: AtomicUsize,
    destroyed: AtomicBool,
    errors: AtomicUsize,
    cpus: [Mutex<ArrayCache>; MAX_CPUS],
    shared: Mutex<Shared>,
    pages: &'a P,
    mem: &'a M,
}

/// Prints the two `/proc/slabinfo` header lines (version 2.1).
pub fn slabinfo_header(sink: &mut dyn LineSink) {
    sink.line(format_args!("slabinfo - version: 2.1"));
    sink.line(format_args!(
        "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"
    ));
}

impl<'a, P: PageProvider, M: Memory> KmemCache<'a, P, M> {
    /// `kmem_cache_create`: a cache for `nr_cpus` CPUs (1..=[`MAX_CPUS`]). No memory is
    /// allocated until the first object is.
    ///
    /// # Errors
    /// [`SlabError::BadLayout`] for a zero size, an alignment that is not a power of two or an
    /// object too big for a slab; [`SlabError::BadCpu`] for a bad `nr_cpus`.
    pub const fn try_new(config: CacheConfig, nr_cpus: usize, pages: &'a P, mem: &'a M) -> Result<Self, SlabError> {
        if nr_cpus == 0 || nr_cpus > MAX_CPUS {
            return Err(SlabError::BadCpu { cache: config.name, cpu: nr_cpus });
        }
        let geo = match geometry(config.name, config.size, config.align, config.flags, config.ctor.is_some()) {
            Ok(g) => g,
            Err(e) => return Err(e),
        };
        let limit = ac_limit(geo.slot);
        Ok(Self {
            name: config.name,
            geo,
            flags: config.flags,
            ctor: config.ctor,
            nr_cpus,
            limit,
            batchcount: limit.div_ceil(2),
            token: AtomicUsize::new(0),
            destroyed: AtomicBool::new(false),
            errors: AtomicUsize::new(0),
            cpus: [const { Mutex::new(ArrayCache::new()) }; MAX_CPUS],
            shared: Mutex::new(Shared {
                partial: List::EMPTY,
                full: List::EMPTY,
                empty: List::EMPTY,
                active_objs: 0,
                slabs_grown: 0,
                slabs_freed: 0,
                refills: 0,
                flushes: 0,
            }),
            pages,
            mem,
        })
    }

    /// [`KmemCache::try_new`], panicking on a bad configuration (for statics).
    pub const fn new(config: CacheConfig, nr_cpus: usize, pages: &'a P, mem: &'a M) -> Self {
        match Self::try_new(config, nr_cpus, pages, mem) {
            Ok(c) => c,
            Err(_) => panic!("kmem_cache_create: bad cache configuration"),
        }
    }

    /// The cache's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
    /// Requested object size in bytes (`object_size`).
    pub const fn object_size(&self) -> usize {
        self.geo.object_size
    }
    /// Bytes per object slot, metadata included (`size`, slabinfo's `objsize`).
    pub const fn size(&self) -> usize {
        self.geo.slot
    }
    /// Object alignment in bytes.
    pub const fn align(&self) -> usize {
        self.geo.align
    }
    /// Objects per slab.
    pub const fn objs_per_slab(&self) -> usize {
        self.geo.objs
    }
    /// Slab order (a slab is `2^order` pages).
    pub const fn order(&self) -> u32 {
        self.geo.order
    }
    /// Debug flags as requested.
    pub const fn flags(&self) -> SlabFlags {
        self.flags
    }
    /// Array-cache `limit` and `batchcount`.
    pub const fn tunables(&self) -> (usize, usize) {
        (self.limit, self.batchcount)
    }
    /// Number of CPUs served.
    pub const fn nr_cpus(&self) -> usize {
        self.nr_cpus
    }

    #[inline]
    fn check_cpu(&self, cpu: usize) -> Result<(), SlabError> {
        if cpu >= self.nr_cpus {
            return Err(SlabError::BadCpu { cache: self.name, cpu });
        }
        if self.destroyed.load(Ordering::Acquire) {
            return Err(SlabError::Destroyed { cache: self.name });
        }
        Ok(())
    }

    #[inline]
    fn debug(&self) -> bool {
        self.geo.poison || self.geo.red_zone
    }

    fn error(&self, e: SlabError) -> SlabError {
        self.errors.fetch_add(1, Ordering::Relaxed);
        e
    }

    /// `kmem_cache_alloc` on `cpu`: the address of an object of [`KmemCache::object_size`]
    /// bytes, aligned to [`KmemCache::align`].
    ///
    /// # Errors
    /// [`SlabError::OutOfMemory`] (with the object size) when no slab can be created;
    /// [`SlabError::Poison`] / [`SlabError::RedZone`] when the object was damaged while free (it
    /// is then leaked); [`SlabError::FreelistCorrupt`]; [`SlabError::BadCpu`];
    /// [`SlabError::Destroyed`].
    #[inline]
    pub fn alloc(&self, cpu: usize) -> Result<usize, SlabError> {
        self.check_cpu(cpu)?;
        let obj = {
            let mut ac = self.cpus[cpu].lock();
            if ac.len == 0 {
                self.refill(&mut ac)?;
            }
            ac.len -= 1;
            ac.allocs += 1;
            ac.objs[ac.len]
        };
        if self.debug() {
            self.check_free_object(obj).map_err(|e| self.error(e))?;
            self.mark_active(obj);
        }
        Ok(obj)
    }

    /// `kmem_cache_free` on `cpu` of an object from [`KmemCache::alloc`] (of any CPU).
    ///
    /// # Errors
    /// [`SlabError::InvalidFree`] when `addr` is not an object of this cache;
    /// [`SlabError::DoubleFree`] (detected by red zones or poison in debug caches, and for an
    /// immediate repeat otherwise); [`SlabError::RedZone`] for an overflow or underflow (the
    /// object is then leaked); [`SlabError::BadCpu`]; [`SlabError::Destroyed`].
    #[inline]
    pub fn free(&self, cpu: usize, addr: usize) -> Result<(), SlabError> {
        self.check_cpu(cpu)?;
        self.locate(addr).map_err(|e| self.error(e))?;
        if self.debug() {
            self.check_allocated_object(addr).map_err(|e| self.error(e))?;
            self.mark_free(addr);
        }
        let mut ac = self.cpus[cpu].lock();
        if !self.debug() && ac.len > 0 && ac.objs[ac.len - 1] == addr {
            return Err(self.error(SlabError::DoubleFree { cache: self.name, addr }));
        }
        if ac.len == self.limit {
            let n = self.batchcount;
            self.flush_ac(&mut ac, n);
        }
        let len = ac.len;
        ac.objs[len] = addr;
        ac.len += 1;
        ac.frees += 1;
        Ok(())
    }

    /// Returns every object of `cpu`'s array cache to its slab (`drain_array`); empty slabs
    /// beyond [`MAX_EMPTY_SLABS`] go back to the provider.
    pub fn flush_cpu(&self, cpu: usize) {
        if cpu < self.nr_cpus {
            let mut ac = self.cpus[cpu].lock();
            let n = ac.len;
            self.flush_ac(&mut ac, n);
        }
    }

    /// `kmem_cache_shrink`: flushes every array cache and returns all empty slabs to the
    /// provider. Returns the number of slabs freed.
    pub fn shrink(&self) -> usize {
        for cpu in 0..self.nr_cpus {
            self.flush_cpu(cpu);
        }
        let mut sh = self.shared.lock();
        let n = sh.empty.nr;
        self.trim(&mut sh, 0);
        n
    }

    /// `kmem_cache_destroy`: shrinks, then refuses if objects are still allocated; otherwise
    /// the cache holds no pages and every later call fails with [`SlabError::Destroyed`].
    ///
    /// # Errors
    /// [`SlabError::Busy`] with the number of live objects (the cache stays usable);
    /// [`SlabError::Destroyed`] when called twice.
    pub fn destroy(&self) -> Result<(), SlabError> {
        if self.destroyed.load(Ordering::Acquire) {
            return Err(SlabError::Destroyed { cache: self.name });
        }
        self.shrink();
        let mut sh = self.shared.lock();
        if sh.active_objs > 0 {
            return Err(SlabError::Busy { cache: self.name, live: sh.active_objs });
        }
        self.trim(&mut sh, 0);
        self.destroyed.store(true, Ordering::Release);
        Ok(())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        let mut s = CacheStats::default();
        for cpu in &self.cpus[..self.nr_cpus] {
            let ac = cpu.lock();
            s.cpu_cached += ac.len;
            s.allocs += ac.allocs;
            s.frees += ac.frees;
        }
        let sh = self.shared.lock();
        s.active_objs = sh.active_objs;
        s.num_slabs = sh.nr_slabs();
        s.num_objs = s.num_slabs * self.geo.objs;
        s.active_slabs = s.num_slabs - sh.empty.nr;
        s.partial_slabs = sh.partial.nr;
        s.full_slabs = sh.full.nr;
        s.empty_slabs = sh.empty.nr;
        s.refills = sh.refills;
        s.flushes = sh.flushes;
        s.slabs_grown = sh.slabs_grown;
        s.slabs_freed = sh.slabs_freed;
        s.errors = self.errors.load(Ordering::Relaxed);
        s
    }

    /// Prints this cache's `/proc/slabinfo` line (`cache_show`: tunables are the array cache's
    /// `limit` and `batchcount`, no shared array).
    pub fn slabinfo_line(&self, sink: &mut dyn LineSink) {
        let s = self.stats();
        sink.line(format_args!(
            "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4} : tunables {:>4} {:>4} {:>4} : slabdata {:>6} {:>6} {:>6}",
            self.name,
            s.active_objs,
            s.num_objs,
            self.geo.slot,
            self.geo.objs,
            1usize << self.geo.order,
            self.limit,
            self.batchcount,
            0,
            s.active_slabs,
            s.num_slabs,
            0
        ));
    }

    /// Checks the cache's bookkeeping (SLUB's `validate_slab_cache`): every slab on the list
    /// its `inuse` says, free lists of the right length inside their slabs, `active_objs` the
    /// sum of `inuse`, array-cache entries valid objects, and (debug caches) every free object
    /// still poisoned and red-zoned as free.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), SlabError> {
        let acs: [_; MAX_CPUS] = core::array::from_fn(|i| if i < self.nr_cpus { Some(self.cpus[i].lock()) } else { None });
        let sh = self.shared.lock();
        let bad = |what, slab| SlabError::Inconsistent { cache: self.name, what, slab };
        let mut inuse_sum = 0;
        for (tag, list) in [(LIST_PARTIAL, sh.partial), (LIST_FULL, sh.full), (LIST_EMPTY, sh.empty)] {
            let mut slab = list.head;
            let mut prev = 0;
            let mut n = 0;
            while slab != 0 {
                n += 1;
                if n > list.nr {
                    return Err(bad("list longer than its count", slab));
                }
                if self.hdr(slab, H_MAGIC) != SLAB_MAGIC || self.hdr(slab, H_TOKEN) != self.token.load(Ordering::Relaxed) {
                    return Err(bad("bad slab header", slab));
                }
                if self.hdr(slab, H_LIST) != tag || self.hdr(slab, H_PREV) != prev {
                    return Err(bad("bad list links", slab));
                }
                let inuse = self.hdr(slab, H_INUSE);
                if inuse > self.geo.objs || self.list_for(inuse) != tag {
                    return Err(bad("inuse does not match list", slab));
                }
                inuse_sum += inuse;
                let mut obj = self.hdr(slab, H_FREELIST);
                let mut free = 0;
                while obj != 0 {
                    free += 1;
                    if free > self.geo.objs - inuse || !self.is_object(slab, obj) {
                        return Err(SlabError::FreelistCorrupt { cache: self.name, slab, bad: obj });
                    }
                    if self.debug() {
                        self.check_free_object(obj)?;
                    }
                    obj = self.mem.read_word(obj + self.geo.fp_offset);
                }
                if free != self.geo.objs - inuse {
                    return Err(bad("free list too short", slab));
                }
                prev = slab;
                slab = self.hdr(slab, H_NEXT);
            }
            if n != list.nr {
                return Err(bad("list shorter than its count", 0));
            }
        }
        if inuse_sum != sh.active_objs {
            return Err(bad("active_objs is not the sum of inuse", 0));
        }
        let mut cached = 0;
        for ac in acs.iter().flatten() {
            for &obj in &ac.objs[..ac.len] {
                self.locate(obj)?;
                if self.debug() {
                    self.check_free_object(obj)?;
                }
            }
            cached += ac.len;
        }
        if cached > sh.active_objs {
            return Err(bad("array caches hold more than active_objs", 0));
        }
        Ok(())
    }

    // ---- slab header and lists (shared lock held) ----

    #[inline]
    fn hdr(&self, slab: usize, word: usize) -> usize {
        self.mem.read_word(slab + word * WORD)
    }

    fn set_hdr(&self, slab: usize, word: usize, v: usize) {
        self.mem.write_word(slab + word * WORD, v);
    }

    fn list_for(&self, inuse: usize) -> usize {
        if inuse == 0 {
            LIST_EMPTY
        } else if inuse == self.geo.objs {
            LIST_FULL
        } else {
            LIST_PARTIAL
        }
    }

    fn link(&self, sh: &mut Shared, slab: usize, tag: usize) {
        let list = sh.list(tag);
        let next = list.head;
        self.set_hdr(slab, H_PREV, 0);
        self.set_hdr(slab, H_NEXT, next);
        self.set_hdr(slab, H_LIST, tag);
        if next != 0 {
            self.set_hdr(next, H_PREV, slab);
        }
        list.head = slab;
        list.nr += 1;
    }

    fn unlink(&self, sh: &mut Shared, slab: usize) {
        let (prev, next) = (self.hdr(slab, H_PREV), self.hdr(slab, H_NEXT));
        let list = sh.list(self.hdr(slab, H_LIST));
        if prev != 0 {
            self.set_hdr(prev, H_NEXT, next);
        } else {
            list.head = next;
        }
        if next != 0 {
            self.set_hdr(next, H_PREV, prev);
        }
        list.nr = list.nr.saturating_sub(1);
    }

    /// Moves `slab` to the list its `inuse` calls for.
    fn relist(&self, sh: &mut Shared, slab: usize, inuse: usize) {
        let want = self.list_for(inuse);
        if self.hdr(slab, H_LIST) != want {
            self.unlink(sh, slab);
            self.link(sh, slab, want);
        }
    }

    /// Whether `addr` is an object boundary of the slab at `slab`.
    #[inline]
    fn is_object(&self, slab: usize, addr: usize) -> bool {
        let start = slab + self.geo.first + self.geo.red_left;
        let Some(off) = addr.checked_sub(start) else { return false };
        // Below the slab's size, so below 2^32 as `slot_index` needs.
        off < self.geo.slab_bytes && matches!(slot_index(off, self.geo.slot, self.geo.recip), Some(i) if i < self.geo.objs)
    }

    /// The slab of `addr`, after checking it is an object of this cache.
    #[inline]
    fn locate(&self, addr: usize) -> Result<usize, SlabError> {
        let invalid = SlabError::InvalidFree { cache: self.name, addr };
        let token = self.token.load(Ordering::Relaxed);
        if addr == 0 || token == 0 {
            return Err(invalid);
        }
        let slab = addr & !(self.geo.slab_bytes - 1);
        if self.hdr(slab, H_MAGIC) != SLAB_MAGIC || self.hdr(slab, H_TOKEN) != token || !self.is_object(slab, addr) {
            return Err(invalid);
        }
        Ok(slab)
    }

    fn token(&self) -> usize {
        let t = self.token.load(Ordering::Relaxed);
        if t != 0 {
            return t;
        }
        let new = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        match self.token.compare_exchange(0, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => new,
            Err(cur) => cur,
        }
    }

    /// `allocate_slab`: a new slab on the empty list, every object initialised and free.
    fn grow(&self, sh: &mut Shared) -> Result<usize, SlabError> {
        let g = &self.geo;
        let oom = SlabError::OutOfMemory { cache: self.name, size: g.object_size };
        let token = self.token();
        let slab = self.pages.alloc_pages(g.order).ok_or(oom)?;
        if slab == 0 {
            return Err(oom);
        }
        if slab & (g.slab_bytes - 1) != 0 {
            self.pages.free_pages(slab, g.order);
            return Err(SlabError::MisalignedPages { cache: self.name, addr: slab, order: g.order });
        }
        let first_obj = slab + g.first + g.red_left;
        for i in 0..g.objs {
            let obj = first_obj + i * g.slot;
            self.mark_free(obj);
            if let Some(ctor) = self.ctor {
                ctor(self.mem, obj);
            }
            let next = if i + 1 < g.objs { obj + g.slot } else { 0 };
            self.mem.write_word(obj + g.fp_offset, next);
        }
        self.set_hdr(slab, H_MAGIC, SLAB_MAGIC);
        self.set_hdr(slab, H_TOKEN, token);
        self.set_hdr(slab, H_FREELIST, first_obj);
        self.set_hdr(slab, H_INUSE, 0);
        self.link(sh, slab, LIST_EMPTY);
        sh.slabs_grown += 1;
        Ok(slab)
    }

    /// `discard_slab`: returns an unlinked slab's pages.
    fn discard(&self, sh: &mut Shared, slab: usize) {
        self.set_hdr(slab, H_MAGIC, 0);
        self.set_hdr(slab, H_TOKEN, 0);
        self.pages.free_pages(slab, self.geo.order);
        sh.slabs_freed += 1;
    }

    /// Frees empty slabs until at most `keep` remain.
    fn trim(&self, sh: &mut Shared, keep: usize) {
        while sh.empty.nr > keep {
            let slab = sh.empty.head;
            self.unlink(sh, slab);
            self.discard(sh, slab);
        }
    }

    /// `cache_alloc_refill`: up to `batchcount` objects into `ac` (which is empty).
    fn refill(&self, ac: &mut ArrayCache) -> Result<(), SlabError> {
        let mut sh = self.shared.lock();
        if self.destroyed.load(Ordering::Acquire) {
            return Err(SlabError::Destroyed { cache: self.name });
        }
        sh.refills += 1;
        let want = self.batchcount.min(self.limit - ac.len);
        let mut got = 0;
        while got < want {
            let slab = if sh.partial.head != 0 {
                sh.partial.head
            } else if sh.empty.head != 0 {
                sh.empty.head
            } else {
                match self.grow(&mut sh) {
                    Ok(slab) => slab,
                    Err(_) if got > 0 => break,
                    Err(e) => return Err(e),
                }
            };
            let mut inuse = self.hdr(slab, H_INUSE);
            if inuse >= self.geo.objs {
                // A damaged header on the partial or empty list: park the slab on the full
                // list rather than spin on it.
                self.relist(&mut sh, slab, self.geo.objs);
                return Err(self.error(SlabError::Inconsistent { cache: self.name, what: "inuse out of range", slab }));
            }
            let mut obj = self.hdr(slab, H_FREELIST);
            while got < want && inuse < self.geo.objs {
                if !self.is_object(slab, obj) {
                    // SLUB's "Marking all objects used": the rest of the slab is leaked.
                    sh.active_objs += self.geo.objs - inuse;
                    self.set_hdr(slab, H_INUSE, self.geo.objs);
                    self.set_hdr(slab, H_FREELIST, 0);
                    self.relist(&mut sh, slab, self.geo.objs);
                    return Err(self.error(SlabError::FreelistCorrupt { cache: self.name, slab, bad: obj }));
                }
                let next = self.mem.read_word(obj + self.geo.fp_offset);
                ac.objs[ac.len] = obj;
                ac.len += 1;
                inuse += 1;
                got += 1;
                sh.active_objs += 1;
                obj = next;
            }
            self.set_hdr(slab, H_FREELIST, if inuse == self.geo.objs { 0 } else { obj });
            self.set_hdr(slab, H_INUSE, inuse);
            self.relist(&mut sh, slab, inuse);
        }
        Ok(())
    }

    /// `free_block`: the `n` oldest objects of `ac` back to their slabs.
    fn flush_ac(&self, ac: &mut ArrayCache, n: usize) {
        let n = n.min(ac.len);
        if n == 0 {
            return;
        }
        let mut sh = self.shared.lock();
        sh.flushes += 1;
        for &obj in &ac.objs[..n] {
            let slab = obj & !(self.geo.slab_bytes - 1);
            let inuse = self.hdr(slab, H_INUSE);
            if inuse == 0 {
                // Cannot happen for objects that passed `locate`; never underflow.
                self.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.mem.write_word(obj + self.geo.fp_offset, self.hdr(slab, H_FREELIST));
            self.set_hdr(slab, H_FREELIST, obj);
            self.set_hdr(slab, H_INUSE, inuse - 1);
            sh.active_objs -= 1;
            self.relist(&mut sh, slab, inuse - 1);
        }
        self.trim(&mut sh, MAX_EMPTY_SLABS);
        drop(sh);
        ac.objs.copy_within(n..ac.len, 0);
        ac.len -= n;
    }

    // ---- debugging: poison and red zones ----

    /// Writes the free-object pattern (red zones inactive, poison).
    fn mark_free(&self, obj: usize) {
        let g = &self.geo;
        if g.red_zone {
            self.mem.fill(obj - g.red_left, g.red_left, RED_INACTIVE);
            self.mem.fill(obj + g.object_size, g.rz_end - g.object_size, RED_INACTIVE);
        }
        if g.poison {
            self.mem.fill(obj, g.object_size - 1, POISON_FREE);
            self.mem.fill(obj + g.object_size - 1, 1, POISON_END);
        }
    }

    /// Writes the allocated-object pattern (red zones active, `POISON_INUSE`).
    fn mark_active(&self, obj: usize) {
        let g = &self.geo;
        if g.red_zone {
            self.mem.fill(obj - g.red_left, g.red_left, RED_ACTIVE);
            self.mem.fill(obj + g.object_size, g.rz_end - g.object_size, RED_ACTIVE);
        }
        if g.poison {
            self.mem.fill(obj, g.object_size, POISON_INUSE);
        }
    }

    fn check_red(&self, obj: usize, byte: u8) -> Result<(), SlabError> {
        let g = &self.geo;
        if let Some(off) = self.mem.check(obj - g.red_left, g.red_left, byte) {
            let offset = off as isize - g.red_left as isize;
            return Err(SlabError::RedZone { cache: self.name, addr: obj, side: RedZoneSide::Left, offset });
        }
        if let Some(off) = self.mem.check(obj + g.object_size, g.rz_end - g.object_size, byte) {
            let offset = (g.object_size + off) as isize;
            return Err(SlabError::RedZone { cache: self.name, addr: obj, side: RedZoneSide::Right, offset });
        }
        Ok(())
    }

    /// `check_object(.., SLUB_RED_INACTIVE)`: a free object must be intact.
    fn check_free_object(&self, obj: usize) -> Result<(), SlabError> {
        let g = &self.geo;
        if g.red_zone {
            self.check_red(obj, RED_INACTIVE)?;
        }
        if g.poison {
            let bad = match self.mem.check(obj, g.object_size - 1, POISON_FREE) {
                Some(off) => Some(off),
                None => self.mem.check(obj + g.object_size - 1, 1, POISON_END).map(|_| g.object_size - 1),
            };
            if let Some(offset) = bad {
                return Err(SlabError::Poison { cache: self.name, addr: obj, offset });
            }
        }
        Ok(())
    }

    /// `free_debug_processing`: an object being freed must be allocated and its red zones
    /// intact.
    fn check_allocated_object(&self, obj: usize) -> Result<(), SlabError> {
        let g = &self.geo;
        let double = SlabError::DoubleFree { cache: self.name, addr: obj };
        if g.red_zone {
            match self.check_red(obj, RED_ACTIVE) {
                Ok(()) => Ok(()),
                Err(_) if self.check_red(obj, RED_INACTIVE).is_ok() => Err(double),
                Err(e) => Err(e),
            }
        } else if g.poison && self.check_free_object(obj).is_ok() {
            Err(double)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod reciprocal_tests {
    use super::{slot_index, slot_reciprocal, MAX_SLAB_ORDER, PAGE_SIZE};

    /// The multiply-and-shift index equals the division for every multiple of the slot in
    /// the largest slab, and refuses the offsets around each multiple.
    #[test]
    fn slot_index_is_the_division() {
        let max = PAGE_SIZE << MAX_SLAB_ORDER;
        let slots = (2..=64).chain((72..=8192).step_by(8)).chain([96, 192, 4104, 12_288, 65_544, 1 << 20, max]);
        for slot in slots {
            let r = slot_reciprocal(slot);
            for q in 0..=max / slot {
                let off = q * slot;
                assert_eq!(slot_index(off, slot, r), Some(q), "slot {slot} off {off:#x}");
                for bad in [off + 1, off + slot - 1] {
                    if bad % slot != 0 {
                        assert_eq!(slot_index(bad, slot, r), None, "slot {slot} off {bad:#x}");
                    }
                }
            }
        }
    }
}
