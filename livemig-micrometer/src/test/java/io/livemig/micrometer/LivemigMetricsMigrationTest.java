package io.livemig.micrometer;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A real pre-copy migration with the in-memory kit, recorded by {@link LivemigMetrics} in front of the caller's listener. */
class LivemigMetricsMigrationTest {

    @Test
    void aPrecopyMigrationsMetersMatchItsReport() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        List<MigrationEvent> heard = new CopyOnWriteArrayList<>();
        MigrationReport report;
        Workload guest = new Workload(WorkloadPattern.HOTCOLD, 1L << 20, 4L << 20, 64, 5);
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(8L << 20).prefill(0.5).workload(guest).build()) {
            vm.start();
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(64L << 20, Duration.ZERO),
                    TimeSource.system());
            MigrationOptions options = MigrationOptions.builder().strategy(Strategy.PRECOPY)
                    .progressInterval(Duration.ofMillis(20))
                    .listener(LivemigMetrics.builder(registry).tagMigrationId(true).then(heard::add).build())
                    .build();
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(pair.destination(), URI.create("mem:metrics"),
                            MigrationOptions.builder().strategy(Strategy.PRECOPY).build());
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }, task -> Thread.ofPlatform().name("test-destination").start(task));
            report = LiveMigration.migrate(vm, pair.source(), options);
            received.get(30, TimeUnit.SECONDS).target().close();
        }

        assertInstanceOf(MigrationEvent.Started.class, heard.getFirst(), "the caller's listener heard everything");
        assertInstanceOf(MigrationEvent.Completed.class, heard.getLast());
        String[] tags = {"strategy", "precopy", "migration.id", report.migrationId()};
        assertEquals(report.totals().bytesOnWire(), registry.get(LivemigMetrics.WIRE_BYTES).tags(tags).counter().count());
        assertEquals(report.encodings().pagesSent(), registry.get(LivemigMetrics.PAGES).tags(tags).counter().count());
        assertEquals(report.totals().roundCount(), registry.get(LivemigMetrics.ROUNDS).tags(tags).counter().count());
        assertTrue(report.totals().roundCount() >= 1);
        var downtime = registry.get(LivemigMetrics.DOWNTIME).tags(tags).tag("status", "completed").timer();
        assertEquals(1, downtime.count());
        assertEquals(report.switchover().downtime().toNanos(), downtime.totalTime(TimeUnit.NANOSECONDS), 1);
        assertEquals(report.totals().totalTime().toNanos(),
                registry.get(LivemigMetrics.DURATION).tags(tags).timer().totalTime(TimeUnit.NANOSECONDS), 1);
        assertNull(registry.find(LivemigMetrics.BANDWIDTH).gauge(), "the gauges went with the migration");
    }
}
