package io.livemig.e2e;

import io.livemig.api.DiskStats;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.e2e.Reports;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryDisk;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.SimulatedVm;
import io.livemig.kit.Simulation;
import io.livemig.kit.VirtualTime;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Disks migrate with the VM, with the in-memory kit: every strategy lands the disk byte for byte
 * while the guest writes it, a stale replica receives only the blocks written since its
 * generation (dsync), a copy of unknown age only the blocks that differ, and a virtual-time run
 * with disks repeats exactly.
 */
class DiskMigrationTest {

    private static final int BLOCK = 4096;
    /** 8 MiB: 2048 blocks. */
    private static final long DISK_BYTES = 8L << 20;
    private static final Workload MEMORY = new Workload(WorkloadPattern.RANDOM, 1L << 20, 2L << 20, 256, 3);
    /** 4 MiB/s of 4 KiB blocks, 1024 writes per second, over the whole disk. */
    private static final Workload DISK = new Workload(WorkloadPattern.RANDOM, 0, 4L << 20, 0, 7);
    private static final LinkShape LINK = LinkShape.of(256L << 20, Duration.ZERO);

    /** What a migration left: both reports, the destination VM and its disk as it was when the VM resumed there. */
    private record Run(MigrationReport source, MigrationReport destination, InMemoryVm target,
                       InMemoryDisk diskAtResume) {
    }

    /** A started VM with {@code disk} as its disk and a light memory workload. */
    private static InMemoryVm source(InMemoryDisk disk, Workload diskWorkload) {
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(4L << 20).prefill(0.5).workload(MEMORY).disk(disk)
                .diskWorkload(diskWorkload).build();
        vm.start();
        return vm;
    }

    private static InMemoryDisk writtenDisk(int blocks) {
        InMemoryDisk disk = new InMemoryDisk("vda", DISK_BYTES, BLOCK);
        for (int b = 0; b < blocks; b++) {
            disk.write(b, content(b, 1));
        }
        return disk;
    }

    private static byte[] content(long block, long version) {
        return ByteBuffer.allocate(BLOCK).putLong(0, block).putLong(8, version).putLong(BLOCK - 8, ~block).array();
    }

