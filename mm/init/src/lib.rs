//! The architecture-independent early memory path, from firmware hand-off to a memblock that
//! knows all RAM and everything that must not be handed out.
//!
//! This is the memory half of Linux's `setup_arch` (`e820__memblock_setup` on x86,
//! `setup_machine_fdt` + `arm64_memblock_init` on arm64), in one order for every platform:
//!
//! 1. the command line: `memblock=debug` turns on memblock's operation log;
//! 2. [`Platform::discover_memory`]: the firmware's description of RAM (e820 map, device-tree
//!    `/memory`) goes into `memblock.memory`, and the firmware's own map is printed;
//! 3. `mem=`: [`Platform::limit_memory`] (arm64 keeps the first N bytes of RAM, x86 removes RAM
//!    above address N, each as Linux does), before anything is reserved or allocated, as in
//!    `arm64_memblock_init` (dynamic reserved-memory regions must land below the limit);
//! 4. [`Platform::reserve_early`]: kernel image, boot page tables and stacks, the device tree or
//!    Multiboot data, initrd, firmware areas;
//! 5. the board's hook (`BoardReserve`) adds what only the board knows;
//! 6. `memblock_allow_resize`: from here the region arrays double by allocating from memblock;
//! 7. `memblock_dump_all`.
//!
//! Nothing here touches hardware: the platform does, behind [`Platform`]. The same code runs in
//! firmware and on the host (`cargo xtask memmap`, the tests below).
#![no_std]
#![forbid(unsafe_code)]

pub mod cma;
pub mod cmdline;
pub mod mem_init;
pub mod numa;
pub mod selfcheck;
#[cfg(test)]
mod test_support;
pub mod vmap;
pub mod zones;

use core::fmt;

use memblock::{Memblock, Region, RegionArrayMapper};
use mm_types::{LineSink, MemRange, PAGE_SIZE};

pub use cmdline::{Cmdline, CmdlineError};

/// Errors a platform reports while discovering memory or reserving its areas; the text names
/// what was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// The firmware handed over no usable memory description.
    NoMemoryMap(&'static str),
    /// The firmware's description was malformed.
    BadFirmwareData(&'static str),
    /// memblock refused an operation (array full before `allow_resize`, or out of memory).
    Memblock(&'static str),
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMemoryMap(why) => write!(f, "no memory map: {why}"),
            Self::BadFirmwareData(why) => write!(f, "bad firmware data: {why}"),
            Self::Memblock(why) => write!(f, "memblock: {why}"),
        }
    }
}

impl From<memblock::MemblockError> for PlatformError {
    fn from(e: memblock::MemblockError) -> Self {
        Self::Memblock(e.as_str())
    }
}

/// Why the early memory path stopped. The details were logged as the error was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// A recognised command-line parameter had a bad value.
    BadCmdline,
    /// Memory discovery failed.
    Discovery(PlatformError),
    /// An early reservation failed.
    Reservation(PlatformError),
    /// The board's reservation hook failed; the text is the board's.
    Board(&'static str),
    /// After discovery (and `mem=`, when `after_mem_limit`) no RAM is left.
    NoMemory { after_mem_limit: bool },
    /// A step of `mem_init` failed; the text names it.
    MemInit(&'static str),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadCmdline => f.write_str("bad boot command line"),
            Self::Discovery(e) => write!(f, "memory discovery failed: {e}"),
            Self::Reservation(e) => write!(f, "early reservation failed: {e}"),
            Self::Board(why) => write!(f, "board reservation hook failed: {why}"),
            Self::NoMemory { after_mem_limit: true } => f.write_str("no usable RAM left after discovery and mem="),
            Self::NoMemory { after_mem_limit: false } => f.write_str("no usable RAM: the firmware's memory map has none"),
            Self::MemInit(why) => write!(f, "mem_init: {why}"),
        }
    }
}

/// What `paging_init` leaves behind: where the linear map ends and how the zones split
/// (Linux's `max_low_pfn`, `max_pfn` and `max_zone_pfns[]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagingInfo {
    /// One past the last page frame reachable through the kernel's linear map (x86-32: lowmem
    /// end, at most 896 MiB; arm64: end of RAM).
    pub max_low_pfn: u64,
    /// One past the last page frame of RAM.
    pub max_pfn: u64,
    /// Upper PFN limit of each zone, `[DMA, Normal, HighMem]`, non-decreasing; a zone whose limit
    /// equals the previous one is empty (x86-32: 16 MiB, max_low_pfn, max_pfn; arm64:
    /// min(4 GiB, max_pfn), max_pfn, max_pfn).
    pub max_zone_pfns: [u64; 3],
}

