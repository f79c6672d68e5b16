//! AArch64 platform: arm64 Image entry, EL2 to EL1, exception vectors, the console UART (PL011,
//! 16550, i.MX, Meson, Cadence, Exynos: the board's `[console] driver`), the device tree and the
//! semihosting exit.
//!
//! Boot order (each step in its own module):
//! 1. [`boot`]: the Image header, EL2 to EL1, FP/SIMD on, stack, .bss, vectors
//!    ([`exceptions`]), then the board's entry, which the board declares with [`entry!`];
//! 2. [`start`]: the device tree (its address came in x0) gives the console, which [`mmio`]
//!    starts with the board's driver, and the logger is installed. The board says which UART (`Console`): the tree's
//!    `/chosen/stdout-path`, a node it names, or a fixed address; a node's `reg` is a bus
//!    address that the parents' `ranges` translate to the CPU's (the Raspberry Pi's PL011 is at
//!    0x7e201000 on its bus, 0x3f201000 for the CPU);
//! 3. the board's `main` runs the generic boot path with an [`Aarch64`] as its platform:
//!    [`memory`] (discovery, early reservations, page 0 kept out where RAM starts at 0),
//!    [`paging`] (the MMU, page 0 unmapped, a fixmap window) and [`smp`] (secondary CPUs through
//!    PSCI or a spin table, as each CPU's node says).
//!
//! Nothing here needs an interrupt controller (no GIC is touched) or PSCI beyond `CPU_ON` for
//! CPUs whose node asks for it: the exit is semihosting and a parked CPU waits in `wfe`.
//!
//! Unsafe code is fenced in the modules that say `#![allow(unsafe_code)]` ([`boot`],
//! [`exceptions`], [`cpu`], [`mmio`], [`memory`], [`paging`], [`smp`], [`initrd`]); every block
//! has a `SAFETY:` comment. This crate builds only for `aarch64-unknown-none`.
#![no_std]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(not(target_arch = "aarch64"))]
compile_error!("platform-aarch64 builds only for AArch64 (target aarch64-unknown-none): use `cargo xtask build --board qemu-virt-aarch64`");

mod boot;
pub mod cpu;
pub mod exceptions;
pub mod initrd;
pub mod memory;
pub use kernel::console_mmio as mmio;
pub mod paging;
pub mod smp;

/// The first physical address this platform cannot use: its identity linear map ends where the
/// vmalloc area starts. Device-tree memory at or above it is ignored at discovery
/// (`devicetree::add_memory`), as Linux ignores memory above `MAX_MEMBLOCK_ADDR`.
pub const PHYS_LIMIT: u64 = paging::VMALLOC_START;

use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0};

pub use kernel::ExitCode;

pub use kernel::board::BoardConfig;

/// The running machine: what the loader handed over.
#[derive(Debug)]
pub struct Aarch64 {
    pub board: &'static BoardConfig,
    /// Physical address of the device tree (x0 at entry).
    pub dtb_phys: u64,
    /// The exception level the loader entered us at (1 or 2).
    pub entry_el: u64,
    /// Physical address of the console UART's registers.
    pub console: u64,
    /// Bytes of register window the console's driver uses from `console` (mapped as device
    /// memory by `paging_init`).
    pub console_window: u64,
    /// What the device tree says (read once, kept in a static).
    pub dt: &'static devicetree::DtMemoryInfo<'static>,
    /// Available CPUs from `/cpus`, boot CPU first, each on its node once the NUMA description
    /// is read (at memory discovery).
    pub cpus: heapless::Vec<kernel::CpuDesc, { smp::MAX_CPUS }>,
    /// The NUMA description (`of_numa_init`), read with the memory banks.
    pub numa: Option<devicetree::DtNuma>,
}

// The device tree's node-id limit is the node array's size.
const _: () = assert!(devicetree::MAX_NUMNODES as usize == page_alloc::MAX_NODES);

/// This CPU's per-CPU base (`TPIDR_EL1`), 0 before it is set.
pub fn percpu_base() -> usize {
    use aarch64_cpu::registers::Readable;
    aarch64_cpu::registers::TPIDR_EL1.get() as usize
}

/// The logical CPU id from the per-CPU area (its second word), 0 before areas exist.
fn cpu_id() -> usize {
    kernel::percpu::cpu_id_from_base(percpu_base())
}

