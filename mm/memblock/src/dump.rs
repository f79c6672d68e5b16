//! The `MEMBLOCK configuration:` report, line for line as Linux prints it (`__memblock_dump_all`).
//!
//! Format (`memblock_dump`, CONFIG_NUMA, 64-bit `phys_addr_t` printed with `%pa` = `0x%016llx`):
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
use crate::{Memblock, MAX_NUMNODES};
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

fn dump_type(t: &RegionArray<'_>, sink: &mut dyn LineSink) {
    let name = t.name;
    sink.line(format_args!(" {name}.cnt  = {:#x}", t.cnt.max(1)));
    if t.cnt == 0 {
        sink.line(format_args!(
            " {name}[0x0]\t[{:#018x}-{:#018x}], {:#018x} bytes{} flags: 0x0",
            0,
            u64::MAX,
            0,
            NodeSuffix(t.empty_nid)
        ));
    }
    for (idx, r) in t.as_slice().iter().enumerate() {
        sink.line(format_args!(
            " {name}[{idx:#x}]\t[{:#018x}-{:#018x}], {:#018x} bytes{} flags: {:#x}",
            r.base,
            r.end() - 1,
            r.size,
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
            " memory size = {:#018x} reserved size = {:#018x}",
            self.memory.total_size, self.reserved.total_size
        ));
        dump_type(&self.memory, sink);
        dump_type(&self.reserved, sink);
    }
}
