//! FDT header and structure-block validation, done here before any parser sees the blob.
//!
//! Mirrors libfdt's `fdt_check_header()` / `fdt_check_full()` (scripts/dtc/libfdt/fdt_check.c,
//! which Linux 6.1 `early_init_dt_verify()` relies on) with one difference: every offset and size
//! is computed in `u64` with checked arithmetic, so a hostile header can never wrap.
//!
//! Invariants established by [`validate`] (and relied on by `tree.rs`):
//! - `totalsize <= blob.len()`; everything below is checked against `totalsize` only.
//! - the memory-reservation block, the structure block `[off_dt_struct, +size_dt_struct)` and the
//!   strings block `[off_dt_strings, +size_dt_strings)` lie inside `[0, totalsize)`, with the
//!   alignment the specification asks for (8 for memreserve, 4 for the structure block).
//! - the structure block is a well-formed token stream: exactly one root node, balanced
//!   `FDT_BEGIN_NODE`/`FDT_END_NODE`, nesting at most [`MAX_DEPTH`], node names NUL-terminated
//!   inside the block, every property's value inside the block and its name offset pointing at a
//!   NUL-terminated string inside the strings block, no property after a subnode, `FDT_NOP`
//!   anywhere, and `FDT_END` right after the root closes.
//!
//! The `/memreserve/` block is parsed here too (the `fdt` crate has no accessor for it): entries
//! are read until the first one with size 0, as Linux's `early_init_fdt_scan_reserved_mem()`
//! does, and never past the block's extent (the next block, or `totalsize`).

use crate::DtError;

/// `FDT_MAGIC`, big-endian in the blob.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Size of a version-17 header in bytes.
pub const HEADER_SIZE: usize = 40;
/// Deepest node nesting accepted (the root is depth 1). Real trees stay below 10.
pub const MAX_DEPTH: usize = 32;

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// The header fields, host-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Size of the whole blob in bytes.
    pub totalsize: u32,
    /// Offset of the structure block.
    pub off_dt_struct: u32,
    /// Offset of the strings block.
    pub off_dt_strings: u32,
    /// Offset of the memory-reservation block.
    pub off_mem_rsvmap: u32,
    /// Format version (17 for everything dtc and QEMU write).
    pub version: u32,
    /// Oldest version this blob is compatible with.
    pub last_comp_version: u32,
    /// Physical id of the boot CPU.
    pub boot_cpuid_phys: u32,
    /// Size of the strings block in bytes.
    pub size_dt_strings: u32,
    /// Size of the structure block in bytes.
    pub size_dt_struct: u32,
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    let end = off.checked_add(4)?;
    let s = b.get(off..end)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], off: usize) -> Option<u64> {
    let hi = be32(b, off)?;
    let lo = be32(b, off.checked_add(4)?)?;
    Some((u64::from(hi) << 32) | u64::from(lo))
}

/// Reads `totalsize` from the first 40 bytes of a blob after checking the magic, so firmware that
/// only has a pointer can learn how long a slice to make. Nothing else is validated: pass the
/// resulting slice to [`crate::DeviceTree::new`].
pub fn header_totalsize(first_40_bytes: &[u8]) -> Result<usize, DtError> {
    if first_40_bytes.len() < HEADER_SIZE {
        return Err(DtError::TooShort { len: first_40_bytes.len() });
    }
    let magic = be32(first_40_bytes, 0).ok_or(DtError::TooShort { len: first_40_bytes.len() })?;
    if magic != FDT_MAGIC {
        return Err(DtError::BadMagic { magic });
    }
    let total = be32(first_40_bytes, 4).ok_or(DtError::TooShort { len: first_40_bytes.len() })?;
    if (total as usize) < HEADER_SIZE {
        return Err(DtError::BadHeader { what: "totalsize smaller than the header" });
    }
    Ok(total as usize)
}

