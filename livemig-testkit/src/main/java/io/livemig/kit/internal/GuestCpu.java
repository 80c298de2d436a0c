package io.livemig.kit.internal;

import io.livemig.api.TimeSource;
import io.livemig.kit.Workload;

import java.nio.ByteBuffer;
import java.util.function.IntSupplier;

/**
 * One vCPU of an in-memory kit VM: a thread that writes into guest memory as its
 * {@link Workload} says, paced on a {@link TimeSource} by a {@link Pacer}, and marks every
 * written page dirty after the write. Which pages, offsets and bytes it writes come from its
 * {@link WriteSequence}.
 *
 * <p>Its execution state ({@link #saveState()}: random generator, write count, sequential cursor)
 * is what migrates as this vCPU's state, so a migrated guest continues the same sequence of writes.
 *
 * <p>Threading: {@link #run()} runs on the vCPU thread; the state accessors are called only while
 * the {@link RunGate} is paused, which orders them with the thread's slices.
 */
public final class GuestCpu implements Runnable {

    /** State format name of {@link #saveState()}. */
    public static final String STATE_FORMAT = "livemig-mem-vcpu-v1";
    /** Bytes a slice may write before it checks the pause gate again. */
    private static final int SLICE_BYTES = 256 << 10;

    private final int index;
    private final PagedMemory memory;
    private final WriteBarrierTracker tracker;
    private final RunGate gate;
    private final TimeSource time;
    private final IntSupplier throttlePercent;
    private final PresenceMap presence;
    private final int vcpuCount;
    private final int pageSize;
    private final WriteSequence sequence;

    private double writesPerNano;
    private long writesDone;

    /**
     * @param index           the vCPU index
     * @param vcpuCount       the VM's vCPU count (the rate is split evenly)
     * @param memory          guest RAM
     * @param tracker         the write barrier
     * @param gate            the VM's pause gate
     * @param time            the clock that paces writes
     * @param throttlePercent the VM's current throttle, read once per slice
     * @param workload        the initial workload
     * @param presence        the VM's demand-paging state: writes to missing pages wait
     */
    public GuestCpu(int index, int vcpuCount, PagedMemory memory, WriteBarrierTracker tracker, RunGate gate,
                    TimeSource time, IntSupplier throttlePercent, Workload workload, PresenceMap presence) {
        this.index = index;
        this.memory = memory;
        this.tracker = tracker;
        this.gate = gate;
        this.time = time;
        this.throttlePercent = throttlePercent;
        this.presence = presence;
        this.pageSize = memory.pageSize();
        this.vcpuCount = vcpuCount;
        this.sequence = new WriteSequence(memory.layout(), workload, index, false);
        this.writesPerNano = sequence.writesPerNano(vcpuCount);
    }

    /**
     * Replaces the workload (used when a migrated guest receives its configuration). Call only
     * while the VM is paused.
     *
     * @param workload the workload
     */
    public void configure(Workload workload) {
        sequence.configure(workload);
        this.writesPerNano = sequence.writesPerNano(vcpuCount);
    }

    /** @return the number of writes this vCPU has done since the guest started (across migrations) */
    public long writesDone() {
        return writesDone;
    }

    @Override
    public void run() {
        Pacer pacer = new Pacer();
        try {
            while (true) {
                long resumes = gate.enterSlice();
                if (resumes < 0) {
                    return;
                }
                int writes;
                try {
                    double rate = writesPerNano * (100 - throttlePercent.getAsInt()) / 100.0;
                    writes = pacer.due(resumes, time.nanoTime(), rate,
                            Math.max(1, SLICE_BYTES / sequence.bytesPerWrite()));
                    for (int i = 0; i < writes; i++) {
                        if (!writeOnce()) {
                            return;
                        }
                    }
                } finally {
                    gate.exitSlice();
                }
                if (writes == 0) {
                    time.sleepNanos(writesPerNano == 0 ? Pacer.IDLE_SLEEP_NANOS : Pacer.BUSY_SLEEP_NANOS);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** @return false if the VM closed while this vCPU waited for a missing page */
    private boolean writeOnce() throws InterruptedException {
        long page = sequence.nextPage();
        if (!presence.awaitPresent(page, index, gate)) {
            return false;
        }
        ByteBuffer chunk = memory.chunkOf(page);
        int base = memory.offsetInChunk(page);
        int length = sequence.bytesPerWrite();
        int at = base + sequence.nextOffset();
        int end = at + length;
        for (; at + 8 <= end; at += 8) {
            chunk.putLong(at, sequence.nextLong() | 1L);
        }
        if (at < end) {
            long value = sequence.nextLong() | 1L;
            for (; at < end; at++, value >>>= 8) {
                chunk.put(at, (byte) (value | 1));
            }
        }
        writesDone++;
        tracker.markDirty(page);
        return true;
    }

    /** @return this vCPU's execution state: index, generator, write count, cursor (32 bytes) */
    public byte[] saveState() {
        return ByteBuffer.allocate(32).putInt(index).putInt(0).putLong(sequence.generatorState()).putLong(writesDone)
                .putLong(sequence.cursor()).array();
    }

    /**
     * @param state bytes from {@link #saveState()} of the vCPU with the same index
     * @throws IllegalArgumentException if malformed
     */
    public void loadState(byte[] state) {
        if (state.length != 32) {
            throw new IllegalArgumentException("vCPU state must be 32 bytes, was " + state.length);
        }
        ByteBuffer b = ByteBuffer.wrap(state);
        int stateIndex = b.getInt();
        b.getInt();
        long rng = b.getLong();
        long writes = b.getLong();
        long cursor = b.getLong();
        if (stateIndex != index || rng == 0 || writes < 0 || cursor < 0) {
            throw new IllegalArgumentException("malformed vCPU state for vCPU " + index);
        }
        sequence.restore(rng, cursor);
        writesDone = writes;
    }
}
