//! The `memtest` application: a memory tester on every online CPU at once (the job memtest86+
//! or U-Boot's `mtest` do on real boards), built only on the application API.
//!
//! 1. **Take.** The caches are drained and each zone's free pages noted. Every online CPU then
//!    takes its share of the free pages from the page allocator (`alloc_pages`, HighMem
//!    included, its own node first, the largest blocks first; each CMA area through
//!    `cma_alloc`, a range per CPU); a second round takes whatever is left. The **reserve** is
//!    the allocator's own: every allocation that is not `__GFP_NOFAIL` leaves each zone's `min`
//!    watermark free (Linux's `min_free_kbytes`), so the kernel keeps memory for its heap and
//!    page tables while the test runs (the lower zones are asked for with their own highest
//!    zone, so their `lowmem_reserve` against HighMem allocations is taken too). At least 90%
//!    of the free pages must be taken, or the run fails.
//! 2. **Test.** Each CPU writes its pages with a pattern, then verifies them, for each of
//!    [`pattern::Pattern::ALL`] (walking ones, address in address, pseudo-random, its
//!    complement), `memtest.passes` times. Pages are reached through `kmap` (the linear map, or
//!    on x86-32 HighMem the CPU's own `kmap_atomic` slot). Each bad word is reported with its
//!    physical address, the value expected and the value found. Progress is printed every 10%
//!    of a pass.
//! 3. **Give back.** Every CPU frees its blocks; the caches are drained again and each zone's
//!    free page count must be exactly what it was, and the allocator consistent.
//!
//! `memtest.corrupt=ADDR` flips every bit of the word at physical `ADDR` between the write and
//! the verify of the first pattern (on the CPU that owns it): the run must then report exactly
//! that word and fail. An address outside the tested memory is an error that says so.
//!
//! The summary: `memtest: <MiB> MiB tested on <N> CPUs, <P> passes, <E> errors, <MB/s> MB/s`,
//! where MB/s counts the bytes written and read back per second of the test phase (all CPUs),
//! with a line per CPU. The figures are printed, never checked.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod pattern;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pattern::{Options, PageWords, Pattern};
use kernel::app::{App, AppError, AppResult, Gfp, Kernel, Migratetype, Pages, ZoneType, MAX_ORDER, PAGE_SIZE};

/// The application (`cargo xtask run --app memtest`).
pub static APP: App = App::new("memtest", main);

/// Least share of the free pages that must be tested.
const MIN_COVERAGE_PERMILLE: u64 = 900;
/// Most blocks one CPU holds (their list is allocated before any page is taken).
const MAX_BLOCKS_PER_CPU: usize = 4096;
/// Bad words printed per CPU; more are counted only.
const MAX_REPORTED: u64 = 16;
/// Orders tried, largest first (`MAX_ORDER - 1` down to 0).
const TOP_ORDER: u32 = MAX_ORDER - 1;
const PAGE_BYTES: u64 = PAGE_SIZE;

/// One CPU's blocks and results.
struct Share {
    blocks: spin::Mutex<Vec<Pages>>,
    pages: AtomicU64,
    ns: AtomicU64,
    errors: AtomicU64,
}

/// What every CPU reads or updates during the run.
struct Run {
    opts: Options,
    shares: Vec<Share>,
    /// Bytes written or verified in the current pass, by all CPUs.
    done: AtomicU64,
    /// Bytes a pass writes and verifies (all CPUs).
    pass_bytes: AtomicU64,
    pass: AtomicU64,
    corrupted: AtomicBool,
    errors: AtomicU64,
}

impl Run {
    /// Counts `bytes` of progress and prints the pass's percentage each time it crosses 10%.
    fn progress(&self, bytes: u64) {
        let total = self.pass_bytes.load(Ordering::Relaxed).max(1);
        let before = self.done.fetch_add(bytes, Ordering::Relaxed);
        let (a, b) = (before * 10 / total, (before + bytes) * 10 / total);
        if b > a {
            defmt::info!("memtest: pass {=u64} of {=u32}: {=u64}%", self.pass.load(Ordering::Relaxed), self.opts.passes, b * 10);
        }
    }
}

