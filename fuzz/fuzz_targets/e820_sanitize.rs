//! libFuzzer entry for `memfw_fuzz::e820_sanitize` (run with `cargo xtask fuzz`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memfw_fuzz::e820_sanitize(data));
