//! The arm64 Image header and the first instructions, up to Rust.
//!
//! Documentation/arm64/booting.rst: the loader enters the first byte of the Image with the MMU
//! off, x0 = the device tree's physical address, at EL2 or EL1. The header's first word branches
//! over the rest of the header. Then, in order:
//! 1. check that we run where we were linked (`adr` vs the absolute address); if not, exit
//!    through semihosting with status 4: nothing else can report it yet;
//! 2. at EL2: make EL1 AArch64 (`HCR_EL2.RW`), give EL1 the counters, stop trapping FP/SIMD,
//!    hand EL1 the real MIDR/MPIDR, and `eret` to EL1 with DAIF masked. EL3 is not supported
//!    (status 5);
//! 3. at EL1: enable FP/SIMD (`CPACR_EL1.FPEN`) before any Rust runs (Rust uses the SIMD
//!    registers for memcpy and formatting), set the boot stack, clear .bss, install the vector
//!    table, and call the board's entry with the DTB address.
//!
//! The load-address check compares where the code runs with where it was linked (the board's
//! `load-address`, e.g. 0x40200000 on virt, 0x200000 on raspi3b where RAM starts at 0), so it
//! holds for any board. Secondary CPUs enter at `secondary_entry` (PSCI) or
//! `secondary_spin_entry` (spin table), both described in smp.rs.
#![allow(unsafe_code)] // assembly that runs before any Rust invariant holds.

core::arch::global_asm!(
    r#"
    /* EL2 -> EL1 at `target`, with DAIF masked. Clobbers x9. */
    .macro DROP_TO_EL1 target
    mov     x9, #(1 << 31)              /* HCR_EL2.RW: EL1 is AArch64; nothing trapped */
    msr     hcr_el2, x9
    mrs     x9, cnthctl_el2
    orr     x9, x9, #3                  /* EL1PCEN | EL1PCTEN: counters and timer at EL1 */
    msr     cnthctl_el2, x9
    msr     cntvoff_el2, xzr
    mov     x9, #0x33ff                 /* CPTR_EL2: RES1 bits, TFP clear (FP not trapped) */
    msr     cptr_el2, x9
    msr     hstr_el2, xzr
    mrs     x9, midr_el1
    msr     vpidr_el2, x9
    mrs     x9, mpidr_el1
    msr     vmpidr_el2, x9
    mov     x9, #0x0800
    movk    x9, #0x30d0, lsl #16        /* SCTLR_EL1 RES1 bits; MMU and caches off */
    msr     sctlr_el1, x9
    mov     x9, #0x3c5                  /* SPSR: EL1h, D, A, I, F masked */
    msr     spsr_el2, x9
    adr     x9, \target
    msr     elr_el2, x9
    isb
    eret
    .endm

    .section .text.head, "ax"
    .global _head
_head:
    b       primary_entry               /* code0 */
    .long   0                           /* code1 */
    .quad   0x200000                    /* text_offset */
    .quad   __kernel_size               /* image_size, including .bss */
    .quad   0x2                         /* flags: little endian, 4 KiB pages, near DRAM start */
    .quad   0                           /* res2 */
    .quad   0                           /* res3 */
    .quad   0                           /* res4 */
    .ascii  "ARM\x64"                   /* magic */
    .long   0                           /* res5: no PE header */

    .section .text.boot, "ax"
primary_entry:
    mrs     x21, cntpct_el0             /* the boot clock's zero (kernel::clock) */
    mov     x19, x0                     /* device tree */
    adr     x9, _head
    ldr     x10, =_head
    cmp     x9, x10
    b.eq    1f
    mov     x1, #4
    b       early_semihosting_exit
1:
    mrs     x9, CurrentEL
    lsr     x9, x9, #2
    mov     x20, x9                     /* exception level at entry */
    cmp     x9, #1
    b.eq    el1
    cmp     x9, #2
    b.eq    2f
    mov     x1, #5
    b       early_semihosting_exit
2:  DROP_TO_EL1 el1

el1:
    mov     x9, #(3 << 20)              /* CPACR_EL1.FPEN = 0b11: no FP/SIMD traps */
    msr     cpacr_el1, x9
    isb
    ldr     x9, =__boot_stack_top
    mov     sp, x9
    ldr     x9, =__bss_start
    ldr     x10, =__bss_end
3:  cmp     x9, x10
    b.hs    4f
    str     xzr, [x9], #8
    b       3b
4:
    ldr     x9, =exception_vectors
    msr     vbar_el1, x9
    isb
    mov     x0, x19
    mov     x1, x20
    mov     x2, x21
    bl      aarch64_board_entry
5:  wfe
    b       5b

/* Secondary CPUs released from a spin table (smp.rs): the firmware jumps here with the MMU
 * off, x0 = 0, at the EL the boot CPU was entered at. The block is the one `secondary_data`
 * holds (CPUs are started one at a time); a CPU whose MPIDR affinity is not the block's, or
 * that finds no block, parks here without touching anything. */
    .global secondary_spin_entry
secondary_spin_entry:
    ldr     x9, =secondary_data
    ldr     x0, [x9]
    cbz     x0, 10f
    ldr     x10, [x0, #{mpidr}]
    mrs     x11, mpidr_el1
    ldr     x12, =0xff00ffffff          /* Aff3 and Aff2..Aff0 */
    and     x11, x11, x12
    cmp     x10, x11
    b.eq    secondary_entry
10: wfe
    b       10b

/* Secondary CPUs (PSCI CPU_ON entry point, and the spin table's after the check above):
 * x0 = physical address of this CPU's `SecondaryBoot` block (see smp.rs): [0] TTBR0, [8] TCR,
 * [16] MAIR, [24] SCTLR, [32] stack top, [40] per-CPU base. MMU and caches are off, at EL2 or
 * EL1. */
    .global secondary_entry
secondary_entry:
    mov     x19, x0
    mrs     x9, CurrentEL
    lsr     x9, x9, #2
    cmp     x9, #2
    b.ne    7f
    DROP_TO_EL1 7f
7:
    mov     x9, #(3 << 20)              /* FP/SIMD on before any Rust */
    msr     cpacr_el1, x9
    ldr     x9, =exception_vectors
    msr     vbar_el1, x9
    ldr     x9, [x19, #16]
    msr     mair_el1, x9
    ldr     x9, [x19, #8]
    msr     tcr_el1, x9
    ldr     x9, [x19, #0]
    msr     ttbr0_el1, x9
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x9, [x19, #24]
    msr     sctlr_el1, x9               /* MMU and caches on: identity map, same tables */
    isb
    ldr     x9, [x19, #32]
    mov     sp, x9
    ldr     x9, [x19, #40]
    msr     tpidr_el1, x9
    mov     x0, x19
    bl      aarch64_secondary_rust
8:  wfe
    b       8b

/* Semihosting SYS_EXIT_EXTENDED(ADP_Stopped_ApplicationExit, x1) without a stack. */
early_semihosting_exit:
    adr     x2, early_exit_block
    str     x1, [x2, #8]
    mov     x1, x2
    mov     w0, #0x20
    hlt     #0xf000
6:  wfe
    b       6b

    .section .data.early_exit, "aw"
    .balign 8
early_exit_block:
    .quad   0x20026
    .quad   0
"#,
    mpidr = const crate::smp::SECONDARY_BOOT_MPIDR,
);
