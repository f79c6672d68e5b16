//! Turning physical memory into the page-metadata array: the one place the generic boot path
//! needs `unsafe` (STYLE: unsafe fenced into a small, named module).
#![allow(unsafe_code)]

use page_alloc::Page;

/// `count` pages of metadata at physical `phys`, reached through `virt` (the platform's linear
/// map address of `phys`), each written with [`Page::INIT`] before the slice exists.
///
/// # Safety
/// `[virt, virt + count * 16)` must be mapped read-write, must be the linear-map alias of
/// memory memblock just allocated for this purpose (so nothing else owns it), and must stay
/// mapped and unused by anything else for the rest of the run.
pub unsafe fn page_array(virt: usize, count: usize) -> Option<&'static mut [Page]> {
    let ptr = virt as *mut Page;
    if ptr.is_null() || !ptr.is_aligned() {
        return None;
    }
    for i in 0..count {
        // SAFETY: in bounds of the allocation the caller vouches for; aligned (checked above).
        unsafe { ptr.add(i).write(Page::INIT) };
    }
    // SAFETY: every element was initialised above; the caller guarantees exclusive ownership
    // for 'static.
    Some(unsafe { core::slice::from_raw_parts_mut(ptr, count) })
}

/// A node's data (`NODE_DATA`) at `virt`, written as a node without memory
/// ([`page_alloc::Node::memoryless`]) before the reference exists; `free_area_init` fills it.
///
/// # Safety
/// `[virt, virt + size_of::<Node>())` must be mapped read-write, must be the linear-map alias
/// of memory memblock just allocated for this node's data (so nothing else owns it), and must
/// stay mapped, reserved and unused by anything else for the rest of the run.
pub unsafe fn node_data(virt: usize, config: page_alloc::ArchConfig, nid: i32) -> Option<&'static mut page_alloc::Node<'static>> {
    let ptr = virt as *mut page_alloc::Node<'static>;
    if ptr.is_null() || !ptr.is_aligned() {
        return None;
    }
    // SAFETY: 1. in bounds of the allocation the caller vouches for; 2. aligned (checked above);
    // 3. nothing else owns it, so the write clobbers nothing live.
    unsafe { ptr.write(page_alloc::Node::memoryless(config, nid)) };
    // SAFETY: initialised just above; the caller guarantees exclusive ownership for 'static.
    Some(unsafe { &mut *ptr })
}
