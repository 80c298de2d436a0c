/*
 * dirtier: a Multiboot guest that dirties its memory at a set pace and checks itself.
 *
 * Boot (32-bit, ring 0, which a PVM host emulates and so keeps short): identity-map the first
 * 4 GiB with 2 MiB pages, enter long mode, drop to ring 3 with IOPL 3 (so that `out` to the
 * console still works) and interrupts off. Everything after that runs in ring 3, natively.
 *
 * Memory: from the Multiboot memory map (flag 6), RAM is the available range holding 1 MiB (up
 * to the MMIO hole, "low top") and the first available range from 4 GiB up ("high"); without a
 * map, mem_upper. High RAM is mapped from ring 3 (the tables are user-writable): one page
 * directory of 2 MiB pages per GiB of it, built at 2 MiB (room for 4 GiB to 512 GiB below the
 * 4 MiB where working sets start) and then linked into the PDPT, so only the PDPT writes trap
 * (1 GiB pages would need none, but not every host offers them to guests). The working set is
 * counted in RAM offsets that skip the hole: offset x is address x below low top and
 * x - low top + high base above it, so one working set can span both ranges.
 *
 * Parameters: the VMM writes a block at physical 0x8000 (all u64, little-endian):
 *   +0  magic "LMDIRTY1"      +8  working-set base      +16 working-set bytes
 *   +24 bytes per write       +32 pattern (0 sequential, 1 random)
 *   +40 write rate, bytes/s (0: as fast as it can)       +48 TSC frequency, kHz
 *   +56 progress line every N ms                         +64 self-check every N ms
 *   +72 random seed
 *   +80 virtio-mmio base of a virtio-blk device (0: no disk mode)
 *   +88 disk bytes            +96 disk write rate, bytes/s (0: no writes, checks only)
 *   +104 disk area: a physical address in low RAM, 4 KiB-aligned, clear of the working set
 *   +112 flags: bit 0 replayable mode (below)
 * Without the magic (another VMM, such as QEMU): the working set is all RAM from 4 MiB up, whole-page
 * random writes, unpaced, unless the Multiboot command line says otherwise with single-letter
 * keys, decimal values: w=working-set bytes b=bytes per write p=pattern r=rate (bytes/s)
 * f=TSC kHz t=progress ms c=check ms s=seed, e.g. "dirtier w=268435456 r=52428800 f=2596150".
 *
 * Each write picks a page of the working set, increments the global write counter W and stores
 * W in the first ceil(bytes per write / 8) quadwords of the page, and keeps SUM = the sum of
 * every page's first quadword. The self-check re-reads the whole working set: every page's
 * written quadwords must be equal, and their first quadwords must add up to SUM. A page lost or
 * torn by a migration breaks one or the other, and the console says "check FAILED".
 *
 * A working set that does not fit the RAM found is cut to fit (a run that touched memory that is
 * not there would fault, and this guest has no fault handler).
 *
 * Console (port 0xE9): "dirtier start ws=<pages> bpw=<bytes> high=<MiB of RAM from 4 GiB>",
 * then "tick <n> writes <W>" and "time max-step <us> back <B>" (and in replayable mode
 * "replay clock-reads <R> sleeps <S> batch <writes per round>", its input exits since boot)
 * every progress interval and "check ok <n>" or "check FAILED ..." every check interval.
 *
 * Time: the main loop reads the TSC once a round and keeps the largest step between two
 * consecutive reads since the last progress line (the self-checks, which take long by design, do
 * not count: the loop's clock restarts after them), printed in microseconds at the TSC frequency
 * given, and B, how many times the TSC went backwards since boot. A migration that moved the
 * guest's time well shows no step longer than its downtime (plus a round) and B = 0.
 *
 * Replayable mode (flag bit 0): every input the guest takes crosses a VM exit, so that a VMM can
 * record them at the source and replay them at the destination. It never runs RDTSC (nor RDRAND,
 * RDSEED, RDPID, RDTSCP: nothing here reads anything from outside without an exit) and takes no
 * interrupts. Its clock is the VMM's: inl from port 0xEC gives the VMM's monotonic clock in
 * microseconds, low 32 bits, widened by adding each read's signed 32-bit difference from the last
 * (so every figure above that was in TSC ticks is in us, the TSC frequency is ignored). The main
 * loop runs rounds: a batch of writes, one clock read, and, if the writes are ahead of the rate,
 * one outl to port 0xED of the microseconds to sleep (the VMM sleeps them, at most 100 ms; a
 * replay skips the sleep) rather than a spin on the clock. Paced, a batch is the writes of about
 * 1 ms at the rate (at least one write); unpaced, the batch doubles while a round takes under
 * 0.5 ms and halves while one takes over 2 ms, from the clock's readings alone. So a round is about
 * 1 ms, 2 exits and 4 bytes of input, whatever the rate. The disk, in disk mode, is paced by the
 * round's reading (its requests exit anyway); progress lines and checks fall due as before, in us.
 * The pattern is the seeded xorshift as always: nothing in the guest's state comes from elsewhere.
 * Console strings go out with one rep outsb each (an exit per string, not per byte).
 *
 * Disk mode (a virtio-mmio base in the parameters): the guest drives the virtio-blk device by
 * polling, interrupts off, from ring 3 (the identity map is user-accessible, so MMIO works there):
 * reset, ACKNOWLEDGE, DRIVER, VIRTIO_F_VERSION_1 and VIRTIO_BLK_F_FLUSH, FEATURES_OK (read back),
 * one queue of 8, DRIVER_OK, then the capacity read from configuration space must be the disk's
 * size. One request at a time: descriptor 0 the header, 1 the data, 2 the status byte; after the
 * QueueNotify write the device has served it (synchronously), so the used index must have moved.
 * At the disk rate it writes 4 KiB blocks at random block numbers, each filled with 256 pairs
 * (block number, write serial) where the serial counts the disk writes from 1, and records the
 * serial in a table in its RAM (one u64 per block, 0 for never written). At every self-check it
 * flushes, reads the whole disk back 1 MiB at a time and verifies every block: a written block
 * holds its pairs with the serial of its last write, an unwritten one zeros (so the disk must be
 * all zeros at boot: a new image). Disk area layout, from the area's base A:
 *   A+0x000 descriptors (8 x 16)  A+0x100 available ring  A+0x200 used ring
 *   A+0x300 request header (16)   A+0x310 status byte     A+0x1000 write buffer (4 KiB)
 *   A+0x318 requests notified (u64)                        A+0x320 requests seen completed (u64)
 *   A+0x2000 read buffer (1 MiB)  A+0x102000 the serial table (8 bytes per block)
 * The two request counters (notified: counted just before the QueueNotify write; completed:
 * when the used index caught up after it) let a VMM check that no request was lost or served
 * twice: at any pause, completed <= requests the device served <= notified <= completed + 1, and
 * the used index is the device's count modulo 2^16. After each disk check the guest compares
 * the used index with its count of completions itself.
 * Console: "disk start blocks=<n> rate=<bytes/s>", then "disk ok <n> writes <W> requests <R>"
 * after each check, or "disk FAILED ..." (the block, the serial expected, the first two quadwords
 * found; the request that failed, with its status or the device status; or "used index U
 * requests R" when the device's used index disagrees with the requests completed).
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00010003          /* page-align, memory info, load addresses */
        .set PARAMS, 0x8000
        .set PML4, 0x1000
        .set PDPT, 0x2000
        .set PD0, 0x3000
        .set HIGH_PDS, 0x200000             /* up to 508 directories, below 4 MiB */
        .set USER_STACK, 0x80000
        .set KERNEL_STACK, 0x7F000
        .set CONSOLE, 0xE9
        .set DISK_READ_BUF, 0x2000          /* offsets in the disk area */
        .set DISK_TABLE, 0x102000
        .set DISK_QUEUE, 8
        .set DISK_BURST, 8                  /* disk writes at most per call of disk_step */
        .set VIO_STATUS, 0x70               /* virtio-mmio registers */
        .set VIO_NOTIFY, 0x50
        .set CLOCK_PORT, 0xEC               /* replayable mode: inl = the VMM's clock, us, low 32 bits */
        .set SLEEP_PORT, 0xED               /* replayable mode: outl N = sleep N us (at most 100 ms) */
        .set SLEEP_MAX_US, 100000
        .set BEHIND_LIMIT_NS, 100000000     /* lateness banked at most: 100 ms */
        .set BATCH_MAX, 0x100000            /* writes per round at most, replayable mode */

        .section .multiboot, "a"
        .align 4
