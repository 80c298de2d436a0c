package io.livemig.kit;

import io.livemig.api.TimeSource;
import io.livemig.kit.internal.DiskWorkloadDevice;
import io.livemig.kit.internal.DiskWriteSequence;
import io.livemig.kit.internal.GuestCpu;
import io.livemig.kit.internal.GuestDiskWriter;
import io.livemig.kit.internal.PagedMemory;
import io.livemig.kit.internal.Prefill;
import io.livemig.kit.internal.PresenceMap;
import io.livemig.kit.internal.RunGate;
import io.livemig.kit.internal.ThrottledVcpus;
import io.livemig.kit.internal.WorkloadDevice;
import io.livemig.kit.internal.WriteBarrierTracker;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MemorySource;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.OptionalDouble;
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
 * exact same sequence of writes. The pages it writes, its dirty tracking, demand paging, free-page
 * hints and workload device are the same parts as a {@link SimulatedVm}'s; what differs is that
 * its memory is real and its guest runs on threads in real time.
 *
 * <p><b>Disks.</b> A VM built with {@link Builder#disk disks} has {@link InMemoryDisk}s (sources
 * and sinks with block tracking) and a disk writer thread that writes them as the
 * {@link Builder#diskWorkload disk workload} says, inside the same pause gate as the vCPUs (a
 * paused VM writes no disk) and paced the same way; the disk workload and each disk's write
 * sequence migrate as the {@value #DISK_WORKLOAD_DEVICE_ID} device. A target made by
 * {@link Builder#buildTarget} starts from the disks it is given (stale replicas) or new ones.
 *
 * <p><b>Stateful devices.</b> A VM built with {@link Builder#statefulDevice stateful devices} has
 * {@link StatefulDevice}s, which migrate through VFIO migration v2's states and data stream and
 * write guest memory by DMA, past the write barrier, reporting those pages in their own
 * {@link StatefulDevice#dmaTracker() DMA tracker}. A target made by {@link Builder#buildTarget}
 * makes the matching devices from the ids announced.
 *
 * <p>A new VM is paused; {@link VcpuControl#resume() vcpus().resume()} (or {@link #start()})
 * starts the guest. Thread-safe. {@link #close()} stops the vCPU threads and is idempotent.
 */
public final class InMemoryVm extends KitVm implements MigratableVm, MigrationTarget {

    /** Gives every vCPU the loaded workload (no lambda inside: this runs in the switchover's downtime). */
    private void configureCpus(Workload w) {
        for (GuestCpu cpu : cpus) {
            cpu.configure(w);
        }
    }

    /** The id of the device that carries the workload's configuration. */
    public static final String WORKLOAD_DEVICE_ID = WorkloadDevice.ID;
    /** The id of the device that carries the disk workload's configuration, on a VM with disks. */
    public static final String DISK_WORKLOAD_DEVICE_ID = DiskWorkloadDevice.ID;

    private final Parts parts;
    private final PagedMemory pages;
    private final WriteBarrierTracker tracker;
    private final RunGate gate = new RunGate();
    private final List<GuestCpu> cpus = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    private final KitMemory memory = new KitMemory();
    private final KitVcpus vcpus = new KitVcpus();
    private final WorkloadDevice workloadDevice;
    private final Consumer<InMemoryVm> onResume;
    private final PresenceMap presence;
    /** The disk writer, or null for a VM without disks. */
    private final GuestDiskWriter diskWriter;
    private volatile int throttlePercent;
    private volatile boolean closed;

    /**
     * @param targetDevices for a target, the stateful devices the source announced; null for a
     *                      source, whose devices are the builder's
     */
    private InMemoryVm(Builder b, List<InMemoryDisk> disks, List<StatefulDeviceSpec> targetDevices) {
        MemoryLayout layout = b.resolvedLayout();
        Workload workload = b.workload;
        this.pages = new PagedMemory(layout);
        useHotPlug(b.hotPlug);
        List<StatefulDeviceSpec> specs = targetDevices != null ? targetDevices : List.copyOf(b.statefulDevices.values());
        List<StatefulDevice> stateful = statefulDevices(specs, targetDevices != null, b.timeSource, pages);
        try {
            attachDisks(disks, null);
        } catch (RuntimeException e) {
            stateful.forEach(StatefulDevice::close);
            throw e;
        }
        this.tracker = new WriteBarrierTracker(layout.pageSpan());
        this.workloadDevice = new WorkloadDevice(workload, OptionalDouble.empty(), this::configureCpus);
        this.onResume = b.onResume;
        this.presence = new PresenceMap(pages, b.timeSource, b.vcpuCount, PresenceMap.threads(gate), new Object());
        List<DiskWriteSequence> sequences = diskSequences(disks, b.diskWorkload);
        DiskWorkloadDevice diskDevice = disks.isEmpty() ? null
                : new DiskWorkloadDevice(b.diskWorkload, sequences, new Object());
        this.parts = new Parts(new VmDescriptor(layout, b.vcpuCount, deviceIds(!disks.isEmpty(), specs),
                GuestCpu.STATE_FORMAT, diskDescriptors(disks)),
                tracker, vcpus, workloadDevice, presence, b.freePageHints, disks, diskDevice, stateful);
        if (b.prefillFraction > 0) {
            prefill(new Prefill(b.prefillFraction, workload.seed(), Prefill.IN_MEMORY_SALT));
        }
        for (int i = 0; i < b.vcpuCount; i++) {
            GuestCpu cpu = new GuestCpu(i, b.vcpuCount, pages, tracker, gate, b.timeSource,
                    () -> throttlePercent, workload, presence);
            cpus.add(cpu);
            Thread thread = Thread.ofPlatform().daemon().name("livemig-mem-vcpu-" + i).unstarted(cpu);
            threads.add(thread);
        }
        if (disks.isEmpty()) {
            this.diskWriter = null;
        } else {
            List<GuestDiskWriter.BlockWrite> writes = new ArrayList<>();
            List<Integer> blockSizes = new ArrayList<>();
            for (InMemoryDisk disk : disks) {
                writes.add(disk::writeOwned);
                blockSizes.add(disk.descriptor().blockSizeBytes());
            }
            this.diskWriter = new GuestDiskWriter(sequences, writes, blockSizes, gate, b.timeSource,
                    () -> throttlePercent);
            threads.add(Thread.ofPlatform().daemon().name("livemig-mem-disk-io").unstarted(diskWriter));
        }
        threads.forEach(Thread::start);
    }

    /** Makes the stateful devices, their DMA writing {@code pages}; closes those made if one fails. */
    private static List<StatefulDevice> statefulDevices(List<StatefulDeviceSpec> specs, boolean target,
                                                        TimeSource time, PagedMemory pages) {
        List<StatefulDevice> made = new ArrayList<>();
        try {
            for (StatefulDeviceSpec spec : specs) {
                made.add(target ? StatefulDevice.target(spec, time, pages) : new StatefulDevice(spec, time, pages, false));
            }
        } catch (RuntimeException e) {
            made.forEach(StatefulDevice::close);
            throw e;
        }
        return made;
    }

    /** {@return a builder: 64 MiB, 4 KiB pages, one vCPU, idle workload, real time} */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    Parts parts() {
        return parts;
    }

    /** {@return guest memory, readable and writable ({@link MemorySource} and {@link MemorySink})} */
    @Override
    public KitMemory memory() {
        return memory;
    }

    /** {@return the workload in force} */
    public Workload workload() {
        return workloadDevice.workload();
    }

    /** {@return the guest writes done so far by all vCPUs, across migrations; exact while paused} */
    public long writesDone() {
        long total = 0;
        for (GuestCpu cpu : cpus) {
            total += cpu.writesDone();
        }
        return total;
    }

    /** {@return the block writes the guest made to its disks so far, across migrations; exact while paused} */
    public long diskWritesDone() {
        return diskWriter == null ? 0 : diskWriter.writesDone();
    }

    /** {@return false once {@link #close()} was called} */
    @Override
    public boolean isOpen() {
        return !closed;
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
        closeStatefulDevices();
        detachDisks();
    }

    /** Fills the pages {@code prefill} chooses with xorshift bytes seeded by the page's hash. */
    private void prefill(Prefill prefill) {
        int pageSize = pages.pageSize();
        MemoryLayout layout = pages.layout();
        for (var region : layout.regions()) {
            for (long page = region.firstPage(); page < region.endPage(); page++) {
                if (!prefill.chooses(page)) {
                    continue;
                }
                ByteBuffer chunk = pages.chunkOf(page);
                int base = pages.offsetInChunk(page);
                long x = prefill.hash(page) | 1;
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
            pages.readPages(firstPage, pageCount, destination);
        }

        @Override
        public void writePages(long firstPage, int pageCount, ByteBuffer source) {
            pages.writePages(firstPage, pageCount, source);
            markWritten(firstPage, pageCount);
        }

        @Override
        public void zeroPages(long firstPage, int pageCount) {
            pages.zeroPages(firstPage, pageCount);
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
         * {@return a copy of the page's bytes}
         *
         * @param page a RAM page
         */
        public byte[] page(long page) {
            ByteBuffer b = ByteBuffer.allocate(pages.pageSize()).order(ByteOrder.nativeOrder());
            pages.readPages(page, 1, b);
            return b.array();
        }
    }

    private final class KitVcpus extends ThrottledVcpus {
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
            requirePaused(gate.isPaused());
            List<VcpuState> states = new ArrayList<>();
            for (int i = 0; i < cpus.size(); i++) {
                states.add(new VcpuState(i, GuestCpu.STATE_FORMAT, cpus.get(i).saveState()));
            }
            return states;
        }

        @Override
        public void loadState(List<VcpuState> states) {
            requirePaused(gate.isPaused());
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
        protected void applyThrottle(int percent) {
            throttlePercent = percent;
        }

        @Override
        public int throttlePercent() {
            return throttlePercent;
        }
    }

    /** Builds an {@link InMemoryVm}. Not thread-safe; setters validate at once. */
    public static final class Builder extends KitVm.Builder<Builder> {
        private int vcpuCount = 1;
        private TimeSource timeSource = TimeSource.system();
        private Consumer<InMemoryVm> onResume;

        private Builder() {
        }

        @Override
        Builder self() {
            return this;
        }

        /**
         * Sets the page size. Default 4 KiB.
         *
         * @param bytes page size in bytes, a power of two
         * @return this builder
         */
        public Builder pageSizeBytes(int bytes) {
            this.pageSizeBytes = bytes;
            return this;
        }

        /**
         * Sets the number of vCPUs, each a thread running the workload. Default 1.
         *
         * @param count vCPUs (workload threads), 1 to 64
         * @return this builder
         */
        public Builder vcpus(int count) {
            if (count < 1 || count > 64) {
                throw new IllegalArgumentException("vcpus must be in [1, 64], was " + count);
            }
            this.vcpuCount = count;
            return this;
        }

        /**
         * Sets the clock that paces the workload. Default {@link TimeSource#system()}.
         *
         * @param timeSource the clock that paces the workload
         * @return this builder
         */
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
         * {@return a new, paused VM}
         *
         * @throws IllegalStateException    if one of its disks belongs to another VM that is open
         * @throws IllegalArgumentException if a stateful device's DMA pages are not inside one RAM region
         */
        public InMemoryVm build() {
            return new InMemoryVm(this, sourceDisks(), null);
        }

        /**
         * A migration target for what a source announced: a paused VM with its layout, vCPU count
         * and disks, where each disk is the one given to {@link #disk(InMemoryDisk)} with its id
         * (a stale replica, which the migration brings up to date) or else a new empty one. The
         * size, page size, workload and hooks set on this builder apply as to {@link #build()};
         * the workload arrives with the migration. Each stateful device the source announced gets
         * its matching device, all zero and in {@code RUNNING}; the builder's own stateful devices
         * are not used.
         *
         * @param descriptor what the source announced
         * @return a new, paused target
         * @throws IllegalArgumentException if the descriptor is not a kit VM's, or a given disk
         *                                  does not match an announced one
         * @throws IllegalStateException    if a given disk belongs to another VM that is open
         */
        public InMemoryVm buildTarget(VmDescriptor descriptor) {
            if (!GuestCpu.STATE_FORMAT.equals(descriptor.vcpuStateFormat())) {
                throw new IllegalArgumentException("in-memory targets take vCPU state '" + GuestCpu.STATE_FORMAT
                        + "', not '" + descriptor.vcpuStateFormat() + "'");
            }
            List<StatefulDeviceSpec> devices = statefulDeviceSpecs(descriptor);
            List<InMemoryDisk> disks = targetDisks(descriptor.disks());
            layout(descriptor.memoryLayout());
            vcpus(descriptor.vcpuCount());
            return new InMemoryVm(this, disks, devices);
        }
    }
}
