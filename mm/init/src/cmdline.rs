//! The boot command line: `key=value` and bare flags separated by white space, as Linux's
//! `parse_args` sees them.
//!
//! Recognised here (the generic boot path reads them):
//! - `mem=SIZE`: cap usable RAM (`memblock_enforce_memory_limit`), SIZE as Linux's `memparse`
//!   reads it (decimal, `0x` hex or leading-`0` octal, then an optional K/M/G/T/P/E suffix);
//! - `memblock=debug`: log every memblock operation;
//! - `selftest=MODE`: a self-test or fault injection ([`SELFTESTS`], plus the platform's own
//!   modes, [`crate::Platform::selftests`]); `selftest=panic` panics on purpose after discovery
//!   (tests the failure path end to end).
//!
//! Unknown parameters are left alone (they may belong to a board); a recognised parameter with a
//! bad value, or a `selftest=` mode nothing runs, is an error that names it.

/// The `selftest=` modes every platform runs: `panic` (mm-init, after discovery), `null`,
/// `write-text`, `stack-overflow` (after paging_init), `oom` and `slab-redzone` (on the heap), all
/// in `kernel::start_kernel`, and `bench`, the in-firmware allocator benchmark on every CPU
/// (`kernel::bench`), which ends in success like an ordinary boot.
pub const SELFTESTS: &[&str] = &["panic", "null", "write-text", "stack-overflow", "oom", "slab-redzone", "bench", "stack-overflow-cpu1"];

/// A problem with a recognised parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdlineError<'a> {
    /// `key=value` where value is not a size `memparse` accepts.
    BadSize { key: &'a str, value: &'a str },
    /// A value outside what the parameter allows.
    BadValue { key: &'a str, value: &'a str },
    /// `selftest=` names no mode: neither one of [`SELFTESTS`] nor one of the platform's
    /// (`platform`).
    UnknownSelftest { value: &'a str, platform: &'static [&'static str] },
}

impl core::fmt::Display for CmdlineError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadSize { key, value } => {
                write!(f, "{key}={value}: not a size (expected e.g. 64M, 0x4000000, 512K)")
            }
            Self::BadValue { key, value } => write!(f, "{key}={value}: value not recognised"),
            Self::UnknownSelftest { value, platform } => {
                write!(f, "selftest={value}: no such self-test; known:")?;
                for (i, m) in SELFTESTS.iter().chain(platform.iter()).enumerate() {
                    write!(f, "{}{m}", if i == 0 { " " } else { ", " })?;
                }
                Ok(())
            }
        }
    }
}

/// A borrowed boot command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cmdline<'a> {
    raw: &'a str,
}

impl<'a> Cmdline<'a> {
    /// Wraps the command line text (already decoded from firmware).
    pub const fn new(raw: &'a str) -> Self {
        Self { raw }
    }

    /// The text as handed over.
    pub const fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Every parameter in order: `(key, Some(value))` for `key=value`, `(flag, None)` otherwise.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> {
        self.raw.split_ascii_whitespace().map(|tok| match tok.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (tok, None),
        })
    }

    /// The value of the last `key=value` (Linux lets a later parameter override an earlier one).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.params().filter(|(k, _)| *k == key).filter_map(|(_, v)| v).last()
    }

    /// `mem=`: the memory limit in bytes, if given.
    pub fn mem_limit(&self) -> Result<Option<u64>, CmdlineError<'a>> {
        match self.get("mem") {
            None => Ok(None),
            Some(v) => memparse(v)
                .map(Some)
                .ok_or(CmdlineError::BadSize { key: "mem", value: v }),
        }
    }

    /// `memblock=debug`.
    pub fn memblock_debug(&self) -> Result<bool, CmdlineError<'a>> {
        match self.get("memblock") {
            None => Ok(false),
            Some("debug") => Ok(true),
            Some(v) => Err(CmdlineError::BadValue { key: "memblock", value: v }),
        }
    }

    /// `selftest=NAME`: the self-test or fault injection asked for, if any, unchecked (the boot
    /// path has refused unknown modes with [`Cmdline::selftest_checked`] before anything reads
    /// this).
    pub fn selftest(&self) -> Option<&'a str> {
        self.get("selftest")
    }

    /// `selftest=NAME`, checked: `NAME` must be one of [`SELFTESTS`] or of `platform_modes`
    /// (the platform's own, e.g. x86's `smp`).
    pub fn selftest_checked(&self, platform_modes: &'static [&'static str]) -> Result<Option<&'a str>, CmdlineError<'a>> {
        match self.selftest() {
            None => Ok(None),
            Some(v) if SELFTESTS.contains(&v) || platform_modes.contains(&v) => Ok(Some(v)),
            Some(v) => Err(CmdlineError::UnknownSelftest { value: v, platform: platform_modes }),
        }
    }
}

