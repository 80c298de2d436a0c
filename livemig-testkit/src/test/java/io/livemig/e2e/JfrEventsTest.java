package io.livemig.e2e;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.RoundStats;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A hybrid migration in a JFR recording: its rounds, switchover steps, demand faults and the whole, as the reports say. */
class JfrEventsTest {

    private static final int PAGES = 2048;

    private static List<RecordedEvent> named(List<RecordedEvent> all, String name) {
        return all.stream().filter(e -> e.getEventType().getName().equals(name)).toList();
    }

    @Test
    void aMigrationCommitsItsRoundsSwitchoverStepsDemandFaultsAndItselfWithTheReportsFigures(@TempDir Path dir)
            throws Exception {
        MigrationReport source;
        MigrationReport destination;
        Path file = dir.resolve("migration.jfr");
        try (Recording recording = new Recording()) {
            for (String name : List.of("livemig.Round", "livemig.SwitchoverStep", "livemig.DemandFault",
                    "livemig.Migration")) {
                recording.enable(name);
            }
            recording.start();
            // The guest keeps writing its first 1 MiB, so post-copy finds those pages missing and faults on them.
            Workload hot = new Workload(WorkloadPattern.HOTCOLD, 1L << 20, 8L << 20, 64, 11);
            try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(PAGES * 4096L).prefill(0.7).workload(hot).build()) {
                vm.start();
                InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(32L << 20, Duration.ZERO),
                        TimeSource.system());
                MigrationOptions options = MigrationOptions.builder().strategy(Strategy.HYBRID).hybridRounds(2).build();
                CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                    try {
                        return LiveMigration.receive(pair.destination(), URI.create("mem:jfr"), options);
                    } catch (Exception e) {
                        throw new CompletionException(e);
                    }
                }, task -> Thread.ofPlatform().name("test-destination").start(task));
                source = LiveMigration.migrate(vm, pair.source(), options);
                ReceivedMigration r = received.get(30, TimeUnit.SECONDS);
                destination = r.report();
                r.target().close();
            }
            recording.stop();
            recording.dump(file);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(file);
        String id = source.migrationId();

        List<RecordedEvent> rounds = named(events, "livemig.Round").stream()
                .filter(e -> id.equals(e.getString("migrationId"))).toList();
        assertEquals(source.rounds().size(), rounds.size());
        for (int i = 0; i < rounds.size(); i++) {
            RoundStats expected = source.rounds().get(i);
            RecordedEvent round = rounds.get(i);
            assertEquals(expected.round(), round.getInt("round"));
            assertEquals(expected.pagesSent(), round.getLong("pagesSent"));
            assertEquals(expected.bytesOnWire(), round.getLong("bytesOnWire"));
            assertEquals(expected.dirtyPages(), round.getLong("dirtyPages"));
            assertEquals(expected.duration(), round.getDuration("roundDuration"));
            assertEquals(expected.expectedDowntime(), round.getDuration("expectedDowntime"));
        }

        List<RecordedEvent> steps = named(events, "livemig.SwitchoverStep").stream()
                .filter(e -> id.equals(e.getString("migrationId"))).toList();
        List<MigrationReport.SwitchoverStep> reported = source.switchover().steps();
        assertTrue(!reported.isEmpty(), "the source's report lists its switchover steps");
        assertEquals(reported.size(), steps.size());
        for (int i = 0; i < steps.size(); i++) {
            assertEquals(reported.get(i).kind().name(), steps.get(i).getString("kind"));
            assertEquals(reported.get(i).duration(), steps.get(i).getDuration("stepDuration"));
        }

        List<RecordedEvent> faults = named(events, "livemig.DemandFault");
        long pulled = destination.postcopy().orElseThrow().pagesPulled();
        assertTrue(pulled > 0, "the destination pulled pages its vCPUs faulted on");
        assertEquals(pulled, faults.size(), "one event per faulted page installed");
        for (RecordedEvent fault : faults) {
            long page = fault.getLong("page");
            assertTrue(page >= 0 && page < PAGES, "page " + page);
            assertTrue(!fault.getDuration("waitLatency").isNegative());
        }

        List<RecordedEvent> whole = named(events, "livemig.Migration").stream()
                .filter(e -> id.equals(e.getString("migrationId"))).toList();
        assertEquals(1, whole.size());
        RecordedEvent migration = whole.get(0);
        assertEquals("HYBRID", migration.getString("strategy"));
        assertEquals("completed", migration.getString("status"));
        assertEquals(source.totals().bytesOnWire(), migration.getLong("bytesOnWire"));
        assertEquals(source.memoryBytes(), migration.getLong("memoryBytes"));
        assertEquals(source.switchover().downtime(), migration.getDuration("downtime"));
        assertEquals(source.totals().totalTime(), migration.getDuration("totalTime"));
    }
}
