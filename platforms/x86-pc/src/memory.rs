//! The PC's memory: the e820 map from Multiboot into memblock, Linux's x86-32 low-memory policy,
//! and the early reservations (Linux `setup_arch`: `early_reserve_memory`, `e820__memory_setup`,
//! `trim_bios_range`, `reserve_bios_regions`, `e820__memblock_setup`).
#![allow(unsafe_code)]

use memblock::{Memblock, Region, RegionArrayMapper};
use mm_init::{reserve_logged, PlatformError};
use mm_types::LineSink;

use crate::X86Pc;

extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// Physical range of the image, text to the end of .bss (boot stack included).
fn kernel_image() -> (u64, u64) {
    // Only the addresses of the linker-script symbols are taken, never their contents.
    let (start, end) = (&raw const __kernel_start as u64, &raw const __kernel_end as u64);
    (start, end - start)
}

/// The BIOS data area words `reserve_bios_regions` needs: base memory size in KiB (0x413) and
/// the EBDA segment (0x40E).
fn bios_data_area() -> (u16, u16) {
    // SAFETY: the BDA is in the first page, which the BIOS filled and memblock keeps reserved;
    // paging is off, so physical addresses are readable as they are. 0x413 is odd: the reads
    // must be unaligned ones.
    unsafe {
        (
            core::ptr::read_unaligned(e820::BDA_BASE_MEM_KB_ADDR as usize as *const u16),
            core::ptr::read_unaligned(e820::BDA_EBDA_SEGMENT_ADDR as usize as *const u16),
        )
    }
}

/// Highest physical address this platform can reach before paging: 32-bit, identity.
const PHYS_LIMIT_32: u64 = 1 << 32;

impl mm_init::Platform for X86Pc {
    fn cmdline(&self) -> &str {
        self.multiboot.cmdline
    }

    fn discover_memory(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        let mut table = e820::E820Table::new();
        let mut bad = None;
        self.multiboot
            .for_each_map_entry(|(addr, size, kind)| {
                if bad.is_none() {
                    bad = table.push(addr, size, kind).err();
                }
            })
            .map_err(|_| PlatformError::BadFirmwareData("malformed Multiboot memory map"))?;
        if let Some(e) = bad {
            log.line(format_args!("e820: {e}"));
            return Err(PlatformError::BadFirmwareData("the firmware's e820 map does not fit"));
        }
        let prefix = match self.multiboot.map {
            crate::multiboot::MapSource::E820 { .. } => "BIOS-e820",
            crate::multiboot::MapSource::E801 { .. } => "BIOS-e801",
        };
        mb.set_current_limit(PHYS_LIMIT_32);
        e820::setup_memory(&mut table, prefix, mb, true, log).map_err(|e| {
            log.line(format_args!("e820: {e}"));
            PlatformError::BadFirmwareData("e820 map could not be applied")
        })?;
        self.e820 = Some(table);
        Ok(())
    }

    fn reserve_early(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        let (base, size) = kernel_image();
        reserve_logged(mb, base, size, "kernel image (text to end of bss, boot stack)", log)?;
        let info = &self.multiboot;
        reserve_logged(mb, info.block.base.into(), info.block.size.into(), "Multiboot information", log)?;
        if let Some(a) = info.map_area() {
            reserve_logged(mb, a.base.into(), a.size.into(), "Multiboot memory map", log)?;
        }
        if let Some(a) = info.cmdline_area {
            reserve_logged(mb, a.base.into(), a.size.into(), "Multiboot command line", log)?;
        }
        if let Some(a) = info.mods_area {
            reserve_logged(mb, a.base.into(), a.size.into(), "Multiboot module list", log)?;
        }
        for m in &info.modules {
            let size = u64::from(m.end.saturating_sub(m.start));
            reserve_logged(mb, m.start.into(), size, "initrd (Multiboot module)", log)?;
        }
        let (base_kb, ebda_seg) = bios_data_area();
        e820::reserve_firmware_areas(mb, base_kb, ebda_seg, log).map_err(|e| {
            log.line(format_args!("e820: {e}"));
            PlatformError::Memblock("cannot reserve the BIOS areas")
        })?;
        Ok(())
    }

    fn limit_memory(&mut self, mb: &mut Memblock<'_>, limit: u64, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        // Linux parse_memopt on x86: mem=N removes RAM at and above address N.
        mb.remove(limit, u64::MAX - limit)?;
        log.line(format_args!("mem={limit:#x}: RAM at and above {} removed", mm_types::MemRange::new(limit, u64::MAX - limit)));
        Ok(())
    }
}

/// Region arrays at their physical address: paging is off, so identity.
#[derive(Debug)]
pub struct IdentityMapper;

impl RegionArrayMapper<'static> for IdentityMapper {
    fn map(&mut self, phys_base: u64, count: usize) -> Option<&'static mut [Region]> {
        let bytes = (count as u64).checked_mul(core::mem::size_of::<Region>() as u64)?;
        if phys_base.checked_add(bytes)? > PHYS_LIMIT_32 || phys_base % core::mem::align_of::<Region>() as u64 != 0 {
            return None;
        }
        // SAFETY: memblock chose `[phys_base, phys_base + bytes)` from free RAM and reserves it
        // before use, so nothing else owns it; paging is off, so the address is usable as is;
        // the range is aligned for `Region` and below 4 GiB (checked above). The previous
        // contents are overwritten by memblock before being read (it copies the old array in).
        Some(unsafe { core::slice::from_raw_parts_mut(phys_base as usize as *mut Region, count) })
    }
}

static MAPPER: spin::Mutex<IdentityMapper> = spin::Mutex::new(IdentityMapper);

impl platform::Firmware for X86Pc {
    fn exit(&self, code: platform::ExitCode) -> ! {
        crate::io::exit(code)
    }

    fn region_mapper(&mut self) -> &'static mut dyn RegionArrayMapper<'static> {
        match platform::take_static(&MAPPER) {
            Some(m) => m,
            None => panic!("region_mapper taken twice"),
        }
    }
}
