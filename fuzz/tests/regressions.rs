//! Every input saved under `regressions/<target>/` (crashes the fuzzers found, fixed since, and
//! seeds worth keeping) runs through its harness as an ordinary test.

use std::path::Path;

fn run_dir(target: &str, f: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        eprintln!("{target}: {}", path.display());
        f(&data);
        n += 1;
    }
    n
}

#[test]
fn e820_sanitize_regressions() {
    assert!(run_dir("e820_sanitize", memfw_fuzz::e820_sanitize) > 0);
}

#[test]
fn memblock_ops_regressions() {
    assert!(run_dir("memblock_ops", memfw_fuzz::memblock_ops) > 0);
}

#[test]
fn dt_discover_regressions() {
    assert!(run_dir("dt_discover", memfw_fuzz::dt_discover) > 0);
}
