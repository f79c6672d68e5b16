//! The PC's memory: the e820 map from Multiboot into memblock, Linux's x86-32 low-memory policy,
//! and the early reservations (Linux `setup_arch`: `early_reserve_memory`, `e820__memory_setup`,
//! `trim_bios_range`, `reserve_bios_regions`, `e820__memblock_setup`).
#![allow(unsafe_code)]

use memblock::{Memblock, Region, RegionArrayMapper};
use mm_init::{reserve_logged, PlatformError};
use mm_types::LineSink;

use crate::paging::{self, MAXMEM, PAGE_OFFSET};
use crate::X86Pc;

extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// Physical range of the image, text to the end of .bss (boot stack included): its load range,
/// the linked (virtual) addresses minus `PAGE_OFFSET`.
fn kernel_image() -> (u64, u64) {
    // Only the addresses of the linker-script symbols are taken, never their contents.
    let (start, end) = (&raw const __kernel_start as u64, &raw const __kernel_end as u64);
    (start - u64::from(PAGE_OFFSET), end - start)
}

/// The BIOS data area words `reserve_bios_regions` needs: base memory size in KiB (0x413) and
/// the EBDA segment (0x40E).
/// Called before `paging_init` only: the boot page directory maps page 0 at `PAGE_OFFSET`; the
/// final one does not.
fn bios_data_area() -> (u16, u16) {
    let read = |phys: u64| -> u16 {
        let Some(virt) = paging::phys_range_to_virt(phys, 2) else { return 0 };
        // SAFETY: the BDA is in the first page, which the BIOS filled and memblock keeps
        // reserved; the boot page directory maps it at `virt` (checked above). 0x413 is odd: the
        // read must be an unaligned one.
        unsafe { core::ptr::read_unaligned(virt as *const u16) }
    };
    (read(e820::BDA_BASE_MEM_KB_ADDR), read(e820::BDA_EBDA_SEGMENT_ADDR))
}

impl mm_init::Platform for X86Pc {
    fn cmdline(&self) -> &str {
        self.multiboot.cmdline
    }

