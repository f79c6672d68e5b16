//! Host benchmarks of the buddy page allocator, side by side with two references:
//!
//! - `page_alloc`: this crate (zoned buddy with `struct page` metadata, Linux 6.1 semantics).
//! - `buddy_system_allocator`: the `buddy_system_allocator` crate's `FrameAllocator::<11>`
//!   (one `BTreeSet` of free block starts per order; ORDER = 11 so its largest block is
//!   2^10 pages = 4 MiB, the same as this crate's `MAX_ORDER`).
//! - `lifo_floor`: a `Vec<u32>` stack of free frame numbers (push = free, pop = alloc). No
//!   coalescing, order 0 only: the floor any page allocator is measured against.
//!
//! Groups (criterion writes `target/criterion/<group>/<function>/new/estimates.json`):
//! - `handoff_1GiB`, `handoff_4GiB`: handing 262144 / 1048576 free frames to the allocator.
//!   page_alloc = `Node::memblock_free_all` on a freshly `free_area_init`ed node (map reset
//!   and `free_area_init` are outside the timed part); buddy_system_allocator = `add_frame`
//!   over the same free pfn ranges into a new allocator (its drop is not timed); lifo_floor =
//!   pushing every free pfn into a `Vec` whose capacity was reserved outside the timing.
//!   Throughput = pages, so criterion's per-element figure is ns per page.
//!   Layout: x86-like (`ArchConfig::X86_32`, FLATMEM): RAM `[0, size)`, nothing reserved,
//!   zones DMA < 16 MiB, Normal < 896 MiB, HighMem above (1 GiB: 128 MiB HighMem; 4 GiB:
//!   3200 MiB HighMem).
//! - `order0_hot`: one order-0 alloc immediately followed by its free, repeated. Starting
//!   from the booted state (all memory in order-10 blocks), both buddies split an order-10
//!   block down to order 0 on every alloc and merge it back on every free (page_alloc has no
//!   per-CPU lists, like the reference). Throughput = 1 element per alloc+free pair.
//! - `mixed_orders_0_3`: pre-fill half of the pages with blocks of random order 0..=3 (not
//!   timed), then time a fixed script of `MIXED_STEPS` alloc/free steps (xorshift64, fixed
//!   seed) that keeps the fill within `TARGET ± BAND` pages: alloc of a random order 0..=3 or
//!   free of a random live block. The script is generated once and is the same for all three
//!   allocators. lifo_floor serves an order-k request as 2^k single pops (and its free as 2^k
//!   pushes), i.e. it gives no contiguity. Throughput = steps, so the figure is ns per step.
//!   Each iteration restarts from a freshly booted, pre-filled allocator (not timed).
//!
//! - `order0_pcp`, `order3_pcp`: order-0 / order-3 alloc + free pairs through the per-CPU
//!   pagesets, side by side with the plain buddy under one lock, single-threaded and with two
//!   threads contending. Throughput = 1 element per alloc+free pair in every function, so the
//!   figure is ns per pair (for the two-thread functions: wall time of the whole parallel run
//!   / total pairs of both threads, i.e. the throughput cost of a pair, not one thread's
//!   latency).
//!   - `pcp_1thread`: `PageAllocator::alloc_pages(0, 0, ..)` / `free_pages(0, ..)` on CPU 0
//!     after `setup_per_cpu_pageset(2, ..)`. Once the first refill is on the list, an alloc
//!     pops its head and the free pushes it back (`count` stays below `high`): no buddy
//!     split/merge and no zone lock, only CPU 0's pageset lock and the page's atomic state
//!     (see `src/pcp.rs`, "Locking").
//!   - `pcp_2threads`: the same facade, two std threads as CPUs 0 and 1 (own pagesets, no
//!     shared lock on the fast path). `iter_custom`: the `iters` pairs are split between the
//!     threads (⌈iters/2⌉ and ⌊iters/2⌋), both start behind a barrier, and the time is from
//!     the first thread's start to the last thread's end (thread spawn/join not timed).
//!   - `buddy_1thread`: `NodeSet::alloc_pages` / `NodeSet::free_pages` on a
//!     `spin::Mutex<NodeSet>` locked once per call (split of an order-10 block on every alloc
//!     and merge on every free, as `order0_hot/page_alloc`).
//!   - `buddy_2threads`: that mutex shared by two threads, timed as `pcp_2threads`.
//!   - `buddy_system_allocator`: one thread, the `FrameAllocator` behind a `spin::Mutex`
//!     locked once per call (as a firmware would share it).
//!   - `lifo_floor`: one thread, pop + push (2^order of each), no lock.
//!   - `lifo_floor_2threads`: two threads, each with its own LIFO floor (nothing shared),
//!     timed as `pcp_2threads`: how much two threads can gain on this machine at all.
//! - `remote_free`: every order-0 page allocated on one thread and freed on the other
//!   (producer/consumer, chunks of 64 pages through a bounded channel; wall time / pages):
//!   `pcp_2threads` (CPU 0 allocates, its list refilled from the zone; CPU 1 frees, its list
//!   spilling back), `buddy_system_allocator` behind a spin lock taken per call, and the
//!   one-thread `lifo_floor`.
//!
//!   Both facades are built the NUMA way (`NodeSet::free_area_init`, `memblock_free_all`,
//!   `init_per_zone_wmark_min`, `build_all_zonelists`: one node). The pageset setup line is
//!   printed on stderr (`order0_pcp: Node 0, zone DMA: pageset batch B high H`).
//!
//! Layout for `order0_hot`, `mixed_orders_0_3`, `order0_pcp`, `order3_pcp` and `remote_free`: arm64-like (`ArchConfig::ARM64_4K`),
//! 256 MiB of RAM at 1 GiB, nothing reserved: 65536 pages, all in ZONE_DMA (one zone, so the
//! comparison with the single-pool references is like for like). page_alloc runs
//! `init_per_zone_wmark_min` first (real watermarks) and allocates with
//! `Gfp::HIGHUSER_MOVABLE`: the boot pageblocks are Movable, so no fallback/stealing happens
//! and the timing is the buddy core (watermark check, rmqueue/expand, free + merge, and the
//! double-free check in `free_pages`).
//!
//! Every result goes through `black_box`; allocations are checked (`expect`) and each
//! workload is run once before timing with its end state asserted (page counts, and
//! `Node::check` for page_alloc).
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use buddy_system_allocator::FrameAllocator;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use memblock::{Memblock, Region, INIT_MEMBLOCK_REGIONS, NUMA_NO_NODE};
use mm_types::bench::parallel;
use mm_types::{pfn_down, pfn_up, LineSink, NullSink};
use page_alloc::{
    build_all_zonelists, default_distance, free_area_init, ArchConfig, Gfp, MemMap, Node, NodeSet, Page,
    PageAllocator, PerCpuPages, PerCpuPagesets, Pfn, ZoneType, MAX_NODES, MAX_NR_ZONES,
};

