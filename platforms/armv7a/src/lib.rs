//! 32-bit ARM (ARMv7-A) platform: Linux's ARM boot protocol entry, Hyp to SVC, exception
//! vectors, the console UART, the device tree, short-descriptor paging with HighMem, PSCI SMP
//! and the semihosting exit.
//!
//! Boot order (each step in its own module):
//! 1. [`boot`]: the zImage header words, Hyp to SVC, stack, .bss, vectors ([`exceptions`]),
//!    then the board's entry, which the board declares with [`entry!`];
//! 2. [`start`]: the device tree (its address came in r2) gives the console, the UART of the
//!    board's driver the tree names (`kernel::console_mmio`, shared with arm64), and the
//!    logger is installed;
//! 3. the board's `main` runs the generic boot path with an [`Armv7a`] as its platform:
//!    [`memory`] (discovery, `adjust_lowmem_bounds`, the reservations of `arm_memblock_init`),
//!    [`paging`] (short descriptors, lowmem at `PAGE_OFFSET` 0xc0000000, HighMem through
//!    `kmap_local`) and [`smp`] (secondary CPUs through PSCI; the BCM2836 mailbox and the i.MX6
//!    SRC in `bcm2836.rs` and `imx6.rs`).
//!
//! System registers go through the `aarch32-cpu` crate (its `SysReg` trait describes the few it
//! lacks, TTBCR and two TLB operations); PSCI calls through `smccc`. Nothing here needs an
//! interrupt controller: the exit is semihosting and a parked CPU waits in `wfe`.
//!
//! Unsafe code is fenced in the modules that say `#![allow(unsafe_code)]`; every block has a
//! `SAFETY:` comment. This crate builds only for `armv7a-none-eabi`.
#![no_std]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(not(target_arch = "arm"))]
compile_error!("platform-armv7a builds only for 32-bit ARM (target armv7a-none-eabi): use `cargo xtask build --board qemu-virt-arm`");

mod bcm2836;
mod boot;
pub mod cpu;
pub mod exceptions;
mod imx6;
pub mod initrd;
pub mod memory;
pub use kernel::console_mmio as mmio;
pub mod paging;
pub mod smp;
pub mod timer;

/// The first physical address this platform cannot use: `phys_addr_t` is 32 bits wide without
/// LPAE. Device-tree memory at or above it is ignored at discovery (`MAX_MEMBLOCK_ADDR`).
pub const PHYS_LIMIT: u64 = 1 << 32;

pub use kernel::board::BoardConfig;
pub use kernel::ExitCode;

use aarch32_cpu::register::{Mpidr, Tpidrprw};

/// The running machine: what the loader handed over.
#[derive(Debug)]
pub struct Armv7a {
    pub board: &'static BoardConfig,
    /// Physical address of the device tree (r2 at entry).
    pub dtb_phys: u32,
    /// The mode the loader entered us in (0x13 SVC, 0x1a Hyp).
    pub entry_mode: u32,
    /// Physical address of the console UART's registers.
    pub console: u32,
    /// Bytes of the console's register window (mapped as device memory).
    pub console_window: u64,
    /// The BCM2836 ARM-local interrupt block (its mailboxes start secondary CPUs), when the
    /// board's SMP method is `brcm,bcm2836-smp`: its physical address, mapped as device memory.
    pub local_intc: Option<u32>,
    /// The i.MX6 System Reset Controller (`fsl,imx6q-src`), when the board's SMP method is
    /// `imx6-src`: its physical address, mapped as device memory.
    pub src: Option<u32>,
    /// The Cortex-A9/A5 MPCore's private peripherals (`PERIPHBASE` from `CBAR`: the SCU, the
    /// global timer at +0x200) when the global timer is the boot clock; mapped as device memory.
    pub periphbase: Option<u32>,
    /// What the device tree says (read once, kept in a static).
    pub dt: &'static devicetree::DtMemoryInfo<'static>,
    /// Available CPUs from `/cpus`, boot CPU first.
    pub cpus: heapless::Vec<kernel::CpuDesc, { smp::MAX_CPUS }>,
    /// `PHYS_OFFSET`: what `PAGE_OFFSET` maps (the start of RAM, PMD-aligned).
    pub phys_offset: u64,
    /// `adjust_lowmem_bounds`' result, known from the early reservations on.
    pub lowmem: Option<mm_init::zones::Arm32Lowmem>,
}

/// This CPU's per-CPU base (`TPIDRPRW`), 0 before it is set.
pub fn percpu_base() -> usize {
    Tpidrprw::read().0 as usize
}

/// The logical CPU id from the per-CPU area, 0 before areas exist.
fn cpu_id() -> usize {
    kernel::percpu::cpu_id_from_base(percpu_base())
}

/// The CPUs `/cpus` lists (available ones, up to [`smp::MAX_CPUS`]), the boot CPU first.
pub(crate) fn cpus_from_dt(dt: &devicetree::DtMemoryInfo<'_>) -> heapless::Vec<kernel::CpuDesc, { smp::MAX_CPUS }> {
    let me = u64::from(Mpidr::read().0 & 0x00ff_ffff);
    let mut v: heapless::Vec<kernel::CpuDesc, { smp::MAX_CPUS }> = heapless::Vec::new();
    let all = dt.cpus.iter().filter(|c| c.available).filter_map(|c| Some(kernel::CpuDesc { hw_id: c.mpidr?, nid: 0 }));
    for c in all.clone().filter(|c| c.hw_id == me).chain(all.filter(|c| c.hw_id != me)) {
        if v.push(c).is_err() {
            defmt::warn!("more than {=usize} CPUs in the device tree: the rest stay off", smp::MAX_CPUS);
            break;
        }
    }
    if v.is_empty() {
        let _ = v.push(kernel::CpuDesc { hw_id: me, nid: 0 });
    }
    v
}

