//! QEMU AArch64 virt: the board's wiring. RAM, console and reserved areas come from the device
//! tree; the platform and the generic boot path do the work.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use platform_aarch64::{Aarch64, BoardConfig};

static BOARD: BoardConfig = BoardConfig { name: "qemu-virt-aarch64" };

platform_aarch64::entry!(BOARD, main);

fn main(m: &mut Aarch64) -> ! {
    // QEMU's virt machine needs nothing beyond what the device tree and platform reserve.
    platform::start_kernel(m, None)
}