const SZ_1M: u64 = 1 << 20;
const SZ_1G: u64 = 1 << 30;

/// `FrameAllocator` orders: 0..=10, largest block 4 MiB as in page-alloc.
const BSA_ORDER: usize = 11;
type Bsa = FrameAllocator<BSA_ORDER>;

// ---------------------------------------------------------------------------------------------
// Layouts

/// One RAM range, nothing reserved, and the zone limits.
struct Layout {
    config: ArchConfig,
    base: u64,
    size: u64,
    max_zone_pfn: [u64; MAX_NR_ZONES],
}

impl Layout {
    /// x86-32-like (FLATMEM): RAM `[0, size)`, DMA < 16 MiB, Normal < 896 MiB, HighMem.
    fn x86(size: u64) -> Self {
        let mut max_zone_pfn = [0; MAX_NR_ZONES];
        max_zone_pfn[ZoneType::Dma as usize] = 0x1000;
        max_zone_pfn[ZoneType::Normal as usize] = (896 * SZ_1M) >> 12;
        max_zone_pfn[ZoneType::HighMem as usize] = size >> 12;
        Self { config: ArchConfig::X86_32, base: 0, size, max_zone_pfn }
    }

    /// arm64-like (4K pages, SPARSEMEM): 256 MiB at 1 GiB, all ZONE_DMA.
    fn arm64_256m() -> Self {
        let mut max_zone_pfn = [0; MAX_NR_ZONES];
        max_zone_pfn[ZoneType::Dma as usize] = 0x10_0000;
        max_zone_pfn[ZoneType::Dma32 as usize] = 0x10_0000;
        max_zone_pfn[ZoneType::Normal as usize] = 0x5_0000;
        Self { config: ArchConfig::ARM64_4K, base: SZ_1G, size: 256 * SZ_1M, max_zone_pfn }
    }

