package io.livemig.e2e;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.ReceiveLimits;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The destination's listener hears its side of the migration, as MigrationEvent documents. */
class DestinationEventsTest {

    private static CompletableFuture<ReceivedMigration> receive(InMemoryChannel.Pair pair, MigrationOptions options) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return LiveMigration.receive(pair.destination(), d -> InMemoryVm.builder().buildTarget(d), options);
            } catch (MigrationException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        }, task -> Thread.ofPlatform().start(task));
    }

    @Test
    void aReceivedMigrationIsStartedSwitchedOverAndCompletedWithTheDestinationsReport() throws Exception {
        List<MigrationEvent> events = new CopyOnWriteArrayList<>();
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(4L << 20).prefill(0.5).build()) {
            vm.start();
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair,
                    MigrationOptions.builder().listener(events::add).build());
            LiveMigration.migrate(vm, pair.source(), MigrationOptions.builder().strategy(Strategy.PRECOPY).build());
            ReceivedMigration r = received.get(30, TimeUnit.SECONDS);
            r.target().close();
            MigrationEvent.Started started = assertInstanceOf(MigrationEvent.Started.class, events.getFirst());
            assertEquals(Strategy.PRECOPY, started.strategy());
            assertEquals(4L << 20, started.memoryBytes());
            assertEquals(1, events.stream().filter(e -> e instanceof MigrationEvent.SwitchoverStarted).count());
            MigrationEvent.Completed completed = assertInstanceOf(MigrationEvent.Completed.class, events.getLast());
            assertSame(r.report(), completed.report());
            assertTrue(events.stream().noneMatch(e -> e instanceof MigrationEvent.RoundCompleted),
                    "rounds are the source's");
        }
    }

    @Test
    void aRefusedMigrationEndsInFailedWithAReportTheExceptionCarriesToo() throws Exception {
        List<MigrationEvent> events = new CopyOnWriteArrayList<>();
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(4L << 20).build()) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            // A destination that takes at most 1 MiB of RAM refuses this VM's SETUP.
            CompletableFuture<ReceivedMigration> received = receive(pair, MigrationOptions.builder()
                    .listener(events::add).receiveLimits(ReceiveLimits.DEFAULTS.withMaxMemoryBytes(1L << 20)).build());
            assertThrows(MigrationException.class, () -> LiveMigration.migrate(vm, pair.source(),
                    MigrationOptions.defaults()));
            ExecutionException failed = assertThrows(ExecutionException.class, () -> received.get(30, TimeUnit.SECONDS));
            MigrationException error = assertInstanceOf(MigrationException.class, failed.getCause());
            MigrationEvent.Failed event = assertInstanceOf(MigrationEvent.Failed.class, events.getLast());
            assertSame(error, event.error());
            MigrationReport report = error.report().orElseThrow();
            assertSame(report, event.report());
            assertEquals(MigrationStatus.FAILED, report.status());
            assertTrue(report.failure().orElseThrow().contains("maxMemoryBytes"), report.failure().orElseThrow());
            assertTrue(events.stream().noneMatch(e -> e instanceof MigrationEvent.Started), "refused before SETUP was taken");
        }
    }
}
