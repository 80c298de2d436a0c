package io.livemig.e2e;

import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.Migration;
import io.livemig.engine.LiveMigration;
import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pre-copy in real time with the in-memory kit: rounds, the switchover, and each action of the
 * escalation ladder. (Deterministic, time-exact checks run in virtual time elsewhere.)
 */
class PrecopyMigrationTest {

    /** A guest that rewrites a 1 MiB hot set at 64 MB/s: over a 16 MB/s link it never converges. */
    private static final Workload HOT = new Workload(WorkloadPattern.RANDOM, 1L << 20, 64L << 20, 0, 5);
    private static final LinkShape SLOW = LinkShape.of(16L << 20, Duration.ZERO);

    private static final class Destination {
        final AtomicReference<MemorySnapshot> atResume = new AtomicReference<>();
        volatile InMemoryVm target;

        MigrationTarget create(VmDescriptor d) {
            target = InMemoryVm.builder().layout(d.memoryLayout()).vcpus(d.vcpuCount())
                    .onResume(vm -> atResume.set(MemorySnapshot.of(vm.memory()))).build();
            return target;
        }
    }

    private record Run(MigrationReport report, MigrationException error, List<MigrationEvent> events,
                       MemorySnapshot atPause, Destination destination, ReceivedMigration received) {
    }

    private static Run migrate(InMemoryVm source, LinkShape link, MigrationOptions options) throws Exception {
        return migrate(source, InMemoryChannel.pair(link, TimeSource.system()), options);
    }