    fn start_pfn(&self) -> u64 {
        self.base >> 12
    }

    fn nr_pages(&self) -> u64 {
        self.size >> 12
    }

    /// A map covering the RAM (the base and size are MAX_ORDER-aligned here).
    fn map_storage(&self) -> Vec<Page> {
        vec![Page::INIT; MemMap::storage_len(self.nr_pages() as usize)]
    }

    fn with_memblock<R>(&self, f: impl FnOnce(&Memblock<'_>) -> R) -> R {
        let mut mem = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut res = [Region::EMPTY; INIT_MEMBLOCK_REGIONS];
        let mut mb = Memblock::new(&mut mem, &mut res);
        mb.add(self.base, self.size).unwrap();
        f(&mb)
    }

    /// The free pfn ranges memblock_free_all walks, `[start, end)`.
    fn free_pfn_ranges(&self) -> Vec<(u64, u64)> {
        self.with_memblock(|mb| {
            mb.free_ranges(NUMA_NO_NODE).map(|(s, e, _)| (pfn_up(s), pfn_down(e))).filter(|(s, e)| s < e).collect()
        })
    }

    /// `free_area_init` over `pages` (which must be all `Page::INIT`).
    fn init<'a>(&self, pages: &'a mut [Page]) -> Node<'a> {
        self.with_memblock(|mb| {
            free_area_init(self.config, 0, self.max_zone_pfn, mb, MemMap::new(pages, self.start_pfn()), &mut NullSink)
                .unwrap()
        })
    }

    /// `free_area_init` + `memblock_free_all` + `init_per_zone_wmark_min`.
    fn boot<'a>(&self, pages: &'a mut [Page]) -> Node<'a> {
        let mut node = self.init(pages);
        let freed = self.with_memblock(|mb| node.memblock_free_all(mb));
        assert_eq!(freed, self.nr_pages());
        node.init_per_zone_wmark_min();
        node
    }

    /// The NUMA boot path with one node: `NodeSet::free_area_init` + `memblock_free_all` +
    /// `init_per_zone_wmark_min` + `build_all_zonelists`.
    fn boot_set<'a>(&self, pages: &'a mut [Page]) -> NodeSet<'a> {
        let mut maps: [Option<MemMap<'a>>; MAX_NODES] = core::array::from_fn(|_| None);
        maps[0] = Some(MemMap::new(pages, self.start_pfn()));
        let mut data: [Option<&'a mut Node<'a>>; MAX_NODES] = core::array::from_fn(|_| None);
        data[0] = Some(Box::leak(Box::new(Node::memoryless(self.config, 0))));
        let mut set = self.with_memblock(|mb| {
            NodeSet::free_area_init(self.config, self.max_zone_pfn, mb, data, maps, &mut NullSink).unwrap()
        });
        let freed = self.with_memblock(|mb| set.memblock_free_all(mb));
        assert_eq!(freed, self.nr_pages());
        set.init_per_zone_wmark_min();
        build_all_zonelists(&mut set, &default_distance, &mut NullSink);
        set
    }
}

// ---------------------------------------------------------------------------------------------
// The three allocators behind one interface (order-k blocks)

trait FrameAlloc {
    type Block: Copy;
    fn alloc(&mut self, order: u32) -> Self::Block;
    fn free(&mut self, block: Self::Block);
}

const GFP: Gfp = Gfp::HIGHUSER_MOVABLE;

impl FrameAlloc for Node<'_> {
    type Block = (Pfn, u32);
    #[inline]
    fn alloc(&mut self, order: u32) -> Self::Block {
        (self.alloc_pages(GFP, order).expect("page_alloc: allocation failed"), order)
    }
    #[inline]
    fn free(&mut self, (pfn, order): Self::Block) {
        self.free_pages(pfn, order).expect("page_alloc: free failed");
    }
}

impl FrameAlloc for Bsa {
    type Block = (usize, usize);
    #[inline]
    fn alloc(&mut self, order: u32) -> Self::Block {
        let count = 1usize << order;
        (FrameAllocator::alloc(self, count).expect("buddy_system_allocator: allocation failed"), count)
    }
    #[inline]
    fn free(&mut self, (start, count): Self::Block) {
        self.dealloc(start, count);
    }
}

