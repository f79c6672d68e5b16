//! QEMU AArch64 virt: the board's wiring. What the board is lives in board.toml (RAM, console and
//! reserved areas also come from the device tree); build.rs turns it into `BOARD`.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

include!(concat!(env!("OUT_DIR"), "/board.rs"));

platform_aarch64::entry!(BOARD, main);

fn main(m: &mut platform_aarch64::Aarch64) -> ! {
    kernel::start_kernel(m, None, &app_select::APP)
}
