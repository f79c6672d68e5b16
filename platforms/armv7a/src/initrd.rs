//! The initrd: where the loader put it (`/chosen` `linux,initrd-start`/`-end`), for
//! `kernel::initrd`, which checks its bytes right after memblock reserved them and again when
//! the boot ends. This module only reads the bytes, the one architecture-specific part.
#![allow(unsafe_code)]

use mm_types::MemRange;

/// The initrd's bytes: at its physical address while the MMU is off, through the linear map
/// after `paging_init` (an initrd in HighMem cannot be read this way and is reported as such).
pub fn bytes(r: MemRange) -> Option<&'static [u8]> {
    let end = r.base.checked_add(r.size)?;
    let virt = crate::paging::phys_to_virt(r.base)?;
    // The whole range must be in the same mapping: its last byte too.
    let last = crate::paging::phys_to_virt(end.checked_sub(1)?)?;
    if last - virt != (r.size - 1) as usize {
        return None;
    }
    // SAFETY: the range is RAM the loader filled and memblock keeps reserved, mapped
    // contiguously at `virt` (identity with the MMU off, the linear map of lowmem after; both
    // ends checked above); nothing writes it, so it may be read for the life of the firmware.
    Some(unsafe { core::slice::from_raw_parts(virt as *const u8, r.size as usize) })
}
