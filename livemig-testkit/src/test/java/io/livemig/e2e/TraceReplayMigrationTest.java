package io.livemig.e2e;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationListener;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TraceReplayStats;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.AlteringRecorder;
import io.livemig.kit.ForwardingVm;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.LinkShape;
import io.livemig.kit.RecordReplaySpec;
import io.livemig.kit.SimulatedVm;
import io.livemig.kit.Simulation;
import io.livemig.kit.VirtualTime;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.ExecutionRecorder;
import io.livemig.spi.LogSegment;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.ExecutionException;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Trace and replay end to end in virtual time on replayable simulated VMs: the migration
 * completes with its memory verified and plausible figures; a log altered on its way makes it fail
 * with the source VM running on.
 */
class TraceReplayMigrationTest {

    private static final LinkShape LINK = LinkShape.of(125_000_000L, Duration.ofMillis(1));
    private static final long INPUT_BYTES_PER_SECOND = 100_000;

    private static SimulatedVm vm(VirtualTime clock) {
        SimulatedVm vm = SimulatedVm.builder(clock).memoryBytes(128L << 20).prefill(0.5)
                .workload(new Workload(WorkloadPattern.RANDOM, 0, 20L << 20, 0, 5))
                .replayable(RecordReplaySpec.DEFAULT.withInputDevice(INPUT_BYTES_PER_SECOND)).build();
        vm.start();
        return vm;
    }

    private static MigrationOptions options() {
        return MigrationOptions.builder().strategy(Strategy.TRACE_REPLAY).downtimeLimit(Duration.ofMillis(50))
                .build();
    }

    @Test
    void aReplayableGuestMigratesByTraceAndReplayWithPlausibleFigures() throws Exception {
        VirtualTime clock = new VirtualTime();
        SimulatedVm source = vm(clock);
        clock.sleepNanos(100_000_000L);
        Simulation.Result r = Simulation.migrate(source, LINK, options());
        MigrationReport s = r.source();
        assertNotNull(s, String.valueOf(r.failure()));
        assertTrue(s.verified());
        assertEquals(Strategy.TRACE_REPLAY, s.strategy());
        TraceReplayStats t = s.traceReplay().orElseThrow();
        // Half of 128 MiB prefilled: the checkpoint carries at least those 64 MiB.
        assertTrue(t.checkpointBytes() >= 64L << 20 && t.checkpointBytes() < 80L << 20, t.toString());
        assertEquals(t.logBytes(), t.segmentLogBytes().stream().mapToLong(Long::longValue).sum());
        assertTrue(t.finalPosition() > t.startPosition(), t.toString());
        // Two inputs per 10 ms tick (11 bytes), plus what the device delivered: ~101 KB/s.
        double expectedRate = INPUT_BYTES_PER_SECOND + 100 * 11;
        assertEquals(expectedRate, t.logBytesPerSecond(), expectedRate * 0.05, t.toString());
        // The log is ~100 KB/s, the link 125 MB/s; replay (1 µs a write, 2 µs an input) far outruns the recording.
        assertTrue(t.replaySpeed() > 10, t.toString());
        assertTrue(s.switchover().downtime().compareTo(options().downtimeLimit()) <= 0, s.switchover().toString());
        // No dirty page is re-sent: the wire holds the checkpoint, the log and the frames around them.
        assertTrue(s.totals().bytesOnWire() < t.checkpointBytes() + t.logBytes() + (2L << 20), s.totals().toString());
        SimulatedVm target = r.target();
        assertFalse(target.vcpus().isPaused());
        long before = target.writesDone();
        r.target().time().sleepNanos(100_000_000L);
        assertTrue(target.writesDone() > before, "the guest runs on at the destination");
        target.close();
    }

    /** A source VM whose recorder alters the bytes of the first non-empty segment it drains. */
    private static final class AlteringVm extends ForwardingVm {
        private final ExecutionRecorder recorder;

