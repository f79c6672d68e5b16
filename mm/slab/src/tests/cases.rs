//! One case per behaviour, each with the expectation in its doc line.
extern crate std;

use core::sync::atomic::{AtomicUsize, Ordering};
use std::vec::Vec;

use super::arena::Arena;
use super::Lines;
use crate::{
    kmalloc_index, CacheConfig, Kmalloc, KmemCache, Memory, RedZoneSide, SlabError, SlabFlags, PAGE_SIZE,
    POISON_END, POISON_FREE, RED_ACTIVE,
};

/// The O(1) lookup (size table, `fls`, the alignment step) picks what a linear scan of the
/// classes picks (the first class big enough and aligned enough), for every size up to past
/// the largest class and every power-of-two alignment up to past the largest class.
#[test]
fn kmalloc_index_is_the_first_fitting_class() {
    let linear = |size: usize, align: usize| {
        let size = size.max(1);
        crate::KMALLOC_SIZES.iter().position(|&(_, s, a)| s >= size && a >= align)
    };
    for size in 0..=9000 {
        for shift in 0..=15 {
            let align = 1usize << shift;
            assert_eq!(kmalloc_index(size, align), linear(size, align), "size {size}, align {align}");
        }
    }
}

/// Expect: Linux's classes, with `Layout` alignment pushing a request to a bigger class and
/// anything over 8 KiB (or over-aligned) to the page provider.
#[test]
fn kmalloc_classes_follow_linux() {
    let name = |s, a| kmalloc_index(s, a).map(|i| crate::KMALLOC_SIZES[i].0);
    assert_eq!(name(0, 1), Some("kmalloc-8"));
    assert_eq!(name(8, 8), Some("kmalloc-8"));
    assert_eq!(name(9, 1), Some("kmalloc-16"));
    assert_eq!(name(65, 8), Some("kmalloc-96"));
    assert_eq!(name(65, 64), Some("kmalloc-128"));
    assert_eq!(name(129, 8), Some("kmalloc-192"));
    assert_eq!(name(193, 8), Some("kmalloc-256"));
    assert_eq!(name(1000, 8), Some("kmalloc-1k"));
    assert_eq!(name(8192, 8), Some("kmalloc-8k"));
    assert_eq!(name(8, 8192), Some("kmalloc-8k"));
    assert_eq!(name(8193, 8), None);
    assert_eq!(name(8, 16384), None);

    let arena = Arena::new(256);
    let km = Kmalloc::new(1, SlabFlags::NONE, &arena, &arena);
    let big = km.kmalloc(0, 20_000, 8).unwrap();
    assert_eq!(big % (8 * PAGE_SIZE), 0, "order-3 block, naturally aligned");
    assert_eq!(km.stats().large_pages, 8);
    let aligned = km.kmalloc(0, 16, 16384).unwrap();
    assert_eq!(aligned % 16384, 0);
    km.kfree(0, big, 20_000, 8).unwrap();
    km.kfree(0, aligned, 16, 16384).unwrap();
    assert_eq!(km.stats().large_live, 0);
    assert_eq!(arena.pages_in_use(), 0);
}

static CTOR_CALLS: AtomicUsize = AtomicUsize::new(0);

fn counting_ctor(mem: &dyn Memory, addr: usize) {
    CTOR_CALLS.fetch_add(1, Ordering::Relaxed);
    mem.write_word(addr, 0xc0ffee);
}

/// Expect: the constructor runs once per object slot when its slab is created, not on every
/// allocation, and constructed state survives free and reallocation.
#[test]
fn constructor_runs_once_per_object() {
    let arena = Arena::new(64);
    let c = KmemCache::new(CacheConfig::new("ctor-48", 48).ctor(counting_ctor), 2, &arena, &arena);
    let objs: Vec<usize> = (0..200).map(|i| c.alloc(i % 2).unwrap()).collect();
    let grown = c.stats().slabs_grown as usize;
    assert!(grown >= 2);
    assert_eq!(CTOR_CALLS.load(Ordering::Relaxed), grown * c.objs_per_slab());
    for &o in &objs {
        assert_eq!(arena.read_word(o), 0xc0ffee);
        c.free(0, o).unwrap();
    }
    // Same CPU as the frees, so every object is found again without a new slab.
    let again: Vec<usize> = (0..200).map(|_| c.alloc(0).unwrap()).collect();
    assert_eq!(c.stats().slabs_grown as usize, grown);
    assert_eq!(CTOR_CALLS.load(Ordering::Relaxed), grown * c.objs_per_slab(), "no new slab, no new ctor call");
    for &o in &again {
        assert_eq!(arena.read_word(o), 0xc0ffee, "free list pointer kept out of constructed objects");
        c.free(1, o).unwrap();
    }
    c.destroy().unwrap();
    assert_eq!(arena.pages_in_use(), 0);
}

