//! `cargo xtask bench`: the host benchmarks (criterion), summarised as a table of time per
//! element and ratios against the floor measured in the same run; optionally written into the
//! README's performance section. Speed figures live here, never in timed tests.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Benchmark groups in table order, with what one element is.
const GROUPS: [(&str, &str); 4] = [
    ("handoff_1GiB", "ns/page"),
    ("handoff_4GiB", "ns/page"),
    ("order0_hot", "ns/alloc+free"),
    ("mixed_orders_0_3", "ns/step"),
];
/// Implementations in column order; the last is the floor the ratios are against.
const IMPLS: [&str; 3] = ["page_alloc", "buddy_system_allocator", "lifo_floor"];
/// The `order0_pcp` and `order3_pcp` groups: function and label.
const PCP_IMPLS: [(&str, &str); 7] = [
    ("pcp_1thread", "page-alloc, per-CPU lists, 1 thread"),
    ("pcp_2threads", "page-alloc, per-CPU lists, 2 threads"),
    ("buddy_1thread", "page-alloc, buddy only (lock per call), 1 thread"),
    ("buddy_2threads", "page-alloc, buddy only (lock per call), 2 threads"),
    ("buddy_system_allocator", "buddy_system_allocator behind a spin lock, 1 thread"),
    ("lifo_floor", "LIFO floor, 1 thread"),
    ("lifo_floor_2threads", "LIFO floor, 2 threads, each its own (nothing shared: the machine's own scaling)"),
];
/// The `kmalloc_64_threads` group: implementation prefix and label.
const KMALLOC_THREAD_IMPLS: [(&str, &str); 5] = [
    ("slab_kmalloc", "slab kmalloc (per-CPU array caches)"),
    ("talc", "talc behind a spin lock"),
    ("linked_list_allocator", "linked_list_allocator behind a spin lock"),
    ("buddy_system_allocator", "buddy_system_allocator::Heap behind a spin lock"),
    ("floor", "floor (2 threads: each its own)"),
];
/// The `remote_free` group: function and label.
const REMOTE_IMPLS: [(&str, &str); 3] = [
    ("pcp_2threads", "page-alloc, per-CPU lists, allocated on CPU 0, freed on CPU 1"),
    ("buddy_system_allocator", "buddy_system_allocator behind a spin lock, same two threads"),
    ("lifo_floor", "LIFO floor, 1 thread"),
];
const README_BEGIN: &str = "<!-- bench:begin -->";
const README_END: &str = "<!-- bench:end -->";

/// Nanoseconds per element of one benchmark: its fastest sample. Each of criterion's samples
/// is already an average over many iterations; on a shared host another tenant's load can only
/// slow a sample down, never speed it up, so the fastest sample is the closest to what the code
/// itself costs, and the ratios of two rows of one run stop moving with the neighbours' load
/// (the median, which criterion prints, moved by up to 1.6x between runs here).
fn per_element(dir: &Path) -> Result<f64> {
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("new/sample.json"))?)?;
    let bench: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("new/benchmark.json"))?)?;
    let iters = sample["iters"].as_array().context("no iters in sample.json")?;
    let times = sample["times"].as_array().context("no times in sample.json")?;
    let fastest = iters
        .iter()
        .zip(times)
        .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64().filter(|&i| i > 0.0)?))
        .fold(f64::INFINITY, f64::min);
    if !fastest.is_finite() {
        anyhow::bail!("{}: no samples", dir.display());
    }
    let elements = bench["throughput"]["Elements"].as_f64().unwrap_or(1.0);
    Ok(fastest / elements)
}

