//! The AArch64 machine's memory: the device tree the loader passed in x0, discovery through the
//! `devicetree` crate, and the early reservations (Linux `setup_machine_fdt` +
//! `arm64_memblock_init`).
#![allow(unsafe_code)]

use devicetree::{ApplyParams, ApplyReport, DtError};
use memblock::{Memblock, Region, RegionArrayMapper};
use mm_init::{reserve_logged, PlatformError};
use mm_types::LineSink;

use crate::Aarch64;

extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

fn dt_error(log: &mut dyn LineSink, e: DtError, what: &'static str) -> PlatformError {
    log.line(format_args!("device tree: {e}"));
    PlatformError::BadFirmwareData(what)
}

impl mm_init::Platform for Aarch64 {
    fn cmdline(&self) -> &str {
        self.dt.chosen.as_ref().and_then(|c| c.bootargs).unwrap_or("")
    }

    fn discover_memory(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        let mut report = ApplyReport::default();
        devicetree::add_memory(self.dt, mb, crate::PHYS_LIMIT - 1, &mut report, log)
            .map_err(|e| dt_error(log, e, "device-tree memory could not be added"))?;
        let from_dt = self.board.ram_from_device_tree;
        if report.banks_added == 0 {
            return Err(PlatformError::NoMemoryMap(if from_dt {
                "the boot loader's device tree describes no RAM (no /memory node with a non-zero size), and the board takes its RAM from it (board.toml [memory] from-device-tree)"
            } else {
                "the device tree describes no RAM (no usable /memory node)"
            }));
        }
        if from_dt {
            log.line(format_args!(
                "board: RAM from the boot loader's device tree ([memory] from-device-tree): {} bank(s), {} KiB",
                mb.memory().len(),
                mb.phys_mem_size() >> 10
            ));
            for m in mb.memory() {
                log.line(format_args!("board: RAM bank {}", mm_types::MemRange::new(m.base, m.size)));
            }
        }
        // The nodes are known: CPUs go to theirs (of_node_to_nid + early_map_cpu_to_node).
        self.numa = report.numa;
        self.cpus = crate::cpus_from_dt(self.dt, self.numa.as_ref());
        Ok(())
    }

    fn reserve_early(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        // Only the addresses of the linker-script symbols are taken.
        let (start, end) = (&raw const __kernel_start as u64, &raw const __kernel_end as u64);
        reserve_logged(mb, start, end - start, "kernel image (text to end of bss, boot stack)", log)?;
        let mut report = ApplyReport::default();
        // rmem_cma_setup: a cma= on the command line makes linux,cma-default step aside.
        let cmdline_cma = mm_init::Cmdline::new(self.cmdline()).get("cma").is_some();
        let params = ApplyParams { cmdline_cma, ..ApplyParams::default() };
        let (dt, dtb_phys) = (self.dt, self.dtb_phys);
        kernel::with_cma_areas::<Self, _>(|cma| devicetree::reserve(dt, mb, Some(dtb_phys), &params, cma, &mut report, log))
            .map_err(|e| dt_error(log, e, "device-tree reservations could not be recorded"))?;
        if report.failures > 0 {
            log.line(format_args!("device tree: {} reservation(s) could not be made (see above)", report.failures));
        }
        // Checked only once reserved (a refused initrd is disabled, as Linux does).
        if let (Some(_), Some(r)) = (report.initrd, self.dt.chosen.as_ref().and_then(|c| c.initrd)) {
            kernel::initrd::check_at_boot(r, crate::initrd::bytes, log)?;
        }
        reserve_page_zero(mb, log)
    }
}

/// Where RAM starts at physical 0 (the Raspberry Pi), page 0 must never become a page the
/// allocators hand out: a pointer to it would be a NULL pointer (and `paging_init` leaves it
/// unmapped so that NULL faults). Firmware usually reserves it already (the Pi's tree has
/// `/memreserve/ 0x0 0x1000`: the spin table lives there); if nothing did, it is reserved here.
fn reserve_page_zero(mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
    use mm_types::PAGE_SIZE;
    if !mb.is_memory(0) {
        return Ok(());
    }
    // Reserved regions are merged and sorted: page 0 is covered only by one starting at 0.
    if mb.reserved().first().is_some_and(|r| r.base == 0 && r.size >= PAGE_SIZE) {
        log.line(format_args!("RAM starts at 0: page 0 is already reserved; it stays unmapped and out of the allocators"));
        return Ok(());
    }
    reserve_logged(mb, 0, PAGE_SIZE, "page 0 (RAM starts at 0: kept unmapped and out of the allocators)", log)
}

