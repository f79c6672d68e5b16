//! The Multiboot v1 header and the first instructions: from the boot loader's protected-mode
//! hand-off, with paging off, to Rust running in the higher half with paging on.
//!
//! Multiboot (spec 0.6.96, section 3.2) enters `_start` in 32-bit protected mode with paging
//! off, interrupts off, EAX = 0x2BADB002 and EBX = the physical address of the information
//! block. The image is linked at `PAGE_OFFSET` + 1 MiB but loaded, and entered, at 1 MiB (see
//! `x86-pc.ld`), so until paging is on every address `_start` uses is `symbol - PAGE_OFFSET`.
//! Steps, as Linux's `arch/x86/kernel/head_32.S` `startup_32` does them (with PSE pages instead of
//! its page tables):
//!
//! 1. load a flat GDT (code 0x08, data 0x10; the loader's GDT is undefined) through a physical
//!    descriptor pointer, and the data segments;
//! 2. clear .bss (QEMU's loader and GRUB both zero it, other loaders need not), which holds the
//!    boot page directory;
//! 3. fill the boot page directory with 4 MiB PSE pages: physical `[0, BOOT_PDES * 4 MiB)` at
//!    `PAGE_OFFSET` (covering `paging::MAXMEM`, so the image, the stack, the Multiboot data and
//!    every page memblock hands out before `paging_init` are reachable), and the image's own
//!    4 MiB pages identity, for the instruction that turns paging on;
//! 4. CR4.PSE, CR3, then CR0.PG | CR0.WP (WP: ring 0 honours read-only pages), and an absolute
//!    jump to the virtual address;
//! 5. reload the GDT through its virtual address (interrupt delivery reads it), remove the
//!    identity entries and flush (so address 0 faults from here on), switch to the virtual boot
//!    stack and call the board's entry with the two registers. Nothing here returns.
#![allow(unsafe_code)] // the entry code is assembly; it runs before any Rust invariant holds.

use crate::paging::{BOOT_PDES, PAGE_OFFSET};

/// PDE flags of a boot 4 MiB page: present, writable, page size (Intel SDM vol. 3, 4.3).
const BOOT_PDE_FLAGS: u32 = 0x83;

core::arch::global_asm!(
    r#"
    .set PAGE_OFFSET, {page_offset}

    .section .multiboot, "a"
    .balign 4
multiboot_header:
    .long 0x1BADB002            /* magic */
    .long 0x00000003            /* flags: align modules on pages, provide memory info + map */
    .long -(0x1BADB002 + 0x00000003)

    /* Accessed bits preset (0x9B, 0x93): the CPU never needs to write the descriptors, which
       paging_init maps read-only with the rest of .rodata. */
    .section .rodata.boot_gdt, "a"
    .balign 8
boot_gdt:
    .quad 0x0000000000000000    /* null */
    .quad 0x00CF9B000000FFFF    /* 0x08: code, base 0, limit 4 GiB, ring 0 */
    .quad 0x00CF93000000FFFF    /* 0x10: data, base 0, limit 4 GiB, ring 0 */
boot_gdt_end:
    .balign 4
boot_gdt_ptr_phys:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt - PAGE_OFFSET
    .balign 4
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    /* In .data, not .bss: _start writes it before clearing .bss. */
    .section .data.boot_tsc, "aw"
    .balign 8
    .global boot_tsc
boot_tsc:
    .quad 0

    .section .bss.boot_page_directory, "aw", @nobits
    .balign 4096
    .global boot_page_directory
boot_page_directory:
    .skip 4096

    .section .text.boot, "ax"
    .global _start
    .code32
_start:
    cli
    cld
    movl %eax, %esi             /* Multiboot magic */
    movl %ebx, %ebp             /* Multiboot information block (physical) */
    rdtsc                       /* the boot clock's zero (kernel::clock) */
    movl %eax, (boot_tsc - PAGE_OFFSET)
    movl %edx, (boot_tsc + 4 - PAGE_OFFSET)
    lgdt (boot_gdt_ptr_phys - PAGE_OFFSET)
    ljmp $0x08, $(1f - PAGE_OFFSET)
1:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl $(__bss_start - PAGE_OFFSET), %edi
    movl $__bss_end, %ecx
    subl $__bss_start, %ecx
    xorl %eax, %eax
    rep stosb

    /* The higher half: PDE[768 + i] = i * 4 MiB, for i < BOOT_PDES. */
    movl $(boot_page_directory - PAGE_OFFSET), %edi
    xorl %ecx, %ecx
2:
    movl %ecx, %eax
    shll $22, %eax
    orl ${pde_flags}, %eax
    movl %eax, (768 * 4)(%edi, %ecx, 4)
    incl %ecx
    cmpl ${boot_pdes}, %ecx
    jb 2b

    /* Identity for the image's 4 MiB pages only: EDX = how many. */
    movl $(__kernel_end - PAGE_OFFSET + 0x3fffff), %edx
    shrl $22, %edx
    xorl %ecx, %ecx
3:
    movl %ecx, %eax
    shll $22, %eax
    orl ${pde_flags}, %eax
    movl %eax, (%edi, %ecx, 4)
    incl %ecx
    cmpl %edx, %ecx
    jb 3b

    movl %cr4, %eax
    orl $0x10, %eax             /* CR4.PSE: 4 MiB pages */
    movl %eax, %cr4
    movl %edi, %cr3
    movl %cr0, %eax
    orl $0x80010000, %eax       /* CR0.PG | CR0.WP */
    movl %eax, %cr0
    movl $4f, %eax
    jmp *%eax                   /* to the virtual address */
4:
    lgdt boot_gdt_ptr
    movl $boot_page_directory, %edi
    xorl %ecx, %ecx
5:
    movl $0, (%edi, %ecx, 4)    /* drop the identity entries */
    incl %ecx
    cmpl %edx, %ecx
    jb 5b
    movl %cr3, %eax
    movl %eax, %cr3             /* flush the TLB */
    movl $__boot_stack_top, %esp
    pushl %ebp
    pushl %esi
    call x86_pc_board_entry
6:
    cli
    hlt
    jmp 6b
"#,
    page_offset = const PAGE_OFFSET,
    boot_pdes = const BOOT_PDES,
    pde_flags = const BOOT_PDE_FLAGS,
    options(att_syntax)
);
