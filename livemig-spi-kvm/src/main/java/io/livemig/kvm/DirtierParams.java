package io.livemig.kvm;

import java.lang.foreign.MemorySegment;

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
 * @param checkMillis     a self-check every this many ms
 * @param seed            the random pattern's seed (non-zero)
 */
public record DirtierParams(long workingSetBase, long workingSetBytes, int bytesPerWrite, boolean random,
                            long bytesPerSecond, long tickMillis, long checkMillis, long seed) {

    /** Where the guest reads its parameters. */
    public static final long ADDRESS = 0x8000;
    private static final long MAGIC = 0x3159545249444d4cL; // "LMDIRTY1"

    /** @throws IllegalArgumentException for a working set that is not whole pages above 4 MiB, or bad rates */
    public DirtierParams {
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

    /** @return whole-page random writes over all RAM from 4 MiB, at {@code bytesPerSecond} */
    public static DirtierParams wholeRam(long memoryBytes, long bytesPerSecond) {
        return new DirtierParams(4L << 20, memoryBytes - (4L << 20), 4096, true, bytesPerSecond, 500, 2000, 7);
    }

    /**
     * Writes the block into the RAM of a VM of contiguous RAM from 0 (no hole).
     *
     * @param ram    guest RAM from guest-physical 0
     * @param tscKhz the guest's TSC frequency, which paces the writes
     * @throws IllegalArgumentException if the working set does not fit in {@code ram}
     */
    public void writeTo(MemorySegment ram, long tscKhz) {
        write(ram, ram.byteSize(), tscKhz);
    }

    /**
     * Writes the block into the RAM of {@code vm}, whose layout may have a hole.
     *
     * @param tscKhz the guest's TSC frequency, which paces the writes
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
        long[] block = {MAGIC, workingSetBase, workingSetBytes, bytesPerWrite, random ? 1 : 0, bytesPerSecond, tscKhz,
                tickMillis, checkMillis, seed};
        for (int i = 0; i < block.length; i++) {
            ram.set(JAVA_LONG, ADDRESS + 8L * i, block[i]);
        }
    }
}
