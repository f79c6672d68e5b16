//! Freescale i.MX6 Quad SABRE Lite Board: the board's wiring. What the board is lives in board.toml; build.rs turns it into
//! `BOARD`.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

include!(concat!(env!("OUT_DIR"), "/board.rs"));

platform_armv7a::entry!(BOARD, main);

fn main(m: &mut platform_armv7a::Armv7a) -> ! {
    kernel::start_kernel(m, None, &app_select::APP)
}
