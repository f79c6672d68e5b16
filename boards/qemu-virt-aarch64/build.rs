//! Links the image with the platform's layout and defmt's table section.
fn main() {
    println!("cargo:rustc-link-arg-bins=-Taarch64.ld");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    println!("cargo:rerun-if-changed=build.rs");
}
