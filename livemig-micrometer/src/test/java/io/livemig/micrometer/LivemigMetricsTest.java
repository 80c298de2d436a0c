package io.livemig.micrometer;

import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationListener;
import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationProgress;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.RoundStats;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LivemigMetricsTest {

    private static final String ID = "m-42";

    private static MigrationProgress progress(long bytesOnWire, long pagesSent, long remaining, long dirtyRate,
                                              long bandwidth, int throttle, Duration expected) {
        return new MigrationProgress(ID, MigrationPhase.LIVE_COPY, Duration.ofMillis(100), 1, 64L << 20, bytesOnWire,
                pagesSent, remaining, dirtyRate, bandwidth, throttle, expected, Duration.ofMillis(300), 0, 0, false);
    }

    private static RoundStats round(int round) {
        return new RoundStats(round, 100, 409_600, 10, 1_000_000, 50_000_000, 40_960, Duration.ofMillis(2), 20,
                Duration.ofMillis(80));
    }

    private static MigrationReport report(MigrationStatus status, Duration downtime) {
        return MigrationReport.builder(Strategy.PRECOPY).status(status).memoryBytes(64L << 20)
                .totals(new MigrationReport.Totals(Duration.ofMillis(1500), 1_000_000, 2))
                .switchover(new MigrationReport.Switchover(downtime, Duration.ofMillis(3), false, List.of()))
                .encodings(new MigrationReport.Encodings(Map.of("raw", 200L, "zero", 44L), Map.of(), 0, 0))
                .migrationId(ID)
                .build();
    }

    @Test
    void progressFeedsTheGaugesAndTheCountersAddUpToTheReportsTotals() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        LivemigMetrics metrics = LivemigMetrics.of(registry);
        metrics.onEvent(new MigrationEvent.Started(Strategy.PRECOPY, 64L << 20, "peer"));
        metrics.onEvent(new MigrationEvent.Progress(progress(300_000, 70, 5_000_000, 2_000_000, 80_000_000, 10,
                Duration.ofMillis(7))));

        Tags precopy = Tags.of("strategy", "precopy");
        assertEquals(5_000_000, registry.get(LivemigMetrics.REMAINING).tags(precopy).gauge().value());
        assertEquals(2_000_000, registry.get(LivemigMetrics.DIRTY_RATE).tags(precopy).gauge().value());
        assertEquals(80_000_000, registry.get(LivemigMetrics.BANDWIDTH).tags(precopy).gauge().value());
        assertEquals(10, registry.get(LivemigMetrics.THROTTLE).tags(precopy).gauge().value());
        TimeGauge expected = registry.get(LivemigMetrics.EXPECTED_DOWNTIME).tags(precopy).timeGauge();
        assertEquals(7, expected.value(TimeUnit.MILLISECONDS), 1e-9);
        assertEquals(300_000, registry.get(LivemigMetrics.WIRE_BYTES).tags(precopy).counter().count());
        assertEquals(70, registry.get(LivemigMetrics.PAGES).tags(precopy).counter().count());

        metrics.onEvent(new MigrationEvent.RoundCompleted(round(0)));
        assertEquals(40_960, registry.get(LivemigMetrics.REMAINING).tags(precopy).gauge().value());
        assertEquals(20, registry.get(LivemigMetrics.THROTTLE).tags(precopy).gauge().value());
        assertEquals(1, registry.get(LivemigMetrics.ROUNDS).tags(precopy).counter().count());
        metrics.onEvent(new MigrationEvent.Progress(progress(900_000, 230, 0, 2_000_000, 80_000_000, 20,
                Duration.ofMillis(2))));
        assertEquals(900_000, registry.get(LivemigMetrics.WIRE_BYTES).tags(precopy).counter().count());

        metrics.onEvent(new MigrationEvent.Completed(report(MigrationStatus.COMPLETED, Duration.ofMillis(12))));
        assertEquals(1_000_000, registry.get(LivemigMetrics.WIRE_BYTES).tags(precopy).counter().count());
        assertEquals(244, registry.get(LivemigMetrics.PAGES).tags(precopy).counter().count());
        assertEquals(2, registry.get(LivemigMetrics.ROUNDS).tags(precopy).counter().count());
        Tags completed = precopy.and("status", "completed");
        Timer downtime = registry.get(LivemigMetrics.DOWNTIME).tags(completed).timer();
        assertEquals(1, downtime.count());
        assertEquals(12, downtime.totalTime(TimeUnit.MILLISECONDS), 1e-9);
        assertEquals(1500, registry.get(LivemigMetrics.DURATION).tags(completed).timer().totalTime(TimeUnit.MILLISECONDS),
                1e-9);
        assertNull(registry.find(LivemigMetrics.REMAINING).gauge(), "a finished migration leaves no gauge behind");
        assertNull(registry.find(LivemigMetrics.EXPECTED_DOWNTIME).timeGauge());
    }

    @Test
    void countersAndTimersAddUpOverMigrationsWithTheSameTags() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        for (int i = 0; i < 3; i++) {
            LivemigMetrics metrics = LivemigMetrics.of(registry);
            metrics.onEvent(new MigrationEvent.Started(Strategy.PRECOPY, 64L << 20, "peer"));
            metrics.onEvent(new MigrationEvent.Completed(report(MigrationStatus.COMPLETED, Duration.ofMillis(10))));
        }
        assertEquals(3_000_000, registry.get(LivemigMetrics.WIRE_BYTES).counter().count());
        assertEquals(3, registry.get(LivemigMetrics.DURATION).timer().count());
        assertEquals(30, registry.get(LivemigMetrics.DOWNTIME).timer().totalTime(TimeUnit.MILLISECONDS), 1e-9);
    }

    @Test
    void theMigrationIdTagIsAddedOnlyWhenAskedAndFromTheFirstEventThatCarriesIt() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        LivemigMetrics metrics = LivemigMetrics.builder(registry).tagMigrationId(true)
                .tags(List.of(Tag.of("host", "a"))).build();
        metrics.onEvent(new MigrationEvent.Started(Strategy.PRECOPY, 64L << 20, "peer"));
        metrics.onEvent(new MigrationEvent.RoundCompleted(round(0)));
        assertTrue(registry.getMeters().isEmpty(), "no meter before the id is known");
        metrics.onEvent(new MigrationEvent.Progress(progress(300_000, 70, 5, 6, 7, 0, Duration.ZERO)));
        Tags tags = Tags.of("strategy", "precopy", "migration.id", ID, "host", "a");
        assertEquals(5, registry.get(LivemigMetrics.REMAINING).tags(tags).gauge().value());
        metrics.onEvent(new MigrationEvent.Completed(report(MigrationStatus.COMPLETED, Duration.ofMillis(10))));
        assertEquals(2, registry.get(LivemigMetrics.ROUNDS).tags(tags).counter().count(),
                "the rounds before the id are counted from the report");
        assertEquals(1, registry.get(LivemigMetrics.DURATION).tags(tags.and("status", "completed")).timer().count());
    }

    @Test
    void aMigrationCancelledBeforeThePauseRecordsItsDurationButNoDowntime() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        LivemigMetrics metrics = LivemigMetrics.of(registry);
        metrics.onEvent(new MigrationEvent.Started(Strategy.PRECOPY, 64L << 20, "peer"));
        metrics.onEvent(new MigrationEvent.Failed(new MigrationCancelledException("cancelled", MigrationPhase.LIVE_COPY,
                SourceVmState.RUNNING), report(MigrationStatus.CANCELLED, Duration.ZERO)));
        assertEquals(1, registry.get(LivemigMetrics.DURATION).tags("status", "cancelled").timer().count());
        assertNull(registry.find(LivemigMetrics.DOWNTIME).timer());
    }

    @Test
    void everyEventReachesTheNextListenerInOrder() {
        List<MigrationEvent> seen = new ArrayList<>();
        MigrationListener mine = seen::add;
        LivemigMetrics metrics = LivemigMetrics.builder(new SimpleMeterRegistry()).then(mine).build();
        List<MigrationEvent> sent = List.of(new MigrationEvent.Started(Strategy.PRECOPY, 1, "peer"),
                new MigrationEvent.RoundCompleted(round(0)), new MigrationEvent.SwitchoverStarted(0, Duration.ZERO),
                new MigrationEvent.Completed(report(MigrationStatus.COMPLETED, Duration.ofMillis(1))));
        sent.forEach(metrics::onEvent);
        assertEquals(sent, seen);
    }

    @Test
    void livemigsOwnTagNamesAreRefusedAsExtraTags() {
        LivemigMetrics.Builder builder = LivemigMetrics.builder(new SimpleMeterRegistry());
        assertThrows(IllegalArgumentException.class, () -> builder.tags(List.of(Tag.of("strategy", "x"))));
        assertThrows(IllegalArgumentException.class, () -> builder.tags(List.of(Tag.of("status", "x"))));
    }
}
