package io.livemig.kit.internal;

import io.livemig.api.TimeSource;

import java.util.List;
import java.util.function.IntSupplier;

/**
 * The disk I/O of an in-memory kit guest: a thread that writes whole blocks to each of the VM's
 * disks as their {@link DiskWriteSequence}s say, each disk at the disk workload's rate, paced on
 * a {@link TimeSource} by one {@link Pacer} per disk and scaled down by the vCPU throttle (a
 * throttled guest submits less I/O).
 *
 * <p>It writes inside the VM's {@link RunGate} slices, like the vCPU threads: pausing the VM
 * stops its disk writes too and waits for the one in flight, so that a paused VM's disks are
 * quiescent.
 *
 * <p>Threading: {@link #run()} runs on the writer thread; the sequences are touched by others
 * only while the gate is paused.
 */
public final class GuestDiskWriter implements Runnable {

    /** Bytes a slice may write to one disk before the thread checks the pause gate again. */
    private static final int SLICE_BYTES = 256 << 10;

    /** Where a guest write goes: stores a block the writer built and hands over, and records it. */
    @FunctionalInterface
    public interface BlockWrite {
        /**
         * @param block      the block
         * @param blockBytes its new content, one block, owned by the callee from now on
         */
        void write(long block, byte[] blockBytes);
    }

    private final List<DiskWriteSequence> sequences;
    private final List<BlockWrite> disks;
    private final int[] maxWritesPerSlice;
    private final RunGate gate;
    private final TimeSource time;
    private final IntSupplier throttlePercent;

    /**
     * @param sequences       one per disk
     * @param disks           the disks, in the same order
     * @param blockSizes      each disk's block size in bytes, in the same order
     * @param gate            the VM's pause gate
     * @param time            the clock that paces writes
     * @param throttlePercent the VM's current throttle, read once per slice
     */
    public GuestDiskWriter(List<DiskWriteSequence> sequences, List<BlockWrite> disks, List<Integer> blockSizes,
                           RunGate gate, TimeSource time, IntSupplier throttlePercent) {
        if (sequences.size() != disks.size() || blockSizes.size() != disks.size()) {
            throw new IllegalArgumentException("one sequence and one block size per disk");
        }
        this.sequences = List.copyOf(sequences);
        this.disks = List.copyOf(disks);
        this.maxWritesPerSlice = new int[disks.size()];
        for (int i = 0; i < maxWritesPerSlice.length; i++) {
            maxWritesPerSlice[i] = Math.max(1, SLICE_BYTES / blockSizes.get(i));
        }
        this.gate = gate;
        this.time = time;
        this.throttlePercent = throttlePercent;
    }

    @Override
    public void run() {
        Pacer[] pacers = new Pacer[disks.size()];
        for (int i = 0; i < pacers.length; i++) {
            pacers[i] = new Pacer();
        }
        try {
            while (true) {
                long resumes = gate.enterSlice();
                if (resumes < 0) {
                    return;
                }
                int writes = 0;
                boolean writing = false;
                try {
                    long now = time.nanoTime();
                    double unthrottled = (100 - throttlePercent.getAsInt()) / 100.0;
                    for (int d = 0; d < pacers.length; d++) {
                        DiskWriteSequence sequence = sequences.get(d);
                        double perNano = sequence.writesPerNano() * unthrottled;
                        writing |= perNano > 0;
                        int due = pacers[d].due(resumes, now, perNano, maxWritesPerSlice[d]);
                        BlockWrite disk = disks.get(d);
                        for (int i = 0; i < due; i++) {
                            long block = sequence.nextBlock();
                            disk.write(block, sequence.nextContent(block));
                        }
                        writes += due;
                    }
                } finally {
                    gate.exitSlice();
                }
                if (writes == 0) {
                    time.sleepNanos(writing ? Pacer.BUSY_SLEEP_NANOS : Pacer.IDLE_SLEEP_NANOS);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** @return the block writes made so far on all disks, across migrations; exact while paused */
    public long writesDone() {
        long total = 0;
        for (DiskWriteSequence s : sequences) {
            total += s.writesDone();
        }
        return total;
    }
}
