//! Puts this platform's linker script on the link search path of every image that depends on
//! it, so a board's build script only has to name it (`-Tarmv7a.ld`).
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("armv7a.ld", out.join("armv7a.ld")).expect("copy armv7a.ld into OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=armv7a.ld");
}
