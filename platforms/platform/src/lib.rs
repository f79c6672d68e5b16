//! The platform trait surface: what an architecture crate provides to the generic boot path.
//!
//! A platform crate (`platform-x86-pc`, `platform-aarch64`) owns the CPU: boot entry, exception
//! vectors, the console hardware, memory discovery and the way the machine is ended. The
//! architecture-independent code (`mm-init` and the boards) only sees the [`Platform`] trait and
//! the helpers here:
//!
//! - [`logger`]: the defmt global logger over whatever console the platform installs, safe
//!   against other CPUs and interrupts;
//! - [`cmdline`]: the boot command line (`mem=`, `memblock=debug`, test switches);
//! - [`ExitCode`]: how a boot ends, which the platform turns into a QEMU exit status.
#![no_std]
#![deny(unsafe_code)]

pub mod cmdline;
pub mod logger;

/// How the firmware ends. The platform maps it onto its exit device (isa-debug-exit on x86,
/// semihosting on ARM) so that the host sees a distinct status for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum ExitCode {
    /// All boot work done and every self-check passed.
    Success,
    /// A panic, an unexpected exception or a failed self-check.
    Failure,
}

/// Errors a platform reports while discovering memory or reserving its areas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// The firmware handed over no usable memory description.
    NoMemoryMap(&'static str),
    /// The firmware's description was malformed; the text says what was wrong.
    BadFirmwareData(&'static str),
    /// memblock refused an operation (array full before `allow_resize`, or out of memory).
    Memblock(&'static str),
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoMemoryMap(why) => write!(f, "no memory map: {why}"),
            Self::BadFirmwareData(why) => write!(f, "bad firmware data: {why}"),
            Self::Memblock(why) => write!(f, "memblock: {why}"),
        }
    }
}

/// A [`mm_types::LineSink`] that sends each line to the defmt log at `info` level.
///
/// Lines are formatted into a fixed buffer first (reports such as `dump_all` are built with
/// `core::fmt`); a line longer than the buffer is cut and marked with `…`, never dropped.
#[derive(Debug, Default)]
pub struct DefmtSink;

impl mm_types::LineSink for DefmtSink {
    fn line(&mut self, args: core::fmt::Arguments<'_>) {
        let mut buf: heapless::String<192> = heapless::String::new();
        if core::fmt::write(&mut buf, args).is_err() {
            // The buffer filled up: keep what fits and say it was cut.
            while buf.len() > 188 {
                buf.pop();
            }
            let _ = buf.push_str("…");
        }
        defmt::info!("{=str}", buf.as_str());
    }
}