/// The LIFO floor: a stack of free pfns. An order-k block is 2^k independent pops.
struct Lifo(Vec<u32>);

impl Lifo {
    /// All pages of `layout`, popped lowest pfn first.
    fn full(layout: &Layout) -> Self {
        let s = layout.start_pfn() as u32;
        Self((s..s + layout.nr_pages() as u32).rev().collect())
    }
}

impl FrameAlloc for Lifo {
    type Block = (u32, [u32; 8]);
    #[inline]
    fn alloc(&mut self, order: u32) -> Self::Block {
        let mut frames = [0u32; 8];
        for f in &mut frames[..1 << order] {
            *f = self.0.pop().expect("lifo: empty");
        }
        (order, frames)
    }
    #[inline]
    fn free(&mut self, (order, frames): Self::Block) {
        self.0.extend_from_slice(&frames[..1 << order]);
    }
}

// ---------------------------------------------------------------------------------------------
// The mixed script

const MIXED_STEPS: usize = 20_000;
const MIXED_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

#[derive(Clone, Copy)]
enum Op {
    Alloc(u32),
    /// Free the live block at this index (`swap_remove`).
    Free(usize),
}

struct Script {
    /// Orders allocated to reach half fill (not timed).
    prefill: Vec<u32>,
    /// The timed steps.
    steps: Vec<Op>,
    /// Pages allocated after the prefill and after the steps.
    fill_after_prefill: u64,
    fill_after_steps: u64,
    live_after_steps: usize,
}

struct XorShift64(u64);

impl XorShift64 {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Simulates only the page counts, so the script is the same for every allocator.
fn mixed_script(total_pages: u64) -> Script {
    let target = total_pages / 2;
    let band = total_pages / 64;
    let mut rng = XorShift64(MIXED_SEED);
    let mut live: Vec<u32> = Vec::new();
    let mut fill = 0u64;
    let mut prefill = Vec::new();
    while fill < target {
        let order = (rng.next() % 4) as u32;
        prefill.push(order);
        live.push(order);
        fill += 1 << order;
    }
    let fill_after_prefill = fill;
    let mut steps = Vec::with_capacity(MIXED_STEPS);
    for _ in 0..MIXED_STEPS {
        let r = rng.next();
        let alloc = if fill + 8 > target + band {
            false
        } else if fill < target - band || live.is_empty() {
            true
        } else {
            r & 1 == 0
        };
        if alloc {
            let order = ((r >> 1) % 4) as u32;
            steps.push(Op::Alloc(order));
            live.push(order);
            fill += 1 << order;
        } else {
            let i = ((r >> 8) % live.len() as u64) as usize;
            steps.push(Op::Free(i));
            fill -= 1 << live.swap_remove(i);
        }
    }
    Script { prefill, steps, fill_after_prefill, fill_after_steps: fill, live_after_steps: live.len() }
}

fn prefill<A: FrameAlloc>(a: &mut A, live: &mut Vec<A::Block>, orders: &[u32]) {
    live.clear();
    for &o in orders {
        let b = a.alloc(o);
        live.push(b);
    }
}

#[inline(never)]
fn run_steps<A: FrameAlloc>(a: &mut A, live: &mut Vec<A::Block>, steps: &[Op]) {
    for &op in steps {
        match op {
            Op::Alloc(o) => {
                let b = black_box(a.alloc(o));
                live.push(b);
            }
            Op::Free(i) => {
                let b = live.swap_remove(i);
                a.free(black_box(b));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Benchmarks

fn handoff(c: &mut Criterion, name: &str, size: u64, expect_pages: u64) {
    let layout = Layout::x86(size);
    let ranges = layout.free_pfn_ranges();
    let pages_total: u64 = ranges.iter().map(|(s, e)| e - s).sum();
    assert_eq!(pages_total, expect_pages);

    // Sanity, once, untimed: each allocator ends up holding every page.
    let mut pages = layout.map_storage();
    {
        let node = layout.boot(&mut pages);
        assert_eq!(node.nr_free_pages(), expect_pages);
        node.check().unwrap();
    }
    {
        let mut bsa = Bsa::new();
        for &(s, e) in &ranges {
            bsa.add_frame(s as usize, e as usize);
        }
        // Every page can be taken in 4 MiB blocks.
        for _ in 0..expect_pages / 1024 {
            bsa.alloc(1024).unwrap();
        }
        assert!(bsa.alloc(1).is_none());
    }

    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(expect_pages));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));

    g.bench_function("page_alloc", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                pages.fill(Page::INIT);
                let mut node = layout.init(&mut pages);
                let freed = layout.with_memblock(|mb| {
                    let t = Instant::now();
                    let freed = node.memblock_free_all(black_box(mb));
                    total += t.elapsed();
                    freed
                });
                assert_eq!(black_box(freed), expect_pages);
            }
            total
        })
    });

    g.bench_function("buddy_system_allocator", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut bsa = Bsa::new();
                let t = Instant::now();
                for &(s, e) in black_box(&ranges) {
                    bsa.add_frame(s as usize, e as usize);
                }
                total += t.elapsed();
                black_box(&mut bsa);
                drop(bsa);
            }
            total
        })
    });

    let mut stack: Vec<u32> = Vec::with_capacity(expect_pages as usize);
    g.bench_function("lifo_floor", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                stack.clear();
                let t = Instant::now();
                for &(s, e) in black_box(&ranges) {
                    for pfn in s as u32..e as u32 {
                        stack.push(pfn);
                    }
                }
                total += t.elapsed();
                assert_eq!(black_box(&stack).len() as u64, expect_pages);
            }
            total
        })
    });
    g.finish();
}