mb_header:
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
        .long mb_header, _load_start, _load_end, _bss_end, _start

        .text
        .code32
        .globl _start
_start:
        cli
        movl $KERNEL_STACK, %esp
        cmpl $0x2BADB002, %eax
        jne halt32
        movl %ebx, boot_mbi
        movl 8(%ebx), %eax                 /* mem_upper, KiB above 1 MiB */
        movl %eax, boot_mem_upper

        /* Page tables: PML4[0] -> PDPT; PDPT[0..3] -> 4 PDs of 512 2 MiB pages, user-accessible. */
        movl $PML4, %edi
        xorl %eax, %eax
        movl $(0x6000 / 4), %ecx
        rep stosl
        movl $(PDPT | 7), PML4
        movl $(PD0 | 7), PDPT
        movl $((PD0 + 0x1000) | 7), PDPT + 8
        movl $((PD0 + 0x2000) | 7), PDPT + 16
        movl $((PD0 + 0x3000) | 7), PDPT + 24
        movl $PD0, %edi
        xorl %ecx, %ecx
1:      movl %ecx, %eax
        shll $21, %eax
        orl $0x87, %eax                    /* present, writable, user, 2 MiB */
        movl %eax, (%edi)
        movl %ecx, %eax
        shrl $11, %eax
        movl %eax, 4(%edi)
        addl $8, %edi
        incl %ecx
        cmpl $2048, %ecx
        jb 1b


        movl %cr4, %eax
        orl $0x20, %eax                    /* PAE */
        movl %eax, %cr4
        movl $PML4, %eax
        movl %eax, %cr3
        movl $0xC0000080, %ecx             /* EFER.LME */
        rdmsr
        orl $0x100, %eax
        wrmsr
        movl %cr0, %eax
        orl $0x80000000, %eax              /* paging on: long mode */
        movl %eax, %cr0
        lgdt gdt_descriptor
        ljmp $0x18, $long_mode

halt32:
        hlt
        jmp halt32

        .code64
long_mode:
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movq $KERNEL_STACK, %rsp
        pushq $0x23                        /* SS: ring-3 data */
        pushq $USER_STACK
        pushq $0x3002                      /* RFLAGS: IOPL 3, interrupts off */
        pushq $0x2B                        /* CS: ring-3 64-bit code */
        leaq user_main(%rip), %rax
        pushq %rax
        iretq

/* ---------------------------------------------------------------- ring 3 from here on */

user_main:
        call load_params
        leaq msg_start(%rip), %rsi
        call print_str
        movq ws_pages(%rip), %rax
        call print_dec
        leaq msg_bpw(%rip), %rsi
        call print_str
        movq bpw_quads(%rip), %rax
        shlq $3, %rax
        call print_dec
        leaq msg_high(%rip), %rsi
        call print_str
        movq high_bytes(%rip), %rax
        shrq $20, %rax
        call print_dec
        call newline
        call disk_init
        call clock
        movq %rax, deadline(%rip)
        movq %rax, time_last(%rip)
        movq %rax, %rbx
        addq tick_ticks(%rip), %rbx
        movq %rbx, next_tick(%rip)
        movq %rax, %rbx
        addq check_ticks(%rip), %rbx
        movq %rbx, next_check(%rip)

main_loop:
        cmpq $0, replayable(%rip)
        jne replay_round
        call time_step
        movl $16, %r15d
2:      call one_write
        decl %r15d
        jnz 2b
        call pace
        call disk_step
        call clock
        movq %rax, %r14                    /* now */
tick_due:                                  /* progress and checks as of now (r14) */
        movq next_tick(%rip), %rbx
        subq %r14, %rbx                    /* next_tick - now */
        jle do_tick
        cmpq tick_ticks(%rip), %rbx
        jbe 3f
do_tick:                                   /* due, or absurdly far ahead (the TSC moved back) */
        movq %r14, %rbx
        addq tick_ticks(%rip), %rbx
        movq %rbx, next_tick(%rip)
        incq ticks(%rip)
        leaq msg_tick(%rip), %rsi
        call print_str
        movq ticks(%rip), %rax
        call print_dec
        leaq msg_writes(%rip), %rsi
        call print_str
        movq writes(%rip), %rax
        call print_dec
        call newline
        leaq msg_time(%rip), %rsi          /* the largest step since the last line, in us */
        call print_str
        movq time_max(%rip), %rax
        movq $1000, %rcx
        mulq %rcx
        divq tsc_khz(%rip)
        call print_dec
        leaq msg_time_back(%rip), %rsi
        call print_str
        movq time_back(%rip), %rax
        call print_dec
        call newline
        movq $0, time_max(%rip)
        cmpq $0, replayable(%rip)
        je 3f
        leaq msg_replay(%rip), %rsi        /* replayable: its input exits so far, and the batch */
        call print_str
        movq clock_reads(%rip), %rax
        call print_dec
        leaq msg_sleeps(%rip), %rsi
        call print_str
        movq sleeps(%rip), %rax
        call print_dec
        leaq msg_batch(%rip), %rsi
        call print_str
        movq batch_writes(%rip), %rax
        call print_dec
        call newline
