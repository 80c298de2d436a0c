package io.livemig.e2e;

import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.Migration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Migration#future()} and the report a failed migration's exception carries. */
class MigrationFutureTest {

    private static InMemoryVm runningVm(long bytes) {
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(bytes).prefill(1.0)
                .workload(new Workload(WorkloadPattern.RANDOM, 0, 4L << 20, 64, 9)).build();
        vm.start();
        return vm;
    }

    private static CompletableFuture<ReceivedMigration> receive(InMemoryChannel.Pair pair) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return LiveMigration.receive(pair.destination(), d -> InMemoryVm.builder().buildTarget(d),
                        MigrationOptions.defaults());
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        }, task -> Thread.ofPlatform().start(task));
    }

    @Test
    void theFutureCompletesWithTheReportAwaitReturnsAndCompletingACopyChangesNothing() throws Exception {
        try (InMemoryVm vm = runningVm(4L << 20)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair);
            Migration migration = LiveMigration.start(vm, pair.source(),
                    MigrationOptions.builder().strategy(Strategy.COLD).build());
            CompletableFuture<MigrationReport> meddled = migration.future();
            meddled.cancel(true);
            MigrationReport report = migration.future().get(30, TimeUnit.SECONDS);
            assertSame(report, migration.await(), "the same report as await()");
            assertEquals(MigrationStatus.COMPLETED, report.status());
            assertTrue(report.verified());
            assertTrue(migration.isDone(), "done once the future completed");
            received.get(30, TimeUnit.SECONDS).target().close();
        }
    }

    @Test
    void aCancelledMigrationsFutureFailsWithAnExceptionThatCarriesTheReportSoFar() throws Exception {
        // 16 MiB of non-zero pages over 8 MiB/s: round 0 is still going when the cancel comes.
        try (InMemoryVm vm = runningVm(16L << 20)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(8L << 20, Duration.ZERO), TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair);
            Migration migration = LiveMigration.start(vm, pair.source(), MigrationOptions.defaults());
            CompletableFuture<MigrationReport> future = migration.future();
            Thread.sleep(300);
            migration.cancel();
            ExecutionException failed = assertThrows(ExecutionException.class, () -> future.get(30, TimeUnit.SECONDS));
            MigrationCancelledException cancelled = assertInstanceOf(MigrationCancelledException.class,
                    failed.getCause());
            assertEquals(SourceVmState.RUNNING, cancelled.sourceState());
            MigrationReport soFar = cancelled.report().orElseThrow(() -> new AssertionError("no report attached"));
            assertEquals(MigrationStatus.CANCELLED, soFar.status());
            assertTrue(soFar.totals().bytesOnWire() > 0, "it says how far it went: " + soFar);
            assertTrue(soFar.failure().isPresent());
            assertFalse(vm.vcpus().isPaused(), "the source runs on");
            assertThrows(ExecutionException.class, () -> received.get(30, TimeUnit.SECONDS));
        }
    }
}
