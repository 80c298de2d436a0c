package io.livemig.e2e;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationAbortedException;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.Migration;
import io.livemig.engine.MigrationServer;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A {@link MigrationServer} receives one migration after another, several at once, and no more than its limit. */
class MigrationServerTest {

    private static final Duration WAIT = Duration.ofSeconds(60);

    private static TcpChannelListener listen() throws Exception {
        return TcpChannelListener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(30));
    }

    private static InMemoryVm runningVm(long bytes, long writeBytesPerSecond) {
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(bytes).prefill(1.0)
                .workload(new Workload(WorkloadPattern.RANDOM, 0, writeBytesPerSecond, 0, 7)).build();
        vm.start();
        return vm;
    }

    private static Channel connect(TcpChannelListener listener) throws Exception {
        return TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), Duration.ofSeconds(30));
    }

    @Test
    void migrationsOneAfterAnotherAndTwoAtOnceAllArriveVerified() throws Exception {
        List<ReceivedMigration> got = new CopyOnWriteArrayList<>();
        CountDownLatch four = new CountDownLatch(4);
        try (TcpChannelListener listener = listen();
             MigrationServer server = MigrationServer.builder(listener, d -> InMemoryVm.builder().buildTarget(d))
                     .maxConcurrentMigrations(2)
                     .onReceived(received -> {
                         got.add(received);
                         four.countDown();
                     }).start()) {
            // Two one after the other...
            for (int i = 0; i < 2; i++) {
                try (InMemoryVm vm = runningVm(2L << 20, 256L << 10); Channel channel = connect(listener)) {
                    assertTrue(LiveMigration.migrate(vm, channel, MigrationOptions.defaults()).verified());
                }
            }
            // ...then two at once, each at 4 MiB/s so that they overlap.
            List<InMemoryVm> vms = List.of(runningVm(4L << 20, 256L << 10), runningVm(4L << 20, 256L << 10));
            List<Channel> channels = List.of(connect(listener), connect(listener));
            List<Migration> migrations = new ArrayList<>();
            MigrationOptions slow = MigrationOptions.builder().bandwidthLimitBytesPerSecond(4L << 20).build();
            for (int i = 0; i < 2; i++) {
                migrations.add(LiveMigration.start(vms.get(i), channels.get(i), slow));
            }
            for (Migration m : migrations) {
                assertTrue(m.await(WAIT).verified());
            }
            assertTrue(four.await(WAIT.toSeconds(), TimeUnit.SECONDS), "four VMs handed over");
            assertEquals(4, server.receivedCount());
            assertEquals(0, server.failedCount());
            assertEquals(4, got.stream().map(r -> r.report().migrationId()).distinct().count(), "four migrations");
            assertTrue(got.stream().allMatch(r -> r.report().verified()));
            for (Channel c : channels) {
                c.close();
            }
            for (InMemoryVm vm : vms) {
                vm.close();
            }
        } finally {
            for (ReceivedMigration r : got) {
                r.target().close();
            }
        }
    }

    @Test
    void aSourceBeyondTheLimitIsRefusedWithAReasonAndItsVmRunsOn() throws Exception {
        List<ReceivedMigration> got = new CopyOnWriteArrayList<>();
        List<MigrationException> failures = new CopyOnWriteArrayList<>();
        try (TcpChannelListener listener = listen();
             MigrationServer server = MigrationServer.builder(listener, d -> InMemoryVm.builder().buildTarget(d))
                     .onReceived(got::add).onFailed(failures::add).start();
             InMemoryVm first = runningVm(8L << 20, 256L << 10);
             InMemoryVm second = runningVm(1L << 20, 0);
             Channel firstChannel = connect(listener);
             Channel secondChannel = connect(listener)) {
            // The first crawls at 1 MiB/s: the server is full while the second tries.
            Migration running = LiveMigration.start(first, firstChannel,
                    MigrationOptions.builder().bandwidthLimitBytesPerSecond(1L << 20).build());
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (server.runningMigrations() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(1, server.runningMigrations());
            MigrationException refused = assertThrows(MigrationException.class,
                    () -> LiveMigration.migrate(second, secondChannel, MigrationOptions.defaults()));
            // The destination's refusal during the handshake: an abort with its reason.
            assertInstanceOf(MigrationAbortedException.class, refused);
            assertTrue(refused.getMessage().contains("running here already"), refused.getMessage());
            assertEquals(SourceVmState.RUNNING, refused.sourceState());
            assertFalse(second.vcpus().isPaused(), "the refused VM runs on at its source");
            running.cancel();
            assertThrows(MigrationException.class, () -> running.await(WAIT));
        } finally {
            for (ReceivedMigration r : got) {
                r.target().close();
            }
        }
        assertTrue(got.isEmpty());
        assertEquals(1, failures.size(), "the cancelled one is reported to onFailed: " + failures);
    }

    @Test
    void aServerNeedsSomewhereToPutTheVmsAndALimitOfAtLeastOne() throws Exception {
        try (TcpChannelListener listener = listen()) {
            assertThrows(IllegalStateException.class,
                    () -> MigrationServer.builder(listener, d -> InMemoryVm.builder().buildTarget(d)).start());
            assertThrows(IllegalArgumentException.class,
                    () -> MigrationServer.builder(listener, d -> InMemoryVm.builder().buildTarget(d))
                            .maxConcurrentMigrations(0));
        }
    }

    @Test
    void closingWaitsForTheRunningMigrationAndThenRefusesNewOnes() throws Exception {
        List<ReceivedMigration> got = new CopyOnWriteArrayList<>();
        try (TcpChannelListener listener = listen(); InMemoryVm vm = runningVm(4L << 20, 256L << 10);
             Channel channel = connect(listener)) {
            MigrationServer server = MigrationServer.builder(listener, d -> InMemoryVm.builder().buildTarget(d))
                    .onReceived(got::add).start();
            Migration migration = LiveMigration.start(vm, channel, MigrationOptions.builder()
                    .strategy(Strategy.PRECOPY).bandwidthLimitBytesPerSecond(8L << 20).build());
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (server.runningMigrations() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            server.close();
            MigrationReport report = migration.await(WAIT);
            assertTrue(report.verified(), "the running migration completed although the server was closing");
            assertEquals(1, got.size());
            assertEquals(1, server.receivedCount());
        } finally {
            for (ReceivedMigration r : got) {
                r.target().close();
            }
        }
    }
}