3:      movq next_check(%rip), %rbx
        subq %r14, %rbx
        jle do_check
        cmpq check_ticks(%rip), %rbx
        jbe main_loop
        movq %r14, %rbx                    /* the TSC moved back: re-arm */
        addq check_ticks(%rip), %rbx
        movq %rbx, next_check(%rip)
        jmp main_loop
do_check:
        call check
        call disk_check
        call clock
        movq %rax, time_last(%rip)         /* the checks' own time is no step */
        addq check_ticks(%rip), %rax
        movq %rax, next_check(%rip)
        jmp main_loop

/*
 * Replayable mode's round: a batch of writes, one clock read (an exit), and, when ahead of the
 * write rate, one sleep request (another exit) instead of a spin on the clock.
 */
replay_round:
        movq batch_writes(%rip), %r15
1:      call one_write
        decq %r15
        jnz 1b
        call clock
        movq %rax, %r14                    /* now, us */
        call time_step_at
        call replay_pace
        call disk_step                     /* paced by this round's reading: no exit of its own */
        jmp tick_due

/*
 * After a round in replayable mode (now in r14, us): paced, moves the deadline on by a batch and,
 * if the writes are ahead of it, asks the VMM to sleep the difference; unpaced, sizes the next
 * batch to take about 1 ms. Never banks more than 100 ms of lateness. Keeps r14, r15.
 */
replay_pace:
        movq batch_ns(%rip), %rbx
        testq %rbx, %rbx
        jz 5f
        movq %r14, %rax
        imulq $1000, %rax                  /* now, ns */
        addq deadline_ns(%rip), %rbx       /* the new deadline */
        movq %rax, %rcx
        subq %rbx, %rcx                    /* now - deadline */
        cmpq $BEHIND_LIMIT_NS, %rcx
        jl 1f
        movq %rax, %rbx                    /* too late: start afresh from now */
1:      movq %rbx, %rcx
        subq %rax, %rcx                    /* deadline - now */
        jle 3f
        cmpq $BEHIND_LIMIT_NS, %rcx
        jle 2f
        movq %rax, %rbx                    /* absurdly early (the clock moved back): from now */
        jmp 3f
2:      movq %rcx, %rax                    /* ahead: sleep the difference, in us rounded up */
        addq $999, %rax
        xorl %edx, %edx
        movl $1000, %ecx
        divq %rcx
        cmpq $SLEEP_MAX_US, %rax
        jbe 4f
        movl $SLEEP_MAX_US, %eax
4:      incq sleeps(%rip)
        outl %eax, $SLEEP_PORT
3:      movq %rbx, deadline_ns(%rip)
        ret
5:      movq last_step(%rip), %rax         /* unpaced: the last round's length, us */
        movq batch_writes(%rip), %rcx
        cmpq $500, %rax
        jae 6f
        cmpq $BATCH_MAX, %rcx              /* under 0.5 ms: twice the writes */
        jae 7f
        shlq $1, %rcx
        jmp 7f
6:      cmpq $2000, %rax                   /* over 2 ms: half */
        jbe 7f
        shrq $1, %rcx
        jnz 7f
        incq %rcx
7:      movq %rcx, batch_writes(%rip)
        ret

/*
 * The clock in rax, clobbers rdx: the TSC; in replayable mode the VMM's microseconds instead (an
 * inl from CLOCK_PORT, 32 bits that wrap, widened by adding each read's signed difference from
 * the last, so a step back stays a step back).
 */
clock:
        cmpq $0, replayable(%rip)
        jne 1f
        rdtsc
        shlq $32, %rdx
        orq %rdx, %rax
        ret
1:      incq clock_reads(%rip)
        inl $CLOCK_PORT, %eax
        movl %eax, %edx
        subl clk_last32(%rip), %edx
        movl %eax, clk_last32(%rip)
        movslq %edx, %rdx
        addq clk_us(%rip), %rdx
        movq %rdx, clk_us(%rip)
        movq %rdx, %rax
        ret

/* The disk's clock: in replayable mode the round's reading (no exit), else the TSC. Clobbers rdx. */
disk_now:
        cmpq $0, replayable(%rip)
        je clock
        movq clk_us(%rip), %rax
        ret

/* The step since the loop's last clock read: keeps the largest, counts steps back. Keeps rbx, r14, r15. */
time_step:
        call clock
time_step_at:                              /* the clock read: rax */
        movq %rax, %rcx
        subq time_last(%rip), %rcx         /* now - last */
        movq %rax, time_last(%rip)
        movq %rcx, last_step(%rip)
        jge 1f
        movq $0, last_step(%rip)
        incq time_back(%rip)
        ret
1:      cmpq time_max(%rip), %rcx
        jbe 2f
        movq %rcx, time_max(%rip)
2:      ret

/* One write: pick a page, W += 1, store W in its first bpw_quads quadwords, keep SUM. */
one_write:
        movq idx(%rip), %rax
        cmpq $0, pattern(%rip)
        jne 4f
        incq %rax
        cmpq ws_pages(%rip), %rax
        jb 5f
        xorl %eax, %eax
        jmp 5f
4:      movq rng(%rip), %rax               /* xorshift64 */
        movq %rax, %rdx
        shlq $13, %rdx
        xorq %rdx, %rax
        movq %rax, %rdx
        shrq $7, %rdx
        xorq %rdx, %rax
        movq %rax, %rdx
        shlq $17, %rdx
        xorq %rdx, %rax
        movq %rax, rng(%rip)
        mulq ws_pages(%rip)                /* rdx = rng * pages / 2^64: uniform index */
        movq %rdx, %rax
5:      movq %rax, idx(%rip)
        shlq $12, %rax
        addq ws_base(%rip), %rax
        cmpq low_top(%rip), %rax           /* RAM offset to address: skip the hole */
        jb 1f
        addq hole_shift(%rip), %rax
