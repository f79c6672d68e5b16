//! `memblock_dump_all` text and `memblock=debug` lines.
use super::*;
use mm_types::LineSink;
use std::cell::RefCell;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

#[derive(Default)]
struct Lines(Vec<String>);

impl LineSink for Lines {
    fn line(&mut self, args: core::fmt::Arguments<'_>) {
        self.0.push(format!("{args}"));
    }
}

fn dump(mb: &Memblock<'_>) -> Vec<String> {
    let mut sink = Lines::default();
    mb.dump_all(&mut sink);
    sink.0
}

/// A PC-like map: low memory without a node, high memory on node 0, three reservations.
///
/// ```text
///   |low M|      |          M (node 0)             |
///   |r|                  |r|                    |r|
/// ```
/// Expect: Linux's exact text, tab after the index, ` on node 0` only where a node is set.
#[test]
fn dump_all_exact_text() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.add(0x1000, 0x9e000).unwrap();
    mb.add_node(0x10_0000, 0x7ee_0000, 0, RegionFlags::NONE)
        .unwrap();
    mb.reserve(0x1000, 0x1000).unwrap();
    mb.reserve(0x100_0000, 0xa00_000).unwrap();
    mb.reserve(0x7fd_f000, 0x1000).unwrap();
    mb.mark_nomap(0x7fd_f000, 0x1000).unwrap();
    let want = [
        "MEMBLOCK configuration:",
        " memory size = 0x0000000007f7e000 reserved size = 0x0000000000a02000",
        " memory.cnt  = 0x3",
        " memory[0x0]\t[0x0000000000001000-0x000000000009efff], 0x000000000009e000 bytes flags: 0x0",
        " memory[0x1]\t[0x0000000000100000-0x0000000007fdefff], 0x0000000007edf000 bytes on node 0 flags: 0x0",
        " memory[0x2]\t[0x0000000007fdf000-0x0000000007fdffff], 0x0000000000001000 bytes on node 0 flags: 0x4",
        " reserved.cnt  = 0x3",
        " reserved[0x0]\t[0x0000000000001000-0x0000000000001fff], 0x0000000000001000 bytes flags: 0x0",
        " reserved[0x1]\t[0x0000000001000000-0x00000000019fffff], 0x0000000000a00000 bytes flags: 0x0",
        " reserved[0x2]\t[0x0000000007fdf000-0x0000000007fdffff], 0x0000000000001000 bytes flags: 0x0",
    ];
    assert_eq!(dump(&mb), want);
}

/// An empty memblock prints Linux's dummy entries: cnt 0x1, a zero-size region whose end
/// wraps to 0xffffffffffffffff, on node 0 (static initialiser).
///
/// Expect: the exact dummy lines; after emptying by removal the node suffix disappears
/// (memblock_remove_region sets MAX_NUMNODES).
#[test]
fn dump_empty_prints_dummy() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    assert_eq!(
        dump(&mb),
        [
            "MEMBLOCK configuration:",
            " memory size = 0x0000000000000000 reserved size = 0x0000000000000000",
            " memory.cnt  = 0x1",
            " memory[0x0]\t[0x0000000000000000-0xffffffffffffffff], 0x0000000000000000 bytes on node 0 flags: 0x0",
            " reserved.cnt  = 0x1",
            " reserved[0x0]\t[0x0000000000000000-0xffffffffffffffff], 0x0000000000000000 bytes on node 0 flags: 0x0",
        ]
    );
    mb.add(0x1000, 0x1000).unwrap();
    mb.remove(0, 0x10000).unwrap();
    assert_eq!(
        dump(&mb)[3],
        " memory[0x0]\t[0x0000000000000000-0xffffffffffffffff], 0x0000000000000000 bytes flags: 0x0"
    );
}

/// Indices and counts are printed in hex (`%#x`).
///
/// Expect: the 17th region is `memory[0x10]`, cnt `0x11`.
#[test]
fn dump_hex_indices() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    for i in 0..17 {
        mb.add(i * 0x2000, 0x1000).unwrap();
    }
    let lines = dump(&mb);
    assert_eq!(lines[2], " memory.cnt  = 0x11");
    assert!(lines[19].starts_with(" memory[0x10]\t[0x0000000000020000-0x0000000000020fff]"));
}

std::thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn log(args: core::fmt::Arguments<'_>) {
    LOG.with(|l| l.borrow_mut().push(args.to_string()));
}

/// memblock=debug: one line per call, Linux's format without the caller symbol; a doubling
/// logs its new place, and frees/reserves made internally log too.
///
/// Expect: the exact sequence of lines.
#[test]
fn debug_lines() {
    LOG.with(|l| l.borrow_mut().clear());
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.set_debug(Some(log));
    mb.add(0x1000, 0x1000).unwrap();
    mb.add_node(0x10_0000, 0x10_0000, 1, RegionFlags::HOTPLUG)
        .unwrap();
    mb.reserve(0x1000, 0x800).unwrap();
    mb.free(0x1000, 0x800).unwrap();
    mb.remove(0x1000, 0x1000).unwrap();
    let a = mb.phys_alloc(0x1000, 0x1000).unwrap();
    let b = mb
        .alloc_try_nid(0x1000, 0x1000, 0, crate::ALLOC_ACCESSIBLE, 1)
        .unwrap();
    mb.set_debug(None);
    mb.reserve(0, 1).unwrap();
    assert_eq!((a, b), (0x1f_f000, 0x1f_e000));
    let want = vec![
        "memblock_add: [0x0000000000001000-0x0000000000001fff]",
        "memblock_add_node: [0x0000000000100000-0x00000000001fffff] nid=1 flags=1",
        "memblock_reserve: [0x0000000000001000-0x00000000000017ff]",
        "memblock_phys_free: [0x0000000000001000-0x00000000000017ff]",
        "memblock_remove: [0x0000000000001000-0x0000000000001fff]",
        "memblock_phys_alloc_range: 4096 bytes align=0x1000 from=0x0000000000000000 max_addr=0x0000000000000000",
        "memblock_reserve: [0x00000000001ff000-0x00000000001fffff]",
        "memblock_alloc_try_nid_raw: 4096 bytes align=0x1000 nid=1 from=0x0000000000000000 max_addr=0x0000000000000000",
        "memblock_reserve: [0x00000000001fe000-0x00000000001fefff]",
    ];
    LOG.with(|l| assert_eq!(*l.borrow(), want));
}

