//! The machine's memory: the device tree the loader passed in r2, discovery through the
//! `devicetree` crate, and the early reservations in the order of Linux's `arm_memblock_init`.
//!
//! `mm_init::setup_memblock` runs the steps; this platform fills them as 32-bit ARM Linux does:
//! 1. banks from the device tree (`early_init_dt_scan_memory`), cut at the 32-bit
//!    `MAX_MEMBLOCK_ADDR`, and `memblock_cap_size` with a 32-bit `phys_addr_t` (a bank ending at
//!    4 GiB loses its last byte, as Linux's does);
//! 2. (`mem=`, then) `adjust_lowmem_bounds`: `arm_lowmem_limit` and the memblock limit;
//! 3. the kernel image, then the page tables (`arm_mm_memblock_reserve`: the 16 KiB
//!    `swapper_pg_dir` below the image), then the device tree's reservations (initrd,
//!    `/memreserve/`, the blob, `/reserved-memory`), then CMA (`dma_contiguous_reserve`, no DMA
//!    limit: `arm_dma_limit` is `~0` without a machine `dma_zone_size`);
//! 4. the board's hook, `memblock_allow_resize` and `memblock_dump_all` (generic).
#![allow(unsafe_code)]

use devicetree::{ApplyParams, ApplyReport, DtError};
use memblock::{Memblock, Region, RegionArrayMapper};
use mm_init::{reserve_logged, PlatformError};
use mm_types::LineSink;

use crate::Armv7a;

extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

fn dt_error(log: &mut dyn LineSink, e: DtError, what: &'static str) -> PlatformError {
    log.line(format_args!("device tree: {e}"));
    PlatformError::BadFirmwareData(what)
}

/// The largest address a 32-bit `phys_addr_t` holds (`PHYS_ADDR_MAX`).
const PHYS_ADDR_MAX: u64 = 0xffff_ffff;

impl mm_init::Platform for Armv7a {
    fn cmdline(&self) -> &str {
        self.dt.chosen.as_ref().and_then(|c| c.bootargs).unwrap_or("")
    }

    fn phys_addr_width(&self) -> memblock::PhysAddrWidth {
        memblock::PhysAddrWidth::Bits32
    }

    fn discover_memory(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        let mut report = ApplyReport::default();
        devicetree::add_memory(self.dt, mb, PHYS_ADDR_MAX, &mut report, log)
            .map_err(|e| dt_error(log, e, "device-tree memory could not be added"))?;
        if report.banks_added == 0 {
            return Err(PlatformError::NoMemoryMap("the device tree describes no RAM (no usable /memory node)"));
        }
        // memblock_add_range's memblock_cap_size with a 32-bit phys_addr_t: a region may end at
        // PHYS_ADDR_MAX at most, so a bank reaching 4 GiB loses its last byte.
        if mm_init::zones::arm32_cap_phys_addr(mb)? {
            log.line(format_args!(
                "memblock: a bank ends at 4 GiB; with a 32-bit phys_addr_t memblock caps it at {PHYS_ADDR_MAX:#010x} (memblock_cap_size)"
            ));
        }
        // Without CONFIG_NUMA (Debian's armmp) memblock regions carry no node: memblock_dump
        // prints no " on node N".
        let (start, end) = (mb.start_of_dram(), mb.end_of_dram());
        mb.set_node(start, end - start, memblock::MAX_NUMNODES)?;
        self.cpus = crate::cpus_from_dt(self.dt);
        Ok(())
    }

