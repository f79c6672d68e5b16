//! The post-boot buddy self-check (issue "Checks that must hold"): drain the allocator
//! completely, check what it handed out, give everything back in a random order, and require
//! the exact post-boot state again.
//!
//! 1. Record `buddyinfo` (free blocks per zone and order) and the free page count.
//! 2. Allocate with `__GFP_NOFAIL` semantics (no watermarks), highest order first, from every
//!    zone (HighMem down to DMA), until nothing is left but the free pages of `MIGRATE_CMA`
//!    pageblocks, which only `cma_alloc` hands out (`page_alloc::cma`).
//! 3. Check every block: inside one zone, backed by RAM (no hole page), not in a CMA
//!    pageblock, and no page handed out twice (blocks sorted by pfn must not overlap).
//! 4. Free all blocks in a pseudo-random order (xorshift, fixed seed).
//! 5. `buddyinfo` and the free count must equal step 1 exactly, and `Node::check` must pass.

use mm_types::LineSink;
use page_alloc::{Gfp, Migratetype, NodeSet, Pfn, ZoneType, MAX_NODES, MAX_NR_ZONES, MAX_ORDER};

/// A drained block: head pfn and order.
pub type Block = (u64, u32);

/// What the check saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainReport {
    /// Blocks the drain took.
    pub blocks: usize,
    /// Pages the drain took (all free pages).
    pub pages: u64,
}

type Buddyinfo = [[[u64; MAX_ORDER as usize]; MAX_NR_ZONES]; MAX_NODES];

fn nr_free_by_zone_order(nodes: &NodeSet<'_>) -> Buddyinfo {
    let mut out = [[[0; MAX_ORDER as usize]; MAX_NR_ZONES]; MAX_NODES];
    for node in nodes.nodes() {
        for (zi, z) in node.zones().iter().enumerate() {
            for (o, area) in z.free_area().iter().enumerate() {
                out[node.nid as usize][zi][o] = area.nr_free;
            }
        }
    }
    out
}

/// Runs the check; `blocks` is scratch storage for the drained blocks (its length bounds how
/// many free blocks the allocator may hold at the start).
///
/// # Errors
/// A sentence naming the first property that did not hold.
pub fn drain_and_restore(node: &mut NodeSet<'_>, blocks: &mut [Block], log: &mut dyn LineSink) -> Result<DrainReport, &'static str> {
    let before = nr_free_by_zone_order(node);
    let free_before = node.nr_free_pages();
    let free_cma: u64 = node.nodes().flat_map(|n| n.zones().iter()).map(|z| z.free_cma_pages()).sum();
    let gfp = Gfp { highest_zone: ZoneType::Movable, migratetype: Migratetype::Movable, nofail: true, high: false };
    let mut n = 0;
    let mut pages = 0;
    let nids: heapless::Vec<i32, MAX_NODES> = node.nodes().map(|n| n.nid).collect();
    for order in (0..MAX_ORDER).rev() {
        for &nid in &nids {
        while let Ok(pfn) = node.alloc_pages(nid, gfp, order) {
            let Some(slot) = blocks.get_mut(n) else {
                // Give everything back before saying so: a failed check must not leak pages.
                let _ = node.free_pages(pfn, order);
                for &(p, o) in &blocks[..n] {
                    let _ = node.free_pages(Pfn(p), o);
                }
                return Err("more free blocks than the self-check can track");
            };
            *slot = (pfn.0, order);
            n += 1;
            pages += 1 << order;
        }
        }
    }
    if node.nr_free_pages() != free_cma || pages != free_before - free_cma {
        return Err("the drain did not empty the allocator, or took a different number of pages than were free");
    }
    let taken = &mut blocks[..n];
    taken.sort_unstable();
    for w in taken.windows(2) {
        if w[0].0 + (1 << w[0].1) > w[1].0 {
            return Err("a page was handed out twice (two drained blocks overlap)");
        }
    }
    for &(pfn, order) in taken.iter() {
        let last = pfn + (1 << order) - 1;
        let owner = node.pfn_to_nid(pfn).and_then(|nid| node.node(nid)).ok_or("a drained block lies outside every node")?;
        if owner.zone_of(pfn).is_none() || owner.zone_of(pfn) != owner.zone_of(last) {
            return Err("a drained block lies outside a zone or spans two zones");
        }
        if (pfn..=last).any(|p| owner.mem_map().get(p).is_none_or(|pg| pg.is_hole())) {
            return Err("a drained block covers a hole (no RAM behind it)");
        }
        if owner.pageblock_migratetype(pfn) == Some(Migratetype::Cma) {
            return Err("an ordinary allocation was served from a CMA pageblock");
        }
    }
    // Free in a pseudo-random order: Fisher-Yates with xorshift64.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..taken.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        taken.swap(i, (x % (i as u64 + 1)) as usize);
    }
    for &(pfn, order) in taken.iter() {
        node.free_pages(Pfn(pfn), order).map_err(|_| "freeing a drained block failed")?;
    }
    if node.nr_free_pages() != free_before || nr_free_by_zone_order(node) != before {
        return Err("buddyinfo after freeing everything differs from the post-boot state");
    }
    node.check().map_err(|_| "the allocator is inconsistent after the drain")?;
    log.line(format_args!(
        "buddy self-check: drained {n} blocks ({pages} pages) from every zone, no page twice, all in their zone and in RAM; freed in random order; buddyinfo restored exactly"
    ));
    if free_cma != 0 {
        log.line(format_args!("buddy self-check: the {free_cma} free pages of CMA pageblocks were left alone (cma_alloc only)"));
    }
    Ok(DrainReport { blocks: n, pages })
}
