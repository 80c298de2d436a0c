package io.livemig.kit.internal;

import io.livemig.api.TimeSource;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.function.IntSupplier;

/**
 * One vCPU of an in-memory kit VM: a thread that writes into guest memory as its
 * {@link Workload} says, paced on a {@link TimeSource}, and marks every written page dirty after
 * the write.
 *
 * <p>Its execution state ({@link #saveState()}: random generator, write count, sequential cursor)
 * is what migrates as this vCPU's state, so a migrated guest continues the same sequence of writes.
 *
 * <p>Threading: {@link #run()} runs on the vCPU thread; the state accessors are called only while
 * the {@link RunGate} is paused, which orders them with the thread's slices.
 */
public final class GuestCpu implements Runnable {

    /** Bytes a slice may write before it checks the pause gate again. */
    private static final int SLICE_BYTES = 256 << 10;
    /** Most credit a vCPU accumulates, so that a late thread does not burst. */
    private static final long MAX_CREDIT_NANOS = 20_000_000L;

    private final int index;
    private final PagedMemory memory;
    private final WriteBarrierTracker tracker;
    private final RunGate gate;
    private final TimeSource time;
    private final IntSupplier throttlePercent;
    private final PresenceMap presence;
    private final int vcpuCount;
    private final int pageSize;
    private final long[] regionFirst;
    private final long[] regionStartIndex;

    private volatile Workload workload;
    private double writesPerNano;
    private long workingSetPages;
    private int bytesPerWrite;

    private long rngState;
    private long writesDone;
    private long sequentialCursor;

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
        MemoryLayout layout = memory.layout();
        List<MemoryRegion> regions = layout.regions();
        regionFirst = new long[regions.size()];
        regionStartIndex = new long[regions.size()];
        long start = 0;
        for (int i = 0; i < regions.size(); i++) {
            regionFirst[i] = regions.get(i).firstPage();
            regionStartIndex[i] = start;
            start += regions.get(i).pageCount();
        }
        this.vcpuCount = vcpuCount;
        configure(workload);
        this.rngState = mix(workload.seed() * 0x9E3779B97F4A7C15L + index + 1);
    }

    /**
     * Replaces the workload (used when a migrated guest receives its configuration).
     *
     * @param workload the workload
     */
    public void configure(Workload workload) {
        this.workload = workload;
        long ramPages = memory.layout().pageCount();
        long ws = workload.workingSetBytes() == 0 ? ramPages : Math.min(ramPages, workload.workingSetBytes() / pageSize);
        this.workingSetPages = Math.max(1, ws);
        this.bytesPerWrite = workload.bytesPerWrite() == 0 ? pageSize : Math.min(pageSize, workload.bytesPerWrite());
        double writesPerSecond = workload.writes() ? (double) workload.writeBytesPerSecond() / bytesPerWrite / vcpuCount : 0;
        this.writesPerNano = writesPerSecond / 1e9;
    }

    /** @return the number of writes this vCPU has done since the guest started (across migrations) */
    public long writesDone() {
        return writesDone;
    }

    @Override
    public void run() {
        long seenResumes = -2;
        long last = 0;
        double credit = 0;
        try {
            while (true) {
                long resumes = gate.enterSlice();
                if (resumes < 0) {
                    return;
                }
                int writes;
                try {
                    long now = time.nanoTime();
                    if (resumes != seenResumes) {
                        seenResumes = resumes;
                        last = now;
                        credit = 0;
                    }
                    long elapsed = Math.min(now - last, MAX_CREDIT_NANOS);
                    last = now;
                    double rate = writesPerNano * (100 - throttlePercent.getAsInt()) / 100.0;
                    // A guest that cannot keep up must not bank the writes it missed: a backlog
                    // would keep it writing at full speed long after a throttle is applied.
                    credit = Math.min(credit + elapsed * rate, Math.max(1, MAX_CREDIT_NANOS * rate));
                    writes = (int) Math.min(credit, Math.max(1, SLICE_BYTES / bytesPerWrite));
                    credit -= writes;
                    for (int i = 0; i < writes; i++) {
                        if (!writeOnce()) {
                            return;
                        }
                    }
                } finally {
                    gate.exitSlice();
                }
                if (writes == 0) {
                    time.sleepNanos(writesPerNano == 0 ? 5_000_000L : 500_000L);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** @return false if the VM closed while this vCPU waited for a missing page */
    private boolean writeOnce() throws InterruptedException {
        long page = pageOfIndex(nextPageIndex());
        if (!presence.awaitPresent(page, index, gate)) {
            return false;
        }
        ByteBuffer chunk = memory.chunkOf(page);
        int base = memory.offsetInChunk(page);
        int length = bytesPerWrite;
        int offset = length >= pageSize ? 0 : (int) Long.remainderUnsigned(next(), pageSize - length + 1);
        int at = base + offset;
        int end = at + length;
        for (; at + 8 <= end; at += 8) {
            chunk.putLong(at, next() | 1L);
        }
        if (at < end) {
            long value = next() | 1L;
            for (; at < end; at++, value >>>= 8) {
                chunk.put(at, (byte) (value | 1));
            }
        }
        writesDone++;
        tracker.markDirty(page);
        return true;
    }

    private long nextPageIndex() {
        return switch (workload.pattern()) {
            case SEQUENTIAL -> {
                long i = sequentialCursor;
                sequentialCursor = (sequentialCursor + 1) % workingSetPages;
                yield i;
            }
            case RANDOM -> Long.remainderUnsigned(next(), workingSetPages);
            case HOTCOLD -> {
                long hot = Math.max(1, workingSetPages / 10);
                long r = next();
                yield Long.remainderUnsigned(r >>> 8, 10) < 9 || hot == workingSetPages
                        ? Long.remainderUnsigned(next(), hot)
                        : hot + Long.remainderUnsigned(next(), workingSetPages - hot);
            }
            case IDLE -> throw new IllegalStateException("an idle workload does not write");
        };
    }

    private long pageOfIndex(long indexInRam) {
        if (regionFirst.length == 1) {
            return regionFirst[0] + indexInRam;
        }
        int r = regionFirst.length - 1;
        while (regionStartIndex[r] > indexInRam) {
            r--;
        }
        return regionFirst[r] + (indexInRam - regionStartIndex[r]);
    }

    /** xorshift64* : small, fast, and its whole state is one long that migrates. */
    private long next() {
        long x = rngState;
        x ^= x >>> 12;
        x ^= x << 25;
        x ^= x >>> 27;
        rngState = x;
        return x * 0x2545F4914F6CDD1DL;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return z == 0 ? 0x9E3779B97F4A7C15L : z;
    }

    /** State format name of {@link #saveState()}. */
    public static final String STATE_FORMAT = "livemig-mem-vcpu-v1";

    /** @return this vCPU's execution state: index, generator, write count, cursor (32 bytes) */
    public byte[] saveState() {
        return ByteBuffer.allocate(32).putInt(index).putInt(0).putLong(rngState).putLong(writesDone)
                .putLong(sequentialCursor).array();
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
        rngState = rng;
        writesDone = writes;
        sequentialCursor = cursor % workingSetPages;
    }

    /** @return a deterministic 64-bit hash of {@code (seed, page)} for prefilling memory */
    public static long pageHash(long seed, long page) {
        return mix(seed * 0x9E3779B97F4A7C15L ^ mix(page + 0x632BE59BD9B4E019L));
    }

    /** @return the pattern in force */
    public WorkloadPattern pattern() {
        return workload.pattern();
    }
}
