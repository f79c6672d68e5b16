//! The initrd: where the loader put it (`/chosen` `linux,initrd-start`/`-end` (U-Boot `booti`, QEMU `-initrd`)), for
//! `kernel::initrd`, which checks its bytes right after memblock reserved them and again when
//! the boot ends (a changed initrd means its pages were handed out). This module only reads the
//! bytes, the one architecture-specific part.
#![allow(unsafe_code)]

use mm_types::MemRange;

/// The initrd's bytes, read at its physical address (MMU off before `paging_init`,
/// identity linear map after).
pub fn bytes(r: MemRange) -> Option<&'static [u8]> {
    let virt = (r.base.checked_add(r.size)? <= crate::paging::VA_LIMIT).then_some(r.base as usize)?;
    // SAFETY: the address is usable as is: MMU off, or the identity linear map, which covers RAM below `VA_LIMIT` (checked above); the range is RAM the loader filled and memblock keeps reserved, and
    // nothing writes it, so it may be read for the life of the firmware.
    Some(unsafe { core::slice::from_raw_parts(virt as *const u8, r.size as usize) })
}
