/*
 * The smallest Multiboot guest: prints "hello from the guest" on the debug console (port 0xE9)
 * and halts. 32-bit code throughout; the micro-VMM's loader test runs it as ELF32.
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003
        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .text
        .code32
        .globl _start
_start:
        cmpl $0x2BADB002, %eax
        jne 2f
        movl 8(%ebx), %edi          /* mem_upper, KiB: printed in hex to show EBX is right */
        movl $msg, %esi
        movw $0xE9, %dx
1:      lodsb
        testb %al, %al
        jz 3f
        outb %al, %dx
        jmp 1b
3:      movl $8, %ecx
4:      roll $4, %edi
        movl %edi, %eax
        andl $0xF, %eax
        movb hex(%eax), %al
        outb %al, %dx
        loop 4b
        movb $'\n', %al
        outb %al, %dx
2:      hlt
        jmp 2b

        .section .rodata
msg:    .asciz "hello from the guest, mem_upper=0x"
hex:    .ascii "0123456789abcdef"