1:      movq %rax, %rdi
        movq writes(%rip), %rax
        incq %rax
        movq %rax, writes(%rip)
        movq sum(%rip), %rdx
        addq %rax, %rdx
        subq (%rdi), %rdx
        movq %rdx, sum(%rip)
        movq bpw_quads(%rip), %rcx
        rep stosq
        ret

/*
 * Waits until the next 16 writes are due (spinning on the TSC); never banks more than 100 ms of
 * lateness. Clobbers r8.
 */
pace:
        movq ticks_per_16(%rip), %rbx
        testq %rbx, %rbx
        jz 7f
        movq %rbx, %r8                     /* one step, for the bound on earliness below */
        addq deadline(%rip), %rbx          /* the new deadline */
        call clock
        movq %rax, %rcx
        subq %rbx, %rcx                    /* now - deadline */
        cmpq behind_limit(%rip), %rcx
        jl 8f
        movq %rax, %rbx                    /* too late: start afresh from now */
8:      movq %rbx, %rcx
        subq %rax, %rcx                    /* deadline - now */
        addq behind_limit(%rip), %r8       /* a step ahead is normal (slow rates: steps over 100 ms) */
        cmpq %r8, %rcx
        jle 9f
        movq %rax, %rbx                    /* absurdly early (the TSC moved back): from now */
9:      movq %rbx, deadline(%rip)
6:      call disk_step                     /* disk writes fall due while memory writes wait */
        call clock
        cmpq %rbx, %rax
        jae 7f
        pause
        jmp 6b
7:      ret

/* The self-check over the whole working set. */
check:
        movq ws_base(%rip), %rdi
        cmpq low_top(%rip), %rdi
        jb 1f
        addq hole_shift(%rip), %rdi
1:      movq ws_pages(%rip), %rcx
        xorl %r8d, %r8d                    /* total */
        xorl %r9d, %r9d                    /* page number */
10:     movq (%rdi), %rax
        addq %rax, %r8
        movq bpw_quads(%rip), %r10
        movl $8, %r11d
11:     decq %r10
        jz 12f
        cmpq (%rdi, %r11), %rax
        jne check_torn
        addq $8, %r11
        jmp 11b
12:     addq $4096, %rdi
        cmpq low_top(%rip), %rdi           /* the end of low RAM: on above the hole */
        jne 1f
        movq high_base(%rip), %rdi
1:      incq %r9
        cmpq %rcx, %r9
        jb 10b
        cmpq sum(%rip), %r8
        jne check_sum
        incq checks(%rip)
        leaq msg_check_ok(%rip), %rsi
        call print_str
        movq checks(%rip), %rax
        call print_dec
        call newline
        ret
check_torn:
        leaq msg_torn(%rip), %rsi
        call print_str
        movq %r9, %rax
        call print_dec
        call newline
        ret
check_sum:
        leaq msg_sum(%rip), %rsi
        call print_str
        movq %r8, %rax
        call print_dec
        leaq msg_expected(%rip), %rsi
        call print_str
        movq sum(%rip), %rax
        call print_dec
        call newline
        movq %r8, sum(%rip)                /* report once, then go on checking from here */
        ret

/* ---------------------------------------------------------------- disk mode */

/* Brings up the virtio-blk device at vio, polling; on any surprise says so and turns disk mode off. */
disk_init:
        movq vio(%rip), %r11
        testq %r11, %r11
        jz 9f
        leaq msg_disk_nodev(%rip), %rsi
        cmpl $0x74726976, 0x00(%r11)       /* "virt" */
        jne 8f
        cmpl $2, 0x04(%r11)                /* virtio-mmio version 2 */
        jne 8f
        cmpl $2, 0x08(%r11)                /* a block device */
        jne 8f
        movl $0, VIO_STATUS(%r11)          /* reset */
        movl $1, VIO_STATUS(%r11)          /* ACKNOWLEDGE */
        movl $3, VIO_STATUS(%r11)          /* DRIVER */
        leaq msg_disk_features(%rip), %rsi
        movl $1, 0x14(%r11)                /* device features, bits 32-63 */
        testl $1, 0x10(%r11)               /* VIRTIO_F_VERSION_1 */
        jz 8f
        movl $1, 0x24(%r11)
        movl $1, 0x20(%r11)                /* accept VERSION_1 */
        movl $0, 0x24(%r11)
        movl $0x200, 0x20(%r11)            /* and FLUSH */
        movl $0xB, VIO_STATUS(%r11)        /* FEATURES_OK */
        testl $8, VIO_STATUS(%r11)
        jz 8f
        leaq msg_disk_queue(%rip), %rsi
        movl $0, 0x30(%r11)                /* queue 0 */
        cmpl $DISK_QUEUE, 0x34(%r11)
        jb 8f
        movl $DISK_QUEUE, 0x38(%r11)
        movq disk_area(%rip), %rax
        movl %eax, 0x80(%r11)              /* descriptors */
        movl $0, 0x84(%r11)
        addq $0x100, %rax
        movl %eax, 0x90(%r11)              /* available ring */
        movl $0, 0x94(%r11)
        addq $0x100, %rax
        movl %eax, 0xA0(%r11)              /* used ring */
        movl $0, 0xA4(%r11)
        movl $1, 0x44(%r11)                /* QueueReady */
        movl $0xF, VIO_STATUS(%r11)        /* DRIVER_OK */
        testl $0x40, VIO_STATUS(%r11)      /* DEVICE_NEEDS_RESET? */
        jnz 8f
        leaq msg_disk_capacity(%rip), %rsi
        movl 0x104(%r11), %eax             /* capacity in sectors, high then low */
        shlq $32, %rax
        movl 0x100(%r11), %ecx
        orq %rcx, %rax
        shlq $9, %rax
        cmpq disk_bytes(%rip), %rax
        jne 8f
        call clock
        movq %rax, disk_deadline(%rip)
        leaq msg_disk_start(%rip), %rsi
        call print_str
        movq disk_blocks(%rip), %rax
        call print_dec
        leaq msg_disk_rate(%rip), %rsi
        call print_str
        movq disk_rate(%rip), %rax
        call print_dec
        call newline
        ret
8:      pushq %rsi
        leaq msg_disk_failed(%rip), %rsi
        call print_str
        popq %rsi
        call print_str
        call newline
        movq $0, vio(%rip)
9:      ret

/* The disk writes that are due, at most DISK_BURST of them. Keeps rbx, r14, r15. */
disk_step:
        cmpq $0, vio(%rip)
        je 9f
        cmpq $0, disk_ticks(%rip)
        je 9f
        pushq %rbx
        pushq %r13
        movl $DISK_BURST, %r13d