    /** Migrates {@code source} into a new in-memory VM that starts from {@code replicas} (by id). */
    private static Run migrate(InMemoryVm source, MigrationOptions options, List<InMemoryDisk> replicas)
            throws Exception {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LINK, TimeSource.system());
        AtomicReference<InMemoryDisk> atResume = new AtomicReference<>();
        CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
            try (Channel ch = pair.destination()) {
                return LiveMigration.receive(ch, d -> {
                    InMemoryVm.Builder target = InMemoryVm.builder()
                            .onResume(vm -> atResume.compareAndSet(null, vm.disk("vda").copy()));
                    replicas.forEach(target::disk);
                    return target.buildTarget(d);
                }, options);
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        }, task -> Thread.ofPlatform().name("test-destination").start(task));
        MigrationReport report;
        try (Channel ch = pair.source()) {
            report = LiveMigration.migrate(source, ch, options);
        }
        ReceivedMigration r = received.get();
        return new Run(report, r.report(), (InMemoryVm) r.target(), atResume.get());
    }

    /** Waits (at most 10 s) until the guest has made {@code writes} disk writes in all. */
    private static void awaitDiskWrites(InMemoryVm vm, long writes) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (vm.diskWritesDone() < writes && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        assertTrue(vm.diskWritesDone() >= writes, "the guest made " + vm.diskWritesDone() + " of " + writes
                + " disk writes");
    }

    private static void assertSameDisk(InMemoryDisk expected, InMemoryDisk actual) {
        assertNotNull(actual, "the destination resumed");
        assertTrue(expected.contentEquals(actual), "blocks that differ: " + expected.differingBlocks(actual));
        assertEquals(expected.digest(), actual.digest());
    }

    /** Every strategy that migrates disks (trace and replay does not: TraceReplayRefusalTest). */
    @ParameterizedTest
    @EnumSource(value = Strategy.class, names = "TRACE_REPLAY", mode = EnumSource.Mode.EXCLUDE)
    void aDiskTheGuestKeepsWritingLandsByteForByteWithEveryStrategy(Strategy strategy) throws Exception {
        try (InMemoryVm vm = source(writtenDisk(512), DISK)) {
            InMemoryDisk disk = vm.disk("vda");
            awaitDiskWrites(vm, 50);
            Run run = migrate(vm, MigrationOptions.builder().strategy(strategy).downtimeLimit(Duration.ofMillis(50))
                    .hybridRounds(2).build(), List.of());
            try (InMemoryVm target = run.target()) {
                assertTrue(run.source().verified(), run.source().toString());
                assertTrue(vm.vcpus().isPaused(), "the source stays paused after the switchover");
                if (strategy == Strategy.POSTCOPY || strategy == Strategy.HYBRID) {
                    // Its last blocks follow the resume (DiskPostcopyTest): the engine's verification
                    // compares every block with the source's at the pause.
                    assertEquals(DISK_BYTES / BLOCK, run.source().verification().checkedBlocks());
                } else {
                    assertSameDisk(disk, run.diskAtResume());
                }
                DiskStats stats = run.source().disks().get(0);
                assertEquals(DiskStats.Sync.NEW_DISK, stats.sync());
                assertTrue(stats.blocksSent() >= 512, stats.toString());

                // The guest goes on writing its disk at the destination, continuing the source's sequence.
                long writesAtSource = vm.diskWritesDone();
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (target.diskWritesDone() <= writesAtSource + 10 && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertTrue(target.diskWritesDone() > writesAtSource + 10, "the destination's guest writes its disk");
                assertTrue(target.disk("vda").writeCount() > 0);
            }
        }
    }

    @Test
    void aStaleReplicaReceivesExactlyTheBlocksWrittenSinceItsGeneration() throws Exception {
        InMemoryDisk disk = writtenDisk(1024);
        InMemoryDisk replica = disk.syncedReplica("nightly-1");
        long[] changed = {3, 4, 5, 700, 1023, 1024, 2047};
        for (long b : changed) {
            disk.write(b, content(b, 2));
        }
        try (InMemoryVm vm = source(disk, Workload.idle())) {
            Run run = migrate(vm, MigrationOptions.builder().strategy(Strategy.PRECOPY).build(), List.of(replica));
            try (InMemoryVm target = run.target()) {
                assertTrue(run.source().verified());
                DiskStats stats = run.source().disks().get(0);
                assertEquals(DiskStats.Sync.CHANGE_LOG, stats.sync());
                assertEquals(changed.length, replica.blocksWrittenBySync(), "the blocks the destination wrote");
                assertEquals(changed.length, stats.blocksSent() + stats.zeroBlocksSent(), stats.toString());
                assertSame(replica, target.disk("vda"), "the target runs on the replica it was given");
                assertSameDisk(disk, run.diskAtResume());
            }
        }
    }

    @Test
    void aStaleReplicaOfADiskBeingWrittenReceivesNoMoreBlocksThanWereWrittenSince() throws Exception {
        try (InMemoryVm vm = source(writtenDisk(1024), DISK)) {
            InMemoryDisk disk = vm.disk("vda");
            awaitDiskWrites(vm, 100);
            vm.vcpus().pause();
            InMemoryDisk replica = disk.syncedReplica("nightly-2");
            long writesAtReplica = disk.writeCount();
            vm.vcpus().resume();
            awaitDiskWrites(vm, writesAtReplica + 100);
            Run run = migrate(vm, MigrationOptions.builder().strategy(Strategy.PRECOPY)
                    .downtimeLimit(Duration.ofMillis(50)).build(), List.of(replica));
            try (InMemoryVm target = run.target()) {
                assertTrue(run.source().verified());
                long writesSince = disk.writeCount() - writesAtReplica;
                long sent = replica.blocksWrittenBySync();
                assertEquals(DiskStats.Sync.CHANGE_LOG, run.source().disks().get(0).sync());
                assertTrue(sent > 0 && sent <= writesSince, sent + " blocks sent for " + writesSince + " written since");
                assertSameDisk(disk, run.diskAtResume());
            }
        }
    }

    @Test
    void aCopyOfUnknownAgeIsComparedByDigestAndOnlyTheBlocksThatDifferTravel() throws Exception {
        InMemoryDisk disk = writtenDisk(1024);
        InMemoryDisk copy = disk.copy();
        long[] changed = {0, 1, 1500};
        for (long b : changed) {
            disk.write(b, content(b, 3));
        }
        try (InMemoryVm vm = source(disk, Workload.idle())) {
            Run run = migrate(vm, MigrationOptions.builder().strategy(Strategy.PRECOPY).build(), List.of(copy));
            try (InMemoryVm ignored = run.target()) {
                assertTrue(run.source().verified());
                DiskStats stats = run.source().disks().get(0);
                assertEquals(DiskStats.Sync.DIGESTS, stats.sync());
                assertEquals(changed.length, copy.blocksWrittenBySync());
                assertEquals(disk.descriptor().blockCount() - changed.length, stats.blocksUnchanged());
                assertSameDisk(disk, run.diskAtResume());
            }
        }
    }

    /** 1 Gbit/s. */
    private static final LinkShape GBIT = LinkShape.of(125_000_000L, Duration.ofMillis(1));

    private static SimulatedVm simulated(InMemoryDisk disk) {
        SimulatedVm vm = SimulatedVm.builder(new VirtualTime()).memoryBytes(64L << 20).prefill(0.5)
                .workload(new Workload(WorkloadPattern.RANDOM, 16L << 20, 20L << 20, 0, 5)).disk(disk)
                .diskWorkload(new Workload(WorkloadPattern.HOTCOLD, 16L << 20, 8L << 20, 0, 9)).build();
        vm.start();
        return vm;
    }

    @Test
    void aVirtualTimeRunWithADiskGivesTheSameReportAndTheSameDisksEveryRun() throws Exception {
        MigrationOptions options = MigrationOptions.builder().strategy(Strategy.PRECOPY)
                .downtimeLimit(Duration.ofMillis(30)).build();
        Simulation.Result[] runs = new Simulation.Result[2];
        String[] sourceDigests = new String[2];
        for (int i = 0; i < 2; i++) {
            SimulatedVm vm = simulated(new InMemoryDisk("vda", 64L << 20, BLOCK));
            runs[i] = Simulation.migrate(vm, GBIT, options);
            assertNotNull(runs[i].source(), String.valueOf(runs[i].failure()));
            sourceDigests[i] = vm.disk("vda").digest();
            vm.close();
        }
        MigrationReport first = runs[0].source();
        assertTrue(first.verified());
        assertTrue(first.disks().get(0).blocksPerRound().size() > 2, "dirty-block rounds: " + first.disks());
        assertEquals(Reports.withoutId(first), Reports.withoutId(runs[1].source()),
                "byte for byte the same report, but the id");
        assertEquals(sourceDigests[0], sourceDigests[1], "the same guest writes");
        assertEquals(runs[0].target().disk("vda").digest(), runs[1].target().disk("vda").digest());
        for (Simulation.Result r : runs) {
            r.target().close();
        }
    }

    @Test
    void aVirtualTimeMigrationToAStaleReplicaSendsOnlyWhatWasWrittenSince() throws Exception {
        VirtualTime clock = new VirtualTime();
        SimulatedVm vm = SimulatedVm.builder(clock).memoryBytes(16L << 20).disk("vda", 64L << 20, BLOCK)
                .diskWorkload(new Workload(WorkloadPattern.RANDOM, 0, 8L << 20, 0, 13)).build();
        vm.start();
        clock.sleepNanos(2_000_000_000L);
        InMemoryDisk disk = vm.disk("vda");
        InMemoryDisk replica = disk.syncedReplica("weekly");
        long writesAtReplica = disk.writeCount();
        clock.sleepNanos(250_000_000L);
        Simulation.Result r = Simulation.migrate(vm, GBIT, MigrationOptions.builder().strategy(Strategy.PRECOPY)
                .downtimeLimit(Duration.ofMillis(30)).build(), List.of(replica));
        assertNotNull(r.source(), String.valueOf(r.failure()));
        assertTrue(r.source().verified());
        long writesSince = disk.writeCount() - writesAtReplica;
        long sent = replica.blocksWrittenBySync();
        assertEquals(DiskStats.Sync.CHANGE_LOG, r.source().disks().get(0).sync());
        assertTrue(sent > 0 && sent <= writesSince, sent + " blocks sent for " + writesSince + " written since");
        assertTrue(sent < disk.allocatedBlockCount() / 2, "far fewer than a full copy's " + disk.allocatedBlockCount());
        vm.close();
        r.target().close();
    }
}