    private static Run migrate(InMemoryVm source, InMemoryChannel.Pair pair, MigrationOptions options)
            throws Exception {
        Destination destination = new Destination();
        CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
            try (Channel ch = pair.destination()) {
                return LiveMigration.receive(ch, destination::create, options);
            } catch (MigrationException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        List<MigrationEvent> events = new CopyOnWriteArrayList<>();
        AtomicReference<MemorySnapshot> atPause = new AtomicReference<>();
        MigrationOptions withListener = options.toBuilder().listener(e -> {
            events.add(e);
            if (e instanceof MigrationEvent.SwitchoverStarted) {
                atPause.set(MemorySnapshot.of(source.memory()));
            }
        }).build();
        MigrationReport report = null;
        MigrationException error = null;
        try (Channel ch = pair.source()) {
            report = LiveMigration.migrate(source, ch, withListener);
        } catch (MigrationException e) {
            error = e;
        }
        ReceivedMigration r = null;
        try {
            r = received.get();
        } catch (ExecutionException e) {
            if (error == null) {
                throw e;
            }
        }
        return new Run(report, error, events, atPause.get(), destination, r);
    }

    private static InMemoryVm source(Workload workload) {
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(4L << 20).vcpus(1).prefill(0.5).workload(workload).build();
        vm.start();
        return vm;
    }

    @Test
    void aConvergentGuestMigratesInSeveralRoundsAndLandsByteExact() throws Exception {
        Workload light = new Workload(WorkloadPattern.RANDOM, 0, 2L << 20, 256, 9);
        try (InMemoryVm vm = source(light)) {
            Run run = migrate(vm, LinkShape.of(64L << 20, Duration.ZERO), MigrationOptions.builder()
                    .strategy(Strategy.PRECOPY).downtimeLimit(Duration.ofMillis(20)).build());
            MigrationReport r = run.report();
            assertTrue(r.verified());
            assertTrue(r.totals().roundCount() > 1, "rounds: " + r.totals().roundCount());
            assertFalse(r.switchover().forced());
            assertTrue(r.switchover().expectedDowntime().compareTo(Duration.ofMillis(20)) <= 0,
                    "switched over on a prediction within the limit: " + r.switchover().expectedDowntime());
            run.destination().atResume.get().assertSameAs(run.atPause());
            // Round 0 skips zero pages; later rounds carry only what was dirtied.
            assertTrue(r.rounds().get(0).pagesSent() < 1024, "zero pages skipped in round 0");
            // Each later round sends what the one before found dirty, less the pages it finds
            // unchanged since they were sent (written during the round before they were read).
            int last = r.rounds().size() - 1;
            long leftOut = 0;
            for (int i = 1; i < last; i++) {
                long dirty = r.rounds().get(i - 1).dirtyPages();
                assertTrue(r.rounds().get(i).pagesSent() <= dirty, "round " + i + " sends at most what round "
                        + (i - 1) + " found dirty");
                leftOut += dirty - r.rounds().get(i).pagesSent();
            }
            // The stop-copy round's set is the last dirty set plus what the pause collected.
            assertTrue(r.rounds().get(last).dirtyPages() >= r.rounds().get(last - 1).dirtyPages());
            leftOut += r.rounds().get(last).dirtyPages() - r.rounds().get(last).pagesSent();
            assertEquals(leftOut, r.encodings().unchangedPages(), "every page left out was found unchanged");
            run.received().target().close();
        }
    }

    @Test
    void raisingTheDowntimeThenForcingFinishesANonConvergentGuest() throws Exception {
        try (InMemoryVm vm = source(HOT)) {
            Run run = migrate(vm, SLOW, MigrationOptions.builder().strategy(Strategy.PRECOPY)
                    .downtimeLimit(Duration.ofMillis(2)).stallRounds(2)
                    .escalation(List.of(new EscalationStep.RaiseDowntime(Duration.ofMillis(1), Duration.ofMillis(3)),
                            new EscalationStep.Force())).build());
            MigrationReport r = run.report();
            assertTrue(r.switchover().forced());
            assertTrue(r.verified(), "a forced switchover still lands byte-exact");
            assertEquals(List.of("downtime limit 3 ms", "force switchover past the 3 ms limit"), r.escalations());
            assertTrue(run.events().stream().anyMatch(e -> e instanceof MigrationEvent.EscalationApplied p
                    && p.step() instanceof EscalationStep.Force));
            run.destination().atResume.get().assertSameAs(run.atPause());
            run.received().target().close();
        }
    }

    @Test
    void autoConvergeThrottlesTheGuestUntilPreCopyConverges() throws Exception {
        try (InMemoryVm vm = source(HOT)) {
            Run run = migrate(vm, SLOW, MigrationOptions.builder().strategy(Strategy.PRECOPY)
                    .downtimeLimit(Duration.ofMillis(10)).stallRounds(2).maxRounds(200)
                    .escalation(List.of(new EscalationStep.AutoConverge(50, 20, 99), new EscalationStep.Abort()))
                    .build());
            MigrationReport r = run.report();
            assertTrue(r.verified(), String.valueOf(run.error()));
            assertFalse(r.switchover().forced());
            assertTrue(r.escalations().get(0).equals("auto-converge 50%"), r.escalations().toString());
            assertTrue(r.rounds().stream().anyMatch(s -> s.throttlePercent() >= 50));
            run.received().target().close();
        }
    }

    @Test
    void abortGivesUpAndTheSourceRunsOnUnthrottled() throws Exception {
        try (InMemoryVm vm = source(HOT)) {
            Run run = migrate(vm, SLOW, MigrationOptions.builder().strategy(Strategy.PRECOPY)
                    .downtimeLimit(Duration.ofMillis(2)).stallRounds(2)
                    .escalation(List.of(new EscalationStep.AutoConverge(20, 10, 30), new EscalationStep.Abort()))
                    .build());
            MigrationAbortedException e = assertInstanceOf(MigrationAbortedException.class, run.error());
            assertEquals(SourceVmState.RUNNING, e.sourceState());
            assertTrue(e.getMessage().contains("did not converge"), e.getMessage());
            assertFalse(vm.vcpus().isPaused());
            assertEquals(0, vm.vcpus().throttle().orElseThrow().throttlePercent(), "throttle restored");
            assertTrue(run.events().stream().filter(ev -> ev instanceof MigrationEvent.EscalationApplied).count() >= 3,
                    "20%, 30%, then abort");
            assertTrue(run.destination().target.vcpus().isPaused(), "the destination never ran the VM");
        }
    }

    @Test
    void reachingMaxRoundsJumpsToTheTerminalStep() throws Exception {
        try (InMemoryVm vm = source(HOT)) {
            Run run = migrate(vm, SLOW, MigrationOptions.builder().strategy(Strategy.PRECOPY)
                    .downtimeLimit(Duration.ofMillis(1)).maxRounds(3).stallRounds(50)
                    .escalation(List.of(EscalationStep.AutoConverge.QEMU_DEFAULTS, new EscalationStep.Force()))
                    .build());
            assertTrue(run.report().switchover().forced());
            assertEquals(4, run.report().totals().roundCount(), "3 live rounds and the stop-copy round");
            assertEquals(List.of("force switchover past the 1 ms limit"), run.report().escalations());
            run.received().target().close();
        }
    }

    @Test
    void switchToPostcopyHandsANonConvergentGuestToPostcopy() throws Exception {
        try (InMemoryVm vm = source(HOT)) {
            Run run = migrate(vm, SLOW, MigrationOptions.builder().strategy(Strategy.PRECOPY)
                    .downtimeLimit(Duration.ofMillis(2)).stallRounds(2)
                    .escalation(List.of(new EscalationStep.SwitchToPostcopy())).build());
            MigrationReport r = run.report();
            assertTrue(r.verified(), String.valueOf(run.error()));
            assertEquals(List.of("switch to post-copy"), r.escalations());
            assertTrue(r.postcopy().isPresent());
            run.received().target().close();
        }
    }

    @Test
    void cancellingMidPreCopyLeavesTheSourceRunningWithTrackingStopped() throws Exception {
        try (InMemoryVm vm = source(HOT)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(SLOW, TimeSource.system());
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(pair.destination(), destination::create, MigrationOptions.defaults());
                } catch (MigrationException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            Migration migration = LiveMigration.start(vm, pair.source(), MigrationOptions.builder()
                    .downtimeLimit(Duration.ofMillis(1)).stallRounds(100).maxRounds(1000)
                    .escalation(List.of(EscalationStep.AutoConverge.QEMU_DEFAULTS, new EscalationStep.Abort())).build());
            Thread.sleep(600);
            migration.cancel();
            MigrationCancelledException e = assertThrows(MigrationCancelledException.class, migration::await);
            assertEquals(SourceVmState.RUNNING, e.sourceState());
            assertFalse(vm.vcpus().isPaused());
            assertThrows(IllegalStateException.class, () -> vm.dirtyTracker().orElseThrow().collect(),
                    "dirty tracking was stopped");
            assertThrows(ExecutionException.class, received::get);
        }
    }

    @Test
    void roundsLongerThanTheChannelsReceiveTimeoutKeepTheQuietReturnPathAlive() throws Exception {
        // 8 MiB of non-zero pages over 8 MiB/s: round 0 alone lasts about a second, while both
        // channel ends give up on a receive after 400 ms without a byte. The destination has
        // nothing to say until the switchover; its keep-alives stop the source's reader timing out.
        Duration receiveTimeout = Duration.ofMillis(400);
        Workload light = new Workload(WorkloadPattern.RANDOM, 0, 256L << 10, 256, 3);
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(8L << 20).vcpus(1).prefill(1.0).workload(light)
                .build()) {
            vm.start();
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(8L << 20, Duration.ZERO),
                    TimeSource.system(), 1 << 20, receiveTimeout);
            Run run = migrate(vm, pair, MigrationOptions.builder().strategy(Strategy.PRECOPY)
                    .downtimeLimit(Duration.ofMillis(50)).ioTimeout(receiveTimeout).build());
            assertEquals(null, run.error(), () -> "failed: " + run.error());
            assertTrue(run.report().verified());
            assertTrue(run.report().rounds().get(0).duration().compareTo(receiveTimeout) > 0,
                    "round 0 took " + run.report().rounds().get(0).duration());
            run.destination().atResume.get().assertSameAs(run.atPause());
        }
    }
}
