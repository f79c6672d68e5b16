//! The `selftest` application: the checks `cargo xtask test` boots every board with.
//!
//! It asks the boot path for its self-checks ([`platform::app::App::boot_selfchecks`]: the
//! buddy drain/restore check and the buddy self-test before the allocator goes behind its lock,
//! the stress test's set-up before the secondary CPUs start), then, once memory management is
//! up on every CPU, runs the late ones on every CPU: the SMP stress test with `alloc` growth on
//! each CPU, vmalloc on real memory, cross-CPU calls and the TLB shoot-down after `vfree`,
//! `kmap_local` on every CPU at once, and CMA. Each prints its own line; the last line says
//! that all passed. The `selftest=` fault injections and the benchmark are command-line
//! options of the boot path and work with any application.
#![no_std]
#![forbid(unsafe_code)]

use platform::app::{App, AppResult, Kernel};

fn main(k: &Kernel) -> AppResult {
    k.run_boot_selftests()?;
    defmt::info!("boot: memory management up on {=usize} CPU(s); all checks passed", k.online_cpus());
    Ok(())
}

/// The application (`cargo xtask run --app selftest`, the default).
pub static APP: App = App::new("selftest", main).with_boot_selfchecks();
