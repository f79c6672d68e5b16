//! Host tests: a reference-model property test, one case per behaviour, and real threads.
extern crate std;

mod arena;
mod cases;
mod model;
mod threads;

/// xorshift64*: deterministic, dependency-free randomness for the property tests.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A `LineSink` collecting lines.
#[derive(Default)]
pub struct Lines(pub std::vec::Vec<std::string::String>);

impl mm_types::LineSink for Lines {
    fn line(&mut self, args: core::fmt::Arguments<'_>) {
        self.0.push(std::format!("{args}"));
    }
}
