//! Randomized alloc/free sequences against a reference model.
//!
//! Model: the set of pfns handed to the buddy allocator (`managed`), and a map of the blocks
//! allocated `(pfn -> (order, highest zone))`. After every step: `check()` passes; the
//! allocator's free count equals `managed - allocated pages`; a new block lies in managed
//! memory, in an allowed zone, and overlaps no allocated block. Bad frees (double frees,
//! wrong orders, reserved pages, random pfns) are refused and change nothing. At the end,
//! after freeing everything, the free lists are exactly those after boot (all merged back).
use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::{Gfp, Migratetype, Pfn, MAX_ORDER};

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A 40 MiB PC: holes at pfn 0 and 0x9f..0x100, reserved kernel, DMA and Normal.
fn machine() -> Machine {
    Machine {
        config: ArchConfig::X86_32,
        memory: vec![(0x1000, 0x9e000), (SZ_1M, 39 * SZ_1M)],
        reserved: vec![(0, 0x1000), (0x9f000, 0x124038 - 0x9f000), (0x180_0000, 0x3000)],
        max_zone_pfn: zone_limits(&[(ZoneType::Dma, 0x1000), (ZoneType::Normal, 0x2800), (ZoneType::HighMem, 0x2800)]),
    }
}

fn run(seed: u64, steps: usize) {
    let m = machine();
    let (mut pages, start) = m.map_storage();
    let (node, freed) = m.boot(&mut pages, start, &mut Lines::default());
    let managed: BTreeSet<u64> = (0..0x2800u64).filter(|&p| node.page_reserved(p) == Some(false)).collect();
    assert_eq!(managed.len() as u64, freed);
    let boot_state: Vec<_> = [ZoneType::Dma, ZoneType::Normal].iter().map(|&z| nr_free(&node, z)).collect();
    let mut allocated: BTreeMap<u64, u32> = BTreeMap::new();
    let mut allocated_pages = 0u64;
    let mut rng = Rng(seed | 1);
    let gfps = [Gfp::KERNEL, Gfp::DMA, Gfp::HIGHUSER_MOVABLE, Gfp::RECLAIMABLE, Gfp::ATOMIC, Gfp::KERNEL.nofail()];

    for step in 0..steps {
        let r = rng.below(100);
        if r < 55 || allocated.is_empty() {
            // Mostly small orders, sometimes large.
            let order = if rng.below(4) == 0 { rng.below(u64::from(MAX_ORDER)) as u32 } else { rng.below(4) as u32 };
            let gfp = gfps[rng.below(gfps.len() as u64) as usize];
            let free_before = node.nr_free_pages();
            match node.alloc_pages(gfp, order) {
                Ok(Pfn(p)) => {
                    let n = 1u64 << order;
                    assert_eq!(p % n, 0, "step {step}: misaligned block");
                    let zone = node.zone_of(p).unwrap();
                    assert!(zone <= gfp.highest_zone, "step {step}: zone {zone:?} not allowed");
                    for q in p..p + n {
                        assert!(managed.contains(&q), "step {step}: pfn {q:#x} not managed");
                    }
                    if let Some((&prev, &po)) = allocated.range(..p + n).next_back() {
                        assert!(prev + (1 << po) <= p, "step {step}: overlaps block at {prev:#x}");
                    }
                    allocated.insert(p, order);
                    allocated_pages += n;
                    assert_eq!(node.nr_free_pages(), free_before - n);
                }
                Err(_) => assert_eq!(node.nr_free_pages(), free_before, "step {step}: failed alloc changed state"),
            }
        } else if r < 95 {
            let i = rng.below(allocated.len() as u64) as usize;
            let (&p, &o) = allocated.iter().nth(i).unwrap();
            node.free_pages(Pfn(p), o).unwrap();
            allocated.remove(&p);
            allocated_pages -= 1 << o;
        } else {
            // A bad free: a random pfn and order, or a double free of something just freed.
            let p = rng.below(0x3000);
            let o = rng.below(u64::from(MAX_ORDER) + 1) as u32;
            let before = node.nr_free_pages();
            if allocated.get(&p) == Some(&o) {
                continue;
            }
            assert!(node.free_pages(Pfn(p), o).is_err(), "step {step}: bad free of {p:#x} order {o} accepted");
            assert_eq!(node.nr_free_pages(), before);
        }
        assert_eq!(node.nr_free_pages(), freed - allocated_pages, "step {step}");
        if let Err(e) = node.check() {
            panic!("step {step}: {e}");
        }
    }
    for (&p, &o) in &allocated {
        node.free_pages(Pfn(p), o).unwrap();
    }
    node.check().unwrap();
    assert_eq!(node.nr_free_pages(), freed);
    let end_state: Vec<_> = [ZoneType::Dma, ZoneType::Normal].iter().map(|&z| nr_free(&node, z)).collect();
    assert_eq!(end_state, boot_state, "blocks not merged back");
    let _ = Migratetype::ALL;
}

#[test]
fn random_sequences_match_model() {
    for seed in [1, 0x1234_5678, 0xdead_beef, 42, 7777] {
        run(seed, 4000);
    }
}
