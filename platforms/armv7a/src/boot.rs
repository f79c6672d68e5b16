//! The first instructions, up to Rust (Linux's ARM boot protocol, Documentation/arm/booting.rst).
//!
//! The loader (QEMU's `-kernel`, U-Boot's `bootz`) enters the first byte of the image in ARM
//! state with the MMU and data cache off, r0 = 0, r1 = the machine type and r2 = the device
//! tree's physical address, in SVC mode or, on a CPU with the Virtualization Extensions started
//! in Hyp mode (`-machine virt,virtualization=on`), in Hyp mode. The first words are a zImage
//! header (the magic 0x016f2818 at offset 0x24, as U-Boot's `bootz` checks). Then, in order:
//! 1. the counter's value is kept as the boot clock's zero: `CNTPCT` when `ID_PFR1` says the
//!    CPU has the generic timer, else (Cortex-A9/A5) the MPCore global timer at `PERIPHBASE`
//!    (`CBAR`) + 0x200, enabled here if the boot loader has not (timer.rs);
//! 2. check that we run where we were linked (`adr` against the literal address); if not, exit
//!    through semihosting with status 4: nothing else can report it yet;
//! 3. in Hyp mode: give PL1 the counters, trap nothing, hand PL1 the real MIDR/MPIDR and `eret`
//!    to SVC with A, I and F masked (Linux's `safe_svcmode_maskall`); any other mode but SVC is
//!    refused with status 5;
//! 4. in SVC: `ACTLR.SMP` (Linux's `__v7_setup`), the boot stack, .bss cleared, what step 1
//!    found in `ARMV7A_EARLY_CLOCK`, the vector table in `VBAR`, this CPU's abort and
//!    undefined-instruction stacks, then the board's entry with the device tree, the entry mode
//!    and the counter's first value.
//!
//! Secondary CPUs enter at `secondary_entry` (PSCI `CPU_ON`), described in smp.rs. The target is
//! soft-float (`armv7a-none-eabi`): Rust never touches VFP/NEON, so nothing enables them.
#![allow(unsafe_code)] // assembly that runs before any Rust invariant holds.

