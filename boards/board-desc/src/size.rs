//! Memory sizes: `128M`, `3G`, `512K`, `1073741824`.

/// Parses a size with an optional K/M/G/T suffix (binary units) into bytes.
///
/// # Errors
/// Not a number, a zero size, or one that overflows.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        Some((i, 'T' | 't')) => (&t[..i], 40),
        _ => (t, 0),
    };
    let Ok(n) = digits.parse::<u64>() else {
        return Err(format!("bad size {s:?}: expected a whole number with an optional K, M, G or T suffix (e.g. 128M)"));
    };
    match n.checked_mul(1 << shift) {
        Some(0) | None => Err(format!("bad size {s:?}: must be above zero and below 16 EiB")),
        Some(v) => Ok(v),
    }
}