    fn reserve_early(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        // adjust_lowmem_bounds, right before arm_memblock_init (after mem=).
        self.phys_offset = mb.start_of_dram() & !(mm_init::zones::ARM32_PMD_SIZE - 1);
        let low = mm_init::zones::arm32_lowmem(mb, self.phys_offset);
        if low.lowmem_limit <= self.phys_offset {
            return Err(PlatformError::NoMemoryMap("no RAM below vmalloc_min: nothing can be lowmem"));
        }
        self.lowmem = Some(low);
        mb.set_current_limit(low.memblock_limit);
        log.line(format_args!(
            "adjust_lowmem_bounds: PHYS_OFFSET {:#010x}, arm_lowmem_limit {:#010x}, memblock limit {:#010x} (vmalloc_min {:#010x})",
            self.phys_offset,
            low.lowmem_limit,
            low.memblock_limit,
            mm_init::zones::ARM32_VMALLOC_MIN
        ));
        // arm_memblock_init: the kernel image (only the addresses of the linker-script symbols
        // are taken) ...
        let (start, end) = (&raw const __kernel_start as u64, &raw const __kernel_end as u64);
        reserve_logged(mb, start, end - start, "kernel image (text to end of bss, boot stack)", log)?;
        // ... arm_mm_memblock_reserve: swapper_pg_dir ...
        let pgd = crate::paging::swapper_pg_dir();
        if !mb.is_region_memory(pgd, crate::paging::L1_TABLE_BYTES) {
            return Err(PlatformError::BadFirmwareData("the 16 KiB below the image (swapper_pg_dir) are not RAM"));
        }
        reserve_logged(mb, pgd, crate::paging::L1_TABLE_BYTES, "page tables (swapper_pg_dir, arm_mm_memblock_reserve)", log)?;
        // ... the device tree's reservations (initrd, /memreserve/, the blob, /reserved-memory) ...
        let mut report = ApplyReport::default();
        let cmdline_cma = mm_init::Cmdline::new(self.cmdline()).get("cma").is_some();
        let params = ApplyParams { cmdline_cma, ..ApplyParams::default() };
        let (dt, dtb_phys) = (self.dt, u64::from(self.dtb_phys));
        kernel::with_cma_areas::<Self, _>(|cma| devicetree::reserve(dt, mb, Some(dtb_phys), &params, cma, &mut report, log))
            .map_err(|e| dt_error(log, e, "device-tree reservations could not be recorded"))?;
        if report.failures > 0 {
            log.line(format_args!("device tree: {} reservation(s) could not be made (see above)", report.failures));
        }
        if let (Some(_), Some(r)) = (report.initrd, self.dt.chosen.as_ref().and_then(|c| c.initrd)) {
            kernel::initrd::check_at_boot(r, crate::initrd::bytes, log)?;
        }
        // ... and dma_contiguous_reserve(arm_dma_limit), before the board's hook. CMA pages must
        // all be in one zone: cma_declare_contiguous tries above arm_lowmem_limit first.
        if let Some(config) = <Self as kernel::Firmware>::CMA {
            let cmdline = mm_init::Cmdline::new(self.cmdline()).cma().map_err(|e| {
                log.line(format_args!("command line: {e}"));
                PlatformError::BadFirmwareData("cma= could not be read")
            })?;
            kernel::with_cma_areas::<Self, _>(|areas| {
                mm_init::cma::dma_contiguous_reserve(mb, areas, cmdline, &config, 0, low.lowmem_limit, log)
            });
        }
        Ok(())
    }
}

/// Region arrays at their physical address: the MMU is off now, and `paging_init` keeps lowmem
/// mapped at its physical address too, so the address stays valid.
#[derive(Debug)]
pub struct IdentityMapper;

impl RegionArrayMapper<'static> for IdentityMapper {
    fn map(&mut self, phys_base: u64, count: usize) -> Option<&'static mut [Region]> {
        let bytes = (count as u64).checked_mul(core::mem::size_of::<Region>() as u64)?;
        if phys_base.checked_add(bytes)? > u64::from(crate::paging::PAGE_OFFSET) {
            return None;
        }
        if !phys_base.is_multiple_of(core::mem::align_of::<Region>() as u64) {
            return None;
        }
        // SAFETY: memblock chose `[phys_base, phys_base + bytes)` from free RAM below its current
        // limit (lowmem) and reserves it before use, so nothing else owns it; the address is
        // usable with the MMU off and afterwards through the identity map of lowmem; the range
        // is aligned for `Region`. memblock writes every entry before reading it.
        Some(unsafe { core::slice::from_raw_parts_mut(phys_base as usize as *mut Region, count) })
    }
}

static MAPPER: spin::Mutex<IdentityMapper> = spin::Mutex::new(IdentityMapper);

