//! The smallest memfw application: the README's "Write your own firmware" example, verbatim.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use kernel::app::{App, AppResult, Gfp, Kernel};

fn main(k: &Kernel) -> AppResult {
    // The heap: Box, Vec and the collections work on every CPU.
    let squares: Vec<u64> = (1..=10).map(|i| i * i).collect();
    // A page from the buddy allocator, written and read through its mapping.
    let mut block = k.alloc_pages(0, Gfp::HIGHUSER).map_err(|_| "no free page")?;
    let mut page = k.kmap(&mut block, 0).ok_or("cannot map the page")?;
    page.write(0, squares.iter().sum::<u64>() as usize);
    let sum = page.read(0);
    drop(page);
    k.free_pages(block)?;
    // Every online CPU at once: its id and NUMA node.
    let cpus = k.on_each_cpu(|cpu| (cpu, k.numa_node_id())).map_err(|_| "a CPU did not answer")?;
    for (cpu, (_, node)) in &cpus {
        defmt::info!("hello: CPU{=usize} on node {=i32}", cpu, node);
    }
    let free: u64 = k.zones().iter().map(|z| z.free_pages).sum();
    defmt::info!(
        "hello: {=usize} CPU(s), board {=str}, sum of squares {=usize}, {=u64} MiB free, {=u64} ms since boot",
        cpus.len(),
        k.board().name,
        sum,
        free >> 8,
        k.now_ns() / 1_000_000
    );
    Ok(())
}

/// The application (`cargo xtask run --app hello`).
pub static APP: App = App::new("hello", main);
