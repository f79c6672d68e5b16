//! Memory sizes on the command line: `128M`, `3G`, `512K`, `1073741824`.

use anyhow::{bail, Result};

/// Parses a size with an optional K/M/G/T suffix (binary units) into bytes (the board
/// descriptions' parser, so both spell sizes alike).
pub fn parse_size(s: &str) -> Result<u64> {
    board_desc::parse_size(s).map_err(anyhow::Error::msg)
}

/// QEMU's `-m` spelling of a byte count (whole MiB).
pub fn qemu_mem_arg(bytes: u64) -> Result<String> {
    if !bytes.is_multiple_of(1 << 20) {
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
