//! Reading the Multiboot v1 information block the boot loader leaves in low memory.
//!
//! Multiboot spec 0.6.96, section 3.3: EBX points at a block whose `flags` word says which fields
//! are valid. This firmware needs the memory map (flag bit 6: the BIOS e820 map as the loader
//! read it), the command line (bit 2) and the modules (bit 3: an initrd). Older loaders give only
//! `mem_lower`/`mem_upper` (bit 0); then a two-entry map is made from `mem_upper` the way Linux's
//! `e820__memory_setup_default` does with the e801 value (`e820::e801_table`), as it also does
//! when the loader's map is unusable (`e820::check_boot_map`).
//!
//! Everything is read where the loader put it, through the linear map (`paging::phys_to_virt`:
//! the loader's addresses are physical, and `boot` has paging on already), with unaligned reads,
//! bounds-checked against the lengths the block states. Nothing is copied: the block, the map,
//! the command line and the module list are reserved in memblock instead, and lie in low RAM,
//! which the final linear map covers too, so the `&'static str` command line stays valid after
//! `paging_init`.
#![allow(unsafe_code)]

/// EAX value a Multiboot v1 loader passes.
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;

const FLAG_MEM: u32 = 1 << 0;
const FLAG_CMDLINE: u32 = 1 << 2;
const FLAG_MODS: u32 = 1 << 3;
const FLAG_MMAP: u32 = 1 << 6;
/// Bytes of the information block up to and including the fields this firmware reads
/// (`mmap_addr` ends at offset 52; the block defined by the spec is 120 bytes with VBE and
/// framebuffer fields, all of which are reserved).
pub const INFO_BLOCK_SIZE: u32 = 120;
/// Linux's x86 `COMMAND_LINE_SIZE`: the command line kept is at most this minus its NUL.
pub const COMMAND_LINE_SIZE: usize = 2048;
/// How far a longer command line is measured, to say how much was cut.
const COMMAND_LINE_SCAN: usize = 64 << 10;
/// Most modules remembered.
pub const MAX_MODULES: usize = 4;

/// A physical range `[base, base + size)` the loader wrote, to be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Area {
    pub base: u32,
    pub size: u32,
}

/// One boot module (`module` line in GRUB, `-initrd` in QEMU).
#[derive(Debug, Clone, Copy)]
pub struct Module {
    pub start: u32,
    pub end: u32,
}

/// Where the loader's memory description came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapSource {
    /// The e820 map (flag bit 6).
    E820 { addr: u32, length: u32 },
    /// Only `mem_lower`/`mem_upper` in KiB (flag bit 0).
    E801 { lower_kb: u32, upper_kb: u32 },
}

/// What the firmware takes from the information block.
#[derive(Debug)]
pub struct MultibootInfo {
    /// The information block itself.
    pub block: Area,
    pub map: MapSource,
    /// `mem_upper` (flag bit 0): the BIOS's extended memory above 1 MiB in KiB, Linux's
    /// `alt_mem_k` (e801); 0 when the loader gave none.
    pub mem_upper_kb: u32,
    /// The command line (at most `COMMAND_LINE_SIZE - 1` bytes, as Linux keeps) and where it
    /// lies (including its NUL).
    pub cmdline: &'static str,
    /// Bytes the loader's command line really has (up to 64 KiB): more than `cmdline` holds
    /// when it was cut.
    pub cmdline_given: usize,
    pub cmdline_area: Option<Area>,
    /// The module list, and the modules.
    pub mods_area: Option<Area>,
    pub modules: heapless::Vec<Module, MAX_MODULES>,
}

/// Why the information block could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultibootError {
    BadMagic(u32),
    NoMemoryInformation,
    MapEntryTooShort { offset: u32, size: u32 },
    CommandLineNotUtf8,
    TooManyModules(u32),
    /// The loader put something at this physical address, beyond the linear map.
    NotMapped(u32),
}

impl core::fmt::Display for MultibootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadMagic(m) => write!(
                f,
                "EAX = {m:#010x}, not the Multiboot v1 magic {BOOTLOADER_MAGIC:#010x}: not booted by a Multiboot loader"
            ),
            Self::NoMemoryInformation => {
                f.write_str("the Multiboot block has neither a memory map (flag 6) nor mem_lower/mem_upper (flag 0)")
            }
            Self::MapEntryTooShort { offset, size } => write!(
                f,
                "Multiboot memory map entry at offset {offset} claims size {size}, less than the 20 bytes of an entry"
            ),
            Self::CommandLineNotUtf8 => f.write_str("the Multiboot command line is not UTF-8"),
            Self::TooManyModules(n) => {
                write!(f, "{n} Multiboot modules, at most {MAX_MODULES} are supported")
            }
            Self::NotMapped(addr) => write!(
                f,
                "the Multiboot loader put data at physical {addr:#010x}, beyond the kernel's linear map"
            ),
        }
    }
}

/// The kernel address of the loader's `[addr, addr + size)`.
fn virt(addr: u32, size: u32) -> Result<usize, MultibootError> {
    crate::paging::phys_range_to_virt(addr.into(), size.into()).ok_or(MultibootError::NotMapped(addr))
}

