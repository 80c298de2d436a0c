package io.livemig.kit;

import io.livemig.api.TimeSource;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.FreePageHints;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MemorySource;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VcpuThrottle;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A VM for simulations in virtual time: its memory is not stored but synthesized, and its guest
 * is a function of the clock rather than a thread, so a 16 GiB VM on a 1 Gbit/s link migrates in
 * seconds of wall time and the same inputs give the same results.
 *
 * <p><b>Memory.</b> A page's content is a function of {@code (seed, page, version)}: words 0, 1 and
 * 2 hold the page number, the version and the seed, the rest a cheap pseudo-random sequence. Version 0 is the
 * initial content: the synthesized page for pages chosen by {@code prefill}, zeros for the rest.
 * Only a version per page is kept (8 bytes per page).
 *
 * <p><b>Guest.</b> The workload's writes are whole-page writes ({@link Workload#bytesPerWrite()} is
 * ignored) at {@code writeBytesPerSecond / pageSize} writes per virtual second, scaled down by the
 * throttle; write number k gives its page (chosen by the pattern from a generator that migrates
 * with the vCPU state) version {@code k + 1}. Writes are applied lazily: whenever the VM is
 * observed (a read, a dirty-log collect, a pause), first every write due by the clock's time.
 * Paused time produces no writes.
 *
 * <p><b>As a target</b> it recognises what is written into it: a zero page, or a synthesized page
 * whose header and body match; anything else is stored as "foreign" and reads back as bytes no
 * source could have sent, so the engine's verification reports a mismatch instead of silently
 * accepting it. Post-copy works too: a guest write to a missing page reports a fault and blocks
 * the (single, simulated) vCPU until the page is installed; the blocked time produces no writes.
 *
 * <p>Thread-safe: every operation is guarded by {@code this}.
 */
public final class SimulatedVm implements MigratableVm, MigrationTarget {

    /** The vCPU state format of simulated VMs. */
    public static final String STATE_FORMAT = "livemig-simulated-vcpu-v1";

    private static final long ZERO = -1;
    private static final long FOREIGN = -2;
    private static final long K1 = 0x9E3779B97F4A7C15L;

    private final VmDescriptor descriptor;
    private final MemoryLayout layout;
    private final int pageSize;
    private final TimeSource time;
    private final long[] version;
    private final double prefillFraction;
    private final boolean offersHints;
    private final Memory memory = new Memory();
    private final Tracker tracker = new Tracker();
    private final Vcpus vcpus = new Vcpus();
    private final Paging paging = new Paging();
    private final WorkloadDevice device = new WorkloadDevice();
    private final boolean target;

    private Workload workload;
    /** The seed of synthesized contents: the source's workload seed; a target learns it from the pages. */
    private long contentSeed;
    private boolean contentSeedKnown;
    private long workingSetPages;
    private double writesPerNano;
    private boolean paused = true;
    private boolean closed;
    private int throttlePercent;
    private long lastNanos;
    private double credit;
    private long rng;
    private long writesDone;
    private long cursor;
    private PageSet dirty;
    private PageSet missing;
    private DemandPaging.FaultListener faultListener;
    private long blockedOn = -1;
    private long blockedSince;
    private long blockedNanos;

    private SimulatedVm(Builder b, boolean target) {
        this.layout = b.layout != null ? b.layout : MemoryLayout.contiguous(b.pageSizeBytes, b.memoryBytes);
        this.descriptor = new VmDescriptor(layout, 1, List.of(InMemoryVm.WORKLOAD_DEVICE_ID), STATE_FORMAT);
        this.pageSize = layout.pageSizeBytes();
        this.time = b.time;
        this.prefillFraction = b.prefillFraction;
        this.offersHints = b.freePageHints;
        this.target = target;
        this.version = new long[Math.toIntExact(layout.pageSpan())];
        if (target) {
            Arrays.fill(version, ZERO);
        } else {
            contentSeedKnown = true;
        }
        configure(b.workload);
        this.contentSeed = b.workload.seed();
        this.rng = mix(b.workload.seed() * K1 + 1);
    }

    /** @return a builder: 64 MiB, 4 KiB pages, idle, no prefill */
    public static Builder builder(TimeSource time) {
        return new Builder(time);
    }