/// The memory side of a platform: what the generic path asks of x86 PC, AArch64 and the host
/// simulations.
pub trait Platform {
    /// The boot command line as the firmware handed it over.
    fn cmdline(&self) -> &str;

    /// The width of the architecture's `phys_addr_t`, which memblock's dump and
    /// `memblock=debug` lines print in full (`%pa`). 64-bit unless the platform says otherwise
    /// (x86-32 without PAE: 32).
    fn phys_addr_width(&self) -> memblock::PhysAddrWidth {
        memblock::PhysAddrWidth::Bits64
    }

    /// Puts all RAM the firmware describes into `mb.memory` (with node ids where the firmware
    /// gives them) and prints the firmware's map in Linux's form.
    ///
    /// # Errors
    /// [`PlatformError::NoMemoryMap`] when the firmware gave no description,
    /// [`PlatformError::BadFirmwareData`] when it could not be read.
    fn discover_memory(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError>;

    /// Reserves what the platform knows must not be handed out: the kernel image, boot page
    /// tables and stacks, the device tree or Multiboot data, the initrd, firmware areas.
    ///
    /// # Errors
    /// [`PlatformError::Memblock`] when memblock cannot record a reservation.
    fn reserve_early(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError>;

    /// The `selftest=` modes this platform runs beyond [`cmdline::SELFTESTS`]; the boot path
    /// refuses any other mode before discovery.
    fn selftests(&self) -> &'static [&'static str] {
        &[]
    }

    /// Applies `mem=LIMIT`. The default is arm64's `memblock_mem_limit_remove_map`: keep the
    /// first `limit` bytes of RAM, in address order, whatever their addresses.
    ///
    /// # Errors
    /// Implementations that edit a firmware map may fail; the default does not.
    fn limit_memory(&mut self, mb: &mut Memblock<'_>, limit: u64, log: &mut dyn LineSink) -> Result<(), PlatformError> {
        // arm64 `early_mem` prints this for every mem=, 0 included; memblock then ignores a
        // zero limit (`memblock_mem_limit_remove_map`), so mem=0 keeps all RAM, as on x86.
        log.line(format_args!("Memory limited to {}MB", limit >> 20));
        mb.enforce_memory_limit(limit);
        Ok(())
    }
}

/// Reserves `[base, base + size)` for `owner` and logs it as
/// `early reserve: [mem 0x…-0x…] owner`; every early reservation goes through here so the log
/// names the owner of each reserved range.
///
/// # Errors
/// [`PlatformError::Memblock`] when memblock cannot record it.
pub fn reserve_logged(
    mb: &mut Memblock<'_>,
    base: u64,
    size: u64,
    owner: &str,
    log: &mut dyn LineSink,
) -> Result<(), PlatformError> {
    mb.reserve(base, size)?;
    log.line(format_args!("early reserve: {} {owner}", MemRange::new(base, size)));
    Ok(())
}

/// A board's own reservations in code, run after the platform's and the board's data ones.
pub type BoardReserve = fn(&mut Memblock<'_>, &mut dyn LineSink) -> Result<(), &'static str>;

/// One `[[reserve]]` entry of a board description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardReservation {
    pub base: u64,
    pub size: u64,
    /// Who owns the range (printed, and drawn on the memory map).
    pub name: &'static str,
}

/// What the board description says about memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct BoardMemory<'b> {
    /// RAM banks `(base, size)` the board has at its default memory size; empty: not said.
    pub ram: &'b [(u64, u64)],
    /// Ranges to reserve, checked against what discovery found.
    pub reserve: &'b [BoardReservation],
    /// Code for what data cannot say.
    pub hook: Option<BoardReserve>,
}

