//! QEMU i386 PC: the board's wiring. Everything the board knows is data below; the platform and
//! the generic boot path do the work.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use platform_x86_pc::{BoardConfig, ExitCode, X86Pc};

/// COM1 is the console on the PC.
static BOARD: BoardConfig = BoardConfig { name: "qemu-i386-pc", console_port: 0x3f8 };

platform_x86_pc::entry!(BOARD, main);

fn main(pc: &mut X86Pc) -> ! {
    let mut n = 0;
    let _ = pc.multiboot.for_each_map_entry(|(addr, len, kind)| {
        defmt::info!("e820 {=u64:#x} {=u64:#x} {=u32}", addr, len, kind);
        n += 1;
    });
    pc.exit(ExitCode::Success)
}
