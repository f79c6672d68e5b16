//! Runs the reference-model harness on fixed-seed pseudo-random operation strings.
extern crate std;
use crate::model::run_ops;
use std::vec::Vec;

/// xorshift64*: tiny, deterministic, good enough to spread bytes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Thousands of random operation sequences agree with the model.
///
/// Expect: no divergence (run_ops panics with the operation list on one).
#[test]
fn random_sequences_match_model() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let len = 8 + (rng.next() % 400) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        run_ops(&data);
    }
}

/// Sequences biased to many small disjoint reservations force repeated doubling.
///
/// Expect: no divergence.
#[test]
fn doubling_heavy_sequences_match_model() {
    let mut rng = XorShift(42);
    for _ in 0..300 {
        let mut data = std::vec![0x80 | (rng.next() as u8 & 0x7f)];
        // Memory over most of the space first.
        data.extend_from_slice(&[0, 0, 0, 0xff]);
        data.extend_from_slice(&[0, 0x80, 0, 0xff]);
        for _ in 0..60 {
            let r = rng.next();
            let code = if r & 3 == 0 { (r >> 8) as u8 } else { 5 };
            data.extend_from_slice(&[
                code,
                (r >> 16) as u8,
                (r >> 24) as u8 & 1,
                1 + ((r >> 32) as u8 & 3),
            ]);
            data.extend_from_slice(&[(r >> 40) as u8, (r >> 48) as u8, (r >> 56) as u8]);
        }
        run_ops(&data);
    }
}

/// Regression: input #19828 of the long sweep reserved over the old dynamic reserved array
/// while that array doubled; freeing the old array added a piece to insert and overflowed the
/// array before `add_range` recounted after doubling.
///
/// Expect: no divergence.
#[test]
fn regression_recount_after_doubling() {
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let mut data = Vec::new();
    for i in 0..=19828 {
        let len = 8 + (rng.next() % 400) as usize;
        data = (0..len).map(|_| rng.next() as u8).collect();
        if i < 19828 {
            data.clear();
        }
    }
    run_ops(&data);
}

/// Empty and tiny inputs are fine.
///
/// Expect: no panic.
#[test]
fn tiny_inputs() {
    run_ops(&[]);
    run_ops(&[0]);
    run_ops(&[0xff, 1]);
}

/// A longer sweep with another seed, for manual runs (`cargo test -- --ignored`); prints the
/// first failing input so it can be replayed.
#[test]
#[ignore]
fn long_sweep() {
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    for i in 0..40_000 {
        let len = 8 + (rng.next() % 400) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if std::panic::catch_unwind(|| run_ops(&data)).is_err() {
            panic!("input #{i} diverged: {data:?}");
        }
    }
}