    /** Starts (resumes) the guest. */
    public void start() {
        vcpus.resume();
    }

    private void configure(Workload w) {
        workload = w;
        long ram = layout.pageCount();
        workingSetPages = Math.max(1, w.workingSetBytes() == 0 ? ram : Math.min(ram, w.workingSetBytes() / pageSize));
        writesPerNano = w.writes() ? w.writeBytesPerSecond() / (double) pageSize / 1e9 : 0;
    }

    // ---- the guest, as a function of time ----

    /** Applies every write due by the clock's time. Caller holds the lock. */
    private void advance() {
        long now = time.nanoTime();
        if (paused || closed || blockedOn >= 0) {
            lastNanos = now;
            return;
        }
        long elapsed = now - lastNanos;
        lastNanos = now;
        if (elapsed <= 0 || writesPerNano == 0) {
            return;
        }
        credit += elapsed * writesPerNano * (100 - throttlePercent) / 100.0;
        while (credit >= 1) {
            long page = pageOfIndex(nextIndex());
            if (missing != null && missing.contains(page)) {
                // The vCPU touches a missing page: it blocks until the page is installed.
                blockedOn = page;
                blockedSince = now;
                credit = 0;
                DemandPaging.FaultListener listener = faultListener;
                listener.onFault(page, 0);
                return;
            }
            credit -= 1;
            applyWrite(page);
        }
    }

    private void applyWrite(long page) {
        writesDone++;
        version[(int) page] = writesDone;
        if (dirty != null) {
            dirty.add(page);
        }
    }

    private long nextIndex() {
        return switch (workload.pattern()) {
            case SEQUENTIAL -> {
                long i = cursor;
                cursor = (cursor + 1) % workingSetPages;
                yield i;
            }
            case RANDOM -> Long.remainderUnsigned(next(), workingSetPages);
            case HOTCOLD -> {
                long hot = Math.max(1, workingSetPages / 10);
                yield Long.remainderUnsigned(next() >>> 8, 10) < 9 || hot == workingSetPages
                        ? Long.remainderUnsigned(next(), hot)
                        : hot + Long.remainderUnsigned(next(), workingSetPages - hot);
            }
            case IDLE -> 0;
        };
    }

    private long pageOfIndex(long index) {
        for (var region : layout.regions()) {
            if (index < region.pageCount()) {
                return region.firstPage() + index;
            }
            index -= region.pageCount();
        }
        throw new IllegalStateException("working set larger than RAM");
    }

    private long next() {
        long x = rng;
        x ^= x >>> 12;
        x ^= x << 25;
        x ^= x >>> 27;
        rng = x;
        return x * 0x2545F4914F6CDD1DL;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return z == 0 ? K1 : z;
    }

    // ---- content ----

    private boolean prefilled(long page) {
        return prefillFraction > 0 && (mix(workload.seed() * K1 ^ mix(page + 7)) >>> 11) < (long) (prefillFraction * (1L << 53));
    }

    private static long bodySeed(long seed, long page, long v) {
        return mix(seed ^ mix(page * K1 + v));
    }

    /** Writes the content of {@code page} at version {@code v} (or the state marker) at {@code at}. */
    private void synthesize(long page, long v, ByteBuffer out, int at) {
        if (v == ZERO || (v == 0 && !target && !prefilled(page))) {
            for (int i = 0; i < pageSize; i += 8) {
                out.putLong(at + i, 0L);
            }
            return;
        }
        if (v == FOREIGN) {
            out.putLong(at, page);
            for (int i = 8; i < pageSize; i += 8) {
                out.putLong(at + i, -1L);
            }
            return;
        }
        out.putLong(at, page);
        out.putLong(at + 8, v);
        out.putLong(at + 16, contentSeed);
        long x = bodySeed(contentSeed, page, v);
        for (int i = 24; i < pageSize; i += 8) {
            out.putLong(at + i, x + i * K1);
        }
    }