    /// `selftest=smp`: the secondary-CPU bring-up report (`smpboot::selftest`).
    fn selftests(&self) -> &'static [&'static str] {
        &["smp"]
    }

    /// i386 without PAE: a 32-bit `phys_addr_t` (`%pa` prints 8 hex digits).
    fn phys_addr_width(&self) -> memblock::PhysAddrWidth {
        memblock::PhysAddrWidth::Bits32
    }

    /// Linux `e820__memory_setup_default` and what follows it in `setup_arch`
    /// (`e820::setup_memory`). The loader's map is used if Linux's `append_e820_table` would
    /// take it (two entries or more, no entry whose last byte wraps past 2^64); otherwise, or
    /// without a map, the e801 fallback from `mem_upper`, printed as `BIOS-e801`.
    fn discover_memory(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        // The loader's entries, read first (a malformed Multiboot map is refused whole), then
        // appended as Linux appends boot_params' map: past E820_MAX_ENTRIES each is ignored
        // with a line, and the boot goes on with the first ones.
        let mut entries: heapless::Vec<(u64, u64, u32), 256> = heapless::Vec::new();
        let mut beyond = 0usize;
        self.multiboot
            .for_each_map_entry(|e| {
                if entries.push(e).is_err() {
                    beyond += 1;
                }
            })
            .map_err(|_| PlatformError::BadFirmwareData("malformed Multiboot memory map"))?;
        let mut table = e820::E820Table::new();
        table.push_firmware_entries(entries.iter().copied(), log);
        if beyond > 0 {
            log.line(format_args!("e820: {beyond} more entries in the Multiboot map were not read (it has more than 256)"));
        }
        let mut prefix = "BIOS-e820";
        let usable = match self.multiboot.map {
            crate::multiboot::MapSource::E820 { .. } => e820::check_boot_map(&table).map_err(|e| {
                log.line(format_args!(
                    "e820: {e}: the boot loader's map is ignored (append_e820_table); the e801 size is used instead"
                ));
            }),
            crate::multiboot::MapSource::E801 { .. } => Err(()),
        };
        if usable.is_err() {
            table = e820::e801_table(self.multiboot.mem_upper_kb);
            prefix = "BIOS-e801";
        }
        // Until paging_init, memblock may only hand out what the boot page directory maps
        // (Linux sets the limit to what its early page tables map, too).
        mb.set_current_limit(MAXMEM.into());
        // x86 mem= edits the e820 table (Linux parse_memopt, an early_param), before
        // trim_bios_range and e820__memblock_setup; a malformed value was refused already.
        let mem_limit = mm_init::Cmdline::new(self.multiboot.cmdline).mem_limit().ok().flatten();
        e820::setup_memory(&mut table, prefix, mb, true, mem_limit, log).map_err(|e| {
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
        if let Some(m) = info.modules.first() {
            let size = u64::from(m.end.saturating_sub(m.start));
            kernel::initrd::check_at_boot(mm_types::MemRange::new(m.start.into(), size), crate::initrd::bytes, log)?;
        }
        let (base_kb, ebda_seg) = bios_data_area();
        e820::reserve_firmware_areas(mb, base_kb, ebda_seg, log).map_err(|e| {
            log.line(format_args!("e820: {e}"));
            PlatformError::Memblock("cannot reserve the BIOS areas")
        })?;
        // Linux reserve_real_mode: before anything else allocates from low memory.
        crate::smpboot::reserve_real_mode(mb, log)
    }

    /// Linux parse_memopt on x86: mem=N removes RAM at and above address N from the e820
    /// table, which `discover_memory` did (and printed) before memblock saw the table.
    fn limit_memory(&mut self, mb: &mut Memblock<'_>, limit: u64, _log: &mut dyn LineSink) -> Result<(), PlatformError> {
        if limit != 0 && mb.end_of_dram() > limit {
            return Err(PlatformError::BadFirmwareData("mem=: RAM above the limit survived the e820 edit"));
        }
        Ok(())
    }
}

/// Region arrays through the linear map (`PAGE_OFFSET + phys`). memblock's limit keeps them
/// below `MAXMEM` before `paging_init` and below the lowmem end after, so an array stays at the
/// same virtual address when `paging_init` switches page directories.
#[derive(Debug)]
pub struct LinearMapper;

impl RegionArrayMapper<'static> for LinearMapper {
    fn map(&mut self, phys_base: u64, count: usize) -> Option<&'static mut [Region]> {
        let bytes = (count as u64).checked_mul(core::mem::size_of::<Region>() as u64)?;
        let virt = paging::phys_range_to_virt(phys_base, bytes)?;
        if virt % core::mem::align_of::<Region>() != 0 {
            return None;
        }
        // SAFETY: memblock chose `[phys_base, phys_base + bytes)` from free RAM and reserves it
        // before use, so nothing else owns it; the linear map covers it at `virt` (checked
        // above), now and after paging_init (memblock's limit is inside both maps); `virt` is
        // aligned for `Region`. The previous contents are overwritten by memblock before being
        // read (it copies the old array in).
        Some(unsafe { core::slice::from_raw_parts_mut(virt as *mut Region, count) })
    }
}

static MAPPER: spin::Mutex<LinearMapper> = spin::Mutex::new(LinearMapper);

