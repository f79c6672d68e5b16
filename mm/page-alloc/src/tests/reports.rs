//! /proc/buddyinfo, /proc/zoneinfo, show_free_areas and the Memory: line.
use super::*;
use crate::KernelSections;

/// /proc/buddyinfo of the 128 MiB PC right after boot (trailing space as in Linux).
#[test]
fn pc128_buddyinfo() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let (node, _) = m.boot(&mut pages, start, &mut Lines::default());
    let mut out = Lines::default();
    node.buddyinfo(&mut out);
    assert_eq!(
        out.0,
        [
            "Node 0, zone      DMA      3      3      2      3      3      1      2      1      0      1      3 ",
            "Node 0, zone   Normal      0      0      0      0      0      1      1      1      1      1     27 ",
        ]
    );
}

/// show_free_areas: pageblock 0 starts in a hole and stays Unmovable, so DMA's small blocks
/// are on the Unmovable lists; everything from pfn 0x400 up is Movable.
#[test]
fn pc128_show_free_areas() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let (node, _) = m.boot(&mut pages, start, &mut Lines::default());
    let mut out = Lines::default();
    node.show_free_areas(&mut out);
    assert_eq!(
        out.0,
        [
            "DMA: 3*4kB (U) 3*8kB (U) 2*16kB (U) 3*32kB (U) 3*64kB (U) 1*128kB (U) 2*256kB (U) 1*512kB (U) 0*1024kB 1*2048kB (U) 3*4096kB (M) = 15844kB",
            "Normal: 0*4kB 0*8kB 0*16kB 0*32kB 0*64kB 1*128kB (M) 1*256kB (M) 1*512kB (M) 1*1024kB (M) 1*2048kB (M) 27*4096kB (M) = 114560kB",
        ]
    );
}

/// zoneinfo for DMA of the 128 MiB PC.
#[test]
fn pc128_zoneinfo() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let (node, _) = m.boot(&mut pages, start, &mut Lines::default());
    let mut out = Lines::default();
    node.zoneinfo(&mut out);
    assert_eq!(
        out.0[..13],
        [
            "Node 0, zone      DMA",
            "  pages free     3961",
            "        boost    0",
            "        min      43",
            "        low      53",
            "        high     63",
            "        spanned  4095",
            "        present  3998",
            "        managed  3961",
            "        cma      0",
            "        protection: (0, 111, 111, 111)",
            "  start_pfn:           1",
            "Node 0, zone   Normal",
        ]
    );
    // HighMem is unpopulated: its block stops after protection.
    let n = out.0.len();
    assert_eq!(out.0[n - 11], "Node 0, zone  HighMem");
    assert_eq!(out.0[n - 1], "        protection: (0, 0, 0, 0)");
}

/// The Memory: line: available = free = managed = 32601 pages = 130404K, total = present =
/// 32638 pages = 130552K, reserved = 37 pages = 148K; x86-32 has HighMem so `, 0K highmem`.
#[test]
fn pc128_memory_line() {
    let m = pc128(ArchConfig::X86_32);
    let (mut pages, start) = m.map_storage();
    let (node, _) = m.boot(&mut pages, start, &mut Lines::default());
    assert_eq!(node.mem_init_totals_kib(), (130_404, 130_552, 148, 0));
    let mut out = Lines::default();
    let s = KernelSections {
        code_bytes: 6154 * 1024,
        rwdata_bytes: 598 * 1024,
        rodata_bytes: 1688 * 1024,
        init_bytes: 588 * 1024 + 100,
        bss_bytes: 336 * 1024,
    };
    node.mem_init_print_info(&s, &mut out);
    assert_eq!(
        out.0,
        ["Memory: 130404K/130552K available (6154K kernel code, 598K rwdata, 1688K rodata, 588K init, 336K bss, 148K reserved, 0K cma-reserved, 0K highmem)"]
    );
}