/// Declares the board's entry point: `entry!(BOARD, main)` with `BOARD: BoardConfig` and
/// `fn main(&mut Armv7a) -> !`.
#[macro_export]
macro_rules! entry {
    ($board:path, $main:path) => {
        #[no_mangle]
        extern "C" fn armv7a_board_entry(dtb: u32, entry_mode: u32, start_ticks: u64) -> ! {
            $crate::start(&$board, dtb, entry_mode, start_ticks, $main)
        }
    };
}

/// Brings the platform up from the entry code and calls the board's `main`. Not called
/// directly: [`entry!`] wires it.
///
/// Until the console is known nothing can be logged: a missing or unreadable device tree, one
/// without a UART of the board's driver, or a 16550 whose `reg-shift`/`reg-io-width` the driver
/// cannot use ends the run with semihosting status 6.
pub fn start(board: &'static BoardConfig, dtb_phys: u32, entry_mode: u32, start_ticks: u64, main: fn(&mut Armv7a) -> !) -> ! {
    // The boot clock, from its value at the first instruction: the generic timer, or the
    // Cortex-A9 global timer, whose rate is measured once the console can say so (timer.rs).
    timer::init(start_ticks);
    let Ok(dt) = kernel::fdt::read_device_tree(dtb_phys.into()) else { cpu::exit_status(cpu::EXIT_NO_CONSOLE) };
    let tree = kernel::fdt::device_tree(dtb_phys.into()).ok();
    let driver = board.console_driver;
    let found = mmio::find(board, dt.console.as_ref(), tree.as_ref());
    let wiring = found.wiring;
    let console = found.base;
    let Some(console) = console.and_then(|c| u32::try_from(c).ok()) else { cpu::exit_status(cpu::EXIT_NO_CONSOLE) };
    #[allow(unsafe_code)]
    // SAFETY: the board or the device tree names this UART as the console; nothing else drives
    // it, and with the MMU off its physical address is usable. `paging_init` maps its window as
    // device memory at the same address.
    let started = unsafe { mmio::init_console(driver, console as usize, &wiring) };
    let Ok(started) = started else { cpu::exit_status(cpu::EXIT_NO_CONSOLE) };
    kernel::logger::install(kernel::logger::Hooks {
        write: mmio::console_write,
        irq_save: cpu::irq_save,
        irq_restore: cpu::irq_restore,
        cpu_id,
    });
    let mode = match entry_mode {
        0x1a => "Hyp mode (dropped to SVC)",
        _ => "SVC mode",
    };
    defmt::info!(
        "{=str}: ARMv7-A (MIDR {=u32:#010x}), entered in {=str}, device tree at {=u32:#x}",
        board.name,
        aarch32_cpu::register::Midr::read().raw_value(),
        mode,
        dtb_phys
    );
    mmio::log_found(board, &found, u64::from(console), started, dt.console.as_ref());
    match timer::boot_counter() {
        timer::BootCounter::Generic => {}
        timer::BootCounter::GlobalTimer(gt) => {
            defmt::info!(
                "clock: no generic timer (ID_PFR1[19:16] = 0): the Cortex-A9 MPCore global timer at {=u32:#x} (PERIPHBASE {=u32:#x} from CBAR), control {=u32:#x}",
                gt,
                gt - timer::GLOBAL_TIMER_OFFSET,
                timer::gt_control().unwrap_or(0)
            );
            match tree.as_ref().map(timer::calibrate) {
                Some(Ok(Some(c))) => defmt::info!(
                    "clock: global timer rate measured as {=u64} Hz: {=u64} ticks over {=u32} ticks of {=str} at {=u64} Hz (/clocks/osc / 8, Linux's gpt_3m)",
                    c.rate_hz,
                    c.ticks.0,
                    c.ticks.1,
                    c.reference.as_str(),
                    c.reference_hz
                ),
                Some(Ok(None)) | None => {}
                Some(Err(e)) => defmt::error!("{=str}; the log's time stamps stay at 0 and secondary CPUs cannot be waited for", e),
            }
        }
        timer::BootCounter::None => defmt::error!(
            "clock: no generic timer and no Cortex-A9/A5 global timer (not an MPCore A9/A5, or CBAR reads 0): no boot clock; time stamps stay at 0 and secondary CPUs cannot be waited for"
        ),
    }
    main(&mut Armv7a {
        board,
        dtb_phys,
        entry_mode,
        console,
        console_window: mmio::window(driver, &wiring),
        local_intc: match (board.smp_method, &tree) {
            (Some(kernel::board::SmpMethod::Bcm2836Smp), Some(t)) => block_base(t, bcm2836::LOCAL_INTC_COMPATIBLE),
            _ => None,
        },
        src: match (board.smp_method, &tree) {
            // Linux's imx_src_init: the tree's fsl,imx6q-src node.
            (Some(kernel::board::SmpMethod::Imx6Src), Some(t)) => block_base(t, imx6::SRC_COMPATIBLE),
            _ => None,
        },
        periphbase: timer::periphbase(),
        dt,
        cpus: cpus_from_dt(dt),
        phys_offset: 0,
        lowmem: None,
    })
}

/// The CPU address of the register block of the first available node compatible with
/// `compatible` (its `reg` translated through the parents' `ranges`), if the tree has one that
/// a 32-bit CPU can reach.
fn block_base(tree: &devicetree::DeviceTree<'_>, compatible: &str) -> Option<u32> {
    devicetree::find_console(tree, &[compatible]).ok().flatten().and_then(|n| n.cpu_base.ok()).and_then(|b| u32::try_from(b).ok())
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    kernel::report_panic(info);
    cpu::exit(ExitCode::Failure)
}
