//! The buddy allocator's boot self-test on real memory: allocations of several orders, zones
//! and migrate types are written through their kernel mapping and read back, freed, and the
//! free counts must return exactly to where they started; a double free must be refused.
//!
//! It runs in the boot path, before the allocator goes behind its lock (nothing else runs then),
//! and only for an application that asks for the boot self-checks (`App::boot_selfchecks`:
//! the `selftest` application). The late self-tests are that application's own code
//! (`apps/selftest`), written on the application API.

use page_alloc::{FreeError, Gfp, Migratetype, NodeSet, Pfn, ZoneType};

use crate::Firmware;

/// Blocks held at once.
const HELD: usize = 64;

fn pattern(pfn: u64, i: usize) -> u32 {
    (pfn as u32).wrapping_mul(0x9e37_79b9) ^ i as u32
}

fn fill_and_check<P: Firmware>(platform: &mut P, pfn: u64, order: u32, write: bool) -> Result<(), &'static str> {
    let mut bad = false;
    for page in [pfn, pfn + (1 << order) - 1] {
        let phys = page << mm_types::PAGE_SHIFT;
        let mut touch = |virt: *mut u8| {
            let words = virt.cast::<u32>();
            for i in [0usize, 1023] {
                #[allow(unsafe_code)]
                // SAFETY: `virt` maps the whole 4 KiB page, which the buddy allocator handed
                // to this test and nobody else uses; word 1023 is the last in the page.
                unsafe {
                    if write {
                        words.add(i).write_volatile(pattern(page, i));
                    } else if words.add(i).read_volatile() != pattern(page, i) {
                        bad = true;
                    }
                }
            }
        };
        platform.with_page_mapped(phys, &mut touch).ok_or("an allocated page cannot be mapped")?;
    }
    if bad {
        return Err("a pattern written to an allocated page did not read back");
    }
    Ok(())
}

/// See the module documentation.
pub fn buddy<P: Firmware>(node: &mut NodeSet<'_>, platform: &mut P) -> Result<(), &'static str> {
    let free_before = node.nr_free_pages();
    let zone_free_before: heapless::Vec<u64, 32> = node.nodes().flat_map(|n| n.zones().iter()).map(|z| z.free_pages()).collect();
    let requests = [
        (Gfp::KERNEL, 0),
        (Gfp::KERNEL.with_migratetype(Migratetype::Movable), 3),
        (Gfp::RECLAIMABLE, 1),
        (Gfp::DMA, 2),
        (Gfp::HIGHUSER_MOVABLE, 0),
        (Gfp::HIGHUSER, 4),
    ];
    let mut held: heapless::Vec<(u64, u32), HELD> = heapless::Vec::new();
    let mut zones_seen = [false; page_alloc::MAX_NR_ZONES];
    for round in 0..HELD {
        let (gfp, order) = requests[round % requests.len()];
        let pfn = node.alloc_pages(0, gfp, order).map_err(|_| "an allocation the free memory could satisfy failed")?;
        if let Some(z) = node.pfn_to_nid(pfn.0).and_then(|nid| node.node(nid)).and_then(|n| n.zone_of(pfn.0)) {
            zones_seen[z as usize] = true;
        }
        fill_and_check(platform, pfn.0, order, true)?;
        held.push((pfn.0, order)).map_err(|_| "test bookkeeping overflow")?;
    }
    for &(pfn, order) in &held {
        fill_and_check(platform, pfn, order, false)?;
    }
    let (pfn0, order0) = held[0];
    for &(pfn, order) in &held {
        node.free_pages(Pfn(pfn), order).map_err(|_| "freeing an allocated block failed")?;
    }
    match node.free_pages(Pfn(pfn0), order0) {
        Err(FreeError::DoubleFree { .. }) => defmt::info!("buddy self-test: a double free of pfn {=u64:#x} was refused", pfn0),
        Err(_) => return Err("a double free was refused for the wrong reason"),
        Ok(()) => return Err("a double free was accepted"),
    }
    node.check().map_err(|_| "buddy allocator inconsistent after the self-test")?;
    let zone_free_after: heapless::Vec<u64, 32> = node.nodes().flat_map(|n| n.zones().iter()).map(|z| z.free_pages()).collect();
    if node.nr_free_pages() != free_before || zone_free_after != zone_free_before {
        return Err("free page counts did not return to their starting values");
    }
    let highmem = zones_seen[ZoneType::HighMem as usize];
    defmt::info!(
        "buddy self-test: {=usize} blocks of orders 0-4 written, read back and freed{=str}; free pages back to {=u64}",
        held.len(),
        if highmem { " (HighMem included)" } else { "" },
        free_before
    );
    Ok(())
}
