package io.livemig.kit.internal;

import io.livemig.kit.Workload;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.PageSet;

import java.util.List;

/**
 * Where a kit guest's writes go, in order: the page of each write as the {@link Workload}'s
 * pattern chooses it in the working set (the first {@link #workingSetPages()} RAM pages, holes
 * skipped), the offset inside the page, and the random words written. Both kinds of VM draw
 * from it: {@link GuestCpu} (one sequence per vCPU thread, real time) and
 * {@link io.livemig.kit.SimulatedVm} (one sequence, whole-page writes, its pace a function of
 * virtual time). How fast the writes come is theirs to decide.
 *
 * <p>The randomness is one xorshift64* generator seeded from {@code (seed, stream)}; its state
 * and the sequential cursor ({@link #generatorState()}, {@link #cursor()}) are what migrates as
 * vCPU state, so a migrated guest continues the same sequence.
 *
 * <p>Not thread-safe: its owner orders the calls (a vCPU thread between pauses, or a lock).
 */
public final class WriteSequence {

    private final MemoryLayout layout;
    private final int pageSize;
    private final boolean wholePages;
    private final long[] regionFirst;
    private final long[] regionStartIndex;

    private Workload workload;
    private long workingSetPages;
    private int bytesPerWrite;
    private long generator;
    private long cursor;

    /**
     * @param layout     guest RAM
     * @param workload   the initial workload
     * @param stream     which of the workload's sequences (a vCPU index): each has its own generator
     * @param wholePages whether every write covers a whole page, whatever the workload's
     *                   {@link Workload#bytesPerWrite()}
     */
    public WriteSequence(MemoryLayout layout, Workload workload, int stream, boolean wholePages) {
        this.layout = layout;
        this.pageSize = layout.pageSizeBytes();
        this.wholePages = wholePages;
        List<MemoryRegion> regions = layout.regions();
        regionFirst = new long[regions.size()];
        regionStartIndex = new long[regions.size()];
        long start = 0;
        for (int i = 0; i < regions.size(); i++) {
            regionFirst[i] = regions.get(i).firstPage();
            regionStartIndex[i] = start;
            start += regions.get(i).pageCount();
        }
        configure(workload);
        this.generator = Prefill.mix(workload.seed() * Prefill.GOLDEN_GAMMA + stream + 1);
    }

    /**
     * Replaces the workload (a migrated guest receives its configuration); the generator and the
     * cursor go on.
     *
     * @param workload the workload
     */
    public void configure(Workload workload) {
        this.workload = workload;
        this.workingSetPages = workingSetPages(layout, workload);
        this.bytesPerWrite = wholePages || workload.bytesPerWrite() == 0 ? pageSize
                : Math.min(pageSize, workload.bytesPerWrite());
    }

    /**
     * @param layout   guest RAM
     * @param workload a workload
     * @return the pages the workload writes to: its working set in pages, at least one, at most all of RAM
     */
    public static long workingSetPages(MemoryLayout layout, Workload workload) {
        long ramPages = layout.pageCount();
        long pages = workload.workingSetBytes() == 0 ? ramPages
                : Math.min(ramPages, workload.workingSetBytes() / layout.pageSizeBytes());
        return Math.max(1, pages);
    }

    /**
     * The free-page hints of a kit guest: the pages its workload never writes.
     *
     * @param layout   guest RAM
     * @param workload the workload in force
     * @return a new set of the RAM pages outside the working set, span {@code layout.pageSpan()}
     */
    public static PageSet pagesOutsideWorkingSet(MemoryLayout layout, Workload workload) {
        PageSet free = PageSet.allOf(layout);
        long skip = workingSetPages(layout, workload);
        for (MemoryRegion region : layout.regions()) {
            long n = Math.min(skip, region.pageCount());
            for (long page = region.firstPage(); page < region.firstPage() + n; page++) {
                free.remove(page);
            }
            skip -= n;
        }
        return free;
    }

    /** @return the pages the writes go to, from the first RAM page */
    public long workingSetPages() {
        return workingSetPages;
    }

    /** @return bytes changed by one write, 1 to the page size */
    public int bytesPerWrite() {
        return bytesPerWrite;
    }

    /**
     * @param vcpuCount how many sequences share the workload's rate evenly
     * @return writes per nanosecond of this sequence before any throttle; 0 for a workload that does not write
     */
    public double writesPerNano(int vcpuCount) {
        double writesPerSecond = workload.writes()
                ? (double) workload.writeBytesPerSecond() / bytesPerWrite / vcpuCount : 0;
        return writesPerSecond / 1e9;
    }

    /**
     * @return the page of the next write
     * @throws IllegalStateException for an idle workload, which does not write
     */
    public long nextPage() {
        return pageOfIndex(nextPageIndex());
    }

    /** @return the offset in its page of the next write of {@link #bytesPerWrite()} bytes */
    public int nextOffset() {
        return bytesPerWrite >= pageSize ? 0 : (int) Long.remainderUnsigned(nextLong(), pageSize - bytesPerWrite + 1);
    }

    /** @return the next value of the generator (xorshift64*: small, fast, its whole state one long) */
    public long nextLong() {
        long x = generator;
        x ^= x >>> 12;
        x ^= x << 25;
        x ^= x >>> 27;
        generator = x;
        return x * 0x2545F4914F6CDD1DL;
    }

    private long nextPageIndex() {
        return switch (workload.pattern()) {
            case SEQUENTIAL -> {
                long i = cursor;
                cursor = (cursor + 1) % workingSetPages;
                yield i;
            }
            case RANDOM -> Long.remainderUnsigned(nextLong(), workingSetPages);
            case HOTCOLD -> {
                long hot = Math.max(1, workingSetPages / 10);
                long r = nextLong();
                yield Long.remainderUnsigned(r >>> 8, 10) < 9 || hot == workingSetPages
                        ? Long.remainderUnsigned(nextLong(), hot)
                        : hot + Long.remainderUnsigned(nextLong(), workingSetPages - hot);
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

    /** @return the generator's state, never 0 */
    public long generatorState() {
        return generator;
    }

    /** @return the sequential pattern's position in the working set */
    public long cursor() {
        return cursor;
    }

    /**
     * Continues a sequence saved elsewhere (a migrated vCPU's state).
     *
     * @param generatorState a {@link #generatorState()}, not 0
     * @param cursor         a {@link #cursor()}, not negative; taken modulo the working set
     * @throws IllegalArgumentException for a zero generator or a negative cursor
     */
    public void restore(long generatorState, long cursor) {
        if (generatorState == 0 || cursor < 0) {
            throw new IllegalArgumentException("malformed write sequence state");
        }
        this.generator = generatorState;
        this.cursor = cursor % workingSetPages;
    }
}
