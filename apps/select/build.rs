//! Chooses the image's application from `MEMFW_APP` (set by `cargo xtask build/run/test
//! --app`; `selftest` when unset) and refuses a name that is not one of `APPS`, naming it.
use std::env;

/// Every application under `apps/` (besides this crate); `cargo xtask` lists the same folders.
const APPS: &[&str] = &["selftest", "memtest", "hello"];

fn main() {
    println!("cargo::rerun-if-env-changed=MEMFW_APP");
    let values: Vec<String> = APPS.iter().map(|a| format!("\"{a}\"")).collect();
    println!("cargo::rustc-check-cfg=cfg(memfw_app, values({}))", values.join(", "));
    let app = env::var("MEMFW_APP").unwrap_or_else(|_| "selftest".into());
    if !APPS.contains(&app.as_str()) {
        panic!("MEMFW_APP={app}: no such application; known: {}", APPS.join(", "));
    }
    println!("cargo::rustc-cfg=memfw_app=\"{app}\"");
}
