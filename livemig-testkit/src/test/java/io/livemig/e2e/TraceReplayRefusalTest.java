package io.livemig.e2e;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.api.Verification;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.ForwardingVm;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A VM whose provider cannot record it: {@code TRACE_REPLAY} is refused before anything is sent,
 * the VM running on, or, with {@code traceReplayFallback}, it migrates by pre-copy and its report
 * says so.
 */
class TraceReplayRefusalTest {

    private static InMemoryVm running() {
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(4L << 20).prefill(0.5)
                .workload(new Workload(WorkloadPattern.RANDOM, 0, 4L << 20, 64, 7)).build();
        vm.start();
        return vm;
    }

    @Test
    void aVmThatCannotBeRecordedIsRefusedAndKeepsRunning() {
        assertTrue(InMemoryVm.builder().memoryBytes(1L << 20).build().executionRecorder().isEmpty(),
                "this test needs a VM without a recorder");
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
        try (InMemoryVm source = running()) {
            MigrationException refused = assertThrows(MigrationException.class, () -> LiveMigration.migrate(source,
                    pair.source(), MigrationOptions.builder().strategy(Strategy.TRACE_REPLAY).build()));
            assertTrue(refused.getMessage().contains("cannot be recorded"), refused.getMessage());
            assertEquals(SourceVmState.RUNNING, refused.sourceState());
            assertFalse(source.vcpus().isPaused(), "the VM runs on");
            assertEquals(MigrationStatus.FAILED, refused.report().orElseThrow().status());
        } finally {
            pair.source().close();
            pair.destination().close();
        }
    }

    @Test
    void withTheFallbackItMigratesByPrecopy() throws Exception {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
        MigrationOptions options = MigrationOptions.builder().strategy(Strategy.TRACE_REPLAY)
                .traceReplayFallback(true).build();
        try (InMemoryVm source = running()) {
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(pair.destination(), d -> InMemoryVm.builder()
                            .layout(d.memoryLayout()).vcpus(d.vcpuCount()).build(), MigrationOptions.defaults());
                } catch (MigrationException e) {
                    throw new CompletionException(e);
                }
            });
            MigrationReport report = LiveMigration.migrate(source, pair.source(), options);
            assertEquals(Strategy.PRECOPY, report.strategy());
            assertEquals(Verification.VERIFIED, report.verification().outcome());
            assertTrue(report.traceReplay().isEmpty());
            received.get().target().close();
        }
    }

    @Test
    void aVmWithADiskIsRefused() {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
        try (InMemoryVm source = InMemoryVm.builder().memoryBytes(1L << 20).disk("vda", 64 * 4096L, 4096).build()) {
            source.start();
            // Recorded or not, a VM with disks is refused for trace and replay, before anything is sent.
            MigrationException refused = assertThrows(MigrationException.class, () -> LiveMigration.migrate(
                    new RecordableView(source), pair.source(),
                    MigrationOptions.builder().strategy(Strategy.TRACE_REPLAY).build()));
            assertTrue(refused.getMessage().contains("does not migrate disks"), refused.getMessage());
            assertEquals(SourceVmState.RUNNING, refused.sourceState());
        } finally {
            pair.source().close();
            pair.destination().close();
        }
    }

    /** A VM that claims a recorder, so that the check of its disks is what refuses it. */
    private static final class RecordableView extends ForwardingVm {
        RecordableView(InMemoryVm inner) {
            super(inner);
        }

        @Override
        public java.util.Optional<io.livemig.spi.ExecutionRecorder> executionRecorder() {
            return java.util.Optional.of(new io.livemig.spi.ExecutionRecorder() {
                @Override
                public String format() {
                    return "none/1";
                }

                @Override
                public long start() {
                    throw new AssertionError("never started: the VM is refused first");
                }

                @Override
                public io.livemig.spi.LogSegment drain() {
                    throw new AssertionError("never drained");
                }

                @Override
                public long position() {
                    return 0;
                }

                @Override
                public void stop() {
                }
            });
        }
    }
}