/// Region arrays at their physical address: the MMU is off, so identity.
#[derive(Debug)]
pub struct IdentityMapper;

impl RegionArrayMapper<'static> for IdentityMapper {
    fn map(&mut self, phys_base: u64, count: usize) -> Option<&'static mut [Region]> {
        let bytes = (count as u64).checked_mul(core::mem::size_of::<Region>() as u64)?;
        phys_base.checked_add(bytes)?;
        if !phys_base.is_multiple_of(core::mem::align_of::<Region>() as u64) {
            return None;
        }
        // SAFETY: memblock chose `[phys_base, phys_base + bytes)` from free RAM and reserves it
        // before use, so nothing else owns it; with the MMU off the address is usable as is; the
        // range is aligned for `Region`. memblock writes every entry before reading it.
        Some(unsafe { core::slice::from_raw_parts_mut(phys_base as usize as *mut Region, count) })
    }
}

static MAPPER: spin::Mutex<IdentityMapper> = spin::Mutex::new(IdentityMapper);

impl kernel::Firmware for Aarch64 {
    fn board(&self) -> &'static kernel::board::BoardConfig {
        self.board
    }

    fn exit(&self, code: kernel::ExitCode) -> ! {
        let intact = code != kernel::ExitCode::Success || kernel::initrd::still_intact(crate::initrd::bytes);
        crate::cpu::exit(if intact { code } else { kernel::ExitCode::Failure })
    }

    fn paging_init(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<mm_init::PagingInfo, PlatformError> {
        use crate::paging::Prot;
        // The console's register window, widened to whole pages (a Meson AO UART sits at
        // 0xc81004c0, inside its page).
        let page = mm_types::PAGE_SIZE;
        let first = self.console & !(page - 1);
        let console = mm_types::MemRange::new(first, (self.console + self.console_window).next_multiple_of(page) - first);
        let dtb = mm_types::MemRange::new(self.dtb_phys, self.dt.totalsize);
        crate::paging::paging_init(mb, &[("mmio", console, Prot::Device), ("fdt", dtb, Prot::ReadOnly)], log)?;
        Ok(mm_init::zones::arm64(mb))
    }

    const MM_ARCH: page_alloc::ArchConfig = page_alloc::ArchConfig::ARM64_4K;

    // Debian 6.1 arm64: CONFIG_CMA=y, CONFIG_DMA_CMA=y, CONFIG_CMA_SIZE_MBYTES=64.
    const CMA: Option<mm_init::cma::CmaConfig> = Some(mm_init::cma::CmaConfig::DEBIAN_ARM64);

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
        // Identity linear map, below the 39-bit limit.
        (phys < crate::paging::VA_LIMIT).then_some(phys as usize)
    }

    const PERCPU_BASE: kernel::PercpuBaseFn = crate::percpu_base;

    const PHYS_TO_VIRT: fn(u64) -> Option<usize> = identity_phys_to_virt;
    const VIRT_TO_PHYS: fn(usize) -> Option<u64> = identity_virt_to_phys;
    const IRQ_SAVE: fn() -> usize = crate::cpu::irq_save;
    const IRQ_RESTORE: fn(usize) = crate::cpu::irq_restore;

    fn vmalloc_range() -> (usize, usize) {
        (crate::paging::VMALLOC_START as usize, crate::paging::VMALLOC_END as usize)
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
        aarch64_cpu::asm::wfe();
    }

    fn kick_cpu(_hw_id: u64) {
        crate::cpu::sev();
    }

    fn firmware_numa(&self) -> mm_init::numa::FirmwareNuma {
        use devicetree::NumaFallback as Dt;
        use mm_init::numa::{FirmwareNuma, NumaFallback};
        let Some(numa) = self.numa else { return FirmwareNuma::Fallback(NumaFallback::NoConfig) };
        FirmwareNuma::Fallback(match numa.fallback {
            None => return FirmwareNuma::Nodes(numa.nodes),
            Some(Dt::NoConfig) => NumaFallback::NoConfig,
            Some(Dt::BadMemoryNode { .. } | Dt::BadDistanceMap) => NumaFallback::InitFailed,
            // memblock's "no node" is MAX_NUMNODES.
            Some(Dt::InvalidMemblk { range }) => {
                NumaFallback::InvalidMemblk { nid: devicetree::MAX_NUMNODES, base: range.base, end: range.end() }
            }
        })
    }

    fn node_distance(&self, a: i32, b: i32) -> u8 {
        // numa_distance as of_numa_init filled it from /distance-map (10/20 elsewhere).
        self.numa.map_or_else(|| page_alloc::default_distance(a, b), |n| n.distance(a, b))
    }

    fn possible_cpus(&self) -> &[kernel::CpuDesc] {
        &self.cpus
    }

    fn set_percpu_base(&self, base: usize) {
        use aarch64_cpu::registers::Writeable;
        aarch64_cpu::registers::TPIDR_EL1.set(base as u64);
    }

    fn start_cpu(
        &mut self,
        cpu: usize,
        stack_top: usize,
        percpu_base: usize,
        entry: extern "C" fn(usize) -> !,
    ) -> Result<(), &'static str> {
        let mpidr = self.cpus.get(cpu).ok_or("no such CPU")?.hw_id;
        let method = self.enable_method(mpidr)?;
        crate::smp::start_cpu(method, mpidr, cpu, stack_top, percpu_base, entry)?;
        match method {
            crate::smp::Method::SpinTable { release_addr } => {
                defmt::info!("smp: CPU{=usize}: booted through spin-table, release address {=u64:#x}", cpu, release_addr)
            }
            crate::smp::Method::Psci(_) => defmt::info!("smp: CPU{=usize}: booted through PSCI CPU_ON", cpu),
        }
        Ok(())
    }

    fn region_mapper(&mut self) -> &'static mut dyn RegionArrayMapper<'static> {
        match kernel::take_static(&MAPPER) {
            Some(m) => m,
            None => panic!("region_mapper taken twice"),
        }
    }
}