/// Makes the board's reservations (step 5): each must be page-aligned and must not overlap a
/// reservation already made (the kernel, the device tree, …): that would mean two owners for one
/// page. One outside discovered RAM is still recorded (as Linux's `memblock_reserve` does) but
/// reported.
fn board_reservations(mb: &mut Memblock<'_>, board: &BoardMemory<'_>, log: &mut dyn LineSink) -> Result<(), &'static str> {
    for r in board.reserve {
        let range = MemRange::new(r.base, r.size);
        if r.size == 0 || r.base % PAGE_SIZE != 0 || r.size % PAGE_SIZE != 0 || r.base.checked_add(r.size).is_none() {
            log.line(format_args!("board reserve {:?}: {range} is empty, not page-aligned or wraps", r.name));
            return Err("a board reservation is malformed (board.toml [[reserve]])");
        }
        let end = r.base + r.size;
        if let Some(o) = mb.reserved().iter().find(|o| o.base < end && r.base < o.base + o.size) {
            log.line(format_args!(
                "board reserve {:?}: {range} overlaps the reservation {} made before it",
                r.name,
                MemRange::new(o.base, o.size)
            ));
            return Err("a board reservation overlaps an earlier one (board.toml [[reserve]])");
        }
        let inside = mb.memory().iter().any(|m| m.base <= r.base && end <= m.base + m.size);
        mb.reserve(r.base, r.size).map_err(|_| "memblock could not record a board reservation")?;
        log.line(format_args!(
            "early reserve: {range} board: {}{}",
            r.name,
            if inside { "" } else { " (not inside discovered RAM)" }
        ));
    }
    if !board.ram.is_empty() {
        let found = mb.memory();
        let same = found.len() == board.ram.len()
            && found.iter().zip(board.ram).all(|(m, &(b, s))| m.base == b && m.size == s);
        if !same {
            for &(b, s) in board.ram {
                log.line(format_args!("board: expected RAM {} (board.toml [memory] banks)", MemRange::new(b, s)));
            }
            log.line(format_args!(
                "board: discovered RAM differs from the board description ({} region(s), {} KiB): discovery is used",
                found.len(),
                mb.phys_mem_size() >> 10
            ));
        }
    }
    if let Some(hook) = board.hook {
        hook(mb, log)?;
    }
    Ok(())
}

/// Where memblock's arrays live and how they grow.
pub struct MemblockStorage<'a> {
    /// The initial (static) arrays, `INIT_MEMBLOCK_REGIONS` entries each in firmware.
    pub memory: &'a mut [Region],
    pub reserved: &'a mut [Region],
    /// Turns a physical address memblock chose into storage for a doubled array.
    pub mapper: &'a mut dyn RegionArrayMapper<'a>,
}

impl fmt::Debug for MemblockStorage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemblockStorage")
            .field("memory", &self.memory.len())
            .field("reserved", &self.reserved.len())
            .finish_non_exhaustive()
    }
}