/// A block of exactly `order` pages of any migrate type from any zone. An allocation that may
/// use HighMem must leave each lower zone's `lowmem_reserve` for it (Linux keeps lowmem for
/// allocations that cannot use HighMem), so the lower zones are asked for again with their own
/// highest zone: what stays free is then each zone's `min` watermark only.
fn alloc_any(k: &Kernel, order: u32) -> Option<Pages> {
    [ZoneType::HighMem, ZoneType::Normal, ZoneType::Dma].into_iter().find_map(|highest_zone| {
        [Migratetype::Movable, Migratetype::Unmovable, Migratetype::Reclaimable].into_iter().find_map(|mt| {
            let gfp = Gfp { highest_zone, migratetype: mt, ..Gfp::HIGHUSER };
            k.alloc_pages(order, gfp).ok()
        })
    })
}

/// Takes blocks, largest first, until `limit` pages are held, nothing is left or the block
/// list is full.
fn take(k: &Kernel, share: &Share, limit: u64) {
    let mut blocks = share.blocks.lock();
    let mut held = share.pages.load(Ordering::Relaxed);
    let mut order = TOP_ORDER;
    while held < limit && blocks.len() < blocks.capacity() {
        while order > 0 && (1u64 << order) > limit - held {
            order -= 1;
        }
        match alloc_any(k, order) {
            Some(b) => {
                held += b.nr_pages();
                blocks.push(b);
            }
            None if order == 0 => break,
            None => order -= 1,
        }
    }
    share.pages.store(held, Ordering::Relaxed);
}

/// Writes (`verify == false`) or verifies one pattern over every page of `cpu`'s blocks;
/// returns the bad words found.
fn sweep(k: &Kernel, run: &Run, cpu: usize, pattern: Pattern, verify: bool) -> Result<u64, &'static str> {
    let share = &run.shares[cpu];
    let mut blocks = share.blocks.lock();
    let mut bad = 0u64;
    for block in blocks.iter_mut() {
        for index in 0..block.nr_pages() {
            let mut page = k.kmap(block, index).ok_or("memtest: a page could not be mapped")?;
            let phys = page.phys();
            let words = PageWords::new(pattern, run.opts.seed, phys);
            if verify {
                let mut seen = share.errors.load(Ordering::Relaxed) + bad;
                bad += page.verify(words, |i, want, found| {
                    seen += 1;
                    if seen <= MAX_REPORTED {
                        defmt::error!(
                            "memtest: bad word at phys {=u64:#x}: expected {=u64:#x}, found {=u64:#x} ({=str}, pass {=u64}, CPU{=usize})",
                            phys + (i as u64) * pattern::WORD_BYTES,
                            want as u64,
                            found as u64,
                            pattern.name(),
                            run.pass.load(Ordering::Relaxed),
                            cpu
                        );
                    }
                });
            } else {
                page.fill(words);
            }
            drop(page);
            run.progress(PAGE_BYTES);
        }
    }
    Ok(bad)
}

/// `memtest.corrupt`: flips every bit of the chosen word if it lies in `cpu`'s blocks.
fn corrupt(k: &Kernel, run: &Run, cpu: usize, addr: u64) -> Result<(), &'static str> {
    let mut blocks = run.shares[cpu].blocks.lock();
    let Some(block) = blocks.iter_mut().find(|b| (b.phys()..b.phys() + b.size_bytes()).contains(&addr)) else { return Ok(()) };
    let index = (addr - block.phys()) / PAGE_BYTES;
    let word = ((addr % PAGE_BYTES) / pattern::WORD_BYTES) as usize;
    let mut page = k.kmap(block, index).ok_or("memtest: the page to corrupt could not be mapped")?;
    let v = page.read(word);
    page.write(word, !v);
    defmt::info!("memtest: memtest.corrupt: CPU{=usize} flipped every bit of the word at phys {=u64:#x} ({=u64:#x} -> {=u64:#x})", cpu, addr, v as u64, !v as u64);
    run.corrupted.store(true, Ordering::Release);
    Ok(())
}

