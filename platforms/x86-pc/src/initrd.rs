//! The initrd: where the loader put it (the first Multiboot module (GRUB `module`, QEMU `-initrd`)), for
//! `kernel::initrd`, which checks its bytes right after memblock reserved them and again when
//! the boot ends (a changed initrd means its pages were handed out). This module only reads the
//! bytes, the one architecture-specific part.
#![allow(unsafe_code)]

use mm_types::MemRange;

/// The initrd's bytes, read through the linear map (the boot page directory before
/// `paging_init`, the final one after: the loader puts modules in low RAM, which both map).
pub fn bytes(r: MemRange) -> Option<&'static [u8]> {
    let virt = crate::paging::phys_range_to_virt(r.base, r.size)?;
    // SAFETY: `virt` maps `[r.base, r.base + r.size)` (checked by `phys_range_to_virt`); the
    // range is RAM the loader filled and memblock keeps reserved, and nothing writes it, so it
    // may be read for the life of the firmware.
    Some(unsafe { core::slice::from_raw_parts(virt as *const u8, r.size as usize) })
}
