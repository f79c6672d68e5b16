//! The kernel heap: `kmalloc` on the slab allocator behind Rust's `#[global_allocator]`, so
//! `alloc` (`Box`, `Vec`, `BTreeMap`) works in firmware and boards, from every CPU.
//!
//! Pages come from the page allocator (lowmem, `GFP_KERNEL`) and are reached through the
//! linear map; objects come from the calling CPU's per-CPU array of each kmalloc cache. The
//! caches run in the debug configuration (red zones and poisoning, Linux
//! `CONFIG_SLUB_DEBUG_ON`): a corruption or double free is logged with the cache and address,
//! then the run ends with a panic. Before `init` every allocation fails, which reaches
//! `alloc`'s error path (a panic naming the size), never a hang. Interrupts are masked around
//! each call.
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};

use page_alloc::{Gfp, PageAllocator, Pfn};
use slab_alloc::{Kmalloc, Memory, PageProvider, SlabFlags};

use crate::{percpu, Firmware};

/// What the heap needs from the platform, set once by [`init`].
#[derive(Clone, Copy)]
struct Hooks {
    pages: &'static PageAllocator<'static>,
    phys_to_virt: fn(u64) -> Option<usize>,
    virt_to_phys: fn(usize) -> Option<u64>,
    // Read only by the global allocator, which exists in the firmware build alone.
    #[cfg_attr(not(target_os = "none"), allow(dead_code))]
    irq_save: fn() -> usize,
    #[cfg_attr(not(target_os = "none"), allow(dead_code))]
    irq_restore: fn(usize),
}

static HOOKS: spin::Once<Hooks> = spin::Once::new();

fn cpu() -> usize {
    percpu::this_cpu().map_or(0, |a| a.cpu)
}

fn nid() -> i32 {
    percpu::this_cpu().map_or(0, |a| a.nid)
}

/// Pages for slabs and large kmallocs: buddy blocks in lowmem, by linear-map address.
#[derive(Debug)]
pub struct KernelPages;

impl PageProvider for KernelPages {
    fn alloc_pages(&self, order: u32) -> Option<usize> {
        let h = HOOKS.get()?;
        let pfn = h.pages.alloc_pages(cpu(), nid(), Gfp::KERNEL, order).ok()?;
        match (h.phys_to_virt)(pfn.0 << mm_types::PAGE_SHIFT) {
            Some(v) => {
                defmt::debug!("kmalloc: CPU{=usize} took order-{=u32} pages at pfn {=u64:#x} (virt {=u64:#x}) for a slab", cpu(), order, pfn.0, v as u64);
                Some(v)
            }
            None => {
                let _ = h.pages.free_pages(cpu(), pfn, order);
                None
            }
        }
    }

    fn free_pages(&self, addr: usize, order: u32) {
        let Some(h) = HOOKS.get() else { return };
        if let Some(phys) = (h.virt_to_phys)(addr) {
            defmt::debug!("kmalloc: CPU{=usize} gives order-{=u32} pages at pfn {=u64:#x} back", cpu(), order, phys >> mm_types::PAGE_SHIFT);
            if h.pages.free_pages(cpu(), Pfn(phys >> mm_types::PAGE_SHIFT), order).is_err() {
                defmt::error!("kmalloc: the page allocator refused pages at {=u64:#x}", addr as u64);
            }
        }
    }
}

/// Word access to slab memory through the linear map.
#[derive(Debug)]
pub struct KernelMemory;

impl Memory for KernelMemory {
    fn read_word(&self, addr: usize) -> usize {
        // SAFETY: the slab allocator only reads words inside pages `KernelPages` handed it
        // (linearly mapped, owned by the slab) or a slab header it located from such an address.
        unsafe { core::ptr::read_volatile(addr as *const usize) }
    }

    fn write_word(&self, addr: usize, v: usize) {
        // SAFETY: as in `read_word`; writes go to free objects, red zones or slab headers.
        unsafe { core::ptr::write_volatile(addr as *mut usize, v) }
    }

    fn fill(&self, addr: usize, len: usize, byte: u8) {
        // SAFETY: as in `write_word`, for `len` bytes inside one object and its red zones.
        unsafe { core::ptr::write_bytes(addr as *mut u8, byte, len) }
    }

    fn check(&self, addr: usize, len: usize, byte: u8) -> Option<usize> {
        // SAFETY: as in `read_word`, for `len` bytes inside one object and its red zones.
        let bytes = unsafe { core::slice::from_raw_parts(addr as *const u8, len) };
        bytes.iter().position(|&b| b != byte)
    }
}

static PAGES: KernelPages = KernelPages;
static MEM: KernelMemory = KernelMemory;
/// The kmalloc caches, one per-CPU array per possible CPU, in the debug configuration.
pub static KMALLOC: Kmalloc<'static, KernelPages, KernelMemory> =
    Kmalloc::new(percpu::NR_CPUS, SlabFlags::DEBUG, &PAGES, &MEM);

/// Makes the heap usable (after the page allocator and per-CPU areas exist).
pub fn init<P: Firmware>(pages: &'static PageAllocator<'static>) {
    HOOKS.call_once(|| Hooks {
        pages,
        phys_to_virt: P::PHYS_TO_VIRT,
        virt_to_phys: P::VIRT_TO_PHYS,
        irq_save: P::IRQ_SAVE,
        irq_restore: P::IRQ_RESTORE,
    });
}

/// Returns every CPU's cached objects and all empty slabs to the page allocator.
pub fn flush_all() {
    for cpu in 0..percpu::nr_cpu_ids() {
        KMALLOC.flush_cpu(cpu);
    }
    KMALLOC.shrink();
}

/// The firmware's `#[global_allocator]` (registered for the bare-metal build only).
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
struct KernelHeap;

// SAFETY: `alloc` returns either null or a block `kmalloc_layout` handed out for exactly this
// layout (size and alignment honoured, not shared with any other live block); `dealloc` gives
// it back with the same layout.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(h) = HOOKS.get() else { return core::ptr::null_mut() };
        let irq = (h.irq_save)();
        let r = KMALLOC.kmalloc_layout(cpu(), layout);
        (h.irq_restore)(irq);
        r.map_or(core::ptr::null_mut(), |a| a as *mut u8)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(h) = HOOKS.get() else { return };
        let irq = (h.irq_save)();
        let r = KMALLOC.kfree_layout(cpu(), ptr as usize, layout);
        (h.irq_restore)(irq);
        if let Err(e) = r {
            defmt::error!("kfree: {}", defmt::Display2Format(&e));
            panic!("heap corruption or bad free detected by the slab allocator");
        }
    }
}

#[cfg(target_os = "none")]
#[global_allocator]
static GLOBAL: KernelHeap = KernelHeap;