/// Runs the benchmarks and renders the table (Markdown).
pub fn run(root: &Path, write_readme: bool) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for (pkg, bench) in [("page-alloc", "buddy"), ("slab-alloc", "kmalloc")] {
        eprintln!("bench: cargo bench -p {pkg} --bench {bench} (criterion; about a minute after the build)");
        let status = Command::new(&cargo)
            .current_dir(root)
            .args(["bench", "-p", pkg, "--bench", bench])
            .status()
            .context("running cargo bench")?;
        if !status.success() {
            bail!("cargo bench -p {pkg} failed");
        }
    }
    let crit = root.join("target/criterion");
    let mut table = String::new();
    table.push_str("| workload | unit | page-alloc | buddy_system_allocator | LIFO floor | page-alloc / floor | buddy_system_allocator / floor |\n");
    table.push_str("|---|---|---|---|---|---|---|\n");
    for (group, unit) in GROUPS {
        let v: Vec<f64> =
            IMPLS.iter().map(|i| per_element(&crit.join(group).join(i))).collect::<Result<_>>().with_context(|| format!("results of {group}"))?;
        let floor = v[2];
        table.push_str(&format!(
            "| `{group}` | {unit} | {:.2} | {:.2} | {:.2} | {:.2}x | {:.2}x |\n",
            v[0],
            v[1],
            v[2],
            v[0] / floor,
            v[1] / floor
        ));
    }
    for (group, what) in [("order0_pcp", "Order-0"), ("order3_pcp", "Order-3")] {
        table.push_str(&format!("\n{what} alloc+free through the per-CPU lists (`{group}`, ns per pair; two threads: throughput per pair over both host cores):\n\n"));
        table.push_str("| implementation | ns/pair | / floor |\n|---|---|---|\n");
        let floor = per_element(&crit.join(group).join("lifo_floor")).with_context(|| format!("results of {group}"))?;
        for (f, label) in PCP_IMPLS {
            let v = per_element(&crit.join(group).join(f)).with_context(|| format!("results of {group}/{f}"))?;
            table.push_str(&format!("| {label} | {v:.2} | {:.2}x |\n", v / floor));
        }
    }
    table.push_str("\nRemote free: order-0 pages allocated on one thread, freed on the other (`remote_free`, ns per page, wall time over both host cores):\n\n");
    table.push_str("| implementation | ns/page | / floor |\n|---|---|---|\n");
    let floor = per_element(&crit.join("remote_free/lifo_floor")).context("results of remote_free")?;
    for (f, label) in REMOTE_IMPLS {
        let v = per_element(&crit.join("remote_free").join(f)).with_context(|| format!("results of remote_free/{f}"))?;
        table.push_str(&format!("| {label} | {v:.2} | {:.2}x |\n", v / floor));
    }
    table.push_str("\nkmalloc/kfree (`mm/slab`, non-debug caches, one CPU) against Rust heap allocators (each behind a spin lock taken per call), ns per element:\n\n");
    table.push_str("| workload | slab kmalloc | linked_list_allocator | talc | buddy_system_allocator | floor | kmalloc / floor | talc / floor |\n|---|---|---|---|---|---|---|---|\n");
    for group in ["kmalloc_hot_16", "kmalloc_hot_64", "kmalloc_hot_256", "kmalloc_mixed"] {
        let v: Vec<f64> = ["slab_kmalloc", "linked_list_allocator", "talc", "buddy_system_allocator", "floor"]
            .iter()
            .map(|f| per_element(&crit.join(group).join(f)))
            .collect::<Result<_>>()
            .with_context(|| format!("results of {group}"))?;
        table.push_str(&format!(
            "| `{group}` | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}x | {:.2}x |\n",
            v[0],
            v[1],
            v[2],
            v[3],
            v[4],
            v[0] / v[4],
            v[2] / v[4]
        ));
    }
    table.push_str("\nkmalloc 64 B alloc+free pairs on one and two threads (`kmalloc_64_threads`, ns per pair; two threads: wall time over both host cores per pair):\n\n");
    table.push_str("| implementation | 1 thread | / floor | 2 threads | / floor | 2-thread throughput / 1-thread |\n|---|---|---|---|---|---|\n");
    let kt = |f: &str| per_element(&crit.join("kmalloc_64_threads").join(f)).with_context(|| format!("results of kmalloc_64_threads/{f}"));
    let floor1 = kt("floor_1thread")?;
    for (f, label) in KMALLOC_THREAD_IMPLS {
        let (one, two) = (kt(&format!("{f}_1thread"))?, kt(&format!("{f}_2threads"))?);
        table.push_str(&format!("| {label} | {one:.2} | {:.2}x | {two:.2} | {:.2}x | {:.2}x |\n", one / floor1, two / floor1, one / two));
    }

    // The targets of the allocator issue, each a ratio from this run.
    let pcp = |g: &str, f: &str| per_element(&crit.join(g).join(f)).with_context(|| format!("results of {g}/{f}"));
    let mut targets = Vec::new();
    let mut target = |what: String, value: f64, ok: bool| targets.push(format!("| {what} | {value:.2}x | {} |", if ok { "met" } else { "missed" }));
    let r = pcp("order0_pcp", "pcp_1thread")? / pcp("order0_pcp", "lifo_floor")?;
    target("order-0 pair through the per-CPU lists, 1 thread / LIFO floor (at most 5x)".into(), r, r <= 5.0);
    for g in ["order0_pcp", "order3_pcp"] {
        let r = pcp(g, "pcp_1thread")? / pcp(g, "pcp_2threads")?;
        let machine = pcp(g, "lifo_floor")? / pcp(g, "lifo_floor_2threads")?;
        target(format!("`{g}`: 2-thread throughput / 1-thread (at least 1.7x; the machine's own, two private floors: {machine:.2}x)"), r, r >= 1.7);
    }
    let r = kt("slab_kmalloc_1thread")? / kt("talc_1thread")?;
    target("kmalloc 64 B hot pair / talc's, 1 thread (at most 1x)".into(), r, r <= 1.0);
    let r = kt("slab_kmalloc_2threads")? / kt("talc_2threads")?;
    target("kmalloc 64 B hot pair / talc's, 2 threads (at most 1x)".into(), r, r <= 1.0);
    let mixed = |f: &str| per_element(&crit.join("mixed_orders_0_3").join(f)).context("results of mixed_orders_0_3");
    let r = mixed("page_alloc")? / mixed("lifo_floor")?;
    target("mixed orders 0-3 / LIFO floor (at most 2x)".into(), r, r <= 2.0);
    for g in ["handoff_1GiB", "handoff_4GiB"] {
        let h = |f: &str| per_element(&crit.join(g).join(f)).with_context(|| format!("results of {g}"));
        let r = h("page_alloc")? / h("lifo_floor")?;
        target(format!("`{g}` hand-off / LIFO floor (at most 1.6x)"), r, r <= 1.6);
    }
    table.push_str("\nTargets (each a ratio of two figures of this run):\n\n| target | measured | |\n|---|---|---|\n");
    for t in targets {
        table.push_str(&t);
        table.push('\n');
    }
    println!("{table}");
    if write_readme {
        let path = root.join("README.md");
        let readme = std::fs::read_to_string(&path)?;
        let (Some(b), Some(e)) = (readme.find(README_BEGIN), readme.find(README_END)) else {
            bail!("README.md has no {README_BEGIN} … {README_END} section");
        };
        let new = format!("{}{README_BEGIN}\n{table}{}", &readme[..b], &readme[e..]);
        std::fs::write(&path, new)?;
        eprintln!("bench: table written to README.md");
    }
    Ok(())
}
