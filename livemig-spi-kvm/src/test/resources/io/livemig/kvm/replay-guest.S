/*
 * A replayable test guest (trace and replay): one vCPU, no interrupts, no RDTSC. It reads the
 * VMM's clock (port 0xEC, microseconds), stores each reading t in RAM at AREA + (t & 0xFFFFC),
 * keeps the number of readings, their sum and the last difference at STATS, sleeps
 * 100 + (t & 0xFF) microseconds (port 0xED), and prints a dot on the console (port 0xE9) every
 * 64 readings. Its memory and its sleeps are functions of the clock values it read.
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003
        .set AREA, 0x200000
        .set STATS, 0x300000
        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .text
        .code32
        .globl _start
_start:
        xorl %ebx, %ebx             /* readings */
        xorl %esi, %esi             /* their sum */
        inl $0xEC, %eax
        movl %eax, %ebp             /* the previous reading */
1:      inl $0xEC, %eax
        movl %eax, %ecx
        andl $0xFFFFC, %ecx
        movl %eax, AREA(%ecx)
        addl %eax, %esi
        movl %eax, %edx
        subl %ebp, %edx
        movl %eax, %ebp
        incl %ebx
        movl %ebx, STATS
        movl %esi, STATS+4
        movl %edx, STATS+8
        andl $0xFF, %eax
        addl $100, %eax
        outl %eax, $0xED
        testl $63, %ebx
        jnz 1b
        movb $'.', %al
        outb %al, $0xE9
        jmp 1b