/// One CPU's test: every pass, every pattern, write then verify.
fn test_cpu(k: &Kernel, run: &Run, cpu: usize, pass: u32) -> Result<(), &'static str> {
    let t0 = k.now_ns();
    for (n, &p) in Pattern::ALL.iter().enumerate() {
        sweep(k, run, cpu, p, false)?;
        if let (Some(addr), true) = (run.opts.corrupt, pass == 1 && n == 0) {
            corrupt(k, run, cpu, addr)?;
        }
        let bad = sweep(k, run, cpu, p, true)?;
        run.shares[cpu].errors.fetch_add(bad, Ordering::Relaxed);
        run.errors.fetch_add(bad, Ordering::Relaxed);
    }
    run.shares[cpu].ns.fetch_add(k.now_ns().saturating_sub(t0), Ordering::Relaxed);
    Ok(())
}

/// Each zone's free pages after draining the caches: `(node, zone, free)`.
fn zone_free(k: &Kernel) -> heapless::Vec<(i32, ZoneType, u64), 80> {
    k.drain_all();
    k.zones().iter().map(|z| (z.nid, z.zone, z.free_pages)).collect()
}

fn on_each(k: &Kernel, f: impl Fn(usize) -> Result<(), &'static str> + Sync) -> Result<(), AppError> {
    for (_, r) in k.on_each_cpu(f).map_err(|_| "memtest: a CPU did not answer")? {
        r?;
    }
    Ok(())
}

/// MB/s (10^6 bytes per second) of `bytes` in `ns`.
fn mb_per_s(bytes: u64, ns: u64) -> u64 {
    (u128::from(bytes) * 1000 / u128::from(ns.max(1))) as u64
}

