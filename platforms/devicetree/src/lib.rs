//! Memory discovery from a flattened device tree (FDT): the ARM counterpart of e820.
//!
//! Three steps, each in its own module:
//! 1. [`DeviceTree::new`] (`header.rs`, `tree.rs`) validates the blob completely before the
//!    third-party parser (`fdt` 0.2, see CRATE-CHOICE.md) is handed it, so every malformed input
//!    is a [`DtError`] and never a panic. Firmware that only has a pointer reads
//!    [`header_totalsize`] from the first 40 bytes to learn how long a slice to make.
//! 2. [`discover`] (`discover.rs`) reads what Linux 6.1's early FDT code reads: RAM banks
//!    (`early_init_dt_scan_memory`), `/memreserve/` and `/reserved-memory`
//!    (`early_init_fdt_scan_reserved_mem`, `fdt_scan_reserved_mem`), `/chosen`
//!    (`early_init_dt_scan_chosen`, `early_init_dt_check_for_initrd`, `of_stdout`), `/cpus`
//!    and `/psci`, into a [`DtMemoryInfo`] made of bounded `heapless` vectors: a tree that does not
//!    fit is an error, never a silent truncation.
//!    Device addresses go through the parents' `ranges` to CPU addresses
//!    ([`DeviceTree::reg_cpu_address`], `address.rs`, Linux `of_translate_address`), and CPU
//!    nodes say how they are started ([`Cpu::enable`]: PSCI or a spin table).
//! 3. [`apply`] (`apply.rs`) feeds that into a [`memblock::Memblock`] in Linux's order and
//!    writes one Linux-style line per bank and per reservation to a [`mm_types::LineSink`],
//!    each bank on the NUMA node [`of_numa_init`] (`numa.rs`) gives it.
//!
//! Addresses and sizes are `u64` and ranges half-open `[base, base + size)` throughout.
#![no_std]
#![forbid(unsafe_code)]

mod address;
mod apply;
mod discover;
mod error;
mod header;
mod numa;
mod tree;
mod walk;

pub use address::RegEntry;
pub use apply::{add_memory, apply, apply_with, reserve, ApplyParams, MAX_AREAS, ApplyReport, ReservationOutcome, ReservationSource, ReservedArea};
pub use discover::{
    console_at, discover, find_console, uart_props, Chosen, Console, Cpu, CpuPath, DtMemoryInfo, EnableMethod, MemoryBank, PsciMethod, ReservedKind, ReservedMemory,
    ReservedRegion, UartProps, MAX_ALLOC_RANGES, MAX_BANKS, MAX_CPUS, MAX_MEMRESERVE, MAX_PATH, MAX_RESERVED,
    MAX_DISTANCES, MAX_STATIC_REGS,
};
pub use error::{DtError, Untranslatable};
pub use numa::{of_numa_init, DtNuma, NumaFallback, MAX_NUMNODES};
pub use header::{header_totalsize, Header, FDT_MAGIC, HEADER_SIZE, MAX_DEPTH};
pub use tree::{DeviceTree, NodeName};
pub use walk::WalkNode;

#[cfg(test)]
mod test_fdt;
#[cfg(test)]
mod tests;
