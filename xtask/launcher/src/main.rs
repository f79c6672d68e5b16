//! `cargo xtask`'s launcher: builds the xtask tool and runs it with the same arguments.
//!
//! The alias in `.cargo/config.toml` runs this crate with `--quiet`, so that a run whose tools
//! are already built prints nothing but its own output. This crate has no dependencies and
//! builds in about a second; it then builds `xtask` itself (minutes on a fresh clone: clap,
//! defmt-decoder, …) through cargo with its status lines piped here. They are held back until
//! one says that work is being done (`Compiling`, `Downloading`, `Updating`, `Blocking`); from
//! then on they are shown as they come, after one line saying what is being built. When nothing
//! needs building, nothing is shown. A failed build shows everything cargo said.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// cargo status words that mean real work (and possibly a long wait).
const WORK: &[&str] = &["Compiling", "Downloading", "Downloaded", "Updating", "Locking", "Adding", "Blocking"];
/// Of those, the ones that mean the tool is being built (the others may only be a wait for
/// another cargo's lock).
const BUILDING: &[&str] = &["Compiling", "Downloading", "Downloaded"];

/// `line` without ANSI escape sequences (cargo colours its status words on a terminal).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (0x40..=0x7e).
            if chars.next() == Some('[') {
                for d in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&d) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The status word of a cargo line (`Compiling`), if it is one of `words`.
fn status_in(line: &str, words: &[&str]) -> bool {
    let plain = strip_ansi(line);
    words.contains(&plain.split_whitespace().next().unwrap_or(""))
}

/// Whether cargo's status line says it is doing work worth showing.
fn is_work(line: &str) -> bool {
    status_in(line, WORK)
}

/// The `executable` of cargo's JSON `compiler-artifact` message for the `xtask` binary.
fn xtask_executable(json_line: &str) -> Option<PathBuf> {
    if !json_line.contains("\"reason\":\"compiler-artifact\"") || !json_line.contains("\"name\":\"xtask\"") {
        return None;
    }
    let start = json_line.find("\"executable\":\"")? + "\"executable\":\"".len();
    let mut path = String::new();
    let mut chars = json_line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(PathBuf::from(path)),
            '\\' => match chars.next()? {
                'n' => path.push('\n'),
                't' => path.push('\t'),
                other => path.push(other),
            },
            c => path.push(c),
        }
    }
    None
}

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let tty = std::io::stderr().is_terminal();
    let child = Command::new(&cargo)
        .current_dir(&root)
        .args(["build", "--package", "xtask", "--bin", "xtask", "--message-format=json-render-diagnostics"])
        .arg(if tty { "--color=always" } else { "--color=never" })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cargo xtask: cannot run {}: {e}", cargo.to_string_lossy());
            return ExitCode::FAILURE;
        }
    };
    // Artifacts (stdout, JSON) on a thread; status lines (stderr) here.
    let stdout = child.stdout.take().expect("piped");
    // Read to the end: a closed pipe would make cargo fail on its next message.
    let artifacts = std::thread::spawn(move || {
        let mut exe = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            exe = xtask_executable(&line).or(exe);
        }
        exe
    });
    let mut held: Vec<String> = Vec::new();
    let (mut showing, mut said) = (false, false);
    let mut err = std::io::stderr();
    for line in BufReader::new(child.stderr.take().expect("piped")).lines().map_while(Result::ok) {
        if !said && status_in(&line, BUILDING) {
            said = true;
            let _ = writeln!(err, "cargo xtask: building the xtask tool (a few minutes on a fresh clone; once built, runs start at once)");
        }
        if !showing && is_work(&line) {
            showing = true;
            for h in held.drain(..) {
                let _ = writeln!(err, "{h}");
            }
        }
        if showing {
            let _ = writeln!(err, "{line}");
        } else {
            held.push(line);
        }
    }
    let status = child.wait();
    let exe = artifacts.join().ok().flatten();
    match (status, exe) {
        (Ok(s), Some(exe)) if s.success() => {
            let args: Vec<OsString> = std::env::args_os().skip(1).collect();
            match Command::new(&exe).args(&args).status() {
                Ok(s) => ExitCode::from(s.code().map_or(1, |c| u8::try_from(c).unwrap_or(1))),
                Err(e) => {
                    eprintln!("error: cargo xtask: cannot run {}: {e}", exe.display());
                    ExitCode::FAILURE
                }
            }
        }
        (status, exe) => {
            for h in held {
                let _ = writeln!(err, "{h}");
            }
            match status {
                Ok(s) if s.success() => eprintln!("error: cargo xtask: cargo built xtask but named no executable{}", exe.map_or(String::new(), |e| format!(" ({})", e.display()))),
                Ok(s) => eprintln!("error: cargo xtask: building the xtask tool failed ({s})"),
                Err(e) => eprintln!("error: cargo xtask: waiting for cargo: {e}"),
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_told_from_a_fresh_tool() {
        assert!(is_work("   Compiling clap v4.5.51"));
        assert!(is_work("\u{1b}[1m\u{1b}[32m   Compiling\u{1b}[0m defmt-decoder v1.2.0"));
        assert!(is_work("    Blocking waiting for file lock on build directory"));
        assert!(is_work("  Downloaded serde v1.0.228"));
        assert!(!is_work("    Finished `dev` profile [optimized + debuginfo] target(s) in 0.09s"));
        assert!(!is_work("\u{1b}[1m\u{1b}[32m    Finished\u{1b}[0m `dev` profile"));
        assert!(!is_work("warning: unused variable: `x`"));
        assert!(status_in("   Compiling clap v4.5.51", BUILDING));
        assert!(!status_in("    Blocking waiting for file lock on package cache", BUILDING));
    }

    #[test]
    fn the_executable_comes_from_cargos_artifact_message() {
        let line = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/xtask#0.1.0","target":{"kind":["bin"],"crate_types":["bin"],"name":"xtask","src_path":"/w/xtask/src/main.rs"},"executable":"/w/target/debug/xtask","fresh":true}"#;
        assert_eq!(xtask_executable(line), Some(PathBuf::from("/w/target/debug/xtask")));
        let lib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"clap"},"executable":null,"fresh":true}"#;
        assert_eq!(xtask_executable(lib), None);
        let escaped = r#"{"reason":"compiler-artifact","target":{"name":"xtask"},"executable":"C:\\w\\xtask.exe"}"#;
        assert_eq!(xtask_executable(escaped), Some(PathBuf::from(r"C:\w\xtask.exe")));
        assert_eq!(xtask_executable(r#"{"reason":"build-finished","success":true}"#), None);
    }
}