/// Expect: `destroy` with a live object fails naming the count and leaves the cache usable;
/// after the free it succeeds, returns every page, and later calls fail.
#[test]
fn destroy_with_live_objects_is_refused() {
    let arena = Arena::new(16);
    let c = KmemCache::new(CacheConfig::new("busy", 100), 1, &arena, &arena);
    let a = c.alloc(0).unwrap();
    let b = c.alloc(0).unwrap();
    c.free(0, b).unwrap();
    assert_eq!(c.destroy(), Err(SlabError::Busy { cache: "busy", live: 1 }));
    assert_eq!(c.stats().cpu_cached, 0, "destroy flushed the array caches");
    c.free(0, a).unwrap();
    assert_eq!(c.destroy(), Ok(()));
    assert_eq!(arena.pages_in_use(), 0);
    assert_eq!(c.alloc(0), Err(SlabError::Destroyed { cache: "busy" }));
    assert_eq!(c.destroy(), Err(SlabError::Destroyed { cache: "busy" }));
}

/// Expect: a write one byte past the object is reported at free as a right red-zone
/// overwrite naming the cache, the object and offset `size`; the object is not reused.
///
/// ```text
/// | left rz 0xcc | object (30 bytes) | X 0xcc | free ptr |
///                                     ^ poke at object + 30
/// ```
#[test]
fn write_past_end_is_reported() {
    let arena = Arena::new(16);
    let c = KmemCache::new(CacheConfig::new("rz-30", 30).flags(SlabFlags::DEBUG), 1, &arena, &arena);
    let a = c.alloc(0).unwrap();
    assert_eq!(arena.peek(a + 30), RED_ACTIVE);
    arena.poke(a + 30, 0);
    let e = c.free(0, a).unwrap_err();
    assert_eq!(e, SlabError::RedZone { cache: "rz-30", addr: a, side: RedZoneSide::Right, offset: 30 });
    assert_eq!(std::format!("{e}"), std::format!("rz-30: object 0x{a:x}: right redzone overwritten at offset 30"));
    assert_eq!(c.stats().errors, 1);
    assert_eq!(c.destroy(), Err(SlabError::Busy { cache: "rz-30", live: 1 }), "the damaged object is leaked");
}

/// Expect: a write one byte before the object is a left red-zone overwrite at offset -1.
#[test]
fn write_before_start_is_reported() {
    let arena = Arena::new(16);
    let c = KmemCache::new(CacheConfig::new("rz-64", 64).flags(SlabFlags::RED_ZONE), 1, &arena, &arena);
    let a = c.alloc(0).unwrap();
    arena.poke(a - 1, 0x41);
    assert_eq!(c.free(0, a), Err(SlabError::RedZone { cache: "rz-64", addr: a, side: RedZoneSide::Left, offset: -1 }));
}

/// Expect: a second free is a double free in every configuration that can see it: red zones
/// (0xbb after the first free), poison alone (the object is still poisoned), and no debug
/// (the object is still on top of the CPU's array).
#[test]
fn double_free_is_reported() {
    let arena = Arena::new(64);
    for (name, flags) in [("df-dbg", SlabFlags::DEBUG), ("df-poison", SlabFlags::POISON), ("df-none", SlabFlags::NONE)] {
        let c = KmemCache::new(CacheConfig::new(name, 40).flags(flags), 2, &arena, &arena);
        let a = c.alloc(0).unwrap();
        c.free(0, a).unwrap();
        assert_eq!(c.free(0, a), Err(SlabError::DoubleFree { cache: name, addr: a }), "{name}");
        if flags != SlabFlags::NONE {
            // Caught even when the first free went to another CPU's array, or back to the slab.
            c.flush_cpu(0);
            assert_eq!(c.free(1, a), Err(SlabError::DoubleFree { cache: name, addr: a }), "{name}");
        }
        c.destroy().unwrap();
    }
    assert_eq!(arena.pages_in_use(), 0);
}

