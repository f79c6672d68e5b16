//! The Multiboot v1 header and the first instructions: from the boot loader's protected-mode
//! hand-off to Rust.
//!
//! Multiboot (spec 0.6.96, section 3.2) enters `_start` in 32-bit protected mode with paging
//! off, interrupts off, EAX = 0x2BADB002 and EBX = the physical address of the information
//! block. The GDT the loader left is undefined, so `_start` loads its own flat one (code 0x08,
//! data 0x10) before touching a segment register, sets the boot stack (inside .bss, reserved with
//! the image), clears .bss (QEMU's loader and GRUB both zero it, other loaders need not) and
//! calls the board's entry with the two registers. Nothing here returns.
#![allow(unsafe_code)] // the entry code is assembly; it runs before any Rust invariant holds.

core::arch::global_asm!(
    r#"
    .section .multiboot, "a"
    .balign 4
multiboot_header:
    .long 0x1BADB002            /* magic */
    .long 0x00000003            /* flags: align modules on pages, provide memory info + map */
    .long -(0x1BADB002 + 0x00000003)

    .section .rodata.boot_gdt, "a"
    .balign 8
boot_gdt:
    .quad 0x0000000000000000    /* null */
    .quad 0x00CF9A000000FFFF    /* 0x08: code, base 0, limit 4 GiB, ring 0 */
    .quad 0x00CF92000000FFFF    /* 0x10: data, base 0, limit 4 GiB, ring 0 */
boot_gdt_end:
    .balign 4
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .text.boot, "ax"
    .global _start
    .code32
_start:
    cli
    cld
    movl %eax, %esi             /* Multiboot magic */
    movl %ebx, %ebp             /* Multiboot information block */
    lgdt boot_gdt_ptr
    ljmp $0x08, $1f
1:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl $__boot_stack_top, %esp
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb
    pushl %ebp
    pushl %esi
    call x86_pc_board_entry
2:
    cli
    hlt
    jmp 2b
"#,
    options(att_syntax)
);
