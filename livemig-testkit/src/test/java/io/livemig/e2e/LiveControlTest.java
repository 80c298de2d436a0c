package io.livemig.e2e;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationProgress;
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
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A running migration watched and steered by its caller: progress snapshots and events, the
 * bandwidth and downtime limits changed mid-flight, post-copy started on demand, a held
 * switchover, a VM kept paused at the destination, and the caller's thread factory.
 */
class LiveControlTest {

    private static final Duration WAIT = Duration.ofSeconds(60);

    private static InMemoryVm runningVm(long bytes, Workload workload) {
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(bytes).prefill(1.0).workload(workload).build();
        vm.start();
        return vm;
    }

    private static InMemoryVm quietVm(long bytes) {
        return runningVm(bytes, new Workload(WorkloadPattern.RANDOM, 0, 256L << 10, 0, 3));
    }

    private static CompletableFuture<ReceivedMigration> receive(InMemoryChannel.Pair pair, MigrationOptions options) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return LiveMigration.receive(pair.destination(), d -> InMemoryVm.builder().buildTarget(d), options);
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        }, task -> Thread.ofPlatform().name("test-destination").start(task));
    }

    private static void awaitCondition(String what, java.util.function.BooleanSupplier condition) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(5);
        }
    }

    @Test
    void progressIsPolledAndEmittedWithGrowingBytesAndTheReportsMigrationId() throws Exception {
        List<MigrationProgress> events = new CopyOnWriteArrayList<>();
        MigrationOptions options = MigrationOptions.builder().progressInterval(Duration.ofMillis(50))
                .listener(e -> {
                    if (e instanceof MigrationEvent.Progress p) {
                        events.add(p.progress());
                    }
                }).build();
        try (InMemoryVm vm = quietVm(16L << 20)) {
            // 16 MiB over 32 MiB/s: round 0 lasts about half a second, long enough to look at.
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(32L << 20, Duration.ZERO), TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair, MigrationOptions.defaults());
            Migration migration = LiveMigration.start(vm, pair.source(), options);
            awaitCondition("the first page is sent", () -> migration.progress().pagesSent() > 0);
            MigrationProgress mid = migration.progress();
            assertEquals(MigrationPhase.LIVE_COPY, mid.phase());
            assertEquals(0, mid.round(), "round 0 is still being sent");
            assertTrue(mid.remainingBytes() > 0, "round 0 has pages left: " + mid);
            assertEquals(16L << 20, mid.memoryBytes());
            MigrationReport report = migration.await(WAIT);
            ReceivedMigration destination = received.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertTrue(report.verified());
            assertFalse(events.isEmpty(), "progress events during a half-second round");
            for (int i = 1; i < events.size(); i++) {
                assertTrue(events.get(i).bytesOnWire() >= events.get(i - 1).bytesOnWire(), "bytes only grow");
            }
            assertEquals(16, report.migrationId().length(), "a 16-digit id: " + report.migrationId());
            assertEquals(report.migrationId(), migration.id());
            assertEquals(report.migrationId(), destination.report().migrationId(), "the same id on both sides");
            assertTrue(events.stream().allMatch(p -> p.migrationId().equals(report.migrationId())));
            assertTrue(migration.progress().bytesOnWire() >= report.totals().bytesOnWire() - 4096,
                    "the last snapshot counts what was sent");
            destination.target().close();
        }
    }

    @Test
    void aBandwidthCapLiftedMidFlightLetsAStarvedMigrationFinish() throws Exception {
        // 16 MiB at 256 KiB/s would take a minute; lifted, it takes well under a second.
        MigrationOptions options = MigrationOptions.builder().bandwidthLimitBytesPerSecond(256L << 10).build();
        try (InMemoryVm vm = quietVm(16L << 20)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair, MigrationOptions.defaults());
            Migration migration = LiveMigration.start(vm, pair.source(), options);
            awaitCondition("the first page is sent", () -> migration.progress().pagesSent() > 0);
            assertEquals(256L << 10, migration.progress().bandwidthLimitBytesPerSecond());
            migration.setBandwidthLimit(0);
            assertEquals(0, migration.progress().bandwidthLimitBytesPerSecond(), "the cap in force is none");
            MigrationReport report = migration.await(WAIT);
            assertTrue(report.verified());
            assertThrows(IllegalStateException.class, () -> migration.setBandwidthLimit(1L << 20),
                    "nothing left to limit after the end");
            assertThrows(IllegalArgumentException.class, () -> migration.setBandwidthLimit(-1));
            received.get(WAIT.toSeconds(), TimeUnit.SECONDS).target().close();
        }
    }

    @Test
    void aDowntimeLimitRaisedMidFlightLetsAPrecopyThatCouldNotConvergeSwitchOver() throws Exception {
        // The guest rewrites its 4 MiB about as fast as the 32 MiB/s cap sends them: every round leaves
        // ~100 ms of pages dirty, far over 1 ms, and only the abort is on the ladder, after 100 rounds
        // (over ten seconds). 10 s fits at once.
        MigrationOptions options = MigrationOptions.builder().downtimeLimit(Duration.ofMillis(1))
                .escalation(List.of(new EscalationStep.Abort())).stallRounds(100).maxRounds(100)
                .bandwidthLimitBytesPerSecond(32L << 20).build();
        try (InMemoryVm vm = runningVm(4L << 20, new Workload(WorkloadPattern.RANDOM, 0, 32L << 20, 0, 5))) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair, MigrationOptions.defaults());
            Migration migration = LiveMigration.start(vm, pair.source(), options);
            awaitCondition("a round ended", () -> migration.progress().round() >= 1);
            assertThrows(IllegalArgumentException.class, () -> migration.setDowntimeLimit(Duration.ZERO));
            migration.setDowntimeLimit(Duration.ofSeconds(10));
            MigrationReport report = migration.await(WAIT);
            assertEquals(MigrationStatus.COMPLETED, report.status());
            assertTrue(report.verified());
            assertEquals(Duration.ofSeconds(10), migration.progress().downtimeLimit(), "the limit in force");
            assertThrows(IllegalStateException.class, () -> migration.setDowntimeLimit(Duration.ofSeconds(1)),
                    "the VM was paused already");
            received.get(WAIT.toSeconds(), TimeUnit.SECONDS).target().close();
        }
    }

    @Test
    void aHeldSwitchoverKeepsTheVmRunningAndCopyingUntilReleased() throws Exception {
        CountDownLatch held = new CountDownLatch(1);
        MigrationOptions options = MigrationOptions.builder().holdSwitchover(WAIT)
                .listener(e -> {
                    if (e instanceof MigrationEvent.SwitchoverHeld) {
                        held.countDown();
                    }
                }).build();
        try (InMemoryVm vm = quietVm(4L << 20)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair, MigrationOptions.defaults());
            Migration migration = LiveMigration.start(vm, pair.source(), options);
            assertTrue(held.await(WAIT.toSeconds(), TimeUnit.SECONDS), "SwitchoverHeld was emitted");
            int heldAt = migration.progress().round();
            assertTrue(migration.progress().switchoverHeld());
            assertEquals(MigrationPhase.LIVE_COPY, migration.progress().phase());
            assertFalse(vm.vcpus().isPaused(), "the VM runs while the switchover is held");
            awaitCondition("rounds go on while held", () -> migration.progress().round() >= heldAt + 2);
            assertFalse(migration.isDone());
            migration.releaseSwitchover();
            MigrationReport report = migration.await(WAIT);
            assertTrue(report.verified());
            assertTrue(report.rounds().size() > heldAt + 2, "the held rounds are in the report");
            assertFalse(migration.progress().switchoverHeld());
            received.get(WAIT.toSeconds(), TimeUnit.SECONDS).target().close();
        }
    }

    @Test
    void aHoldThatIsNeverReleasedAbortsAndTheVmRunsOnAtTheSource() throws Exception {
        MigrationOptions options = MigrationOptions.builder().holdSwitchover(Duration.ofMillis(300)).build();
        try (InMemoryVm vm = quietVm(4L << 20)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair, MigrationOptions.defaults());
            Migration migration = LiveMigration.start(vm, pair.source(), options);
            MigrationAbortedException aborted = assertThrows(MigrationAbortedException.class,
                    () -> migration.await(WAIT));
            assertEquals(SourceVmState.RUNNING, aborted.sourceState());
            assertTrue(aborted.getMessage().contains("held"), aborted.getMessage());
            assertFalse(vm.vcpus().isPaused());
            assertThrows(ExecutionException.class, () -> received.get(WAIT.toSeconds(), TimeUnit.SECONDS),
                    "the destination discarded what it got");
        }
    }

    @Test
    void releasingWithoutAHoldIsRefused() throws Exception {
        try (InMemoryVm vm = quietVm(1L << 20)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair, MigrationOptions.defaults());
            Migration migration = LiveMigration.start(vm, pair.source(), MigrationOptions.defaults());
            assertThrows(IllegalStateException.class, migration::releaseSwitchover);
            assertThrows(IllegalStateException.class, migration::startPostcopy,
                    "a pre-copy without post-copy in its ladder cannot switch");
            migration.await(WAIT);
            received.get(WAIT.toSeconds(), TimeUnit.SECONDS).target().close();
        }
    }

    @Test
    void postcopyStartedMidRoundHandsTheRestOverAndTheVmIsVerified() throws Exception {
        // Hybrid with many rounds over a slow link: it would pre-copy for seconds; asked, it switches.
        MigrationOptions options = MigrationOptions.builder().strategy(Strategy.HYBRID).hybridRounds(30)
                .bandwidthLimitBytesPerSecond(4L << 20).build();
        try (InMemoryVm vm = quietVm(16L << 20)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair, MigrationOptions.defaults());
            Migration migration = LiveMigration.start(vm, pair.source(), options);
            awaitCondition("the first page is sent", () -> migration.progress().pagesSent() > 0);
            migration.startPostcopy();
            migration.setBandwidthLimit(0);
            MigrationReport report = migration.await(WAIT);
            assertTrue(report.postcopy().isPresent(), "it switched to post-copy: " + report);
            assertTrue(report.escalations().contains("switch to post-copy (asked by the caller)"), report.escalations().toString());
            assertTrue(report.rounds().size() <= 2, "it did not wait for 30 rounds: " + report.rounds().size());
            assertTrue(report.verified());
            assertThrows(IllegalStateException.class, migration::startPostcopy, "too late");
            received.get(WAIT.toSeconds(), TimeUnit.SECONDS).target().close();
        }
    }

    @Test
    void aDestinationThatKeepsTheVmPausedLeavesItToTheCaller() throws Exception {
        MigrationOptions destination = MigrationOptions.builder().keepPausedAtDestination(true).build();
        try (InMemoryVm vm = quietVm(2L << 20)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair, destination);
            MigrationReport report = LiveMigration.migrate(vm, pair.source(), MigrationOptions.defaults());
            assertTrue(report.verified());
            ReceivedMigration got = received.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertTrue(got.target().vcpus().isPaused(), "the VM waits for the caller at the destination");
            got.target().vcpus().resume();
            assertFalse(got.target().vcpus().isPaused());
            got.target().close();
        }
        assertThrows(IllegalArgumentException.class, () -> MigrationOptions.builder().strategy(Strategy.POSTCOPY)
                .keepPausedAtDestination(true).build(), "post-copy needs the VM running");
    }

    @Test
    void theCallersThreadFactoryMakesTheMigrationsThread() throws Exception {
        AtomicInteger made = new AtomicInteger();
        MigrationOptions options = MigrationOptions.builder().encoderThreads(2).threadFactory(task -> {
            made.incrementAndGet();
            return Thread.ofPlatform().name("caller-" + made.get()).daemon().unstarted(task);
        }).build();
        try (InMemoryVm vm = quietVm(2L << 20)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair, MigrationOptions.defaults());
            Migration migration = LiveMigration.start(vm, pair.source(), options);
            assertTrue(migration.await(WAIT).verified());
            assertTrue(made.get() >= 4, "the migration's thread, the return path and two encoders: " + made.get());
            received.get(WAIT.toSeconds(), TimeUnit.SECONDS).target().close();
        }
    }
}