fn read_u32(addr: u32) -> Result<u32, MultibootError> {
    let v = virt(addr, 4)?;
    // SAFETY: called only on addresses inside the loader's information structures (bounds come
    // from the block itself), which the loader placed in RAM; the linear map covers the four
    // bytes at `v` (checked by `virt`).
    Ok(unsafe { core::ptr::read_unaligned(v as *const u32) })
}

fn read_u64(addr: u32) -> Result<u64, MultibootError> {
    let v = virt(addr, 8)?;
    // SAFETY: as `read_u32`, for eight bytes.
    Ok(unsafe { core::ptr::read_unaligned(v as *const u64) })
}

/// One entry of the Multiboot memory map: `(addr, len, type)`.
pub type MapEntry = (u64, u64, u32);

/// Reads the information block at `info` after checking `magic`.
pub fn parse(magic: u32, info: u32) -> Result<MultibootInfo, MultibootError> {
    if magic != BOOTLOADER_MAGIC {
        return Err(MultibootError::BadMagic(magic));
    }
    let flags = read_u32(info)?;
    let map = if flags & FLAG_MMAP != 0 {
        MapSource::E820 { length: read_u32(info + 44)?, addr: read_u32(info + 48)? }
    } else if flags & FLAG_MEM != 0 {
        MapSource::E801 { lower_kb: read_u32(info + 4)?, upper_kb: read_u32(info + 8)? }
    } else {
        return Err(MultibootError::NoMemoryInformation);
    };
    let mem_upper_kb = if flags & FLAG_MEM != 0 { read_u32(info + 8)? } else { 0 };
    let (cmdline, cmdline_area, cmdline_given) = if flags & FLAG_CMDLINE != 0 {
        let base = read_u32(info + 16)?;
        let ptr = virt(base, 1)? as *const u8;
        let mut given = 0;
        // SAFETY: the loader stores a NUL-terminated string at `base`; reading stops at the NUL
        // or after COMMAND_LINE_SCAN bytes, whichever comes first, and each byte is checked to
        // be inside the linear map first.
        while given < COMMAND_LINE_SCAN && virt(base + given as u32, 1).is_ok() && unsafe { *ptr.add(given) } != 0 {
            given += 1;
        }
        let len = given.min(COMMAND_LINE_SIZE - 1);
        // SAFETY: the `len` bytes just scanned are readable and the loader never rewrites them;
        // memblock keeps them reserved for the life of the firmware.
        let bytes = unsafe { core::slice::from_raw_parts(ptr, len) };
        let text = match core::str::from_utf8(bytes) {
            Ok(t) => t,
            // The cut fell inside a character: keep the whole characters before it.
            Err(e) if len < given && e.error_len().is_none() => core::str::from_utf8(&bytes[..e.valid_up_to()]).map_err(|_| MultibootError::CommandLineNotUtf8)?,
            Err(_) => return Err(MultibootError::CommandLineNotUtf8),
        };
        (text, Some(Area { base, size: len as u32 + 1 }), given)
    } else {
        ("", None, 0)
    };
    let mut modules = heapless::Vec::new();
    let mods_area = if flags & FLAG_MODS != 0 {
        let count = read_u32(info + 20)?;
        let addr = read_u32(info + 24)?;
        if count as usize > MAX_MODULES {
            return Err(MultibootError::TooManyModules(count));
        }
        for i in 0..count {
            let m = addr + i * 16;
            let _ = modules.push(Module { start: read_u32(m)?, end: read_u32(m + 4)? });
        }
        (count > 0).then_some(Area { base: addr, size: count * 16 })
    } else {
        None
    };
    Ok(MultibootInfo {
        block: Area { base: info, size: INFO_BLOCK_SIZE },
        map,
        mem_upper_kb,
        cmdline,
        cmdline_given,
        cmdline_area,
        mods_area,
        modules,
    })
}

impl MultibootInfo {
    /// Calls `f` for each entry of the e820 map, in the loader's order; none without a map
    /// (flag bit 6 clear: the caller makes Linux's e801 map from `mem_upper`).
    pub fn for_each_map_entry(
        &self,
        mut f: impl FnMut(MapEntry),
    ) -> Result<(), MultibootError> {
        if let MapSource::E820 { addr, length } = self.map {
            let mut off = 0u32;
            while off.saturating_add(4) <= length {
                let size = read_u32(addr + off)?;
                if size < 20 {
                    return Err(MultibootError::MapEntryTooShort { offset: off, size });
                }
                let e = addr + off + 4;
                f((read_u64(e)?, read_u64(e + 8)?, read_u32(e + 16)?));
                off = off.saturating_add(size).saturating_add(4);
            }
        }
        Ok(())
    }

    /// The map's own bytes, to be reserved (none for the e801 fallback).
    pub fn map_area(&self) -> Option<Area> {
        match self.map {
            MapSource::E820 { addr, length } => Some(Area { base: addr, size: length }),
            MapSource::E801 { .. } => None,
        }
    }
}
