package io.livemig.engine.internal.jfr;

import io.livemig.api.MigrationReport;
import io.livemig.api.RoundStats;

import jdk.jfr.FlightRecorder;

import java.time.Duration;
import java.util.Locale;

/**
 * Commits livemig's JDK Flight Recorder events: {@code livemig.Round}, {@code livemig.SwitchoverStep},
 * {@code livemig.Migration} (the source) and {@code livemig.DemandFault} (the destination), in the
 * {@code livemig} category. Each method allocates and fills an event only if a recording has the
 * event enabled (and its threshold passed), so they cost next to nothing without one; without
 * Flight Recorder running at all (no recording was ever started in this JVM) they do not even
 * load the event classes, whose first use costs a cold JVM about a hundred milliseconds.
 * Thread-safe: each call makes its own event.
 */
public final class JfrEvents {

    private JfrEvents() {
    }

    /**
     * Commits {@code livemig.Round} for a finished round.
     *
     * @param migrationId the migration's id
     * @param stats       the round
     */
    public static void round(String migrationId, RoundStats stats) {
        if (!FlightRecorder.isInitialized()) {
            return;
        }
        RoundEvent event = new RoundEvent();
        if (!event.shouldCommit()) {
            return;
        }
        event.migrationId = migrationId;
        event.round = stats.round();
        event.pagesSent = stats.pagesSent();
        event.bytesOnWire = stats.bytesOnWire();
        event.dirtyPages = stats.dirtyPages();
        event.remainingBytes = stats.remainingBytes();
        event.roundDuration = nanos(stats.duration());
        event.expectedDowntime = nanos(stats.expectedDowntime());
        event.throttle = stats.throttlePercent() / 100f;
        event.commit();
    }

    /**
     * Commits {@code livemig.DemandFault} for a faulted page that was just installed.
     *
     * @param page        the page number
     * @param waitNanos   from the fault to the page's installation, in nanoseconds
     */
    public static void demandFault(long page, long waitNanos) {
        if (!FlightRecorder.isInitialized()) {
            return;
        }
        DemandFaultEvent event = new DemandFaultEvent();
        if (!event.shouldCommit()) {
            return;
        }
        event.page = page;
        event.waitLatency = waitNanos;
        event.commit();
    }

    /**
     * Commits a {@code livemig.SwitchoverStep} per step of the report's switchover, in order, then
     * {@code livemig.Migration} for the whole.
     *
     * @param report the source's report of a migration that ended (completed or not)
     */
    public static void migrationEnded(MigrationReport report) {
        if (!FlightRecorder.isInitialized()) {
            return;
        }
        String id = report.migrationId();
        for (MigrationReport.SwitchoverStep step : report.switchover().steps()) {
            SwitchoverStepEvent event = new SwitchoverStepEvent();
            if (!event.shouldCommit()) {
                break;
            }
            event.migrationId = id;
            event.kind = step.kind().name();
            event.stepDuration = nanos(step.duration());
            event.commit();
        }
        MigrationRunEvent event = new MigrationRunEvent();
        if (!event.shouldCommit()) {
            return;
        }
        event.migrationId = id;
        event.strategy = report.strategy().name();
        event.status = report.status().name().toLowerCase(Locale.ROOT);
        event.memoryBytes = report.memoryBytes();
        event.bytesOnWire = report.totals().bytesOnWire();
        event.rounds = report.totals().roundCount();
        event.downtime = nanos(report.switchover().downtime());
        event.totalTime = nanos(report.totals().totalTime());
        event.commit();
    }

    private static long nanos(Duration d) {
        try {
            return d.toNanos();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }
}
