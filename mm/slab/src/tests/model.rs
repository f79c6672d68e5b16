//! Reference-model property test: random alloc/free/kmalloc/kfree over several caches and CPUs
//! against a `BTreeMap` of live objects.
//!
//! Expect, after every step: no two live objects overlap, each lies inside a block the provider
//! handed out, each is aligned as asked, its contents (a per-object tag written at allocation)
//! are intact when freed, and the allocator never touched memory outside live blocks. After
//! freeing everything and shrinking: no page is still out, every counter is zero.
extern crate std;

use core::sync::atomic::{AtomicUsize, Ordering};
use std::collections::BTreeMap;
use std::vec::Vec;

use super::arena::Arena;
use super::Rng;
use crate::{CacheConfig, CacheStats, Kmalloc, KmemCache, Memory, SlabFlags};

static MODEL_CTOR_CALLS: AtomicUsize = AtomicUsize::new(0);

fn model_ctor(mem: &dyn Memory, addr: usize) {
    MODEL_CTOR_CALLS.fetch_add(1, Ordering::Relaxed);
    mem.write_word(addr, 0xc0ffee);
}

#[derive(Clone, Copy, Debug)]
enum Owner {
    Cache(usize),
    Kmalloc { size: usize, align: usize },
}

#[derive(Clone, Copy, Debug)]
struct Live {
    end: usize,
    owner: Owner,
    tag: u8,
}

const NR_CPUS: usize = 4;

fn kmalloc_request(rng: &mut Rng) -> (usize, usize) {
    let size = match rng.below(10) {
        0..=5 => 1 + rng.below(200),
        6..=8 => 1 + rng.below(9000),
        _ => 1 + rng.below(40_000),
    };
    let max_shift = if rng.below(8) == 0 { 14 } else { 5 };
    let align = 1 << rng.below(max_shift);
    (size, align)
}

fn run(seed: u64, steps: usize, kmalloc_flags: SlabFlags) {
    let mut rng = Rng::new(seed);
    let arena = Arena::new(4096);
    let caches = [
        KmemCache::new(CacheConfig::new("obj-24", 24).flags(SlabFlags::NONE), NR_CPUS, &arena, &arena),
        KmemCache::new(CacheConfig::new("dbg-200", 200).align(64).flags(SlabFlags::DEBUG), NR_CPUS, &arena, &arena),
        KmemCache::new(
            CacheConfig::new("ctor-40", 40).flags(SlabFlags::RED_ZONE).ctor(model_ctor),
            NR_CPUS,
            &arena,
            &arena,
        ),
        KmemCache::new(CacheConfig::new("big-3000", 3000).flags(SlabFlags::POISON), NR_CPUS, &arena, &arena),
    ];
    let km = Kmalloc::new(NR_CPUS, kmalloc_flags, &arena, &arena);
    let mut live: BTreeMap<usize, Live> = BTreeMap::new();

    let insert = |live: &mut BTreeMap<usize, Live>, addr: usize, size: usize, align: usize, owner: Owner, tag: u8| {
        let end = addr + size.max(1);
        assert_eq!(addr % align, 0, "{owner:?}: 0x{addr:x} not aligned to {align}");
        assert!(arena.in_live_block(addr, end - addr), "{owner:?}: 0x{addr:x}+{size} outside the provider's blocks");
        if let Some((&a, l)) = live.range(..end).next_back() {
            assert!(l.end <= addr, "{owner:?}: 0x{addr:x}..0x{end:x} overlaps 0x{a:x}..0x{:x}", l.end);
        }
        arena.fill(addr, end - addr, tag);
        live.insert(addr, Live { end, owner, tag });
    };

    for step in 0..steps {
        let cpu = rng.below(NR_CPUS);
        // Bounded live set so the arena never runs out.
        let op = if live.len() > 300 { 13 } else { rng.below(20) };
        match op {
            0..=6 => {
                let i = rng.below(caches.len());
                let addr = caches[i].alloc(cpu).unwrap_or_else(|e| panic!("step {step}: {e}"));
                let c = &caches[i];
                insert(&mut live, addr, c.object_size(), c.align(), Owner::Cache(i), rng.next() as u8);
            }
            7..=12 => {
                let (size, align) = kmalloc_request(&mut rng);
                let addr = km.kmalloc(cpu, size, align).unwrap_or_else(|e| panic!("step {step}: {e}"));
                insert(&mut live, addr, size, align, Owner::Kmalloc { size, align }, rng.next() as u8);
            }
            13..=17 if !live.is_empty() => {
                let nth = rng.below(live.len());
                let (&addr, &l) = live.iter().nth(nth).unwrap();
                assert_eq!(arena.check(addr, l.end - addr, l.tag), None, "{:?}: 0x{addr:x} contents changed", l.owner);
                live.remove(&addr);
                match l.owner {
                    Owner::Cache(i) => caches[i].free(cpu, addr),
                    Owner::Kmalloc { size, align } => km.kfree(cpu, addr, size, align),
                }
                .unwrap_or_else(|e| panic!("step {step}: {e}"));
            }
            18 => {
                caches[rng.below(caches.len())].flush_cpu(cpu);
                km.flush_cpu(cpu);
            }
            _ => {
                caches[rng.below(caches.len())].shrink();
                for c in &caches {
                    c.validate().unwrap_or_else(|e| panic!("step {step}: {e}"));
                }
                km.validate().unwrap_or_else(|e| panic!("step {step}: {e}"));
            }
        }
        assert_eq!(arena.stray(), 0, "step {step}: access outside a live block");
    }

    let all: Vec<(usize, Live)> = live.into_iter().collect();
    for (addr, l) in all {
        let cpu = rng.below(NR_CPUS);
        assert_eq!(arena.check(addr, l.end - addr, l.tag), None);
        match l.owner {
            Owner::Cache(i) => caches[i].free(cpu, addr),
            Owner::Kmalloc { size, align } => km.kfree(cpu, addr, size, align),
        }
        .unwrap();
    }
    for c in &caches {
        c.validate().unwrap();
        c.shrink();
    }
    km.shrink();
    km.validate().unwrap();
    assert_eq!(arena.pages_in_use(), 0, "seed {seed}: pages not returned");
    assert_eq!(arena.stray(), 0);
    let zero = |s: CacheStats| s.active_objs == 0 && s.num_objs == 0 && s.num_slabs == 0 && s.cpu_cached == 0 && s.errors == 0;
    for c in &caches {
        assert!(zero(c.stats()), "{}: {:?}", c.name(), c.stats());
        c.destroy().unwrap();
    }
    for s in km.cache_stats() {
        assert!(zero(s), "{s:?}");
    }
    assert_eq!(km.stats().large_live, 0);
    assert_eq!(km.stats().large_pages, 0);
}

#[test]
fn random_sequences_match_the_model() {
    for seed in 0..12 {
        run(seed, 3000, SlabFlags::NONE);
    }
}

#[test]
fn random_sequences_match_the_model_with_debug_kmalloc() {
    for seed in 100..106 {
        run(seed, 3000, SlabFlags::DEBUG);
    }
}

#[test]
fn long_random_sequence() {
    run(7777, 30_000, SlabFlags::DEFAULT);
}
