package io.livemig.e2e;

import io.livemig.api.DiskStats;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryDisk;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.RedialableLink;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Post-copy with a disk whose last blocks follow the resume: the destination's guest reads every
 * block at once after the resume, the reads of the blocks still missing wait while they are
 * fetched on demand, and each returns the source's content at the pause or a later write of the
 * destination's own guest, never anything older; the engine's verification then finds every block
 * equal to the source's at the pause.
 */
class DiskPostcopyTest {

    private static final int BLOCK = 4096;
    private static final long BLOCKS = 2048;
    /** Written fast, at random: blocks written during the one disk round before the pause stay for after it. */
    private static final Workload DISK = new Workload(WorkloadPattern.RANDOM, 0, 64L << 20, 0, 5);

    @Test
    void theBlocksStillMissingAtTheResumeAreFetchedOnDemandAndNoReadSeesAnOlderBlock() throws Exception {
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(2L << 20).prefill(0.5)
                .disk(new InMemoryDisk("vda", BLOCKS * BLOCK, BLOCK)).diskWorkload(DISK).build()) {
            vm.start();
            InMemoryDisk source = vm.disk("vda");
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (vm.diskWritesDone() < 200 && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            // One disk round before the pause (maxRounds 1): what the guest writes during it follows the resume.
            MigrationOptions options = MigrationOptions.builder().strategy(Strategy.POSTCOPY)
                    .downtimeLimit(Duration.ofMillis(1)).maxRounds(1).build();
            AtomicLong missingAtResume = new AtomicLong(-1);
            AtomicReference<CompletableFuture<long[]>> reads = new AtomicReference<>();
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = pair.destination()) {
                    return LiveMigration.receive(ch, d -> InMemoryVm.builder().onResume(target -> {
                        InMemoryDisk disk = target.disk("vda");
                        missingAtResume.set(disk.demand().orElseThrow().missingBlocks());
                        // The guest reads its whole disk as soon as it runs: from another thread, since
                        // the blocks it waits for arrive on this one.
                        reads.set(CompletableFuture.supplyAsync(() -> serials(disk),
                                task -> Thread.ofPlatform().start(task)));
                    }).buildTarget(d), options);
                } catch (MigrationException e) {
                    throw new CompletionException(e);
                }
            }, task -> Thread.ofPlatform().name("test-destination").start(task));
            MigrationReport report;
            try (Channel ch = pair.source()) {
                report = LiveMigration.migrate(vm, ch, options);
            }
            try (InMemoryVm target = (InMemoryVm) received.get(60, TimeUnit.SECONDS).target()) {
                assertTrue(report.verified(), report.toString());
                assertEquals(BLOCKS, report.verification().checkedBlocks());
                assertTrue(missingAtResume.get() > 0, "blocks were left for after the resume: " + missingAtResume);
                DiskStats stats = report.disks().get(0);
                long afterResume = stats.blocksPerRound().get(stats.blocksPerRound().size() - 1);
                assertEquals(missingAtResume.get(), afterResume, "each block left for after the resume crossed once: "
                        + stats);
                long[] seen = reads.get().get(30, TimeUnit.SECONDS);
                long[] atPause = serials(source); // the source stays paused: its disk is as at the pause
                for (int b = 0; b < BLOCKS; b++) {
                    assertTrue(seen[b] >= atPause[b], "block " + b + " read with write serial " + seen[b]
                            + ", older than the source's " + atPause[b] + " at the pause");
                }
                assertEquals(0, target.disk("vda").demand().orElseThrow().missingBlocks());
            }
        }
    }

    @Test
    void aLinkCutWhileDiskBlocksFollowTheResumeIsRecoveredAndEveryBlockArrives() throws Exception {
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(2L << 20).prefill(0.5)
                .disk(new InMemoryDisk("vda", BLOCKS * BLOCK, BLOCK)).diskWorkload(DISK).build()) {
            vm.start();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (vm.diskWritesDone() < 200 && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            // Slow enough that the push is still going when the link is cut.
            RedialableLink link = new RedialableLink(LinkShape.of(8L << 20, Duration.ZERO), TimeSource.system());
            InMemoryChannel.Pair first = link.first();
            AtomicLong missingAtResume = new AtomicLong(-1);
            MigrationOptions options = MigrationOptions.builder().strategy(Strategy.POSTCOPY)
                    .downtimeLimit(Duration.ofMillis(1)).maxRounds(1).listener(e -> {
                        if (e instanceof MigrationEvent.PostcopyStarted) {
                            Thread.ofPlatform().start(() -> {
                                try {
                                    Thread.sleep(100);
                                } catch (InterruptedException ignored) {
                                    Thread.currentThread().interrupt();
                                }
                                first.source().breakLink();
                            });
                        }
                    }).build();
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(first.destination(), link.destinationSide(Duration.ofSeconds(10)),
                            d -> InMemoryVm.builder().onResume(target -> missingAtResume.set(
                                    target.disk("vda").demand().orElseThrow().missingBlocks())).buildTarget(d), options);
                } catch (MigrationException e) {
                    throw new CompletionException(e);
                }
            }, task -> Thread.ofPlatform().name("test-destination").start(task));
            MigrationReport report = LiveMigration.migrate(vm, first.source(), link.sourceSide(), options);
            try (InMemoryVm target = (InMemoryVm) received.get(60, TimeUnit.SECONDS).target()) {
                assertEquals(1, report.postcopy().orElseThrow().recoveries(), report.toString());
                assertTrue(missingAtResume.get() > 0, "blocks were left for after the resume: " + missingAtResume);
                assertTrue(report.verified(), "every block arrived across the cut: " + report);
                assertEquals(BLOCKS, report.verification().checkedBlocks());
                assertEquals(0, target.disk("vda").demand().orElseThrow().missingBlocks());
            }
        }
    }

    /**
     * Reads every block as the guest does (waiting for a missing one), checks it says what it is,
     * and returns each block's write serial (0 for a block never written).
     */
    private static long[] serials(InMemoryDisk disk) {
        long[] serials = new long[(int) BLOCKS];
        for (int b = 0; b < BLOCKS; b++) {
            ByteBuffer block = ByteBuffer.wrap(disk.read(b)).order(ByteOrder.LITTLE_ENDIAN);
            long serial = block.getLong(8);
            if (serial != 0) {
                assertEquals(b, block.getLong(0), "block " + b + " holds another block's content");
            }
            serials[b] = serial;
        }
        return serials;
    }
}