/// Linux's `memparse`: a number in C notation followed by an optional binary suffix.
/// Returns `None` for anything else, including overflow.
pub fn memparse(s: &str) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (hex, 16)
    } else if s.len() > 1 && s.starts_with('0') && s.as_bytes()[1].is_ascii_digit() {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let mut value = u64::from_str_radix(&digits[..end], radix).ok()?;
    let shift = match &digits[end..] {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        "P" | "p" => 50,
        "E" | "e" => 60,
        _ => return None,
    };
    if shift > 0 {
        value = value.checked_mul(1u64 << shift)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn memparse_reads_c_numbers_and_suffixes() {
        assert_eq!(memparse("64M"), Some(64 << 20));
        assert_eq!(memparse("0x4000000"), Some(0x400_0000));
        assert_eq!(memparse("512k"), Some(512 << 10));
        assert_eq!(memparse("010"), Some(8));
        assert_eq!(memparse("0"), Some(0));
        assert_eq!(memparse("3G"), Some(3 << 30));
        assert_eq!(memparse("M"), None);
        assert_eq!(memparse("64Q"), None);
        assert_eq!(memparse("64MB"), None);
        assert_eq!(memparse("99999999999E"), None, "overflow is refused, not wrapped");
    }

    #[test]
    fn later_parameters_override_earlier_ones() {
        let c = Cmdline::new("console=ttyS0 mem=128M quiet mem=64M memblock=debug");
        assert_eq!(c.mem_limit(), Ok(Some(64 << 20)));
        assert_eq!(c.memblock_debug(), Ok(true));
        assert_eq!(c.selftest(), None);
        assert_eq!(c.params().count(), 5);
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let c = Cmdline::new("mem=lots memblock=verbose");
        let e = c.mem_limit().unwrap_err();
        assert_eq!(e, CmdlineError::BadSize { key: "mem", value: "lots" });
        assert!(std::format!("{e}").starts_with("mem=lots: not a size"));
        assert_eq!(
            c.memblock_debug(),
            Err(CmdlineError::BadValue { key: "memblock", value: "verbose" })
        );
    }

    #[test]
    fn unknown_selftest_modes_are_refused_by_name() {
        let c = Cmdline::new("selftest=bogus");
        let e = c.selftest_checked(&["smp"]).unwrap_err();
        assert_eq!(e, CmdlineError::UnknownSelftest { value: "bogus", platform: &["smp"] });
        assert_eq!(
            std::format!("{e}"),
            "selftest=bogus: no such self-test; known: panic, null, write-text, stack-overflow, oom, slab-redzone, bench, stack-overflow-cpu1, smp"
        );
        // A platform's own mode is known to that platform only.
        assert_eq!(Cmdline::new("selftest=smp").selftest_checked(&["smp"]), Ok(Some("smp")));
        assert!(Cmdline::new("selftest=smp").selftest_checked(&[]).is_err());
        for m in SELFTESTS {
            let text = std::format!("selftest={m}");
            assert_eq!(Cmdline::new(&text).selftest_checked(&[]), Ok(Some(*m)));
        }
        assert_eq!(Cmdline::new("mem=64M").selftest_checked(&[]), Ok(None));
    }
}
