//! Real threads: four std threads, one per CPU id, allocating and freeing concurrently through
//! one cache and the kmalloc classes, each object tagged and checked.
//!
//! Expect: no object handed to two threads at once (contents stay intact), objects freed on
//! another CPU than they were allocated on are accepted, and after everything is freed and
//! shrunk every page is back and the bookkeeping validates.
extern crate std;

use std::sync::Mutex;
use std::vec::Vec;

use super::arena::Arena;
use super::Rng;
use crate::{CacheConfig, Kmalloc, KmemCache, Memory, SlabFlags};

const THREADS: usize = 4;

#[test]
fn four_threads_share_caches() {
    let arena = Arena::new(8192);
    let cache = KmemCache::new(CacheConfig::new("thr-72", 72).flags(SlabFlags::DEBUG), THREADS, &arena, &arena);
    let km = Kmalloc::new(THREADS, SlabFlags::DEFAULT, &arena, &arena);
    // Objects handed from one thread to another, so frees cross CPUs.
    let exchange: Mutex<Vec<(usize, usize, u8)>> = Mutex::new(Vec::new());

    std::thread::scope(|s| {
        for cpu in 0..THREADS {
            let (arena, cache, km, exchange) = (&arena, &cache, &km, &exchange);
            s.spawn(move || {
                let mut rng = Rng::new(cpu as u64 + 1);
                // (addr, size or 0 for the cache, tag)
                let mut mine: Vec<(usize, usize, u8)> = Vec::new();
                for _ in 0..20_000 {
                    match rng.below(6) {
                        0 | 1 if mine.len() < 500 => {
                            let tag = rng.next() as u8;
                            let (addr, size) = if rng.below(2) == 0 {
                                (cache.alloc(cpu).unwrap(), 0)
                            } else {
                                let size = 1 + rng.below(3000);
                                (km.kmalloc(cpu, size, 8).unwrap(), size)
                            };
                            arena.fill(addr, if size == 0 { 72 } else { size }, tag);
                            mine.push((addr, size, tag));
                        }
                        2 if !mine.is_empty() => {
                            let o = mine.swap_remove(rng.below(mine.len()));
                            exchange.lock().unwrap().push(o);
                        }
                        3 => {
                            let o = exchange.lock().unwrap().pop();
                            if let Some(o) = o {
                                mine.push(o);
                            }
                        }
                        _ if !mine.is_empty() => {
                            let (addr, size, tag) = mine.swap_remove(rng.below(mine.len()));
                            let len = if size == 0 { 72 } else { size };
                            assert_eq!(arena.check(addr, len, tag), None, "cpu {cpu}: 0x{addr:x} changed under us");
                            if size == 0 {
                                cache.free(cpu, addr).unwrap();
                            } else {
                                km.kfree(cpu, addr, size, 8).unwrap();
                            }
                        }
                        _ => {}
                    }
                }
                for (addr, size, tag) in mine {
                    let len = if size == 0 { 72 } else { size };
                    assert_eq!(arena.check(addr, len, tag), None);
                    if size == 0 {
                        cache.free(cpu, addr).unwrap();
                    } else {
                        km.kfree(cpu, addr, size, 8).unwrap();
                    }
                }
            });
        }
    });
    for (addr, size, _) in exchange.into_inner().unwrap() {
        if size == 0 {
            cache.free(0, addr).unwrap();
        } else {
            km.kfree(0, addr, size, 8).unwrap();
        }
    }
    cache.validate().unwrap();
    km.validate().unwrap();
    cache.destroy().unwrap();
    km.shrink();
    assert_eq!(arena.pages_in_use(), 0);
    assert_eq!(arena.stray(), 0);
    assert_eq!(cache.stats().errors, 0);
}