impl Aarch64 {
    /// How to start the CPU with this MPIDR (arm64 Linux `smp_init_cpus` → `cpu_read_ops`): its
    /// node's `enable-method`; only where the node has none, the board's `[smp] enable-method`.
    /// A problem is logged with the node and property it concerns, and returned as a sentence.
    fn enable_method(&self, mpidr: u64) -> Result<crate::smp::Method, &'static str> {
        use crate::smp::Method;
        use devicetree::EnableMethod;
        use kernel::board::SmpMethod;
        let node = self.dt.cpus.iter().find(|c| c.available && c.mpidr == Some(mpidr));
        let from_dt = match node.map(devicetree::Cpu::enable) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                defmt::error!("smp: {}", defmt::Display2Format(&e));
                return Err("the device tree's enable-method for this CPU is unusable (see above)");
            }
            None => None,
        };
        let m = match (from_dt, self.board.smp_method) {
            (Some(EnableMethod::Psci), _) => Method::Psci(self.dt.psci_method),
            (Some(EnableMethod::SpinTable { release_addr }), _) => Method::SpinTable { release_addr },
            (None, Some(SmpMethod::Psci)) => Method::Psci(self.dt.psci_method),
            (None, Some(SmpMethod::SpinTable)) => {
                let Some(n) = node else { return Err("the board says spin-table, but /cpus has no node for this CPU") };
                match n.cpu_release_addr() {
                    Ok(release_addr) => Method::SpinTable { release_addr },
                    Err(e) => {
                        defmt::error!("smp: {} (the board's [smp] enable-method is spin-table)", defmt::Display2Format(&e));
                        return Err("no usable cpu-release-addr for the board's spin-table method (see above)");
                    }
                }
            }
            (None, Some(SmpMethod::AcpiMadt)) => return Err("the board's [smp] enable-method acpi-madt is x86's; AArch64 starts CPUs through psci or spin-table"),
            (None, Some(SmpMethod::Bcm2836Smp)) => return Err("the board's [smp] enable-method brcm,bcm2836-smp is 32-bit ARM's; AArch64 starts CPUs through psci or spin-table"),
            (None, Some(SmpMethod::Imx6Src)) => return Err("the board's [smp] enable-method imx6-src is the 32-bit i.MX6's; AArch64 starts CPUs through psci or spin-table"),
            (None, Some(SmpMethod::None)) => return Err("the board's [smp] enable-method is none and the device tree names none: the CPU stays off"),
            (None, None) => return Err("no enable-method in the device tree or the board description"),
        };
        Ok(m)
    }
}

/// The identity linear map, below the 39-bit limit.
fn identity_phys_to_virt(phys: u64) -> Option<usize> {
    (phys < crate::paging::VA_LIMIT).then_some(phys as usize)
}

/// The identity linear map, below the vmalloc range.
fn identity_virt_to_phys(vaddr: usize) -> Option<u64> {
    ((vaddr as u64) < crate::paging::VMALLOC_START).then_some(vaddr as u64)
}
