//! The platform trait surface: what an architecture crate provides to the generic boot path.
//!
//! A platform crate (`platform-x86-pc`, `platform-aarch64`) owns the CPU: boot entry, exception
//! vectors, the console hardware, memory discovery and the way the machine is ended. The
//! architecture-independent code (`mm-init` and the boards) only sees the [`Platform`] trait and
//! the helpers here (the memory side of the trait surface, `mm_init::Platform`, is host-testable and
//! lives in `mm/init`):
//!
//! - [`logger`]: the defmt global logger over whatever console the platform installs, safe
//!   against other CPUs and interrupts;
//! - [`ExitCode`]: how a boot ends, which the platform turns into a QEMU exit status.
#![no_std]
#![deny(unsafe_code)]

pub mod logger;

use memblock::{Region, RegionArrayMapper, RegionFlags, INIT_MEMBLOCK_REGIONS, MAX_NUMNODES};
use mm_init::{BoardReserve, MemblockStorage};

/// How the firmware ends. The platform maps it onto its exit device (isa-debug-exit on x86,
/// semihosting on ARM) so that the host sees a distinct status for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum ExitCode {
    /// All boot work done and every self-check passed.
    Success,
    /// A panic, an unexpected exception or a failed self-check.
    Failure,
}

/// A [`mm_types::LineSink`] that sends each line to the defmt log at `info` level.
///
/// Lines are formatted into a fixed buffer first (reports such as `dump_all` are built with
/// `core::fmt`); a line longer than the buffer is cut and marked with `…`, never dropped.
#[derive(Debug, Default)]
pub struct DefmtSink;

impl mm_types::LineSink for DefmtSink {
    fn line(&mut self, args: core::fmt::Arguments<'_>) {
        let mut buf: heapless::String<192> = heapless::String::new();
        if core::fmt::write(&mut buf, args).is_err() {
            // The buffer filled up: keep what fits and say it was cut.
            while buf.len() > 188 {
                buf.pop();
            }
            let _ = buf.push_str("…");
        }
        defmt::info!("{=str}", buf.as_str());
    }
}

/// What the generic boot path needs from a platform beyond memory discovery.
pub trait Firmware: mm_init::Platform {
    /// Ends the run with `code`.
    fn exit(&self, code: ExitCode) -> !;

    /// Turns physical addresses memblock chooses for its doubled arrays into storage (identity
    /// while the MMU is off, the linear map afterwards). Called once.
    fn region_mapper(&mut self) -> &'static mut dyn RegionArrayMapper<'static>;
}

const EMPTY_REGION: Region = Region { base: 0, size: 0, nid: MAX_NUMNODES, flags: RegionFlags::NONE };
static MEMORY_REGIONS: spin::Mutex<[Region; INIT_MEMBLOCK_REGIONS]> =
    spin::Mutex::new([EMPTY_REGION; INIT_MEMBLOCK_REGIONS]);
static RESERVED_REGIONS: spin::Mutex<[Region; INIT_MEMBLOCK_REGIONS]> =
    spin::Mutex::new([EMPTY_REGION; INIT_MEMBLOCK_REGIONS]);

/// Hands out the `'static` contents of `cell` the first time, `None` after that.
pub fn take_static<T>(cell: &'static spin::Mutex<T>) -> Option<&'static mut T> {
    cell.try_lock().map(spin::MutexGuard::leak)
}

fn memblock_debug_line(args: core::fmt::Arguments<'_>) {
    mm_types::LineSink::line(&mut DefmtSink, args);
}

/// The generic boot path after the platform is up (Linux's `start_kernel`, memory part):
/// command line, discovery, early reservations, the board's hook, `mem=`, memblock resizing,
/// `memblock_dump_all`. Ends the run: success when every step worked, failure otherwise.
pub fn start_kernel<P: Firmware>(platform: &mut P, board_reserve: Option<BoardReserve>) -> ! {
    let (Some(memory), Some(reserved)) = (take_static(&MEMORY_REGIONS), take_static(&RESERVED_REGIONS)) else {
        defmt::error!("start_kernel called twice");
        platform.exit(ExitCode::Failure)
    };
    let storage = MemblockStorage { memory, reserved, mapper: platform.region_mapper() };
    match mm_init::setup_memblock(platform, storage, board_reserve, memblock_debug_line, &mut DefmtSink) {
        Ok(_memblock) => {
            defmt::info!("boot: early memory set up; paging_init and the page allocator are not implemented yet");
            platform.exit(ExitCode::Success)
        }
        Err(e) => {
            defmt::error!("boot failed: {}", defmt::Display2Format(&e));
            platform.exit(ExitCode::Failure)
        }
    }
}