    /** @return the version the bytes at {@code at} encode for {@code page}: a version, ZERO or FOREIGN */
    private long recognise(long page, ByteBuffer in, int at) {
        boolean zero = true;
        for (int i = 0; i < pageSize && zero; i += 8) {
            zero = in.getLong(at + i) == 0;
        }
        if (zero) {
            return ZERO;
        }
        long v = in.getLong(at + 8);
        long seed = in.getLong(at + 16);
        if (in.getLong(at) != page || v < 0 || (contentSeedKnown && seed != contentSeed)) {
            return FOREIGN;
        }
        long x = bodySeed(seed, page, v);
        for (int i = 24; i < pageSize; i += 8) {
            if (in.getLong(at + i) != x + i * K1) {
                return FOREIGN;
            }
        }
        contentSeed = seed;
        contentSeedKnown = true;
        return v;
    }

    private void checkRun(long firstPage, int pageCount) {
        if (pageCount < 1 || !layout.containsRun(firstPage, pageCount)) {
            throw new IndexOutOfBoundsException("pages [" + firstPage + ", +" + pageCount + ") are not in one region");
        }
    }

    // ---- MigratableVm / MigrationTarget ----

    @Override
    public VmDescriptor descriptor() {
        return descriptor;
    }

    /** @return the synthesized memory, a {@link MemorySource} and a {@link MemorySink} */
    @Override
    public Memory memory() {
        return memory;
    }

    @Override
    public Optional<DirtyTracker> dirtyTracker() {
        return Optional.of(tracker);
    }

    @Override
    public VcpuControl vcpus() {
        return vcpus;
    }

    @Override
    public List<MigratableDevice> devices() {
        return List.of(device);
    }

    @Override
    public Optional<FreePageHints> freePageHints() {
        return offersHints ? Optional.of(this::freePages) : Optional.empty();
    }

    @Override
    public Optional<DemandPaging> demandPaging() {
        return Optional.of(paging);
    }

    private synchronized PageSet freePages() {
        PageSet free = PageSet.allOf(layout);
        long skip = workingSetPages;
        for (var region : layout.regions()) {
            long n = Math.min(skip, region.pageCount());
            for (long p = region.firstPage(); p < region.firstPage() + n; p++) {
                free.remove(p);
            }
            skip -= n;
        }
        return free;
    }

    /** @return the guest's writes so far, across migrations */
    public synchronized long writesDone() {
        advance();
        return writesDone;
    }

    /** @return the clock this VM lives on */
    public TimeSource time() {
        return time;
    }

    @Override
    public synchronized void close() {
        closed = true;
        dirty = null;
    }

    /** Synthesized guest memory. */
    public final class Memory implements MemorySource, MemorySink {
        private Memory() {
        }

        @Override
        public MemoryLayout layout() {
            return layout;
        }

        @Override
        public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
            synchronized (SimulatedVm.this) {
                checkRun(firstPage, pageCount);
                advance();
                int at = destination.position();
                ByteBuffer out = destination.duplicate().order(java.nio.ByteOrder.nativeOrder());
                for (int i = 0; i < pageCount; i++) {
                    long page = firstPage + i;
                    synthesize(page, version[(int) page], out, at + i * pageSize);
                }
                destination.position(at + pageCount * pageSize);
            }
        }

        @Override
        public void writePages(long firstPage, int pageCount, ByteBuffer source) {
            synchronized (SimulatedVm.this) {
                checkRun(firstPage, pageCount);
                if (source.remaining() < pageCount * pageSize) {
                    throw new java.nio.BufferUnderflowException();
                }
                int at = source.position();
                ByteBuffer in = source.duplicate().order(java.nio.ByteOrder.nativeOrder());
                for (int i = 0; i < pageCount; i++) {
                    long page = firstPage + i;
                    version[(int) page] = recognise(page, in, at + i * pageSize);
                }
                source.position(at + pageCount * pageSize);
            }
        }