fn handoff_1gib(c: &mut Criterion) {
    handoff(c, "handoff_1GiB", SZ_1G, 262_144);
}

fn handoff_4gib(c: &mut Criterion) {
    handoff(c, "handoff_4GiB", 4 * SZ_1G, 1_048_576);
}

fn small_group<'c>(
    c: &'c mut Criterion,
    name: &str,
    elements: u64,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elements));
    g.sample_size(30);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g
}

fn order0_hot(c: &mut Criterion) {
    let layout = Layout::arm64_256m();
    let mut pages = layout.map_storage();
    let mut g = small_group(c, "order0_hot", 1);

    {
        let node = layout.boot(&mut pages);
        let free0 = node.nr_free_pages();
        g.bench_function("page_alloc", |b| {
            b.iter(|| {
                let p = node.alloc_pages(GFP, 0).expect("alloc");
                node.free_pages(black_box(p), 0).expect("free");
                p
            })
        });
        assert_eq!(node.nr_free_pages(), free0);
        node.check().unwrap();
    }

    let mut bsa = Bsa::new();
    bsa.add_frame(layout.start_pfn() as usize, (layout.start_pfn() + layout.nr_pages()) as usize);
    g.bench_function("buddy_system_allocator", |b| {
        b.iter(|| {
            let p = bsa.alloc(1).expect("alloc");
            bsa.dealloc(black_box(p), 1);
            p
        })
    });

    let mut lifo = Lifo::full(&layout);
    g.bench_function("lifo_floor", |b| {
        b.iter(|| {
            let p = lifo.0.pop().expect("pop");
            lifo.0.push(black_box(p));
            p
        })
    });
    assert_eq!(lifo.0.len() as u64, layout.nr_pages());
    g.finish();
}

