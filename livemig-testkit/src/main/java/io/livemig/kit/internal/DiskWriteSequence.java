package io.livemig.kit.internal;

import io.livemig.kit.Workload;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.MemoryLayout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The writes a kit guest makes to one disk, in order: which block (the workload's pattern over
 * its working set, chosen by the same {@link WriteSequence} as a guest's pages, the disk seen as
 * one region of blocks) and what it holds. Every write covers a whole block, whatever the
 * workload's {@link Workload#bytesPerWrite()}.
 *
 * <p><b>Content.</b> A block written by write number {@code serial} (1 for the disk's first
 * write, counting on across migrations) is self-describing, little-endian:
 * <pre>
 *   offset  size  field
 *        0     8  block number
 *        8     8  serial
 *       16     8  the workload's seed
 *       24   ...  xorshift64 words seeded from (block, serial, seed), never zero
 * </pre>
 *
 * <p>Its state ({@link #generatorState()}, {@link #cursor()}, {@link #writesDone()},
 * {@link #credit()}) migrates with the disk workload device, so that a migrated guest continues
 * the same writes.
 *
 * <p>Not thread-safe: its owner orders the calls (the disk writer thread between pauses, or a
 * simulated VM's lock); only {@link #writesDone()} may be read by any thread at any time.
 */
public final class DiskWriteSequence {

    private final int blockSize;
    private final WriteSequence blocks;
    private long seed;
    /** Written by the owner only; volatile so that tests can watch it while the guest runs. */
    private volatile long writesDone;
    private double credit;

    /**
     * @param disk     the disk written
     * @param workload the initial workload
     * @param stream   which of the workload's sequences (the disk's index in its VM)
     */
    public DiskWriteSequence(DiskDescriptor disk, Workload workload, int stream) {
        this.blockSize = disk.blockSizeBytes();
        this.blocks = new WriteSequence(MemoryLayout.contiguous(blockSize, disk.sizeBytes()), workload, stream, true);
        this.seed = workload.seed();
    }

    /**
     * Replaces the workload (a migrated guest receives its configuration); the generator, the
     * cursor and the serial go on.
     *
     * @param workload the workload
     */
    public void configure(Workload workload) {
        blocks.configure(workload);
        seed = workload.seed();
    }

    /** @return block writes per nanosecond before any throttle; 0 for a workload that does not write */
    public double writesPerNano() {
        return blocks.writesPerNano(1);
    }

    /** @return the block of the next write */
    public long nextBlock() {
        return blocks.nextPage();
    }

    /**
     * Counts one more write and makes its content.
     *
     * @param block the block written, from {@link #nextBlock()}
     * @return a new array of one block: the content of this write
     */
    public byte[] nextContent(long block) {
        long serial = writesDone + 1;
        writesDone = serial;
        byte[] bytes = new byte[blockSize];
        ByteBuffer out = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(0, block).putLong(8, serial).putLong(16, seed);
        long x = Prefill.mix((block * Prefill.GOLDEN_GAMMA) ^ (serial + seed * 31)) | 1;
        for (int i = 24; i + 8 <= blockSize; i += 8) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            out.putLong(i, x);
        }
        return bytes;
    }

    /** @return the writes made so far, across migrations: the serial of the last one */
    public long writesDone() {
        return writesDone;
    }

    /** @return the block generator's state, never 0 */
    public long generatorState() {
        return blocks.generatorState();
    }

    /** @return the sequential pattern's position */
    public long cursor() {
        return blocks.cursor();
    }

    /** @return the fraction of a write due but not made yet (a guest paced by virtual time), 0 to 2 */
    public double credit() {
        return credit;
    }

    /** @param credit writes due but not made yet, as a simulated guest accrues them */
    public void credit(double credit) {
        this.credit = credit;
    }

    /**
     * Continues a sequence saved elsewhere (a migrated guest's).
     *
     * @param generatorState a {@link #generatorState()}, not 0
     * @param cursor         a {@link #cursor()}, not negative
     * @param writes         a {@link #writesDone()}, not negative
     * @param pendingCredit  a {@link #credit()}, in [0, 2)
     * @throws IllegalArgumentException for values no sequence could have saved
     */
    public void restore(long generatorState, long cursor, long writes, double pendingCredit) {
        if (writes < 0 || !(pendingCredit >= 0 && pendingCredit < 2)) {
            throw new IllegalArgumentException("malformed disk write sequence state");
        }
        blocks.restore(generatorState, cursor);
        writesDone = writes;
        credit = pendingCredit;
    }
}
