//! Host benchmarks of `kmalloc`/`kfree`, side by side with two general-purpose `no_std` heaps
//! and a trivial floor, all in one run.
//!
//! Functions (the same in every group):
//! - `slab_kmalloc`: this crate's [`Kmalloc`] with `SlabFlags::NONE` (no red zones, no poison),
//!   one CPU (cpu 0), over [`HostPages`]: a page provider that hands out naturally aligned
//!   `2^order`-page blocks carved (bump pointer) from one big host allocation, with a per-order
//!   free list for returned blocks (no coalescing), and that is also the [`Memory`] (plain raw
//!   pointer word accesses, bounds-asserted). Every call takes the cache's internal spin locks
//!   (array-cache lock; the shared lock only on refill/flush).
//! - `linked_list_allocator`: `linked_list_allocator::Heap` (first fit over a sorted hole list),
//!   `Heap::init` over a 16 MiB host block, behind a `spin::Mutex` taken per call (as its
//!   `LockedHeap` would be shared by a firmware's CPUs).
//! - `talc`: `talc::Talc::new(ErrOnOom)` with one 16 MiB span `claim`ed, behind a `spin::Mutex`
//!   taken per call (its `Talck`).
//! - `buddy_system_allocator`: `buddy_system_allocator::Heap<32>` over a 16 MiB host block,
//!   behind a `spin::Mutex` taken per call (its `LockedHeap`).
//! - `floor`: an intrusive LIFO free list of fixed 64-byte slots (pop = alloc, push = free), no
//!   lock, no size classes. It ignores the requested size (in `kmalloc_mixed` and
//!   `kmalloc_hot_256` it hands out 64-byte slots for larger requests): it is the cost floor of
//!   an object cache, not a usable allocator for those sizes.
//!
//! Groups (criterion writes `target/criterion/<group>/<function>/new/estimates.json`):
//! - `kmalloc_hot_16`, `kmalloc_hot_64`, `kmalloc_hot_256`: one allocation of that size (align
//!   8) immediately freed, repeated on an otherwise empty allocator. Throughput = 1 element per
//!   alloc+free pair, so the per-element figure is ns per pair. For `slab_kmalloc` this is the
//!   per-CPU array-cache fast path (pop + push) after the first refill.
//! - `kmalloc_mixed`: a fixed script (xorshift64, fixed seed, generated once and replayed
//!   identically on every allocator) of `MIXED_PREFILL` allocations, then `MIXED_STEPS` random
//!   steps that keep the number of live objects within `MIXED_TARGET ± MIXED_BAND` (alloc or
//!   free of a random live object with probability 1/2 each inside the band, i.e. about half of
//!   the `MIXED_SLOTS` handle slots live), then frees of everything still live, so each replay
//!   starts and ends with an empty allocator. Sizes are log-uniform over 8..=2048 bytes (a power
//!   of two 2^k, k in 3..=11, is picked uniformly, then a size uniformly in (2^(k-1), 2^k]),
//!   align 8. Throughput = every step of the script (prefill + random + drain), so the figure
//!   is ns per step. The allocator persists across replays (steady state: slab keeps its empty
//!   slabs / array caches, the heaps their coalesced free space).
//!
//! - `kmalloc_64_threads`: 64-byte pairs as `kmalloc_hot_64`, `<impl>_1thread` on CPU 0 and
//!   `<impl>_2threads` on two threads at once (slab: CPUs 0 and 1, each its own array cache;
//!   the heaps: both threads on the one lock); `floor_2threads` gives each thread a floor of its
//!   own (nothing shared), the most two threads can gain on this machine. Two-thread figures
//!   are the wall time of the whole parallel run over the pairs of both threads
//!   (`mm_types::bench::parallel`), i.e. the throughput cost of a pair.
//!
//! Nothing writes into the allocated objects (allocator cost only). Every workload is run once
//! before timing and its end state checked (`Kmalloc::validate`, no live large allocations,
//! `Heap::used() == 0`, full floor list); results go through `black_box`.
use std::alloc::Layout;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Duration;