fn mixed(c: &mut Criterion) {
    let layout = Layout::arm64_256m();
    let script = mixed_script(layout.nr_pages());
    let total = layout.nr_pages();
    let mut pages = layout.map_storage();

    // Sanity, once, untimed: every allocator runs the script to the expected fill.
    {
        pages.fill(Page::INIT);
        let mut node = layout.boot(&mut pages);
        let free0 = node.nr_free_pages();
        let mut live = Vec::new();
        prefill(&mut node, &mut live, &script.prefill);
        assert_eq!(node.nr_free_pages(), free0 - script.fill_after_prefill);
        run_steps(&mut node, &mut live, &script.steps);
        assert_eq!(live.len(), script.live_after_steps);
        assert_eq!(node.nr_free_pages(), free0 - script.fill_after_steps);
        node.check().unwrap();
    }
    {
        let mut lifo = Lifo::full(&layout);
        let mut live = Vec::new();
        prefill(&mut lifo, &mut live, &script.prefill);
        run_steps(&mut lifo, &mut live, &script.steps);
        assert_eq!(lifo.0.len() as u64, total - script.fill_after_steps);
    }

    let mut g = small_group(c, "mixed_orders_0_3", script.steps.len() as u64);
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(20);

    let mut live_pa: Vec<(Pfn, u32)> = Vec::with_capacity(total as usize);
    g.bench_function("page_alloc", |b| {
        b.iter_custom(|iters| {
            let mut t_total = Duration::ZERO;
            for _ in 0..iters {
                pages.fill(Page::INIT);
                let mut node = layout.boot(&mut pages);
                prefill(&mut node, &mut live_pa, &script.prefill);
                let t = Instant::now();
                run_steps(&mut node, &mut live_pa, &script.steps);
                t_total += t.elapsed();
                black_box(&node);
            }
            t_total
        })
    });

    let mut live_bsa: Vec<(usize, usize)> = Vec::with_capacity(total as usize);
    g.bench_function("buddy_system_allocator", |b| {
        b.iter_custom(|iters| {
            let mut t_total = Duration::ZERO;
            for _ in 0..iters {
                let mut bsa = Bsa::new();
                bsa.add_frame(layout.start_pfn() as usize, (layout.start_pfn() + total) as usize);
                prefill(&mut bsa, &mut live_bsa, &script.prefill);
                let t = Instant::now();
                run_steps(&mut bsa, &mut live_bsa, &script.steps);
                t_total += t.elapsed();
                black_box(&mut bsa);
                drop(bsa);
            }
            t_total
        })
    });

    let mut live_lifo: Vec<(u32, [u32; 8])> = Vec::with_capacity(total as usize);
    g.bench_function("lifo_floor", |b| {
        b.iter_custom(|iters| {
            let mut t_total = Duration::ZERO;
            for _ in 0..iters {
                let mut lifo = Lifo::full(&layout);
                prefill(&mut lifo, &mut live_lifo, &script.prefill);
                let t = Instant::now();
                run_steps(&mut lifo, &mut live_lifo, &script.steps);
                t_total += t.elapsed();
                black_box(&lifo);
            }
            t_total
        })
    });
    g.finish();
}

/// Prints report lines on stderr, prefixed.
struct Stderr(&'static str);

impl LineSink for Stderr {
    fn line(&mut self, args: std::fmt::Arguments<'_>) {
        eprintln!("{}: {args}", self.0);
    }
}

/// CPUs of the `order0_pcp` facade (and threads of the `_2threads` functions).
const PCP_CPUS: usize = 2;
/// Pairs of the untimed sanity run of each workload.
const SANITY_PAIRS: u64 = 20_000;

/// A facade over `layout` booted the NUMA way with `PCP_CPUS` CPUs' pagesets set up, passed
/// to `f`.
fn with_facade<R>(layout: &Layout, what: &'static str, f: impl FnOnce(&PageAllocator<'_>) -> R) -> R {
    let mut pages = layout.map_storage();
    let set = layout.boot_set(&mut pages);
    let pcp: Vec<Vec<spin::Mutex<PerCpuPages>>> = (0..PCP_CPUS)
        .map(|_| set.populated_zones().map(|(n, z)| spin::Mutex::new(PerCpuPages::boot(n, z))).collect())
        .collect();
    let refs: Vec<&PerCpuPagesets> = pcp.iter().map(Vec::as_slice).collect();
    let a = PageAllocator::new(set, &refs);
    a.setup_per_cpu_pageset(PCP_CPUS, &|_| 0, &mut Stderr(what));
    f(&a)
}

