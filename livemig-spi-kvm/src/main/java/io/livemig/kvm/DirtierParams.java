package io.livemig.kvm;

import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * What the dirtier guest does, written where it reads it: a parameter block at guest-physical
 * {@value #ADDRESS} (see {@code dirtier.S}).
 *
 * <p>The working set is a range of RAM counted without holes: the guest reads its memory map and
 * skips the MMIO hole, so RAM offset {@code x} is guest-physical {@code x} below the hole
 * (3 GiB in the {@link MicroVmm}) and {@code x - 3 GiB + 4 GiB} above it. A working set of
 * {@code [3 GiB - 2 MiB, +4 MiB)} in a 4 GiB VM is 2 MiB below the hole and 2 MiB from 4 GiB.
 *
 * @param workingSetBase  first byte of the working set as a RAM offset, a multiple of 4 KiB, at
 *                        or above 4 MiB
 * @param workingSetBytes bytes of the working set, at least one page
 * @param bytesPerWrite   bytes each write stores (rounded up to 8, at most 4096)
 * @param random          random pages (true) or a sequential sweep
 * @param bytesPerSecond  write rate; 0 for as fast as the vCPU goes
 * @param tickMillis      a progress line every this many ms
 * @param checkMillis     a self-check every this many ms (of memory, and of the disk in disk mode)
 * @param seed            the random pattern's seed (non-zero)
 * @param disk            disk mode, or empty for memory only
 * @param replayable      replayable mode: every input the guest takes crosses a VM exit, for trace
 *                        and replay. The guest runs no RDTSC (nor any instruction that reads from
 *                        outside without an exit); its clock is the VMM's, in microseconds, read
 *                        from I/O port {@value #CLOCK_PORT}, and when ahead of its rate it asks the
 *                        VMM to sleep by writing the microseconds to port {@value #SLEEP_PORT}. It
 *                        writes in batches of about 1 ms with one clock read each, so at most
 *                        about two exits and four bytes of input per ms, at any rate (unpaced, the
 *                        batch grows or shrinks to take about 1 ms). The TSC frequency given to
 *                        {@link #writeTo} is then ignored. The rate, ticks and checks mean the same.
 */
public record DirtierParams(long workingSetBase, long workingSetBytes, int bytesPerWrite, boolean random,
                            long bytesPerSecond, long tickMillis, long checkMillis, long seed, Optional<Disk> disk,
                            boolean replayable) {

    /** Where the guest reads its parameters. */
    public static final long ADDRESS = 0x8000;
    /**
     * Where the guest keeps its disk bookkeeping in disk mode (the ring, its buffers, a serial per
     * block: {@link #diskAreaBytes}): from 4 MiB, so the working set starts after it.
     */
    public static final long DISK_AREA_BASE = 4L << 20;
    /** Replayable mode: the port whose 32-bit read is the VMM's monotonic clock in microseconds, low 32 bits. */
    public static final int CLOCK_PORT = 0xEC;
    /** Replayable mode: the port whose 32-bit write asks the VMM to sleep that many microseconds (at most 100 ms). */
    public static final int SLEEP_PORT = 0xED;
    private static final long MAGIC = 0x3159545249444d4cL; // "LMDIRTY1"
    /** The flags word's replayable bit. */
    private static final long FLAG_REPLAYABLE = 1;
    /** The disk area up to the serial table: descriptors, rings, header, write buffer, 1 MiB read buffer. */
    private static final long DISK_AREA_FIXED_BYTES = 0x102000;

    /**
     * The dirtier's disk mode: it drives the virtio-blk device at {@code mmioBase}, writes 4 KiB
     * blocks at random at {@code bytesPerSecond}, each filled with (block number, write serial)
     * pairs, and reads the whole disk back at every self-check (see {@code dirtier.S}). The disk
     * must read as zeros when the guest boots.
     *
     * @param mmioBase       the device's virtio-mmio registers, a 4 KiB-aligned address below 4 GiB
     *                       ({@link VirtioBlk#MMIO_BASE} in the {@link MicroVmm})
     * @param diskBytes      the disk's size, a positive multiple of 4 KiB
     * @param bytesPerSecond the write rate; 0 for no writes (checks only)
     */
    public record Disk(long mmioBase, long diskBytes, long bytesPerSecond) {

        /**
         * Checks the components.
         *
         * @throws IllegalArgumentException for a misplaced window, a size not whole 4 KiB blocks, or a negative rate
         */
        public Disk {
            if (mmioBase <= 0 || mmioBase % 4096 != 0 || mmioBase >= (4L << 30)) {
                throw new IllegalArgumentException("the disk's MMIO base must be a 4 KiB-aligned address below 4 GiB, was 0x"
                        + Long.toHexString(mmioBase));
            }
            if (diskBytes <= 0 || diskBytes % 4096 != 0) {
                throw new IllegalArgumentException("the dirtier's disk must be whole 4 KiB blocks, was " + diskBytes);
            }
            if (bytesPerSecond < 0) {
                throw new IllegalArgumentException("the disk write rate must be at least 0, was " + bytesPerSecond);
            }
        }
    }

    /**
     * Memory only: as the canonical constructor without disk mode.
     *
     * @param workingSetBase first byte of the working set as a RAM offset
     * @param workingSetBytes bytes of the working set, at least one page
     * @param bytesPerWrite bytes each write stores (rounded up to 8, at most 4096)
     * @param random random pages (true) or a sequential sweep
     * @param bytesPerSecond write rate; 0 for as fast as the vCPU goes
     * @param tickMillis a progress line every this many ms
     * @param checkMillis a self-check every this many ms
     * @param seed the random pattern's seed (non-zero)
     */
    public DirtierParams(long workingSetBase, long workingSetBytes, int bytesPerWrite, boolean random,
                         long bytesPerSecond, long tickMillis, long checkMillis, long seed) {
        this(workingSetBase, workingSetBytes, bytesPerWrite, random, bytesPerSecond, tickMillis, checkMillis, seed,
                Optional.empty(), false);
    }

    /**
     * Not replayable: as the canonical constructor with {@code replayable} false.
     *
     * @param workingSetBase first byte of the working set as a RAM offset
     * @param workingSetBytes bytes of the working set, at least one page
     * @param bytesPerWrite bytes each write stores (rounded up to 8, at most 4096)
     * @param random random pages (true) or a sequential sweep
     * @param bytesPerSecond write rate; 0 for as fast as the vCPU goes
     * @param tickMillis a progress line every this many ms
     * @param checkMillis a self-check every this many ms
     * @param seed the random pattern's seed (non-zero)
     * @param disk disk mode, or empty for memory only
     */
    public DirtierParams(long workingSetBase, long workingSetBytes, int bytesPerWrite, boolean random,
                         long bytesPerSecond, long tickMillis, long checkMillis, long seed, Optional<Disk> disk) {
        this(workingSetBase, workingSetBytes, bytesPerWrite, random, bytesPerSecond, tickMillis, checkMillis, seed,
                disk, false);
    }

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for a working set that is not whole pages above 4 MiB (above
     *                                  the disk area, in disk mode), or bad rates
     */
    public DirtierParams {
        Objects.requireNonNull(disk, "disk");
        if (disk.isPresent() && workingSetBase < diskAreaEnd(disk.get().diskBytes())) {
            throw new IllegalArgumentException("in disk mode the working set starts after the disk area, at "
                    + diskAreaEnd(disk.get().diskBytes()) + " or above, not " + workingSetBase);
        }
        if (workingSetBase < (4L << 20) || workingSetBase % 4096 != 0 || workingSetBytes < 4096
                || workingSetBytes % 4096 != 0) {
            throw new IllegalArgumentException("the working set must be whole pages from 4 MiB up, was " + workingSetBase
                    + " + " + workingSetBytes);
        }
        if (bytesPerWrite < 1 || bytesPerWrite > 4096 || bytesPerSecond < 0 || tickMillis < 1 || checkMillis < 1
                || seed == 0) {
            throw new IllegalArgumentException("bad dirtier parameters: bytesPerWrite " + bytesPerWrite
                    + ", bytesPerSecond " + bytesPerSecond + ", tick " + tickMillis + " ms, check " + checkMillis
                    + " ms, seed " + seed);
        }
    }

    /**
     * {@return the bytes of the guest's disk area from {@link #DISK_AREA_BASE}: 1 MiB and 8 KiB of
     * rings and buffers, and 8 bytes per 4 KiB block, rounded up to 4 KiB}
     *
     * @param diskBytes the disk's size
     */
    public static long diskAreaBytes(long diskBytes) {
        long table = (diskBytes / 4096 * 8 + 4095) / 4096 * 4096;
        return DISK_AREA_FIXED_BYTES + table;
    }

    /**
     * {@return the first byte past the disk area of a disk of {@code diskBytes}, 4 KiB-aligned}
     *
     * @param diskBytes the disk's size in bytes
     */
    public static long diskAreaEnd(long diskBytes) {
        return DISK_AREA_BASE + diskAreaBytes(diskBytes);
    }

    /**
     * {@return these parameters with disk mode {@code d}}
     *
     * @param d the disk mode
     */
    public DirtierParams withDisk(Disk d) {
        return new DirtierParams(workingSetBase, workingSetBytes, bytesPerWrite, random, bytesPerSecond, tickMillis,
                checkMillis, seed, Optional.of(d), replayable);
    }

    /**
     * {@return these parameters in replayable mode ({@code true}) or not}
     *
     * @param on whether the guest takes every input through a VM exit (see {@link #replayable})
     */
    public DirtierParams withReplayable(boolean on) {
        return new DirtierParams(workingSetBase, workingSetBytes, bytesPerWrite, random, bytesPerSecond, tickMillis,
                checkMillis, seed, disk, on);
    }

    /**
     * {@return whole-page random writes over all RAM from 4 MiB, at {@code bytesPerSecond}}
     *
     * @param bytesPerSecond write rate; 0 for as fast as the vCPU goes
     * @param memoryBytes the VM's RAM in bytes, more than 4 MiB
     */
    public static DirtierParams wholeRam(long memoryBytes, long bytesPerSecond) {
        return new DirtierParams(4L << 20, memoryBytes - (4L << 20), 4096, true, bytesPerSecond, 500, 2000, 7);
    }

    /**
     * Writes the block into the RAM of a VM of contiguous RAM from 0 (no hole).
     *
     * @param ram    guest RAM from guest-physical 0
     * @param tscKhz the guest's TSC frequency, which paces the writes (unused in replayable mode)
     * @throws IllegalArgumentException if the working set does not fit in {@code ram}
     */
    public void writeTo(MemorySegment ram, long tscKhz) {
        write(ram, ram.byteSize(), tscKhz);
    }

    /**
     * Writes the block into the RAM of {@code vm}, whose layout may have a hole.
     *
     * @param tscKhz the guest's TSC frequency, which paces the writes (unused in replayable mode)
     * @param vm the VM whose RAM receives the block
     * @throws IllegalArgumentException if the working set does not fit in the VM's RAM
     */
    public void writeTo(KvmVm vm, long tscKhz) {
        write(vm.memory(), vm.memoryBytes(), tscKhz);
    }

    private void write(MemorySegment ram, long ramBytes, long tscKhz) {
        if (workingSetBase + workingSetBytes > ramBytes) {
            throw new IllegalArgumentException("the working set ends at " + (workingSetBase + workingSetBytes)
                    + ", past the guest's " + ramBytes + " bytes of RAM");
        }
        long diskArea = 0;
        if (disk.isPresent()) {
            diskArea = DISK_AREA_BASE;
            long end = diskAreaEnd(disk.get().diskBytes());
            if (end > Math.min(ramBytes, KvmVm.LOW_RAM_END)) {
                throw new IllegalArgumentException("the disk area of a " + disk.get().diskBytes() + "-byte disk ends at "
                        + end + ", past the guest's RAM below the MMIO hole");
            }
        }
        Disk d = disk.orElse(null);
        long[] block = {MAGIC, workingSetBase, workingSetBytes, bytesPerWrite, random ? 1 : 0, bytesPerSecond, tscKhz,
                tickMillis, checkMillis, seed, d == null ? 0 : d.mmioBase(), d == null ? 0 : d.diskBytes(),
                d == null ? 0 : d.bytesPerSecond(), diskArea, replayable ? FLAG_REPLAYABLE : 0};
        for (int i = 0; i < block.length; i++) {
            ram.set(JAVA_LONG, ADDRESS + 8L * i, block[i]);
        }
    }
}
