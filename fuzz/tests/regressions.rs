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

#[test]
fn dt_boot_regressions() {
    // Its own inputs, and every device tree the discovery target keeps.
    assert!(run_dir("dt_boot", memfw_fuzz::dt_boot) > 0);
    assert!(run_dir("dt_discover", memfw_fuzz::dt_boot) > 0);
}

/// The harness really boots ordinary trees (it is not returning early on everything), and a
/// tree with RAM at 2^63 ends quickly with that bank ignored.
#[test]
fn dt_boot_reaches_the_hand_off() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let boots = |seed: &str| memfw_fuzz::dt_boot_run(&std::fs::read(dir.join(seed)).unwrap());
    for seed in ["dt_discover/seed-qemu__aarch64-virt-1G.dtb", "dt_discover/seed-qemu__aarch64-virt-2G-numa2.dtb", "dt_boot/ram-ending-at-256GiB.dtb"] {
        assert!(boots(seed), "{seed} did not reach the hand-off");
    }
    // The virt tree with its one bank moved to 2^63, and to 256 GiB: beyond the platform's
    // limit, ignored at discovery (before the fix: a walk of 2^39 pageblocks).
    assert!(!boots("dt_boot/ram-at-2pow63.dtb"));
    assert!(!boots("dt_boot/ram-at-256GiB.dtb"));
}
