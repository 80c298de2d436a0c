package io.livemig.kvm;

import io.livemig.api.DiskStats;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.LinkShape;
import io.livemig.kit.ResumeHookTarget;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A KVM guest that keeps writing its 1 GiB disk migrates with its disk: the destination's image
 * equals the source's at the pause, block for block, and the guest's whole-disk check, which
 * compares every block with what the guest wrote, keeps passing at the destination.
 *
 * <p>The source stays paused after the handover, so its image is the image at the pause; the
 * destination's image changes once its guest runs. The destination image's block tracker is
 * started just before that (the engine's writes set no bit), so the blocks the guest wrote there
 * are known: every other block must equal the source's. (Comparing both files inside the resume
 * would put seconds of reading into the downtime.)
 */
class KvmDiskMigrationTest {

    private static final long DISK_BYTES = 1L << 30;
    private static final long DISK_RATE = 20L << 20;
    private static final int CHUNK_BYTES = 1 << 20;

    @ParameterizedTest
    @EnumSource(value = Strategy.class, names = {"PRECOPY", "POSTCOPY"})
    void aGuestWritingItsDiskMovesWithItAndItsDiskCheckPassesThere(Strategy strategy, @TempDir Path dir)
            throws Exception {
        Path sourceImage = dir.resolve("source.img");
        Path targetImage = dir.resolve("target.img");
        try (KvmGuest source = new KvmGuest(KvmTestSupport.runningDiskDirtier(sourceImage, DISK_BYTES, DISK_RATE,
                64L << 20, 1000))) {
            assertTrue(eventually(Duration.ofSeconds(20), () -> KvmTestSupport.diskChecksPassed(source.vmm()) >= 1),
                    source.vmm().consoleTail());
            // The source is paused from the switchover on: when the destination resumes, the
            // source's image is the image at the pause, and the destination's has not been written.
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(512L << 20, Duration.ZERO),
                    TimeSource.system());
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = pair.destination()) {
                    return LiveMigration.receive(ch, d -> {
                        KvmGuest guest = new KvmGuest(MicroVmm.builder().memoryBytes(d.memoryLayout().memoryBytes())
                                .disk(KvmProvider.openTargetImage(targetImage, d.disks().get(0))).build());
                        return new ResumeHookTarget<>(guest, g -> g.disks().get(0).tracker().orElseThrow().start());
                    }, MigrationOptions.defaults());
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }, task -> Thread.ofPlatform().start(task));
            MigrationReport report;
            try (Channel ch = pair.source()) {
                report = LiveMigration.migrate(source, ch, MigrationOptions.builder().strategy(strategy)
                        .downtimeLimit(Duration.ofMillis(100)).build());
            }
            ReceivedMigration dest = received.get(60, TimeUnit.SECONDS);
            try (MigrationTarget target = dest.target()) {
                assertTrue(report.verified(), report.toString());
                assertEquals(DISK_BYTES / 4096, report.verification().checkedBlocks(), report.toString());
                DiskStats disk = report.disks().get(0);
                assertTrue(disk.blocksSent() > 0, disk.toString());
                KvmGuest guest = (KvmGuest) ((ResumeHookTarget<?>) target).target();
                MicroVmm destination = guest.vmm();
                KvmTestSupport.diskChecksPassed(source.vmm()); // fails on a "disk FAILED" line
                // The number of the source's last check (the console tail may have lost the first lines).
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("disk ok (\\d+)")
                        .matcher(source.vmm().consoleTail());
                int before = 0;
                while (m.find()) {
                    before = Integer.parseInt(m.group(1));
                }
                // Waits for the whole line: the console may be read while "disk ok N" is still being written.
                String next = "disk ok " + (before + 1) + " ";
                assertTrue(eventually(Duration.ofSeconds(30), () -> destination.consoleTail().contains(next)),
                        "the guest's disk checks did not continue from " + before + ": " + destination.consoleTail());
                KvmTestSupport.diskChecksPassed(destination); // fails on a "disk FAILED" line
                assertTrue(destination.disk().orElseThrow().counters().bytesWritten() > 0,
                        "the guest wrote nothing to its disk at the destination");
                destination.pause();
                PageSet writtenSinceResume = guest.disks().get(0).tracker().orElseThrow().collect();
                long differs = firstDifferentBlock(sourceImage, targetImage, writtenSinceResume);
                assertEquals(-1, differs, "block " + differs + " of the destination's image differs from the source's "
                        + "at the pause, and the guest there did not write it");
            }
        }
    }

    /** @return the first 4 KiB block outside {@code skip} where the two images differ, or -1 */
    private static long firstDifferentBlock(Path a, Path b, PageSet skip) {
        try (FileChannel x = FileChannel.open(a, StandardOpenOption.READ);
             FileChannel y = FileChannel.open(b, StandardOpenOption.READ)) {
            if (x.size() != y.size()) {
                return 0;
            }
            ByteBuffer bx = ByteBuffer.allocateDirect(CHUNK_BYTES);
            ByteBuffer by = ByteBuffer.allocateDirect(CHUNK_BYTES);
            for (long at = 0; at < x.size(); at += CHUNK_BYTES) {
                readFully(x, bx.clear(), at);
                readFully(y, by.clear(), at);
                bx.flip();
                by.flip();
                for (int block = 0; block < CHUNK_BYTES / 4096; block++) {
                    long number = at / 4096 + block;
                    if (!skip.contains(number)
                            && bx.slice(block * 4096, 4096).mismatch(by.slice(block * 4096, 4096)) >= 0) {
                        return number;
                    }
                }
            }
            return -1;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer into, long at) throws IOException {
        while (into.hasRemaining() && ch.read(into, at + into.position()) > 0) {
            // until the chunk is full or the file ends
        }
    }
}
