//! QEMU i386 PC: the board's wiring. Everything the board knows is data below; the platform and
//! the generic boot path do the work.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use platform_x86_pc::{BoardConfig, X86Pc};

/// COM1 is the console on the PC.
static BOARD: BoardConfig = BoardConfig { name: "qemu-i386-pc", console_port: 0x3f8 };

platform_x86_pc::entry!(BOARD, main);

fn main(pc: &mut X86Pc) -> ! {
    // QEMU's PC needs nothing beyond what the platform reserves.
    platform::start_kernel(pc, None)
}
