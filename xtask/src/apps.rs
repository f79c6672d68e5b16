//! The applications an image can run: one crate per folder under `apps/` (besides
//! `apps/select`, which picks one at build time from `MEMFW_APP`). `--app NAME` of `build`,
//! `image`, `run` and the test cases name a folder; `cargo xtask boards` lists them.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// What `run`, `build` and `image` build when no `--app` is given: the self-tests, as every
/// image did before applications existed.
pub const DEFAULT_APP: &str = "selftest";

/// One application: its folder name and its crate's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInfo {
    pub name: String,
    pub description: String,
}

/// Every application under `apps/`, sorted by name.
pub fn list(root: &Path) -> Result<Vec<AppInfo>> {
    let mut apps = Vec::new();
    for entry in std::fs::read_dir(root.join("apps")).context("reading apps/")? {
        let dir = entry?.path();
        let manifest = dir.join("Cargo.toml");
        let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        if name == "select" || !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
        let value: toml::Value = toml::from_str(&text).with_context(|| format!("parsing {}", manifest.display()))?;
        let description = value.get("package").and_then(|p| p.get("description")).and_then(|d| d.as_str()).unwrap_or("").to_owned();
        apps.push(AppInfo { name, description });
    }
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(apps)
}

/// Fails unless `name` is an application under `apps/`, naming the known ones.
pub fn check(root: &Path, name: &str) -> Result<()> {
    let apps = list(root)?;
    if apps.iter().any(|a| a.name == name) {
        return Ok(());
    }
    let known: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    bail!("--app {name}: no such application (a folder under apps/); known: {}", known.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
    }

    /// The folders are the applications, and apps/select's build script accepts exactly them.
    #[test]
    fn the_applications_are_the_folders_and_select_knows_each() {
        let names: Vec<String> = list(root()).unwrap().into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["hello", "memtest", "selftest"]);
        let build_rs = std::fs::read_to_string(root().join("apps/select/build.rs")).unwrap();
        let lib_rs = std::fs::read_to_string(root().join("apps/select/src/lib.rs")).unwrap();
        for n in &names {
            assert!(build_rs.contains(&format!("\"{n}\"")), "apps/select/build.rs does not list {n}");
            assert!(lib_rs.contains(&format!("#[cfg(memfw_app = \"{n}\")]")), "apps/select/src/lib.rs does not select {n}");
        }
        assert!(names.iter().any(|n| n == DEFAULT_APP));
        let e = check(root(), "memtset").unwrap_err().to_string();
        assert_eq!(e, "--app memtset: no such application (a folder under apps/); known: hello, memtest, selftest");
    }

    /// The README's "Write your own firmware" example is apps/hello's source, byte for byte.
    #[test]
    fn the_readme_example_is_apps_hello() {
        let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
        let src = std::fs::read_to_string(root().join("apps/hello/src/lib.rs")).unwrap();
        let start = readme.find("<!-- hello:begin -->\n```rust\n").expect("README has the hello example markers") + "<!-- hello:begin -->\n```rust\n".len();
        let end = readme[start..].find("```\n<!-- hello:end -->").expect("README closes the hello example") + start;
        assert_eq!(&readme[start..end], src, "README's example differs from apps/hello/src/lib.rs");
        let lines = src.lines().count();
        assert!((20..=40).contains(&lines), "the example has {lines} lines; the README promises 20 to 40");
    }
}