use criterion::measurement::WallTime;
use mm_types::bench::parallel;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput};
use slab_alloc::{Kmalloc, Memory, PageProvider, SlabFlags, MAX_SLAB_ORDER, PAGE_SIZE};
use talc::{ErrOnOom, Span, Talc};

const WORD: usize = core::mem::size_of::<usize>();
/// Alignment of every request.
const ALIGN: usize = 8;
/// Bytes of host memory behind the page provider (slab_kmalloc).
const PAGES_BYTES: usize = 64 << 20;
/// Bytes of host memory behind linked_list_allocator and talc (each).
const HEAP_BYTES: usize = 16 << 20;

/// Handle slots of the mixed script (at most this many objects live at once).
const MIXED_SLOTS: usize = 1024;
/// Live objects the mixed script hovers around (half of the slots).
const MIXED_TARGET: usize = MIXED_SLOTS / 2;
/// Allowed deviation from `MIXED_TARGET` during the random part.
const MIXED_BAND: usize = 128;
/// Allocations before the random part.
const MIXED_PREFILL: usize = MIXED_TARGET;
/// Random alloc/free steps.
const MIXED_STEPS: usize = 8192;
/// Fixed seed of the script.
const MIXED_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Leaked, zeroed host memory of `bytes` bytes aligned to `align` (lives until the process
/// exits, so the `'static` requirements of the heaps hold).
fn leak_block(bytes: usize, align: usize) -> NonNull<u8> {
    let layout = Layout::from_size_align(bytes, align).expect("layout");
    // SAFETY: `layout` has a non-zero size; the block is never deallocated.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

// ---------------------------------------------------------------------------------------------
// The page provider + memory of slab_kmalloc.

struct PagesState {
    /// Next unused byte offset (bump pointer).
    bump: usize,
    /// Returned blocks, per order (offsets), reused LIFO.
    free: [Vec<usize>; MAX_SLAB_ORDER as usize + 1],
}

/// Naturally aligned page blocks carved from one host allocation aligned to the largest block.
/// Shared by the threads of the two-thread workloads: its own state behind a lock, the arena
/// kept as an address (exposed provenance) so that the type is `Sync` without an `unsafe impl`.
struct HostPages {
    base: usize,
    len: usize,
    state: spin::Mutex<PagesState>,
    /// Blocks handed out and not returned (end-state check).
    live_blocks: AtomicUsize,
}

impl HostPages {
    fn new(len: usize) -> Self {
        Self {
            base: leak_block(len, PAGE_SIZE << MAX_SLAB_ORDER).as_ptr().expose_provenance(),
            len,
            state: spin::Mutex::new(PagesState { bump: 0, free: core::array::from_fn(|_| Vec::new()) }),
            live_blocks: AtomicUsize::new(0),
        }
    }

    /// Pointer to `addr`, which must lie in `[base, base + len - n]` (asserted: the crate's
    /// `Memory` contract says it only touches blocks it got from us, the assert makes the
    /// raw accesses below sound even if it did not).
    #[inline(always)]
    fn ptr(&self, addr: usize, n: usize) -> *mut u8 {
        let off = addr.wrapping_sub(self.base);
        assert!(off <= self.len && n <= self.len - off, "access outside the page arena: 0x{addr:x}+{n}");
        // In bounds of the leaked allocation by the assert above, whose provenance `new`
        // exposed.
        std::ptr::with_exposed_provenance_mut::<u8>(self.base).wrapping_add(off)
    }
}

impl PageProvider for HostPages {
    fn alloc_pages(&self, order: u32) -> Option<usize> {
        let mut st = self.state.lock();
        let size = PAGE_SIZE << order;
        let off = match st.free[order as usize].pop() {
            Some(off) => off,
            None => {
                let off = st.bump.next_multiple_of(size);
                if off + size > self.len {
                    return None;
                }
                st.bump = off + size;
                off
            }
        };
        self.live_blocks.fetch_add(1, Ordering::Relaxed);
        // base is aligned to PAGE_SIZE << MAX_SLAB_ORDER and off to size: the block is
        // naturally aligned and never at address 0.
        Some(self.base + off)
    }

    fn free_pages(&self, addr: usize, order: u32) {
        let off = addr - self.base;
        assert!(off.is_multiple_of(PAGE_SIZE << order) && off < self.len);
        self.live_blocks.fetch_sub(1, Ordering::Relaxed);
        self.state.lock().free[order as usize].push(off);
    }
}

impl Memory for HostPages {
    #[inline(always)]
    fn read_word(&self, addr: usize) -> usize {
        debug_assert!(addr.is_multiple_of(WORD));
        let p = self.ptr(addr, WORD).cast::<usize>();
        // SAFETY: `p` is inside the leaked arena (asserted in `ptr`), the arena is only ever
        // accessed through raw pointers (no references to it exist), it is initialized
        // (zeroed), and the crate only reads words at `usize`-aligned addresses (the arena
        // base is page aligned), so the read is in bounds and aligned.
        unsafe { p.read() }
    }

    #[inline(always)]
    fn write_word(&self, addr: usize, v: usize) {
        debug_assert!(addr.is_multiple_of(WORD));
        let p = self.ptr(addr, WORD).cast::<usize>();
        // SAFETY: as in `read_word`: in bounds (asserted), aligned, no references alias the
        // arena; with two threads, the slab allocator reaches a word of an object or slab only
        // under the lock that owns it, so accesses to one word never race.
        unsafe { p.write(v) }
    }

    fn fill(&self, addr: usize, len: usize, byte: u8) {
        let p = self.ptr(addr, len);
        // SAFETY: `[p, p + len)` is inside the arena (asserted in `ptr`); no references alias it.
        unsafe { p.write_bytes(byte, len) }
    }

    fn check(&self, addr: usize, len: usize, byte: u8) -> Option<usize> {
        let p = self.ptr(addr, len);
        (0..len).find(|&i| {
            // SAFETY: `i < len` and `[p, p + len)` is inside the initialized arena (asserted).
            unsafe { p.add(i).read() != byte }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The allocators under test, behind one small interface.

/// An allocator under test: `&self`, the calling CPU named (slab's per-CPU array caches; the
/// heaps ignore it and lock per call), handles that may cross threads.
trait SharedAlloc {
    type H: Copy + Send;
    fn alloc(&self, cpu: usize, size: usize) -> Self::H;
    /// `h` must come from `alloc(_, size)` of this allocator and not be freed yet.
    fn free(&self, cpu: usize, h: Self::H, size: usize);
    /// Asserts the allocator holds no live object.
    fn check_empty(&self);
}

/// A heap block's address (exposed provenance), so that handles are `Send`.
#[derive(Clone, Copy)]
struct Addr(usize);

impl Addr {
    fn of(p: NonNull<u8>) -> Self {
        Self(p.as_ptr().expose_provenance())
    }
    fn ptr(self) -> NonNull<u8> {
        NonNull::new(std::ptr::with_exposed_provenance_mut(self.0)).expect("a heap block is never at 0")
    }
}

struct SlabK<'a> {
    k: Kmalloc<'a, HostPages, HostPages>,
    pages: &'a HostPages,
}

impl SharedAlloc for SlabK<'_> {
    type H = usize;
    #[inline(always)]
    fn alloc(&self, cpu: usize, size: usize) -> usize {
        match self.k.kmalloc(cpu, size, ALIGN) {
            Ok(a) => a,
            Err(e) => panic!("kmalloc({size}): {e}"),
        }
    }
    #[inline(always)]
    fn free(&self, cpu: usize, h: usize, size: usize) {
        if let Err(e) = self.k.kfree(cpu, h, size, ALIGN) {
            panic!("kfree(0x{h:x}, {size}): {e}");
        }
    }
    fn check_empty(&self) {
        self.k.validate().expect("kmalloc validate");
        assert_eq!(self.k.stats().large_live, 0, "kmalloc: large allocations live");
        for st in self.k.cache_stats() {
            assert_eq!(st.allocs, st.frees, "kmalloc: allocs != frees");
            assert_eq!(st.active_objs, st.cpu_cached, "kmalloc: objects live outside the array caches");
        }
        assert!(self.pages.live_blocks.load(Ordering::Relaxed) > 0);
    }
}

/// `buddy_system_allocator::Heap<32>` behind a spin lock taken per call (its `LockedHeap`).
struct Bsa(spin::Mutex<buddy_system_allocator::Heap<32>>);

impl Bsa {
    fn new() -> Self {
        let mem = leak_block(HEAP_BYTES, PAGE_SIZE);
        let mut h = buddy_system_allocator::Heap::<32>::empty();
        // SAFETY: `mem` is a fresh, leaked, exclusively owned block of HEAP_BYTES, valid for the
        // rest of the process; no other heap overlaps it.
        unsafe { h.init(mem.as_ptr() as usize, HEAP_BYTES) };
        Self(spin::Mutex::new(h))
    }
}

impl SharedAlloc for Bsa {
    type H = Addr;
    #[inline(always)]
    fn alloc(&self, _cpu: usize, size: usize) -> Addr {
        let layout = Layout::from_size_align(size, ALIGN).expect("layout");
        Addr::of(self.0.lock().alloc(layout).expect("buddy_system_allocator: out of memory"))
    }
    #[inline(always)]
    fn free(&self, _cpu: usize, h: Addr, size: usize) {
        let layout = Layout::from_size_align(size, ALIGN).expect("layout");
        // SAFETY: `h` came from `alloc(layout)` on this heap and is not freed yet.
        unsafe { self.0.lock().dealloc(h.ptr(), layout) };
    }
    fn check_empty(&self) {
        let h = self.0.lock();
        assert_eq!(h.stats_alloc_user(), 0, "buddy_system_allocator: bytes still allocated");
    }
}

/// `linked_list_allocator::Heap` behind a spin lock taken per call (as a firmware's global
/// allocator would share it: `LockedHeap`).
struct Lla(spin::Mutex<linked_list_allocator::Heap>);

impl Lla {
    fn new() -> Self {
        let mem = leak_block(HEAP_BYTES, PAGE_SIZE);
        let mut h = linked_list_allocator::Heap::empty();
        // SAFETY: `mem` is a fresh, leaked (so 'static), exclusively owned block of HEAP_BYTES.
        unsafe { h.init(mem.as_ptr(), HEAP_BYTES) };
        Self(spin::Mutex::new(h))
    }
}

impl SharedAlloc for Lla {
    type H = Addr;
    #[inline(always)]
    fn alloc(&self, _cpu: usize, size: usize) -> Addr {
        let layout = Layout::from_size_align(size, ALIGN).expect("layout");
        Addr::of(self.0.lock().allocate_first_fit(layout).expect("linked_list_allocator: out of memory"))
    }
    #[inline(always)]
    fn free(&self, _cpu: usize, h: Addr, size: usize) {
        let layout = Layout::from_size_align(size, ALIGN).expect("layout");
        // SAFETY: `h` came from `allocate_first_fit(layout)` on this heap and is not freed yet
        // (the trait's contract, upheld by the scripts).
        unsafe { self.0.lock().deallocate(h.ptr(), layout) }
    }
    fn check_empty(&self) {
        assert_eq!(self.0.lock().used(), 0, "linked_list_allocator: bytes still used");
    }
}

/// `talc::Talc` behind a spin lock taken per call (as its `Talck` shares it).
struct TalcA(spin::Mutex<Talc<ErrOnOom>>);

impl TalcA {
    fn new() -> Self {
        let mem = leak_block(HEAP_BYTES, PAGE_SIZE);
        let mut t = Talc::new(ErrOnOom);
        // SAFETY: `mem` is a fresh, leaked, exclusively owned block of HEAP_BYTES, valid for reads
        // and writes for the rest of the process; no other heap overlaps it.
        unsafe { t.claim(Span::from_base_size(mem.as_ptr(), HEAP_BYTES)) }.expect("talc claim");
        Self(spin::Mutex::new(t))
    }
}

impl SharedAlloc for TalcA {
    type H = Addr;
    #[inline(always)]
    fn alloc(&self, _cpu: usize, size: usize) -> Addr {
        let layout = Layout::from_size_align(size, ALIGN).expect("layout");
        // SAFETY: every size used is non-zero (8..=2048).
        Addr::of(unsafe { self.0.lock().malloc(layout) }.expect("talc: out of memory"))
    }
    #[inline(always)]
    fn free(&self, _cpu: usize, h: Addr, size: usize) {
        let layout = Layout::from_size_align(size, ALIGN).expect("layout");
        // SAFETY: `h` came from `malloc(layout)` on this Talc and is not freed yet.
        unsafe { self.0.lock().free(h.ptr(), layout) }
    }
    fn check_empty(&self) {
        // talc has no byte counter without its `counters` feature; the replay freeing every
        // allocation without an error or panic is the check.
    }
}

/// Fixed 64-byte slots, intrusive LIFO free list (slot `i`'s first word = next free index), no
/// lock: one thread's (`Cell`s, so not `Sync`; the two-thread floor gives each thread its own).
struct Floor {
    slots: Vec<[Cell<usize>; 8]>,
    head: Cell<usize>,
}

const FLOOR_NIL: usize = usize::MAX;

impl Floor {
    fn new(n: usize) -> Self {
        let slots = (0..n).map(|i| core::array::from_fn(|w| Cell::new(if w > 0 { 0 } else if i + 1 < n { i + 1 } else { FLOOR_NIL }))).collect();
        Self { slots, head: Cell::new(0) }
    }
}

impl SharedAlloc for Floor {
    type H = usize;
    #[inline(always)]
    fn alloc(&self, _cpu: usize, _size: usize) -> usize {
        let i = self.head.get();
        assert!(i != FLOOR_NIL, "floor: out of slots");
        self.head.set(self.slots[i][0].get());
        i
    }
    #[inline(always)]
    fn free(&self, _cpu: usize, i: usize, _size: usize) {
        self.slots[i][0].set(self.head.get());
        self.head.set(i);
    }
    fn check_empty(&self) {
        let mut n = 0;
        let mut i = self.head.get();
        while i != FLOOR_NIL {
            n += 1;
            i = self.slots[i][0].get();
        }
        assert_eq!(n, self.slots.len(), "floor: slots missing from the free list");
    }
}

// ---------------------------------------------------------------------------------------------
// Workloads.

#[derive(Clone, Copy)]
enum Step {
    Alloc { slot: u16, size: u32 },
    Free { slot: u16, size: u32 },
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A request size, log-uniform over 8..=2048: 2^k with k in 3..=11 uniformly, then a size
/// uniformly in (2^(k-1), 2^k] (8 for k = 3).
fn mixed_size(rng: &mut XorShift) -> u32 {
    let hi = 1usize << (3 + rng.below(9));
    let lo = (hi / 2 + 1).max(8).min(hi);
    (lo + rng.below(hi - lo + 1)) as u32
}

/// The mixed script (see the docs at the top of this file).
fn mixed_script() -> Vec<Step> {
    let mut rng = XorShift(MIXED_SEED);
    let mut free_slots: Vec<u16> = (0..MIXED_SLOTS as u16).rev().collect();
    let mut live: Vec<(u16, u32)> = Vec::new();
    let mut steps = Vec::new();
    let alloc = |rng: &mut XorShift, fs: &mut Vec<u16>, live: &mut Vec<(u16, u32)>, steps: &mut Vec<Step>| {
        let slot = fs.pop().expect("handle slots exhausted");
        let size = mixed_size(rng);
        live.push((slot, size));
        steps.push(Step::Alloc { slot, size });
    };
    let free = |i: usize, fs: &mut Vec<u16>, live: &mut Vec<(u16, u32)>, steps: &mut Vec<Step>| {
        let (slot, size) = live.swap_remove(i);
        steps.push(Step::Free { slot, size });
        fs.push(slot);
    };
    for _ in 0..MIXED_PREFILL {
        alloc(&mut rng, &mut free_slots, &mut live, &mut steps);
    }
    for _ in 0..MIXED_STEPS {
        let n = live.len();
        let do_alloc = if n <= MIXED_TARGET - MIXED_BAND {
            true
        } else if n >= MIXED_TARGET + MIXED_BAND {
            false
        } else {
            rng.next() & 1 == 0
        };
        if do_alloc {
            alloc(&mut rng, &mut free_slots, &mut live, &mut steps);
        } else {
            let i = rng.below(n);
            free(i, &mut free_slots, &mut live, &mut steps);
        }
    }
    while !live.is_empty() {
        let i = rng.below(live.len());
        free(i, &mut free_slots, &mut live, &mut steps);
    }
    steps
}

/// Replays `script` once on `a` (CPU 0); `handles` has `MIXED_SLOTS` entries.
#[inline(never)]
fn replay<A: SharedAlloc>(a: &A, script: &[Step], handles: &mut [Option<A::H>]) {
    for &step in script {
        match step {
            Step::Alloc { slot, size } => {
                handles[slot as usize] = Some(black_box(a.alloc(0, size as usize)));
            }
            Step::Free { slot, size } => {
                let h = handles[slot as usize].take().expect("script frees a live slot");
                a.free(0, h, size as usize);
            }
        }
    }
}

/// One alloc + free of `size` on `cpu`.
#[inline(always)]
fn hot_pair<A: SharedAlloc>(a: &A, cpu: usize, size: usize) {
    let h = black_box(a.alloc(cpu, black_box(size)));
    a.free(cpu, h, size);
}

fn bench_one<A: SharedAlloc>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, a: &A, work: &Work<'_>) {
    match *work {
        Work::Hot(size) => {
            for _ in 0..1000 {
                hot_pair(a, 0, size);
            }
            a.check_empty();
            g.bench_function(name, |b| b.iter(|| hot_pair(a, 0, size)));
        }
        Work::Mixed(script) => {
            let mut handles: Vec<Option<A::H>> = (0..MIXED_SLOTS).map(|_| None).collect();
            replay(a, script, &mut handles);
            a.check_empty();
            g.bench_function(name, |b| b.iter(|| replay(a, script, &mut handles)));
        }
    }
}

enum Work<'s> {
    Hot(usize),
    Mixed(&'s [Step]),
}

fn run_group(c: &mut Criterion, group: &str, work: Work<'_>, elements: u64) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(elements));
    match work {
        Work::Hot(_) => {
            g.sample_size(30).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_millis(1200));
        }
        Work::Mixed(_) => {
            g.sample_size(15)
                .sampling_mode(SamplingMode::Flat)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(3));
        }
    }

    let pages = HostPages::new(PAGES_BYTES);
    let slab = SlabK { k: Kmalloc::new(1, SlabFlags::NONE, &pages, &pages), pages: &pages };
    bench_one(&mut g, "slab_kmalloc", &slab, &work);

    bench_one(&mut g, "linked_list_allocator", &Lla::new(), &work);
    bench_one(&mut g, "talc", &TalcA::new(), &work);
    bench_one(&mut g, "buddy_system_allocator", &Bsa::new(), &work);
    bench_one(&mut g, "floor", &Floor::new(MIXED_SLOTS), &work);
    g.finish();
}

/// Threads (and slab CPUs) of the `kmalloc_64_threads` group.
const THREADS: usize = 2;
/// Size of the `kmalloc_64_threads` requests.
const THREADED_SIZE: usize = 64;

/// `{name}_1thread` and `{name}_2threads`: 64-byte hot pairs on CPU 0 alone, then on CPUs 0 and
/// 1 at once (each thread its own CPU id; the heaps share one lock), timed as the wall time
/// of the whole parallel run over all pairs of both threads.
fn threaded_pairs<A: SharedAlloc + Sync>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, a: &A) {
    let work = |cpu: usize, n: u64| {
        for _ in 0..n {
            hot_pair(a, cpu, THREADED_SIZE);
        }
    };
    work(0, 1000);
    parallel(THREADS, 2000, &work);
    a.check_empty();
    g.bench_function(format!("{name}_1thread"), |b| b.iter(|| hot_pair(a, 0, THREADED_SIZE)));
    g.bench_function(format!("{name}_2threads"), |b| b.iter_custom(|iters| parallel(THREADS, iters, &work)));
    a.check_empty();
}

/// `kmalloc_64_threads`: 64-byte alloc + free pairs on one and on two threads, slab (per-CPU
/// array caches: no shared lock on a hit) against the heaps behind one spin lock each, and the
/// floor (two threads: each its own floor, nothing shared: how much two threads can gain on
/// this machine at all).
fn threaded(c: &mut Criterion) {
    let mut g = c.benchmark_group("kmalloc_64_threads");
    g.throughput(Throughput::Elements(1));
    g.sample_size(30).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_millis(1500));
    let pages = HostPages::new(PAGES_BYTES);
    let slab = SlabK { k: Kmalloc::new(THREADS, SlabFlags::NONE, &pages, &pages), pages: &pages };
    threaded_pairs(&mut g, "slab_kmalloc", &slab);
    threaded_pairs(&mut g, "talc", &TalcA::new());
    threaded_pairs(&mut g, "linked_list_allocator", &Lla::new());
    threaded_pairs(&mut g, "buddy_system_allocator", &Bsa::new());

    let floor = Floor::new(MIXED_SLOTS);
    g.bench_function("floor_1thread", |b| b.iter(|| hot_pair(&floor, 0, THREADED_SIZE)));
    let floors: Vec<spin::Mutex<Floor>> = (0..THREADS).map(|_| spin::Mutex::new(Floor::new(MIXED_SLOTS))).collect();
    let own_floor = |t: usize, n: u64| {
        // Each thread takes its floor once and keeps it for the whole run.
        let f = floors[t].lock();
        for _ in 0..n {
            hot_pair(&*f, t, THREADED_SIZE);
        }
    };
    g.bench_function("floor_2threads", |b| b.iter_custom(|iters| parallel(THREADS, iters, &own_floor)));
    floors.iter().for_each(|f| f.lock().check_empty());
    g.finish();
}

fn benches(c: &mut Criterion) {
    for size in [16usize, 64, 256] {
        run_group(c, &format!("kmalloc_hot_{size}"), Work::Hot(size), 1);
    }
    let script = mixed_script();
    let allocs = script.iter().filter(|s| matches!(s, Step::Alloc { .. })).count();
    eprintln!("kmalloc_mixed: {} steps ({allocs} allocs), seed 0x{MIXED_SEED:x}", script.len());
    run_group(c, "kmalloc_mixed", Work::Mixed(&script), script.len() as u64);
    threaded(c);
}

criterion_group!(kmalloc, benches);
criterion_main!(kmalloc);
