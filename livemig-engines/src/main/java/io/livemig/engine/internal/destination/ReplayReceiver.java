package io.livemig.engine.internal.destination;

import io.livemig.api.MigrationException;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.SourceVmState;
import io.livemig.api.TimeSource;
import io.livemig.engine.internal.EngineThreads;
import io.livemig.engine.internal.PageDigests;
import io.livemig.engine.internal.wire.ReplayFrames;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.ExecutionReplayer;
import io.livemig.spi.LogSegment;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySink;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * The destination's side of trace and replay (docs/protocol.md, section 9): collects the
 * checkpoint's vCPU states, starts the {@link ExecutionReplayer} at CHECKPOINT, reassembles the
 * log segments and hands them, in order, to its own replay thread, which reports each one
 * replayed (REPLAYED). After the final segment it ends replay and digests the target's memory as
 * replay left it, so that the source's digests are compared with what the VM will run on.
 *
 * <p>Everything but the replay itself runs on the receiving thread. The replay thread only
 * replays, sends REPLAYED (the link's sends are thread-safe) and records digests; the receiving
 * thread reads those only after {@link #awaitFinal()} (a happens-before through the monitor).
 * Bounds what it buffers: the log not yet replayed may not exceed the state limit.
 */
final class ReplayReceiver implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ReplayReceiver.class);
    /** Pages read per bulk read when digesting after replay. */
    private static final int CHUNK_PAGES = 256;
    private static final LogSegment END = new LogSegment(0, 0, new byte[0]);

    private final ExecutionReplayer replayer;
    private final MemorySink memory;
    private final MemoryLayout layout;
    private final DestinationVerifier verifier;
    private final DestinationLink link;
    private final TimeSource time;
    private final int vcpuCount;
    private final long maxBufferedBytes;
    private final VcpuState[] checkpointStates;
    private final LinkedBlockingQueue<LogSegment> queue = new LinkedBlockingQueue<>();
    private Thread thread;
    /** The segment being reassembled, or null between segments. */
    private ByteArrayOutputStream assembling;
    private long assemblingStart = -1;
    private long assemblingEnd = -1;
    /** Where the next segment must start: the checkpoint's position, then each segment's end. */
    private long nextPosition = -1;
    private boolean finalQueued;
    // Guarded by this:
    private long bufferedBytes;
    private long replayedPosition = -1;
    private long replayNanos;
    private boolean finished;
    private Throwable failure;

    ReplayReceiver(ExecutionReplayer replayer, MemorySink memory, DestinationVerifier verifier, DestinationLink link,
                   TimeSource time, int vcpuCount, long maxBufferedBytes) {
        this.replayer = replayer;
        this.memory = memory;
        this.layout = memory.layout();
        this.verifier = verifier;
        this.link = link;
        this.time = time;
        this.vcpuCount = vcpuCount;
        this.maxBufferedBytes = maxBufferedBytes;
        this.checkpointStates = new VcpuState[vcpuCount];
    }

    /** A checkpoint's VCPU_STATE, before CHECKPOINT. */
    void checkpointState(SwitchoverFrames.VcpuStateFrame frame) throws WireException {
        if (nextPosition >= 0) {
            throw new WireException(Kind.UNEXPECTED, "VCPU_STATE after CHECKPOINT, before the switchover");
        }
        int index = frame.state().index();
        if (checkpointStates[index] != null) {
            throw new WireException(Kind.UNEXPECTED, "the checkpoint's state of vCPU " + index + " arrived twice");
        }
        checkpointStates[index] = frame.state();
    }

    /** CHECKPOINT: the checkpoint's pages and states are here; replay starts. */
    void checkpoint(ReplayFrames.Checkpoint checkpoint) throws WireException, MigrationException {
        if (nextPosition >= 0) {
            throw new WireException(Kind.UNEXPECTED, "a second CHECKPOINT");
        }
        for (int i = 0; i < vcpuCount; i++) {
            if (checkpointStates[i] == null) {
                throw new WireException(Kind.UNEXPECTED, "CHECKPOINT without the state of vCPU " + i);
            }
        }
        if (!replayer.accepts(checkpoint.format())) {
            throw new WireException(Kind.INCOMPATIBLE, "this target cannot replay a log in the format '"
                    + checkpoint.format() + "'");
        }
        try {
            replayer.begin(checkpoint.format(), checkpoint.startPosition(), Arrays.asList(checkpointStates));
        } catch (RuntimeException e) {
            throw new MigrationException("the target cannot start replay from the checkpoint: " + e.getMessage(),
                    io.livemig.api.MigrationPhase.LIVE_COPY, SourceVmState.UNKNOWN, e);
        }
        nextPosition = checkpoint.startPosition();
        synchronized (this) {
            replayedPosition = nextPosition;
        }
        thread = EngineThreads.unstarted("livemig-replay", this::replayLoop);
        thread.start();
        LOG.debug("replay begins at position {}", nextPosition);
    }

    /** LOG_SEGMENT: one frame of a segment; a complete segment goes to the replay thread. */
    void chunk(ReplayFrames.LogChunk chunk) throws WireException, MigrationException {
        rethrow();
        if (nextPosition < 0) {
            throw new WireException(Kind.UNEXPECTED, "LOG_SEGMENT before CHECKPOINT");
        }
        if (finalQueued) {
            throw new WireException(Kind.UNEXPECTED, "LOG_SEGMENT after the final segment");
        }
        if (assembling == null) {
            if (chunk.startPosition() != nextPosition) {
                throw new WireException(Kind.UNEXPECTED, "a log segment starts at position " + chunk.startPosition()
                        + ", the log so far ends at " + nextPosition);
            }
            assembling = new ByteArrayOutputStream();
            assemblingStart = chunk.startPosition();
            assemblingEnd = chunk.endPosition();
        } else if (chunk.startPosition() != assemblingStart || chunk.endPosition() != assemblingEnd) {
            throw new WireException(Kind.UNEXPECTED, "a log segment's frames disagree on its positions: "
                    + assemblingStart + ".." + assemblingEnd + " then " + chunk.startPosition() + ".."
                    + chunk.endPosition());
        }
        synchronized (this) {
            if (bufferedBytes + chunk.bytes().length > maxBufferedBytes) {
                throw new WireException(Kind.INCONSISTENT_LENGTH, "the log not yet replayed would exceed "
                        + maxBufferedBytes + " bytes (ReceiveLimits.maxStateBytes)");
            }
            bufferedBytes += chunk.bytes().length;
        }
        assembling.writeBytes(chunk.bytes());
        if (!chunk.segmentEnd()) {
            if (chunk.last()) {
                throw new WireException(Kind.UNEXPECTED, "LOG_SEGMENT flagged final but not the end of its segment");
            }
            return;
        }
        queue.add(new LogSegment(assemblingStart, assemblingEnd, assembling.toByteArray()));
        nextPosition = assemblingEnd;
        assembling = null;
        if (chunk.last()) {
            finalQueued = true;
            queue.add(END);
        }
    }

    /** @return whether the final segment arrived */
    boolean finalArrived() {
        return finalQueued;
    }

    /**
     * Waits until the final segment was replayed and the memory digested.
     *
     * @param timeout how long to wait at most, in real time (a replayed guest that never reaches its
     *                end, looping without an exit, would keep the replay running for ever)
     * @throws MigrationException if replay failed or diverged, did not end in time (it is then
     *                            cancelled), or the wait was interrupted
     */
    void awaitFinal(Duration timeout) throws MigrationException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (this) {
            while (!finished && failure == null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    replayer.cancel();
                    throw new MigrationException("the replay of the final log segment did not end within "
                            + timeout.toMillis() + " ms (at position " + replayedPosition + " of " + nextPosition
                            + "); the target is discarded", io.livemig.api.MigrationPhase.STOP_COPY,
                            SourceVmState.UNKNOWN, null);
                }
                try {
                    wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new MigrationException("interrupted while waiting for the replay to end",
                            io.livemig.api.MigrationPhase.STOP_COPY, SourceVmState.UNKNOWN, e);
                }
            }
        }
        rethrow();
    }

    /** @throws MigrationException if the replay thread failed */
    void rethrow() throws MigrationException {
        Throwable t;
        synchronized (this) {
            t = failure;
        }
        if (t != null) {
            throw new MigrationException("replay failed: " + t.getMessage(), io.livemig.api.MigrationPhase.LIVE_COPY,
                    SourceVmState.UNKNOWN, t);
        }
    }

    private void replayLoop() {
        try {
            while (true) {
                LogSegment segment = queue.take();
                if (segment == END) {
                    replayer.end();
                    digestMemory();
                    synchronized (this) {
                        finished = true;
                        notifyAll();
                    }
                    return;
                }
                long start = time.nanoTime();
                replayer.replay(segment);
                long nanos = time.nanoTime() - start;
                long position;
                long total;
                synchronized (this) {
                    bufferedBytes -= segment.sizeBytes();
                    replayNanos += nanos;
                    replayedPosition = replayer.position();
                    position = replayedPosition;
                    total = replayNanos;
                }
                if (position != segment.endPosition()) {
                    throw new IllegalStateException("the replayer stopped at position " + position + ", the segment "
                            + "ends at " + segment.endPosition());
                }
                link.send(new ReplayFrames.Replayed(position, total));
            }
        } catch (InterruptedException e) {
            fail(e);
        } catch (MigrationException | RuntimeException | Error e) {
            fail(e);
        }
    }

    private void fail(Throwable t) {
        synchronized (this) {
            if (failure != null || finished) {
                notifyAll();
                return;
            }
            failure = t;
            notifyAll();
        }
        if (t instanceof InterruptedException) {
            // Closed by the receiving thread: it is ending the migration already.
            return;
        }
        LOG.warn("replay failed: {}", t.getMessage());
        // The source waits for REPLAYED and sends nothing meanwhile: tell it now. The receiving
        // thread ends the migration with this failure at the source's ABORT or next frame.
        link.abort(io.livemig.engine.internal.wire.ControlFrames.AbortCode.TARGET_ERROR, "replay failed: "
                + t.getMessage());
    }

    /**
     * Records the digest of every page as replay left it: those the replayer says may hold data
     * are read, the others are zero.
     */
    private void digestMemory() {
        PageSet populated = replayer.populatedPages().orElse(null);
        int pageSize = layout.pageSizeBytes();
        ByteBuffer scratch = PageDigests.scratch(pageSize, CHUNK_PAGES);
        for (MemoryRegion region : layout.regions()) {
            long page = region.firstPage();
            while (page < region.endPage()) {
                if (populated != null && !populated.contains(page)) {
                    long next = populated.nextSetBit(page);
                    long holeEnd = next < 0 ? region.endPage() : Math.min(next, region.endPage());
                    for (; page < holeEnd; page++) {
                        verifier.landedZero(page);
                    }
                    continue;
                }
                long hole = populated == null ? -1 : populated.nextClearBit(page);
                long runEnd = hole < 0 ? region.endPage() : Math.min(hole, region.endPage());
                int n = (int) Math.min(CHUNK_PAGES, runEnd - page);
                scratch.clear();
                memory.readPages(page, n, scratch);
                for (int i = 0; i < n; i++) {
                    verifier.landed(page + i, scratch, i * pageSize);
                }
                page += n;
            }
        }
    }

    /** Stops the replay thread (cancelling a replay in progress) and waits for it. Idempotent. */
    @Override
    public void close() {
        Thread t = thread;
        if (t == null) {
            return;
        }
        if (t.isAlive()) {
            replayer.cancel();
            t.interrupt();
        }
        try {
            t.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (t.isAlive()) {
            LOG.warn("the replay thread did not stop within 5 s");
        }
        thread = null;
    }
}
