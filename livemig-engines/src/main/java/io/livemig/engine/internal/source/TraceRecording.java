package io.livemig.engine.internal.source;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationPhase;
import io.livemig.api.SourceVmState;
import io.livemig.api.TimeSource;
import io.livemig.api.TraceReplayStats;
import io.livemig.engine.internal.strategy.CopyContext;
import io.livemig.engine.internal.wire.ReplayFrames;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.spi.ExecutionRecorder;
import io.livemig.spi.LogSegment;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The source's side of trace and replay (docs/protocol.md, section 9): takes the checkpoint (the
 * VM paused, anywhere, since replay starts from the state saved there; its memory copied into a
 * {@link SnapshotMemory}, its vCPU state saved, recording started, the VM resumed), sends it,
 * ships the log segment by segment, waits for each segment's REPLAYED, and keeps the figures of
 * the report. The stop, later, is at an input boundary: the recorder's pause sees to that.
 *
 * <p>The migration's thread only.
 */
final class TraceRecording {

    private static final Logger LOG = LoggerFactory.getLogger(TraceRecording.class);
    /** How long to wait for REPLAYED between two checks for cancellation, in nanoseconds. */
    private static final long POLL_NANOS = 20_000_000L;

    private final MigratableVm vm;
    private final ExecutionRecorder recorder;
    private final SnapshotMemory snapshot;
    private final SourceLink link;
    private final TimeSource time;
    private PageSet checkpointPages;
    private List<VcpuState> checkpointStates;
    private long startPosition = -1;
    private long position = -1;
    private long checkpointBytes;
    private long pauseNanos;
    private long recordingStartNanos;
    private long recordingEndNanos = -1;
    private long lastDrainNanos;
    private final List<Long> segmentBytes = new ArrayList<>();
    private long logBytes;
    private long replayNanos;
    private long replayedPosition = -1;
    private boolean recording;

    TraceRecording(MigratableVm vm, ExecutionRecorder recorder, SnapshotMemory snapshot, SourceLink link,
                   TimeSource time) {
        this.vm = vm;
        this.recorder = recorder;
        this.snapshot = snapshot;
        this.link = link;
        this.time = time;
    }

    /**
     * Takes the checkpoint of the pages {@code pagesNow} names (asked again once the VM is paused:
     * a page the guest populates before the pause must be in it); the VM runs again, recorded,
     * when it returns.
     *
     * @throws MigrationException if the VM could not be paused or recorded; it runs on unrecorded
     */
    CopyContext.Checkpoint take(java.util.function.Supplier<PageSet> pagesNow) throws MigrationException {
        link.checkCancelled();
        boolean paused = false;
        long start = time.nanoTime();
        try {
            snapshot.prepare(pagesNow.get());
            start = time.nanoTime();
            vm.vcpus().pause();
            paused = true;
            PageSet pages = pagesNow.get();
            long bytes = snapshot.take(pages);
            checkpointStates = vm.vcpus().saveState();
            startPosition = recorder.start();
            position = startPosition;
            recording = true;
            vm.vcpus().resume();
            paused = false;
            long now = time.nanoTime();
            pauseNanos = now - start;
            recordingStartNanos = now;
            lastDrainNanos = now;
            checkpointPages = pages;
            LOG.debug("checkpoint at position {}: {} pages ({} bytes) copied in {} µs", startPosition,
                    pages.cardinality(), bytes, pauseNanos / 1000);
            return new CopyContext.Checkpoint(pages.cardinality(), startPosition, pauseNanos);
        } catch (RuntimeException e) {
            stop();
            snapshot.release();
            if (paused) {
                vm.vcpus().resume();
            }
            throw new MigrationException("cannot take the checkpoint: " + e.getMessage(), MigrationPhase.LIVE_COPY,
                    SourceVmState.RUNNING, e);
        }
    }

    /**
     * Sends the checkpoint: its pages as they were, its vCPU states, CHECKPOINT.
     *
     * @return what the pages' round sent, the states and CHECKPOINT included in the bytes (every
     *         frame goes on the one control connection: trace and replay opens no data connection)
     */
    CopyContext.RoundResult send(PageSender sender) throws MigrationException {
        long start = time.nanoTime();
        long before = link.bytesSent();
        CopyContext.RoundResult pages = sender.sendRound(checkpointPages, 0, true, false);
        sender.flush();
        for (VcpuState state : checkpointStates) {
            link.send(new SwitchoverFrames.VcpuStateFrame(state));
        }
        link.send(new ReplayFrames.Checkpoint(recorder.format(), startPosition));
        snapshot.release();
        checkpointPages = null;
        checkpointBytes = link.bytesSent() - before;
        return new CopyContext.RoundResult(pages.pagesSent(), checkpointBytes, time.nanoTime() - start, false);
    }