/// Expect: a write into a freed, poisoned object is reported when the object would be handed
/// out again, with the offset of the damage.
#[test]
fn use_after_free_is_reported_by_poison() {
    let arena = Arena::new(16);
    let c = KmemCache::new(CacheConfig::new("uaf-32", 32).flags(SlabFlags::POISON), 1, &arena, &arena);
    let a = c.alloc(0).unwrap();
    c.free(0, a).unwrap();
    assert_eq!(arena.peek(a), POISON_FREE);
    assert_eq!(arena.peek(a + 31), POISON_END);
    arena.poke(a + 3, 0);
    assert_eq!(c.alloc(0), Err(SlabError::Poison { cache: "uaf-32", addr: a, offset: 3 }));
    let b = c.alloc(0).unwrap();
    assert_ne!(a, b);
}

/// Expect: a free of an address inside an object, of another cache's object, or a `kfree` with
/// the wrong layout is refused as invalid and changes nothing.
#[test]
fn invalid_free_is_refused() {
    let arena = Arena::new(64);
    let c = KmemCache::new(CacheConfig::new("inv-64", 64), 1, &arena, &arena);
    let d = KmemCache::new(CacheConfig::new("other-64", 64), 1, &arena, &arena);
    let a = c.alloc(0).unwrap();
    let b = d.alloc(0).unwrap();
    assert_eq!(c.free(0, a + 8), Err(SlabError::InvalidFree { cache: "inv-64", addr: a + 8 }));
    assert_eq!(c.free(0, b), Err(SlabError::InvalidFree { cache: "inv-64", addr: b }));
    assert_eq!(c.free(0, 0), Err(SlabError::InvalidFree { cache: "inv-64", addr: 0 }));
    let km = Kmalloc::new(1, SlabFlags::NONE, &arena, &arena);
    let k = km.kmalloc(0, 100, 8).unwrap();
    assert_eq!(km.kfree(0, k, 8, 8), Err(SlabError::InvalidFree { cache: "kmalloc-8", addr: k }));
    km.kfree(0, k, 100, 8).unwrap();
    c.free(0, a).unwrap();
    d.free(0, b).unwrap();
    assert_eq!(arena.stray(), 0);
}

/// Expect: when the provider runs dry, allocation fails with the requested size, never a
/// panic or a hang, and works again once memory is freed.
#[test]
fn out_of_memory_returns_the_size() {
    let arena = Arena::with_limit(64, 2);
    let c = KmemCache::new(CacheConfig::new("oom-1000", 1000).flags(SlabFlags::NONE), 1, &arena, &arena);
    let mut objs = Vec::new();
    let err = loop {
        match c.alloc(0) {
            Ok(a) => objs.push(a),
            Err(e) => break e,
        }
    };
    assert_eq!(err, SlabError::OutOfMemory { cache: "oom-1000", size: 1000 });
    assert_eq!(objs.len(), (2 >> c.order()) * c.objs_per_slab());
    let km = Kmalloc::new(1, SlabFlags::NONE, &arena, &arena);
    assert_eq!(km.kmalloc(0, 24, 8), Err(SlabError::OutOfMemory { cache: "kmalloc-32", size: 24 }));
    assert_eq!(km.kmalloc(0, 10_000, 8), Err(SlabError::OutOfMemory { cache: "kmalloc-large", size: 10_000 }));
    assert_eq!(km.kmalloc(0, usize::MAX, 8), Err(SlabError::OutOfMemory { cache: "kmalloc-large", size: usize::MAX }));
    c.free(0, objs.pop().unwrap()).unwrap();
    assert!(c.alloc(0).is_ok());
}

/// Expect: bad layouts and CPUs are errors, not panics.
#[test]
fn bad_requests_are_errors() {
    let arena = Arena::new(16);
    let cfg = CacheConfig::new("bad", 0);
    assert!(matches!(KmemCache::try_new(cfg, 1, &arena, &arena), Err(SlabError::BadLayout { size: 0, .. })));
    let cfg = CacheConfig::new("bad", 8).align(3);
    assert!(matches!(KmemCache::try_new(cfg, 1, &arena, &arena), Err(SlabError::BadLayout { align: 3, .. })));
    let cfg = CacheConfig::new("bad", 8);
    assert!(matches!(KmemCache::try_new(cfg, 0, &arena, &arena), Err(SlabError::BadCpu { .. })));
    assert!(matches!(KmemCache::try_new(cfg, 9, &arena, &arena), Err(SlabError::BadCpu { .. })));
    let c = KmemCache::new(cfg, 2, &arena, &arena);
    assert_eq!(c.alloc(2), Err(SlabError::BadCpu { cache: "bad", cpu: 2 }));
    let km = Kmalloc::new(1, SlabFlags::NONE, &arena, &arena);
    assert_eq!(km.kmalloc(0, 8, 3), Err(SlabError::BadLayout { cache: "kmalloc", size: 8, align: 3 }));
}

