//! libFuzzer entry for `memfw_fuzz::dt_boot` (run with `cargo xtask fuzz`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memfw_fuzz::dt_boot(data));
