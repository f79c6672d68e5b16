//! x86-32 PC platform: Multiboot v1 entry, CPU tables, COM1 console and the BIOS e820 map.
//!
//! Boot order (each step in its own module):
//! 1. [`boot`]: `_start` (entered at its physical address) loads a flat GDT, clears .bss, turns
//!    paging on with a boot page directory that maps low memory at `PAGE_OFFSET` 0xC0000000
//!    (Linux's 3G/1G split), jumps to the higher half and calls the board's entry, which the board
//!    declares with [`entry!`];
//! 2. [`start`]: console (the board's 16550 port) and logger, then the IDT and task register
//!    ([`cpu`], [`doublefault`]) so faults are reported, a kernel stack overflow included, then the Multiboot information ([`multiboot`]);
//! 3. the board's `main` runs the generic boot path with an [`X86Pc`] as its platform, which
//!    calls [`paging::paging_init`] (the kernel page tables, the pkmap/fixmap windows for
//!    HighMem) once memblock is set up, and then [`smpboot::smp_init`] (local APIC, CPUs from
//!    the MADT or MP table); secondary CPUs start through [`smpboot::start_cpu`] (real-mode
//!    trampoline reserved below 1 MiB by `reserve_early`, INIT-SIPI-SIPI).
//!
//! Unsafe code is fenced in [`apic`], [`boot`], [`cpu`], [`delay`], [`doublefault`], [`io`], [`memory`],
//! [`multiboot`], [`paging`] and [`smpboot`]; each block says why it holds. This crate builds only for the `i686-unknown-none` target.
#![no_std]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(not(target_arch = "x86"))]
compile_error!("platform-x86-pc builds only for 32-bit x86 (target i686-unknown-none): use `cargo xtask build --board qemu-i386-pc`");

pub mod acpi;
pub mod apic;
mod boot;
pub mod cpu;
pub mod delay;
pub mod doublefault;
pub mod initrd;
pub mod io;
pub mod memory;
pub mod multiboot;
pub mod paging;
pub mod smpboot;
pub mod tlb;

/// The first physical address this platform cannot use: two-level paging without PAE has
/// 32-bit physical addresses (the e820 code drops RAM above it the way Linux does).
pub const PHYS_LIMIT: u64 = 1 << 32;

pub use kernel::ExitCode;

pub use kernel::board::BoardConfig;

/// The running PC: what the boot loader handed over.
#[derive(Debug)]
pub struct X86Pc {
    pub board: &'static BoardConfig,
    pub multiboot: multiboot::MultibootInfo,
    /// The sanitised e820 table, once discovery ran.
    pub e820: Option<e820::E820Table>,
    /// The CPUs (boot CPU first), found after `paging_init` by [`smpboot::smp_init`].
    pub cpus: heapless::Vec<kernel::CpuDesc, { cpu::MAX_CPUS }>,
}

/// This CPU's per-CPU base (`fs:[0]`), 0 before `set_percpu_base` ran on it.
pub fn percpu_base() -> usize {
    cpu::percpu_base()
}

impl X86Pc {
    /// Ends the machine with `code` (QEMU exits; real hardware halts).
    pub fn exit(&self, code: ExitCode) -> ! {
        io::exit(code)
    }
}

/// Declares the board's entry point: `entry!(BOARD, main)` with `BOARD: BoardConfig` and
/// `fn main(&mut X86Pc) -> !`.
#[macro_export]
macro_rules! entry {
    ($board:path, $main:path) => {
        #[no_mangle]
        extern "C" fn x86_pc_board_entry(magic: u32, info: u32) -> ! {
            $crate::start(&$board, magic, info, $main)
        }
    };
}

/// Brings the platform up from `_start` and calls the board's `main`. Not called directly:
/// [`entry!`] wires it.
pub fn start(
    board: &'static BoardConfig,
    magic: u32,
    info: u32,
    main: fn(&mut X86Pc) -> !,
) -> ! {
    // The boot clock counts from the TSC value `_start` saved; its rate is known once the TSC
    // is calibrated against the PIT (smpboot), and log timestamps are 0 until then, as Linux's.
    kernel::clock::init(delay::rdtsc, delay::tsc_at_start(), 0);
    // FS must point at a readable per-CPU word before the logger asks for the CPU id.
    cpu::load_gdt();
    tlb::mask_legacy_pic();
    // xtask accepts only an I/O-port 16550 console for this platform; without one nothing can
    // be said, so the exit status has to.
    let kernel::board::Console::Uart16550Port(port) = board.console else { io::exit(ExitCode::Failure) };
    #[allow(unsafe_code)]
    // SAFETY: the board names the port its UART is on, and nothing else drives it.
    unsafe {
        io::init_console(port)
    };
    kernel::logger::install(kernel::logger::Hooks {
        write: io::console_write,
        irq_save: cpu::irq_save,
        irq_restore: cpu::irq_restore,
        cpu_id: cpu::smp_processor_id,
    });
    cpu::load_cpu_tables(0);
    defmt::info!("{=str}: x86-32 PC, entered through Multiboot v1", board.name);
    let multiboot = match multiboot::parse(magic, info) {
        Ok(mb) => mb,
        Err(e) => {
            defmt::error!("{}", defmt::Display2Format(&e));
            io::exit(ExitCode::Failure)
        }
    };
    defmt::info!("Command line: {=str}", multiboot.cmdline);
    if multiboot.cmdline_given > multiboot.cmdline.len() {
        defmt::warn!(
            "the boot loader's command line has {=usize}{=str} bytes, more than COMMAND_LINE_SIZE ({=usize}) allows: only the first {=usize} are used, the rest is ignored",
            multiboot.cmdline_given,
            if multiboot.cmdline_given >= 64 << 10 { " or more" } else { "" },
            multiboot::COMMAND_LINE_SIZE,
            multiboot.cmdline.len()
        );
    }
    main(&mut X86Pc { board, multiboot, e820: None, cpus: heapless::Vec::new() })
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    kernel::report_panic(info);
    io::exit(ExitCode::Failure)
}
