//! The device tree the boot loader hands a device-tree platform (`platform-aarch64` in x0,
//! `platform-armv7a` in r2): validated once where it lies, and what discovery reads from it kept
//! for the whole boot.
#![allow(unsafe_code)]

use devicetree::{DeviceTree, DtError, DtMemoryInfo};

/// Largest device tree accepted (QEMU pads its blobs to 1 MiB; Linux's limit is 2 MiB).
pub const MAX_DTB_SIZE: usize = 2 << 20;

static DT_INFO: spin::Once<DtMemoryInfo<'static>> = spin::Once::new();

/// Why the device tree could not be used.
#[derive(Debug)]
pub enum DtReadError {
    /// The loader's pointer was 0 or misaligned: it passed no device tree.
    NoPointer(u64),
    /// The blob is malformed.
    Bad(DtError),
    /// The header's size is absurd.
    TooLarge(usize),
}

impl core::fmt::Display for DtReadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoPointer(p) => write!(f, "{p:#x} is not a device-tree address (booted as a bare ELF?)"),
            Self::Bad(e) => write!(f, "{e}"),
            Self::TooLarge(n) => write!(f, "totalsize {n:#x} exceeds the {MAX_DTB_SIZE:#x}-byte limit"),
        }
    }
}

/// Validates the blob at `dtb_phys` and reads what the firmware needs from it, once.
///
/// # Errors
/// As [`device_tree`], and a tree discovery refuses.
pub fn read_device_tree(dtb_phys: u64) -> Result<&'static DtMemoryInfo<'static>, DtReadError> {
    if let Some(info) = DT_INFO.get() {
        return Ok(info);
    }
    let dt = device_tree(dtb_phys)?;
    let info = devicetree::discover(&dt).map_err(DtReadError::Bad)?;
    Ok(DT_INFO.call_once(|| info))
}

/// The validated device tree at `dtb_phys`, for lookups [`read_device_tree`] does not keep (a
/// node the board names). Reached through its physical address: valid while the MMU is off
/// and, after `paging_init`, through the platform's read-only identity mapping of the blob.
///
/// # Errors
/// No pointer (0 or not 8-byte aligned), a malformed blob, or one larger than
/// [`MAX_DTB_SIZE`].
pub fn device_tree(dtb_phys: u64) -> Result<DeviceTree<'static>, DtReadError> {
    if dtb_phys == 0 || !dtb_phys.is_multiple_of(8) {
        return Err(DtReadError::NoPointer(dtb_phys));
    }
    let Ok(addr) = usize::try_from(dtb_phys) else { return Err(DtReadError::NoPointer(dtb_phys)) };
    // SAFETY: the loader put a device tree at `dtb_phys` (arm64 and arm booting.rst: 8-byte
    // aligned, in RAM, not overwritten before the kernel reserves it); the MMU is off, or on with
    // the blob mapped read-only at its physical address (the platforms' `paging_init` "fdt"
    // mapping), so the physical address is usable. Only the 40-byte header is read before its
    // size is known.
    let head = unsafe { core::slice::from_raw_parts(addr as *const u8, devicetree::HEADER_SIZE) };
    let size = devicetree::header_totalsize(head).map_err(DtReadError::Bad)?;
    if size > MAX_DTB_SIZE {
        return Err(DtReadError::TooLarge(size));
    }
    // SAFETY: as above, for the `size` bytes the (validated) header declares; the range is
    // reserved in memblock by `devicetree::apply` and never written.
    let blob: &'static [u8] = unsafe { core::slice::from_raw_parts(addr as *const u8, size) };
    DeviceTree::new(blob).map_err(DtReadError::Bad)
}
