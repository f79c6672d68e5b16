//! QEMU i386 PC: the board's wiring. What the board is lives in board.toml; build.rs turns it
//! into `BOARD`.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

include!(concat!(env!("OUT_DIR"), "/board.rs"));

platform_x86_pc::entry!(BOARD, main);

fn main(pc: &mut platform_x86_pc::X86Pc) -> ! {
    kernel::start_kernel(pc, None, &app_select::APP)
}
