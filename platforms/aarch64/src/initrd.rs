//! The initrd (`/chosen` `linux,initrd-start`/`-end` (U-Boot `booti`, QEMU `-initrd`)): its bytes checked where the loader put them, right after memblock
//! reserved them, and again when the boot ends (`platform::initrd` has the format). The
//! second check fails a boot whose initrd pages were handed out and overwritten.
#![allow(unsafe_code)]

use mm_init::PlatformError;
use mm_types::{LineSink, MemRange};
use platform::initrd::{check, Verdict};

/// The initrd that passed its check at boot, to be checked again at the end.
static CHECKED: spin::Once<MemRange> = spin::Once::new();

/// The initrd's bytes, read at its physical address (MMU off before `paging_init`; identity linear map after).
fn bytes(r: MemRange) -> Option<&'static [u8]> {
    let virt = (r.base.checked_add(r.size)? <= crate::paging::VA_LIMIT).then_some(r.base as usize)?;
    // SAFETY: the address is usable as is: MMU off, or the identity linear map, which covers RAM below `VA_LIMIT` (checked above); the range is RAM the loader filled and memblock keeps reserved, and
    // nothing writes it, so it may be read for the life of the firmware.
    Some(unsafe { core::slice::from_raw_parts(virt as *const u8, r.size as usize) })
}

/// Checks the initrd at `r` (the exact range the loader reported) and logs
/// `initrd: [mem …] N bytes, checksum ok`; a test initrd whose bytes do not match fails the
/// boot.
pub fn check_at_boot(r: MemRange, log: &mut dyn LineSink) -> Result<(), PlatformError> {
    let Some(b) = bytes(r).filter(|_| r.size > 0) else {
        log.line(format_args!("initrd: {r} {} bytes, not readable here, not checked", r.size));
        return Ok(());
    };
    let verdict = check(b);
    log.line(format_args!("initrd: {r} {} bytes, {verdict}", r.size));
    if !verdict.ok() {
        return Err(PlatformError::BadFirmwareData("the initrd's bytes are not the ones its header describes"));
    }
    if matches!(verdict, Verdict::ChecksumOk { .. }) {
        CHECKED.call_once(|| r);
    }
    Ok(())
}

/// At the end of a successful boot: whether the initrd checked at boot (if any) is unchanged.
pub fn still_intact() -> bool {
    let Some(&r) = CHECKED.get() else { return true };
    let verdict = bytes(r).map_or(Verdict::Unchecked, check);
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
