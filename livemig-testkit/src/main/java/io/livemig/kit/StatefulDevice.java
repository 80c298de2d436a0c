package io.livemig.kit;

import io.livemig.api.TimeSource;
import io.livemig.kit.internal.DeviceChunks;
import io.livemig.kit.internal.DeviceStream;
import io.livemig.kit.internal.PagedMemory;
import io.livemig.kit.internal.WriteBarrierTracker;
import io.livemig.spi.DeviceMigration;
import io.livemig.spi.DeviceState;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.PageSet;
import io.livemig.spi.VmOperationException;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * A fake device with a large internal state that changes while it runs, migrated through VFIO
 * migration v2's state machine and data stream ({@link #migration()}), and optionally writing
 * guest memory itself (DMA) with its own dirty log ({@link #dmaTracker()}). What it is comes from
 * a {@link StatefulDeviceSpec}.
 *
 * <p><b>State.</b> {@link StatefulDeviceSpec#stateBytes()} bytes in chunks, kept sparse (8 bytes
 * per chunk: every chunk's bytes are synthesized from its index and a version). A source device
 * starts with its initial content (version 0 everywhere); a device made for a migration target
 * ({@link #target}) starts all zero. {@link #digest()} hashes the whole content, so tests compare
 * a source and a destination byte for byte.
 *
 * <p><b>Activity.</b> In the running states ({@link DeviceState#running()}) it rewrites whole
 * chunks at {@link StatefulDeviceSpec#writeBytesPerSecond()}, each chosen uniformly by a generator
 * seeded with {@link StatefulDeviceSpec#seed()}, and, on a VM, whole guest pages at
 * {@link StatefulDeviceSpec#dmaBytesPerSecond()}. Writes are due by the device's clock: every
 * call applies those due first, and on the wall clock a daemon thread also applies them every
 * millisecond (on a virtual clock they happen when the device is observed, so the same inputs
 * give the same writes). The activity (rates, generator states, write counts) travels in the data
 * stream, and the destination continues it.
 *
 * <p><b>Data stream</b> (grammar in {@code io.livemig.kit.internal.DeviceStream}): a header (the
 * shape), chunk records (offset, length, bytes), and an end record (the chunk record count, a
 * content fingerprint, the activity). A saving session opens on entering {@code PRE_COPY} or
 * {@code STOP_COPY} from a state that is not saving, and closes on leaving the saving states. It
 * reads every chunk once (the initial pass), then the chunks written since they were read; in
 * {@code PRE_COPY} {@link DeviceMigration#read} returns 0 when nothing is left now; in
 * {@code STOP_COPY} it reads what is left, the end record, then -1.
 *
 * <p><b>Resuming.</b> Entering {@code RESUMING} starts a new stream. Records are applied as they
 * complete; the first malformed one (bad tag, a shape other than this device's, a chunk not whole
 * or outside the state, anything after the end record, an end record whose count or fingerprint
 * does not match what arrived) is refused with a {@link VmOperationException} and the device goes
 * to {@link DeviceState#ERROR}: the records before it stay applied, it and the bytes after it are
 * not. Leaving {@code RESUMING} (to {@code STOP}) checks that the stream ended: without its end
 * record (a truncated stream) the transition throws {@link VmOperationException} and the device is
 * in {@code ERROR}. Only {@link #reset()} leaves {@code ERROR}.
 *
 * <p><b>Whole-state saving.</b> {@link #saveState()} and {@link #loadState} refuse with
 * {@link VmOperationException}: this device migrates through {@link #migration()} only.
 *
 * <p><b>DMA</b> writes go straight into the VM's memory, past its write barrier, as real DMA
 * bypasses the vCPUs' dirty log; only {@link #dmaTracker()} sees them. They do not wait for
 * post-copy's missing pages: do not give a DMA device to a post-copy target.
 *
 * <p>Thread-safe: every operation holds the device's lock. {@link #close()} stops the thread; idempotent.
 */
public final class StatefulDevice implements MigratableDevice, AutoCloseable {

    private static final long TICK_NANOS = 1_000_000L;
    /** Word 0 of every page the device's DMA writes: "LM-DMA!!". */
    public static final long DMA_MAGIC = 0x4C4D2D444D412121L;

    private final StatefulDeviceSpec spec;
    private final String id;
    private final TimeSource time;
    private final PagedMemory memory;
    private final WriteBarrierTracker dmaBarrier;
    private final DeviceChunks chunks;
    private final Migration migration = new Migration();
    private final DmaTracker dmaTracker = new DmaTracker();
    private final Thread ticker;

    private DeviceState state = DeviceState.RUNNING;
    private List<DeviceState> lastPath = List.of();
    private boolean closed;

    // Activity.
    private double writesPerNano;
    private long writeBytesPerSecond;
    private long rng;
    private long writesDone;
    private double credit;
    private double dmaPagesPerNano;
    private long dmaBytesPerSecond;
    private long dmaFirstPage;
    private long dmaPageCount;
    private long dmaRng;
    private long dmaWritesDone;
    private double dmaCredit;
    private long lastNanos;

    // The saving session, when one is open.
    private boolean saving;
    private boolean headerPending;
    private final BitSet initialLeft = new BitSet();
    private int initialCursor;
    private final BitSet dirty = new BitSet();
    private int dirtyCursor;
    private long chunkRecords;
    private boolean endEmitted;
    private ByteBuffer outgoing;
    private final ByteBuffer recordBuffer;

    // The resuming stream, when one is open.
    private DeviceStream.Parser parser;
    private BitSet received;

    /**
     * A device on its own, without guest memory (its spec must not ask for DMA), in
     * {@link DeviceState#RUNNING} with its initial content.
     *
     * @param spec what it is
     * @param time the clock its writes are due by; a wall clock starts a daemon thread
     * @throws IllegalArgumentException if the spec asks for DMA
     */
    public StatefulDevice(StatefulDeviceSpec spec, TimeSource time) {
        this(spec, time, null, false);
    }

    /**
     * @param spec   what it is
     * @param time   the clock
     * @param memory the VM's memory its DMA writes, or null
     * @param target whether it is a fresh target device (all zero, idle until its stream says otherwise)
     */
    StatefulDevice(StatefulDeviceSpec spec, TimeSource time, PagedMemory memory, boolean target) {
        this.spec = Objects.requireNonNull(spec, "spec");
        this.id = spec.id();
        this.time = Objects.requireNonNull(time, "time");
        this.memory = memory;
        this.chunks = new DeviceChunks(spec.chunkCount(), spec.chunkBytes(), target ? DeviceChunks.ZERO : 0);
        this.recordBuffer = ByteBuffer.allocate(DeviceStream.HEADER_BYTES + spec.chunkBytes());
        this.dmaBarrier = memory == null ? null : new WriteBarrierTracker(memory.layout().pageSpan());
        long seed = spec.seed();
        DeviceStream.Activity a = target ? new DeviceStream.Activity(0, 1, 0, 0, 0, 0, 1, 0)
                : new DeviceStream.Activity(spec.writeBytesPerSecond(), seed, 0, spec.dmaBytesPerSecond(),
                        spec.dmaFirstPage(), spec.dmaPageCount(), seed * 0x9E3779B97F4A7C15L | 1, 0);
        adopt(a);
        this.lastNanos = time.nanoTime();
        if (time.isWallClock()) {
            this.ticker = Thread.ofPlatform().daemon().name("livemig-device-" + spec.name()).unstarted(this::tick);
            ticker.start();
        } else {
            this.ticker = null;
        }
    }

    /**
     * {@return a fresh target device for a source device's id: same shape, all zero, idle, in
     * {@link DeviceState#RUNNING}}
     *
     * @param spec   the shape, from {@link StatefulDeviceSpec#parseId}
     * @param time   the clock
     * @param memory the target VM's memory, or null
     */
    static StatefulDevice target(StatefulDeviceSpec spec, TimeSource time, PagedMemory memory) {
        return new StatefulDevice(spec, time, memory, true);
    }

    /** Takes an activity: rates, generators, counts. Checks the DMA range. Caller holds the lock (or constructs). */
    private void adopt(DeviceStream.Activity a) {
        if (a.dmaBytesPerSecond() > 0) {
            if (memory == null) {
                throw new IllegalArgumentException("device " + id + " writes guest memory: attach it to an InMemoryVm");
            }
            long end = a.dmaFirstPage() + a.dmaPageCount();
            if (end < a.dmaFirstPage() || !memory.layout().containsRun(a.dmaFirstPage(), (int) Math.min(a.dmaPageCount(),
                    Integer.MAX_VALUE)) || a.dmaPageCount() > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("DMA pages [" + a.dmaFirstPage() + ", " + end
                        + ") are not inside one RAM region of " + memory.layout());
            }
        }
        writeBytesPerSecond = a.writeBytesPerSecond();
        writesPerNano = a.writeBytesPerSecond() / (double) spec.chunkBytes() / 1e9;
        rng = a.rng();
        writesDone = a.writesDone();
        dmaBytesPerSecond = a.dmaBytesPerSecond();
        dmaPagesPerNano = memory == null ? 0 : a.dmaBytesPerSecond() / (double) memory.pageSize() / 1e9;
        dmaFirstPage = a.dmaFirstPage();
        dmaPageCount = a.dmaPageCount();
        dmaRng = a.dmaRng();
        dmaWritesDone = a.dmaWritesDone();
        credit = 0;
        dmaCredit = 0;
    }

    private DeviceStream.Activity activity() {
        return new DeviceStream.Activity(writeBytesPerSecond, rng, writesDone, dmaBytesPerSecond, dmaFirstPage,
                dmaPageCount, dmaRng, dmaWritesDone);
    }

    // ---- activity ----

    private void tick() {
        try {
            while (true) {
                synchronized (this) {
                    if (closed) {
                        return;
                    }
                    advance();
                }
                time.sleepNanos(TICK_NANOS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Applies every write due by the clock. Caller holds the lock. */
    private void advance() {
        long now = time.nanoTime();
        long elapsed = now - lastNanos;
        lastNanos = now;
        if (!state.running() || closed || elapsed <= 0) {
            return;
        }
        if (writesPerNano > 0) {
            credit += elapsed * writesPerNano;
            int chunkCount = chunks.chunkCount();
            for (; credit >= 1; credit -= 1) {
                rng = xorshift(rng);
                int chunk = (int) Long.remainderUnsigned(rng, chunkCount);
                chunks.write(chunk, ++writesDone);
                if (saving && !initialLeft.get(chunk)) {
                    dirty.set(chunk);
                }
            }
        }
        if (dmaPagesPerNano > 0) {
            dmaCredit += elapsed * dmaPagesPerNano;
            for (; dmaCredit >= 1; dmaCredit -= 1) {
                dmaRng = xorshift(dmaRng);
                writePage(dmaFirstPage + Long.remainderUnsigned(dmaRng, dmaPageCount), ++dmaWritesDone);
            }
        }
    }

    /** One DMA write: the whole page, then its bit in the device's own log (never the VM's). */
    private void writePage(long page, long serial) {
        ByteBuffer chunk = memory.chunkOf(page);
        int at = memory.offsetInChunk(page);
        int end = at + memory.pageSize();
        chunk.putLong(at, DMA_MAGIC);
        chunk.putLong(at + 8, page);
        chunk.putLong(at + 16, serial);
        long x = (page * 0x9E3779B97F4A7C15L) ^ serial | 1;
        for (at += 24; at < end; at += 8) {
            x = xorshift(x);
            chunk.putLong(at, x);
        }
        dmaBarrier.markDirty(page);
    }

    private static long xorshift(long x) {
        x ^= x << 13;
        x ^= x >>> 7;
        x ^= x << 17;
        return x;
    }

    // ---- MigratableDevice ----

    /** {@return the id, which spells the shape: {@link StatefulDeviceSpec#id()}} */
    @Override
    public String id() {
        return id;
    }

    /** {@return what the device was made as (a target's activity arrives later, with its stream)} */
    public StatefulDeviceSpec spec() {
        return spec;
    }

    /**
     * Refuses: this device migrates through {@link #migration()}.
     *
     * @return never
     * @throws VmOperationException always
     */
    @Override
    public byte[] saveState() {
        throw new VmOperationException("device " + id + " saves no whole state: it migrates through migration()");
    }

    /**
     * Refuses: this device migrates through {@link #migration()}.
     *
     * @param state ignored
     * @throws VmOperationException always
     */
    @Override
    public void loadState(byte[] state) {
        throw new VmOperationException("device " + id + " loads no whole state: it migrates through migration()");
    }

    /** {@return its migration: VFIO migration v2's state machine and data stream} */
    @Override
    public Optional<DeviceMigration> migration() {
        return Optional.of(migration);
    }

    /** {@return its DMA dirty log, on a VM; empty for a device on its own} */
    @Override
    public Optional<DirtyTracker> dmaTracker() {
        return memory == null ? Optional.empty() : Optional.of(dmaTracker);
    }

    /** {@return the SHA-256 of its whole state, in hex, after the writes due} */
    public synchronized String digest() {
        advance();
        return chunks.digest();
    }

    /** {@return its chunk writes so far, across migrations, after those due} */
    public synchronized long writesDone() {
        advance();
        return writesDone;
    }

    /** {@return its DMA page writes so far, across migrations, after those due} */
    public synchronized long dmaWritesDone() {
        advance();
        return dmaWritesDone;
    }

    /** {@return the states the last transition entered, in order (the path it walked)} */
    public synchronized List<DeviceState> lastPath() {
        return lastPath;
    }

    /**
     * Resets the device, as {@code VFIO_DEVICE_RESET} does: to {@link DeviceState#RUNNING} from
     * any state, {@link DeviceState#ERROR} included, with any data stream closed. The content
     * and activity stay.
     */
    public synchronized void reset() {
        advance();
        closeSaving();
        parser = null;
        received = null;
        state = DeviceState.RUNNING;
        lastPath = List.of(DeviceState.RUNNING);
    }

    /** Stops the device's thread; the device stops writing. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            advance();
            closed = true;
        }
        if (ticker != null) {
            ticker.interrupt();
        }
    }

    // ---- the state machine ----

    private void step(DeviceState from, DeviceState to) {
        if (from.running() && !to.running()) {
            // A stopped device drops the fraction of a write it was due: restarts are reproducible.
            credit = 0;
            dmaCredit = 0;
        }
        if (from == DeviceState.RESUMING) {
            finishResume();
        }
        if (from.saving() && !to.saving()) {
            closeSaving();
        }
        if (!from.saving() && to.saving()) {
            openSaving();
        }
        if (to == DeviceState.RESUMING) {
            received = new BitSet(chunks.chunkCount());
            parser = new DeviceStream.Parser(spec.chunkBytes(), spec.stateBytes(), new Applier());
        }
    }

    private void openSaving() {
        saving = true;
        headerPending = true;
        initialLeft.set(0, chunks.chunkCount());
        initialCursor = 0;
        dirty.clear();
        dirtyCursor = 0;
        chunkRecords = 0;
        endEmitted = false;
        outgoing = null;
    }

    private void closeSaving() {
        saving = false;
        initialLeft.clear();
        dirty.clear();
        outgoing = null;
    }

    private void finishResume() {
        DeviceStream.Parser p = parser;
        parser = null;
        received = null;
        if (p == null || !p.ended()) {
            throw new VmOperationException("device " + id + ": the resumed stream is incomplete ("
                    + (p == null ? 0 : p.chunkRecords()) + " chunk records of at least " + chunks.chunkCount()
                    + (p != null && p.midRecord() ? ", the last cut short" : "") + ", no end record)");
        }
    }

    /** The next record of the saving session, or null if nothing is ready. Caller holds the lock. */
    private ByteBuffer nextRecord() {
        if (headerPending) {
            headerPending = false;
            return DeviceStream.header(spec.chunkBytes(), spec.stateBytes());
        }
        int chunk = initialLeft.nextSetBit(initialCursor);
        if (chunk >= 0) {
            initialLeft.clear(chunk);
            initialCursor = chunk + 1;
        } else {
            chunk = dirty.nextSetBit(dirtyCursor);
            if (chunk < 0) {
                chunk = dirty.nextSetBit(0);
            }
            if (chunk >= 0) {
                dirty.clear(chunk);
                dirtyCursor = chunk + 1;
            }
        }
        if (chunk >= 0) {
            chunkRecords++;
            DeviceStream.chunk(chunks, chunk, recordBuffer);
            return recordBuffer;
        }
        if (state == DeviceState.STOP_COPY && !endEmitted) {
            endEmitted = true;
            return DeviceStream.end(chunkRecords, chunks.fingerprint(), activity());
        }
        return null;
    }

    /** Applies a resumed stream's records. */
    private final class Applier implements DeviceStream.Sink {
        @Override
        public void chunk(int chunk, ByteBuffer bytes) {
            chunks.load(chunk, bytes);
            received.set(chunk);
        }

        @Override
        public void end(long count, long fingerprint, DeviceStream.Activity activity) {
            if (count != parser.chunkRecords() || received.cardinality() != chunks.chunkCount()) {
                throw new IllegalArgumentException("the end record counts " + count + " chunk records, "
                        + parser.chunkRecords() + " arrived covering " + received.cardinality() + " of "
                        + chunks.chunkCount() + " chunks");
            }
            if (fingerprint != chunks.fingerprint()) {
                throw new IllegalArgumentException("the state resumed differs from the source's (fingerprint)");
            }
            adopt(activity);
        }
    }

    /** VFIO migration v2 over this device. */
    private final class Migration implements DeviceMigration {
        @Override
        public Set<DeviceState> supportedStates() {
            return spec.supportedStates();
        }

        @Override
        public DeviceState state() {
            synchronized (StatefulDevice.this) {
                return state;
            }
        }

        @Override
        public void transition(DeviceState next) {
            Objects.requireNonNull(next, "next");
            synchronized (StatefulDevice.this) {
                if (closed) {
                    throw new IllegalStateException("device " + id + " is closed");
                }
                advance();
                List<DeviceState> path = DeviceState.path(state, next, spec.supportedStates());
                List<DeviceState> walked = new ArrayList<>();
                try {
                    for (DeviceState s : path) {
                        step(state, s);
                        state = s;
                        walked.add(s);
                    }
                } catch (VmOperationException e) {
                    fail(walked);
                    throw e;
                } finally {
                    lastPath = List.copyOf(walked);
                }
            }
        }

        @Override
        public int read(ByteBuffer destination) {
            synchronized (StatefulDevice.this) {
                if (!state.saving()) {
                    throw new IllegalStateException("device " + id + " is " + state + ", not saving");
                }
                advance();
                int copied = 0;
                while (destination.hasRemaining()) {
                    if (outgoing == null || !outgoing.hasRemaining()) {
                        outgoing = nextRecord();
                        if (outgoing == null) {
                            break;
                        }
                    }
                    int n = Math.min(destination.remaining(), outgoing.remaining());
                    destination.put(destination.position(), outgoing, outgoing.position(), n);
                    destination.position(destination.position() + n);
                    outgoing.position(outgoing.position() + n);
                    copied += n;
                }
                boolean ended = endEmitted && (outgoing == null || !outgoing.hasRemaining());
                return copied == 0 && state == DeviceState.STOP_COPY && ended ? -1 : copied;
            }
        }

        @Override
        public void write(ByteBuffer source) {
            synchronized (StatefulDevice.this) {
                if (state != DeviceState.RESUMING) {
                    throw new IllegalStateException("device " + id + " is " + state + ", not resuming");
                }
                try {
                    parser.feed(source);
                } catch (IllegalArgumentException e) {
                    source.position(source.limit());
                    List<DeviceState> walked = new ArrayList<>();
                    fail(walked);
                    lastPath = List.copyOf(walked);
                    throw new VmOperationException("device " + id + " refused its resumed stream: " + e.getMessage(), e);
                }
            }
        }

        @Override
        public long pendingBytes() {
            synchronized (StatefulDevice.this) {
                advance();
                long recordBytes = DeviceStream.HEADER_BYTES + (long) spec.chunkBytes();
                if (!state.saving()) {
                    return DeviceStream.HEADER_BYTES + chunks.chunkCount() * recordBytes + DeviceStream.END_BYTES;
                }
                long pending = (initialLeft.cardinality() + (long) dirty.cardinality()) * recordBytes
                        + (outgoing == null ? 0 : outgoing.remaining()) + (headerPending ? DeviceStream.HEADER_BYTES : 0);
                return state == DeviceState.STOP_COPY && !endEmitted ? pending + DeviceStream.END_BYTES : pending;
            }
        }

        /** The device failed: to ERROR, streams closed. */
        private void fail(List<DeviceState> walked) {
            closeSaving();
            parser = null;
            received = null;
            state = DeviceState.ERROR;
            walked.add(DeviceState.ERROR);
        }

        @Override
        public String toString() {
            return "DeviceMigration[" + id + "]";
        }
    }

    /** The DMA's own dirty log, with the writes due applied first. */
    private final class DmaTracker implements DirtyTracker {
        @Override
        public void start() {
            synchronized (StatefulDevice.this) {
                advance();
                dmaBarrier.start();
            }
        }

        @Override
        public PageSet collect() {
            synchronized (StatefulDevice.this) {
                if (!dmaBarrier.isTracking()) {
                    throw new IllegalStateException("DMA tracking of device " + id + " is not started");
                }
                advance();
                return dmaBarrier.collect();
            }
        }

        @Override
        public void redirty(PageSet pages) {
            synchronized (StatefulDevice.this) {
                dmaBarrier.redirty(pages);
            }
        }

        @Override
        public void stop() {
            synchronized (StatefulDevice.this) {
                dmaBarrier.stop();
            }
        }
    }

    @Override
    public String toString() {
        return "StatefulDevice[" + id + "]";
    }
}
