//! The test initrd format and its check: what `cargo xtask` puts in an initrd so the firmware
//! can prove the loader handed over the right bytes, and that they stayed untouched.
//!
//! Layout (all little-endian): the 8-byte magic `MEMFWRD1`, the payload length (u32), the
//! 32-bit FNV-1a hash of the payload (u32), then the payload. xtask writes it
//! (`xtask/src/firmware.rs`, `initrd_bytes`). An initrd without the magic (a real cpio, say) is
//! reported and left unchecked; one with the magic whose length or hash do not match fails the
//! boot. The platforms check it where the loader put it, right after reserving it, and again
//! when the boot ends: a page of it handed to the page allocator would have been overwritten by
//! the self-tests by then.

/// Magic at the start of a test initrd.
pub const MAGIC: &[u8; 8] = b"MEMFWRD1";
/// Bytes before the payload.
pub const HEADER_SIZE: usize = 16;

/// 32-bit FNV-1a.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// What the check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The header's hash matches the payload of this many bytes.
    ChecksumOk { payload_len: u32 },
    /// No test header: not checked.
    Unchecked,
    /// The header claims more payload than the initrd holds.
    Truncated { payload_len: u32 },
    /// The hash does not match.
    Mismatch { expected: u32, found: u32 },
}

impl Verdict {
    /// Whether the boot may go on.
    pub fn ok(self) -> bool {
        matches!(self, Self::ChecksumOk { .. } | Self::Unchecked)
    }
}

impl core::fmt::Display for Verdict {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ChecksumOk { .. } => f.write_str("checksum ok"),
            Self::Unchecked => f.write_str("no memfw test header, not checked"),
            Self::Truncated { payload_len } => {
                write!(f, "truncated: the header announces {payload_len} payload bytes")
            }
            Self::Mismatch { expected, found } => {
                write!(f, "checksum MISMATCH: header {expected:#010x}, bytes {found:#010x}")
            }
        }
    }
}

/// Checks `initrd` (the whole range the loader reported).
pub fn check(initrd: &[u8]) -> Verdict {
    if initrd.len() < HEADER_SIZE || &initrd[..8] != MAGIC {
        return Verdict::Unchecked;
    }
    let word = |at: usize| u32::from_le_bytes([initrd[at], initrd[at + 1], initrd[at + 2], initrd[at + 3]]);
    let (payload_len, expected) = (word(8), word(12));
    let Some(payload) = initrd.get(HEADER_SIZE..HEADER_SIZE + payload_len as usize) else {
        return Verdict::Truncated { payload_len };
    };
    let found = fnv1a32(payload);
    if found == expected {
        Verdict::ChecksumOk { payload_len }
    } else {
        Verdict::Mismatch { expected, found }
    }
}

/// Reads an initrd's bytes at a physical range, if the platform can reach it (each platform
/// provides one: the only architecture-specific part of the check).
pub type ReadBytes = fn(mm_types::MemRange) -> Option<&'static [u8]>;

/// The initrd that passed its check at boot, to be checked again at the end.
static CHECKED: spin::Once<mm_types::MemRange> = spin::Once::new();

/// Checks the initrd at `r` (the exact range the loader reported) and logs
/// `initrd: [mem …] N bytes, checksum ok`; a test initrd whose bytes do not match fails the
/// boot.
///
/// # Errors
/// [`mm_init::PlatformError::BadFirmwareData`] when the bytes do not match their header.
pub fn check_at_boot(r: mm_types::MemRange, read: ReadBytes, log: &mut dyn mm_types::LineSink) -> Result<(), mm_init::PlatformError> {
    let Some(b) = read(r).filter(|_| r.size > 0) else {
        log.line(format_args!("initrd: {r} {} bytes, not readable here, not checked", r.size));
        return Ok(());
    };
    let verdict = check(b);
    log.line(format_args!("initrd: {r} {} bytes, {verdict}", r.size));
    if !verdict.ok() {
        return Err(mm_init::PlatformError::BadFirmwareData("the initrd's bytes are not the ones its header describes"));
    }
    if matches!(verdict, Verdict::ChecksumOk { .. }) {
        CHECKED.call_once(|| r);
    }
    Ok(())
}

/// At the end of a successful boot: whether the initrd checked at boot (if any) is unchanged.
pub fn still_intact(read: ReadBytes) -> bool {
    let Some(&r) = CHECKED.get() else { return true };
    let verdict = read(r).map_or(Verdict::Unchecked, check);
    if matches!(verdict, Verdict::ChecksumOk { .. }) {
        defmt::info!(
            "initrd: [mem {=u64:#018x}-{=u64:#018x}] unchanged at the end of the boot, checksum ok: its pages stayed reserved",
            r.base,
            r.end() - 1
        );
        true
    } else {
        defmt::error!(
            "initrd: [mem {=u64:#018x}-{=u64:#018x}] changed during the boot ({}): its pages were handed out",
            r.base,
            r.end() - 1,
            defmt::Display2Format(&verdict)
        );
        false
    }
}