impl kernel::Firmware for Armv7a {
    fn board(&self) -> &'static kernel::board::BoardConfig {
        self.board
    }

    fn exit(&self, code: kernel::ExitCode) -> ! {
        let intact = code != kernel::ExitCode::Success || kernel::initrd::still_intact(crate::initrd::bytes);
        crate::cpu::exit(if intact { code } else { kernel::ExitCode::Failure })
    }

    fn paging_init(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<mm_init::PagingInfo, PlatformError> {
        use crate::paging::Prot;
        let low = self.lowmem.ok_or(PlatformError::Memblock("paging_init before adjust_lowmem_bounds"))?;
        // The console's register window in whole pages (a UART need not start a page).
        let page = 4096;
        let first = u64::from(self.console) & !(page - 1);
        let console = mm_types::MemRange::new(first, (u64::from(self.console) + self.console_window).next_multiple_of(page) - first);
        let dtb = mm_types::MemRange::new(u64::from(self.dtb_phys), self.dt.totalsize);
        let mut extra: heapless::Vec<(&str, mm_types::MemRange, Prot), 5> = heapless::Vec::new();
        let _ = extra.push(("mmio", console, Prot::Device));
        let _ = extra.push(("fdt", dtb, Prot::ReadOnly));
        if let Some(intc) = self.local_intc {
            let first = u64::from(intc) & !(page - 1);
            let len = (u64::from(intc) + crate::bcm2836::WINDOW).next_multiple_of(page) - first;
            let _ = extra.push(("bcm2836 local intc", mm_types::MemRange::new(first, len), Prot::Device));
        }
        // The Cortex-A9 MPCore page (the SCU, and the global timer that is the boot clock).
        if let Some(base) = self.periphbase {
            let first = u64::from(base) & !(page - 1);
            let _ = extra.push(("mpcore", mm_types::MemRange::new(first, page), Prot::Device));
        }
        if let Some(src) = self.src {
            let first = u64::from(src) & !(page - 1);
            let len = (u64::from(src) + crate::imx6::WINDOW).next_multiple_of(page) - first;
            let _ = extra.push(("imx6 src", mm_types::MemRange::new(first, len), Prot::Device));
        }
        crate::paging::paging_init(mb, self.phys_offset, low.lowmem_limit, &extra, log)?;
        Ok(mm_init::zones::arm32(mb, low))
    }

    const MM_ARCH: page_alloc::ArchConfig = page_alloc::ArchConfig::ARMV7A;

    // Debian 6.1 armhf (armmp): CONFIG_CMA=y, CONFIG_DMA_CMA=y, CONFIG_CMA_SIZE_MBYTES=64.
    const CMA: Option<mm_init::cma::CmaConfig> = Some(mm_init::cma::CmaConfig::DEBIAN_ARMMP);

    fn kernel_sections(&self) -> page_alloc::KernelSections {
        let s = crate::paging::sections();
        let bss = crate::paging::bss();
        page_alloc::KernelSections {
            code_bytes: s.text.size,
            rwdata_bytes: s.data.size - bss.size,
            rodata_bytes: s.rodata.size,
            init_bytes: 0,
            bss_bytes: bss.size,
        }
    }

    fn phys_to_virt(&self, phys: u64) -> Option<usize> {
        crate::paging::phys_to_virt(phys)
    }

    const PERCPU_BASE: kernel::PercpuBaseFn = crate::percpu_base;
    const PHYS_TO_VIRT: fn(u64) -> Option<usize> = crate::paging::phys_to_virt;
    const VIRT_TO_PHYS: fn(usize) -> Option<u64> = crate::paging::virt_to_phys;
    const IRQ_SAVE: fn() -> usize = crate::cpu::irq_save;
    const IRQ_RESTORE: fn(usize) = crate::cpu::irq_restore;

    fn vmalloc_range() -> (usize, usize) {
        crate::paging::vmalloc_bounds()
    }

    fn map_kernel_page(vaddr: usize, phys: u64, alloc_table: &mut dyn FnMut() -> Option<u64>) -> Result<(), &'static str> {
        crate::paging::map_kernel_page(vaddr, phys, alloc_table)
    }

    fn unmap_kernel_page(vaddr: usize) -> Option<(u64, Option<u64>)> {
        crate::paging::unmap_kernel_page(vaddr)
    }

    fn park_this_cpu() -> ! {
        crate::cpu::park()
    }

    fn wait_for_kick() {
        aarch32_cpu::asm::wfe();
    }

    fn kick_cpu(_hw_id: u64) {
        crate::cpu::sev();
    }

    fn kmap_local(phys: u64) -> Option<usize> {
        crate::paging::kmap_local(phys)
    }

    fn kunmap_local(vaddr: usize) -> Result<(), &'static str> {
        crate::paging::kunmap_local(vaddr)
    }

    fn with_page_mapped(&mut self, phys: u64, f: &mut dyn FnMut(*mut u8)) -> Option<()> {
        let virt = crate::paging::kmap_local(phys)?;
        f(virt as *mut u8);
        crate::paging::kunmap_local(virt).ok()
    }

    fn possible_cpus(&self) -> &[kernel::CpuDesc] {
        &self.cpus
    }

    fn set_percpu_base(&self, base: usize) {
        // SAFETY: TPIDRPRW is this CPU's scratch register for the per-CPU base; nothing else
        // uses it.
        unsafe { aarch32_cpu::register::Tpidrprw::write(aarch32_cpu::register::Tpidrprw(base as u32)) };
    }

    fn start_cpu(
        &mut self,
        cpu: usize,
        stack_top: usize,
        percpu_base: usize,
        entry: extern "C" fn(usize) -> !,
    ) -> Result<(), &'static str> {
        if self.board.smp_method == Some(kernel::board::SmpMethod::None) {
            return Err("the board's [smp] enable-method is none: the CPU stays off");
        }
        let mpidr = self.cpus.get(cpu).ok_or("no such CPU")?.hw_id;
        let node = self.dt.cpus.iter().find(|c| c.available && c.mpidr == Some(mpidr));
        // The BCM2836's method is named by /cpus (the CPU nodes say nothing), so it comes in
        // as the board's [smp] enable-method.
        let node_says = node.and_then(|c| c.enable_method);
        if node_says.is_none() && self.board.smp_method == Some(kernel::board::SmpMethod::Bcm2836Smp) {
            let intc = self.local_intc.ok_or("the board's SMP method is brcm,bcm2836-smp, but the device tree has no brcm,bcm2836-l1-intc block")?;
            let (b, block) = crate::smp::prepare(mpidr as u32, cpu, stack_top, percpu_base, entry)?;
            // SAFETY: paging_init mapped the block at its physical address as device memory;
            // the boot block was just prepared for this CPU.
            #[allow(unsafe_code)]
            unsafe {
                crate::bcm2836::release(intc, (mpidr & 0xff) as u32, block)
            };
            crate::smp::wait_alive(b)?;
            defmt::info!("smp: CPU{=usize}: booted through the BCM2836 ARM-local mailbox 3", cpu);
            return Ok(());
        }
        // The i.MX6's SRC is the machine's method (Linux's imx_smp_ops); the tree names none.
        if node_says.is_none() && self.board.smp_method == Some(kernel::board::SmpMethod::Imx6Src) {
            let src = self.src.ok_or("the board's SMP method is imx6-src, but the device tree has no fsl,imx6q-src node")?;
            let (b, block) = crate::smp::prepare(mpidr as u32, cpu, stack_top, percpu_base, entry)?;
            // SAFETY: paging_init mapped the SRC and the PERIPHBASE page at their physical
            // addresses as device memory; the boot block was just prepared for this CPU.
            #[allow(unsafe_code)]
            unsafe {
                crate::imx6::release(src, self.periphbase, (mpidr & 0xff) as u32, block)?
            };
            crate::smp::wait_alive(b)?;
            defmt::info!("smp: CPU{=usize}: booted through the i.MX6 SRC (SRC_GPR{=u32}, SRC_SCR core enable)", cpu, 2 * (mpidr & 0xff) as u32 + 1);
            return Ok(());
        }
        match node.map(devicetree::Cpu::enable) {
            Some(Ok(Some(devicetree::EnableMethod::Psci))) | Some(Ok(None)) => {}
            Some(Ok(Some(devicetree::EnableMethod::SpinTable { .. }))) => {
                return Err("the CPU's enable-method is spin-table, which 32-bit ARM does not use; this platform starts CPUs through PSCI")
            }
            Some(Err(e)) => {
                defmt::error!("smp: {}", defmt::Display2Format(&e));
                return Err("the device tree's enable-method for this CPU is unusable (see above)");
            }
            None => {}
        }
        crate::smp::start_cpu(self.dt.psci_method, mpidr as u32, cpu, stack_top, percpu_base, entry)?;
        defmt::info!("smp: CPU{=usize}: booted through PSCI CPU_ON", cpu);
        Ok(())
    }

    fn region_mapper(&mut self) -> &'static mut dyn RegionArrayMapper<'static> {
        match kernel::take_static(&MAPPER) {
            Some(m) => m,
            None => panic!("region_mapper taken twice"),
        }
    }
}