        @Override
        public void zeroPages(long firstPage, int pageCount) {
            synchronized (SimulatedVm.this) {
                checkRun(firstPage, pageCount);
                for (int i = 0; i < pageCount; i++) {
                    version[(int) (firstPage + i)] = ZERO;
                }
            }
        }
    }

    private final class Tracker implements DirtyTracker {
        @Override
        public void start() {
            synchronized (SimulatedVm.this) {
                advance();
                dirty = new PageSet(layout.pageSpan());
            }
        }

        @Override
        public PageSet collect() {
            synchronized (SimulatedVm.this) {
                if (dirty == null) {
                    throw new IllegalStateException("dirty tracking is not started");
                }
                advance();
                PageSet out = dirty;
                dirty = new PageSet(layout.pageSpan());
                return out;
            }
        }

        @Override
        public void redirty(PageSet pages) {
            synchronized (SimulatedVm.this) {
                if (dirty == null) {
                    throw new IllegalStateException("dirty tracking is not started");
                }
                dirty.addAll(pages);
            }
        }

        @Override
        public void stop() {
            synchronized (SimulatedVm.this) {
                dirty = null;
            }
        }
    }

    private final class Vcpus implements VcpuControl, VcpuThrottle {
        @Override
        public int vcpuCount() {
            return 1;
        }

        @Override
        public void pause() {
            synchronized (SimulatedVm.this) {
                advance();
                paused = true;
            }
        }

        @Override
        public void resume() {
            synchronized (SimulatedVm.this) {
                if (closed) {
                    throw new IllegalStateException("the VM is closed");
                }
                if (paused) {
                    paused = false;
                    lastNanos = time.nanoTime();
                }
            }
        }

        @Override
        public boolean isPaused() {
            synchronized (SimulatedVm.this) {
                return paused;
            }
        }

        @Override
        public List<VcpuState> saveState() {
            synchronized (SimulatedVm.this) {
                if (!paused) {
                    throw new IllegalStateException("the VM must be paused");
                }
                byte[] state = ByteBuffer.allocate(40).putLong(rng).putLong(writesDone).putLong(cursor)
                        .putDouble(credit).putLong(0).array();
                return List.of(new VcpuState(0, STATE_FORMAT, state));
            }
        }

        @Override
        public void loadState(List<VcpuState> states) {
            synchronized (SimulatedVm.this) {
                if (!paused) {
                    throw new IllegalStateException("the VM must be paused");
                }
                if (states.size() != 1 || !STATE_FORMAT.equals(states.get(0).format())
                        || states.get(0).sizeBytes() != 40) {
                    throw new IllegalArgumentException("expected one '" + STATE_FORMAT + "' state of 40 bytes");
                }
                ByteBuffer b = ByteBuffer.wrap(states.get(0).data());
                long r = b.getLong();
                long w = b.getLong();
                long c = b.getLong();
                double cr = b.getDouble();
                if (r == 0 || w < 0 || c < 0 || !(cr >= 0 && cr < 2)) {
                    throw new IllegalArgumentException("malformed simulated vCPU state");
                }
                rng = r;
                writesDone = w;
                cursor = c % workingSetPages;
                credit = cr;
            }
        }

        @Override
        public Optional<VcpuThrottle> throttle() {
            return Optional.of(this);
        }

        @Override
        public void setThrottlePercent(int percent) {
            if (percent < 0 || percent > 99) {
                throw new IllegalArgumentException("throttle must be in [0, 99], was " + percent);
            }
            synchronized (SimulatedVm.this) {
                advance();
                throttlePercent = percent;
            }
        }

        @Override
        public int throttlePercent() {
            synchronized (SimulatedVm.this) {
                return throttlePercent;
            }
        }
    }

    private final class Paging implements DemandPaging {
        @Override
        public void arm(PageSet pages, FaultListener listener) {
            synchronized (SimulatedVm.this) {
                if (missing != null) {
                    throw new IllegalStateException("demand paging is already armed");
                }
                if (!paused) {
                    throw new IllegalStateException("arm demand paging before the target resumes");
                }
                missing = pages.copy();
                faultListener = Objects.requireNonNull(listener, "listener");
            }
        }

        @Override
        public boolean install(long page, ByteBuffer content) {
            synchronized (SimulatedVm.this) {
                if (missing == null || !missing.contains(page)) {
                    return false;
                }
                memory.writePages(page, 1, content.duplicate());
                return installed(page);
            }
        }

        @Override
        public boolean installZero(long page) {
            synchronized (SimulatedVm.this) {
                if (missing == null || !missing.contains(page)) {
                    return false;
                }
                version[(int) page] = ZERO;
                return installed(page);
            }
        }

        private boolean installed(long page) {
            missing.remove(page);
            if (page == blockedOn) {
                long now = time.nanoTime();
                blockedNanos += now - blockedSince;
                blockedOn = -1;
                lastNanos = now;
                applyWrite(page);
            }
            advance();
            return true;
        }

        @Override
        public long missingPages() {
            synchronized (SimulatedVm.this) {
                return missing == null ? 0 : missing.cardinality();
            }
        }

        @Override
        public void disarm() {
            synchronized (SimulatedVm.this) {
                missing = null;
            }
        }

        @Override
        public long[] blockedNanosPerVcpu() {
            synchronized (SimulatedVm.this) {
                long blocked = blockedNanos + (blockedOn >= 0 ? time.nanoTime() - blockedSince : 0);
                return new long[] {blocked};
            }
        }
    }

    private final class WorkloadDevice implements MigratableDevice {
        @Override
        public String id() {
            return InMemoryVm.WORKLOAD_DEVICE_ID;
        }

        @Override
        public byte[] saveState() {
            synchronized (SimulatedVm.this) {
                Workload w = workload;
                return ByteBuffer.allocate(40).putInt(w.pattern().ordinal()).putInt(w.bytesPerWrite())
                        .putLong(w.workingSetBytes()).putLong(w.writeBytesPerSecond()).putLong(w.seed())
                        .putDouble(prefillFraction).array();
            }
        }

        @Override
        public void loadState(byte[] state) {
            if (state.length != 40) {
                throw new IllegalArgumentException("simulated workload state must be 40 bytes, was " + state.length);
            }
            ByteBuffer b = ByteBuffer.wrap(state);
            int pattern = b.getInt();
            int bytesPerWrite = b.getInt();
            if (pattern < 0 || pattern >= WorkloadPattern.values().length) {
                throw new IllegalArgumentException("unknown workload pattern " + pattern);
            }
            Workload w = new Workload(WorkloadPattern.values()[pattern], b.getLong(), b.getLong(), bytesPerWrite,
                    b.getLong());
            synchronized (SimulatedVm.this) {
                configure(w);
            }
        }
    }

    /** Builds a {@link SimulatedVm}. Not thread-safe. */
    public static final class Builder {
        private final TimeSource time;
        private long memoryBytes = 64L << 20;
        private int pageSizeBytes = 4096;
        private MemoryLayout layout;
        private Workload workload = Workload.idle();
        private double prefillFraction;
        private boolean freePageHints;

        private Builder(TimeSource time) {
            this.time = Objects.requireNonNull(time, "time");
        }

        /** @param bytes RAM size, a positive multiple of the page size @return this */
        public Builder memoryBytes(long bytes) {
            if (bytes <= 0) {
                throw new IllegalArgumentException("memoryBytes must be positive, was " + bytes);
            }
            this.memoryBytes = bytes;
            return this;
        }

        /** @param layout a layout, overriding memoryBytes @return this */
        public Builder layout(MemoryLayout layout) {
            this.layout = Objects.requireNonNull(layout, "layout");
            return this;
        }

        /** @param workload the guest's writes (whole pages) @return this */
        public Builder workload(Workload workload) {
            this.workload = Objects.requireNonNull(workload, "workload");
            return this;
        }

        /** @param fraction share of pages with non-zero initial content, 0 to 1 @return this */
        public Builder prefill(double fraction) {
            if (!(fraction >= 0 && fraction <= 1)) {
                throw new IllegalArgumentException("prefill must be in [0, 1], was " + fraction);
            }
            this.prefillFraction = fraction;
            return this;
        }

        /** @param offer whether the guest reports pages outside its working set as free @return this */
        public Builder freePageHints(boolean offer) {
            this.freePageHints = offer;
            return this;
        }

        /** @return a paused source VM */
        public SimulatedVm build() {
            return new SimulatedVm(this, false);
        }

        /**
         * @param descriptor the shape announced by the source
         * @return a paused, empty (all-zero) target with that shape
         * @throws IllegalArgumentException if the descriptor is not a simulated VM's
         */
        public SimulatedVm buildTarget(VmDescriptor descriptor) {
            if (!STATE_FORMAT.equals(descriptor.vcpuStateFormat()) || descriptor.vcpuCount() != 1) {
                throw new IllegalArgumentException("simulated targets take one '" + STATE_FORMAT + "' vCPU, not "
                        + descriptor.vcpuCount() + " of '" + descriptor.vcpuStateFormat() + "'");
            }
            this.layout = descriptor.memoryLayout();
            return new SimulatedVm(this, true);
        }
    }
}