/// `order0_pcp` / `order3_pcp`: alloc + free pairs of `order` through the per-CPU pagesets,
/// side by side with the plain buddy under one lock, single-threaded and with two threads.
fn pcp_pairs(c: &mut Criterion, name: &'static str, order: u32) {
    let layout = Layout::arm64_256m();
    let total = layout.nr_pages();
    let mut g = small_group(c, name, 1);

    // Per-CPU pagesets through the facade.
    with_facade(&layout, name, |a| {
        let pair = |cpu: usize| {
            let p = a.alloc_pages(cpu, 0, GFP, order).expect("pcp: alloc");
            a.free_pages(cpu, black_box(p), order).expect("pcp: free");
            p
        };
        let work = |cpu: usize, n: u64| {
            for _ in 0..n {
                black_box(pair(cpu));
            }
        };
        let check = |what: &str| {
            a.check().unwrap();
            assert_eq!(a.nr_free_pages_including_pcp(), total, "{what}");
            for cpu in 0..PCP_CPUS {
                // The pairs were served from the CPU's list: it still holds the refill.
                let (count, batch) = a.with_pageset(cpu, 0, ZoneType::Dma, |p| (p.count(), p.batch()));
                let refill = (batch >> order).max(2) << order;
                assert!(count > 0 && count <= refill, "{what}: cpu {cpu} count {count} refill {refill}");
            }
        };
        // Sanity, untimed: both CPUs' lists in use, nothing lost.
        work(0, SANITY_PAIRS);
        parallel(PCP_CPUS, 2 * SANITY_PAIRS, &work);
        check("pcp sanity");

        g.bench_function("pcp_1thread", |b| b.iter(|| pair(0)));
        g.bench_function("pcp_2threads", |b| b.iter_custom(|iters| parallel(PCP_CPUS, iters, &work)));
        check("pcp after");
        a.drain_all();
        a.check().unwrap();
        assert_eq!(a.with_nodes(|s| (s.nr_free_pages(), s.nr_pcp_pages())), (total, 0));
    });

    // The buddy lists only, one spin lock around the node set.
    {
        let mut pages = layout.map_storage();
        let set = spin::Mutex::new(layout.boot_set(&mut pages));
        let pair = || {
            let p = set.lock().alloc_pages(0, GFP, order).expect("buddy: alloc");
            set.lock().free_pages(black_box(p), order).expect("buddy: free");
            p
        };
        let work = |_: usize, n: u64| {
            for _ in 0..n {
                black_box(pair());
            }
        };
        let check = |what: &str| {
            let s = set.lock();
            s.check().unwrap();
            assert_eq!((s.nr_free_pages(), s.nr_pcp_pages()), (total, 0), "{what}");
        };
        work(0, SANITY_PAIRS);
        parallel(PCP_CPUS, 2 * SANITY_PAIRS, &work);
        check("buddy sanity");

        g.bench_function("buddy_1thread", |b| b.iter(pair));
        g.bench_function("buddy_2threads", |b| b.iter_custom(|iters| parallel(PCP_CPUS, iters, &work)));
        check("buddy after");
    }

    let mut bsa = Bsa::new();
    bsa.add_frame(layout.start_pfn() as usize, (layout.start_pfn() + total) as usize);
    let bsa = spin::Mutex::new(bsa);
    g.bench_function("buddy_system_allocator", |b| {
        b.iter(|| {
            let p = FrameAlloc::alloc(&mut *bsa.lock(), order);
            FrameAlloc::free(&mut *bsa.lock(), black_box(p));
            p
        })
    });
    {
        // Nothing lost: every page can be taken in 4 MiB blocks.
        let mut bsa = bsa.lock();
        for _ in 0..total / 1024 {
            FrameAllocator::alloc(&mut *bsa, 1024).expect("bsa: pages lost");
        }
        assert!(FrameAllocator::alloc(&mut *bsa, 1).is_none());
    }

    let mut lifo = Lifo::full(&layout);
    g.bench_function("lifo_floor", |b| {
        b.iter(|| {
            let p = lifo.alloc(order);
            lifo.free(black_box(p));
            p
        })
    });
    assert_eq!(lifo.0.len() as u64, total);

    // The machine's own scaling: two threads, each with a LIFO floor of its own (nothing
    // shared), timed as `pcp_2threads`. Its ratio to `lifo_floor` is the most two threads can
    // give here (both host cores free, no frequency change), whatever the allocator.
    let halves: Vec<spin::Mutex<Lifo>> = (0..PCP_CPUS).map(|_| spin::Mutex::new(Lifo::full(&layout))).collect();
    let own_lifo = |t: usize, n: u64| {
        // Each thread takes its stack once and keeps it for the whole run.
        let mut lifo = halves[t].lock();
        for _ in 0..n {
            let p = lifo.alloc(order);
            lifo.free(black_box(p));
        }
    };
    g.bench_function("lifo_floor_2threads", |b| b.iter_custom(|iters| parallel(PCP_CPUS, iters, &own_lifo)));
    assert!(halves.iter().all(|l| l.lock().0.len() as u64 == total));
    g.finish();
}

fn order0_pcp(c: &mut Criterion) {
    pcp_pairs(c, "order0_pcp", 0);
}

