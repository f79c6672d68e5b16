//! Per-CPU areas (Linux `setup_per_cpu_areas`, embed first chunk) and the accessor for the
//! calling CPU's area.
//!
//! Each possible CPU gets one unit carved from memblock on its own node (where NUMA applies; a
//! CPU of a memoryless node gets memory from any node, as `memblock_alloc_try_nid` falls back):
//! the [`PerCpuArea`], then that CPU's pagesets (one per populated zone, so the unit grows
//! with the machine's zones, not with `MAX_NODES`), then its boot stack. `per_cpu_offset[cpu]` is the unit's
//! linear-map address. A CPU finds its own unit through its per-CPU base register (x86-32: a
//! segment base in FS; AArch64: `TPIDR_EL1`), which holds the same address; the area's first
//! word repeats it and the second holds the logical CPU id, so assembly and the logger can read
//! them at fixed offsets.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use memblock::Memblock;
use mm_init::PlatformError;
use mm_types::{LineSink, PAGE_SIZE};

use crate::{CpuDesc, Firmware, PercpuBaseFn};

/// Most CPUs the framework brings up.
pub const NR_CPUS: usize = 8;
/// Bytes of stack of each secondary CPU: a vmalloc area, so that guard pages lie below and
/// above it (Linux's `CONFIG_VMAP_STACK`); the boot CPU keeps the image's boot stack.
pub const CPU_STACK_BYTES: usize = 64 << 10;

/// One CPU's per-CPU variables. `#[repr(C)]`: `self_ptr` at offset 0 and `cpu` at one word are
/// read by assembly and [`cpu_id_from_base`].
#[repr(C)]
#[derive(Debug)]
pub struct PerCpuArea {
    /// The area's own address (what the per-CPU base register holds).
    pub self_ptr: usize,
    /// Logical CPU id.
    pub cpu: usize,
    /// Hardware id (APIC id / MPIDR).
    pub hw_id: u64,
    /// NUMA node.
    pub nid: i32,
    /// Set when the CPU runs its per-CPU setup.
    pub online: AtomicBool,
    /// This CPU's page lists, one per populated zone (Linux `zone->per_cpu_pageset`), in the
    /// unit right after this header.
    pub pagesets: &'static page_alloc::PerCpuPagesets,
}

static PER_CPU_OFFSET: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(0) }; NR_CPUS];
static NR_POSSIBLE: AtomicUsize = AtomicUsize::new(1);
static BASE_FN: spin::Once<PercpuBaseFn> = spin::Once::new();

/// The logical CPU id for a per-CPU base (0 when no area is set up yet). The logger's `cpu_id`
/// hook uses it, so it must work from the first instruction: a zero base means the boot CPU.
pub fn cpu_id_from_base(base: usize) -> usize {
    if base == 0 {
        return 0;
    }
    // SAFETY: a non-zero per-CPU base is only ever set to a unit `setup_per_cpu_areas`
    // initialised and keeps reserved for the whole run.
    unsafe { (*(base as *const PerCpuArea)).cpu }
}

/// `per_cpu_offset(cpu)`: the address of `cpu`'s area, 0 if it has none.
pub fn per_cpu_offset(cpu: usize) -> usize {
    PER_CPU_OFFSET.get(cpu).map_or(0, |o| o.load(Ordering::Acquire))
}

/// Number of possible CPUs (areas set up).
pub fn nr_cpu_ids() -> usize {
    NR_POSSIBLE.load(Ordering::Acquire)
}

/// `cpu`'s area, if it exists.
pub fn per_cpu(cpu: usize) -> Option<&'static PerCpuArea> {
    let base = per_cpu_offset(cpu);
    // SAFETY: non-zero offsets point at initialised units that live (reserved) forever.
    (base != 0).then(|| unsafe { &*(base as *const PerCpuArea) })
}

/// The calling CPU's area (`this_cpu_ptr`), once areas exist.
pub fn this_cpu() -> Option<&'static PerCpuArea> {
    let base = (BASE_FN.get()?)();
    // SAFETY: as in `per_cpu`: the base register only ever holds a unit address.
    (base != 0).then(|| unsafe { &*(base as *const PerCpuArea) })
}

type Pageset = spin::Mutex<page_alloc::PerCpuPages>;

/// Offset of the pagesets in a unit: right after the header, aligned for them.
const fn pagesets_offset() -> usize {
    core::mem::size_of::<PerCpuArea>().next_multiple_of(core::mem::align_of::<Pageset>())
}

/// Bytes of the static part (header and `nr_pagesets` pagesets) and of the whole unit (that,
/// page-aligned).
const fn unit_layout(nr_pagesets: usize) -> (usize, usize) {
    let static_bytes = pagesets_offset() + nr_pagesets * core::mem::size_of::<Pageset>();
    (static_bytes, static_bytes.next_multiple_of(PAGE_SIZE as usize))
}

