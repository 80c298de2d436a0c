package io.livemig.kit;

import io.livemig.api.TimeSource;
import io.livemig.kit.internal.GuestCpu;
import io.livemig.kit.internal.PagedMemory;
import io.livemig.kit.internal.PresenceMap;
import io.livemig.kit.internal.RunGate;
import io.livemig.kit.internal.WriteBarrierTracker;
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
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A VM that lives in this JVM: guest RAM in direct buffers and one thread per vCPU that really
 * writes into it, as a {@link Workload} says. It is both a migration source
 * ({@link MigratableVm}) and a migration target ({@link MigrationTarget}), so tests and demos
 * can migrate it without a hypervisor.
 *
 * <p>Dirty tracking is a write barrier: each guest write marks its page after storing its
 * bytes. Pausing waits for in-flight writes to finish. Throttling scales the write rate down.
 * The vCPUs' execution state (random generator, write counters) migrates as vCPU state and the
 * workload's configuration as the {@code "workload"} device, so a migrated guest continues the
 * exact same sequence of writes.
 *
 * <p>A new VM is paused; {@link VcpuControl#resume() vcpus().resume()} (or {@link #start()})
 * starts the guest. Thread-safe. {@link #close()} stops the vCPU threads and is idempotent.
 */
public final class InMemoryVm implements MigratableVm, MigrationTarget {

    /** The id of the device that carries the workload's configuration. */
    public static final String WORKLOAD_DEVICE_ID = "workload";

    private final VmDescriptor descriptor;
    private final PagedMemory pages;
    private final WriteBarrierTracker tracker;
    private final RunGate gate = new RunGate();
    private final List<GuestCpu> cpus = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    private final KitMemory memory = new KitMemory();
    private final KitVcpus vcpus = new KitVcpus();
    private final WorkloadDevice workloadDevice = new WorkloadDevice();
    private final Consumer<InMemoryVm> onResume;
    private final PresenceMap presence;
    private final KitDemandPaging demandPaging = new KitDemandPaging();
    private final boolean offersFreePageHints;
    private volatile Workload workload;
    private volatile int throttlePercent;
    private volatile boolean closed;

    private InMemoryVm(Builder b) {
        MemoryLayout layout = b.layout != null ? b.layout : MemoryLayout.contiguous(b.pageSizeBytes, b.memoryBytes);
        this.descriptor = new VmDescriptor(layout, b.vcpuCount, List.of(WORKLOAD_DEVICE_ID), GuestCpu.STATE_FORMAT);
        this.pages = new PagedMemory(layout);
        this.tracker = new WriteBarrierTracker(layout.pageSpan());
        this.workload = b.workload;
        this.onResume = b.onResume;
        this.presence = new PresenceMap(pages, b.timeSource, b.vcpuCount);
        this.offersFreePageHints = b.freePageHints;
        if (b.prefillFraction > 0) {
            prefill(b.prefillFraction, b.workload.seed());
        }
        for (int i = 0; i < b.vcpuCount; i++) {
            GuestCpu cpu = new GuestCpu(i, b.vcpuCount, pages, tracker, gate, b.timeSource,
                    () -> throttlePercent, b.workload, presence);
            cpus.add(cpu);
            Thread thread = Thread.ofPlatform().daemon().name("livemig-mem-vcpu-" + i).unstarted(cpu);
            threads.add(thread);
        }
        threads.forEach(Thread::start);
    }

    /** @return a builder: 64 MiB, 4 KiB pages, one vCPU, idle workload, real time */
    public static Builder builder() {
        return new Builder();
    }

    /** Starts (resumes) the guest. Same as {@code vcpus().resume()}. */
    public void start() {
        vcpus.resume();
    }

    @Override
    public VmDescriptor descriptor() {
        return descriptor;
    }

    /** @return guest memory, readable and writable ({@link MemorySource} and {@link MemorySink}) */
    @Override
    public KitMemory memory() {
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
        return List.of(workloadDevice);
    }

    /** Post-copy: guest writes to missing pages block until the engine installs them. */
    @Override
    public Optional<DemandPaging> demandPaging() {
        return Optional.of(demandPaging);
    }

    /**
     * Free-page hints, if the VM was built with {@link Builder#freePageHints(boolean)}: the pages
     * outside the workload's working set, which the guest never touches.
     */
    @Override
    public Optional<FreePageHints> freePageHints() {
        return offersFreePageHints ? Optional.of(this::pagesOutsideWorkingSet) : Optional.empty();
    }

    private PageSet pagesOutsideWorkingSet() {
        MemoryLayout layout = pages.layout();
        long workingSetPages = workload.workingSetBytes() == 0 ? layout.pageCount()
                : Math.min(layout.pageCount(), workload.workingSetBytes() / layout.pageSizeBytes());
        PageSet free = PageSet.allOf(layout);
        long skip = workingSetPages;
        for (var region : layout.regions()) {
            long n = Math.min(skip, region.pageCount());
            for (long page = region.firstPage(); page < region.firstPage() + n; page++) {
                free.remove(page);
            }
            skip -= n;
        }
        return free;
    }

    /** @return the workload in force */
    public Workload workload() {
        return workload;
    }

    /** @return the guest writes done so far by all vCPUs, across migrations; exact while paused */
    public long writesDone() {
        long total = 0;
        for (GuestCpu cpu : cpus) {
            total += cpu.writesDone();
        }
        return total;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        tracker.stop();
        presence.close();
        gate.close();
        threads.forEach(Thread::interrupt);
    }

    private void prefill(double fraction, long seed) {
        long threshold = (long) (fraction * (1L << 53));
        int pageSize = pages.pageSize();
        MemoryLayout layout = pages.layout();
        for (var region : layout.regions()) {
            for (long page = region.firstPage(); page < region.endPage(); page++) {
                long h = GuestCpu.pageHash(seed, page);
                if ((h >>> 11) >= threshold) {
                    continue;
                }
                ByteBuffer chunk = pages.chunkOf(page);
                int base = pages.offsetInChunk(page);
                long x = h | 1;
                for (int i = 0; i < pageSize; i += 8) {
                    x ^= x << 13;
                    x ^= x >>> 7;
                    x ^= x << 17;
                    chunk.putLong(base + i, x);
                }
            }
        }
    }

    /** Guest memory of an in-memory VM: a {@link MemorySource} and a {@link MemorySink}. Thread-safe. */
    public final class KitMemory implements MemorySource, MemorySink {
        private KitMemory() {
        }

        @Override
        public MemoryLayout layout() {
            return pages.layout();
        }

        @Override
        public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
            pages.read(firstPage, pageCount, destination);
        }

        @Override
        public void writePages(long firstPage, int pageCount, ByteBuffer source) {
            pages.write(firstPage, pageCount, source);
            markWritten(firstPage, pageCount);
        }

        @Override
        public void zeroPages(long firstPage, int pageCount) {
            pages.zero(firstPage, pageCount);
            markWritten(firstPage, pageCount);
        }

        private void markWritten(long firstPage, int pageCount) {
            for (long page = firstPage; page < firstPage + pageCount; page++) {
                tracker.markDirty(page);
            }
        }

        /**
         * Writes bytes into one page as the guest would (marking it dirty), for tests that need
         * a specific change.
         *
         * @param page   a RAM page
         * @param offset the offset in the page
         * @param bytes  the bytes; must fit in the page
         */
        public void poke(long page, int offset, byte[] bytes) {
            Objects.checkFromIndexSize(offset, bytes.length, pages.pageSize());
            pages.chunkOf(page).put(pages.offsetInChunk(page) + offset, bytes);
            tracker.markDirty(page);
        }

        /**
         * @param page a RAM page
         * @return a copy of the page's bytes
         */
        public byte[] page(long page) {
            ByteBuffer b = ByteBuffer.allocate(pages.pageSize()).order(ByteOrder.nativeOrder());
            pages.read(page, 1, b);
            return b.array();
        }
    }

    private final class KitVcpus implements VcpuControl, VcpuThrottle {
        @Override
        public int vcpuCount() {
            return cpus.size();
        }

        @Override
        public void pause() {
            gate.pause();
        }

        @Override
        public void resume() {
            if (closed) {
                throw new IllegalStateException("the VM is closed");
            }
            if (gate.isPaused() && onResume != null) {
                onResume.accept(InMemoryVm.this);
            }
            gate.resume();
        }

        @Override
        public boolean isPaused() {
            return gate.isPaused();
        }

        @Override
        public List<VcpuState> saveState() {
            requirePaused();
            List<VcpuState> states = new ArrayList<>();
            for (int i = 0; i < cpus.size(); i++) {
                states.add(new VcpuState(i, GuestCpu.STATE_FORMAT, cpus.get(i).saveState()));
            }
            return states;
        }

        @Override
        public void loadState(List<VcpuState> states) {
            requirePaused();
            if (states.size() != cpus.size()) {
                throw new IllegalArgumentException("expected " + cpus.size() + " vCPU states, got " + states.size());
            }
            for (VcpuState state : states) {
                if (!GuestCpu.STATE_FORMAT.equals(state.format())) {
                    throw new IllegalArgumentException("unknown vCPU state format '" + state.format() + "'");
                }
                if (state.index() >= cpus.size()) {
                    throw new IllegalArgumentException("vCPU index " + state.index() + " out of range");
                }
            }
            for (VcpuState state : states) {
                cpus.get(state.index()).loadState(state.data());
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
            throttlePercent = percent;
        }

        @Override
        public int throttlePercent() {
            return throttlePercent;
        }

        private void requirePaused() {
            if (!gate.isPaused()) {
                throw new IllegalStateException("the VM must be paused");
            }
        }
    }

    private final class KitDemandPaging implements DemandPaging {
        @Override
        public void arm(PageSet missing, FaultListener listener) {
            if (!gate.isPaused()) {
                throw new IllegalStateException("arm demand paging before the target resumes");
            }
            presence.arm(missing, listener);
        }

        @Override
        public boolean install(long page, ByteBuffer content) {
            if (content.remaining() != pages.pageSize()) {
                throw new IllegalArgumentException("a page is " + pages.pageSize() + " bytes, got " + content.remaining());
            }
            return presence.install(page, content);
        }

        @Override
        public boolean installZero(long page) {
            return presence.install(page, null);
        }

        @Override
        public long missingPages() {
            return presence.missingPages();
        }

        @Override
        public void disarm() {
            presence.disarm();
        }

        @Override
        public long[] blockedNanosPerVcpu() {
            return presence.blockedNanos();
        }
    }

    /** The workload's configuration as a device, so that the target runs the same guest. */
    private final class WorkloadDevice implements MigratableDevice {
        @Override
        public String id() {
            return WORKLOAD_DEVICE_ID;
        }

        @Override
        public byte[] saveState() {
            Workload w = workload;
            return ByteBuffer.allocate(32).putInt(w.pattern().ordinal()).putInt(w.bytesPerWrite())
                    .putLong(w.workingSetBytes()).putLong(w.writeBytesPerSecond()).putLong(w.seed()).array();
        }

        @Override
        public void loadState(byte[] state) {
            if (state.length != 32) {
                throw new IllegalArgumentException("workload state must be 32 bytes, was " + state.length);
            }
            ByteBuffer b = ByteBuffer.wrap(state);
            int pattern = b.getInt();
            int bytesPerWrite = b.getInt();
            if (pattern < 0 || pattern >= WorkloadPattern.values().length) {
                throw new IllegalArgumentException("unknown workload pattern " + pattern);
            }
            Workload w = new Workload(WorkloadPattern.values()[pattern], b.getLong(), b.getLong(), bytesPerWrite,
                    b.getLong());
            workload = w;
            cpus.forEach(cpu -> cpu.configure(w));
        }
    }

    /** Builds an {@link InMemoryVm}. Not thread-safe; setters validate at once. */
    public static final class Builder {
        private long memoryBytes = 64L << 20;
        private int pageSizeBytes = 4096;
        private MemoryLayout layout;
        private int vcpuCount = 1;
        private Workload workload = Workload.idle();
        private double prefillFraction;
        private TimeSource timeSource = TimeSource.system();
        private Consumer<InMemoryVm> onResume;
        private boolean freePageHints;

        private Builder() {
        }

        /** @param bytes RAM size in bytes, a positive multiple of the page size @return this */
        public Builder memoryBytes(long bytes) {
            if (bytes <= 0) {
                throw new IllegalArgumentException("memoryBytes must be positive, was " + bytes);
            }
            this.memoryBytes = bytes;
            return this;
        }

        /** @param bytes page size in bytes, a power of two @return this */
        public Builder pageSizeBytes(int bytes) {
            this.pageSizeBytes = bytes;
            return this;
        }

        /** @param layout a layout with holes, overriding memoryBytes and pageSizeBytes @return this */
        public Builder layout(MemoryLayout layout) {
            this.layout = Objects.requireNonNull(layout, "layout");
            return this;
        }

        /** @param count vCPUs (workload threads), 1 to 64 @return this */
        public Builder vcpus(int count) {
            if (count < 1 || count > 64) {
                throw new IllegalArgumentException("vcpus must be in [1, 64], was " + count);
            }
            this.vcpuCount = count;
            return this;
        }

        /** @param workload what the guest does @return this */
        public Builder workload(Workload workload) {
            this.workload = Objects.requireNonNull(workload, "workload");
            return this;
        }

        /**
         * @param fraction share of RAM pages filled with pseudo-random bytes at creation (the rest
         *                 stay zero), 0 to 1; which pages is a function of the workload's seed
         * @return this
         */
        public Builder prefill(double fraction) {
            if (!(fraction >= 0 && fraction <= 1)) {
                throw new IllegalArgumentException("prefill fraction must be in [0, 1], was " + fraction);
            }
            this.prefillFraction = fraction;
            return this;
        }

        /** @param timeSource the clock that paces the workload @return this */
        public Builder timeSource(TimeSource timeSource) {
            this.timeSource = Objects.requireNonNull(timeSource, "timeSource");
            return this;
        }

        /**
         * A test seam: called on every resume from paused, before any vCPU runs (e.g. to snapshot
         * memory at the moment a migrated VM resumes).
         *
         * @param hook the hook, or null
         * @return this
         */
        public Builder onResume(Consumer<InMemoryVm> hook) {
            this.onResume = hook;
            return this;
        }

        /**
         * @param offer whether the guest reports the pages outside its working set as free
         *              (self-ballooning); their content, prefilled or not, then never migrates
         * @return this
         */
        public Builder freePageHints(boolean offer) {
            this.freePageHints = offer;
            return this;
        }

        /** @return a new, paused VM */
        public InMemoryVm build() {
            return new InMemoryVm(this);
        }
    }
}
