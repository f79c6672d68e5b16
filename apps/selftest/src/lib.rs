//! The `selftest` application: the checks `cargo xtask test` boots every board with.
//!
//! It asks the boot path for its self-checks ([`kernel::app::App::boot_selfchecks`]: the
//! buddy drain/restore check and the buddy self-test before the allocator goes behind its lock,
//! x86's HighMem `kmap` check in `paging_init`), then, once memory management is up on every
//! CPU, runs the late ones on the application API alone: the SMP stress test with `alloc`
//! growth on each CPU ([`stress`]), vmalloc on real memory, cross-CPU calls and the TLB
//! shoot-down after `vfree`, `kmap` on every CPU at once, and CMA ([`checks`]); last the
//! application API itself ([`api`]). Each check prints its own line; the last line says that
//! all passed. The `selftest=` fault injections and the benchmark are command-line options of
//! the boot path and work with any application.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};

use kernel::app::{App, AppResult, CallError, Gfp, Kernel, Migratetype, ZoneType};
use kernel::percpu::{CacheLine, PerCpu, NR_CPUS};

pub mod checks;
pub mod stress;

fn main(k: &Kernel) -> AppResult {
    stress::run(k)?;
    checks::vmalloc(k)?;
    checks::cross_cpu(k)?;
    checks::kmap_on_each_cpu(k)?;
    checks::cma(k)?;
    api(k)?;
    defmt::info!("boot: memory management up on {=usize} CPU(s); all checks passed", k.online_cpus());
    Ok(())
}

/// Counts, per CPU, the closures each CPU ran for [`api`].
static RAN: PerCpu<AtomicU64> = PerCpu::new([const { CacheLine(AtomicU64::new(0)) }; NR_CPUS]);

/// The application API through the handle alone, with every free page accounted for:
/// - `on_each_cpu` runs once on every online CPU, each in its own `PerCpu` slot, with the
///   CPU's own id; `call_on` runs on the CPU asked and refuses one that is not online by name;
/// - on every CPU at once: a HighMem page (where there is some) allocated, mapped with `kmap`,
///   written, read back and freed; a 64 KiB `vmalloc` area filled and checked, then `vfree`d
///   by the boot CPU once the others are idle again (x86's shoot-down IPI needs them idle);
/// - a 2 ms `DelayNs` lasts at least 2 ms on the boot clock, which never goes back;
/// - the free pages of every zone are what they were (caches drained).
///
/// # Errors
/// The first property that did not hold.
pub fn api(k: &Kernel) -> Result<(), &'static str> {
    use embedded_hal::delay::DelayNs;
    k.drain_all();
    let free_before: u64 = k.zones().iter().map(|z| z.free_pages).sum();
    let ids = k.on_each_cpu(|cpu| {
        RAN.get().fetch_add(1, Ordering::Relaxed);
        (cpu, k.cpu_id())
    });
    let ids = ids.map_err(|_| "API self-test: on_each_cpu: a CPU did not answer")?;
    if ids.len() != k.online_cpus() || ids.iter().any(|(cpu, (arg, id))| cpu != arg || cpu != id) {
        return Err("API self-test: on_each_cpu did not run once on each online CPU with its own id");
    }
    if ids.iter().any(|(cpu, _)| RAN.get_on(*cpu).map(|r| r.load(Ordering::Relaxed)) != Some(1)) {
        return Err("API self-test: a CPU's PerCpu slot does not count its one call");
    }
    let last = k.online_cpus() - 1;
    if k.call_on(last, |_| k.cpu_id()) != Ok(last) {
        return Err("API self-test: call_on did not run on the CPU asked");
    }
    if k.call_on(NR_CPUS, |c| c) != Err(CallError::NotOnline { cpu: NR_CPUS }) {
        return Err("API self-test: call_on to a CPU that does not exist was not refused");
    }
    let on_each = k.on_each_cpu(|cpu| -> Result<(kernel::app::VmArea, bool), &'static str> {
        let gfp = Gfp { highest_zone: ZoneType::HighMem, migratetype: Migratetype::Movable, ..Gfp::HIGHUSER };
        let mut block = k.alloc_pages(0, gfp).map_err(|_| "API self-test: alloc_pages failed")?;
        let ok = {
            let mut page = k.kmap(&mut block, 0).ok_or("API self-test: kmap failed")?;
            page.fill((0..).map(|i: usize| i ^ cpu));
            page.verify((0..).map(|i: usize| i ^ cpu), |_, _, _| {}) == 0
        };
        k.free_pages(block)?;
        let mut area = k.vmalloc(64 << 10)?;
        area.as_mut_slice().iter_mut().enumerate().for_each(|(i, b)| *b = (i ^ cpu) as u8);
        let same = area.as_mut_slice().iter().enumerate().all(|(i, b)| *b == (i ^ cpu) as u8);
        Ok((area, ok && same))
    });
    let mut all_read_back = true;
    for (_, r) in on_each.map_err(|_| "API self-test: a CPU did not answer")? {
        let (area, ok) = r?;
        k.vfree(area)?;
        all_read_back &= ok;
    }
    if !all_read_back {
        return Err("API self-test: a word written through kmap or vmalloc did not read back");
    }
    let t0 = k.now_ns();
    k.delay().delay_ms(2);
    let waited = k.now_ns().saturating_sub(t0);
    if waited < 2_000_000 || k.now_ns() < t0 {
        return Err("API self-test: a 2 ms delay was shorter on the boot clock");
    }
    k.drain_all();
    let free_after: u64 = k.zones().iter().map(|z| z.free_pages).sum();
    if free_after != free_before {
        return Err("API self-test: free pages differ after every page and area went back");
    }
    k.check_allocator()?;
    // The boot facts: memblock at the hand-off, as the boot printed it (the tests compare).
    let (ram, reserved) = (k.memory_regions(), k.reserved_regions());
    let kib = |rs: &[kernel::app::Region]| rs.iter().map(|r| r.size).sum::<u64>() / 1024;
    if ram.is_empty() || reserved.is_empty() || k.zones().iter().any(|z| z.managed_pages > z.spanned_pages) {
        return Err("API self-test: no memblock regions at the hand-off, or a zone manages more pages than it spans");
    }
    defmt::info!(
        "API self-test: board {=str}, command line \"{=str}\"; memblock at the hand-off: {=usize} memory region(s), {=u64} KiB; {=usize} reserved region(s), {=u64} KiB",
        k.board().name,
        k.cmdline(),
        ram.len(),
        kib(ram),
        reserved.len(),
        kib(reserved)
    );
    defmt::info!(
        "API self-test: on_each_cpu on {=usize} CPU(s) with PerCpu counts, call_on CPU{=usize}, CPU{=usize} refused as not online; kmap and vmalloc on every CPU at once, vfree of their areas; delay_ms(2) took {=u64} us; free pages back to {=u64}",
        ids.len(),
        last,
        NR_CPUS,
        waited / 1000,
        free_after
    );
    Ok(())
}

/// The application (`cargo xtask run --app selftest`, the default).
pub static APP: App = App::new("selftest", main).with_boot_selfchecks();
