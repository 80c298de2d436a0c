package io.livemig.kit;

import io.livemig.api.TimeSource;
import io.livemig.kit.internal.DiskWorkloadDevice;
import io.livemig.kit.internal.DiskWriteSequence;
import io.livemig.kit.internal.GuestExecution;
import io.livemig.kit.internal.InputDevice;
import io.livemig.kit.internal.Prefill;
import io.livemig.kit.internal.PresenceMap;
import io.livemig.kit.internal.ReplayableGuest;
import io.livemig.kit.internal.SyntheticPages;
import io.livemig.kit.internal.ThrottledVcpus;
import io.livemig.kit.internal.WorkloadDevice;
import io.livemig.kit.internal.WriteBarrierTracker;
import io.livemig.kit.internal.WriteSequence;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.ExecutionRecorder;
import io.livemig.spi.ExecutionReplayer;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MemorySource;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalDouble;

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
 * Paused time produces no writes. The pages are chosen by the same write sequence code as the
 * {@link InMemoryVm}'s guest threads use; dirty tracking, demand paging, free-page hints and the
 * workload device are the in-memory VM's parts too.
 *
 * <p><b>Disks</b> are {@link InMemoryDisk}s, stored for real (sparse): each is written at the disk
 * workload's rate in virtual time, whole blocks with self-describing content, the writes due
 * applied whenever the VM or the disk is observed, disk after disk before the memory writes of
 * the same interval; paused or blocked time writes nothing. The same clock and inputs give the
 * same disks, byte for byte.
 *
 * <p><b>As a target</b> it recognises what is written into it: a zero page, or a synthesized page
 * whose header and body match; anything else is stored as "foreign" and reads back as bytes no
 * source could have sent, so the engine's verification reports a mismatch instead of silently
 * accepting it. Post-copy works too: a guest write to a missing page reports a fault and blocks
 * the (single, simulated) vCPU until the page is installed; the blocked time produces no writes.
 *
 * <p><b>Replayable guests</b> ({@link Builder#replayable()}) run a different program, one whose
 * every step is a function of its vCPU state and of the one input it reads, so that the VM offers
 * what trace and replay needs, as a deterministic VMM would: an {@link #executionRecorder()} that
 * logs the inputs (format {@code "kit-input-log/1"}) and, as a target, an
 * {@link #executionReplayer()} that runs the guest from a checkpoint with its inputs taken from
 * the log. The guest wakes on a timer every guest tick of its run time, reads the clock (an
 * input: the host's time of the tick), writes the pages its rate has due, and reads an input
 * device that yields bytes at a configured rate (an
 * input, its bytes logged); the clock's value and the device's bytes go into the content of every
 * page it writes afterwards. Its vCPU state ({@link #REPLAYABLE_STATE_FORMAT}) carries its
 * registers, its workload and its run time. A position is the count of inputs it consumed;
 * pausing stops it between two steps. {@link RecordReplaySpec} says what recording and replay
 * cost; {@code io.livemig.kit.internal.ReplayableGuest} holds the program and {@code InputLog}
 * the log's grammar.
 *
 * <p>Thread-safe: every operation is guarded by {@code this}.
 */
public final class SimulatedVm extends KitVm implements MigratableVm, MigrationTarget {

    /** The vCPU state format of simulated VMs. */
    public static final String STATE_FORMAT = "livemig-simulated-vcpu-v1";
    /** The vCPU state format of replayable simulated VMs ({@link Builder#replayable()}). */
    public static final String REPLAYABLE_STATE_FORMAT = "livemig-simulated-replayable-vcpu-v1";

    private final Parts parts;
    private final MemoryLayout layout;
    private final int pageSize;
    private final TimeSource time;
    /** Per page: the version of its synthesized content, or a state of {@link SyntheticPages}. */
    private final long[] version;
    private final SyntheticPages content;
    private final Memory memory = new Memory();
    private final WriteBarrierTracker barrier;
    private final Vcpus vcpus = new Vcpus();
    private final PresenceMap presence;
    private final WriteSequence sequence;
    private final List<InMemoryDisk> disks;
    private final List<DiskWriteSequence> diskSequences;
    /** The replayable guest and what runs it, or null for the time-driven guest. */
    private final ReplayableGuest guest;
    private final GuestExecution execution;

    private double writesPerNano;
    private boolean paused = true;
    private boolean closed;
    private int throttlePercent;
    private long lastNanos;
    private double credit;
    private long writesDone;
    private long blockedOn = -1;
    private long blockedSince;
    /** The version the blocked write of a replayable guest stores once its page is installed. */
    private long blockedVersion;

    private SimulatedVm(Builder b, boolean target, boolean replayable, List<InMemoryDisk> disks,
                        List<StatefulDeviceSpec> specs) {
        List<StatefulDevice> stateful = new java.util.ArrayList<>();
        for (StatefulDeviceSpec spec : specs) {
            // On the virtual clock: no thread; no memory: a spec with DMA is refused.
            stateful.add(target ? StatefulDevice.target(spec, b.time, null) : new StatefulDevice(spec, b.time));
        }
        this.disks = disks;
        this.diskSequences = diskSequences(disks, b.diskWorkload);
        this.layout = b.resolvedLayout();
        Workload workload = b.workload;
        Prefill prefill = new Prefill(b.prefillFraction, workload.seed(), Prefill.SIMULATED_SALT);
        this.pageSize = layout.pageSizeBytes();
        this.time = b.time;
        this.version = new long[Math.toIntExact(layout.pageSpan())];
        if (target) {
            Arrays.fill(version, SyntheticPages.ZERO);
        }
        this.content = new SyntheticPages(pageSize, prefill, target);
        if (replayable) {
            RecordReplaySpec r = b.replay;
            guest = new ReplayableGuest(layout, workload, r.guestTick().toNanos(), content.seed());
            InputDevice input = new InputDevice(r.inputBytesPerSecond(), Prefill.mix(workload.seed() + 0x1D),
                    time.nanoTime());
            GuestExecution.Costs costs = new GuestExecution.Costs(r.recordCostPerInput().toNanos(),
                    r.replayCostPerWrite().toNanos(), r.replayCostPerInput().toNanos());
            execution = new GuestExecution(this, time, guest, input, costs, REPLAYABLE_STATE_FORMAT, new ExecutionHost());
        } else {
            guest = null;
            execution = null;
        }
        this.barrier = new WriteBarrierTracker(layout.pageSpan());
        this.presence = new PresenceMap(memory, time, 1, new BlockingVcpu(), this);
        WorkloadDevice device = new WorkloadDevice(workload, OptionalDouble.of(prefill.fraction()), w -> {
            synchronized (this) {
                configure(w);
            }
        });
        this.parts = new Parts(new VmDescriptor(layout, 1, deviceIds(!disks.isEmpty(), specs),
                replayable ? REPLAYABLE_STATE_FORMAT : STATE_FORMAT,
                diskDescriptors(disks)), new Tracker(), vcpus, device, presence, b.freePageHints, disks,
                disks.isEmpty() ? null : new DiskWorkloadDevice(b.diskWorkload, diskSequences, this), stateful);
        this.sequence = new WriteSequence(layout, workload, 0, true);
        configure(workload);
        attachDisks(disks, this::catchUp);
    }

    /**
     * {@return a builder: 64 MiB, 4 KiB pages, idle, no prefill}
     *
     * @param time the clock the VM's workload runs on
     */
    public static Builder builder(TimeSource time) {
        return new Builder(time);
    }

    private void configure(Workload w) {
        if (guest != null) {
            guest.configure(w);
        }
        sequence.configure(w);
        writesPerNano = sequence.writesPerNano(1);
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
        long since = lastNanos;
        lastNanos = now;
        if (elapsed <= 0) {
            return;
        }
        writeDisks(elapsed);
        if (execution != null) {
            execution.runLive(since, now, elapsed * (100 - throttlePercent) / 100);
            return;
        }
        if (writesPerNano == 0) {
            return;
        }
        credit += elapsed * writesPerNano * (100 - throttlePercent) / 100.0;
        while (credit >= 1) {
            long page = sequence.nextPage();
            if (presence.reportFault(page, 0)) {
                // The vCPU touches a missing page: it blocks until the page is installed.
                blockedOn = page;
                blockedSince = now;
                credit = 0;
                return;
            }
            credit -= 1;
            applyWrite(page);
        }
    }

    /** Makes the disk writes due in {@code elapsed} running nanoseconds, disk after disk. Caller holds the lock. */
    private void writeDisks(long elapsed) {
        for (int d = 0; d < disks.size(); d++) {
            DiskWriteSequence disk = diskSequences.get(d);
            double perNano = disk.writesPerNano();
            if (perNano == 0) {
                continue;
            }
            double due = disk.credit() + elapsed * perNano * (100 - throttlePercent) / 100.0;
            InMemoryDisk target = disks.get(d);
            for (; due >= 1; due -= 1) {
                long block = disk.nextBlock();
                target.writeOwned(block, disk.nextContent(block));
            }
            disk.credit(due);
        }
    }

    /** Applies the writes due, before a disk is observed. */
    private synchronized void catchUp() {
        advance();
    }

    private void applyWrite(long page) {
        writesDone++;
        version[(int) page] = writesDone;
        barrier.markDirty(page);
    }

    private void checkRun(long firstPage, int pageCount) {
        if (pageCount < 1 || !layout.containsRun(firstPage, pageCount)) {
            throw new IndexOutOfBoundsException("pages [" + firstPage + ", +" + pageCount + ") are not in one region");
        }
    }

    // ---- MigratableVm / MigrationTarget ----

    @Override
    Parts parts() {
        return parts;
    }

    /** {@return the synthesized memory, a {@link MemorySource} and a {@link MemorySink}} */
    @Override
    public Memory memory() {
        return memory;
    }

    /** {@return the guest's writes so far, across migrations} */
    public synchronized long writesDone() {
        advance();
        return guest != null ? guest.writesDone() : writesDone;
    }

    /**
     * {@return for a replayable VM, the recorder of its inputs ({@code "kit-input-log/1"}); empty
     * otherwise}
     */
    @Override
    public Optional<ExecutionRecorder> executionRecorder() {
        return execution == null ? Optional.empty() : Optional.of(execution.recorder());
    }

    /**
     * {@return for a replayable VM (a target built from a replayable source's descriptor), the
     * replayer of {@code "kit-input-log/1"} logs; empty otherwise}
     */
    @Override
    public Optional<ExecutionReplayer> executionReplayer() {
        return execution == null ? Optional.empty() : Optional.of(execution.replayer());
    }

    /** {@return the block writes the guest made to its disks so far, across migrations} */
    public synchronized long diskWritesDone() {
        advance();
        long total = 0;
        for (DiskWriteSequence disk : diskSequences) {
            total += disk.writesDone();
        }
        return total;
    }

    /** {@return the clock this VM lives on} */
    public TimeSource time() {
        return time;
    }

    /** {@return false once {@link #close()} was called} */
    @Override
    public synchronized boolean isOpen() {
        return !closed;
    }

    @Override
    public synchronized void close() {
        closed = true;
        barrier.stop();
        closeStatefulDevices();
        detachDisks();
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
                    content.write(page, version[(int) page], out, at + i * pageSize);
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
                    version[(int) page] = content.recognise(page, in, at + i * pageSize);
                }
                source.position(at + pageCount * pageSize);
            }
        }

        @Override
        public void zeroPages(long firstPage, int pageCount) {
            synchronized (SimulatedVm.this) {
                checkRun(firstPage, pageCount);
                for (int i = 0; i < pageCount; i++) {
                    version[(int) (firstPage + i)] = SyntheticPages.ZERO;
                }
            }
        }
    }

    /** The write barrier's dirty log, with the writes due applied first. */
    private final class Tracker implements DirtyTracker {
        @Override
        public void start() {
            synchronized (SimulatedVm.this) {
                advance();
                barrier.start();
            }
        }

        @Override
        public PageSet collect() {
            synchronized (SimulatedVm.this) {
                if (!barrier.isTracking()) {
                    throw new IllegalStateException("dirty tracking is not started");
                }
                advance();
                return barrier.collect();
            }
        }

        @Override
        public void redirty(PageSet pages) {
            synchronized (SimulatedVm.this) {
                barrier.redirty(pages);
            }
        }

        @Override
        public void stop() {
            synchronized (SimulatedVm.this) {
                barrier.stop();
            }
        }
    }

    private final class Vcpus extends ThrottledVcpus {
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
                requirePaused(paused);
                if (guest != null) {
                    return List.of(new VcpuState(0, REPLAYABLE_STATE_FORMAT, guest.save()));
                }
                byte[] state = ByteBuffer.allocate(40).putLong(sequence.generatorState()).putLong(writesDone)
                        .putLong(sequence.cursor()).putDouble(credit).putLong(0).array();
                return List.of(new VcpuState(0, STATE_FORMAT, state));
            }
        }

        @Override
        public void loadState(List<VcpuState> states) {
            synchronized (SimulatedVm.this) {
                requirePaused(paused);
                if (guest != null) {
                    if (states.size() != 1 || !REPLAYABLE_STATE_FORMAT.equals(states.get(0).format())) {
                        throw new IllegalArgumentException("expected one '" + REPLAYABLE_STATE_FORMAT + "' state");
                    }
                    guest.load(states.get(0).data());
                    content.adoptSeed(guest.contentSeed());
                    return;
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
                sequence.restore(r, c);
                writesDone = w;
                credit = cr;
            }
        }

        /** Applies the writes due under the previous throttle first. */
        @Override
        protected void applyThrottle(int percent) {
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

    /** What the replayable guest's execution uses of this VM; called under its lock. */
    private final class ExecutionHost implements GuestExecution.Host {
        @Override
        public boolean write(long page, long v) {
            if (presence.reportFault(page, 0)) {
                // The vCPU touches a missing page: it blocks until the page is installed.
                blockedOn = page;
                blockedSince = time.nanoTime();
                blockedVersion = v;
                return false;
            }
            version[(int) page] = v;
            barrier.markDirty(page);
            return true;
        }

        @Override
        public boolean isPaused() {
            return paused;
        }

        @Override
        public void catchUp() {
            advance();
        }

        @Override
        public void replayWrite(long page, long v) {
            version[(int) page] = v;
            barrier.markDirty(page);
        }

        @Override
        public void adoptContentSeed(long seed) {
            content.adoptSeed(seed);
        }

        @Override
        public PageSet populatedPages() {
            return content.nonZero(layout, version);
        }
    }

    /** The vCPU as the presence map sees it: it blocks itself on a missing page, in virtual time. */
    private final class BlockingVcpu implements PresenceMap.Guest {
        @Override
        public boolean isPaused() {
            return paused;
        }

        /** The page the vCPU blocks on is there: its write happens now, and the guest goes on. */
        @Override
        public void installed(long page) {
            if (page == blockedOn) {
                long now = time.nanoTime();
                presence.addBlockedNanos(0, now - blockedSince);
                blockedOn = -1;
                lastNanos = now;
                if (guest != null) {
                    version[(int) page] = blockedVersion;
                    barrier.markDirty(page);
                } else {
                    applyWrite(page);
                }
            }
            advance();
        }

        @Override
        public long blockedNanosSoFar(int vcpu) {
            return blockedOn >= 0 ? time.nanoTime() - blockedSince : 0;
        }
    }

    /** Builds a {@link SimulatedVm}. Not thread-safe; setters validate at once. */
    public static final class Builder extends KitVm.Builder<Builder> {
        private final TimeSource time;
        private boolean replayable;
        private RecordReplaySpec replay = RecordReplaySpec.DEFAULT;

        private Builder(TimeSource time) {
            this.time = Objects.requireNonNull(time, "time");
        }

        @Override
        Builder self() {
            return this;
        }

        /**
         * Makes the guest replayable with {@link RecordReplaySpec#DEFAULT} (see the class comment).
         *
         * @return this builder
         */
        public Builder replayable() {
            return replayable(RecordReplaySpec.DEFAULT);
        }

        /**
         * Makes the guest replayable (see the class comment): a timer-driven guest whose state and
         * inputs determine it, with an execution recorder and, as a target, a replayer. Its writes
         * come a tick at a time, so its pace differs slightly from the time-driven guest's. A
         * target takes the spec's costs and input device whatever this says; whether it replays is
         * the source's descriptor's to say.
         *
         * @param spec the timer, the input device, the costs
         * @return this builder
         */
        public Builder replayable(RecordReplaySpec spec) {
            this.replay = Objects.requireNonNull(spec, "spec");
            this.replayable = true;
            return this;
        }

        /**
         * {@return a paused source VM}
         *
         * @throws IllegalStateException    if one of its disks belongs to another VM that is open
         * @throws IllegalArgumentException if a stateful device asks for DMA (simulated memory takes none)
         */
        public SimulatedVm build() {
            return new SimulatedVm(this, false, replayable, sourceDisks(), List.copyOf(statefulDevices.values()));
        }

        /**
         * {@return a paused target with that shape, its memory empty (all zero); each disk the one
         * given to {@link #disk(InMemoryDisk)} with its id (a stale replica), or else new
         * and empty; each stateful device announced made anew (all zero, in {@code RUNNING})}
         *
         * @param descriptor the shape announced by the source
         * @throws IllegalArgumentException if the descriptor is not a simulated VM's, or a given
         *                                  disk does not match an announced one
         * @throws IllegalStateException    if a given disk belongs to another VM that is open
         */
        public SimulatedVm buildTarget(VmDescriptor descriptor) {
            boolean replaying = REPLAYABLE_STATE_FORMAT.equals(descriptor.vcpuStateFormat());
            if (!(replaying || STATE_FORMAT.equals(descriptor.vcpuStateFormat())) || descriptor.vcpuCount() != 1) {
                throw new IllegalArgumentException("simulated targets take one '" + STATE_FORMAT + "' or '"
                        + REPLAYABLE_STATE_FORMAT + "' vCPU, not "
                        + descriptor.vcpuCount() + " of '" + descriptor.vcpuStateFormat() + "'");
            }
            List<StatefulDeviceSpec> devices = statefulDeviceSpecs(descriptor);
            List<InMemoryDisk> disks = targetDisks(descriptor.disks());
            layout(descriptor.memoryLayout());
            return new SimulatedVm(this, true, replaying, disks, devices);
        }
    }
}
