//! The test patterns and the command-line options, as plain functions of their inputs (host
//! tested): what word a pattern puts at a physical address, and what `memtest.*` means.
//!
//! Every pattern is a function of the word's physical address (and the seed), so a CPU can
//! write a page and verify it later, or verify another CPU's page, without remembering what it
//! wrote: walking ones (`1 << (word index mod word bits)`), address-in-address (the word's own
//! physical address), a seeded pseudo-random sequence (xorshift64*, restarted per page from the
//! seed and the page frame number) and its complement.

/// Bytes per tested word (the CPU's native word: 4 on x86-32, 8 on AArch64).
pub const WORD_BYTES: u64 = core::mem::size_of::<usize>() as u64;

/// One pattern of a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// `1 << (address / word size) mod word bits`: every bit position is 1 in some word and 0
    /// in the others, so a stuck-at-0 bit or two shorted data lines show.
    WalkingOnes,
    /// Each word holds its own physical address: a word written at the wrong address (an
    /// address line stuck or shorted) shows as another address's value.
    AddressInAddress,
    /// xorshift64* from the seed and the page frame number.
    Random,
    /// The complement of [`Pattern::Random`]: every bit is written with both values.
    RandomComplement,
}

impl Pattern {
    /// The patterns of one pass, in order.
    pub const ALL: [Self; 4] = [Self::WalkingOnes, Self::AddressInAddress, Self::Random, Self::RandomComplement];

    /// The name printed with a bad word.
    pub const fn name(self) -> &'static str {
        match self {
            Self::WalkingOnes => "walking ones",
            Self::AddressInAddress => "address in address",
            Self::Random => "random",
            Self::RandomComplement => "random complement",
        }
    }
}

/// The words a pattern puts into one page, in order, from the page's physical address.
#[derive(Clone, Debug)]
pub struct PageWords {
    pattern: Pattern,
    /// Physical address of the next word.
    phys: u64,
    rng: u64,
}

impl PageWords {
    /// The words of `pattern` for the page at physical address `page_phys`.
    pub fn new(pattern: Pattern, seed: u64, page_phys: u64) -> Self {
        // splitmix64 of the seed and the page frame: a different, non-zero state per page.
        let mut z = seed ^ (page_phys >> 12).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Self { pattern, phys: page_phys, rng: z | 1 }
    }
}

impl Iterator for PageWords {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        let addr = self.phys;
        self.phys += WORD_BYTES;
        let bits = usize::BITS as u64;
        Some(match self.pattern {
            Pattern::WalkingOnes => 1usize << ((addr / WORD_BYTES) % bits),
            Pattern::AddressInAddress => addr as usize,
            Pattern::Random | Pattern::RandomComplement => {
                self.rng ^= self.rng >> 12;
                self.rng ^= self.rng << 25;
                self.rng ^= self.rng >> 27;
                let v = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) as usize;
                if self.pattern == Pattern::Random {
                    v
                } else {
                    !v
                }
            }
        })
    }
}

/// What the command line asks of the memory tester.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// `memtest.passes=N` (1 to 100; 1 when not given): how often all four patterns run.
    pub passes: u32,
    /// `memtest.corrupt=ADDR`: the physical word to corrupt between the write and the verify
    /// of the first pattern of the first pass (proves that a bad word is found and named).
    pub corrupt: Option<u64>,
    /// `memtest.seed=N`: the pseudo-random patterns' seed (0x6d656d74657374 when not given).
    pub seed: u64,
}

/// The `memtest.` keys [`Options::parse`] knows.
pub const KEYS: [&str; 3] = ["memtest.passes", "memtest.corrupt", "memtest.seed"];

/// A bad `memtest.` option: the parameter as given and what is wrong with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionError<'a> {
    /// `key=value` as on the command line.
    pub key: &'a str,
    pub value: &'a str,
    pub why: &'static str,
}

