//! libFuzzer entry for `memfw_fuzz::dt_discover` (run with `cargo xtask fuzz`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memfw_fuzz::dt_discover(data));