        AlteringVm(SimulatedVm inner, UnaryOperator<byte[]> alter) {
            super(inner);
            AtomicBoolean altered = new AtomicBoolean();
            this.recorder = new AlteringRecorder(inner.executionRecorder().orElseThrow(), s ->
                    s.sizeBytes() == 0 || !altered.compareAndSet(false, true) ? s
                            : new LogSegment(s.startPosition(), s.endPosition(), alter.apply(s.bytes())));
        }

        @Override
        public Optional<ExecutionRecorder> executionRecorder() {
            return Optional.of(recorder);
        }
    }

    /** Migrates through a wrapper of the source, in virtual time, as {@link Simulation} does. */
    private static MigrationException failedMigration(SimulatedVm source, VirtualTime clock, AlteringVm wrapped)
            throws Exception {
        VirtualTime destinationClock = new VirtualTime();
        destinationClock.advanceTo(clock.nanoTime());
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LINK, clock, destinationClock);
        MigrationOptions destinationOptions = options().toBuilder().timeSource(destinationClock)
                .listener(MigrationListener.NONE).build();
        CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
            try (Channel channel = pair.destination()) {
                return LiveMigration.receive(channel, d -> SimulatedVm.builder(destinationClock).buildTarget(d),
                        destinationOptions);
            } catch (MigrationException e) {
                return null;
            }
        }, task -> Thread.ofPlatform().name("trace-replay-destination").start(task));
        MigrationException failure = null;
        try (Channel channel = pair.source()) {
            MigrationReport report = LiveMigration.migrate(wrapped, channel, options().toBuilder().timeSource(clock).build());
            assertNull(report, "the migration must not complete");
        } catch (MigrationException e) {
            failure = e;
        }
        try {
            assertNull(received.get(), "the destination must not resume a wrong copy");
        } catch (ExecutionException e) {
            throw new AssertionError(e);
        }
        return failure;
    }

    private static void anAlteredLogFailsTheMigrationAndTheSourceRunsOn(UnaryOperator<byte[]> alter, String why)
            throws Exception {
        VirtualTime clock = new VirtualTime();
        SimulatedVm source = vm(clock);
        clock.sleepNanos(100_000_000L);
        MigrationException failure = failedMigration(source, clock, new AlteringVm(source, alter));
        assertNotNull(failure, "the migration failed");
        assertEquals(SourceVmState.RUNNING, failure.sourceState(), failure.toString());
        assertTrue(String.valueOf(failure.getMessage()).contains(why), failure.getMessage());
        assertFalse(source.vcpus().isPaused());
        assertTrue(source.executionRecorder().orElseThrow().position() >= 0);
        long before = source.writesDone();
        clock.sleepNanos(100_000_000L);
        assertTrue(source.writesDone() > before, "the source guest makes progress after the failure");
        source.close();
    }

    @Test
    void aWrongClockValueInTheLogFailsTheMigrationAndTheSourceRunsOn() throws Exception {
        // The first record is a clock read (kind 1, 8 value bytes): move its value by 16 ns. The
        // guest folds it into every page it writes afterwards, so the memory differs.
        anAlteredLogFailsTheMigrationAndTheSourceRunsOn(bytes -> {
            assertEquals(1, bytes[0]);
            bytes[8] ^= 0x10;
            return bytes;
        }, "pages of the destination's memory differ from the source's");
    }

    @Test
    void aLogRecordOfTheWrongKindStopsTheReplayAndTheSourceRunsOn() throws Exception {
        // The first record is a clock read (kind 1): call it an input device's (kind 2). The
        // destination's replayer stops at it, the destination aborts, and the source learns why
        // at once rather than waiting for a REPLAYED that never comes.
        anAlteredLogFailsTheMigrationAndTheSourceRunsOn(bytes -> {
            assertEquals(1, bytes[0]);
            bytes[0] = 2;
            return bytes;
        }, "replay failed");
    }
}
