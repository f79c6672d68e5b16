//! Units and reporting shared by every memory-management crate.
//!
//! Physical addresses and sizes are `u64` everywhere (x86-32 firmware maps may describe RAM above
//! 4 GiB even when the CPU cannot reach it; the platform decides what to keep). Ranges are
//! half-open, `[base, base + size)`, and are printed the way Linux prints them:
//! `[mem 0x%016llx-0x%016llx]` with an inclusive end.
//!
//! Reports (memblock dumps, e820 tables, device-tree banks) are written line by line to a
//! [`LineSink`]: on the host a `String` or stdout, in firmware the defmt logger.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "bench")]
extern crate std;

use core::fmt;

/// Helpers of the host benchmarks (feature `bench`, dev-dependencies only).
#[cfg(feature = "bench")]
pub mod bench {
    use std::sync::Barrier;
    use std::time::{Duration, Instant};
    use std::vec::Vec;

    /// Runs `work(thread, n)` on `threads` std threads, thread `t` doing `n_t` operations
    /// with `sum(n_t) = iters` (the first `iters % threads` threads do one more). The threads
    /// start together behind a barrier; returns the wall time from the earliest start to the
    /// latest end (spawn and join are not timed), so `time / iters` is the throughput cost of
    /// one operation over all threads.
    pub fn parallel<F: Fn(usize, u64) + Sync>(threads: usize, iters: u64, work: &F) -> Duration {
        let barrier = Barrier::new(threads);
        let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let n = iters / threads as u64 + u64::from((t as u64) < iters % threads as u64);
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        let t0 = Instant::now();
                        work(t, n);
                        (t0, Instant::now())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("benchmark thread panicked")).collect()
        });
        let start = spans.iter().map(|s| s.0).min().expect("at least one thread");
        let end = spans.iter().map(|s| s.1).max().expect("at least one thread");
        end - start
    }
}

/// log2 of the page size used by every platform (4 KiB pages).
pub const PAGE_SHIFT: u32 = 12;
/// Size of one page in bytes.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;

/// Rounds `addr` down to a multiple of `align` (a power of two).
pub const fn align_down(addr: u64, align: u64) -> u64 {
    addr & !(align - 1)
}

/// Rounds `addr` up to a multiple of `align` (a power of two), saturating at the largest
/// multiple of `align` that fits in a `u64` instead of wrapping.
pub const fn align_up(addr: u64, align: u64) -> u64 {
    match addr.checked_add(align - 1) {
        Some(v) => v & !(align - 1),
        None => !(align - 1),
    }
}

/// Page-frame number of the page containing `addr`.
pub const fn pfn_down(addr: u64) -> u64 {
    addr >> PAGE_SHIFT
}

/// Page-frame number of the first page starting at or after `addr`.
pub const fn pfn_up(addr: u64) -> u64 {
    align_up(addr, PAGE_SIZE) >> PAGE_SHIFT
}

/// A half-open physical range `[base, base + size)` that prints as Linux's
/// `[mem 0x…-0x…]` (inclusive end, 16 hex digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRange {
    /// First byte of the range.
    pub base: u64,
    /// Length in bytes; a zero-size range prints with `end = base - 1` as Linux does.
    pub size: u64,
}

impl MemRange {
    /// The range `[base, base + size)`.
    pub const fn new(base: u64, size: u64) -> Self {
        Self { base, size }
    }

    /// The exclusive end, saturating at `u64::MAX`.
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

impl fmt::Display for MemRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.base.wrapping_add(self.size).wrapping_sub(1);
        write!(f, "[mem {:#018x}-{:#018x}]", self.base, last)
    }
}

/// Where reports go, one line at a time (no trailing newline in `args`).
pub trait LineSink {
    /// Emits one line of a report.
    fn line(&mut self, args: fmt::Arguments<'_>);
}

/// A sink that drops everything (for callers that do not want a report).
#[derive(Debug, Default)]
pub struct NullSink;

impl LineSink for NullSink {
    fn line(&mut self, _args: fmt::Arguments<'_>) {}
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn mem_range_prints_like_linux() {
        let r = MemRange::new(0x10_0000, 0x7ee_0000);
        assert_eq!(format!("{r}"), "[mem 0x0000000000100000-0x0000000007fdffff]");
    }

    #[test]
    fn align_up_saturates() {
        assert_eq!(align_up(u64::MAX - 5, 0x1000), !0xfff);
        assert_eq!(align_up(0x1001, 0x1000), 0x2000);
        assert_eq!(align_down(0x1fff, 0x1000), 0x1000);
        assert_eq!(pfn_up(0x1001), 2);
        assert_eq!(pfn_down(0x1fff), 1);
    }
}