1:      call disk_now                      /* the round's reading, in replayable mode */
        movq disk_deadline(%rip), %rbx
        movq %rax, %rcx
        subq %rbx, %rcx                    /* now - deadline */
        jge 3f
        negq %rcx                          /* not due; absurdly far ahead (the TSC moved back)? */
        cmpq behind_limit(%rip), %rcx
        jbe 8f
        movq %rax, disk_deadline(%rip)
        jmp 8f
3:      cmpq behind_limit(%rip), %rcx
        jle 4f
        movq %rax, %rbx                    /* too late: never bank more than 100 ms */
4:      addq disk_ticks(%rip), %rbx
        movq %rbx, disk_deadline(%rip)
        call disk_write
        cmpq $0, vio(%rip)                 /* the write failed: disk mode is off */
        je 8f
        decl %r13d
        jnz 1b
8:      popq %r13
        popq %rbx
9:      ret

/* One 4 KiB write at a random block: 256 pairs (block, serial), then table[block] = serial. */
disk_write:
        movq disk_rng(%rip), %rax          /* xorshift64 */
        movq %rax, %rdx
        shlq $13, %rdx
        xorq %rdx, %rax
        movq %rax, %rdx
        shrq $7, %rdx
        xorq %rdx, %rax
        movq %rax, %rdx
        shlq $17, %rdx
        xorq %rdx, %rax
        movq %rax, disk_rng(%rip)
        mulq disk_blocks(%rip)
        movq %rdx, %r8                     /* the block */
        movq disk_serial(%rip), %r9
        incq %r9                           /* its serial */
        movq disk_area(%rip), %rdi
        addq $0x1000, %rdi
        movl $256, %ecx
1:      movq %r8, (%rdi)
        movq %r9, 8(%rdi)
        addq $16, %rdi
        decl %ecx
        jnz 1b
        movl $1, %eax                      /* OUT */
        movq %r8, %rsi
        shlq $3, %rsi
        movq disk_area(%rip), %rdi
        addq $0x1000, %rdi
        movl $4096, %edx
        xorl %ecx, %ecx                    /* device-readable */
        call disk_request
        testl %eax, %eax
        jnz 2f
        movq %r9, disk_serial(%rip)
        movq disk_area(%rip), %rdi
        movq %r9, DISK_TABLE(%rdi,%r8,8)
        ret
2:      leaq msg_disk_write(%rip), %rsi
        jmp disk_request_failed

/*
 * One request, waited for: eax type, rsi sector, rdi data, edx data bytes (0: none), ecx the data
 * descriptor's flags (2: device-writable). Returns eax = the status byte, or 0x100 | the device
 * status if the device did not complete it. Keeps r8, r9, r12-r15, rbx.
 */
disk_request:
        movq disk_area(%rip), %r10
        movl %eax, 0x300(%r10)             /* header: type, reserved, sector */
        movl $0, 0x304(%r10)
        movq %rsi, 0x308(%r10)
        movb $0xFF, 0x310(%r10)            /* status, until the device writes it */
        leaq 0x300(%r10), %rax
        movq %rax, 0x00(%r10)              /* descriptor 0: the header */
        movl $16, 0x08(%r10)
        movw $1, 0x0C(%r10)                /* NEXT */
        movw $1, 0x0E(%r10)
        testl %edx, %edx
        jz 1f
        movq %rdi, 0x10(%r10)              /* descriptor 1: the data */
        movl %edx, 0x18(%r10)
        orl $1, %ecx
        movw %cx, 0x1C(%r10)
        movw $2, 0x1E(%r10)
        jmp 2f
1:      movw $2, 0x0E(%r10)                /* no data: the header chains to the status */
2:      leaq 0x310(%r10), %rax
        movq %rax, 0x20(%r10)              /* descriptor 2: the status byte */
        movl $1, 0x28(%r10)
        movw $2, 0x2C(%r10)                /* WRITE */
        movw $0, 0x2E(%r10)
        movzwl disk_avail(%rip), %eax
        movl %eax, %ecx
        andl $(DISK_QUEUE - 1), %ecx
        movw $0, 0x104(%r10,%rcx,2)        /* the chain from descriptor 0 */
        incl %eax
        movw %ax, disk_avail(%rip)
        movw %ax, 0x102(%r10)              /* published: x86 keeps the stores in order */
        movq vio(%rip), %r11
        incq 0x318(%r10)                   /* notified */
        movl $0, VIO_NOTIFY(%r11)          /* served before this instruction completes */
        cmpw %ax, 0x202(%r10)              /* the used index caught up? */
        jne 3f
        incq 0x320(%r10)                   /* seen completed */
        movzbl 0x310(%r10), %eax
        ret
3:      movl VIO_STATUS(%r11), %eax
        orl $0x100, %eax
        ret

/* Reports a failed request (rsi: what, r8: block, eax: status) and turns disk mode off. */
disk_request_failed:
        pushq %rax
        pushq %rsi
        leaq msg_disk_failed(%rip), %rsi
        call print_str
        popq %rsi
        call print_str
        leaq msg_disk_block(%rip), %rsi
        call print_str
        movq %r8, %rax
        call print_dec
        leaq msg_disk_status(%rip), %rsi
        call print_str
        popq %rax
        call print_dec
        call newline
        movq $0, vio(%rip)
        ret

/* Flushes, reads the whole disk back 1 MiB at a time and checks every block against the table. */
disk_check:
        cmpq $0, vio(%rip)
        je 9f
        xorl %r8d, %r8d
        movl $4, %eax                      /* FLUSH */
        xorl %esi, %esi
        xorl %edx, %edx
        call disk_request
        testl %eax, %eax
        jz 1f
        leaq msg_disk_flush(%rip), %rsi
        jmp disk_request_failed
1:      movq disk_blocks(%rip), %r9        /* blocks in this chunk: at most 256 */
        subq %r8, %r9
        jbe 7f
        cmpq $256, %r9
        jbe 2f
        movl $256, %r9d
2:      xorl %eax, %eax                    /* IN */
        movq %r8, %rsi
        shlq $3, %rsi
        movq disk_area(%rip), %rdi
        addq $DISK_READ_BUF, %rdi
        movq %r9, %rdx
        shlq $12, %rdx
        movl $2, %ecx                      /* device-writable */
        call disk_request
        testl %eax, %eax
        jz 3f
        leaq msg_disk_read(%rip), %rsi
        jmp disk_request_failed
3:      movq disk_area(%rip), %rdi
        addq $DISK_READ_BUF, %rdi
