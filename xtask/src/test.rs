//! `cargo xtask test`: the host tests of every crate, then boots of every board in QEMU, each
//! checked against what the firmware must print and how it must end.
//!
//! A boot case is data: board, memory, CPUs, command line, the verdict expected and a list of
//! checks on the decoded log. A failing case prints its whole decoded log and QEMU's stderr.
//!
//! Some cases boot through real firmware (GRUB, U-Boot: `firmware.rs`) and some carry the test
//! initrd (`firmware::initrd_bytes`), whose bytes the firmware checks at boot and at the end.
//! Each firmware boot has a direct twin (`TWINS`): same board, memory, CPUs and initrd. Their
//! memory totals are compared: the RAM must be the same, and the available memory may differ
//! only by the pages of the early reservations that differ between the two boots (what the
//! firmware itself keeps, or where it put what it hands over), which the comparison names.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::board::{self, Board, Verdict};
use crate::firmware::{self, Firmware};
use crate::image::{self, BuildOpts, Built};
use crate::qemu::{self, RunOpts};

/// One check on a boot's decoded log.
#[derive(Debug, Clone)]
pub enum Check {
    /// Some line contains this text.
    Has(&'static str),
    /// No line contains this text.
    Lacks(&'static str),
    /// Exactly `n` lines contain this text.
    Count(&'static str, usize),
    /// Some line contains all of these, in this order.
    HasAll(&'static [&'static str]),
    /// Every one of these checks holds.
    All(&'static [Check]),
    /// Lines containing these texts appear in this order (each after the previous one's line).
    InOrder(&'static [&'static str]),
}

/// An initrd whose bytes the firmware checked at boot and again at the end.
const INITRD_OK: Check = Check::All(&[
    Check::HasAll(&["initrd: [mem ", "] 300016 bytes, checksum ok"]),
    Check::HasAll(&["initrd: [mem ", "] unchanged at the end of the boot, checksum ok: its pages stayed reserved"]),
]);

impl Check {
    fn holds(&self, lines: &[String]) -> Result<(), String> {
        let count = |s: &str| lines.iter().filter(|l| l.contains(s)).count();
        match self {
            Self::Has(s) if count(s) == 0 => Err(format!("no line contains {s:?}")),
            Self::Lacks(s) if count(s) > 0 => Err(format!("a line contains {s:?}, which must not appear")),
            Self::Count(s, n) if count(s) != *n => {
                Err(format!("{} line(s) contain {s:?}, expected {n}", count(s)))
            }
            Self::HasAll(parts) => {
                let ok = lines.iter().any(|l| {
                    let mut rest = l.as_str();
                    parts.iter().all(|p| match rest.find(p) {
                        Some(i) => {
                            rest = &rest[i + p.len()..];
                            true
                        }
                        None => false,
                    })
                });
                if ok { Ok(()) } else { Err(format!("no line contains {parts:?} in order")) }
            }
            Self::All(checks) => checks.iter().try_for_each(|c| c.holds(lines)),
            Self::InOrder(parts) => {
                let mut from = 0;
                for p in *parts {
                    match lines[from..].iter().position(|l| l.contains(p)) {
                        Some(i) => from += i + 1,
                        None => return Err(format!("no line contains {p:?} after the lines of {parts:?} before it")),
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// One boot to run and check.
#[derive(Debug, Clone)]
pub struct BootCase {
    pub name: &'static str,
    pub board: &'static str,
    pub mem: &'static str,
    pub smp: u32,
    pub cmdline: &'static str,
    /// Extra QEMU arguments; paths are relative to the repository root.
    pub qemu_args: &'static [&'static str],
    pub expect_success: bool,
    pub checks: Vec<Check>,
    /// Boot through the board's real firmware (GRUB / U-Boot) instead of QEMU's loader.
    pub firmware: bool,
    /// Hand over the test initrd; `Corrupt` flips one payload byte after the header was made.
    pub initrd: Initrd,
    /// The application the image runs (a folder under `apps/`).
    pub app: &'static str,
}

/// Which initrd a boot case hands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initrd {
    None,
    Good,
    Corrupt,
}

/// Payload bytes of the test initrd: not a page multiple, so its last page is partly used.
const TEST_INITRD_PAYLOAD: u32 = 300_000;

/// Firmware boots and their direct twins, whose memory totals are compared.
const TWINS: &[(&str, &str)] = &[
    ("x86-128M", "x86-grub-128M"), ("x86-initrd-smp2", "x86-grub-initrd-smp2"), ("arm-256M", "arm-uboot-256M"), ("arm-initrd-smp2", "arm-uboot-initrd-smp2"),
    ("arm32-256M", "arm32-uboot-256M"),
    ("arm32-initrd-smp2", "arm32-uboot-initrd-smp2"),
];

/// The boots `cargo xtask test` runs.
pub fn cases() -> Vec<BootCase> {
    use Check::*;
    let x86 = "qemu-i386-pc";
    let arm = "qemu-virt-aarch64";
    let rpi = "qemu-raspi3b";
    let zcu = "qemu-xlnx-zcu102";
    let armv7a = "qemu-virt-arm";
    let rpi2 = "qemu-raspi2b";
    let opi = "qemu-orangepi-pc";
    let sabre = "qemu-sabrelite";
    let ok = |name, board, mem, smp, cmdline, checks: Vec<Check>| BootCase {
        name,
        board,
        mem,
        smp,
        cmdline,
        qemu_args: &[],
        expect_success: true,
        firmware: false,
        initrd: Initrd::None,
        app: "selftest",
        // Every successful boot runs the whole path and its self-checks.
        checks: [
            checks,
            vec![
                Lacks("ERROR"),
                Lacks("WARN"),
                Has("MEMBLOCK configuration:"),
                Has("Zone ranges:"),
                HasAll(&["mem_init: ", " pages freed to the buddy allocator; present "]),
                HasAll(&["buddy self-check: drained ", "buddyinfo restored exactly"]),
                HasAll(&["buddy self-test: ", " written, read back and freed"]),
                // Per-CPU areas, pagesets, zonelists, SMP and the concurrent stress test.
                HasAll(&["percpu: Embedded ", " pages/cpu s"]),
                HasAll(&["Built ", " zonelists, mobility grouping o", ".  Total pages: "]),
                HasAll(&["Node 0, zone ", ": pageset batch ", " high "]),
                HasAll(&["smp: Brought up ", " CPU"]),
                Has("every page back, none owned twice, free counts per zone restored"),
                HasAll(&["vmalloc self-test: ", " KiB at ", " written, read back and freed; free pages back to "]),
                Has("slabinfo - version: 2.1"),
                // Cross-CPU calls and, with two CPUs or more, the TLB shoot-down after vfree;
                // kmap_local on every CPU at once.
                Has("cross-CPU self-test: "),
                HasAll(&["kmap_local self-test: ", " nested map/write/read/unmap rounds each"]),
                // What the memory-map picture reads: page tables and the reserved regions at the hand-off.
                HasAll(&["paging_init: page-table pages [mem ", " page(s))"]),
                HasAll(&["memblock_free_all: ", " reserved region(s), ", " KiB, stay reserved"]),
                Has("Vec/BTreeMap growth on each"),
                // The application API through the Kernel handle alone (apps/selftest).
                HasAll(&["API self-test: on_each_cpu on ", " CPU(s) with PerCpu counts, call_on CPU", " refused as not online; kmap and vmalloc on every CPU at once, vfree of their areas; delay_ms(2) took "]),
                HasAll(&["boot: memory management up on ", " CPU(s); all checks passed"]),
            ],
        ]
        .concat(),
    };
    let fails = |name, board, cmdline, checks: Vec<Check>| BootCase {
        name,
        board,
        mem: "128M",
        smp: 1,
        cmdline,
        qemu_args: &[],
        expect_success: false,
        firmware: false,
        initrd: Initrd::None,
        app: "selftest",
        checks,
    };
    // The memory tester, which runs none of the boot's self-checks: at least 90% of the free
    // pages tested on every CPU (the application fails below), the summary, every page back.
    let memtest = |name, board, mem, smp, cmdline, checks: Vec<Check>| BootCase {
        name,
        board,
        mem,
        smp,
        cmdline,
        qemu_args: &[],
        expect_success: true,
        firmware: false,
        initrd: Initrd::None,
        app: "memtest",
        checks: [
            checks,
            vec![
                Lacks("ERROR"),
                Lacks("WARN"),
                HasAll(&["boot: memory management up on ", " after the first instruction (", "no boot self-checks)"]),
                Has("app memtest: started on CPU0"),
                HasAll(&["memtest: ", " free pages (", "reserve: the zones' min watermarks, "]),
                HasAll(&["memtest: took ", "% of the free pages) on "]),
                Has("memtest: pass 1 of 1: 50%"),
                Has("memtest: pass 1 of 1: 100%"),
                HasAll(&["memtest: CPU0: ", " MiB, 0 errors, ", " MB/s"]),
                HasAll(&["memtest: ", " MiB tested on ", " CPUs, 1 passes, 0 errors, ", " MB/s"]),
                Has("memtest: every page given back; free pages per zone as before ("),
                Has("app memtest: done"),
                // A user's image runs none of the boot's self-tests.
                Lacks("buddy self-check"),
                Lacks("buddy self-test"),
                Lacks("kmap self-check"),
                Lacks("stress: "),
                Lacks("all checks passed"),
            ],
        ]
        .concat(),
    };
    vec![
        // The memory tester on each board: HighMem through every CPU's kmap_atomic slots on
        // x86, two NUMA nodes on virt, the Raspberry Pi's 4 CPUs.
        // QEMU's i386 TCG writes and reads 35-120 MB/s per CPU on this busy host (the 4-byte
        // words of x86-32 at TCG's per-access cost): 1 GiB, the least with HighMem, takes 20 s
        // to two minutes; the progress lines keep the run from counting as hung.
        memtest("memtest-x86-1G-smp2", x86, "1G", 2, "", vec![
            Has("  HighMem  [mem 0x00000000377fe000-0x000000003ffdffff]"),
            HasAll(&["memtest: CPU1: ", " MiB, 0 errors, "]),
            HasAll(&[" MiB tested on 2 CPUs, 1 passes, 0 errors, "]),
            Has(" in 3 zone(s); reserve: "),
        ]),
        BootCase {
            qemu_args: &[
                "-object", "memory-backend-ram,id=m0,size=256M", "-object", "memory-backend-ram,id=m1,size=256M",
                "-numa", "node,nodeid=0,cpus=0-1,memdev=m0", "-numa", "node,nodeid=1,cpus=2-3,memdev=m1",
            ],
            ..memtest("memtest-arm-numa2-smp4", arm, "512M", 4, "", vec![
                Has("smp: Brought up 2 nodes, 4 CPUs"),
                HasAll(&[" MiB tested on 4 CPUs, 1 passes, 0 errors, "]),
                HasAll(&["memtest: CPU3: ", " MiB, 0 errors, "]),
                Has(" in 2 zone(s); reserve: "),
            ])
        },
        memtest("memtest-rpi3b-smp4", rpi, "1G", 4, "", vec![HasAll(&[" MiB tested on 4 CPUs, 1 passes, 0 errors, "])]),
        // memtest.corrupt: one word flipped between the write and the verify of the first
        // pattern: exactly that address is reported and the run fails.
        BootCase {
            expect_success: false,
            checks: vec![
                Has("memtest: memtest.corrupt: CPU"),
                HasAll(&["memtest: bad word at phys 0x6000000: expected 0x1, found 0xfffffffe (walking ones, pass 1, CPU"]),
                Count("memtest: bad word at phys ", 1),
                HasAll(&["memtest: ", " MiB tested on 2 CPUs, 1 passes, 1 errors, "]),
                Has("memtest: every page given back; free pages per zone as before ("),
                Has("app memtest: failed: memtest: bad words found"),
            ],
            ..memtest("memtest-x86-corrupt", x86, "128M", 2, "memtest.corrupt=0x6000000", vec![])
        },
        BootCase {
            expect_success: false,
            checks: vec![
                HasAll(&["memtest: bad word at phys 0x44000008: expected 0x2, found 0xfffffffffffffffd (walking ones, pass 1, CPU"]),
                Count("memtest: bad word at phys ", 1),
                Has("app memtest: failed: memtest: bad words found"),
            ],
            ..memtest("memtest-arm-corrupt", arm, "256M", 2, "memtest.corrupt=0x44000008", vec![])
        },
        // 32-bit ARM: HighMem pages through every CPU's kmap_local slots, and a word flipped in
        // HighMem found there, once, with every other word of the 1 GiB passing.
        BootCase {
            expect_success: false,
            checks: vec![
                Has("  HighMem  [mem 0x0000000070000000-0x000000007fffffff]"),
                HasAll(&["memtest: took ", "% of the free pages) on 2 CPU(s)"]),
                Has("memtest: pass 1 of 1: 100%"),
                HasAll(&["memtest: bad word at phys 0x7c000000: expected 0x1, found 0xfffffffe (walking ones, pass 1, CPU"]),
                Count("memtest: bad word at phys ", 1),
                HasAll(&["memtest: ", " MiB tested on 2 CPUs, 1 passes, 1 errors, "]),
                Has("memtest: every page given back; free pages per zone as before ("),
                Has("app memtest: failed: memtest: bad words found"),
                Lacks("stress: "),
            ],
            ..memtest("memtest-arm32-highmem-corrupt", armv7a, "1G", 2, "memtest.corrupt=0x7c000000", vec![])
        },
        // Bad options are named; an address nobody tests is an error, not a silent pass.
        BootCase {
            expect_success: false,
            checks: vec![
                Has("command line: memtest.corrupt=0x48000004: not aligned to a word (8 bytes)"),
                Has("app memtest: failed: bad memtest option on the command line"),
            ],
            ..memtest("memtest-arm-bad-option", arm, "256M", 1, "memtest.corrupt=0x48000004", vec![])
        },
        BootCase {
            expect_success: false,
            checks: vec![
                Has("memtest.corrupt=0x40200000: that word is not in the memory under test (not free RAM, or kept in the reserve)"),
                Has("app memtest: failed: memtest: the word to corrupt was not tested"),
            ],
            ..memtest("memtest-arm-corrupt-kernel", arm, "256M", 1, "memtest.corrupt=0x40200000", vec![])
        },
        // The README's example (apps/hello) as written.
        BootCase {
            app: "hello",
            checks: vec![
                Lacks("ERROR"),
                Has("hello: CPU1 on node 0"),
                HasAll(&["hello: 2 CPU(s), board qemu-virt-aarch64, sum of squares 385, ", " MiB free, "]),
                Has("app hello: done"),
                Lacks("buddy self-check"),
            ],
            ..memtest("hello-arm-smp2", arm, "256M", 2, "", vec![])
        },
        ok("x86-128M", x86, "128M", 1, "", vec![
            // The six entries SeaBIOS hands over, then Linux's x86-32 low-memory policy.
            Count("BIOS-e820: [mem ", 6),
            Has("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"),
            Has("BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved"),
            Has("BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved"),
            Has("BIOS-e820: [mem 0x0000000000100000-0x0000000007fdffff] usable"),
            Has("BIOS-e820: [mem 0x0000000007fe0000-0x0000000007ffffff] reserved"),
            Has("BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved"),
            Has("e820: update [mem 0x00000000-0x00000fff] usable ==> reserved"),
            Has("e820: remove [mem 0x000a0000-0x000fffff] usable"),
            // e820__end_of_ram_pfn: RAM ends at 0x7fe0000; MAX_ARCH_PFN without PAE is 4 GiB.
            Has("last_pfn = 0x7fe0 max_arch_pfn = 0x100000"),
            Lacks("user-defined physical RAM map:"),
            // Linux 6.1 i386 reports 130552K for this machine; %pa of a 32-bit phys_addr_t.
            Has(" memory size = 0x07f7e000 reserved size = "),
            Has(" memory[0x0]\t[0x00001000-0x0009efff], 0x0009e000 bytes flags: 0x0"),
            Has(" memory[0x1]\t[0x00100000-0x07fdffff], 0x07ee0000 bytes flags: 0x0"),
            HasAll(&["early reserve: [mem 0x0000000000100000-", "] kernel image"]),
            HasAll(&["early reserve: [mem ", "] Multiboot information"]),
            HasAll(&["early reserve: [mem ", "] Multiboot memory map"]),
            Has("early reserve: [mem 0x000000000009f000-0x00000000000fffff] BIOS: EBDA, VGA and ROM area below 1 MiB"),
            // Linux early_reserve_memory reserves [0, 64K); reserve_real_mode takes the
            // trampoline top-down below 1 MiB, then reserves all of [0, 1M): no page below
            // 1 MiB reaches the buddy allocator. Here the first MiB and the image merge.
            Has("early reserve: [mem 0x0000000000000000-0x000000000000ffff] first 64 KiB"),
            Has("early reserve: [mem 0x000000000009c000-0x000000000009efff] real-mode trampoline for SMP bring-up"),
            Has("early reserve: [mem 0x0000000000000000-0x00000000000fffff] first 1 MiB"),
            Has(" reserved.cnt  = 0x1"),
            HasAll(&[" reserved[0x0]\t[0x00000000-0x", "], 0x", " bytes flags: 0x0"]),
            Has("memblock_free_all: reserved [mem 0x0000000000000000-0x"),
            Has("memblock: 130552 KiB RAM in 2 region(s)"),
            // initmem_init prints the HighMem size even when it is 0.
            Has("0MB HIGHMEM available."),
            Has("127MB LOWMEM available."),
            // paging_init: the 3G/1G split, Linux's layout report.
            Has("virtual kernel memory layout:"),
            Has("    lowmem  : 0xc0000000 - 0xc7fe0000   ( 127 MB)"),
            Has("    pkmap   : 0xff800000 - 0xffc00000   (4096 kB)"),
            // Zones and the hand-off; B of Memory: A/B is Linux 6.1's figure for this machine.
            Has("  DMA      [mem 0x0000000000001000-0x0000000000ffffff]"),
            Has("  Normal   [mem 0x0000000001000000-0x0000000007fdffff]"),
            Has("  HighMem  empty"),
            Has("On node 0, zone DMA: 1 pages in unavailable ranges"),
            Has("On node 0, zone DMA: 97 pages in unavailable ranges"),
            HasAll(&["Memory: ", "K/130552K available (", "K highmem)"]),
            // nr_free_zone_pages before memblock_free_all: present minus calc_memmap_size with
            // Debian i386's 40-byte struct page (DMA 3998 - 40, Normal 28640 - 280).
            Has("Built 1 zonelists, mobility grouping on.  Total pages: 32318"),
            Has("present 32638 = managed "),
            // Debian's 686 kernel has no CONFIG_NUMA: no fallback order, policy zone or NUMA lines.
            Lacks("Fallback order for Node"),
            Lacks("Policy zone"),
            Lacks("NUMA:"),
            // smp_announce: singular for one CPU.
            Has("smp: Brought up 1 node, 1 CPU"),
            Lacks("smp: Brought up 1 node, 1 CPUs"),
            // The application API's boot facts: memblock as the boot printed it above.
            // (QEMU's Multiboot loader may put the image path first on the command line.)
            HasAll(&["API self-test: board qemu-i386-pc, command line \"", "\"; memblock at the hand-off: 2 memory region(s), 130552 KiB; "]),
        ]),
        // Debian's i386 kernel has no CONFIG_CMA: cma= is an unknown parameter, nothing reserved.
        ok("x86-16M", x86, "16M", 1, "cma=4M", vec![
            Has("  HighMem  empty"),
            Has(", 0K cma-reserved, 0K highmem)"),
            Lacks("cma: "),
            Lacks("cma self-test"),
            // Linux turns mobility grouping off below pageblock_nr_pages * MIGRATE_TYPES pages.
            HasAll(&["Built 1 zonelists, mobility grouping off.  Total pages: "]),
            HasAll(&["Memory: ", "K/15864K available ("]),
        ]),
        ok("x86-1G", x86, "1G", 1, "", vec![
            Has("  HighMem  [mem 0x00000000377fe000-0x000000003ffdffff]"),
            HasAll(&["Memory: ", "K/1048056K available ("]),
            HasAll(&["HighMem kmap self-check: ", ": passed"]),
            Has("(HighMem included)"),
            Has("Node 0, zone  HighMem "),
        ]),
        ok("x86-3G-smp4", x86, "3G", 4, "", vec![
            Has("smpboot: Allowing 4 CPUs, 0 hotplug CPUs"),
            HasAll(&["early reserve: [mem ", "] real-mode trampoline for SMP bring-up"]),
            Has("early reserve: [mem 0x0000000000000000-0x00000000000fffff] first 1 MiB"),
            Has("CPU1: up"),
            Has("CPU2: up"),
            Has("CPU3: up"),
            Has("smp: Brought up 1 node, 4 CPUs"),
            Has("Node 0, zone  HighMem: pageset batch "),
            HasAll(&["stress: CPU0 done, ", "all 4 CPU(s): 16000 operations"]),
            // The TLB shoot-down IPIs: CPU 1 sees the new page behind a reused vmalloc address.
            Has("cross-CPU self-test: on_each_cpu ran on all 4 CPUs; after vfree and a new mapping at "),
            // Every CPU through its own kmap_atomic fixmap slots, HighMem pages, at once.
            Has("kmap_local self-test: 4 CPU(s) at once"),
        ]),
        // NR_CPUS (8): every CPU's pageset and array caches under the stress test at once.
        ok("x86-256M-smp8", x86, "256M", 8, "", vec![
            Has("smp: Brought up 1 node, 8 CPUs"),
            HasAll(&["stress: CPU0 done, ", "all 8 CPU(s): ", "every page back, none owned twice, free counts per zone restored"]),
        ]),
        ok("x86-512M-smp4", x86, "512M", 4, "", vec![
            Has("smp: Brought up 1 node, 4 CPUs"),
            Has("BIOS-e820: [mem 0x0000000000100000-0x000000001ffdffff] usable"),
            Has(" memory[0x1]\t[0x00100000-0x1ffdffff], 0x1fee0000 bytes flags: 0x0"),
        ]),
        ok("x86-3G", x86, "3G", 1, "", vec![
            Has("BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable"),
            Has(" memory[0x1]\t[0x00100000-0xbffdffff], 0xbfee0000 bytes flags: 0x0"),
            Has("last_pfn = 0xbffe0 max_arch_pfn = 0x100000"),
            Has("2183MB HIGHMEM available."),
            Has("887MB LOWMEM available."),
            Has("    lowmem  : 0xc0000000 - 0xf77fe000   ( 887 MB)"),
            Has("  HighMem  [mem 0x00000000377fe000-0x00000000bffdffff]"),
            HasAll(&["Memory: ", "K/3145208K available ("]),
            // DMA 3998 - 40, Normal 223230 - 2180, HighMem 559074 (no memmap charge).
            Has("Built 1 zonelists, mobility grouping on.  Total pages: 784082"),
            HasAll(&["HighMem kmap self-check: ", ": passed"]),
            Has("vmalloc self-test: 16384 KiB at 0xf7ffe000 from 4096 pages (4096 HighMem) written, read back and freed"),
            Has("(HighMem included)"),
        ]),
        ok("x86-mem64M", x86, "128M", 1, "mem=64M", vec![
            HasAll(&["API self-test: board qemu-i386-pc, command line \"", "mem=64M\"; memblock at the hand-off: "]),
            // x86 mem= is an address limit on the e820 table (parse_memopt), printed as Linux
            // does: the removal (%#010Lx of 64M and of ULLONG_MAX - 1), then
            // e820__finish_early_params' user map, then the usual trim and last_pfn.
            Has("e820: remove [mem 0x04000000-0xfffffffffffffffe] usable"),
            Has("user-defined physical RAM map:"),
            Count("user: [mem ", 6),
            Has("user: [mem 0x0000000000100000-0x0000000003ffffff] usable"),
            Has("user: [mem 0x0000000007fe0000-0x0000000007ffffff] reserved"),
            Has("last_pfn = 0x4000 max_arch_pfn = 0x100000"),
            Has(" memory size = 0x03f9e000 "),
            Has(" memory[0x1]\t[0x00100000-0x03ffffff], 0x03f00000 bytes flags: 0x0"),
            Lacks("memblock_remove"),
        ]),
        ok("x86-memblock-debug", x86, "128M", 1, "memblock=debug", vec![
            // %pa of a 32-bit phys_addr_t: 8 hex digits.
            Has("memblock_add: [0x00001000-0x0009fbff]"),
            Has("memblock_reserve: [0x00000000-0x0000ffff]"),
            Has("memblock_reserve: [0x0009c000-0x0009efff]"),
            Has("memblock_reserve: [0x00000000-0x000fffff]"),
            Lacks("memblock_add: [0x0000000000"),
        ]),
        fails("x86-null-fault", x86, "selftest=null", vec![
            Has("selftest: reading address 0, which must fault"),
            HasAll(&["exception 14 (#PF page fault)", "error code 0x0, address 0x00000000"]),
            Lacks("instead of faulting"),
        ]),
        fails("x86-write-text-fault", x86, "selftest=write-text", vec![
            // Error code 0x3: a write to a present page; CR0.WP makes ring 0 honour read-only.
            HasAll(&["exception 14 (#PF page fault)", "error code 0x3, address 0xc01"]),
            Lacks("kernel text is writable"),
        ]),
        fails("x86-stack-overflow", x86, "selftest=stack-overflow", vec![
            // The recursion hits the boot stack's unmapped guard page; the page fault cannot be
            // pushed there, so it becomes #DF, which a task gate hands to the double-fault task
            // on its own stack (CPU 0: TSS 0x60 interrupted, #DF TSS 0x68). Without it: a
            // triple fault, which the verdict check reports as a CPU reset.
            Has("selftest: unbounded recursion on the boot stack, which must fault at the guard page"),
            HasAll(&["exception 8 (#DF double fault) at eip 0xc0", ": error code 0x0, address 0xc0", " (CR2); handled by the double-fault task (TSS 0x68), back-link 0x60 to the interrupted task"]),
            HasAll(&["eax 0x", " esp 0xc0", " eflags 0x"]),
            HasAll(&["BUG: stack guard page was hit at 0xc0", " (boot stack is 0xc0", ", esp 0xc0", "): kernel stack overflow"]),
            Lacks("without faulting"),
            Lacks("is in no stack guard page"),
        ]),
        fails("arm-oom", arm, "selftest=oom", vec![
            // GlobalAlloc returns null; alloc's error handler panics naming the size.
            HasAll(&["panicked at ", "memory allocation of 1073741824 bytes failed"]),
        ]),
        BootCase {
            smp: 2,
            ..fails("x86-stack-overflow-cpu1", x86, "selftest=stack-overflow-cpu1", vec![
                Has("exception 8 (#DF double fault)"),
                HasAll(&["BUG: stack guard page was hit at ", "(a vmalloc'd CPU stack, esp "]),
                Lacks("without faulting"),
            ])
        },
        ok("x86-bench-smp4", x86, "128M", 4, "selftest=bench", vec![
            HasAll(&["bench: order-0 page alloc+free (per-CPU lists), 4 CPU(s): ", " ns/pair per CPU (min "]),
            HasAll(&["bench: done; every page back ("]),
        ]),
        fails("x86-slab-redzone", x86, "selftest=slab-redzone", vec![
            HasAll(&["kfree: kmalloc-32: object 0x", ": right redzone overwritten at offset 32"]),
            Lacks("the red-zone overwrite went unnoticed"),
        ]),
        BootCase {
            // 2100 bytes of command line and then mem=64M: Linux keeps COMMAND_LINE_SIZE - 1
            // bytes, so the limit is not seen; the firmware says so instead of cutting silently.
            cmdline: Box::leak(format!("{} mem=64M", "x".repeat(2100)).into_boxed_str()),
            checks: vec![
                // QEMU's Multiboot loader puts the image path first, so the length varies.
                HasAll(&["the boot loader's command line has ", " bytes, more than COMMAND_LINE_SIZE (2048) allows: only the first 2047 are used"]),
                Has("memblock: 130552 KiB RAM in 2 region(s)"),
                HasAll(&["boot: memory management up on ", " CPU(s); all checks passed"]),
            ],
            ..ok("x86-long-cmdline", x86, "128M", 1, "", vec![])
        },
        fails("x86-bad-cmdline", x86, "mem=lots", vec![Has("mem=lots: not a size"), Has("boot failed: bad boot command line")]),
        // An unknown selftest= mode is refused, not ignored; x86's own mode is in the list.
        fails("x86-unknown-selftest", x86, "selftest=bogus", vec![
            Has("command line: selftest=bogus: no such self-test; known: panic, null, write-text, stack-overflow, oom, slab-redzone, bench, stack-overflow-cpu1, smp"),
            Has("boot failed: bad boot command line"),
        ]),
        fails("x86-forced-panic", x86, "selftest=panic", vec![HasAll(&["panicked at ", ".rs:", "selftest=panic"])]),
        ok("arm-256M", arm, "256M", 1, "", vec![
            Has("OF: fdt: memory bank [mem 0x0000000040000000-0x000000004fffffff] node 0"),
            Has(" memory[0x0]\t[0x0000000040000000-0x000000004fffffff], 0x0000000010000000 bytes on node 0 flags: 0x0"),
            HasAll(&["early reserve: [mem 0x0000000040200000-", "] kernel image"]),
            HasAll(&["OF: fdt: reserved [mem ", "] device tree blob"]),
            Has("console: PL011 at 0x9000000 (/pl011@9000000, from /chosen/stdout-path)"),
            Has("console: taken over as the boot loader left it (no current-speed in the tree)"),
            // paging_init, zones, mem_map, the hand-off and the buddy self-test.
            Has("mem_map: node 0: 65536 pages x 12 bytes + usemap 128 x 12 bytes = 769 KiB at "),
            Has("  DMA      [mem 0x0000000040000000-0x000000004fffffff]"),
            Has("  DMA32    empty"),
            Has("  Normal   empty"),
            Has("Initmem setup node 0 [mem 0x0000000040000000-0x000000004fffffff]"),
            HasAll(&["Memory: ", "K/262144K available ("]),
            // Debian arm64: CONFIG_CMA_SIZE_MBYTES=64, top-down below arm64_dma_phys_limit (the end
            // of RAM here), 2 MiB aligned, under the page-table pages at the top.
            Has("cma: Reserved 64 MiB at 0x000000004be00000"),
            Has(", 65536K cma-reserved)"),
            Has("cma: 1 area(s), 16384 pages now MIGRATE_CMA pageblocks; present 65536 = managed "),
            Has("buddy self-check: the 16384 free pages of CMA pageblocks were left alone (cma_alloc only)"),
            HasAll(&["cma self-test: reserved: cma_alloc of all 16384 pages (64 MiB) at pfn 0x4be00 written, read back and released", "free CMA pages back to 16384"]),
            HasAll(&["mem_init: ", " pages freed to the buddy allocator; present 65536 = managed "]),
            HasAll(&["Node 0, zone      DMA "]),
            HasAll(&["buddy self-test: a double free of pfn ", " was refused"]),
            HasAll(&["buddy self-test: 64 blocks of orders 0-4 written, read back and freed"]),
            // No numa-node-id: arm64's dummy_numa_init fakes node 0 over all of DRAM, whose
            // data memblock puts at the top of RAM (below 0x50000000).
            Has("NUMA: No NUMA configuration found"),
            Has("NUMA: Faking a node at [mem 0x0000000040000000-0x000000004fffffff]"),
            HasAll(&["NUMA: NODE_DATA [mem 0x4", "-0x4"]),
            Count("NUMA: NODE_DATA [mem ", 1),
            Has("Fallback order for Node 0: 0"),
            Has("Policy zone: DMA"),
            Has("smp: Brought up 1 node, 1 CPU"),
            Lacks("smp: Brought up 1 node, 1 CPUs"),
            Has("memblock_free_all: 5 reserved region(s), "),
            Has("API self-test: board qemu-virt-aarch64, command line \"\"; memblock at the hand-off: 1 memory region(s), 262144 KiB; 5 reserved region(s), "),
        ]),
        ok("arm-128M", arm, "128M", 1, "", vec![
            Has("  DMA      [mem 0x0000000040000000-0x0000000047ffffff]"),
            HasAll(&["Memory: ", "K/131072K available ("]),
        ]),
        ok("arm-4G", arm, "4G", 1, "", vec![
            Has("  DMA      [mem 0x0000000040000000-0x00000000ffffffff]"),
            Has("  Normal   [mem 0x0000000100000000-0x000000013fffffff]"),
            HasAll(&["Memory: ", "K/4194304K available ("]),
            Has("Node 0, zone   Normal "),
            // check_highest_zone: Normal is populated, so it is the policy zone.
            Has("Policy zone: Normal"),
        ]),
        ok("arm-5G-smp2", arm, "5G", 2, "", vec![
            // Linux 6.1 arm64: ZONE_DMA below 4 GiB, ZONE_NORMAL above.
            Has("  DMA      [mem 0x0000000040000000-0x00000000ffffffff]"),
            Has("  Normal   [mem 0x0000000100000000-0x000000017fffffff]"),
            HasAll(&["Memory: ", "K/5242880K available ("]),
            HasAll(&["present 1310720 = managed "]),
            Has("Node 0, zone   Normal "),
        ]),
        BootCase {
            qemu_args: &[
                "-object", "memory-backend-ram,id=m0,size=1G", "-object", "memory-backend-ram,id=m1,size=1G",
                "-numa", "node,nodeid=0,cpus=0-1,memdev=m0", "-numa", "node,nodeid=1,cpus=2-3,memdev=m1",
            ],
            ..ok("arm-numa2-smp4", arm, "2G", 4, "", vec![
                Has("OF: fdt: memory bank [mem 0x0000000080000000-0x00000000bfffffff] node 1"),
                HasAll(&["mem_map: node 1: 262144 pages x 12 bytes"]),
                Has("Initmem setup node 1 [mem 0x0000000080000000-0x00000000bfffffff]"),
                Has("Fallback order for Node 0: 0 1"),
                Has("Fallback order for Node 1: 1 0"),
                Has("Built 2 zonelists, mobility grouping on.  Total pages: "),
                Has("Node 1, zone      DMA: pageset batch "),
                Has("CPU2: up (hw id 0x2, node 1, "),
                Has("smp: Brought up 2 nodes, 4 CPUs"),
                Count("NUMA: NODE_DATA [mem ", 2),
                Lacks("NODE_DATA(1) on node"),
                Lacks("No NUMA configuration found"),
                Has("Policy zone: DMA"),
            ])
        },
        // Eight CPUs over two nodes: remote frees across nodes under the stress test.
        BootCase {
            qemu_args: &[
                "-object", "memory-backend-ram,id=m0,size=512M", "-object", "memory-backend-ram,id=m1,size=512M",
                "-numa", "node,nodeid=0,cpus=0-3,memdev=m0", "-numa", "node,nodeid=1,cpus=4-7,memdev=m1",
            ],
            ..ok("arm-numa2-smp8", arm, "1G", 8, "", vec![
                Has("CPU7: up (hw id 0x7, node 1, "),
                Has("smp: Brought up 2 nodes, 8 CPUs"),
                HasAll(&["stress: CPU0 done, ", "all 8 CPU(s): ", "every page back, none owned twice, free counts per zone restored"]),
            ])
        },
        BootCase {
            // Node 1 has CPUs and no memory: Linux 6.1 keeps it online (its NODE_DATA on node
            // 0), gives it a zonelist falling back to node 0, and its CPUs allocate there.
            qemu_args: &[
                "-object", "memory-backend-ram,id=m0,size=1G",
                "-numa", "node,nodeid=0,cpus=0-1,memdev=m0", "-numa", "node,nodeid=1,cpus=2-3",
            ],
            ..ok("arm-numa-memoryless-smp4", arm, "1G", 4, "", vec![
                Has("NUMA: Initmem setup node 1 [<memory-less node>]"),
                Count("NUMA: NODE_DATA [mem ", 2),
                Has("NUMA: NODE_DATA(1) on node 0"),
                Has("Initmem setup node 0 [mem 0x0000000040000000-0x000000007fffffff]"),
                Has("Initmem setup node 1 as memoryless"),
                Has("Fallback order for Node 0: 0"),
                Lacks("Fallback order for Node 0: 0 1"),
                Has("Fallback order for Node 1: 1 0"),
                Has("Built 2 zonelists, mobility grouping on.  Total pages: "),
                Has("CPU2: up (hw id 0x2, node 1, "),
                Has("smp: Brought up 2 nodes, 4 CPUs"),
            ])
        },
        BootCase {
            // Five nodes (more than the old limit of 4); nodes 2-4 headless. At boot no node's
            // cpumask is filled yet (numa_add_cpu runs in smp_prepare_cpus, after
            // build_all_zonelists), so find_next_best_node's (distance + (n < local)) * 16 +
            // load rotates: node 0 takes 1 (load[1] = 1), 2, 3, 4; node 1: 2 (336) before 3,
            // 4 (336) and 0 (352).
            qemu_args: &[
                "-object", "memory-backend-ram,id=m0,size=256M", "-object", "memory-backend-ram,id=m1,size=256M",
                "-object", "memory-backend-ram,id=m2,size=256M", "-object", "memory-backend-ram,id=m3,size=256M",
                "-object", "memory-backend-ram,id=m4,size=256M",
                "-numa", "node,nodeid=0,cpus=0,memdev=m0", "-numa", "node,nodeid=1,cpus=1,memdev=m1",
                "-numa", "node,nodeid=2,memdev=m2", "-numa", "node,nodeid=3,memdev=m3", "-numa", "node,nodeid=4,memdev=m4",
            ],
            ..ok("arm-numa5-smp2", arm, "1280M", 2, "", vec![
                Has("Initmem setup node 4 [mem 0x0000000080000000-0x000000008fffffff]"),
                Count("NUMA: NODE_DATA [mem ", 5),
                Has("Fallback order for Node 0: 0 1 2 3 4"),
                Has("Fallback order for Node 1: 1 2 3 4 0"),
                Has("Built 5 zonelists, mobility grouping on.  Total pages: "),
                Has("smp: Brought up 5 nodes, 2 CPUs"),
            ])
        },
        BootCase {
            qemu_args: &[
                "-object", "memory-backend-ram,id=m0,size=512M", "-object", "memory-backend-ram,id=m1,size=1536M",
                "-numa", "node,nodeid=0,cpus=0,memdev=m0", "-numa", "node,nodeid=1,cpus=1-3,memdev=m1",
                "-numa", "dist,src=0,dst=1,val=30",
            ],
            ..ok("arm-numa2-dist-smp4", arm, "2G", 4, "", vec![
                Has("Initmem setup node 1 [mem 0x0000000060000000-0x00000000bfffffff]"),
                Has("OF: NUMA: parsing numa-distance-map-v1"),
                Has("Fallback order for Node 1: 1 0"),
                Has("smp: Brought up 2 nodes, 4 CPUs"),
                Has("CPU1: up (hw id 0x1, node 1, "),
            ])
        },
        BootCase {
            // 17 nodes of 64M: node 16 is past arm64's MAX_NUMNODES. QEMU lists memory nodes by
            // descending address, so of_numa meets node 16 first: it says so, NUMA init fails
            // and Linux fakes one node over all of DRAM (1088M from 0x40000000). The boot goes on.
            qemu_args: &[
                "-object", "memory-backend-ram,id=m0,size=64M", "-object", "memory-backend-ram,id=m1,size=64M", "-object", "memory-backend-ram,id=m2,size=64M",
                "-object", "memory-backend-ram,id=m3,size=64M", "-object", "memory-backend-ram,id=m4,size=64M", "-object", "memory-backend-ram,id=m5,size=64M",
                "-object", "memory-backend-ram,id=m6,size=64M", "-object", "memory-backend-ram,id=m7,size=64M", "-object", "memory-backend-ram,id=m8,size=64M",
                "-object", "memory-backend-ram,id=m9,size=64M", "-object", "memory-backend-ram,id=m10,size=64M", "-object", "memory-backend-ram,id=m11,size=64M",
                "-object", "memory-backend-ram,id=m12,size=64M", "-object", "memory-backend-ram,id=m13,size=64M", "-object", "memory-backend-ram,id=m14,size=64M",
                "-object", "memory-backend-ram,id=m15,size=64M", "-object", "memory-backend-ram,id=m16,size=64M", "-numa", "node,nodeid=0,cpus=0,memdev=m0",
                "-numa", "node,nodeid=1,memdev=m1", "-numa", "node,nodeid=2,memdev=m2", "-numa", "node,nodeid=3,memdev=m3",
                "-numa", "node,nodeid=4,memdev=m4", "-numa", "node,nodeid=5,memdev=m5", "-numa", "node,nodeid=6,memdev=m6",
                "-numa", "node,nodeid=7,memdev=m7", "-numa", "node,nodeid=8,memdev=m8", "-numa", "node,nodeid=9,memdev=m9",
                "-numa", "node,nodeid=10,memdev=m10", "-numa", "node,nodeid=11,memdev=m11", "-numa", "node,nodeid=12,memdev=m12",
                "-numa", "node,nodeid=13,memdev=m13", "-numa", "node,nodeid=14,memdev=m14", "-numa", "node,nodeid=15,memdev=m15",
                "-numa", "node,nodeid=16,memdev=m16",
            ],
            ..ok("arm-numa17-too-many", arm, "1088M", 1, "", vec![
                Has("OF: NUMA: Node id 16 exceeds maximum value"),
                Has("OF: NUMA: bad property in memory node"),
                Lacks("No NUMA configuration found"),
                Has("NUMA: Faking a node at [mem 0x0000000040000000-0x0000000083ffffff]"),
                Count("NUMA: NODE_DATA [mem ", 1),
                Has("Built 1 zonelists, mobility grouping on.  Total pages: "),
                Has("smp: Brought up 1 node, 1 CPU"),
            ])
        },
        // cma=SIZE@BASE: the default area fixed there instead of the configured 64 MiB.
        ok("arm-1G-smp4", arm, "1G", 4, "cma=32M@0x60000000", vec![
            Has("cma: Reserved 32 MiB at 0x0000000060000000"),
            Has(", 32768K cma-reserved)"),
            HasAll(&["cma self-test: reserved: cma_alloc of all 8192 pages (32 MiB) at pfn 0x60000 written, read back and released"]),
            Has("CPU1: up"),
            Has("CPU3: up"),
            Has("smp: Brought up 1 node, 4 CPUs"),
            HasAll(&["stress: CPU0 done, ", "all 4 CPU(s): 16000 operations"]),
            Has("OF: fdt: memory bank [mem 0x0000000040000000-0x000000007fffffff] node 0"),
        ]),
        // mem=0 keeps all RAM on both platforms, as in Linux (arm64 prints its line first,
        // x86 ignores the parameter).
        ok("arm-mem0", arm, "256M", 1, "mem=0", vec![Has("Memory limited to 0MB"), HasAll(&["Memory: ", "K/262144K available ("])]),
        ok("x86-mem0", x86, "128M", 1, "mem=0", vec![Has("Malformed early option 'mem'"), Lacks("user-defined physical RAM map"), HasAll(&["Memory: ", "K/130552K available ("])]),
        ok("arm-mem64M", arm, "256M", 1, "mem=64M", vec![
            // Linux too: 64 MiB of CMA do not fit in 64 MiB of RAM with a kernel in it.
            Has("cma: Failed to reserve 64 MiB"),
            Has(", 0K cma-reserved)"),
            Lacks("cma self-test"),
            // arm64 mem= keeps the first 64 MiB of RAM (memblock_mem_limit_remove_map).
            Has(" memory size = 0x0000000004000000 "),
            Has(" memory[0x0]\t[0x0000000040000000-0x0000000043ffffff], 0x0000000004000000 bytes on node 0 flags: 0x0"),
            // dummy_numa_init runs after mem=: the fake node is the limited DRAM.
            Has("NUMA: Faking a node at [mem 0x0000000040000000-0x0000000043ffffff]"),
        ]),
        BootCase {
            qemu_args: &["-machine", "virtualization=on"],
            ..ok("arm-el2-smp4", arm, "256M", 4, "", vec![Has("entered at EL2"), Has("smp: Brought up 1 node, 4 CPUs")])
        },
        BootCase {
            qemu_args: &["-dtb", "boards/qemu-virt-aarch64/testdata/virt-reserved.dtb"],
            ..ok("arm-dtb-reserved", arm, "256M", 1, "", vec![
                Has("OF: fdt: reserved [mem 0x000000004f000000-0x000000004f00ffff] /memreserve/"),
                Has("OF: reserved mem: [mem 0x000000004e000000-0x000000004e0fffff] (1024 KiB) nomap non-reusable firmware@4e000000"),
                Has("OF: reserved mem: [mem 0x000000004d000000-0x000000004d1fffff] (2048 KiB) map non-reusable mailbox@4d000000"),
                Has("OF: reserved mem: [mem 0x0000000047c00000-0x0000000047ffffff] (4096 KiB) map reusable dma-pool"),
                // The reusable shared-dma-pool is a CMA area; not being linux,cma-default, the
                // configured 64 MiB default area is reserved besides it, below the no-map and
                // reserved regions near the top: 4 + 64 MiB of cma-reserved.
                Has("Reserved memory: created CMA memory pool at 0x0000000047c00000, size 4 MiB"),
                Has("OF: reserved mem: initialized node dma-pool, compatible id shared-dma-pool"),
                Has("cma: Reserved 64 MiB at 0x0000000049000000"),
                Has(", 69632K cma-reserved)"),
                Has("cma: 2 area(s), 17408 pages now MIGRATE_CMA pageblocks; present 65536 = managed "),
                HasAll(&["cma self-test: dma-pool: cma_alloc of all 1024 pages (4 MiB) at pfn 0x47c00 written"]),
                Has(" memory[0x1]\t[0x000000004e000000-0x000000004e0fffff], 0x0000000000100000 bytes on node 0 flags: 0x4"),
                Has(" reserved[0x2]\t[0x000000004d000000-0x000000004d1fffff], 0x0000000000200000 bytes flags: 0x0"),
                Has(" reserved[0x3]\t[0x000000004f000000-0x000000004f00ffff], 0x0000000000010000 bytes flags: 0x0"),
            ])
        },
        fails("arm-null-fault", arm, "selftest=null", vec![
            Has("selftest: reading address 0, which must fault"),
            HasAll(&["exception: synchronous, current EL: EC 0x25 (data abort)", "FAR 0x0000000000000000"]),
            Lacks("instead of faulting"),
        ]),
        fails("arm-write-text-fault", arm, "selftest=write-text", vec![
            // DFSC 0x0f: permission fault at level 3, WnR set.
            HasAll(&["exception: synchronous, current EL: EC 0x25 (data abort), ESR 0x9600004f"]),
            Lacks("kernel text is writable"),
        ]),
        ok("arm-paging", arm, "256M", 1, "", vec![
            Has("    .text   : 0x0000000040200000 - "),
            HasAll(&["paging_init: MMU on, ", " page-table page(s) from memblock"]),
            Has("    mmio    : 0x0000000009000000 - 0x0000000009001000   (     4 kB) device nGnRnE"),
        ]),
        fails("arm-slab-redzone", arm, "selftest=slab-redzone", vec![
            HasAll(&["kfree: kmalloc-32: object 0x", ": right redzone overwritten at offset 32"]),
            Lacks("the red-zone overwrite went unnoticed"),
        ]),
        fails("arm-forced-panic", arm, "selftest=panic", vec![HasAll(&["panicked at ", ".rs:", "selftest=panic"])]),
        // The boot stack runs into its guard page: the entry finds no room for the frame,
        // reports on the overflow stack, and the data abort names the guard page's address.
        fails("arm-stack-overflow", arm, "selftest=stack-overflow", vec![
            Has("selftest: unbounded recursion on the boot stack, which must fault at the guard page"),
            HasAll(&["exception: synchronous, current EL: EC 0x25 (data abort)", "FAR 0x"]),
            Has("exception: kernel stack overflow: SP 0x"),
            Has("in the boot stack's guard page; reported on this CPU's overflow stack"),
            Lacks("without faulting"),
        ]),
        // The in-firmware allocator benchmark on every CPU: a line per workload and CPU count,
        // every page back; the figures are printed, never asserted. Then the ordinary boot.
        ok("arm-bench-smp4", arm, "256M", 4, "selftest=bench", vec![
            HasAll(&["bench: order-0 page alloc+free (per-CPU lists), 4 CPU(s): ", " ns/pair per CPU (min "]),
            HasAll(&["bench: order-3 block alloc+free (buddy lists), 2 CPU(s): ", " pairs/s in all"]),
            HasAll(&["bench: kmalloc(64)+kfree (debug slab), 1 CPU(s): "]),
            HasAll(&["bench: done; every page back ("]),
        ]),
        // A secondary CPU's stack is a vmalloc area between guard pages: CPU1 recursing must
        // fault there and be reported as a stack overflow.
        BootCase {
            smp: 2,
            ..fails("arm-stack-overflow-cpu1", arm, "selftest=stack-overflow-cpu1", vec![
                Has("selftest: unbounded recursion on CPU1's vmalloc'd stack, which must fault at its guard page"),
                Has("in the guard page below a vmalloc'd CPU stack; reported on this CPU's overflow stack"),
                Lacks("without faulting"),
            ])
        },
        // x86's selftest=smp is not an arm mode.
        fails("arm-unknown-selftest", arm, "selftest=smp", vec![
            Has("command line: selftest=smp: no such self-test; known: panic, null, write-text, stack-overflow, oom, slab-redzone, bench, stack-overflow-cpu1"),
            Lacks("stack-overflow-cpu1, smp"),
            Has("boot failed: bad boot command line"),
        ]),
        // Raspberry Pi 3B: RAM at 0 (1 GiB, 64 MiB of it VideoCore's), the console behind
        // /soc's ranges, CPUs released from a spin table, no GIC and no PSCI.
        ok("rpi3b-smp4", rpi, "1G", 4, "", vec![
            Has("console: PL011 at 0x3f201000 (/soc/serial@7e201000, bus address 0x7e201000 through ranges, the board's console node)"),
            Has("OF: fdt: memory bank [mem 0x0000000000000000-0x000000003bffffff] node 0"),
            Has("OF: fdt: reserved [mem 0x0000000000000000-0x0000000000000fff] /memreserve/"),
            Has("RAM starts at 0: page 0 is already reserved"),
            HasAll(&["early reserve: [mem 0x0000000000200000-", "] kernel image"]),
            // rmem_cma_setup: the tree's dynamic linux,cma (64 MiB, reusable, linux,cma-default)
            // is the default CMA area, so dma_contiguous_reserve adds none.
            Has("Reserved memory: created CMA memory pool at 0x0000000038000000, size 64 MiB"),
            Has("OF: reserved mem: initialized node linux,cma, compatible id shared-dma-pool"),
            Has("OF: reserved mem: [mem 0x0000000038000000-0x000000003bffffff] (65536 KiB) map reusable linux,cma"),
            Lacks("cma: Reserved "),
            Has("    memory  : 0x0000000000000000 - 0x000000003c000000   (   960 MB) linear map, RW NX; page 0 unmapped (NULL faults)"),
            Has("    .text   : 0x0000000000200000 - "),
            Has("    mmio    : 0x000000003f201000 - 0x000000003f202000   (     4 kB) device nGnRnE"),
            Has("  DMA      [mem 0x0000000000000000-0x000000003bffffff]"),
            HasAll(&["Memory: ", "K/983040K available (", "K reserved, 65536K cma-reserved)"]),
            Has("present 245760 = managed "),
            Has("cma: 1 area(s), 16384 pages now MIGRATE_CMA pageblocks; present 245760 = managed "),
            HasAll(&["cma self-test: linux,cma: cma_alloc of all 16384 pages (64 MiB) at pfn 0x38000 written, read back and released", "free CMA pages back to 16384"]),
            Has("smp: CPU1: booted through spin-table, release address 0xe0"),
            Has("smp: CPU2: booted through spin-table, release address 0xe8"),
            Has("smp: CPU3: booted through spin-table, release address 0xf0"),
            Has("smp: Brought up 1 node, 4 CPUs"),
            HasAll(&["stress: CPU0 done, ", "all 4 CPU(s): 16000 operations"]),
            Lacks("PSCI"),
        ]),
        BootCase {
            mem: "1G",
            smp: 4,
            ..fails("rpi3b-null-fault", rpi, "selftest=null", vec![
                Has("selftest: reading address 0, which must fault"),
                // DFSC 0x07: translation fault at level 3: RAM around page 0 is mapped, page 0 not.
                HasAll(&["exception: synchronous, current EL: EC 0x25 (data abort), ESR 0x96000007", "FAR 0x0000000000000000"]),
                Lacks("instead of faulting"),
            ])
        },
        BootCase {
            mem: "1G",
            smp: 4,
            ..fails("rpi3b-write-text-fault", rpi, "selftest=write-text", vec![
                HasAll(&["exception: synchronous, current EL: EC 0x25 (data abort), ESR 0x9600004f"]),
                Lacks("kernel text is writable"),
            ])
        },
        BootCase {
            mem: "1G",
            smp: 4,
            ..fails("rpi3b-stack-overflow", rpi, "selftest=stack-overflow", vec![
                HasAll(&["exception: synchronous, current EL: EC 0x25 (data abort)", "FAR 0x"]),
                Has("in the boot stack's guard page; reported on this CPU's overflow stack"),
                Lacks("without faulting"),
            ])
        },
        BootCase {
            // The board's tree without its /memreserve/ for page 0 (this -dtb comes after the
            // board's own, and QEMU takes the last): the platform reserves page 0 itself (else
            // PFN 0 would reach the buddy allocator, and no self-check would notice).
            qemu_args: &["-dtb", "platforms/devicetree/testdata/rpi3b-no-memreserve.dtb"],
            ..ok("rpi3b-no-memreserve", rpi, "1G", 4, "", vec![
                Lacks("/memreserve/"),
                Has("early reserve: [mem 0x0000000000000000-0x0000000000000fff] page 0 (RAM starts at 0: kept unmapped and out of the allocators)"),
                Has("memblock_free_all: reserved [mem 0x0000000000000000-0x0000000000000fff] (4 KiB)"),
                Has("smp: Brought up 1 node, 4 CPUs"),
            ])
        },
        // ZynqMP ZCU102 (QEMU's xlnx-zcu102, board written by new-board from Debian's tree): the
        // Cadence UART taken over, RAM at 0, the four Cortex-A53 APUs through PSCI on smc, which
        // QEMU answers itself. Its loader enters an arm64 Image at EL1, at EL2 with
        // virtualization=on, and with secure=on still non-secure (EL3 is not entered).
        ok("zcu102-smp4", zcu, "2G", 4, "", vec![
            Has("qemu-xlnx-zcu102: AArch64, entered at EL1"),
            Has("console: Cadence UART at 0xff000000 (/axi/serial@ff000000, from /chosen/stdout-path)"),
            Has("console: taken over as the boot loader left it (no current-speed in the tree)"),
            Has("    mmio    : 0x00000000ff000000 - 0x00000000ff001000   (     4 kB) device nGnRnE"),
            Has("OF: fdt: memory bank [mem 0x0000000000000000-0x000000007fffffff] node 0"),
            Has("early reserve: [mem 0x0000000000000000-0x0000000000000fff] page 0 (RAM starts at 0: kept unmapped and out of the allocators)"),
            Has("smp: CPU1: booted through PSCI CPU_ON"),
            Has("smp: CPU2: booted through PSCI CPU_ON"),
            Has("smp: CPU3: booted through PSCI CPU_ON"),
            Has("smp: Brought up 1 node, 4 CPUs"),
            HasAll(&["stress: CPU0 done, ", "all 4 CPU(s): 16000 operations"]),
        ]),
        BootCase {
            qemu_args: &["-machine", "virtualization=on"],
            ..ok("zcu102-el2-smp4", zcu, "2G", 4, "", vec![Has("qemu-xlnx-zcu102: AArch64, entered at EL2"), Has("smp: Brought up 1 node, 4 CPUs")])
        },
        BootCase {
            qemu_args: &["-machine", "secure=on"],
            ..ok("zcu102-secure-smp4", zcu, "2G", 4, "", vec![Has("qemu-xlnx-zcu102: AArch64, entered at EL1"), Has("smp: Brought up 1 node, 4 CPUs")])
        },
        BootCase {
            // The board's tree with current-speed but no clock-frequency on the console node
            // (platforms/devicetree/testdata/README.md): the speed cannot be computed, the UART
            // is taken over and the boot says so.
            qemu_args: &["-dtb", "platforms/devicetree/testdata/zcu102-current-speed.dtb"],
            checks: vec![
                Has("console: Cadence UART at 0xff000000 (/axi/serial@ff000000, from /chosen/stdout-path)"),
                Has("WARN  console: current-speed 115200 not applied (the node has no clock-frequency to compute the divisor from): taken over as the boot loader left it"),
                Lacks("ERROR"),
                Has("smp: Brought up 1 node, 4 CPUs"),
                Has("boot: memory management up on 4 CPU(s); all checks passed"),
            ],
            ..ok("zcu102-speed-no-clock", zcu, "2G", 4, "", vec![])
        },
        BootCase {
            // current-speed and clock-frequency: the driver resets the UART and programs it.
            qemu_args: &["-dtb", "platforms/devicetree/testdata/zcu102-current-speed-clock.dtb"],
            ..ok("zcu102-speed-clock", zcu, "2G", 4, "", vec![
                Has("console: programmed to current-speed 115200 baud"),
                Has("console: reg-shift 0, reg-io-width 0, clock-frequency 100000000 Hz (0: not given)"),
                Has("smp: Brought up 1 node, 4 CPUs"),
            ])
        },
        BootCase {
            mem: "2G",
            smp: 4,
            ..fails("zcu102-null-fault", zcu, "selftest=null", vec![
                Has("selftest: reading address 0, which must fault"),
                HasAll(&["exception: synchronous, current EL: EC 0x25 (data abort), ESR 0x96000007", "FAR 0x0000000000000000"]),
                Lacks("instead of faulting"),
            ])
        },
        BootCase {
            // The board's tree with cpu@2's enable-method and cpu@3's cpu-release-addr broken
            // (platforms/devicetree/src/tests.rs says how): those two stay off, named.
            qemu_args: &["-dtb", "platforms/devicetree/testdata/rpi3b-bad-cpus.dtb"],
            checks: vec![
                Has("ERROR smp: unsupported enable-method \"spin-tabl3\" in node /cpus/cpu@2 (supported: psci, spin-table)"),
                Has("smp: CPU2 failed to start: the device tree's enable-method for this CPU is unusable"),
                Has("ERROR smp: missing property cpu-release-addr in node /cpus/cpu@3"),
                Has("smp: CPU3 failed to start: the device tree's enable-method for this CPU is unusable"),
                Has("smp: CPU1: booted through spin-table, release address 0xe0"),
                Has("smp: Brought up 1 node, 2 CPUs"),
                HasAll(&["stress: CPU0 done, ", "all 2 CPU(s): 8000 operations"]),
                HasAll(&["boot: memory management up on 2 CPU(s); all checks passed"]),
            ],
            ..ok("rpi3b-bad-cpus", rpi, "1G", 4, "", vec![])
        },
        // 32-bit ARM (platforms/armv7a) on QEMU's virt with a Cortex-A15. The figures Linux 6.1
        // (Debian armmp: VMSPLIT_3G, HIGHMEM, no ZONE_DMA, FLATMEM, 64 MiB CMA) prints on the
        // same machines: lowmem ends at arm_lowmem_limit = PHYS_OFFSET + (vmalloc_min 0xf0000000
        // - PAGE_OFFSET) = 0x70000000, Normal below, HighMem above; memblock regions printed
        // with a 32-bit %pa and no node (no CONFIG_NUMA); the Memory: total is every RAM page.
        // mm_init::zones tests compute the same figures from Linux's formulas.
        ok("arm32-256M", armv7a, "256M", 1, "", vec![
            Has("qemu-virt-arm: ARMv7-A (MIDR 0x414fc0f0), entered in SVC mode, device tree at 0x48000000"),
            Has("console: PL011 at 0x9000000 (/pl011@9000000, from /chosen/stdout-path)"),
            Has(" memory[0x0]\t[0x40000000-0x4fffffff], 0x10000000 bytes flags: 0x0"),
            Lacks(" on node "),
            // arm_memblock_init's order: kernel image, swapper_pg_dir, the device tree's, CMA.
            InOrder(&[
                "early reserve: [mem 0x0000000040010000-",
                "early reserve: [mem 0x000000004000c000-0x000000004000ffff] page tables (swapper_pg_dir, arm_mm_memblock_reserve)",
                "OF: fdt: reserved [mem 0x0000000048000000-0x00000000480fffff] device tree blob",
                "cma: Reserved 64 MiB at 0x4c000000",
                "MEMBLOCK configuration:",
            ]),
            Has("adjust_lowmem_bounds: PHYS_OFFSET 0x40000000, arm_lowmem_limit 0x50000000, memblock limit 0x50000000"),
            Has("    lowmem  : 0xc0000000 - 0xd0000000   ( 256 MB)"),
            Has("  DMA      [mem 0x0000000040000000-0x000000004fffffff]"),
            Has("  Normal   empty"),
            Has("  HighMem  empty"),
            Has("HighMem kmap self-check: no HighMem, nothing to map"),
            Has("  node   0: [mem 0x0000000040000000-0x000000004fffffff]"),
            HasAll(&["Memory: ", "K/262144K available (", ", 65536K cma-reserved, 0K highmem)"]),
            // Normal 65536 pages minus calc_memmap_size with armmp's 36-byte struct page (576).
            Has("Built 1 zonelists, mobility grouping on.  Total pages: 64960"),
            Has("smp: Brought up 1 node, 1 CPU"),
        ]),
        ok("arm32-1G-smp2", armv7a, "1G", 2, "", vec![
            Has("  DMA      [mem 0x0000000040000000-0x000000006fffffff]"),
            Has("  Normal   empty"),
            Has("  DMA      [mem 0x0000000040000000-0x000000006fffffff]"),
            Has("  Normal   empty"),
            Has("  HighMem  [mem 0x0000000070000000-0x000000007fffffff]"),
            HasAll(&["Memory: ", "K/1048576K available (", ", 65536K cma-reserved, 196608K highmem)"]),
            Has("cma: Reserved 64 MiB at 0x7c000000"),
            // pkmap (shared, counted) and kmap_local (this CPU's fixmap slot) reach HighMem.
            Has("    pkmap   : 0xbfe00000 - 0xc0000000   (2048 kB)"),
            HasAll(&["HighMem kmap self-check: page 0x", " written through pkmap 0xbfe", " and kmap_local 0xffe", ": passed"]),
            Has("Built 1 zonelists, mobility grouping on.  Total pages: 260416"),
            Has("smp: Brought up 1 node, 2 CPUs"),
        ]),
        ok("arm32-512M-smp8", armv7a, "512M", 8, "", vec![
            Has("smp: Brought up 1 node, 8 CPUs"),
            HasAll(&["stress: CPU0 done, ", "all 8 CPU(s): ", "every page back, none owned twice, free counts per zone restored"]),
        ]),
        ok("arm32-2G-smp4", armv7a, "2G", 4, "", vec![
            Has(" memory[0x0]\t[0x40000000-0xbfffffff], 0x80000000 bytes flags: 0x0"),
            Has("adjust_lowmem_bounds: PHYS_OFFSET 0x40000000, arm_lowmem_limit 0x70000000, memblock limit 0x70000000"),
            Has("    lowmem  : 0xc0000000 - 0xf0000000   ( 768 MB)"),
            Has("    vmalloc : 0xf0800000 - 0xff800000   ( 240 MB)"),
            Has("  DMA      [mem 0x0000000040000000-0x000000006fffffff]"),
            Has("  Normal   empty"),
            Has("  HighMem  [mem 0x0000000070000000-0x00000000bfffffff]"),
            Has("  node   0: [mem 0x0000000040000000-0x00000000bfffffff]"),
            // CMA pages come from one zone: HighMem first (cma_declare_contiguous_nid), top-down.
            Has("cma: Reserved 64 MiB at 0xbc000000"),
            // The highmem figure is HighMem's managed pages before CMA is released: 1280 - 64 MiB.
            HasAll(&["Memory: ", "K/2097152K available (", ", 65536K cma-reserved, 1245184K highmem)"]),
            // Normal 196608 - 1728 (memmap), HighMem 327680 (no memmap charge).
            Has("Built 1 zonelists, mobility grouping on.  Total pages: 522560"),
            Has("Node 0, zone  HighMem: pageset batch "),
            Has("smp: CPU3: booted through PSCI CPU_ON"),
            Has("smp: Brought up 1 node, 4 CPUs"),
            HasAll(&["stress: CPU0 done, ", "all 4 CPU(s): 16000 operations"]),
            Has("(HighMem included)"),
            Has("from 4096 pages (4096 HighMem) written, read back and freed"),
            Has("cross-CPU self-test: on_each_cpu ran on all 4 CPUs; after vfree and a new mapping at "),
            Has("kmap_local self-test: 4 CPU(s) at once"),
        ]),
        // QEMU's limit without LPAE: RAM [1 GiB, 4 GiB). A 32-bit phys_addr_t caps the bank's
        // memblock size at PHYS_ADDR_MAX - base (memblock_cap_size): its last page is not RAM.
        ok("arm32-3G", armv7a, "3G", 1, "", vec![
            Has("OF: fdt: memory bank [mem 0x0000000040000000-0x00000000ffffffff] node 0"),
            Has(" memory[0x0]\t[0x40000000-0xfffffffe], 0xbfffffff bytes flags: 0x0"),
            Has("  DMA      [mem 0x0000000040000000-0x000000006fffffff]"),
            Has("  Normal   empty"),
            Has("  HighMem  [mem 0x0000000070000000-0x00000000ffffefff]"),
            Has("cma: Reserved 64 MiB at 0xfbc00000"),
            HasAll(&["Memory: ", "K/3145724K available ("]),
            Has("Built 1 zonelists, mobility grouping on.  Total pages: 784703"),
        ]),
        // virtualization=on: entered in Hyp mode, dropped to SVC; PSCI through smc.
        BootCase {
            qemu_args: &["-machine", "virtualization=on"],
            ..ok("arm32-hyp-smp2", armv7a, "512M", 2, "", vec![
                Has("entered in Hyp mode (dropped to SVC)"),
                // The 512M tree of ../shared/testdata/dtb: all lowmem.
                Has("  DMA      [mem 0x0000000040000000-0x000000005fffffff]"),
                Has("  Normal   empty"),
                Has("  HighMem  empty"),
                HasAll(&["Memory: ", "K/524288K available ("]),
                Has("Built 1 zonelists, mobility grouping on.  Total pages: 129920"),
                Has("smp: CPU1: booted through PSCI CPU_ON"),
                Has("smp: Brought up 1 node, 2 CPUs"),
            ])
        },
        BootCase {
            initrd: Initrd::Good,
            ..ok("arm32-initrd-smp2", armv7a, "256M", 2, "", vec![
                HasAll(&["OF: fdt: reserved [mem ", "] initrd"]),
                INITRD_OK,
                Has("smp: Brought up 1 node, 2 CPUs"),
            ])
        },
        fails("arm32-null-fault", armv7a, "selftest=null", vec![
            Has("selftest: reading address 0, which must fault"),
            Has("exception: data abort: translation fault, section on a read of DFAR 0x00000000 (DFSR 0x00000005)"),
            Lacks("instead of faulting"),
        ]),
        fails("arm32-write-text-fault", armv7a, "selftest=write-text", vec![
            // DFSR 0x80f: permission fault on a page, WnR set.
            HasAll(&["exception: data abort: permission fault, page on a write of DFAR 0x", "(DFSR 0x0000080f)"]),
            Lacks("kernel text is writable"),
        ]),
        fails("arm32-stack-overflow", armv7a, "selftest=stack-overflow", vec![
            Has("exception: kernel stack overflow: SP 0x"),
            Has("ran into the boot stack's guard page; reported on this CPU's abort stack"),
            Lacks("without faulting"),
        ]),
        BootCase {
            smp: 2,
            ..fails("arm32-stack-overflow-cpu1", armv7a, "selftest=stack-overflow-cpu1", vec![
                Has("selftest: unbounded recursion on CPU1's vmalloc'd stack, which must fault at its guard page"),
                Has("ran into the guard page below a vmalloc'd CPU stack; reported on this CPU's abort stack"),
                Lacks("without faulting"),
            ])
        },
        // cma= replaces the configured size (still HighMem first); memblock=debug prints %pa
        // of a 32-bit phys_addr_t.
        ok("arm32-cma-memblock-debug", armv7a, "1G", 1, "cma=32M memblock=debug", vec![
            Has("memblock_reserve: [0x4000c000-0x4000ffff]"),
            Has("cma: Reserved 32 MiB at 0x7e000000"),
            HasAll(&["Memory: ", "K/1048576K available (", ", 32768K cma-reserved, 229376K highmem)"]),
            Lacks("memblock_reserve: [0x00000000"),
        ]),
        fails("arm32-oom", armv7a, "selftest=oom", vec![
            HasAll(&["panicked at ", "memory allocation of 1073741824 bytes failed"]),
        ]),
        fails("arm32-slab-redzone", armv7a, "selftest=slab-redzone", vec![
            HasAll(&["kfree: kmalloc-32: object 0x", ": right redzone overwritten at offset 32"]),
            Lacks("the red-zone overwrite went unnoticed"),
        ]),
        fails("arm32-forced-panic", armv7a, "selftest=panic", vec![HasAll(&["panicked at ", ".rs:", "selftest=panic"])]),
        // The in-firmware allocator benchmark on every CPU, then the ordinary boot.
        ok("arm32-bench-smp4", armv7a, "256M", 4, "selftest=bench", vec![
            HasAll(&["bench: order-0 page alloc+free (per-CPU lists), 4 CPU(s): ", " ns/pair per CPU (min "]),
            HasAll(&["bench: done; every page back ("]),
        ]),
        // Real firmware, and the initrd: each firmware boot has a direct twin (TWINS).
        BootCase {
            firmware: true,
            ..ok("x86-grub-128M", x86, "128M", 1, "", vec![
                Count("BIOS-e820: [mem ", 6),
                Has("BIOS-e820: [mem 0x0000000000100000-0x0000000007fdffff] usable"),
                // GRUB puts the Multiboot information at 0x10000 (QEMU's loader: 0x9500).
                Has("early reserve: [mem 0x0000000000010000-0x0000000000010077] Multiboot information"),
                HasAll(&["early reserve: [mem ", "] Multiboot memory map"]),
                HasAll(&["Memory: ", "K/130552K available ("]),
            ])
        },
        BootCase {
            initrd: Initrd::Good,
            ..ok("x86-initrd-smp2", x86, "128M", 2, "", vec![
                HasAll(&["early reserve: [mem ", "] initrd (Multiboot module)"]),
                INITRD_OK,
                Has("smp: Brought up 1 node, 2 CPUs"),
            ])
        },
        BootCase {
            firmware: true,
            initrd: Initrd::Good,
            ..ok("x86-grub-initrd-smp2", x86, "128M", 2, "memblock=debug", vec![
                // The command line from grub.cfg arrives.
                Has("memblock_add: [0x00001000-0x0009fbff]"),
                HasAll(&["early reserve: [mem ", "] initrd (Multiboot module)"]),
                INITRD_OK,
                Has("smp: Brought up 1 node, 2 CPUs"),
            ])
        },
        BootCase {
            initrd: Initrd::Corrupt,
            ..fails("x86-initrd-corrupt", x86, "", vec![
                HasAll(&["initrd: [mem ", "] 300016 bytes, checksum MISMATCH: header 0x"]),
                Has("the initrd's bytes are not the ones its header describes"),
            ])
        },
        BootCase {
            firmware: true,
            ..ok("arm-uboot-256M", arm, "256M", 1, "", vec![
                Has("OF: fdt: memory bank [mem 0x0000000040000000-0x000000004fffffff] node 0"),
                HasAll(&["early reserve: [mem 0x0000000040200000-", "] kernel image"]),
                HasAll(&["OF: fdt: reserved [mem ", "] device tree blob"]),
                HasAll(&["Memory: ", "K/262144K available ("]),
            ])
        },
        BootCase {
            initrd: Initrd::Good,
            ..ok("arm-initrd-smp2", arm, "256M", 2, "", vec![
                HasAll(&["OF: fdt: reserved [mem ", "] initrd"]),
                INITRD_OK,
                Has("smp: Brought up 1 node, 2 CPUs"),
            ])
        },
        BootCase {
            firmware: true,
            initrd: Initrd::Good,
            ..ok("arm-uboot-initrd-smp2", arm, "256M", 2, "memblock=debug", vec![
                // The command line from boot.scr arrives.
                Has("memblock_add_node: [0x0000000040000000-0x000000004fffffff] nid=0"),
                HasAll(&["OF: fdt: reserved [mem ", "] initrd"]),
                // U-Boot's fdt_initrd also adds a /memreserve/ for the initrd.
                HasAll(&["OF: fdt: reserved [mem ", "] /memreserve/"]),
                INITRD_OK,
                Has("smp: Brought up 1 node, 2 CPUs"),
            ])
        },
        // Raspberry Pi 2 B (written by new-board, committed unedited): RAM at 0 with HighMem
        // above the 768 MiB of lowmem, the PL011 behind /soc's ranges, and the three secondary
        // CPUs released through the BCM2836's ARM-local mailbox 3.
        ok("raspi2b-smp4", rpi2, "1G", 4, "", vec![
            Has("qemu-raspi2b: ARMv7-A (MIDR 0x410fc075)"),
            Has("console: PL011 at 0x3f201000 (/soc/serial@7e201000, bus address 0x7e201000 through ranges, from /chosen/stdout-path)"),
            Has("adjust_lowmem_bounds: PHYS_OFFSET 0x00000000, arm_lowmem_limit 0x30000000, memblock limit 0x30000000 (vmalloc_min 0xf0000000)"),
            // No dma_zone_size reaches the DMA limit here (1 GiB above PHYS_OFFSET on the BCM2835
            // machine): ZONE_DMA is all of lowmem, as multi_v7 prints it.
            Has("  DMA      [mem 0x0000000000000000-0x000000002fffffff]"),
            Has("  Normal   empty"),
            Has("  HighMem  [mem 0x0000000030000000-0x000000003bffffff]"),
            HasAll(&["Memory: ", "K/983040K available (", "K cma-reserved, 131072K highmem)"]),
            Has("smp: CPU1: booted through the BCM2836 ARM-local mailbox 3"),
            Has("smp: CPU2: booted through the BCM2836 ARM-local mailbox 3"),
            Has("smp: CPU3: booted through the BCM2836 ARM-local mailbox 3"),
            Has("smp: Brought up 1 node, 4 CPUs"),
            Lacks("PSCI"),
        ]),
        BootCase {
            mem: "1G",
            smp: 4,
            ..fails("raspi2b-null-fault", rpi2, "selftest=null", vec![
                Has("selftest: reading address 0, which must fault"),
                HasAll(&["exception: data abort: translation fault, page on a read of DFAR 0x00000000 (DFSR 0x00000007)"]),
                Lacks("instead of faulting"),
            ])
        },
        // Orange Pi PC (Allwinner H3, written by new-board, committed unedited): entered in Hyp
        // mode, the DesignWare UART of stdout-path through the 16550 driver (reg-shift 2,
        // 32-bit accesses), RAM and PSCI from what QEMU adds to the tree.
        ok("orangepi-pc-smp4", opi, "1G", 4, "", vec![
            Has("qemu-orangepi-pc: ARMv7-A (MIDR 0x410fc075), entered in Hyp mode (dropped to SVC)"),
            Has("console: 16550 at 0x1c28000 (/soc/serial@1c28000, from /chosen/stdout-path)"),
            Has("  HighMem  [mem 0x0000000070000000-0x000000007fffffff]"),
            HasAll(&["Memory: ", "K/1048576K available (", "K cma-reserved, 196608K highmem)"]),
            Has("smp: CPU3: booted through PSCI CPU_ON"),
            Has("smp: Brought up 1 node, 4 CPUs"),
        ]),
        BootCase {
            mem: "1G",
            smp: 4,
            ..fails("orangepi-pc-null-fault", opi, "selftest=null", vec![
                Has("selftest: reading address 0, which must fault"),
                HasAll(&["exception: data abort: translation fault", "DFAR 0x00000000"]),
                Lacks("instead of faulting"),
            ])
        },
        // i.MX6Q SABRE Lite (written by new-board, committed unedited): four Cortex-A9, which
        // have no generic timer (the boot clock is the MPCore global timer, its rate measured
        // against the i.MX6 GPT on the 24 MHz crystal / 8), entered in Secure SVC mode, RAM at
        // 0x10000000 (PHYS_OFFSET, lowmem to 0x40000000, HighMem above), the i.MX UART QEMU
        // wires, and the secondary CPUs started through the i.MX6 SRC (Linux's imx_smp_ops).
        ok("sabrelite-smp4", sabre, "1G", 4, "", vec![
            Has("qemu-sabrelite: ARMv7-A (MIDR 0x410fc090), entered in SVC mode"),
            Has("console: i.MX UART at 0x2020000 (/soc/bus@2000000/spba-bus@2000000/serial@2020000"),
            Has("clock: no generic timer (ID_PFR1[19:16] = 0): the Cortex-A9 MPCore global timer at 0xa00200 (PERIPHBASE 0xa00000 from CBAR)"),
            HasAll(&["clock: global timer rate measured as ", " Hz: ", "ticks of /soc/bus@2000000/timer@2098000 at 3000000 Hz"]),
            Has("adjust_lowmem_bounds: PHYS_OFFSET 0x10000000, arm_lowmem_limit 0x40000000, memblock limit 0x40000000 (vmalloc_min 0xf0000000)"),
            Has("  DMA      [mem 0x0000000010000000-0x000000003fffffff]"),
            Has("  Normal   empty"),
            Has("  HighMem  [mem 0x0000000040000000-0x000000004fffffff]"),
            HasAll(&["Memory: ", "K/1048576K available (", "K cma-reserved, 196608K highmem)"]),
            Has("smp: CPU1: booted through the i.MX6 SRC (SRC_GPR3, SRC_SCR core enable)"),
            Has("smp: CPU2: booted through the i.MX6 SRC (SRC_GPR5, SRC_SCR core enable)"),
            Has("smp: CPU3: booted through the i.MX6 SRC (SRC_GPR7, SRC_SCR core enable)"),
            Has("smp: Brought up 1 node, 4 CPUs"),
            Lacks("PSCI"),
        ]),
        BootCase {
            mem: "1G",
            smp: 4,
            ..fails("sabrelite-null-fault", sabre, "selftest=null", vec![
                Has("selftest: reading address 0, which must fault"),
                HasAll(&["exception: data abort: translation fault", "DFAR 0x00000000"]),
                Lacks("instead of faulting"),
            ])
        },
        // 32-bit ARM through Debian's qemu_arm U-Boot (bootz at the load address, U-Boot's own
        // device tree, which it keeps at the top of RAM) and QEMU's own loader, compared.
        BootCase {
            firmware: true,
            ..ok("arm32-uboot-256M", armv7a, "256M", 1, "", vec![
                Has("qemu-virt-arm: ARMv7-A (MIDR 0x414fc0f0), entered in SVC mode"),
                HasAll(&["Memory: ", "K/262144K available ("]),
            ])
        },
        BootCase {
            firmware: true,
            initrd: Initrd::Good,
            ..ok("arm32-uboot-initrd-smp2", armv7a, "256M", 2, "memblock=debug", vec![
                // The command line from boot.scr arrives (phys_addr_t is 32 bits: %pa prints 8
                // digits).
                Has("memblock_add_node: [0x40000000-0x4fffffff] nid=0 flags=0"),
                HasAll(&["OF: fdt: reserved [mem ", "] initrd"]),
                // U-Boot's fdt_initrd also adds a /memreserve/ for the initrd.
                HasAll(&["OF: fdt: reserved [mem ", "] /memreserve/"]),
                INITRD_OK,
                Has("smp: Brought up 1 node, 2 CPUs"),
            ])
        },
    ]
}

fn host_tests(root: &Path) -> Result<()> {
    eprintln!("test: host tests (cargo test on the host-testable crates)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .arg("test")
        .status()
        .context("running cargo test")?;
    if !status.success() {
        bail!("host tests failed");
    }
    Ok(())
}

/// Writes the test initrds (good and with one payload byte flipped) next to the test images.
fn test_initrds(root: &Path) -> Result<(PathBuf, PathBuf)> {
    let dir = root.join("target/xtask-test");
    std::fs::create_dir_all(&dir)?;
    let good = firmware::initrd_bytes(TEST_INITRD_PAYLOAD, 0x5eed);
    let mut bad = good.clone();
    bad[1000] ^= 0x40;
    let (g, b) = (dir.join("initrd.bin"), dir.join("initrd-corrupt.bin"));
    std::fs::write(&g, good)?;
    std::fs::write(&b, bad)?;
    Ok((g, b))
}

/// Runs one case; the verdict and the decoded log.
fn run_case(root: &Path, board: &Board, built: &Built, case: &BootCase, initrds: &(PathBuf, PathBuf)) -> Result<(Result<(), String>, Vec<String>)> {
    let timeout = Duration::from_secs(60);
    let initrd = match case.initrd {
        Initrd::None => None,
        Initrd::Good => Some(initrds.0.clone()),
        Initrd::Corrupt => Some(initrds.1.clone()),
    };
    let fw_image = if case.firmware {
        let fw = Firmware::for_board(board)?;
        let out_dir = firmware::out_dir(built, fw, "test");
        let opts = firmware::ImageOpts { cmdline: case.cmdline, initrd: initrd.as_deref() };
        Some(firmware::make_image(board, built, fw, &opts, &out_dir)?)
    } else {
        None
    };
    let mem_bytes = crate::size::parse_size(case.mem)?;
    board::check_machine_limits(board, mem_bytes, case.smp)?;
    let opts = RunOpts {
        mem_bytes,
        smp: case.smp,
        cmdline: case.cmdline.into(),
        extra_args: case
            .qemu_args
            .iter()
            .map(|a| if a.starts_with("boards/") { root.join(a).display().to_string() } else { (*a).to_owned() })
            .collect(),
        timeout,
        echo: false,
        initrd,
        firmware: fw_image,
    };
    let started = Instant::now();
    let outcome = qemu::run(board, built, &opts)?;
    let wall = started.elapsed();
    let mut problems = Vec::new();
    if let Err(p) = check_clock(&outcome.stamps, wall, outcome.success()) {
        problems.push(p);
    }
    match (&outcome.verdict, case.expect_success) {
        (Some(Verdict::Success), true) | (Some(Verdict::FirmwareFailure), false) => {}
        _ => problems.push(format!(
            "expected the firmware to report {}, but: {}",
            if case.expect_success { "success" } else { "failure" },
            outcome.describe(timeout)
        )),
    }
    if outcome.malformed_frames > 0 {
        problems.push(format!("{} malformed defmt frame(s)", outcome.malformed_frames));
    }
    for check in &case.checks {
        if let Err(p) = check.holds(&outcome.lines) {
            problems.push(p);
        }
    }
    if problems.is_empty() {
        return Ok((Ok(()), outcome.lines));
    }
    let mut report = problems.join("\n  ");
    report.push_str("\n  --- decoded log ---\n");
    for l in &outcome.lines {
        report.push_str("  | ");
        report.push_str(l);
        report.push('\n');
    }
    if !outcome.loader_text.trim().is_empty() {
        report.push_str("  --- boot loader text ---\n");
        for l in outcome.loader_text.lines() {
            report.push_str("  | ");
            report.push_str(l);
            report.push('\n');
        }
    }
    if !outcome.stderr.trim().is_empty() {
        report.push_str("  --- QEMU stderr ---\n");
        report.push_str(&outcome.stderr);
    }
    Ok((Err(report), outcome.lines))
}

/// The boot clock against the host's: every frame has a timestamp, they never go back (by
/// more than 1 ms, for counters read on different CPUs), and the last is no later than the wall
/// time the whole QEMU run took (which includes QEMU's own start). A successful boot's last
/// timestamp is above 0: the clock ran (x86 logs 0 until the TSC is calibrated, as Linux does).
fn check_clock(stamps: &[Option<f64>], wall: Duration, success: bool) -> Result<(), String> {
    if let Some(i) = stamps.iter().position(Option::is_none) {
        return Err(format!("boot clock: line {} has no timestamp", i + 1));
    }
    let s: Vec<f64> = stamps.iter().flatten().copied().collect();
    if let Some(i) = s.windows(2).position(|w| w[1] + 0.001 < w[0]) {
        return Err(format!("boot clock: line {} at {:.6} s comes after line {} at {:.6} s", i + 2, s[i + 1], i + 1, s[i]));
    }
    let last = s.last().copied().unwrap_or(0.0);
    if last > wall.as_secs_f64() + 0.05 {
        return Err(format!("boot clock: the log ends at {last:.6} s, but the whole QEMU run took {:.3} s of wall time", wall.as_secs_f64()));
    }
    if success && last <= 0.0 {
        return Err("boot clock: every timestamp is 0: the clock never ran".into());
    }
    Ok(())
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn the_boot_clock_is_checked_against_the_hosts() {
        let wall = Duration::from_millis(500);
        assert_eq!(check_clock(&[Some(0.0), Some(0.0), Some(0.1), Some(0.3)], wall, true), Ok(()));
        assert!(check_clock(&[Some(0.1), None], wall, true).unwrap_err().contains("line 2 has no timestamp"));
        assert!(check_clock(&[Some(0.2), Some(0.1)], wall, true).unwrap_err().contains("comes after"));
        assert!(check_clock(&[Some(0.1), Some(2.0)], wall, true).unwrap_err().contains("wall time"));
        assert!(check_clock(&[Some(0.0), Some(0.0)], wall, true).unwrap_err().contains("never ran"));
        // A failed boot may end before x86's TSC is calibrated.
        assert_eq!(check_clock(&[Some(0.0), Some(0.0)], wall, false), Ok(()));
    }
}

#[cfg(test)]
mod check_tests {
    use super::*;

    /// `InOrder` wants each text on a later line than the one before it (arm_memblock_init's
    /// steps); the same texts out of order, or on one line, are refused.
    #[test]
    fn in_order_checks_lines_in_sequence() {
        let lines: Vec<String> = ["kernel image", "page tables", "device tree blob", "cma: Reserved"].map(String::from).to_vec();
        assert_eq!(Check::InOrder(&["kernel image", "device tree blob", "cma: Reserved"]).holds(&lines), Ok(()));
        let e = Check::InOrder(&["page tables", "kernel image"]).holds(&lines).unwrap_err();
        assert!(e.contains("no line contains \"kernel image\" after"), "{e}");
        let one = vec!["kernel image, page tables".to_string()];
        assert!(Check::InOrder(&["kernel image", "page tables"]).holds(&one).is_err());
    }
}

/// The share of `../shared/testdata/dtb-arm64` that `new-board` turns into a valid board (with
/// `--like qemu-virt-aarch64`), as measured when the console drivers were wired in
/// (docs/PORTING.md, "How far the scaffolder reaches"): valid trees out of all. The test fails
/// below it.
pub const SURVEY_ARM64_VALID: (usize, usize) = (58, 60);

/// The same for the 32-bit trees of `../shared/testdata/dtb-armhf` (with `--like
/// qemu-virt-arm`), as measured when the scaffolder learnt ARMv7-A: valid trees out of all
/// (ARMv6, Cortex-M and trees without a console Linux would use count as not valid).
pub const SURVEY_ARMHF_VALID: (usize, usize) = (39, 61);

/// The `--like` boards of the survey: qemu-virt-aarch64, and qemu-virt-arm from boards/ or, while
/// that board is not in this tree, the board `new-board` writes from QEMU's own 32-bit virt tree
/// (validated like any generated board).
fn survey_likes(root: &Path) -> Result<Vec<board::Board>> {
    let mut likes = vec![board::find(root, "qemu-virt-aarch64")?];
    if root.join("boards/qemu-virt-arm/board.toml").is_file() {
        likes.push(board::find(root, "qemu-virt-arm")?);
    } else {
        likes.push(crate::newboard::scratch_board(root, "qemu-virt-arm", &root.join("../shared/testdata/dtb/qemu__arm-virt-1G.dtb"))?);
    }
    Ok(likes)
}

/// `new-board --survey` over the shared tree folders, when they exist: a line per folder, and
/// an error when the arm64 or armhf share of valid boards drops below [`SURVEY_ARM64_VALID`] or
/// [`SURVEY_ARMHF_VALID`], or a generated board does not validate.
fn survey_check(root: &Path, build: bool) -> Result<()> {
    let shared = root.join("../shared/testdata");
    if !shared.is_dir() {
        eprintln!("test: survey skipped: {} is absent", shared.display());
        return Ok(());
    }
    let likes = survey_likes(root)?;
    let like_names = "qemu-virt-aarch64, qemu-virt-arm";
    let mut first_of_driver = std::collections::BTreeMap::new();
    for folder in ["dtb-arm64", "dtb", "dtb-armhf"] {
        let dir = shared.join(folder);
        if !dir.is_dir() {
            eprintln!("test: survey of {folder} skipped: {} is absent", dir.display());
            continue;
        }
        let s = crate::newboard::survey(root, &dir, &likes)?;
        for (k, v) in &s.first_of_driver {
            first_of_driver.entry(k.clone()).or_insert_with(|| (folder, v.clone()));
        }
        let top = s.ranked().into_iter().next().map_or(String::new(), |(k, n)| format!("; most missing: {k} ({n})"));
        eprintln!("survey {folder:<10} {} of {} trees give a valid board{top}", s.valid(), s.trees);
        if !s.invalid.is_empty() {
            anyhow::bail!("survey of {}: generated boards that do not validate:\n{}", dir.display(), s.table(Some(like_names)));
        }
        let floor = match folder {
            "dtb-arm64" => Some(("SURVEY_ARM64_VALID", SURVEY_ARM64_VALID)),
            "dtb-armhf" => Some(("SURVEY_ARMHF_VALID", SURVEY_ARMHF_VALID)),
            _ => None,
        };
        if let Some((name, (want, of))) = floor {
            if s.valid() * of < want * s.trees {
                anyhow::bail!(
                    "survey of {}: {} of {} trees give a valid board, below the {want} of {of} measured ({name} in xtask/src/test.rs):\n{}",
                    dir.display(),
                    s.valid(),
                    s.trees,
                    s.table(Some(like_names))
                );
            }
        }
    }
    if build {
        build_survey_boards(root, &likes, &first_of_driver)?;
    }
    Ok(())
}

/// The survey's first valid board of each (driver, platform): the folder, the tree and the
/// board's files.
type FirstOfDriver<'a> = std::collections::BTreeMap<(String, String), (&'a str, (String, Vec<(PathBuf, Vec<u8>)>))>;

/// Builds, for each console driver and platform that no committed board uses, the first board
/// the survey wrote with it (as new-board writes it, built through the `--like` board's crate
/// of the same platform with `MEMFW_BOARD_DIR`): that the driver builds into a firmware from a
/// real tree, not only that the description validates.

fn build_survey_boards(root: &Path, likes: &[board::Board], first: &FirstOfDriver<'_>) -> Result<()> {
    let mut committed = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(root.join("boards")).context("reading boards/")? {
        let dir = e?.path();
        if dir.join("board.toml").is_file() {
            if let Ok(b) = board_desc::load(&dir) {
                if let Some(c) = &b.console {
                    committed.insert((c.driver.as_str().to_owned(), b.platform.clone()));
                }
            }
        }
    }
    let opts = BuildOpts { release: false, log_level: "info".into(), app: "selftest".into() };
    let mut built = 0;
    for ((driver, platform), (folder, (tree, files))) in first {
        if committed.contains(&(driver.clone(), platform.clone())) {
            continue;
        }
        let Some(like) = likes.iter().find(|l| &l.platform == platform) else { continue };
        // The scaffolder names the folder after the board ("survey-board"), as load expects.
        let dir = root.join("target/xtask-test/survey-boards").join(format!("{driver}-{platform}")).join("survey-board");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        for (rel, bytes) in files {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        let t = Instant::now();
        let elf = image::build_from_dir(root, like, &opts, &dir)
            .with_context(|| format!("survey: the board new-board writes from {folder}/{tree} ({driver}, {platform}) does not build"))?;
        let size = std::fs::metadata(&elf).map_or(0, |m| m.len());
        eprintln!("survey build {driver} ({platform}) from {folder}/{tree}: ok, {size} bytes ({:.1} s)", t.elapsed().as_secs_f64());
        built += 1;
    }
    eprintln!("survey: {built} board(s) built for the console drivers no committed board uses");
    Ok(())
}

/// Runs everything; fails if anything failed.
pub fn run_all(root: &Path, host_only: bool, filter: Option<&str>, fuzz_seconds: u64) -> Result<()> {
    if filter.is_none() {
        host_tests(root)?;
    }
    // `--filter survey` runs only this.
    if filter.is_none_or(|f| f == "survey") {
        survey_check(root, !host_only)?;
    }
    if host_only {
        return Ok(());
    }
    if filter.is_none() && fuzz_seconds > 0 {
        eprintln!("test: fuzzing each target for {fuzz_seconds} s (cargo xtask fuzz)");
        crate::fuzz::run(root, fuzz_seconds, None)?;
    }
    // `--filter memmap` runs the boots the memory-map pictures are drawn from, and the pictures.
    let memmap = filter.is_none_or(|f| crate::memmap::TEST_NAME.contains(f));
    let cases: Vec<BootCase> = cases()
        .into_iter()
        .filter(|c| filter.is_none_or(|f| c.name.contains(f)) || (memmap && crate::memmap::TEST_BOOTS.contains(&c.name)))
        .collect();
    let mut binaries: Vec<String> = Vec::new();
    let mut boards: Vec<(Board, &str, Built)> = Vec::new();
    for case in &cases {
        if boards.iter().any(|(b, app, _)| b.name == case.board && *app == case.app) {
            continue;
        }
        let b = board::find(root, case.board)?;
        binaries.push(b.qemu.binary.clone());
        let built = image::build(root, &b, &BuildOpts { release: false, log_level: "info".into(), app: case.app.into() })?;
        boards.push((b, case.app, built));
    }
    let bins: Vec<&str> = binaries.iter().map(String::as_str).collect();
    crate::setup::ensure_qemu(&bins)?;
    for (b, _, _) in &boards {
        if cases.iter().any(|c| c.firmware && c.board == b.name) {
            crate::setup::ensure_host_tools(Firmware::for_board(b)?.host_tools())?;
        }
    }
    let initrds = test_initrds(root)?;
    let (mut passed, mut failed) = (0, 0);
    let mut logs: Vec<(&str, Vec<String>)> = Vec::new();
    for case in &cases {
        let (b, _, built) = boards.iter().find(|(b, app, _)| b.name == case.board && *app == case.app).expect("built above");
        let t = Instant::now();
        let (result, lines) = run_case(root, b, built, case, &initrds)?;
        if result.is_ok() {
            logs.push((case.name, lines));
        }
        match result {
            Ok(()) => {
                passed += 1;
                eprintln!("boot {:<24} ok ({:.1} s)", case.name, t.elapsed().as_secs_f64());
            }
            Err(report) => {
                failed += 1;
                eprintln!("boot {:<24} FAILED\n  {report}", case.name);
            }
        }
    }
    for (direct, fw) in TWINS {
        let log = |name: &str| logs.iter().find(|(n, _)| *n == name).map(|(_, l)| l.as_slice());
        let (Some(d), Some(f)) = (log(direct), log(fw)) else { continue };
        match compare_twins(d, f) {
            Ok(what) => {
                passed += 1;
                eprintln!("compare {direct} / {fw}: ok: {what}");
            }
            Err(why) => {
                failed += 1;
                eprintln!("compare {direct} / {fw}: FAILED: {why}");
            }
        }
    }
    if memmap {
        for (what, result) in crate::memmap::test_pictures(root, &logs) {
            match result {
                Ok(summary) => {
                    passed += 1;
                    eprintln!("{} {what}: ok: {summary}", crate::memmap::TEST_NAME);
                }
                Err(why) => {
                    failed += 1;
                    eprintln!("{} {what}: FAILED: {why:#}", crate::memmap::TEST_NAME);
                }
            }
        }
    }
    println!("qemu: {passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} boot(s) or comparison(s) failed");
    }
    Ok(())
}

/// The memory totals of one boot, from its log.
#[derive(Debug)]
struct Totals {
    /// memblock's `memory size` (RAM after the firmware map's sanitising).
    memory_size: u64,
    /// `Memory: A/B`: KiB available and KiB of RAM.
    available_kib: u64,
    total_kib: u64,
    /// Every early reservation: range (half-open) and what it is.
    reservations: Vec<(u64, u64, String)>,
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

fn totals(lines: &[String]) -> Result<Totals, String> {
    let find = |pat: &str| lines.iter().find_map(|l| l.split_once(pat).map(|(_, r)| r.to_owned()));
    let memory_size = find(" memory size = ")
        .and_then(|r| parse_hex(r.split_whitespace().next()?))
        .ok_or("no `memory size =` line")?;
    let mem = find("Memory: ").ok_or("no `Memory:` line")?;
    let (avail, rest) = mem.split_once("K/").ok_or("malformed `Memory:` line")?;
    let total = rest.split_once('K').ok_or("malformed `Memory:` line")?.0;
    let mut reservations = Vec::new();
    for l in lines {
        // `early reserve: [mem A-B] WHAT`, `OF: fdt: reserved [mem A-B] WHAT`,
        // `OF: reserved mem: [mem A-B] (...) WHAT`, all inclusive ends.
        let Some(r) = ["early reserve: [mem ", "OF: fdt: reserved [mem ", "OF: reserved mem: [mem "]
            .iter()
            .find_map(|p| l.split_once(p).map(|(_, r)| r))
        else {
            continue;
        };
        let Some((range, what)) = r.split_once("] ") else { continue };
        let Some((a, b)) = range.split_once('-') else { continue };
        if let (Some(a), Some(b)) = (parse_hex(a), parse_hex(b)) {
            reservations.push((a, b + 1, what.trim().to_owned()));
        }
    }
    Ok(Totals {
        memory_size,
        available_kib: avail.trim().parse().map_err(|_| "malformed `Memory:` line")?,
        total_kib: total.trim().parse().map_err(|_| "malformed `Memory:` line")?,
        reservations,
    })
}

/// Pages touched by the union of `ranges`.
fn pages(ranges: &[(u64, u64, String)]) -> std::collections::BTreeSet<u64> {
    ranges.iter().flat_map(|(a, b, _)| (a >> 12)..b.div_ceil(4096)).collect()
}

/// Compares a direct boot with its firmware twin: same RAM, and available memory that differs
/// by exactly the pages of the early reservations that differ. Says what those are.
fn compare_twins(direct: &[String], fw: &[String]) -> Result<String, String> {
    let (d, f) = (totals(direct)?, totals(fw)?);
    if d.memory_size != f.memory_size || d.total_kib != f.total_kib {
        return Err(format!(
            "the RAM differs: memory size {:#x} vs {:#x}, total {}K vs {}K",
            d.memory_size, f.memory_size, d.total_kib, f.total_kib
        ));
    }
    let (dp, fp) = (pages(&d.reservations), pages(&f.reservations));
    let only = |a: &Totals, other: &[(u64, u64, String)]| -> Vec<String> {
        a.reservations
            .iter()
            .filter(|r| !other.iter().any(|o| o.0 == r.0 && o.1 == r.1))
            .map(|(s, e, what)| format!("[mem {s:#x}-{:#x}] {what}", e - 1))
            .collect()
    };
    let explained = (fp.len() as i64 - dp.len() as i64) * 4;
    let diff = d.available_kib as i64 - f.available_kib as i64;
    let what = format!(
        "same RAM ({}K, memory size {:#x}); available {}K direct, {}K through the firmware: {} KiB {} through the firmware, \
         the pages of the early reservations that differ (firmware boot only: {}; direct boot only: {})",
        d.total_kib,
        d.memory_size,
        d.available_kib,
        f.available_kib,
        diff.abs(),
        if diff >= 0 { "less" } else { "more" },
        only(&f, &d.reservations).join(", "),
        only(&d, &f.reservations).join(", "),
    );
    if diff != explained {
        return Err(format!("{what}; but those reservations account for {explained} KiB, not {diff} KiB"));
    }
    Ok(what)
}