fn main(k: &Kernel) -> AppResult {
    let opts = Options::parse(params(k.cmdline())).map_err(|e| {
        defmt::error!("command line: {=str}={=str}: {=str}", e.key, e.value, e.why);
        AppError("bad memtest option on the command line")
    })?;
    let before = zone_free(k);
    let free: u64 = before.iter().map(|z| z.2).sum();
    let reserve: u64 = k.zones().iter().map(|z| z.min_watermark).sum();
    let cpus = k.online_cpus() as u64;
    defmt::info!(
        "memtest: {=u64} free pages ({=u64} MiB) in {=usize} zone(s); reserve: the zones' min watermarks, {=u64} pages ({=u64} KiB), left to the kernel; seed {=u64:#x}",
        free,
        free >> 8,
        before.len(),
        reserve,
        reserve * 4,
        opts.seed
    );
    let mut run = Run {
        opts,
        shares: Vec::new(),
        done: AtomicU64::new(0),
        pass_bytes: AtomicU64::new(0),
        pass: AtomicU64::new(0),
        corrupted: AtomicBool::new(false),
        errors: AtomicU64::new(0),
    };
    for cpu in 0..kernel::percpu::NR_CPUS {
        run.shares.push(Share {
            blocks: spin::Mutex::new(Vec::with_capacity(if k.cpu_online(cpu) { MAX_BLOCKS_PER_CPU } else { 0 })),
            pages: AtomicU64::new(0),
            ns: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        });
    }
    // CMA areas first (ordinary allocations never take their pageblocks): a range of each
    // for every online CPU, through cma_alloc.
    let online: heapless::Vec<usize, { kernel::percpu::NR_CPUS }> = (0..kernel::percpu::NR_CPUS).filter(|&c| k.cpu_online(c)).collect();
    for (index, area) in k.cma_areas().iter().enumerate().filter(|(_, a)| a.count() != 0) {
        let chunk = area.count().div_ceil(cpus);
        let mut left = area.count();
        for &cpu in &online {
            let Ok(range) = k.cma_alloc(index, chunk.min(left)) else { break };
            left -= range.nr_pages();
            run.shares[cpu].pages.fetch_add(range.nr_pages(), Ordering::Relaxed);
            run.shares[cpu].blocks.lock().push(range);
            if left == 0 {
                break;
            }
        }
    }
    // Take: a fair share each, then what is left, on every CPU at once.
    let quota = free.saturating_sub(reserve) / cpus;
    on_each(k, |cpu| {
        take(k, &run.shares[cpu], quota);
        Ok(())
    })?;
    on_each(k, |cpu| {
        take(k, &run.shares[cpu], u64::MAX);
        Ok(())
    })?;
    let tested: u64 = run.shares.iter().map(|s| s.pages.load(Ordering::Relaxed)).sum();
    let permille = tested * 1000 / free.max(1);
    defmt::info!(
        "memtest: took {=u64} pages ({=u64} MiB, {=u64}.{=u64}% of the free pages) on {=u64} CPU(s)",
        tested,
        tested >> 8,
        permille / 10,
        permille % 10,
        cpus
    );
    // Test, unless too little was taken (the pages still go back below).
    let mut result: AppResult = Ok(());
    if permille < MIN_COVERAGE_PERMILLE {
        defmt::error!("memtest: only {=u64}.{=u64}% of the free pages could be taken, below the 90% a run must test", permille / 10, permille % 10);
        result = Err(AppError("memtest: less than 90% of the free memory tested"));
    }
    let t0 = k.now_ns();
    if result.is_ok() {
        run.pass_bytes.store(tested * PAGE_BYTES * 2 * Pattern::ALL.len() as u64, Ordering::Relaxed);
        for pass in 1..=run.opts.passes {
            run.pass.store(u64::from(pass), Ordering::Relaxed);
            run.done.store(0, Ordering::Relaxed);
            if let Err(e) = on_each(k, |cpu| test_cpu(k, &run, cpu, pass)) {
                result = Err(e);
                break;
            }
        }
    }
    let wall_ns = k.now_ns().saturating_sub(t0);
    // Give back, on the CPU that took each block.
    on_each(k, |cpu| {
        let mut blocks = run.shares[cpu].blocks.lock();
        for b in blocks.drain(..) {
            k.free_pages(b)?;
        }
        Ok(())
    })?;
    let errors = run.errors.load(Ordering::Relaxed);
    let bytes_per_page_run = PAGE_BYTES * 2 * Pattern::ALL.len() as u64 * u64::from(run.opts.passes);
    if result.is_ok() {
        for (cpu, s) in run.shares.iter().enumerate().filter(|(_, s)| s.pages.load(Ordering::Relaxed) != 0) {
            let pages = s.pages.load(Ordering::Relaxed);
            defmt::info!(
                "memtest: CPU{=usize}: {=u64} MiB, {=u64} errors, {=u64} MB/s",
                cpu,
                pages >> 8,
                s.errors.load(Ordering::Relaxed),
                mb_per_s(pages * bytes_per_page_run, s.ns.load(Ordering::Relaxed))
            );
        }
        defmt::info!(
            "memtest: {=u64} MiB tested on {=u64} CPUs, {=u32} passes, {=u64} errors, {=u64} MB/s",
            tested >> 8,
            cpus,
            run.opts.passes,
            errors,
            mb_per_s(tested * bytes_per_page_run, wall_ns)
        );
    }
    let corrupt_missed = run.opts.corrupt.filter(|_| !run.corrupted.load(Ordering::Acquire));
    drop(run);
    // Every page back: each zone's free count exactly as before.
    let after = zone_free(k);
    k.check_allocator()?;
    if after != before {
        for (b, a) in before.iter().zip(after.iter()) {
            defmt::error!("memtest: node {=i32} zone {=str}: {=u64} free pages before, {=u64} after", b.0, b.1.name(), b.2, a.2);
        }
        return Err(AppError("memtest: the free page counts per zone differ after every page was given back"));
    }
    defmt::info!("memtest: every page given back; free pages per zone as before ({=u64} in {=usize} zone(s)), allocator consistent", free, after.len());
    result?;
    if let Some(addr) = corrupt_missed {
        defmt::error!("memtest.corrupt={=u64:#x}: that word is not in the memory under test (not free RAM, or kept in the reserve)", addr);
        return Err(AppError("memtest: the word to corrupt was not tested"));
    }
    if errors != 0 {
        return Err(AppError("memtest: bad words found"));
    }
    Ok(())
}

/// The command line's parameters as `(key, value)` pairs.
fn params(cmdline: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    cmdline.split_ascii_whitespace().map(|t| match t.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (t, None),
    })
}
