package io.livemig.engine.internal.strategy;

import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationPhase;
import io.livemig.api.RoundStats;
import io.livemig.api.SourceVmState;
import io.livemig.api.TimeSource;

import java.time.Duration;
import java.util.Optional;

/**
 * Trace and replay (Liu et al., HPDC'09): a checkpoint of the VM goes while it runs on recorded;
 * then its log, one segment at a time, each replayed by the destination before the next is
 * taken. Once the execution not yet replayed would replay within the downtime limit, the VM
 * stops, the last segment goes and is replayed, and the source commits (after the caller's
 * verification of the replayed memory).
 *
 * <p>Round 0 is the checkpoint; each later round is one log segment. The expected downtime after
 * a segment is the execution recorded since it was taken, at the replay speed the destination
 * showed so far (recorded time over replay time), plus the time to read and compare the memory's
 * digests (in real time only). Once that fits the limit, up to {@value #EXTRA_SEGMENTS} more
 * segments go while each halves the execution left to replay. The strategy gives up, the VM running on at the source, when that
 * expectation grew for {@code 5 × stallRounds} segments in a row (replay slower than the
 * recording), or after {@code maxTotalTime}.
 */
final class TraceReplayStrategy implements SourceStrategy {

    /** The shortest time between two segments: shorter ones would cost more frames than log. */
    static final long SEGMENT_INTERVAL_NANOS = 20_000_000L;
    /** At most this many segments more once the rest fits the limit, while each halves the replay left. */
    static final int EXTRA_SEGMENTS = 3;
    /** Digest throughput assumed for the pre-commit check, per side (CRC32C in the JDK, one core). */
    static final long DIGEST_BYTES_PER_SECOND = 2_000_000_000L;

    @Override
    public Outcome run(CopyContext context) throws MigrationException {
        TimeSource time = context.time();
        long start = time.nanoTime();
        CopyContext.Checkpoint checkpoint = context.takeCheckpoint();
        CopyContext.RoundResult r = context.sendCheckpoint();
        long bandwidth = r.nanos() > 0 ? (long) (r.bytesOnWire() * 1e9 / r.nanos()) : 0;
        context.roundDone(new RoundStats(0, r.pagesSent(), r.bytesOnWire(), 0, 0, bandwidth, 0, Duration.ZERO, 0,
                Duration.ofNanos(r.nanos())));
        // Reading and comparing every page's digest on both sides, in the downtime.
        long verifyNanos = time.isWallClock()
                ? checkpoint.pages() * context.layout().pageSizeBytes() * 1_000_000_000L / DIGEST_BYTES_PER_SECOND : 0;
        Duration patience = context.options().ioTimeout();
        long recordedNanos = 0;
        long lastExpected = Long.MAX_VALUE;
        long lastUnreplayedNanos = Long.MAX_VALUE;
        int extraSegments = 0;
        int growing = 0;
        int round = 1;
        Duration expected;
        Duration inForce = context.options().downtimeLimit();
        while (true) {
            long roundStart = time.nanoTime();
            CopyContext.LogShipment shipped = context.sendLog(false);
            // The first segment covers the checkpoint's transfer: its replay may take about as long.
            CopyContext.Replayed replayed = context.awaitReplayed(shipped,
                    patience.plus(Duration.ofNanos(2 * shipped.recordedNanos())));
            recordedNanos += shipped.recordedNanos();
            long now = time.nanoTime();
            double speed = replayed.replayNanos() > 0 ? (double) recordedNanos / replayed.replayNanos() : 1.0;
            long unreplayedNanos = Math.max(0, now - shipped.drainedNanos());
            long expectedNanos = (long) (unreplayedNanos / Math.max(speed, 1e-3)) + verifyNanos;
            expected = Duration.ofNanos(expectedNanos);
            long logRate = shipped.recordedNanos() > 0 ? (long) (shipped.logBytes() * 1e9 / shipped.recordedNanos()) : 0;
            long roundNanos = now - roundStart;
            long wireRate = roundNanos > 0 ? (long) (shipped.bytesOnWire() * 1e9 / roundNanos) : 0;
            context.roundDone(new RoundStats(round, 0, shipped.bytesOnWire(), 0, logRate, wireRate, 0, expected, 0,
                    Duration.ofNanos(roundNanos)));
            Optional<Duration> asked = context.takeDowntimeLimit();
            if (asked.isPresent()) {
                inForce = asked.get();
                context.downtimeLimitInForce(inForce);
            }
            boolean fits = expected.compareTo(inForce) <= 0;
            // Once it fits, a few more segments while each halves what is left to replay: the
            // downtime then holds the verification and little replay.
            boolean worthAnother = fits && extraSegments < EXTRA_SEGMENTS && unreplayedNanos > 2 * SEGMENT_INTERVAL_NANOS
                    && unreplayedNanos * 2 <= lastUnreplayedNanos;
            lastUnreplayedNanos = unreplayedNanos;
            if (worthAnother) {
                extraSegments++;
            } else if (fits && context.switchoverReleased(round, expected)) {
                break;
            }
            growing = expectedNanos > lastExpected ? growing + 1 : 0;
            lastExpected = expectedNanos;
            boolean outOfTime = context.options().maxTotalTime()
                    .map(max -> time.nanoTime() - start >= max.toNanos()).orElse(false);
            if (growing >= 5 * context.options().stallRounds() || outOfTime) {
                throw new MigrationAbortedException("trace and replay does not converge after " + round
                        + " log segments: the destination replays at " + String.format("%.2f", speed)
                        + "x the recording's speed and the execution not yet replayed would take "
                        + expected.toMillis() + " ms, more than the " + inForce.toMillis() + " ms limit"
                        + (outOfTime ? " when maxTotalTime passed" : "") + "; the VM keeps running at the source",
                        MigrationPhase.LIVE_COPY, SourceVmState.RUNNING);
            }
            round++;
            long wait = shipped.drainedNanos() + SEGMENT_INTERVAL_NANOS - time.nanoTime();
            if (wait > 0) {
                try {
                    time.sleepNanos(wait);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new MigrationCancelledException("interrupted", MigrationPhase.LIVE_COPY,
                            SourceVmState.RUNNING);
                }
            }
        }
        context.pause(expected, 0);
        CopyContext.LogShipment last = context.sendLog(true);
        context.awaitReplayed(last, patience.plus(expected.multipliedBy(4)));
        return new Commit(false, NOTHING);
    }
}