/// Runs steps 1-7 of the module documentation and returns the populated memblock.
///
/// `debug_log` receives memblock's per-operation lines when `memblock=debug` is given.
///
/// # Errors
/// The first failing step, already logged with the details.
pub fn setup_memblock<'a>(
    platform: &mut dyn Platform,
    storage: MemblockStorage<'a>,
    board: &BoardMemory<'_>,
    debug_log: fn(fmt::Arguments<'_>),
    log: &mut dyn LineSink,
) -> Result<Memblock<'a>, BootError> {
    let cmdline_text = platform.cmdline();
    let cmdline = Cmdline::new(cmdline_text);
    let debug = cmdline.memblock_debug().map_err(|e| {
        log.line(format_args!("command line: {e}"));
        BootError::BadCmdline
    })?;
    let mem_limit = cmdline.mem_limit().map_err(|e| {
        log.line(format_args!("command line: {e}"));
        BootError::BadCmdline
    })?;
    let selftest = cmdline.selftest_checked(platform.selftests()).map_err(|e| {
        log.line(format_args!("command line: {e}"));
        BootError::BadCmdline
    })?;
    let selftest_panic = selftest == Some("panic");

    let mut mb = Memblock::new(storage.memory, storage.reserved);
    mb.set_phys_addr_width(platform.phys_addr_width());
    if debug {
        mb.set_debug(Some(debug_log));
    }
    platform.discover_memory(&mut mb, log).map_err(|e| {
        log.line(format_args!("memory discovery: {e}"));
        BootError::Discovery(e)
    })?;
    if let Some(limit) = mem_limit {
        platform.limit_memory(&mut mb, limit, log).map_err(|e| {
            log.line(format_args!("mem=: {e}"));
            BootError::Discovery(e)
        })?;
    }
    if mb.phys_mem_size() == 0 {
        log.line(format_args!("no RAM left after discovery{}", if mem_limit.is_some() { " and mem=" } else { "" }));
        return Err(BootError::NoMemory { after_mem_limit: mem_limit.is_some() });
    }
    platform.reserve_early(&mut mb, log).map_err(|e| {
        log.line(format_args!("early reservations: {e}"));
        BootError::Reservation(e)
    })?;
    {
        board_reservations(&mut mb, board, log).map_err(|why| {
            log.line(format_args!("board reservations: {why}"));
            BootError::Board(why)
        })?;
    }
    if selftest_panic {
        panic!("selftest=panic: forced panic after memory discovery, as asked on the command line");
    }
    mb.allow_resize(storage.mapper);
    mb.dump_all(log);
    log.line(format_args!(
        "memblock: {} KiB RAM in {} region(s) {}, {} KiB reserved",
        mb.phys_mem_size() >> 10,
        mb.memory().len(),
        MemRange::new(mb.start_of_dram(), mb.end_of_dram() - mb.start_of_dram()),
        mb.reserved_size() >> 10
    ));
    Ok(mb)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use memblock::INIT_MEMBLOCK_REGIONS;

    use crate::test_support::EMPTY;

    use crate::test_support::Lines;

    /// Hands out leaked vectors as doubled arrays.
    struct VecMapper;
    impl<'a> RegionArrayMapper<'a> for VecMapper {
        fn map(&mut self, _phys: u64, count: usize) -> Option<&'a mut [Region]> {
            Some(std::vec![EMPTY; count].leak())
        }
    }

    /// Two banks like a small PC: [4K, 636K) and [1M, 128M - 128K), kernel at 1 MiB.
    struct FakePc {
        cmdline: &'static str,
        fail_discovery: bool,
    }
    impl Platform for FakePc {
        fn cmdline(&self) -> &str {
            self.cmdline
        }
        fn discover_memory(&mut self, mb: &mut Memblock<'_>, log: &mut dyn LineSink) -> Result<(), PlatformError> {
            if self.fail_discovery {
                return Err(PlatformError::NoMemoryMap("the loader gave no map"));
            }
            mb.add(0x1000, 0x9e000)?;
            mb.add(0x10_0000, 0x7ee_0000)?;
            log.line(format_args!("fake: 2 banks"));
            Ok(())
        }
        fn reserve_early(&mut self, mb: &mut Memblock<'_>, _log: &mut dyn LineSink) -> Result<(), PlatformError> {
            mb.reserve(0x10_0000, 0x4_0000)?;
            Ok(())
        }
        fn limit_memory(&mut self, mb: &mut Memblock<'_>, limit: u64, _log: &mut dyn LineSink) -> Result<(), PlatformError> {
            // x86 style: the limit is an address.
            mb.remove(limit, u64::MAX - limit)?;
            Ok(())
        }
    }

    fn storage() -> MemblockStorage<'static> {
        MemblockStorage {
            memory: std::vec![EMPTY; INIT_MEMBLOCK_REGIONS].leak(),
            reserved: std::vec![EMPTY; INIT_MEMBLOCK_REGIONS].leak(),
            mapper: std::boxed::Box::leak(std::boxed::Box::new(VecMapper)),
        }
    }

    fn ignore(_: fmt::Arguments<'_>) {}

    #[test]
    fn the_path_adds_reserves_and_dumps() {
        let mut log = Lines::default();
        let mut pc = FakePc { cmdline: "", fail_discovery: false };
        let mb = setup_memblock(&mut pc, storage(), &BoardMemory::default(), ignore, &mut log).unwrap();
        assert_eq!(mb.phys_mem_size(), 0x9e000 + 0x7ee_0000);
        assert_eq!(mb.reserved_size(), 0x4_0000);
        assert!(log.0.iter().any(|l| l == "MEMBLOCK configuration:"));
        assert!(log.0.iter().any(|l| l.starts_with("memblock: 130552 KiB RAM in 2 region(s)")));
    }

    #[test]
    fn board_hook_runs_after_the_platform() {
        fn board(mb: &mut Memblock<'_>, _: &mut dyn LineSink) -> Result<(), &'static str> {
            assert!(mb.is_region_reserved(0x10_0000, 0x1000), "platform reservations come first");
            mb.reserve(0x200_0000, 0x1000).map_err(|_| "board: cannot reserve")
        }
        let mut log = Lines::default();
        let mut pc = FakePc { cmdline: "", fail_discovery: false };
        let data = [BoardReservation { base: 0x300_0000, size: 0x2000, name: "frame buffer" }];
        let board_mem = BoardMemory { ram: &[], reserve: &data, hook: Some(board) };
        let mb = setup_memblock(&mut pc, storage(), &board_mem, ignore, &mut log).unwrap();
        assert!(mb.is_region_reserved(0x200_0000, 0x1000));
        assert!(mb.is_region_reserved(0x300_0000, 0x2000));
        assert_eq!(mb.reserved_size(), 0x4_3000);
        assert!(log.0.iter().any(|l| l.contains("board: frame buffer") && !l.contains("not inside")), "{:?}", log.0);
    }

    #[test]
    fn board_reservations_are_checked() {
        let run = |r: BoardReservation| {
            let mut log = Lines::default();
            let mut pc = FakePc { cmdline: "", fail_discovery: false };
            let data = [r];
            let board_mem = BoardMemory { ram: &[], reserve: &data, hook: None };
            (setup_memblock(&mut pc, storage(), &board_mem, ignore, &mut log).map(|mb| mb.reserved_size()), log.0)
        };
        // Overlapping the platform's kernel reservation: two owners for one page.
        let (r, log) = run(BoardReservation { base: 0x13_f000, size: 0x2000, name: "fw" });
        assert!(matches!(r, Err(BootError::Board(_))), "{r:?}");
        assert!(log.iter().any(|l| l.contains("\"fw\"") && l.contains("overlaps")), "{log:?}");
        // Not page-aligned.
        let (r, log) = run(BoardReservation { base: 0x200_0800, size: 0x1000, name: "odd" });
        assert!(matches!(r, Err(BootError::Board(_))), "{r:?}");
        assert!(log.iter().any(|l| l.contains("not page-aligned")), "{log:?}");
        // Outside RAM (the hole at 0x9f000): recorded, and said.
        let (r, log) = run(BoardReservation { base: 0xa_0000, size: 0x1000, name: "vga" });
        assert_eq!(r, Ok(0x4_1000));
        assert!(log.iter().any(|l| l.contains("vga (not inside discovered RAM)")), "{log:?}");
    }

    #[test]
    fn expected_ram_is_compared_with_discovery() {
        let run = |ram: &[(u64, u64)]| {
            let mut log = Lines::default();
            let mut pc = FakePc { cmdline: "", fail_discovery: false };
            let board_mem = BoardMemory { ram, reserve: &[], hook: None };
            setup_memblock(&mut pc, storage(), &board_mem, ignore, &mut log).unwrap();
            log.0
        };
        let same = run(&[(0x1000, 0x9e000), (0x10_0000, 0x7ee_0000)]);
        assert!(!same.iter().any(|l| l.contains("board:")), "{same:?}");
        let differs = run(&[(0x1000, 0x9e000), (0x10_0000, 0x3ee_0000)]);
        assert!(differs.iter().any(|l| l.contains("discovered RAM differs")), "{differs:?}");
    }

    #[test]
    fn mem_limit_goes_through_the_platform() {
        let mut log = Lines::default();
        let mut pc = FakePc { cmdline: "mem=64M", fail_discovery: false };
        let mb = setup_memblock(&mut pc, storage(), &BoardMemory::default(), ignore, &mut log).unwrap();
        assert_eq!(mb.end_of_dram(), 64 << 20);
        assert_eq!(mb.phys_mem_size(), 0x9e000 + (64 << 20) - 0x10_0000);
    }

    #[test]
    fn default_mem_limit_keeps_the_first_bytes() {
        struct Arm(&'static str);
        impl Platform for Arm {
            fn cmdline(&self) -> &str {
                self.0
            }
            fn discover_memory(&mut self, mb: &mut Memblock<'_>, _: &mut dyn LineSink) -> Result<(), PlatformError> {
                mb.add(0x4000_0000, 0x100_0000)?;
                mb.add(0x8000_0000, 0x100_0000)?;
                Ok(())
            }
            fn reserve_early(&mut self, _: &mut Memblock<'_>, _: &mut dyn LineSink) -> Result<(), PlatformError> {
                Ok(())
            }
        }
        let mut log = Lines::default();
        let mb = setup_memblock(&mut Arm("mem=0x1800000"), storage(), &BoardMemory::default(), ignore, &mut log).unwrap();
        assert_eq!(mb.phys_mem_size(), 0x180_0000);
        assert_eq!(mb.end_of_dram(), 0x8080_0000);
        assert!(log.0.iter().any(|l| l == "Memory limited to 24MB"), "{:#?}", log.0);
        // mem=0: Linux's line, and no limit at all (the same outcome as x86's "ignored").
        let mut log = Lines::default();
        let mb = setup_memblock(&mut Arm("mem=0"), storage(), &BoardMemory::default(), ignore, &mut log).unwrap();
        assert_eq!(mb.phys_mem_size(), 0x200_0000);
        assert!(log.0.iter().any(|l| l == "Memory limited to 0MB"), "{:#?}", log.0);
    }

    #[test]
    fn errors_are_logged_and_returned() {
        let mut log = Lines::default();
        let mut pc = FakePc { cmdline: "", fail_discovery: true };
        let e = setup_memblock(&mut pc, storage(), &BoardMemory::default(), ignore, &mut log).unwrap_err();
        assert_eq!(e, BootError::Discovery(PlatformError::NoMemoryMap("the loader gave no map")));
        assert!(log.0.iter().any(|l| l.contains("the loader gave no map")));

        let mut log = Lines::default();
        let mut pc = FakePc { cmdline: "mem=huge", fail_discovery: false };
        assert_eq!(setup_memblock(&mut pc, storage(), &BoardMemory::default(), ignore, &mut log).unwrap_err(), BootError::BadCmdline);
        assert!(log.0.iter().any(|l| l.contains("mem=huge: not a size")));

        let mut log = Lines::default();
        let mut pc = FakePc { cmdline: "mem=4K", fail_discovery: false };
        let e = setup_memblock(&mut pc, storage(), &BoardMemory::default(), ignore, &mut log).unwrap_err();
        assert_eq!(e, BootError::NoMemory { after_mem_limit: true });
        assert_eq!(std::format!("{e}"), "no usable RAM left after discovery and mem=");

        // An unknown selftest= mode stops the boot like a bad memblock= value, naming the mode.
        let mut log = Lines::default();
        let mut pc = FakePc { cmdline: "selftest=bogus", fail_discovery: false };
        assert_eq!(setup_memblock(&mut pc, storage(), &BoardMemory::default(), ignore, &mut log).unwrap_err(), BootError::BadCmdline);
        assert!(log.0.iter().any(|l| l.starts_with("command line: selftest=bogus: no such self-test; known: panic, ")), "{:?}", log.0);
    }

    /// Without mem= the message does not blame it.
    #[test]
    fn no_ram_without_mem_limit_does_not_mention_it() {
        struct Empty;
        impl Platform for Empty {
            fn cmdline(&self) -> &str {
                ""
            }
            fn discover_memory(&mut self, _: &mut Memblock<'_>, _: &mut dyn LineSink) -> Result<(), PlatformError> {
                Ok(())
            }
            fn reserve_early(&mut self, _: &mut Memblock<'_>, _: &mut dyn LineSink) -> Result<(), PlatformError> {
                Ok(())
            }
        }
        let mut log = Lines::default();
        let e = setup_memblock(&mut Empty, storage(), &BoardMemory::default(), ignore, &mut log).unwrap_err();
        assert_eq!(e, BootError::NoMemory { after_mem_limit: false });
        assert!(!std::format!("{e}").contains("mem="), "{e}");
    }

    fn map_vec<'a>() -> impl FnMut(u64, usize) -> Option<&'a mut [page_alloc::Page]> {
        |_phys, count| Some(std::vec![page_alloc::Page::INIT; count].leak())
    }

    /// i386 without CONFIG_CMA: no areas.
    fn no_cma() -> page_alloc::cma::CmaAreas {
        page_alloc::cma::CmaAreas::new(10, false)
    }

    /// The same PC with a 16 MiB CMA area declared (as `cma=16M` would on a kernel with CMA),
    /// pageblock_order 10: Expect the `Memory:` line to count it as `cma-reserved` and leave it
    /// out of `reserved` (Linux: reserved = present - managed - totalcma), then the activation to
    /// make it 4 MiB MIGRATE_CMA pageblocks, managed and free, with present = managed + reserved.
    #[test]
    fn mem_init_activates_a_cma_area_after_the_memory_line() {
        let mut log = Lines::default();
        let mut pc = FakePc { cmdline: "", fail_discovery: false };
        let mut mb = setup_memblock(&mut pc, storage(), &BoardMemory::default(), ignore, &mut log).unwrap();
        let mut cma = page_alloc::cma::CmaAreas::new(10, false);
        let c = cma::CmaConfig { size_bytes: 16 << 20, phys_addr_64bit: false };
        let i = cma::dma_contiguous_reserve(&mut mb, &mut cma, None, &c, 0, 0x7fe_0000, &mut log).unwrap();
        // Top-down, 4 MiB aligned, below the end of RAM 0x7fe0000: [0x6c00000, 0x7c00000).
        assert_eq!(cma.get(i).unwrap().base(), 0x6c0_0000);
        assert_eq!(log.0.last().unwrap(), "cma: Reserved 16 MiB at 0x06c00000");
        let paging = PagingInfo { max_low_pfn: 0x7fe0, max_pfn: 0x7fe0, max_zone_pfns: [0x1000, 0x7fe0, 0x7fe0] };
        let mut map = map_vec();
        let sections = page_alloc::KernelSections::default();
        let (node, rep) =
            mem_init::mem_init(page_alloc::ArchConfig::X86_32, &paging, mb, node0(), &mut map, &sections, &page_alloc::default_distance, &mut cma, &mut log).unwrap();
        let line = log.0.iter().find(|l| l.starts_with("Memory: ")).unwrap();
        let present = 130_552 / 4;
        let managed_at_line = rep.freed_pages;
        let reserved_k = (present - managed_at_line - 4096) * 4;
        assert!(
            line.ends_with(&std::format!(" {reserved_k}K reserved, 16384K cma-reserved, 0K highmem)")),
            "{line}"
        );
        assert!(line.starts_with(&std::format!("Memory: {}K/130552K available", managed_at_line * 4)), "{line}");
        let at = log.0.iter().position(|l| l.starts_with("Memory: ")).unwrap();
        let act = log.0.iter().position(|l| l.starts_with("cma: 1 area(s), 4096 pages now MIGRATE_CMA pageblocks; present 32638 = managed ")).unwrap();
        assert!(act > at, "activation after the Memory line");
        assert_eq!(rep.cma_pages, 4096);
        assert_eq!(node.totalram_pages(), rep.freed_pages + 4096);
        assert_eq!(node.nr_free_pages(), rep.freed_pages + 4096);
        assert_eq!(rep.present_pages, node.totalram_pages() + rep.reserved_pages);
        let z = node.zone(0, page_alloc::ZoneType::Normal).unwrap();
        assert_eq!((z.cma_pages, z.free_cma_pages()), (4096, 4096));
        node.check().unwrap();
    }

    /// Node 0 alone online, its data leaked (a non-NUMA build's `contig_page_data`).
    fn node0<'a>() -> [Option<&'a mut page_alloc::Node<'a>>; page_alloc::MAX_NODES] {
        let mut d: [Option<&'a mut page_alloc::Node<'a>>; page_alloc::MAX_NODES] = core::array::from_fn(|_| None);
        d[0] = Some(std::boxed::Box::leak(std::boxed::Box::new(page_alloc::Node::memoryless(page_alloc::ArchConfig::X86_32, 0))));
        d
    }

    #[test]
    fn mem_init_on_a_128m_pc_accounts_for_every_page() {
        let mut log = Lines::default();
        let mut pc = FakePc { cmdline: "", fail_discovery: false };
        let mb = setup_memblock(&mut pc, storage(), &BoardMemory::default(), ignore, &mut log).unwrap();
        let reserved_before = mb.reserved_size();
        let free_before: u64 = mb.free_ranges(memblock::NUMA_NO_NODE).map(|(s, e, _)| (e >> 12) - ((s + 4095) >> 12)).sum();
        let paging = PagingInfo { max_low_pfn: 0x7fe0, max_pfn: 0x7fe0, max_zone_pfns: [0x1000, 0x7fe0, 0x7fe0] };
        let mut map = map_vec();
        let sections = page_alloc::KernelSections::default();
        let (node, rep) =
            mem_init::mem_init(page_alloc::ArchConfig::X86_32, &paging, mb, node0(), &mut map, &sections, &page_alloc::default_distance, &mut no_cma(), &mut log).unwrap();
        // 0x7fe0 pfns of map, 12 bytes each, and the usemap's 64 entries (one per 512 pages,
        // rounded up) after them; the map itself comes from memblock.
        assert_eq!(rep.map_pages, 0x7fe0);
        assert_eq!(rep.map_bytes, (0x7fe0 + 64) * 12);
        // The map (97 pages) came out of what memblock had free; the rest was handed over.
        let _ = reserved_before;
        assert_eq!(rep.freed_pages, free_before - 97);
        // Linux: Memory: …K/130552K available.
        assert_eq!(rep.present_pages, 130_552 / 4);
        assert_eq!(rep.present_pages, rep.freed_pages + rep.reserved_pages);
        assert_eq!(node.nr_free_pages(), rep.freed_pages);
        assert!(log.0.iter().any(|l| l.starts_with("Memory: ") && l.contains("K/130552K available")), "{:#?}", log.0);
        assert!(log.0.iter().any(|l| l == "Zone ranges:"));
        assert!(log.0.iter().any(|l| l.starts_with("mem_map: node 0: 32736 pages x 12 bytes + usemap 64 x 12 bytes = 384 KiB")), "{:#?}", log.0);
        assert!(log.0.iter().any(|l| l.starts_with("Built 1 zonelists, mobility grouping on.  Total pages: ")), "{:#?}", log.0);
    }

    #[test]
    fn drain_check_restores_buddyinfo_and_discard_frees_grown_arrays() {
        let mut log = Lines::default();
        let mut pc = FakePc { cmdline: "", fail_discovery: false };
        let mut mb = setup_memblock(&mut pc, storage(), &BoardMemory::default(), ignore, &mut log).unwrap();
        // 200 separate reservations make the reserved array grow past its 128 static entries.
        for i in 0..200u64 {
            mb.reserve(0x100_0000 + i * 0x2000, 0x1000).unwrap();
        }
        assert!(mb.reserved_array_base().is_some(), "the reserved array was doubled from memblock");
        let paging = PagingInfo { max_low_pfn: 0x7fe0, max_pfn: 0x7fe0, max_zone_pfns: [0x1000, 0x7fe0, 0x7fe0] };
        let mut map = map_vec();
        let (mut node, rep) = mem_init::mem_init(
            page_alloc::ArchConfig::X86_32,
            &paging,
            mb,
            node0(),
            &mut map,
            &page_alloc::KernelSections::default(),
            &page_alloc::default_distance,
            &mut no_cma(),
            &mut log,
        )
        .unwrap();
        assert!(log.0.iter().any(|l| l.starts_with("memblock: reserved array (256 regions) at ")), "{:#?}", log.0);
        assert_eq!(rep.present_pages, rep.freed_pages + rep.reserved_pages);
        let mut blocks = std::vec![(0u64, 0u32); 4096];
        let drained = selfcheck::drain_and_restore(&mut node, &mut blocks, &mut log).unwrap();
        assert_eq!(drained.pages, rep.freed_pages);
        // Too little scratch space is an error, not a silent partial check.
        let mut few = std::vec![(0u64, 0u32); 3];
        assert_eq!(
            selfcheck::drain_and_restore(&mut node, &mut few, &mut log),
            Err("more free blocks than the self-check can track")
        );
        assert_eq!(node.nr_free_pages(), rep.freed_pages, "the failed check gave every page back");
        node.check().unwrap();
    }

    #[test]
    fn mem_init_without_room_for_mem_map_is_an_error() {
        let mut log = Lines::default();
        let mut pc = FakePc { cmdline: "", fail_discovery: false };
        let mb = setup_memblock(&mut pc, storage(), &BoardMemory::default(), ignore, &mut log).unwrap();
        // A linear map too small to hold the map.
        let paging = PagingInfo { max_low_pfn: 0x2, max_pfn: 0x7fe0, max_zone_pfns: [0x1000, 0x7fe0, 0x7fe0] };
        let mut map = map_vec();
        let e = mem_init::mem_init(
            page_alloc::ArchConfig::X86_32,
            &paging,
            mb,
            node0(),
            &mut map,
            &page_alloc::KernelSections::default(),
            &page_alloc::default_distance,
            &mut no_cma(),
            &mut log,
        )
        .unwrap_err();
        assert_eq!(e, BootError::MemInit("cannot allocate the page-metadata array (mem_map) from memblock"));
    }

    #[test]
    #[should_panic(expected = "selftest=panic")]
    fn selftest_panic_panics() {
        let mut log = Lines::default();
        let mut pc = FakePc { cmdline: "selftest=panic", fail_discovery: false };
        let _ = setup_memblock(&mut pc, storage(), &BoardMemory::default(), ignore, &mut log);
    }
}
