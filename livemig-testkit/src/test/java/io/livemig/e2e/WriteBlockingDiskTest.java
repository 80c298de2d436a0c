package io.livemig.e2e;

import io.livemig.api.DiskCopyMode;
import io.livemig.api.DiskStats;
import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryDisk;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A disk written faster than the link carries it: in the background copy mode its dirty blocks
 * never fit the downtime limit and the migration gives up; in the write-blocking mode each write
 * travels as it happens, the guest's writes slow to the link's pace, and the migration completes
 * with the disk byte for byte.
 */
class WriteBlockingDiskTest {

    private static final int BLOCK = 4096;
    /** 16 MiB of disk, written at random, 64 MiB/s asked: four times what the link carries. */
    private static final long DISK_BYTES = 16L << 20;
    private static final Workload FAST_DISK = new Workload(WorkloadPattern.RANDOM, 0, 64L << 20, 0, 11);
    private static final LinkShape LINK = LinkShape.of(16L << 20, Duration.ZERO);

    private static InMemoryVm source() {
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(2L << 20).prefill(0.5)
                .disk(new InMemoryDisk("vda", DISK_BYTES, BLOCK)).diskWorkload(FAST_DISK).build();
        vm.start();
        return vm;
    }

    private static MigrationOptions options(DiskCopyMode mode) {
        return MigrationOptions.builder().strategy(Strategy.PRECOPY).downtimeLimit(Duration.ofMillis(50))
                .maxRounds(6).stallRounds(3).escalation(List.of(new EscalationStep.Abort())).diskCopyMode(mode)
                .build();
    }

    private static CompletableFuture<ReceivedMigration> receive(Channel channel, MigrationOptions options,
                                                               AtomicReference<InMemoryDisk> atResume) {
        return CompletableFuture.supplyAsync(() -> {
            try (channel) {
                return LiveMigration.receive(channel, d -> InMemoryVm.builder()
                        .onResume(vm -> atResume.compareAndSet(null, vm.disk("vda").copy())).buildTarget(d), options);
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        }, task -> Thread.ofPlatform().name("test-destination").start(task));
    }

    @Test
    void aDiskWrittenFasterThanTheLinkConvergesInTheWriteBlockingMode() throws Exception {
        try (InMemoryVm vm = source()) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LINK, TimeSource.system());
            AtomicReference<InMemoryDisk> atResume = new AtomicReference<>();
            MigrationOptions options = options(DiskCopyMode.WRITE_BLOCKING);
            CompletableFuture<ReceivedMigration> received = receive(pair.destination(), options, atResume);
            MigrationReport report;
            try (Channel ch = pair.source()) {
                report = LiveMigration.migrate(vm, ch, options);
            }
            try (InMemoryVm target = (InMemoryVm) received.get(60, TimeUnit.SECONDS).target()) {
                assertTrue(report.verified(), report.toString());
                InMemoryDisk disk = vm.disk("vda");
                assertTrue(disk.contentEquals(atResume.get()), "blocks that differ: "
                        + disk.differingBlocks(atResume.get()));
                DiskStats stats = report.disks().get(0);
                long afterFirstPass = stats.blocksPerRound().stream().skip(1).mapToLong(Long::longValue).sum();
                assertTrue(afterFirstPass > 0, "writes were mirrored after the first pass: " + stats);
                assertTrue(disk.changeLog().isEmpty(), "every block was confirmed: " + disk.changeLog().cardinality());
            }
        }
    }

    @Test
    void theSameDiskInTheBackgroundModeNeverFitsTheLimitAndTheSourceKeepsRunning() throws Exception {
        try (InMemoryVm vm = source()) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LINK, TimeSource.system());
            MigrationOptions options = options(DiskCopyMode.BACKGROUND);
            CompletableFuture<ReceivedMigration> received = receive(pair.destination(), options,
                    new AtomicReference<>());
            MigrationAbortedException aborted;
            try (Channel ch = pair.source()) {
                aborted = assertThrows(MigrationAbortedException.class, () -> LiveMigration.migrate(vm, ch, options));
            }
            assertEquals(SourceVmState.RUNNING, aborted.sourceState());
            assertTrue(!vm.vcpus().isPaused(), "the source VM runs on");
            ExecutionException e = assertThrows(ExecutionException.class, () -> received.get(20, TimeUnit.SECONDS));
            assertInstanceOf(MigrationException.class, e.getCause());
        }
    }
}