impl kernel::Firmware for X86Pc {
    fn board(&self) -> &'static kernel::board::BoardConfig {
        self.board
    }

    fn exit(&self, code: kernel::ExitCode) -> ! {
        let intact = code != kernel::ExitCode::Success || kernel::initrd::still_intact(crate::initrd::bytes);
        crate::io::exit(if intact { code } else { kernel::ExitCode::Failure })
    }

    fn region_mapper(&mut self) -> &'static mut dyn RegionArrayMapper<'static> {
        match kernel::take_static(&MAPPER) {
            Some(m) => m,
            None => panic!("region_mapper taken twice"),
        }
    }

    fn set_boot_selfchecks(&mut self, on: bool) {
        crate::paging::BOOT_SELFCHECKS.store(on, core::sync::atomic::Ordering::Release);
    }

    fn paging_init(
        &mut self,
        mb: &mut Memblock<'_>,
        log: &mut dyn LineSink,
    ) -> Result<mm_init::PagingInfo, PlatformError> {
        let info = paging::paging_init(mb, log)?;
        // The CPUs and the local APIC need the fixmap, which paging_init just built. A board
        // whose description says `enable-method = "none"` runs on the boot CPU only.
        self.cpus = if self.board.smp_method == Some(kernel::board::SmpMethod::None) {
            log.line(format_args!("smpboot: the board description says enable-method none: boot CPU only"));
            let mut one = heapless::Vec::new();
            let _ = one.push(kernel::CpuDesc { hw_id: 0, nid: 0 });
            one
        } else {
            crate::smpboot::smp_init(self.multiboot.cmdline, log)
        };
        if mm_init::Cmdline::new(self.multiboot.cmdline).selftest() == Some("smp") {
            crate::smpboot::selftest::run(self, log);
        }
        Ok(info)
    }

    fn possible_cpus(&self) -> &[kernel::CpuDesc] {
        &self.cpus
    }

    const PERCPU_BASE: kernel::PercpuBaseFn = crate::cpu::percpu_base;

    const PHYS_TO_VIRT: fn(u64) -> Option<usize> = crate::paging::phys_to_virt;
    const VIRT_TO_PHYS: fn(usize) -> Option<u64> = crate::paging::virt_to_phys;
    const IRQ_SAVE: fn() -> usize = crate::cpu::irq_save;
    const IRQ_RESTORE: fn(usize) = crate::cpu::irq_restore;

    fn vmalloc_range() -> (usize, usize) {
        crate::paging::vmalloc_range()
    }

    fn map_kernel_page(vaddr: usize, phys: u64, alloc_table: &mut dyn FnMut() -> Option<u64>) -> Result<(), &'static str> {
        crate::paging::map_kernel_page(vaddr, phys, alloc_table)
    }

    fn unmap_kernel_page(vaddr: usize) -> Option<(u64, Option<u64>)> {
        crate::paging::unmap_kernel_page(vaddr)
    }

    fn park_this_cpu() -> ! {
        crate::cpu::halt_forever()
    }

    fn wait_for_kick() {
        // SAFETY: `sti; hlt` waits for an interrupt with IF set; the interrupt shadow of `sti`
        // holds a pending IPI back until `hlt` waits, so none is lost. The handlers of the
        // vectors a CPU can take here (the IPI, the spurious vector) return; `cli` masks again.
        unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
    }

    fn kick_cpu(hw_id: u64) {
        let _ = crate::apic::send_kick(hw_id as u32);
    }

    fn flush_tlb_kernel_range(start: usize, end: usize) -> Result<(), &'static str> {
        let me = crate::cpu::smp_processor_id();
        let targets: heapless::Vec<(usize, u32), { crate::cpu::MAX_CPUS }> = (0..kernel::percpu::nr_cpu_ids())
            .filter(|&c| c != me)
            .filter_map(|c| kernel::percpu::per_cpu(c).map(|a| (c, a)))
            .filter(|(_, a)| a.online.load(core::sync::atomic::Ordering::Acquire))
            .map(|(c, a)| (c, a.hw_id as u32))
            .collect();
        crate::tlb::shoot_down(start, end, &targets)
    }

    fn set_percpu_base(&self, base: usize) {
        crate::cpu::load_percpu_base(base);
    }

    fn start_cpu(
        &mut self,
        cpu: usize,
        stack_top: usize,
        percpu_base: usize,
        entry: extern "C" fn(usize) -> !,
    ) -> Result<(), &'static str> {
        crate::smpboot::start_cpu(&self.cpus, cpu, stack_top, percpu_base, entry)
    }

    fn phys_to_virt(&self, phys: u64) -> Option<usize> {
        paging::phys_to_virt(phys)
    }

    const MM_ARCH: page_alloc::ArchConfig = page_alloc::ArchConfig::X86_32;

    fn kernel_sections(&self) -> page_alloc::KernelSections {
        let s = paging::sections();
        let len = |r: (u32, u32)| u64::from(r.1 - r.0);
        page_alloc::KernelSections {
            code_bytes: len(s.text),
            rwdata_bytes: len(s.data),
            rodata_bytes: len(s.rodata),
            init_bytes: 0,
            bss_bytes: len(s.bss),
        }
    }

    /// Lowmem through the linear map; HighMem through a kmap_atomic fixmap slot for the duration
    /// of `f` (Linux `kmap_local_page` / `kunmap_local`).
    fn kmap_local(phys: u64) -> Option<usize> {
        match paging::phys_range_to_virt(phys, 4096) {
            Some(v) => Some(v),
            None => paging::kmap_atomic(phys >> 12).ok(),
        }
    }

    fn kunmap_local(vaddr: usize) -> Result<(), &'static str> {
        paging::kunmap_atomic(vaddr).map_err(|_| "kunmap_local: not this CPU's most recent local mapping")
    }

    fn with_page_mapped(&mut self, phys: u64, f: &mut dyn FnMut(*mut u8)) -> Option<()> {
        if let Some(virt) = paging::phys_range_to_virt(phys, 4096) {
            f(virt as *mut u8);
            return Some(());
        }
        let virt = paging::kmap_atomic(phys >> 12).ok()?;
        f(virt as *mut u8);
        paging::kunmap_atomic(virt).ok()
    }
}