fn order3_pcp(c: &mut Criterion) {
    pcp_pairs(c, "order3_pcp", 3);
}

/// Blocks handed from the allocating thread to the freeing thread at a time.
const REMOTE_CHUNK: usize = 64;

/// Producer/consumer over two threads: thread 0 allocates `iters` blocks with `alloc` and
/// hands them over in chunks of [`REMOTE_CHUNK`] (a bounded channel, at most 6 chunks in
/// flight); thread 1 frees each with `free`. Returns the wall time from the earlier start to
/// the later end.
fn remote_run<B: Send>(iters: u64, alloc: &(dyn Fn() -> B + Sync), free: &(dyn Fn(B) + Sync)) -> Duration {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<B>>(4);
    let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Vec<B>>(8);
    for _ in 0..6 {
        back_tx.send(Vec::with_capacity(REMOTE_CHUNK)).unwrap();
    }
    let barrier = Barrier::new(2);
    let (p, c) = std::thread::scope(|s| {
        let barrier = &barrier;
        let producer = s.spawn(move || {
            barrier.wait();
            let t0 = Instant::now();
            let mut left = iters;
            while left > 0 {
                let mut v = back_rx.recv().unwrap();
                let n = left.min(REMOTE_CHUNK as u64);
                for _ in 0..n {
                    v.push(alloc());
                }
                tx.send(v).unwrap();
                left -= n;
            }
            drop(tx);
            (t0, Instant::now())
        });
        let consumer = s.spawn(move || {
            barrier.wait();
            let t0 = Instant::now();
            for mut v in rx.iter() {
                for b in v.drain(..) {
                    free(b);
                }
                let _ = back_tx.send(v);
            }
            (t0, Instant::now())
        });
        (producer.join().unwrap(), consumer.join().unwrap())
    });
    p.1.max(c.1) - p.0.min(c.0)
}

/// `remote_free`: every order-0 page is allocated on one CPU and freed on the other (a
/// producer/consumer pair, [`remote_run`]): through the per-CPU pagesets (CPU 0's list is
/// refilled from the zone, CPU 1's spills back to it, `batch` pages per zone lock), and with
/// `buddy_system_allocator` behind a spin lock taken per call; the LIFO floor is one thread's
/// pop + push. Throughput = 1 element per page allocated and freed.
fn remote_free(c: &mut Criterion) {
    let layout = Layout::arm64_256m();
    let total = layout.nr_pages();
    let mut g = small_group(c, "remote_free", 1);
    with_facade(&layout, "remote_free", |a| {
        let alloc = || a.alloc_pages(0, 0, GFP, 0).expect("pcp: alloc");
        let free = |p: Pfn| a.free_pages(1, black_box(p), 0).expect("pcp: free");
        remote_run(SANITY_PAIRS, &alloc, &free);
        a.check().unwrap();
        assert_eq!(a.nr_free_pages_including_pcp(), total);
        assert!(a.with_pageset(1, 0, ZoneType::Dma, |p| p.count()) > 0, "remote frees land on CPU 1's list");
        g.bench_function("pcp_2threads", |b| b.iter_custom(|iters| remote_run(iters, &alloc, &free)));
        a.drain_all();
        a.check().unwrap();
        assert_eq!(a.with_nodes(|s| (s.nr_free_pages(), s.nr_pcp_pages())), (total, 0));
    });
    let mut bsa = Bsa::new();
    bsa.add_frame(layout.start_pfn() as usize, (layout.start_pfn() + total) as usize);
    let bsa = spin::Mutex::new(bsa);
    let alloc = || FrameAlloc::alloc(&mut *bsa.lock(), 0);
    let free = |p| FrameAlloc::free(&mut *bsa.lock(), black_box(p));
    g.bench_function("buddy_system_allocator", |b| b.iter_custom(|iters| remote_run(iters, &alloc, &free)));
    let mut lifo = Lifo::full(&layout);
    g.bench_function("lifo_floor", |b| {
        b.iter(|| {
            let p = lifo.0.pop().expect("pop");
            lifo.0.push(black_box(p));
            p
        })
    });
    assert_eq!(lifo.0.len() as u64, total);
    g.finish();
}

criterion_group!(benches, handoff_1gib, handoff_4gib, order0_hot, mixed, order0_pcp, order3_pcp, remote_free);
criterion_main!(benches);
