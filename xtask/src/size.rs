//! Memory sizes on the command line: `128M`, `3G`, `512K`, `1073741824`.

use anyhow::{bail, Result};

/// Parses a size with an optional K/M/G/T suffix (binary units) into bytes.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        Some((i, 'T' | 't')) => (&t[..i], 40),
        _ => (t, 0),
    };
    let Ok(n) = digits.parse::<u64>() else {
        bail!("bad size {s:?}: expected a whole number with an optional K, M, G or T suffix (e.g. 128M)");
    };
    match n.checked_mul(1 << shift) {
        Some(0) | None => bail!("bad size {s:?}: must be above zero and below 16 EiB"),
        Some(v) => Ok(v),
    }
}

/// QEMU's `-m` spelling of a byte count (whole MiB).
pub fn qemu_mem_arg(bytes: u64) -> Result<String> {
    if bytes % (1 << 20) != 0 {
        bail!("memory size {bytes} bytes is not a whole number of MiB, which QEMU's -m needs");
    }
    Ok(format!("{}M", bytes >> 20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("128M").unwrap(), 128 << 20);
        assert_eq!(parse_size("3G").unwrap(), 3 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("12X").is_err());
        assert!(parse_size("0M").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999T").is_err());
        assert_eq!(qemu_mem_arg(256 << 20).unwrap(), "256M");
        assert!(qemu_mem_arg(1000).is_err());
    }
}
