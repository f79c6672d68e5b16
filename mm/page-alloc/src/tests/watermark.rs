//! Watermarks and the zonelist under memory pressure.
use super::*;
use crate::{AllocError, Gfp};

/// Watermarks of the 128 MiB PC after memblock_free_all (32601 managed lowmem pages):
///
/// ```text
/// min_free_kbytes = int_sqrt(32601 * 4 * 16) = int_sqrt(2086464) = 1444
/// pages_min       = 1444 / 4 = 361
/// DMA    (3961):  min = 361 * 3961 / 32601 = 43,  tmp = max(43/4, 3961*10/10000) = 10
///                 low = 53, high = 63
/// Normal (28640): min = 361 * 28640 / 32601 = 317, tmp = max(317/4, 28) = 79
///                 low = 396, high = 475
/// lowmem_reserve: DMA[Normal..] = 28640 / 256 = 111; Normal[HighMem..] = 0 / 32 = 0
///                 (slot 1 is DMA32, which i386 lacks: 0)
/// ```
#[test]
fn pc128_watermarks() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let (node, _) = m.boot(&mut pages, start, &mut Lines::default());
    assert_eq!(node.min_free_kbytes, 1444);
    assert_eq!(node.zone(ZoneType::Dma).watermark, [43, 53, 63]);
    assert_eq!(node.zone(ZoneType::Normal).watermark, [317, 396, 475]);
    assert_eq!(node.zone(ZoneType::Dma).lowmem_reserve, [0, 0, 111, 111, 111]);
    assert_eq!(node.zone(ZoneType::Normal).lowmem_reserve, [0, 0, 0, 0, 0]);
    // min_free_kbytes clamps.
    assert_eq!(crate::int_sqrt(2_086_464), 1444);
    assert_eq!(crate::int_sqrt(u64::MAX), u64::from(u32::MAX));
}

/// GFP_DMA order-0 allocations succeed until the DMA zone is down to its min watermark
/// (free must stay above min = 43); a `__GFP_NOFAIL` request then ignores the watermarks
/// until the zone is empty, and after that reports NoFailUnsatisfied.
#[test]
fn dma_allocations_stop_at_min_watermark() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let (node, _) = m.boot(&mut pages, start, &mut Lines::default());
    let mut n = 0;
    while node.alloc_pages(Gfp::DMA, 0).is_ok() {
        n += 1;
    }
    assert_eq!(n, 3961 - 43);
    assert_eq!(node.zone(ZoneType::Dma).free_pages(), 43);
    assert_eq!(node.alloc_pages(Gfp::DMA, 0), Err(AllocError::NoMemory { order: 0 }));
    // __GFP_HIGH halves min: 43 - 21 = 22 must stay.
    let mut h = 0;
    while node.alloc_pages(Gfp { high: true, ..Gfp::DMA }, 0).is_ok() {
        h += 1;
    }
    assert_eq!(node.zone(ZoneType::Dma).free_pages(), 22);
    assert_eq!(h, 21);
    while node.alloc_pages(Gfp::DMA.nofail(), 0).is_ok() {}
    assert_eq!(node.zone(ZoneType::Dma).free_pages(), 0);
    assert_eq!(node.alloc_pages(Gfp::DMA.nofail(), 0), Err(AllocError::NoFailUnsatisfied { order: 0 }));
    node.check().unwrap();
}

/// GFP_KERNEL walks Normal, then DMA; DMA keeps `min + lowmem_reserve[Normal]` = 43 + 111
/// pages back from Normal-capable requests.
#[test]
fn kernel_falls_back_to_dma_with_lowmem_reserve() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let (node, _) = m.boot(&mut pages, start, &mut Lines::default());
    let mut from_dma = 0;
    while let Ok(p) = node.alloc_pages(Gfp::KERNEL, 0) {
        if node.zone_of(p.0) == Some(ZoneType::Dma) {
            from_dma += 1;
        }
    }
    assert_eq!(node.zone(ZoneType::Normal).free_pages(), 317);
    assert_eq!(node.zone(ZoneType::Dma).free_pages(), 43 + 111);
    assert_eq!(from_dma, 3961 - 154);
    node.check().unwrap();
}

/// zone_watermark_ok for order > 0 needs a free block of that order.
#[test]
fn watermark_needs_a_large_enough_block() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let (node, _) = m.boot(&mut pages, start, &mut Lines::default());
    // DMA's largest block is order 10: fine. The 128M PC has no order-11.
    assert!(node.zone_watermark_ok(ZoneType::Dma, 10, 43, ZoneType::Dma));
    assert!(!node.zone_watermark_ok(ZoneType::Dma, 0, 3961, ZoneType::Dma));
    assert!(node.zone_watermark_ok(ZoneType::Dma, 0, 3960, ZoneType::Dma));
    assert!(!node.zone_watermark_ok(ZoneType::Dma, 0, 3960, ZoneType::Normal));
}