/// A number in decimal or `0x` hexadecimal.
fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Options {
    /// Reads every `memtest.*` parameter of `params` (`(key, value)` pairs in command-line
    /// order; a later one overrides an earlier one).
    ///
    /// # Errors
    /// The first unknown `memtest.` key, or a value that is not a number, not word-aligned
    /// (`corrupt`) or out of range (`passes`).
    pub fn parse<'a>(params: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> Result<Self, OptionError<'a>> {
        let mut o = Self { passes: 1, corrupt: None, seed: 0x006d_656d_7465_7374 };
        for (key, value) in params.filter(|(k, _)| k.starts_with("memtest.")) {
            let v = value.unwrap_or("");
            let err = |why| OptionError { key, value: v, why };
            match key {
                "memtest.passes" => {
                    o.passes = parse_number(v)
                        .and_then(|n| u32::try_from(n).ok())
                        .filter(|n| (1..=100).contains(n))
                        .ok_or(err("not a number of passes from 1 to 100"))?;
                }
                "memtest.corrupt" => {
                    let a = parse_number(v).ok_or(err("not a physical address (decimal or 0x hex)"))?;
                    if a % WORD_BYTES != 0 {
                        return Err(err(if WORD_BYTES == 8 { "not aligned to a word (8 bytes)" } else { "not aligned to a word (4 bytes)" }));
                    }
                    o.corrupt = Some(a);
                }
                "memtest.seed" => o.seed = parse_number(v).ok_or(err("not a number (decimal or 0x hex)"))?,
                _ => return Err(err("unknown memtest option; known: memtest.passes, memtest.corrupt, memtest.seed")),
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn words(p: Pattern, seed: u64, phys: u64, n: usize) -> Vec<usize> {
        PageWords::new(p, seed, phys).take(n).collect()
    }

    #[test]
    fn walking_ones_set_every_bit_once_per_cycle() {
        let w = words(Pattern::WalkingOnes, 0, 0x1000, usize::BITS as usize);
        assert!(w.iter().all(|v| v.count_ones() == 1));
        assert_eq!(w.iter().fold(0, |a, v| a | v), usize::MAX);
        // A function of the address: the next page continues the cycle where this one ends.
        let next = words(Pattern::WalkingOnes, 0, 0x2000, 1)[0];
        assert_eq!(next, 1 << ((0x2000 / WORD_BYTES) % u64::from(usize::BITS)));
    }

    #[test]
    fn address_in_address_is_the_words_own_address() {
        assert_eq!(words(Pattern::AddressInAddress, 9, 0x7000, 3), [0x7000, 0x7000 + WORD_BYTES as usize, 0x7000 + 2 * WORD_BYTES as usize]);
    }

    #[test]
    fn random_words_repeat_per_page_and_seed_and_differ_otherwise() {
        let a = words(Pattern::Random, 1, 0x5000, 512);
        assert_eq!(a, words(Pattern::Random, 1, 0x5000, 512), "verify regenerates what write wrote");
        assert_ne!(a, words(Pattern::Random, 2, 0x5000, 512), "another seed");
        assert_ne!(a, words(Pattern::Random, 1, 0x6000, 512), "another page");
        let c = words(Pattern::RandomComplement, 1, 0x5000, 512);
        assert!(a.iter().zip(&c).all(|(x, y)| *x == !*y));
        // Not degenerate: about half the bits set, few repeats.
        let ones: u32 = a.iter().map(|v| v.count_ones()).sum();
        let bits = 512 * usize::BITS;
        assert!(ones > bits * 4 / 10 && ones < bits * 6 / 10, "{ones} of {bits}");
        let mut d = a.clone();
        d.sort_unstable();
        d.dedup();
        assert!(d.len() > 500);
    }

    fn parse(s: &str) -> Result<Options, OptionError<'_>> {
        Options::parse(s.split_whitespace().map(|t| match t.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (t, None),
        }))
    }

    #[test]
    fn options_are_read_and_bad_values_named() {
        let o = parse("mem=1G memtest.passes=3 memtest.corrupt=0x3c000000 memtest.seed=7").unwrap();
        assert_eq!((o.passes, o.corrupt, o.seed), (3, Some(0x3c00_0000), 7));
        assert_eq!(parse("").unwrap().passes, 1);
        assert_eq!(parse("memtest.corrupt=4096").unwrap().corrupt, Some(4096));
        let e = parse("memtest.corrupt=0x3c000001").unwrap_err();
        assert_eq!((e.key, e.value), ("memtest.corrupt", "0x3c000001"));
        assert!(e.why.starts_with("not aligned to a word"));
        assert!(parse("memtest.corrupt=here").unwrap_err().why.contains("not a physical address"));
        assert!(parse("memtest.passes=0").unwrap_err().why.contains("1 to 100"));
        assert!(parse("memtest.passes=101").is_err());
        let e = parse("memtest.pases=2").unwrap_err();
        assert_eq!(e.key, "memtest.pases");
        assert!(e.why.contains("unknown memtest option"));
        assert_eq!(KEYS.len(), 3);
    }
}
