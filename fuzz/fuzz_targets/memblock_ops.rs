//! libFuzzer entry for `memfw_fuzz::memblock_ops` (run with `cargo xtask fuzz`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memfw_fuzz::memblock_ops(data));