/// Expect: an allocation refills `batchcount` objects into the CPU's array, a free to a full
/// array flushes `batchcount` of them, and empty slabs beyond two go back to the provider.
#[test]
fn array_caches_refill_and_flush_in_batches() {
    let arena = Arena::new(256);
    let c = KmemCache::new(CacheConfig::new("batch-512", 512).flags(SlabFlags::NONE), 2, &arena, &arena);
    let (limit, batch) = c.tunables();
    assert_eq!((limit, batch), (54, 27));
    let a = c.alloc(0).unwrap();
    let s = c.stats();
    assert_eq!((s.refills, s.active_objs, s.cpu_cached), (1, batch, batch - 1));
    let objs: Vec<usize> = (0..200).map(|_| c.alloc(1).unwrap()).collect();
    for &o in &objs {
        c.free(0, o).unwrap();
    }
    let s = c.stats();
    assert!(s.flushes > 0);
    assert!(s.cpu_cached <= 2 * limit);
    c.free(1, a).unwrap();
    c.flush_cpu(0);
    c.flush_cpu(1);
    let s = c.stats();
    assert_eq!((s.active_objs, s.cpu_cached, s.empty_slabs), (0, 0, crate::MAX_EMPTY_SLABS));
    assert_eq!(c.shrink(), crate::MAX_EMPTY_SLABS);
    assert_eq!(arena.pages_in_use(), 0);
}

/// Expect: `/proc/slabinfo` 2.1 header and lines, byte for byte (64-bit geometry).
#[cfg(target_pointer_width = "64")]
#[test]
fn slabinfo_lines_are_exact() {
    let arena = Arena::new(64);
    let c = KmemCache::new(CacheConfig::new("test-64", 64).flags(SlabFlags::NONE), 1, &arena, &arena);
    let objs: Vec<usize> = (0..3).map(|_| c.alloc(0).unwrap()).collect();
    let mut out = Lines::default();
    crate::slabinfo_header(&mut out);
    c.slabinfo_line(&mut out);
    for o in objs {
        c.free(0, o).unwrap();
    }
    c.shrink();
    c.slabinfo_line(&mut out);
    let km = Kmalloc::new(1, SlabFlags::NONE, &arena, &arena);
    let k = km.kmalloc(0, 5000, 8).unwrap();
    km.slabinfo(&mut out);
    km.kfree(0, k, 5000, 8).unwrap();
    let expect = [
        "slabinfo - version: 2.1",
        "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>",
        "test-64               60     63     64   63    1 : tunables  120   60    0 : slabdata      1      1      0",
        "test-64                0      0     64   63    1 : tunables  120   60    0 : slabdata      0      0      0",
        "slabinfo - version: 2.1",
        "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>",
        // A refill takes `batchcount` (4) objects: two slabs of three.
        "kmalloc-8k             4      6   8192    3    8 : tunables    8    4    0 : slabdata      2      2      0",
        "kmalloc-4k             0      0   4096    7    8 : tunables   24   12    0 : slabdata      0      0      0",
    ];
    assert_eq!(&out.0[..expect.len()], &expect[..]);
    assert_eq!(out.0.len(), 6 + 13);
    assert!(out.0.last().unwrap().starts_with("kmalloc-8   "));
}

/// Expect: the debug layout matches SLUB's: a left red zone of one word, a right red zone to the
/// next word, the free pointer after it, the slot a multiple of the alignment.
#[cfg(target_pointer_width = "64")]
#[test]
fn debug_geometry_matches_slub() {
    let arena = Arena::new(16);
    let c = KmemCache::new(CacheConfig::new("geo-30", 30).flags(SlabFlags::DEBUG), 1, &arena, &arena);
    // 8 (left rz) + 30 + 2 (right rz) + 8 (free pointer) = 48.
    assert_eq!((c.size(), c.objs_per_slab(), c.order()), (48, 84, 0));
    let c = KmemCache::new(CacheConfig::new("geo-32", 32).flags(SlabFlags::RED_ZONE), 1, &arena, &arena);
    // 8 + 32 + 8 (a whole word of right red zone), free pointer inside the object.
    assert_eq!(c.size(), 48);
    let c = KmemCache::new(CacheConfig::new("geo-8", 8).flags(SlabFlags::NONE), 1, &arena, &arena);
    assert_eq!((c.size(), c.objs_per_slab(), c.order()), (8, 505, 0));
}