4:      movq disk_area(%rip), %r11
        movq DISK_TABLE(%r11,%r8,8), %r10  /* the serial expected */
        testq %r10, %r10
        jnz 5f
        xorl %eax, %eax                    /* never written: zeros */
        movl $512, %ecx
        movq %rdi, %r11
        repe scasq
        jne 8f
        jmp 6f
5:      movq %rdi, %r11
        movl $256, %ecx
51:     cmpq %r8, (%rdi)
        jne 8f
        cmpq %r10, 8(%rdi)
        jne 8f
        addq $16, %rdi
        decl %ecx
        jnz 51b
6:      incq %r8
        decq %r9
        jnz 4b
        jmp 1b
7:      movq disk_area(%rip), %r11         /* the used index agrees with the completions? */
        movzwl 0x202(%r11), %eax
        cmpw %ax, 0x320(%r11)
        jne 6f
        incq disk_checks(%rip)
        leaq msg_disk_ok(%rip), %rsi
        call print_str
        movq disk_checks(%rip), %rax
        call print_dec
        leaq msg_writes(%rip), %rsi
        call print_str
        movq disk_serial(%rip), %rax
        call print_dec
        leaq msg_disk_requests(%rip), %rsi
        call print_str
        movq disk_area(%rip), %r11
        movq 0x320(%r11), %rax
        call print_dec
        call newline
9:      ret
6:      pushq %rax                         /* the used index */
        leaq msg_disk_failed(%rip), %rsi
        call print_str
        leaq msg_disk_used(%rip), %rsi
        call print_str
        popq %rax
        call print_dec
        leaq msg_disk_requests(%rip), %rsi
        call print_str
        movq disk_area(%rip), %r11
        movq 0x320(%r11), %rax
        call print_dec
        call newline
        movq $0, vio(%rip)
        ret
8:      pushq %r11                         /* block r8 differs: the block's start in r11 */
        pushq %r10
        leaq msg_disk_failed(%rip), %rsi
        call print_str
        leaq msg_disk_block(%rip), %rsi
        call print_str
        movq %r8, %rax
        call print_dec
        leaq msg_disk_expected(%rip), %rsi
        call print_str
        popq %rax
        call print_dec
        leaq msg_disk_found(%rip), %rsi
        call print_str
        movq (%rsp), %r11
        movq (%r11), %rax
        call print_dec
        movb $' ', %al
        outb %al, $CONSOLE
        popq %r11
        movq 8(%r11), %rax
        call print_dec
        call newline
        ret

/* Reads the parameter block, or takes the defaults; then fits the working set to the RAM found. */
load_params:
        call memory_map
        movabsq $0x3159545249444d4c, %rax  /* "LMDIRTY1" */
        cmpq %rax, PARAMS
        jne defaults
        movq PARAMS + 8, %rax
        movq %rax, ws_base(%rip)
        movq PARAMS + 16, %rax
        shrq $12, %rax
        movq %rax, ws_pages(%rip)
        movq PARAMS + 24, %rax
        addq $7, %rax
        shrq $3, %rax
        movq %rax, bpw_quads(%rip)
        movq PARAMS + 32, %rax
        movq %rax, pattern(%rip)
        movq PARAMS + 40, %rax
        movq %rax, rate(%rip)
        movq PARAMS + 48, %rax
        movq %rax, tsc_khz(%rip)
        movq PARAMS + 56, %rax
        movq %rax, tick_ms(%rip)
        movq PARAMS + 64, %rax
        movq %rax, check_ms(%rip)
        movq PARAMS + 72, %rax
        movq %rax, rng(%rip)
        movq PARAMS + 80, %rax
        movq %rax, vio(%rip)
        movq PARAMS + 88, %rax
        movq %rax, disk_bytes(%rip)
        movq PARAMS + 96, %rax
        movq %rax, disk_rate(%rip)
        movq PARAMS + 104, %rax
        movq %rax, disk_area(%rip)
        movq PARAMS + 112, %rax
        andq $1, %rax
        movq %rax, replayable(%rip)
        jmp derive
defaults:
        movq $0x400000, ws_base(%rip)
        movq ram_bytes(%rip), %rax
        subq $0x400000, %rax
        shrq $12, %rax                     /* pages of RAM from 4 MiB */
        movq %rax, ws_pages(%rip)
        movq $512, bpw_quads(%rip)
        movq $1, pattern(%rip)
        movl boot_mbi(%rip), %ebx          /* the Multiboot info: a command line (flag 2)? */
        testl $4, (%rbx)
        jz derive
        movl 16(%rbx), %esi
        call parse_cmdline
derive:
        cmpq $0, tick_ms(%rip)
        jne 21f
        movq $500, tick_ms(%rip)
21:     cmpq $0, check_ms(%rip)
        jne 22f
        movq $2000, check_ms(%rip)
22:
        cmpq $0, bpw_quads(%rip)
        jne 13f
        movq $1, bpw_quads(%rip)
13:     cmpq $512, bpw_quads(%rip)
        jbe 14f
        movq $512, bpw_quads(%rip)
14:     movq ram_bytes(%rip), %rax         /* the working set ends within RAM */
        subq $4096, %rax
        cmpq %rax, ws_base(%rip)
        jbe 23f
        movq $0x400000, ws_base(%rip)
23:     movq ram_bytes(%rip), %rax
        subq ws_base(%rip), %rax
        shrq $12, %rax                     /* pages from the base to the end of RAM */
        cmpq %rax, ws_pages(%rip)
        jbe 24f
        movq %rax, ws_pages(%rip)
24:     cmpq $0, ws_pages(%rip)
        jne 15f
        movq $1, ws_pages(%rip)
15:     cmpq $0, rng(%rip)
        jne 16f
        movq $0x9E3779B97F4A7C15, %rax
        movq %rax, rng(%rip)
16:     cmpq $0, replayable(%rip)
        je 26f
        movq $1000, tsc_khz(%rip)          /* replayable: the clock ticks in us */
        inl $CLOCK_PORT, %eax
        movl %eax, clk_last32(%rip)
        movl %eax, %eax
        movq %rax, clk_us(%rip)
        call replay_batch
        jmp 17f
26:     cmpq $0, tsc_khz(%rip)
        jne 17f
        movq $2000000, tsc_khz(%rip)       /* a guess: the VMM did not say */
