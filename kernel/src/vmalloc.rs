//! `vmalloc`/`vfree`: virtually contiguous kernel memory from scattered pages (HighMem too on
//! x86-32), in the range `paging_init` left, with an unmapped guard page after each area
//! (Linux mm/vmalloc.c: `__vmalloc_node_range`, `vfree`).
//!
//! Areas come from [`mm_init::vmap::VmapAreas`]; pages from the page allocator one at a time
//! (`__GFP_HIGHMEM`); the platform maps them ([`Firmware::map_kernel_page`]) and hands back
//! page-table pages that empty on unmap, so `vfree` returns every page it took, tables included.
//! `vfree` finds the pages by walking the page tables (as `vmalloc_to_page` does) instead of
//! keeping a page array.
//!
//! Limits: TLB entries are invalidated on the freeing CPU only on x86 (no IPIs yet), so an
//! area must not be used on another CPU after `vfree` starts; AArch64 broadcasts.

use mm_init::vmap::VmapAreas;
use page_alloc::{Gfp, Migratetype, PageAllocator, Pfn, ZoneType};

use crate::Firmware;

/// Most live areas.
pub const MAX_AREAS: usize = 256;

static AREAS: spin::Once<spin::Mutex<VmapAreas<MAX_AREAS>>> = spin::Once::new();

const PAGE: usize = mm_types::PAGE_SIZE as usize;

/// Sets up the area allocator over the platform's vmalloc range and logs it.
pub fn vmalloc_init<P: Firmware>() {
    let (start, end) = P::vmalloc_range();
    AREAS.call_once(|| spin::Mutex::new(VmapAreas::new(start, end)));
    // defmt encodes usize in 32 bits: addresses go out as u64.
    defmt::info!("vmalloc: [{=u64:#x}, {=u64:#x}), {=u64} MiB", start as u64, end as u64, ((end - start) >> 20) as u64);
}

/// Allocates `size` bytes of virtually contiguous memory (page-granular) for `cpu` on `nid`.
///
/// # Errors
/// A sentence: no virtual space, no pages, or a mapping failure (everything taken is given back).
pub fn vmalloc<P: Firmware>(a: &PageAllocator<'_>, cpu: usize, nid: i32, size: usize) -> Result<usize, &'static str> {
    let areas = AREAS.get().ok_or("vmalloc before vmalloc_init")?;
    let pages = size.div_ceil(PAGE);
    let area = areas.lock().alloc(pages).map_err(|_| "vmalloc: no room in the vmalloc range")?;
    let data = Gfp { highest_zone: ZoneType::HighMem, migratetype: Migratetype::Unmovable, nofail: false, high: false };
    for i in 0..pages {
        let va = area.addr + i * PAGE;
        let result = a.alloc_pages(cpu, nid, data, 0).map_err(|_| "vmalloc: out of pages").and_then(|pfn| {
            let mut table = || a.alloc_pages(cpu, nid, Gfp::KERNEL, 0).ok().map(|p| p.0 << mm_types::PAGE_SHIFT);
            P::map_kernel_page(va, pfn.0 << mm_types::PAGE_SHIFT, &mut table).inspect_err(|_| {
                let _ = a.free_pages(cpu, pfn, 0);
            })
        });
        if let Err(why) = result {
            // The partial area was never handed out, but other CPUs may have walked it.
            let _ = unmap_range::<P>(a, cpu, area.addr, i);
            areas.lock().free(area.addr);
            return Err(why);
        }
    }
    defmt::debug!("vmalloc: CPU{=usize} mapped {=usize} page(s) at {=u64:#x}-{=u64:#x} (node {=i32} preferred)", cpu, pages, area.addr as u64, (area.addr + pages * PAGE) as u64 - 1, nid);
    Ok(area.addr)
}

/// Pages unmapped before one TLB shoot-down and the frees it allows.
const UNMAP_BATCH: usize = 32;

/// Unmaps `pages` pages from `addr` and frees them (and emptied page tables), `UNMAP_BATCH` at
/// a time: each batch is unmapped, then every other CPU flushes it
/// ([`Firmware::flush_tlb_kernel_range`]), and only then are its pages freed, so no CPU can
/// reach a page's next owner through a stale TLB entry (Linux: `vunmap`, flush, free).
///
/// # Errors
/// A CPU did not flush: that batch's pages stay allocated (leaked, never reused while a
/// stale mapping may remain).
fn unmap_range<P: Firmware>(a: &PageAllocator<'_>, cpu: usize, addr: usize, pages: usize) -> Result<(), &'static str> {
    let mut first = 0;
    while first < pages {
        let n = (pages - first).min(UNMAP_BATCH);
        let mut freed: heapless::Vec<u64, { 2 * UNMAP_BATCH }> = heapless::Vec::new();
        for i in first..first + n {
            if let Some((phys, table)) = P::unmap_kernel_page(addr + i * PAGE) {
                let _ = freed.push(phys);
                if let Some(t) = table {
                    let _ = freed.push(t);
                }
            }
        }
        P::flush_tlb_kernel_range(addr + first * PAGE, addr + (first + n) * PAGE)?;
        for phys in freed {
            let _ = a.free_pages(cpu, Pfn(phys >> mm_types::PAGE_SHIFT), 0);
        }
        first += n;
    }
    Ok(())
}

/// Frees an area `vmalloc` returned: unmaps and frees every page (and emptied page tables).
///
/// # Errors
/// When `addr` is not the start of a live area.
pub fn vfree<P: Firmware>(a: &PageAllocator<'_>, cpu: usize, addr: usize) -> Result<(), &'static str> {
    let areas = AREAS.get().ok_or("vfree before vmalloc_init")?;
    let area = areas.lock().free(addr).ok_or("vfree: not the start of a vmalloc area")?;
    unmap_range::<P>(a, cpu, area.addr, area.pages)?;
    defmt::debug!("vfree: CPU{=usize} unmapped and freed {=usize} page(s) at {=u64:#x}", cpu, area.pages, area.addr as u64);
    Ok(())
}
