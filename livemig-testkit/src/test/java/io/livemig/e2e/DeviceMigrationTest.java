package io.livemig.e2e;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.RoundStats;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.StatefulDevice;
import io.livemig.kit.StatefulDeviceSpec;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.DeviceState;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Devices that migrate by their data stream (VFIO migration v2's model): pre-copied beside the
 * pages and counted in the switchover decision, stopped P2P-first in the downtime, the pages they
 * write by DMA carried like any dirty page, and a corrupted stream refused without losing the VM.
 */
class DeviceMigrationTest {

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long VM_BYTES = 16L << 20;
    /** 16 MiB of device state, rewritten at 4 MiB/s, writing 64 guest pages by DMA at 2 MiB/s. */
    private static final StatefulDeviceSpec GPU = StatefulDeviceSpec.of("gpu0", 16L << 20).withWrites(4L << 20, 3)
            .withDma(1024, 64, 2L << 20).withStates(true, true);

    private static InMemoryVm source(StatefulDeviceSpec... devices) {
        InMemoryVm.Builder b = InMemoryVm.builder().memoryBytes(VM_BYTES).prefill(0.5)
                .workload(new Workload(WorkloadPattern.RANDOM, 0, 256L << 10, 0, 5));
        for (StatefulDeviceSpec d : devices) {
            b.statefulDevice(d);
        }
        InMemoryVm vm = b.build();
        vm.start();
        return vm;
    }

    private static CompletableFuture<ReceivedMigration> receive(Channel channel) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return LiveMigration.receive(channel, d -> InMemoryVm.builder().buildTarget(d),
                        MigrationOptions.defaults());
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        }, task -> Thread.ofPlatform().name("test-destination").start(task));
    }

    @Test
    void aPreCopiedDeviceArrivesWholeAndItsDmaPagesAreVerified() throws Exception {
        List<RoundStats> rounds = new CopyOnWriteArrayList<>();
        MigrationOptions options = MigrationOptions.builder().bandwidthLimitBytesPerSecond(64L << 20)
                .listener(e -> {
                    if (e instanceof MigrationEvent.RoundCompleted r) {
                        rounds.add(r.stats());
                    }
                }).build();
        try (InMemoryVm vm = source(GPU)) {
            StatefulDevice gpu = vm.statefulDevice("gpu0");
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair.destination());
            MigrationReport report = LiveMigration.migrate(vm, pair.source(), options);
            ReceivedMigration got = received.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            try {
                assertTrue(report.verified(), "memory, the DMA pages among it, page for page: " + report);
                assertEquals(DeviceState.STOP, gpu.migration().orElseThrow().state(), "the source's device stopped");
                StatefulDevice arrived = ((InMemoryVm) got.target()).statefulDevice("gpu0");
                // The device checked the stream's record count and content fingerprint at its end:
                // reaching RUNNING means every byte arrived.
                assertEquals(DeviceState.RUNNING, arrived.migration().orElseThrow().state());
                assertTrue(arrived.writesDone() >= gpu.writesDone(), "it runs on from where the source stopped");
                // Round 0 carried the device's 16 MiB of initial state beside the 8 MiB of pages.
                assertTrue(rounds.get(0).bytesOnWire() > 16L << 20, "round 0: " + rounds.get(0));
                assertTrue(rounds.size() >= 2, "the writes made during round 0 went in a later round or the downtime");
            } finally {
                got.target().close();
            }
        }
    }

    @Test
    void theDevicesPendingStateCountsInTheExpectedDowntime() throws Exception {
        List<RoundStats> rounds = new CopyOnWriteArrayList<>();
        // A device that writes 32 MiB/s of its state over a 16 MiB/s cap can never be caught up:
        // its pending bytes keep the expected downtime above the limit, and the switchover is forced.
        StatefulDeviceSpec busy = StatefulDeviceSpec.of("busy0", 8L << 20).withWrites(32L << 20, 9)
                .withStates(false, true);
        MigrationOptions options = MigrationOptions.builder().bandwidthLimitBytesPerSecond(16L << 20)
                .downtimeLimit(Duration.ofMillis(50)).maxRounds(4)
                .escalation(List.of(new io.livemig.api.EscalationStep.Force()))
                .listener(e -> {
                    if (e instanceof MigrationEvent.RoundCompleted r) {
                        rounds.add(r.stats());
                    }
                }).build();
        try (InMemoryVm vm = source(busy)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(pair.destination());
            MigrationReport report = LiveMigration.migrate(vm, pair.source(), options);
            received.get(WAIT.toSeconds(), TimeUnit.SECONDS).target().close();
            assertTrue(report.verified());
            assertTrue(report.switchover().forced(), "the device's state never fit 50 ms: " + report.switchover());
            for (RoundStats r : rounds.subList(0, rounds.size() - 1)) {
                assertTrue(r.remainingBytes() >= 1L << 20, "round " + r.round() + " counts the device's pending "
                        + "state: " + r);
            }
        }
    }

    @Test
    void aCorruptedDeviceStreamIsRefusedAtItsEndAndTheSourceRunsOnWithItsDevice() throws Exception {
        StatefulDeviceSpec nic = StatefulDeviceSpec.of("nic0", 2L << 20).withWrites(1L << 20, 4).withStates(false, true);
        try (InMemoryVm vm = source(nic)) {
            StatefulDevice device = vm.statefulDevice("nic0");
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            AtomicBoolean corrupted = new AtomicBoolean();
            Channel tampering = new ForwardingChannel(pair.source()) {
                @Override
                public void send(ByteBuffer message) throws IOException {
                    if (!corrupted.get() && message.remaining() > 4096
                            && (message.get(message.position()) & 0xFF) == FrameType.DEVICE_DATA.code()) {
                        corrupted.set(true);
                        message = flipByteAndReseal(message, message.remaining() / 2);
                    }
                    super.send(message);
                }
            };
            CompletableFuture<ReceivedMigration> received = receive(pair.destination());
            MigrationException failed = assertThrows(MigrationException.class,
                    () -> LiveMigration.migrate(vm, tampering, MigrationOptions.defaults()));
            assertTrue(corrupted.get(), "a DEVICE_DATA frame was altered");
            assertEquals(SourceVmState.RUNNING, failed.sourceState(), failed.getMessage());
            assertFalse(vm.vcpus().isPaused(), "the VM runs at the source");
            assertEquals(DeviceState.RUNNING, device.migration().orElseThrow().state(),
                    "its device was taken back to RUNNING");
            ExecutionException destination = assertThrows(ExecutionException.class,
                    () -> received.get(WAIT.toSeconds(), TimeUnit.SECONDS));
            MigrationException refused = assertInstanceOf(MigrationException.class, destination.getCause());
            assertTrue(refused.getMessage().contains("nic0"), "the destination names the device: "
                    + refused.getMessage());
        }
    }

    @Test
    void coldAndPostcopyMigrationsCarryTheDeviceInTheDowntime() throws Exception {
        StatefulDeviceSpec nic = StatefulDeviceSpec.of("nic1", 1L << 20).withWrites(1L << 20, 6).withStates(true, false);
        for (Strategy strategy : List.of(Strategy.COLD, Strategy.POSTCOPY)) {
            try (InMemoryVm vm = source(nic)) {
                InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
                CompletableFuture<ReceivedMigration> received = receive(pair.destination());
                MigrationReport report = LiveMigration.migrate(vm, pair.source(),
                        MigrationOptions.builder().strategy(strategy).build());
                ReceivedMigration got = received.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                try {
                    assertTrue(report.verified(), strategy + ": " + report);
                    assertEquals(DeviceState.STOP, vm.statefulDevice("nic1").migration().orElseThrow().state());
                    assertEquals(DeviceState.RUNNING, ((InMemoryVm) got.target()).statefulDevice("nic1")
                            .migration().orElseThrow().state(), strategy.toString());
                } finally {
                    got.target().close();
                }
            }
        }
    }

    /** @return a copy of {@code frame} with byte {@code offset} flipped and its CRC32C made right again */
    private static ByteBuffer flipByteAndReseal(ByteBuffer frame, int offset) {
        byte[] bytes = new byte[frame.remaining()];
        frame.duplicate().get(bytes);
        bytes[offset] ^= 0x5A;
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, bytes.length - 4);
        ByteBuffer sealed = ByteBuffer.wrap(bytes);
        sealed.putInt(bytes.length - 4, (int) crc.getValue());
        return sealed;
    }
}