/// Carves one unit per CPU from memblock (node-local), initialises the areas with one boot
/// pageset per zone of `zones` (the populated zones, [`page_alloc::populated_zones`]), records
/// the offsets and makes the boot CPU's area current. Prints Linux's `percpu: Embedded …` line.
///
/// # Errors
/// [`PlatformError::Memblock`] when memblock cannot provide a unit.
pub fn setup_per_cpu_areas<P: Firmware>(
    platform: &P,
    base_fn: PercpuBaseFn,
    mb: &mut Memblock<'_>,
    max_low: u64,
    zones: &[(i32, page_alloc::ZoneType)],
    log: &mut dyn LineSink,
) -> Result<(), PlatformError> {
    let cpus: heapless::Vec<CpuDesc, NR_CPUS> = platform.possible_cpus().iter().copied().take(NR_CPUS).collect();
    let (static_bytes, unit) = unit_layout(zones.len());
    let unit = unit as u64;
    for (cpu, desc) in cpus.iter().enumerate() {
        let phys = mb
            .alloc_range(unit, PAGE_SIZE, 0, max_low, desc.nid, false)
            .map_err(|_| PlatformError::Memblock("no memory for a per-CPU unit"))?;
        let virt = platform.phys_to_virt(phys).ok_or(PlatformError::Memblock("per-CPU unit outside the linear map"))?;
        let area = virt as *mut PerCpuArea;
        let sets = (virt + pagesets_offset()) as *mut Pageset;
        // SAFETY: memblock just allocated [phys, phys + unit) for this unit and keeps it
        // reserved; `virt` is its linear-map address, writable, aligned to a page. The pagesets
        // lie in [virt + pagesets_offset(), virt + static_bytes), inside the unit, aligned for
        // them; each is written in place (not built on the stack) before the
        // slice over them exists, and nothing else refers to them.
        unsafe {
            for (i, &(nid, zone)) in zones.iter().enumerate() {
                sets.add(i).write(spin::Mutex::new(page_alloc::PerCpuPages::boot(nid, zone)));
            }
            (&raw mut (*area).self_ptr).write(virt);
            (&raw mut (*area).cpu).write(cpu);
            (&raw mut (*area).hw_id).write(desc.hw_id);
            (&raw mut (*area).nid).write(desc.nid);
            (&raw mut (*area).online).write(AtomicBool::new(cpu == 0));
            (&raw mut (*area).pagesets).write(core::slice::from_raw_parts(sets, zones.len()));
        }
        PER_CPU_OFFSET[cpu].store(virt, Ordering::Release);
        log.line(format_args!("percpu: cpu {cpu} (hw id {:#x}, node {}) unit at {}", desc.hw_id, desc.nid, mm_types::MemRange::new(phys, unit)));
    }
    NR_POSSIBLE.store(cpus.len(), Ordering::Release);
    BASE_FN.call_once(|| base_fn);
    let s = static_bytes;
    log.line(format_args!(
        "percpu: Embedded {} pages/cpu s{s} r0 d{} u{unit}",
        unit / PAGE_SIZE,
        unit as usize - s
    ));
    platform.set_percpu_base(per_cpu_offset(0));
    Ok(())
}

/// The calling CPU's logical id (`smp_processor_id`): 0 on the boot CPU and before the per-CPU
/// areas exist.
pub fn smp_processor_id() -> usize {
    this_cpu().map_or(0, |a| a.cpu)
}

/// The calling CPU's NUMA node (`numa_node_id`): 0 before the per-CPU areas exist.
pub fn numa_node_id() -> i32 {
    this_cpu().map_or(0, |a| a.nid)
}

/// One `T` per possible CPU (Linux's `DEFINE_PER_CPU`), each on its own cache lines so that CPUs
/// updating their own copy do not contend. [`PerCpu::get`] is the calling CPU's copy; another
/// CPU's is there too ([`PerCpu::get_on`], `per_cpu(var, cpu)`), which is why `T` must be `Sync`
/// to be shared (atomics, locks).
///
/// ```
/// use core::sync::atomic::{AtomicU64, Ordering};
/// use kernel::percpu::{CacheLine, PerCpu, NR_CPUS};
///
/// static EVENTS: PerCpu<AtomicU64> = PerCpu::new([const { CacheLine(AtomicU64::new(0)) }; NR_CPUS]);
/// EVENTS.get().fetch_add(1, Ordering::Relaxed);
/// let total: u64 = EVENTS.iter().map(|c| c.load(Ordering::Relaxed)).sum();
/// assert_eq!(total, 1);
/// ```
#[derive(Debug)]
pub struct PerCpu<T> {
    slots: [CacheLine<T>; NR_CPUS],
}

/// A value aligned to 64 bytes, so that it has its cache lines to itself.
#[derive(Debug)]
#[repr(align(64))]
pub struct CacheLine<T>(pub T);

impl<T> PerCpu<T> {
    /// Every CPU's initial value, each in its own [`CacheLine`].
    pub const fn new(slots: [CacheLine<T>; NR_CPUS]) -> Self {
        Self { slots }
    }

    /// The calling CPU's copy (`this_cpu_ptr`).
    pub fn get(&self) -> &T {
        &self.slots[smp_processor_id().min(NR_CPUS - 1)].0
    }

    /// CPU `cpu`'s copy, `None` beyond [`NR_CPUS`].
    pub fn get_on(&self, cpu: usize) -> Option<&T> {
        self.slots.get(cpu).map(|c| &c.0)
    }

    /// Every CPU's copy, CPU 0 first (`for_each_possible_cpu`).
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|c| &c.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicU64;

    #[test]
    fn each_cpu_has_its_own_copy_on_its_own_cache_lines() {
        static V: PerCpu<AtomicU64> = PerCpu::new([const { CacheLine(AtomicU64::new(0)) }; NR_CPUS]);
        V.get_on(3).unwrap().store(7, Ordering::Relaxed);
        // Before the per-CPU areas exist the caller is CPU 0.
        V.get().store(1, Ordering::Relaxed);
        let all: heapless::Vec<u64, NR_CPUS> = V.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(all[..4], [1, 0, 0, 7]);
        assert!(V.get_on(NR_CPUS).is_none());
        let (a, b) = (V.get_on(0).unwrap() as *const _ as usize, V.get_on(1).unwrap() as *const _ as usize);
        assert!(b - a >= 64 && a % 64 == 0);
        assert_eq!((smp_processor_id(), numa_node_id()), (0, 0));
    }
}
