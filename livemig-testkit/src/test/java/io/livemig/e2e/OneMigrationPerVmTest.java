package io.livemig.e2e;

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
import io.livemig.engine.TargetFactory;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.SimulatedVm;
import io.livemig.kit.VirtualTime;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
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
 * One migration per VM: a migration claims its source VM, a second one of the same VM is refused
 * at once while the first runs (so two destinations can never both resume it), the claim goes
 * when the first ends however it ends, and a closed VM is refused before anything is sent.
 */
class OneMigrationPerVmTest {

    private static final MigrationOptions COLD = MigrationOptions.builder().strategy(Strategy.COLD).build();

    /** A destination that counts the targets it made and the ones that resumed. */
    private static final class Destination {
        final List<InMemoryVm> targets = new CopyOnWriteArrayList<>();
        final AtomicInteger resumed = new AtomicInteger();
        /** Opened by the test: the target is created only then (the source's migration waits meanwhile). */
        final CountDownLatch gate;
        final CountDownLatch asked = new CountDownLatch(1);

        Destination(boolean gated) {
            this.gate = new CountDownLatch(gated ? 1 : 0);
        }

        TargetFactory factory() {
            return d -> {
                asked.countDown();
                try {
                    if (!gate.await(30, TimeUnit.SECONDS)) {
                        throw new IllegalStateException("the test never opened the gate");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
                InMemoryVm target = InMemoryVm.builder().layout(d.memoryLayout()).vcpus(d.vcpuCount())
                        .onResume(vm -> resumed.incrementAndGet()).build();
                targets.add(target);
                return target;
            };
        }

        CompletableFuture<ReceivedMigration> receive(InMemoryChannel channel) {
            return CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(channel, factory(), COLD);
                } catch (MigrationException e) {
                    throw new CompletionException(e);
                }
            }, task -> Thread.ofPlatform().start(task));
        }
    }

    private static InMemoryVm runningSource() {
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(16L << 20).prefill(0.25)
                .workload(new Workload(WorkloadPattern.RANDOM, 0, 10L << 20, 64, 11)).build();
        vm.start();
        return vm;
    }

    private static InMemoryChannel.Pair pair() {
        return InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
    }

    /** Closes the sending end and checks that the other end got nothing before the close. */
    private static void assertNothingWasSent(InMemoryChannel.Pair pair) throws Exception {
        pair.source().close();
        assertEquals(-1, pair.destination().receive(ByteBuffer.allocate(64 << 10)), "a message was sent");
    }

    @Test
    void aSecondStartOfTheSameVmIsRefusedWhileTheFirstRunsAndOnlyOneDestinationResumes() throws Exception {
        Destination first = new Destination(true);
        Destination second = new Destination(false);
        InMemoryChannel.Pair toFirst = pair();
        InMemoryChannel.Pair toSecond = pair();
        try (InMemoryVm source = runningSource()) {
            CompletableFuture<ReceivedMigration> receivedFirst = first.receive(toFirst.destination());
            CompletableFuture<ReceivedMigration> receivedSecond = second.receive(toSecond.destination());
            Migration migration = LiveMigration.start(source, toFirst.source(), COLD);
            // The first migration is under way and cannot end before the gate opens.
            assertTrue(first.asked.await(10, TimeUnit.SECONDS), "the first destination was never asked for a target");

            IllegalStateException refused = assertThrows(IllegalStateException.class,
                    () -> LiveMigration.start(source, toSecond.source(), COLD));
            assertTrue(refused.getMessage().contains("InMemoryVm@"), "names the VM: " + refused.getMessage());
            assertTrue(refused.getMessage().contains("another migration of this VM is running"), refused.getMessage());
            // The blocking form is refused the same way.
            assertThrows(IllegalStateException.class, () -> LiveMigration.migrate(source, toSecond.source(), COLD));
            assertFalse(migration.isDone(), "the refusal did not disturb the running migration");

            first.gate.countDown();
            MigrationReport report = migration.await(Duration.ofSeconds(30));
            assertEquals(MigrationStatus.COMPLETED, report.status());
            assertTrue(report.verified(), report.toString());
            try (MigrationTarget target = receivedFirst.get(30, TimeUnit.SECONDS).target()) {
                assertEquals(1, first.resumed.get(), "the first destination resumed the VM");
            }

            // The second destination got nothing: when its link closes, it fails without a target.
            toSecond.source().close();
            ExecutionException failed = assertThrows(ExecutionException.class,
                    () -> receivedSecond.get(30, TimeUnit.SECONDS));
            assertTrue(failed.getCause() instanceof MigrationException, failed.getCause().toString());
            assertTrue(second.targets.isEmpty(), "the second destination never created a target");
            assertEquals(0, second.resumed.get(), "exactly one destination resumed");
        } finally {
            toFirst.source().close();
        }
    }

    @Test
    void aVmMayBeMigratedAgainOnceItsMigrationEndedHoweverItEnded() throws Exception {
        try (InMemoryVm source = runningSource()) {
            // Ends in failure: the destination hangs up before the handshake.
            InMemoryChannel.Pair broken = pair();
            broken.destination().close();
            MigrationException e = assertThrows(MigrationException.class,
                    () -> LiveMigration.migrate(source, broken.source(), COLD));
            assertEquals(SourceVmState.RUNNING, e.sourceState(), e.getMessage());

            // Ends in failure on start()'s own thread.
            InMemoryChannel.Pair brokenToo = pair();
            brokenToo.destination().close();
            Migration failing = LiveMigration.start(source, brokenToo.source(), COLD);
            assertThrows(MigrationException.class, () -> failing.await(Duration.ofSeconds(30)));

            // Completes: the claim was released both times, and again once this one ends.
            Destination destination = new Destination(false);
            InMemoryChannel.Pair good = pair();
            CompletableFuture<ReceivedMigration> received = destination.receive(good.destination());
            MigrationReport report = LiveMigration.start(source, good.source(), COLD).await(Duration.ofSeconds(30));
            assertEquals(MigrationStatus.COMPLETED, report.status());
            received.get(30, TimeUnit.SECONDS).target().close();

            // The source is still open (paused, as a migrated source stays): it may be migrated again.
            assertTrue(source.isOpen());
            Destination again = new Destination(false);
            InMemoryChannel.Pair once = pair();
            CompletableFuture<ReceivedMigration> receivedAgain = again.receive(once.destination());
            assertEquals(MigrationStatus.COMPLETED, LiveMigration.migrate(source, once.source(), COLD).status());
            receivedAgain.get(30, TimeUnit.SECONDS).target().close();
        }
    }

    @Test
    void aClosedVmIsRefusedAndNothingIsSent() throws Exception {
        InMemoryVm closed = runningSource();
        closed.close();
        assertFalse(closed.isOpen());
        VirtualTime time = new VirtualTime();
        SimulatedVm simulated = SimulatedVm.builder(time).memoryBytes(4L << 20).build();
        simulated.close();
        assertFalse(simulated.isOpen());

        for (MigratableVm vm : List.of(closed, simulated)) {
            InMemoryChannel.Pair blocking = pair();
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> LiveMigration.migrate(vm, blocking.source(), COLD));
            assertTrue(e.getMessage().contains("the VM is closed"), e.getMessage());
            assertTrue(e.getMessage().contains(vm.getClass().getSimpleName() + "@"), "names the VM: " + e.getMessage());
            assertNothingWasSent(blocking);

            InMemoryChannel.Pair started = pair();
            e = assertThrows(IllegalStateException.class, () -> LiveMigration.start(vm, started.source(), COLD));
            assertTrue(e.getMessage().contains("the VM is closed"), e.getMessage());
            assertNothingWasSent(started);
        }
    }
}