/// Parses and checks the header against `blob`; see the module invariants.
pub fn parse_header(blob: &[u8]) -> Result<Header, DtError> {
    let totalsize = header_totalsize(blob)? as u64;
    let f = |off| be32(blob, off).unwrap_or(0);
    let h = Header {
        totalsize: totalsize as u32,
        off_dt_struct: f(8),
        off_dt_strings: f(12),
        off_mem_rsvmap: f(16),
        version: f(20),
        last_comp_version: f(24),
        boot_cpuid_phys: f(28),
        size_dt_strings: f(32),
        size_dt_struct: f(36),
    };
    if totalsize > blob.len() as u64 {
        return Err(DtError::TotalSizeExceedsBuffer { totalsize, buffer: blob.len() as u64 });
    }
    // Version 17 is the only one with `size_dt_struct`; dtc and QEMU have written it since 2008.
    if h.version < 17 || h.last_comp_version > 17 {
        return Err(DtError::BadVersion { version: h.version, last_comp_version: h.last_comp_version });
    }
    let block = |name: &'static str, off: u32, size: u32| -> Result<(), DtError> {
        let (off, size) = (u64::from(off), u64::from(size));
        match off.checked_add(size) {
            Some(end) if off >= HEADER_SIZE as u64 && end <= totalsize => Ok(()),
            _ => Err(DtError::BlockOutside { block: name, off, size, totalsize }),
        }
    };
    block("struct", h.off_dt_struct, h.size_dt_struct)?;
    block("strings", h.off_dt_strings, h.size_dt_strings)?;
    block("memreserve", h.off_mem_rsvmap, 16)?;
    if !h.off_mem_rsvmap.is_multiple_of(8) {
        return Err(DtError::BadHeader { what: "memreserve block not 8-byte aligned" });
    }
    if !h.off_dt_struct.is_multiple_of(4) || !h.size_dt_struct.is_multiple_of(4) {
        return Err(DtError::BadHeader { what: "struct block not 4-byte aligned" });
    }
    Ok(h)
}

/// Extent of the memreserve block: up to the next block that starts after it, else `totalsize`.
fn memreserve_end(h: &Header) -> u64 {
    let start = u64::from(h.off_mem_rsvmap);
    [u64::from(h.off_dt_struct), u64::from(h.off_dt_strings)]
        .into_iter()
        .filter(|&o| o > start)
        .fold(u64::from(h.totalsize), u64::min)
}

/// Calls `f(address, size)` for each `/memreserve/` entry, stopping at the first zero-size
/// entry (Linux: `if (!size) break;`). An entry that would cross the block's extent is an error.
pub fn for_each_memreserve(
    blob: &[u8],
    h: &Header,
    mut f: impl FnMut(u64, u64) -> Result<(), DtError>,
) -> Result<(), DtError> {
    let end = memreserve_end(h);
    let mut off = u64::from(h.off_mem_rsvmap);
    loop {
        if off.checked_add(16).is_none_or(|e| e > end) {
            return Err(DtError::BadHeader { what: "memreserve block not terminated inside its extent" });
        }
        let o = off as usize;
        let (addr, size) = match (be64(blob, o), be64(blob, o + 8)) {
            (Some(a), Some(s)) => (a, s),
            _ => return Err(DtError::BadHeader { what: "memreserve entry outside the blob" }),
        };
        if size == 0 {
            return Ok(());
        }
        f(addr, size)?;
        off += 16;
    }
}

/// NUL-terminated string starting at `off` and ending before `end`; returns the offset of the NUL.
fn find_nul(blob: &[u8], off: usize, end: usize) -> Option<usize> {
    let s = blob.get(off..end)?;
    s.iter().position(|&c| c == 0).map(|p| off + p)
}

