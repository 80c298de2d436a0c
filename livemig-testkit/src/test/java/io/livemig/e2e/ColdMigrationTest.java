package io.livemig.e2e;

import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.Migration;
import io.livemig.engine.LiveMigration;
import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.api.Verification;
import io.livemig.channel.Channel;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MigrationTarget;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ColdMigrationTest {

    private static final MigrationOptions COLD = MigrationOptions.builder().strategy(Strategy.COLD).build();

    /** A destination that snapshots its memory at the moment it resumes. */
    private static final class Destination {
        final AtomicReference<MemorySnapshot> atResume = new AtomicReference<>();
        volatile long writesAtResume = -1;
        volatile InMemoryVm target;

        MigrationTarget create(io.livemig.spi.VmDescriptor d) {
            target = InMemoryVm.builder().layout(d.memoryLayout()).vcpus(d.vcpuCount())
                    .onResume(vm -> {
                        atResume.set(MemorySnapshot.of(vm.memory()));
                        writesAtResume = vm.writesDone();
                    }).build();
            return target;
        }

        /** Waits until the target exists: the copy starts right after. */
        void awaitTarget() throws InterruptedException {
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (target == null) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("the destination never created its target");
                }
                Thread.sleep(5);
            }
        }
    }

    private static CompletableFuture<ReceivedMigration> receiveAsync(Channel channel, Destination destination,
                                                                     MigrationOptions options) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return LiveMigration.receive(channel, destination::create, options);
            } catch (MigrationException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
    }

    private static InMemoryVm runningSource(long memoryBytes, MemoryLayout layout) {
        InMemoryVm.Builder b = InMemoryVm.builder().vcpus(2).prefill(0.5)
                .workload(new Workload(WorkloadPattern.RANDOM, 0, 20L << 20, 64, 42));
        InMemoryVm vm = (layout != null ? b.layout(layout) : b.memoryBytes(memoryBytes)).build();
        vm.start();
        return vm;
    }

    @Test
    void coldMigrationOverInMemoryChannelIsByteExact() throws Exception {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
        Destination destination = new Destination();
        AtomicReference<MemorySnapshot> atPause = new AtomicReference<>();
        List<MigrationEvent> events = new CopyOnWriteArrayList<>();
        try (InMemoryVm source = runningSource(32L << 20, null)) {
            CompletableFuture<ReceivedMigration> received = receiveAsync(pair.destination(), destination, COLD);
            MigrationOptions options = COLD.toBuilder().listener(e -> {
                events.add(e);
                if (e instanceof MigrationEvent.SwitchoverStarted) {
                    atPause.set(MemorySnapshot.of(source.memory()));
                }
            }).build();
            MigrationReport report = LiveMigration.migrate(source, pair.source(), options);

            assertEquals(MigrationStatus.COMPLETED, report.status());
            assertTrue(report.verified(), "engine's own digest verification");
            assertEquals(32L << 20, report.memoryBytes());
            assertEquals(1, report.totals().roundCount());
            // The destination starts zeroed: every non-zero page travels once, raw; zero pages not at all.
            long nonZero = atPause.get().nonZeroPages();
            assertEquals(nonZero, report.encodings().pagesSent());
            assertEquals(nonZero, report.encodings().pagesByEncoding().getOrDefault("raw", 0L), "every non-zero page once");
            assertEquals(0, report.encodings().pagesByEncoding().getOrDefault("zero", 0L), "zero pages cost nothing");
            assertTrue(report.switchover().downtime().compareTo(Duration.ZERO) > 0);
            assertTrue(source.vcpus().isPaused(), "a migrated source stays paused");

            // The test's own check, independent of the engine's digests.
            assertTrue(atPause.get().hasNonZeroPage());
            destination.atResume.get().assertSameAs(atPause.get());
            ReceivedMigration r = received.get();
            assertEquals(Verification.VERIFIED, r.report().verification().outcome());
            assertInstanceOf(MigrationEvent.Started.class, events.get(0));
            assertInstanceOf(MigrationEvent.Completed.class, events.get(events.size() - 1));
            // The guest continues at the destination with its migrated vCPU state.
            assertEquals(source.writesDone(), destination.writesAtResume, "vCPU state carried the write counters");
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (destination.target.writesDone() == destination.writesAtResume && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertTrue(destination.target.writesDone() > destination.writesAtResume, "guest runs at the destination");
            r.target().close();
        }
    }

    @Test
    void coldMigrationOverTcpLoopbackIsByteExactWithHolesInTheLayout() throws Exception {
        MemoryLayout layout = new MemoryLayout(4096, List.of(new MemoryRegion(0, 3000), new MemoryRegion(4096, 2000)));
        Destination destination = new Destination();
        AtomicReference<MemorySnapshot> atPause = new AtomicReference<>();
        try (TcpChannelListener listener = TcpChannelListener.bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(10));
             InMemoryVm source = runningSource(0, layout)) {
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = listener.accept(Duration.ofSeconds(10))) {
                    return LiveMigration.receive(ch, destination::create, COLD);
                } catch (Exception e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            MigrationOptions options = COLD.toBuilder().listener(e -> {
                if (e instanceof MigrationEvent.SwitchoverStarted) {
                    atPause.set(MemorySnapshot.of(source.memory()));
                }
            }).build();
            MigrationReport report;
            try (Channel ch = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), Duration.ofSeconds(10))) {
                report = LiveMigration.migrate(source, ch, options);
            }
            assertTrue(report.verified());
            assertEquals(atPause.get().nonZeroPages(), report.encodings().pagesSent());
            destination.atResume.get().assertSameAs(atPause.get());
            received.get().target().close();
        }
    }

    @Test
    void cancellingBeforeTheCommitLeavesTheSourceRunningAndTheDestinationDiscards() throws Exception {
        // A slow link gives the cancel time to land mid-copy.
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(8L << 20, Duration.ZERO), TimeSource.system());
        Destination destination = new Destination();
        try (InMemoryVm source = runningSource(32L << 20, null)) {
            CompletableFuture<ReceivedMigration> received = receiveAsync(pair.destination(), destination, COLD);
            Migration migration = LiveMigration.start(source, pair.source(), COLD);
            destination.awaitTarget();
            Thread.sleep(100);
            migration.cancel();
            MigrationCancelledException e = assertThrows(MigrationCancelledException.class, migration::await);
            assertEquals(SourceVmState.RUNNING, e.sourceState());
            assertTrue(!source.vcpus().isPaused(), "the source runs again");
            long before = source.writesDone();
            Thread.sleep(50);
            assertTrue(source.writesDone() > before, "the guest keeps writing");
            ExecutionException dest = assertThrows(ExecutionException.class, received::get);
            assertInstanceOf(MigrationCancelledException.class, dest.getCause());
            assertTrue(destination.target.vcpus().isPaused(), "the half-received VM never ran");
            assertThrows(IllegalStateException.class, () -> destination.target.vcpus().resume(), "and was discarded");
            migration.close();
        }
    }

    @Test
    void aChannelThatBreaksMidCopyLeavesTheSourceRunningUnchanged() throws Exception {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(8L << 20, Duration.ZERO), TimeSource.system());
        Destination destination = new Destination();
        try (InMemoryVm source = InMemoryVm.builder().memoryBytes(32L << 20).prefill(0.5).build()) {
            source.start();
            MemorySnapshot before = MemorySnapshot.of(source.memory());
            CompletableFuture<ReceivedMigration> received = receiveAsync(pair.destination(), destination, COLD);
            Migration migration = LiveMigration.start(source, pair.source(), COLD);
            destination.awaitTarget();
            Thread.sleep(100);
            pair.source().breakLink();
            MigrationException e = assertThrows(MigrationException.class, migration::await);
            assertEquals(SourceVmState.RUNNING, e.sourceState(), e.getMessage());
            assertTrue(!source.vcpus().isPaused());
            MemorySnapshot.of(source.memory()).assertSameAs(before);
            assertThrows(ExecutionException.class, received::get);
            assertThrows(IllegalStateException.class, () -> destination.target.vcpus().resume());
        }
    }

    @Test
    void aDestinationThatCannotCreateTheTargetAbortsAndTheSourceRuns() throws Exception {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
        try (InMemoryVm source = runningSource(8L << 20, null)) {
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(pair.destination(), d -> {
                        throw new java.io.IOException("no memory for you");
                    }, COLD);
                } catch (MigrationException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            MigrationException e = assertThrows(MigrationException.class,
                    () -> LiveMigration.migrate(source, pair.source(), COLD));
            assertTrue(e.getMessage().contains("no memory for you"), e.getMessage());
            assertTrue(e.sourceRunning());
            assertThrows(ExecutionException.class, received::get);
        }
    }

    @Test
    void theMemProviderIsFoundByScheme() throws Exception {
        try (var vm = LiveMigration.open(java.net.URI.create("mem:vm?size=8M&workload=sequential&rate=1M"))) {
            assertEquals(8L << 20, vm.descriptor().memoryLayout().memoryBytes());
            assertTrue(!vm.vcpus().isPaused());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LiveMigration.open(java.net.URI.create("nope:vm")));
        assertTrue(e.getMessage().contains("InMemoryProvider"), "lists what it probed: " + e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LiveMigration.open(java.net.URI.create("mem:vm?sise=1G")));
        assertNotEquals(null, LiveMigration.provider(java.net.URI.create("mem:x")));
    }
}
