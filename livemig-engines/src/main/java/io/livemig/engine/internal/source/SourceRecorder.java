package io.livemig.engine.internal.source;

import io.livemig.api.DiskStats;
import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationListener;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.PassThroughStats;
import io.livemig.api.PostcopyStats;
import io.livemig.api.RoundStats;
import io.livemig.api.Strategy;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.jfr.JfrEvents;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Records what a source-side migration did, tells the {@link MigrationListener} as it happens
 * (see {@link MigrationEvent} for the order), and yields the {@link MigrationReport}. It logs the
 * migration's INFO lines (start, end) and a DEBUG line per round. A listener that throws is
 * logged and ignored.
 *
 * <p>The migration's thread only.
 */
public final class SourceRecorder {

    private static final Logger LOG = LoggerFactory.getLogger(SourceRecorder.class);

    private final Strategy strategy;
    private final MigrationListener listener;
    private final long memoryBytes;
    private final int pageSize;
    private final List<RoundStats> rounds = new ArrayList<>();
    private final List<String> escalations = new ArrayList<>();
    private Duration expectedDowntime = Duration.ZERO;
    private boolean forced;
    private PostcopyStats postcopy;
    private io.livemig.api.TraceReplayStats traceReplay;
    private MigrationReport.Check verification = MigrationReport.Check.NOT_CHECKED;
    private final ProgressMeter meter;
    private final String migrationId;

    /**
     * @param strategy    the strategy that runs
     * @param listener    told of every event
     * @param memoryBytes the VM's RAM size
     * @param pageSize    the page size in bytes
     * @param meter       the progress figures, told of post-copy's start and stopped at the end;
     *                    null for none
     * @param migrationId the migration's id, for the report
     */
    public SourceRecorder(Strategy strategy, MigrationListener listener, long memoryBytes, int pageSize,
                          ProgressMeter meter, String migrationId) {
        this.meter = meter;
        this.migrationId = migrationId;
        this.strategy = strategy;
        this.listener = listener;
        this.memoryBytes = memoryBytes;
        this.pageSize = pageSize;
    }

    /** The handshake succeeded. */
    public void started(String peer) {
        emit(new MigrationEvent.Started(strategy, memoryBytes, peer));
        LOG.info("migration started: {} of {} bytes to {}", strategy, memoryBytes, peer);
    }

    /** A round ended. */
    public void roundDone(RoundStats stats) {
        rounds.add(stats);
        JfrEvents.round(migrationId, stats);
        emit(new MigrationEvent.RoundCompleted(stats));
        LOG.debug("round {}: {} pages, {} bytes, {} dirty, {} ms", stats.round(), stats.pagesSent(),
                stats.bytesOnWire(), stats.dirtyPages(), stats.duration().toMillis());
    }

    /** @return the rounds so far */
    public int roundCount() {
        return rounds.size();
    }

    /** The escalation ladder acted after {@code round}. */
    public void escalated(int round, EscalationStep step, String action) {
        escalations.add(action);
        emit(new MigrationEvent.EscalationApplied(round, step, action));
        LOG.info("round {}: not converging, {}", round, action);
    }

    /** The switchover is held for the caller after {@code round}, expecting {@code expected}. */
    public void switchoverHeld(int round, Duration expected, Duration timeout) {
        emit(new MigrationEvent.SwitchoverHeld(round, expected, timeout));
        LOG.info("round {}: the switchover is held for the caller (expected downtime {} ms, at most {} ms)", round,
                expected.toMillis(), timeout.toMillis());
    }

    /** The VM was paused with {@code remainingBytes} to send, expecting {@code expected} of downtime. */
    public void switchoverStarted(long remainingBytes, Duration expected) {
        expectedDowntime = expected;
        emit(new MigrationEvent.SwitchoverStarted(remainingBytes, expected));
    }

    /** The switchover was forced past the downtime limit. */
    public void forced() {
        forced = true;
    }

    /** The destination resumed before {@code missingPages} pages arrived. */
    public void postcopyStarted(long missingPages) {
        if (meter != null) {
            meter.postcopyStarted(missingPages);
        }
        emit(new MigrationEvent.PostcopyStarted(missingPages));
    }

    /** A broken post-copy link was replaced. */
    public void linkRecovered(int recoveries, String reason) {
        emit(new MigrationEvent.LinkRecovered(recoveries, reason));
    }

    /** Post-copy ended with every page at the destination. */
    public void postcopyDone(PostcopyStats stats) {
        postcopy = stats;
    }

    /** Trace and replay's figures, for the report. */
    public void traceReplay(io.livemig.api.TraceReplayStats stats) {
        traceReplay = stats;
    }

    /** Verification ended. */
    public void verified(MigrationReport.Check check) {
        verification = check;
    }

    /**
     * @param status   how the migration ended
     * @param failure  why it did not complete, or null
     * @param context  its state and timestamps
     * @param endNanos the end of the migration proper (see {@link SourceContext#totalTime})
     * @param counters every counter of the sending side
     * @param disks    what was done with each disk
     * @param passThrough what was done with each failover device
     * @return the report
     */
    public MigrationReport report(MigrationStatus status, MigrationException failure, SourceContext context,
                                  long endNanos, List<MigrationCounters> counters, List<DiskStats> disks,
                                  List<PassThroughStats> passThrough) {
        MigrationCounters total = new MigrationCounters();
        counters.forEach(total::add);
        return MigrationReport.builder(strategy)
                .status(status)
                .memoryBytes(memoryBytes)
                .totals(new MigrationReport.Totals(context.totalTime(endNanos), total.wireBytes(), rounds.size()))
                .rounds(rounds)
                .switchover(new MigrationReport.Switchover(context.downtime(), expectedDowntime, forced,
                        context.switchoverSteps(), context.blackout()))
                .encodings(total.encodings(pageSize))
                .verification(verification)
                .escalations(escalations)
                .postcopy(postcopy)
                .failure(failure == null ? null : failure.getMessage())
                .disks(disks)
                .passThrough(passThrough)
                .traceReplay(traceReplay)
                .migrationId(migrationId)
                .build();
    }

    /** Emits the final event and logs the one-line summary. */
    public void finished(MigrationReport report, MigrationException failure) {
        if (meter != null) {
            meter.stopEmitting();
        }
        JfrEvents.migrationEnded(report);
        if (failure == null) {
            LOG.info("migration completed: {} bytes in {} ms, downtime {} ms, {} rounds, {} bytes on the wire, {}",
                    report.memoryBytes(), report.totals().totalTime().toMillis(),
                    report.switchover().downtime().toMillis(), report.totals().roundCount(),
                    report.totals().bytesOnWire(), report.verification().outcome());
            emit(new MigrationEvent.Completed(report));
        } else {
            if (report.status() == MigrationStatus.CANCELLED) {
                LOG.info("migration cancelled: {}", failure.getMessage());
            } else {
                LOG.warn("migration {}: {}", report.status().name().toLowerCase(Locale.ROOT), failure.getMessage());
            }
            emit(new MigrationEvent.Failed(failure, report));
        }
    }

    private void emit(MigrationEvent event) {
        try {
            listener.onEvent(event);
        } catch (RuntimeException e) {
            LOG.warn("migration listener threw on {}", event.getClass().getSimpleName(), e);
        }
    }
}
