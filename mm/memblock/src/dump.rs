//! The `MEMBLOCK configuration:` report, line for line as Linux prints it (`__memblock_dump_all`).
//!
//! Format (`memblock_dump`, CONFIG_NUMA, 64-bit `phys_addr_t` printed with `%pa` = `0x%016llx`;
//! with [`crate::PhysAddrWidth::Bits32`] every `%pa` is `0x%08x` instead, as on x86-32 without
//! PAE, where the dummy entry's end is `0xffffffff`):
//! ```text
//! MEMBLOCK configuration:
//!  memory size = 0x0000000007f7e000 reserved size = 0x0000000000a9c000
//!  memory.cnt  = 0x2
//!  memory[0x0]<TAB>[0x0000000000001000-0x000000000009efff], 0x000000000009e000 bytes flags: 0x0
//!  memory[0x1]<TAB>[0x0000000000100000-0x0000000007fdffff], 0x0000000007ee0000 bytes on node 0 flags: 0x0
//! ```
//! `<TAB>` stands for the tab character Linux prints after the index's `]`; ` on node N`
//! appears only when the nid is not `MAX_NUMNODES`.
//! An empty array is printed as Linux prints its dummy entry: `cnt = 0x1` and one zero-size
//! region `[0x0000000000000000-0xffffffffffffffff]`, on node 0 until the array was emptied by a
//! removal (Linux's static initialiser leaves nid 0, `memblock_remove_region` sets
//! `MAX_NUMNODES`). Unlike Linux's `memblock_dump_all`, this prints whether or not
//! `memblock=debug` is set: the caller decides.

use crate::array::RegionArray;
use crate::{Memblock, Pa, PhysAddrWidth, MAX_NUMNODES};
use core::fmt;
use mm_types::LineSink;

/// ` on node N`, or nothing for `MAX_NUMNODES`.
struct NodeSuffix(i32);

impl fmt::Display for NodeSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == MAX_NUMNODES {
            Ok(())
        } else {
            write!(f, " on node {}", self.0)
        }
    }
}

fn dump_type(t: &RegionArray<'_>, w: PhysAddrWidth, sink: &mut dyn LineSink) {
    let name = t.name;
    sink.line(format_args!(" {name}.cnt  = {:#x}", t.cnt.max(1)));
    if t.cnt == 0 {
        sink.line(format_args!(
            " {name}[0x0]\t[{}-{}], {} bytes{} flags: 0x0",
            Pa(0, w),
            Pa(u64::MAX, w),
            Pa(0, w),
            NodeSuffix(t.empty_nid)
        ));
    }
    for (idx, r) in t.as_slice().iter().enumerate() {
        sink.line(format_args!(
            " {name}[{idx:#x}]\t[{}-{}], {} bytes{} flags: {:#x}",
            Pa(r.base, w),
            Pa(r.end() - 1, w),
            Pa(r.size, w),
            NodeSuffix(r.nid),
            r.flags.0
        ));
    }
}

impl Memblock<'_> {
    /// Writes the `MEMBLOCK configuration:` report to `sink`, one line per call, exactly in
    /// Linux's `memblock_dump_all` format (see the module documentation).
    pub fn dump_all(&self, sink: &mut dyn LineSink) {
        sink.line(format_args!("MEMBLOCK configuration:"));
        sink.line(format_args!(
            " memory size = {} reserved size = {}",
            self.pa(self.memory.total_size),
            self.pa(self.reserved.total_size)
        ));
        dump_type(&self.memory, self.pa_width, sink);
        dump_type(&self.reserved, self.pa_width, sink);
    }
}