/// Doubling is logged like Linux: `memblock: reserved is doubled to 256 at [...]`, followed by
/// the reservation of the new array.
///
/// Expect: those two lines after the 129th reservation.
#[test]
fn debug_doubling_line() {
    LOG.with(|l| l.borrow_mut().clear());
    let mut st = Storage::new();
    let mut pool = vec![Region::EMPTY; 1024];
    let mut mapper = crate::model::PoolMapper::new(&mut pool);
    let mut mb = st.memblock();
    mb.add(0, SZ_16M).unwrap();
    mb.allow_resize(&mut mapper);
    for i in 0..128 {
        mb.reserve(SZ_1M + i * SZ_8K, SZ_4K).unwrap();
    }
    mb.set_debug(Some(log));
    mb.reserve(SZ_8M, SZ_4K).unwrap();
    let want = vec![
        "memblock_reserve: [0x0000000000800000-0x0000000000800fff]",
        "memblock: reserved is doubled to 256 at [0x0000000000ffe000-0x0000000000fff7ff]",
        "memblock_reserve: [0x0000000000ffe000-0x0000000000ffffff]",
    ];
    LOG.with(|l| assert_eq!(*l.borrow(), want));
}

/// The same PC map with a 32-bit `phys_addr_t` (x86-32 without PAE): `%pa` is `0x%08x`.
///
/// Expect: every address, size and total with 8 hex digits; the empty array's dummy entry ends
/// at `0xffffffff` (`0 + 0 - 1` in a 32-bit `phys_addr_t`).
#[test]
fn dump_all_with_32_bit_phys_addr() {
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.set_phys_addr_width(crate::PhysAddrWidth::Bits32);
    assert_eq!(
        dump(&mb)[3],
        " memory[0x0]\t[0x00000000-0xffffffff], 0x00000000 bytes on node 0 flags: 0x0"
    );
    mb.add(0x1000, 0x9e000).unwrap();
    mb.add(0x10_0000, 0x7ee_0000).unwrap();
    mb.reserve(0, 0x10_0000).unwrap();
    let want = [
        "MEMBLOCK configuration:",
        " memory size = 0x07f7e000 reserved size = 0x00100000",
        " memory.cnt  = 0x2",
        " memory[0x0]\t[0x00001000-0x0009efff], 0x0009e000 bytes flags: 0x0",
        " memory[0x1]\t[0x00100000-0x07fdffff], 0x07ee0000 bytes flags: 0x0",
        " reserved.cnt  = 0x1",
        " reserved[0x0]\t[0x00000000-0x000fffff], 0x00100000 bytes flags: 0x0",
    ];
    assert_eq!(dump(&mb), want);
}

/// memblock=debug with a 32-bit `phys_addr_t`: the same lines as `debug_lines` with `%pa` at 8
/// digits; `from=`/`max_addr=` too.
#[test]
fn debug_lines_with_32_bit_phys_addr() {
    LOG.with(|l| l.borrow_mut().clear());
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.set_phys_addr_width(crate::PhysAddrWidth::Bits32);
    mb.set_debug(Some(log));
    mb.add(0x1000, 0x9e000).unwrap();
    mb.reserve(0, 0x1_0000).unwrap();
    let a = mb.alloc_range(0x3000, 0x1000, 0, 0x10_0000, crate::NUMA_NO_NODE, false).unwrap();
    mb.remove(0x4000_0000, u64::MAX - 0x4000_0000).unwrap();
    mb.set_debug(None);
    assert_eq!(a, 0x9c000);
    let want = vec![
        "memblock_add: [0x00001000-0x0009efff]",
        "memblock_reserve: [0x00000000-0x0000ffff]",
        "memblock_reserve: [0x0009c000-0x0009efff]",
        "memblock_remove: [0x40000000-0xfffffffe]",
    ];
    LOG.with(|l| assert_eq!(*l.borrow(), want));
    let mut st = Storage::new();
    let mut mb = st.memblock();
    mb.set_phys_addr_width(crate::PhysAddrWidth::Bits32);
    mb.add(0x10_0000, 0x10_0000).unwrap();
    LOG.with(|l| l.borrow_mut().clear());
    mb.set_debug(Some(log));
    mb.phys_alloc(0x1000, 0x1000).unwrap();
    LOG.with(|l| {
        assert_eq!(
            l.borrow()[0],
            "memblock_phys_alloc_range: 4096 bytes align=0x1000 from=0x00000000 max_addr=0x00000000"
        )
    });
}