17:     movq tsc_khz(%rip), %rax           /* tick and check intervals in TSC ticks */
        mulq tick_ms(%rip)
        movq %rax, tick_ticks(%rip)
        movq tsc_khz(%rip), %rax
        mulq check_ms(%rip)
        movq %rax, check_ticks(%rip)
        movq tsc_khz(%rip), %rax
        imulq $100, %rax                   /* 100 ms */
        movq %rax, behind_limit(%rip)
        movq rate(%rip), %rbx              /* ticks per 16 writes = tsc_hz * 16 * 8 * quads / rate */
        testq %rbx, %rbx
        jz 18f
        movq tsc_khz(%rip), %rax
        imulq $1000, %rax
        imulq bpw_quads(%rip), %rax
        shlq $7, %rax
        xorl %edx, %edx
        divq %rbx
        movq %rax, ticks_per_16(%rip)
18:     movq disk_bytes(%rip), %rax        /* disk: blocks, and TSC ticks per 4 KiB write */
        shrq $12, %rax
        movq %rax, disk_blocks(%rip)
        movq rng(%rip), %rax
        movabsq $0x5DEECE66D2545F49, %rdx
        xorq %rdx, %rax
        jnz 19f
        movq %rdx, %rax
19:     movq %rax, disk_rng(%rip)
        movq disk_rate(%rip), %rbx
        testq %rbx, %rbx
        jz 20f
        movq tsc_khz(%rip), %rax
        imulq $1000, %rax
        shlq $12, %rax
        xorl %edx, %edx
        divq %rbx
        testq %rax, %rax
        jnz 21f
        incq %rax                          /* faster than the TSC: one tick */
21:     movq %rax, disk_ticks(%rip)
20:     ret

/*
 * Replayable mode's batch: paced, the writes of about 1 ms at the rate (at least one, at most
 * BATCH_MAX) and the ns they take at the rate; unpaced, 64 writes to start with, sized on the go.
 */
replay_batch:
        movq $64, batch_writes(%rip)
        movq $0, batch_ns(%rip)
        movq rate(%rip), %rbx
        testq %rbx, %rbx
        jz 9f
        movq bpw_quads(%rip), %rcx
        shlq $3, %rcx                      /* bytes per write */
        movq %rcx, %r8
        imulq $1000, %r8
        movq %rbx, %rax
        xorl %edx, %edx
        divq %r8                           /* writes per ms */
        testq %rax, %rax
        jnz 1f
        incq %rax
1:      cmpq $BATCH_MAX, %rax
        jbe 2f
        movq $BATCH_MAX, %rax
2:      movq %rax, batch_writes(%rip)
        imulq %rcx, %rax                   /* bytes per batch, at most 2^32 */
        imulq $1000000000, %rax
        xorl %edx, %edx
        divq %rbx
        testq %rax, %rax
        jnz 3f
        incq %rax
3:      movq %rax, batch_ns(%rip)
9:      ret

/*
 * RAM from the Multiboot memory map: low_top, high_base, high_bytes, hole_shift, ram_bytes (RAM
 * offsets run to low_top + high_bytes).
 */
memory_map:
        movl boot_mem_upper(%rip), %eax    /* without a map: 1 MiB + mem_upper KiB */
        shlq $10, %rax
        addq $0x100000, %rax
        movq %rax, low_top(%rip)
        movq $0, high_bytes(%rip)
        movl boot_mbi(%rip), %ebx
        testl $0x40, (%rbx)
        jz 49f
        movl 44(%rbx), %ecx                /* mmap_length */
        movl 48(%rbx), %esi                /* mmap_addr */
        addq %rsi, %rcx                    /* the map's end */
40:     cmpq %rcx, %rsi
        jae 49f
        cmpl $1, 20(%rsi)                  /* available RAM? */
        jne 44f
        movq 4(%rsi), %rax                 /* base */
        movq 12(%rsi), %rdx                /* length */
        cmpq $0x100000, %rax
        ja 42f
        leaq (%rax,%rdx), %r8              /* a range from at or below 1 MiB: low RAM if past it */
        cmpq $0x100000, %r8
        jbe 44f
        movq %r8, low_top(%rip)
        jmp 44f
42:     movabsq $0x100000000, %r8          /* the first range from 4 GiB up: high RAM */
        cmpq %r8, %rax
        jb 44f
        cmpq $0, high_bytes(%rip)
        jne 44f
        movq %rax, high_base(%rip)
        movq %rdx, high_bytes(%rip)
44:     movl (%rsi), %eax                  /* the entry's size, not counting itself */
        leaq 4(%rsi,%rax), %rsi
        jmp 40b
49:     cmpq $0, high_bytes(%rip)
        je 47f
        movabsq $0x8000000000, %rax        /* mappable up to 512 GiB */
        subq high_base(%rip), %rax         /* room from the base to there */
        ja 46f
        movq $0, high_bytes(%rip)
        jmp 47f
46:     cmpq %rax, high_bytes(%rip)
        jbe 47f
        movq %rax, high_bytes(%rip)
47:     movq high_base(%rip), %rax
        subq low_top(%rip), %rax
        movq %rax, hole_shift(%rip)
        movq low_top(%rip), %rax
        addq high_bytes(%rip), %rax
        movq %rax, ram_bytes(%rip)

        /* Page directories for high RAM, GiB g at HIGH_PDS + (g - 4) * 4 KiB, PDPT[g] -> it. */
        movq high_bytes(%rip), %rcx
        testq %rcx, %rcx
        jz 59f
        movq high_base(%rip), %rax
        addq %rax, %rcx
        addq $0x3FFFFFFF, %rcx
        shrq $30, %rcx                     /* one past the last GiB */
        shrq $30, %rax                     /* g, from 4 */
50:     cmpq %rcx, %rax
        jae 59f
        leaq -4(%rax), %rdi
        shlq $12, %rdi
        addq $HIGH_PDS, %rdi               /* this GiB's directory */
        movq %rax, %rdx
        shlq $30, %rdx
        orq $0x87, %rdx                    /* present, writable, user, 2 MiB */
        xorl %r8d, %r8d
51:     movq %rdx, (%rdi,%r8,8)
        addq $0x200000, %rdx
        incq %r8
        cmpq $512, %r8
        jb 51b
        orq $7, %rdi
        movq %rdi, PDPT(,%rax,8)           /* linked last: the directory is complete */
        incq %rax
        jmp 50b
59:     ret

/* Parses "k=decimal" words of the command line at rsi into the parameters; skips other words. */
parse_cmdline:
30:     lodsb                              /* skip spaces */
        cmpb $' ', %al
        je 30b
        testb %al, %al
        jz 39f
        movb %al, %r8b                     /* the key */
        lodsb
        cmpb $'=', %al
        jne 37f
        xorl %ecx, %ecx                    /* the value */