/// Walks the structure block once and checks the token grammar (see the module invariants).
pub fn check_struct(blob: &[u8], h: &Header) -> Result<(), DtError> {
    let start = h.off_dt_struct as usize;
    let end = start + h.size_dt_struct as usize; // both inside totalsize: checked in parse_header
    let str_start = h.off_dt_strings as usize;
    let str_end = str_start + h.size_dt_strings as usize;
    let err = |offset: usize, what: &'static str| DtError::BadStruct { offset: offset as u64, what };
    let mut off = start;
    let mut depth = 0usize;
    let mut root_done = false;
    // Whether the innermost open node has already had a subnode (then no more properties).
    let mut had_child = [false; MAX_DEPTH + 1];
    loop {
        let tok = match be32(blob, off) {
            Some(t) if off + 4 <= end => t,
            _ => return Err(err(off, "structure block ends without FDT_END")),
        };
        let next = off + 4;
        match tok {
            FDT_BEGIN_NODE => {
                if root_done {
                    return Err(err(off, "second root node"));
                }
                if depth > 0 {
                    had_child[depth] = true;
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(DtError::TooDeep { depth: MAX_DEPTH });
                }
                had_child[depth] = false;
                let nul = find_nul(blob, next, end).ok_or(err(off, "node name not terminated"))?;
                if core::str::from_utf8(&blob[next..nul]).is_err() {
                    return Err(err(off, "node name is not UTF-8"));
                }
                off = (nul + 1 + 3) & !3;
            }
            FDT_END_NODE => {
                if depth == 0 {
                    return Err(err(off, "FDT_END_NODE without a node"));
                }
                depth -= 1;
                if depth == 0 {
                    root_done = true;
                }
                off = next;
            }
            FDT_PROP => {
                if depth == 0 {
                    return Err(err(off, "property outside any node"));
                }
                if had_child[depth] {
                    return Err(err(off, "property after a subnode"));
                }
                let len = be32(blob, next).filter(|_| next + 8 <= end).ok_or(err(off, "truncated property header"))?;
                let nameoff = be32(blob, next + 4).unwrap_or(u32::MAX) as usize;
                let value = next + 8;
                let value_end = value
                    .checked_add(len as usize)
                    .filter(|&e| e <= end)
                    .ok_or(err(off, "property value runs past the structure block"))?;
                let name = str_start
                    .checked_add(nameoff)
                    .filter(|&n| n < str_end)
                    .ok_or(err(off, "property name offset outside the strings block"))?;
                let nul = find_nul(blob, name, str_end).ok_or(err(off, "property name not terminated"))?;
                if core::str::from_utf8(&blob[name..nul]).is_err() {
                    return Err(err(off, "property name is not UTF-8"));
                }
                off = (value_end + 3) & !3;
            }
            FDT_NOP => off = next,
            FDT_END => {
                return if root_done && depth == 0 { Ok(()) } else { Err(err(off, "FDT_END inside a node")) };
            }
            _ => return Err(err(off, "unknown token")),
        }
        if off > end {
            return Err(err(off, "token runs past the structure block"));
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn hdr(total: u32) -> [u8; 40] {
        let mut b = [0u8; 40];
        b[0..4].copy_from_slice(&FDT_MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&total.to_be_bytes());
        b
    }

    #[test]
    fn totalsize_from_first_bytes() {
        assert_eq!(header_totalsize(&hdr(0x1000)), Ok(0x1000));
        assert!(matches!(header_totalsize(&hdr(0x1000)[..39]), Err(DtError::TooShort { len: 39 })));
        let mut b = hdr(0x1000);
        b[0] = 0;
        assert!(matches!(header_totalsize(&b), Err(DtError::BadMagic { magic: 0x000d_feed })));
        assert!(header_totalsize(&hdr(8)).is_err());
    }

    #[test]
    fn offsets_near_u32_max_do_not_wrap() {
        // Expect: off + size overflowing u32 is an error, not a wrapped small number.
        let mut b = std::vec![0u8; 0x100];
        b[..40].copy_from_slice(&hdr(0x100));
        b[8..12].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        b[36..40].copy_from_slice(&0x20u32.to_be_bytes());
        b[20..24].copy_from_slice(&17u32.to_be_bytes());
        b[24..28].copy_from_slice(&16u32.to_be_bytes());
        let e = parse_header(&b).unwrap_err();
        assert!(matches!(e, DtError::BlockOutside { block: "struct", .. }), "{e}");
    }
}
