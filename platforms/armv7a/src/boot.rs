//! The first instructions, up to Rust (Linux's ARM boot protocol, Documentation/arm/booting.rst).
//!
//! The loader (QEMU's `-kernel`, U-Boot's `bootz`) enters the first byte of the image in ARM
//! state with the MMU and data cache off, r0 = 0, r1 = the machine type and r2 = the device
//! tree's physical address, in SVC mode or, on a CPU with the Virtualization Extensions started
//! in Hyp mode (`-machine virt,virtualization=on`), in Hyp mode. The first words are a zImage
//! header (the magic 0x016f2818 at offset 0x24, as U-Boot's `bootz` checks). Then, in order:
//! 1. the counter's value (`CNTPCT`) is kept as the boot clock's zero;
//! 2. check that we run where we were linked (`adr` against the literal address); if not, exit
//!    through semihosting with status 4: nothing else can report it yet;
//! 3. in Hyp mode: give PL1 the counters, trap nothing, hand PL1 the real MIDR/MPIDR and `eret`
//!    to SVC with A, I and F masked (Linux's `safe_svcmode_maskall`); any other mode but SVC is
//!    refused with status 5;
//! 4. in SVC: the boot stack, .bss cleared, the vector table in `VBAR`, this CPU's abort and
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
    mrrc    p15, 0, r4, r5, c14         /* CNTPCT: the boot clock's zero (r4 low, r5 high) */
    mov     r6, r2                      /* device tree */
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
    ldr     sp, =__boot_stack_top
    ldr     r9, =__bss_start
    ldr     r10, =__bss_end
    mov     r11, #0
1:  cmp     r9, r10
    strlo   r11, [r9], #4
    blo     1b
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
);