31:     movzbl (%rsi), %edx
        subl $'0', %edx
        cmpl $9, %edx
        ja 32f
        imulq $10, %rcx
        addq %rdx, %rcx
        incq %rsi
        jmp 31b
32:     cmpb $'w', %r8b
        jne 33f
        shrq $12, %rcx
        movq %rcx, ws_pages(%rip)
        jmp 30b
33:     cmpb $'b', %r8b
        jne 34f
        addq $7, %rcx
        shrq $3, %rcx
        movq %rcx, bpw_quads(%rip)
        jmp 30b
34:     leaq cmdline_keys(%rip), %rdi     /* the other keys store the value as it is */
        xorl %edx, %edx
35:     cmpb (%rdi,%rdx), %r8b
        je 38f
        incl %edx
        cmpl $CMDLINE_VARS, %edx
        jb 35b
        jmp 30b                            /* an unknown key: ignored */
38:     leaq cmdline_vars(%rip), %rdi
        movq (%rdi,%rdx,8), %rdi
        movq %rcx, (%rdi)
        jmp 30b
37:     testb %al, %al                     /* not k=v: skip the word */
        jz 39f
        cmpb $' ', %al
        je 30b
        lodsb
        jmp 37b
39:     ret

print_str:                                 /* the NUL-terminated string at rsi */
        cmpq $0, replayable(%rip)
        jne 18f
17:     lodsb
        testb %al, %al
        jz 19f
        outb %al, $CONSOLE
        jmp 17b
19:     ret
18:     pushq %rcx                         /* replayable: the whole string in one exit (rep outsb) */
        pushq %rdx
        pushq %rdi
        movq %rsi, %rdi
        xorl %eax, %eax
        movq $-1, %rcx
        repne scasb
        notq %rcx
        decq %rcx                          /* the length */
        movl $CONSOLE, %edx
        rep outsb
        popq %rdi
        popq %rdx
        popq %rcx
        ret

newline:
        movb $'\n', %al
        outb %al, $CONSOLE
        ret

print_dec:                                 /* rax in decimal */
        leaq digits_end(%rip), %rdi
        movq $10, %rbx
20:     xorl %edx, %edx
        divq %rbx
        addb $'0', %dl
        decq %rdi
        movb %dl, (%rdi)
        testq %rax, %rax
        jnz 20b
        movq %rdi, %rsi
        jmp print_str

        .section .rodata
cmdline_keys:   .ascii "prftcs"            /* command-line keys stored as they are, and where */
        .set CMDLINE_VARS, . - cmdline_keys
        .align 8
cmdline_vars:   .quad pattern, rate, tsc_khz, tick_ms, check_ms, rng
msg_start:      .asciz "dirtier start ws="
msg_bpw:        .asciz " bpw="
msg_high:       .asciz " high="
msg_tick:       .asciz "tick "
msg_writes:     .asciz " writes "
msg_check_ok:   .asciz "check ok "
msg_torn:       .asciz "check FAILED: torn page "
msg_sum:        .asciz "check FAILED: sum "
msg_expected:   .asciz " expected "
msg_disk_start: .asciz "disk start blocks="
msg_disk_rate:  .asciz " rate="
msg_disk_ok:    .asciz "disk ok "
msg_disk_requests: .asciz " requests "
msg_disk_used:  .asciz " used index "
msg_time:       .asciz "time max-step "
msg_time_back:  .asciz " back "
msg_replay:     .asciz "replay clock-reads "
msg_sleeps:     .asciz " sleeps "
msg_batch:      .asciz " batch "
msg_disk_failed: .asciz "disk FAILED"
msg_disk_nodev: .asciz " init: no virtio-blk device (magic, version 2, device 2) at the address given"
msg_disk_features: .asciz " init: the device does not offer or accept VIRTIO_F_VERSION_1"
msg_disk_queue: .asciz " init: the device's queue cannot hold 8 entries"
msg_disk_capacity: .asciz " init: the device's capacity is not the disk size given"
msg_disk_write: .asciz " write"
msg_disk_read:  .asciz " read"
msg_disk_flush: .asciz " flush"
msg_disk_block: .asciz " block "
msg_disk_status: .asciz " status "
msg_disk_expected: .asciz " expected serial "
msg_disk_found: .asciz " found "

        .data
        .align 16
gdt:
        .quad 0
        .quad 0x00CF9A000000FFFF           /* 0x08 code32, ring 0 */
        .quad 0x00CF92000000FFFF           /* 0x10 data, ring 0 */
        .quad 0x00AF9A000000FFFF           /* 0x18 code64, ring 0 */
        .quad 0x00CFF2000000FFFF           /* 0x20 data, ring 3 */
        .quad 0x00AFFA000000FFFF           /* 0x28 code64, ring 3 */
gdt_end:
gdt_descriptor:
        .word gdt_end - gdt - 1
        .long gdt
digits:         .space 24
digits_end:     .byte 0

        .bss
        .align 8
boot_mem_upper: .quad 0
boot_mbi:       .quad 0
low_top:        .quad 0
high_base:      .quad 0
high_bytes:     .quad 0
hole_shift:     .quad 0
ram_bytes:      .quad 0
ws_base:        .quad 0
ws_pages:       .quad 0
bpw_quads:      .quad 0
pattern:        .quad 0
rate:           .quad 0
tsc_khz:        .quad 0
tick_ms:        .quad 0
check_ms:       .quad 0
rng:            .quad 0
tick_ticks:     .quad 0
check_ticks:    .quad 0
behind_limit:   .quad 0
ticks_per_16:   .quad 0
deadline:       .quad 0
next_tick:      .quad 0
next_check:     .quad 0
idx:            .quad 0
writes:         .quad 0
sum:            .quad 0
ticks:          .quad 0
checks:         .quad 0
vio:            .quad 0
disk_bytes:     .quad 0
disk_rate:      .quad 0
disk_area:      .quad 0
disk_blocks:    .quad 0
disk_ticks:     .quad 0
disk_deadline:  .quad 0
disk_rng:       .quad 0
disk_serial:    .quad 0
disk_avail:     .quad 0
disk_checks:    .quad 0
time_last:      .quad 0
time_max:       .quad 0
time_back:      .quad 0
last_step:      .quad 0
replayable:     .quad 0
clk_last32:     .quad 0
clk_us:         .quad 0
batch_writes:   .quad 0
batch_ns:       .quad 0
deadline_ns:    .quad 0
clock_reads:    .quad 0
sleeps:         .quad 0