core::arch::global_asm!(
    r#"
    .arch_extension virt
    .arch_extension sec

    /* Hyp -> SVC at `target` with A, I and F masked. Clobbers r9. */
    .macro HYP_TO_SVC target
    mrc     p15, 4, r9, c14, c1, 0      /* CNTHCTL: PL1PCEN | PL1PCTEN (counter and timer at PL1) */
    orr     r9, r9, #3
    mcr     p15, 4, r9, c14, c1, 0
    mov     r9, #0
    mcrr    p15, 4, r9, r9, c14         /* CNTVOFF = 0 */
    mcr     p15, 4, r9, c1, c1, 0       /* HCR: nothing trapped, stage 2 off */
    mcr     p15, 4, r9, c1, c1, 3       /* HSTR: no CP15 traps */
    movw    r9, #0x33ff
    mcr     p15, 4, r9, c1, c1, 2       /* HCPTR: RES1 bits only, no coprocessor traps */
    mrc     p15, 0, r9, c0, c0, 0
    mcr     p15, 4, r9, c0, c0, 0       /* VPIDR = MIDR */
    mrc     p15, 0, r9, c0, c0, 5
    mcr     p15, 4, r9, c0, c0, 5       /* VMPIDR = MPIDR */
    mov     r9, #0x1d3                  /* SVC, A, I, F masked, ARM state */
    msr     spsr_cxsf, r9               /* in Hyp mode: SPSR_hyp */
    adr     r9, \target
    msr     elr_hyp, r9
    isb
    eret
    .endm

    /* Linux's __v7_setup on an SMP system (MPIDR[31:30] = 0b10, is_smp): if ACTLR.SMP is
     * clear, set it, with FW (cache and TLB maintenance broadcast) on the Cortex-A9 and A5
     * (__v7_ca9mp_setup, __v7_ca5mp_setup). Left alone when already set: a Non-secure write may
     * be refused. Clobbers r9, r10, r11. */
    .macro ACTLR_SMP
    mrc     p15, 0, r9, c0, c0, 5       /* MPIDR */
    and     r9, r9, #0xc0000000
    cmp     r9, #0x80000000
    bne     81f
    mrc     p15, 0, r9, c1, c0, 1       /* ACTLR */
    tst     r9, #(1 << 6)
    bne     81f
    orr     r9, r9, #(1 << 6)
    mrc     p15, 0, r10, c0, c0, 0      /* MIDR: primary part number [15:4] */
    ubfx    r10, r10, #4, #12
    movw    r11, #0xc09
    cmp     r10, r11
    movwne  r11, #0xc05
    cmpne   r10, r11
    orreq   r9, r9, #1
    mcr     p15, 0, r9, c1, c0, 1
    isb
81:
    .endm

    .section .text.head, "ax"
    .arm
    .global _head
_head:
    b       primary_entry               /* 0x00 */
    .rept   8
    .word   0                           /* 0x04..0x23 */
    .endr
    .word   0x016f2818                  /* 0x24: zImage magic */
    .word   0                           /* 0x28: start: position of the image is the loader's */
    .word   __image_size                /* 0x2c: end: bytes the loader must copy */
    .word   0x04030201                  /* 0x30: little endian */

    .section .text.boot, "ax"
    .arm
primary_entry:
    /* The boot clock's zero in r4 (low), r5 (high); in r8 what counts it (timer.rs): 0 the
     * generic timer, 1 none, else the global timer's address. */
    mrc     p15, 0, r8, c0, c1, 1       /* ID_PFR1: [19:16] the generic timer */
    tst     r8, #0xf0000
    beq     71f
    mrrc    p15, 0, r4, r5, c14         /* CNTPCT */
    mov     r8, #0
    b       74f
71: mov     r4, #0
    mov     r5, #0
    mov     r8, #1
    mrc     p15, 0, r9, c0, c0, 0       /* MIDR: only the A9 and A5 MPCore have CBAR here */
    ubfx    r9, r9, #4, #12
    movw    r10, #0xc09
    cmp     r9, r10
    movwne  r10, #0xc05
    cmpne   r9, r10
    bne     74f
    mrc     p15, 4, r9, c15, c0, 0      /* CBAR: PERIPHBASE[31:13] */
    bfc     r9, #0, #13
    cmp     r9, #0
    beq     74f
    add     r8, r9, #{gt_offset}        /* the global timer */
    ldr     r9, [r8, #8]                /* control: enable (bit 0) unless running */
    tst     r9, #1
    orreq   r9, r9, #1
    streq   r9, [r8, #8]
    ldr     r5, [r8, #4]                /* upper, lower, upper until stable */
73: ldr     r4, [r8]
    ldr     r9, [r8, #4]
    cmp     r9, r5
    movne   r5, r9
    bne     73b
74: mov     r6, r2                      /* device tree */
    adr     r9, _head
    ldr     r10, =_head
    cmp     r9, r10
    movne   r1, #4
    bne     early_semihosting_exit
    mrs     r9, cpsr
    and     r9, r9, #0x1f
    mov     r7, r9                      /* mode at entry */
    cmp     r9, #0x13
    beq     svc_entry
    cmp     r9, #0x1a
    movne   r1, #5
    bne     early_semihosting_exit
    HYP_TO_SVC svc_entry

svc_entry:
    cpsid   aif
    ACTLR_SMP
    ldr     sp, =__boot_stack_top
    ldr     r9, =__bss_start
    ldr     r10, =__bss_end
    mov     r11, #0
1:  cmp     r9, r10
    strlo   r11, [r9], #4
    blo     1b
    ldr     r9, =ARMV7A_EARLY_CLOCK
    str     r8, [r9]
    ldr     r9, =exception_vectors
    mcr     p15, 0, r9, c12, c0, 0      /* VBAR */
    isb
    mov     r0, #0
    bl      armv7a_mode_stacks
    mov     r0, r6
    mov     r1, r7
    mov     r2, r4
    mov     r3, r5
    bl      armv7a_board_entry
2:  wfe
    b       2b

/* Sets SP of the abort and undefined modes (where exceptions arrive) to the top of CPU r0's
 * exception stack, back in SVC with the masks as they were. Clobbers r1, r2, r3. */
    .global armv7a_mode_stacks
armv7a_mode_stacks:
    add     r1, r0, #1
    ldr     r2, ={stacks}
    add     r2, r2, r1, lsl #{stack_shift}
    mrs     r3, cpsr
    cps     #0x17                       /* abort */
    mov     sp, r2
    cps     #0x1b                       /* undefined */
    mov     sp, r2
    cps     #0x12                       /* IRQ */
    mov     sp, r2
    cps     #0x11                       /* FIQ */
    mov     sp, r2
    msr     cpsr_c, r3
    bx      lr

/* Secondary CPUs (PSCI CPU_ON entry point): r0 = the physical address of this CPU's
 * `SecondaryBoot` block (smp.rs): [0] TTBR0, [4] TTBCR, [8] DACR, [12] SCTLR, [16] stack top,
 * [20] per-CPU base, [28] CPU id. MMU and caches are off, in SVC or Hyp mode. The block and
 * the code are at their physical addresses, which paging_init maps too. */
    .global secondary_entry
secondary_entry:
    mov     r4, r0
    mrs     r9, cpsr
    and     r9, r9, #0x1f
    cmp     r9, #0x1a
    bne     3f
    HYP_TO_SVC 3f
3:
    cpsid   aif
    ACTLR_SMP
    ldr     r9, =exception_vectors
    mcr     p15, 0, r9, c12, c0, 0      /* VBAR */
    ldr     r0, [r4, #28]
    bl      armv7a_mode_stacks
    ldr     r9, [r4, #4]
    mcr     p15, 0, r9, c2, c0, 2       /* TTBCR */
    ldr     r9, [r4, #0]
    mcr     p15, 0, r9, c2, c0, 0       /* TTBR0 */
    ldr     r9, [r4, #8]
    mcr     p15, 0, r9, c3, c0, 0       /* DACR */
    mov     r9, #0
    mcr     p15, 0, r9, c8, c7, 0       /* TLBIALL */
    mcr     p15, 0, r9, c7, c5, 0       /* ICIALLU */
    dsb
    isb
    ldr     r9, [r4, #12]
    mcr     p15, 0, r9, c1, c0, 0       /* SCTLR: MMU and caches on, the same tables */
    isb
    ldr     sp, [r4, #16]
    ldr     r9, [r4, #20]
    mcr     p15, 0, r9, c13, c0, 4      /* TPIDRPRW: the per-CPU base */
    mov     r0, r4
    bl      armv7a_secondary_rust
4:  wfe
    b       4b

/* Semihosting SYS_EXIT_EXTENDED(ADP_Stopped_ApplicationExit, r1) without a stack. */
early_semihosting_exit:
    adr     r2, early_exit_block
    str     r1, [r2, #4]
    mov     r1, r2
    mov     r0, #0x20
    svc     #0x123456
5:  wfe
    b       5b
    .balign 4
early_exit_block:
    .word   0x20026
    .word   0
"#,
    stacks = sym crate::exceptions::EXCEPTION_STACKS,
    stack_shift = const crate::exceptions::EXCEPTION_STACK_SHIFT,
    gt_offset = const crate::timer::GLOBAL_TIMER_OFFSET,
);