    /**
     * Drains the log and sends it as one segment, split over as many frames as it needs.
     *
     * @param last whether this is the final segment (the VM is paused)
     */
    CopyContext.LogShipment ship(boolean last) throws MigrationException {
        long before = link.bytesSent();
        LogSegment segment;
        try {
            segment = recorder.drain();
        } catch (RuntimeException e) {
            throw new MigrationException("cannot take the execution log: " + e.getMessage(),
                    last ? MigrationPhase.STOP_COPY : MigrationPhase.LIVE_COPY,
                    last ? SourceVmState.PAUSED : SourceVmState.RUNNING, e);
        }
        long now = time.nanoTime();
        if (segment.startPosition() != position) {
            throw new IllegalStateException("the recorder's segment starts at " + segment.startPosition()
                    + ", the log so far ends at " + position);
        }
        long recorded = now - lastDrainNanos;
        lastDrainNanos = now;
        if (last) {
            recordingEndNanos = now;
        }
        byte[] bytes = segment.bytes();
        int room = link.frameLimitBytes() - ReplayFrames.LOG_HEADER_BYTES - 64;
        int offset = 0;
        do {
            int n = Math.min(room, bytes.length - offset);
            boolean end = offset + n == bytes.length;
            int flags = (end ? ReplayFrames.FLAG_SEGMENT_END : 0) | (end && last ? ReplayFrames.FLAG_FINAL : 0);
            link.send(new ReplayFrames.LogChunk(segment.startPosition(), segment.endPosition(), flags,
                    Arrays.copyOfRange(bytes, offset, offset + n)));
            offset += n;
        } while (offset < bytes.length);
        position = segment.endPosition();
        segmentBytes.add((long) bytes.length);
        logBytes += bytes.length;
        return new CopyContext.LogShipment(segment.startPosition(), segment.endPosition(), bytes.length,
                link.bytesSent() - before, now, recorded);
    }

    /**
     * Waits until the destination replayed {@code shipment}, checking for cancellation and a
     * destination abort meanwhile.
     *
     * @param patienceNanos how long to wait at most, on the migration's clock
     * @throws MigrationException if the destination aborted (its replay diverged, say), the link
     *                            failed, the wait was cancelled, or the destination did not
     *                            answer in time
     */
    CopyContext.Replayed awaitReplayed(CopyContext.LogShipment shipment, long patienceNanos)
            throws MigrationException {
        long start = time.nanoTime();
        while (true) {
            SourceLink.Arrival<ReplayFrames.Replayed> arrival = link.awaitWithin(ReplayFrames.Replayed.class,
                    POLL_NANOS);
            if (arrival != null) {
                ReplayFrames.Replayed r = arrival.message();
                if (r.position() != shipment.endPosition() || r.position() < replayedPosition
                        || r.replayNanos() < replayNanos) {
                    throw link.protocol(io.livemig.api.ProtocolException.Kind.UNEXPECTED, "REPLAYED at position "
                            + r.position() + " after " + r.replayNanos() + " ns; expected position "
                            + shipment.endPosition() + " after at least " + replayNanos + " ns");
                }
                replayedPosition = r.position();
                replayNanos = r.replayNanos();
                return new CopyContext.Replayed(r.position(), r.replayNanos(), arrival.arrivalNanos());
            }
            link.tick();
            link.checkCancelled();
            if (time.nanoTime() - start > patienceNanos) {
                throw new io.livemig.api.MigrationAbortedException("the destination did not replay the log up to "
                        + "position " + shipment.endPosition() + " within " + patienceNanos / 1_000_000 + " ms",
                        MigrationPhase.LIVE_COPY, SourceVmState.RUNNING);
            }
        }
    }

    /** Stops recording (idempotent): after the switchover, or when the migration failed. */
    void stop() {
        if (!recording) {
            return;
        }
        recording = false;
        try {
            recorder.stop();
        } catch (RuntimeException e) {
            LOG.warn("could not stop recording the VM's inputs", e);
        }
    }

    /** @return the report's figures, or null if no checkpoint was taken */
    TraceReplayStats stats() {
        if (startPosition < 0) {
            return null;
        }
        long end = recordingEndNanos >= 0 ? recordingEndNanos : lastDrainNanos;
        long recordingNanos = Math.max(0, end - recordingStartNanos);
        long rate = recordingNanos > 0 ? (long) (logBytes * 1e9 / recordingNanos) : 0;
        double speed = replayNanos > 0 ? (double) recordingNanos / replayNanos : 0;
        return new TraceReplayStats(checkpointBytes, Duration.ofNanos(pauseNanos), startPosition,
                Math.max(startPosition, position), segmentBytes, logBytes, Duration.ofNanos(recordingNanos), rate,
                Duration.ofNanos(replayNanos), speed);
    }
}