/// The CPUs `/cpus` lists (available ones, up to [`smp::MAX_CPUS`]), the boot CPU first, on
/// the node `numa` gives them (node 0 until it is known).
pub(crate) fn cpus_from_dt(
    dt: &devicetree::DtMemoryInfo<'_>,
    numa: Option<&devicetree::DtNuma>,
) -> heapless::Vec<kernel::CpuDesc, { smp::MAX_CPUS }> {
    use aarch64_cpu::registers::Readable;
    let me = aarch64_cpu::registers::MPIDR_EL1.get() & 0xff_00ff_ffff;
    let mut v: heapless::Vec<kernel::CpuDesc, { smp::MAX_CPUS }> = heapless::Vec::new();
    let all = dt.cpus.iter().filter(|c| c.available).filter_map(|c| {
        Some(kernel::CpuDesc { hw_id: c.mpidr?, nid: numa.map_or(0, |n| n.cpu_nid(c)) })
    });
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

impl Aarch64 {
    /// Ends the run with `code`.
    pub fn exit(&self, code: ExitCode) -> ! {
        cpu::exit(code)
    }
}

/// Declares the board's entry point: `entry!(BOARD, main)` with `BOARD: BoardConfig` and
/// `fn main(&mut Aarch64) -> !`.
#[macro_export]
macro_rules! entry {
    ($board:path, $main:path) => {
        #[no_mangle]
        extern "C" fn aarch64_board_entry(dtb: u64, entry_el: u64, start_ticks: u64) -> ! {
            $crate::start(&$board, dtb, entry_el, start_ticks, $main)
        }
    };
}

/// Brings the platform up from the entry code and calls the board's `main`. Not called
/// directly: [`entry!`] wires it.
///
/// Until the console is known nothing can be logged: a missing or unreadable device tree, one
/// without a UART of the board's driver, or a 16550 whose `reg-shift`/`reg-io-width` the driver
/// cannot use ends the run with semihosting status 6.
pub fn start(
    board: &'static BoardConfig,
    dtb_phys: u64,
    entry_el: u64,
    start_ticks: u64,
    main: fn(&mut Aarch64) -> !,
) -> ! {
    // The boot clock: the physical counter, from its value at the first instruction.
    kernel::clock::init(|| CNTPCT_EL0.get(), start_ticks, CNTFRQ_EL0.get());
    // Without a device tree there is no console to say so: the exit status has to.
    let Ok(dt) = kernel::fdt::read_device_tree(dtb_phys.into()) else { cpu::exit_status(cpu::EXIT_NO_CONSOLE) };
    let driver = board.console_driver;
    let tree = kernel::fdt::device_tree(dtb_phys.into()).ok();
    let found = mmio::find(board, dt.console.as_ref(), tree.as_ref());
    let wiring = found.wiring;
    let console = found.base;
    let Some(console) = console else { cpu::exit_status(cpu::EXIT_NO_CONSOLE) };
    #[allow(unsafe_code)]
    // SAFETY: the board names this UART as the console (its device-tree node, translated to a
    // CPU address, or a fixed address) or the device tree does (stdout-path or the first UART
    // of the board's driver); nothing else drives it, and with the MMU off its physical address
    // is usable. `paging_init` maps its window as device memory at the same address.
    let started = unsafe { mmio::init_console(driver, console as usize, &wiring) };
    let Ok(started) = started else { cpu::exit_status(cpu::EXIT_NO_CONSOLE) };
    kernel::logger::install(kernel::logger::Hooks {
        write: mmio::console_write,
        irq_save: cpu::irq_save,
        irq_restore: cpu::irq_restore,
        cpu_id,
    });
    defmt::info!(
        "{=str}: AArch64, entered at EL{=u64}, device tree at {=u64:#x}",
        board.name,
        entry_el,
        dtb_phys
    );
    mmio::log_found(board, &found, console, started, dt.console.as_ref());
    let console_window = mmio::window(driver, &wiring);
    main(&mut Aarch64 { board, dtb_phys, entry_el, console, console_window, dt, cpus: cpus_from_dt(dt, None), numa: None })
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    kernel::report_panic(info);
    cpu::exit(ExitCode::Failure)
}
