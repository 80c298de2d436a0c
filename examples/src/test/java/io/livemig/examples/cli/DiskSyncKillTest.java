package io.livemig.examples.cli;

import io.livemig.disk.RawImage;
import io.livemig.spi.PageSet;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.livemig.examples.cli.DiskCli.BLOCK;
import static io.livemig.examples.cli.DiskCli.differingBlocks;
import static io.livemig.examples.cli.DiskCli.randomBlock;
import static io.livemig.examples.cli.DiskCli.readBlock;
import static io.livemig.examples.cli.DiskCli.syncOk;
import static io.livemig.examples.cli.DiskCli.writeRandomImage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 14's "done when": the receiver is killed (SIGKILL, a separate JVM) in the middle of a sync
 * of a 256 MiB image of random content; then no block that differs between the two images has left
 * the source's change log (none was cleared without the destination confirming it), and the next
 * sync makes both images identical, sending only blocks the change log holds.
 *
 * <p>The sender runs in this JVM with a bandwidth cap, so that the sync lasts seconds; the kill
 * comes once the receiver has written a watched block, and the test checks by content, after the
 * kill, that the sync was indeed cut short.
 */
class DiskSyncKillTest {

    /** 256 MiB. */
    private static final long BLOCKS = 65536;

    /**
     * @param firstSync true: the receiver is killed during the first sync, into a new file; false:
     *                  during a sync of blocks written through the change log after a first,
     *                  complete sync
     */
    @ParameterizedTest(name = "killed during the first sync: {0}")
    @ValueSource(booleans = {true, false})
    void killingTheReceiverMidSyncLosesNoBlockFromTheChangeLogAndTheNextSyncCompletesIt(boolean firstSync,
            @TempDir Path dir) throws Exception {
        Path source = dir.resolve("source.img");
        Path copy = dir.resolve("copy.img");
        writeRandomImage(source, BLOCKS, 11, 0);
        TreeSet<Long> changed = new TreeSet<>();
        long bandwidth;
        if (firstSync) {
            for (long b = 0; b < BLOCKS; b++) {
                changed.add(b);
            }
            bandwidth = 64L << 20; // 4 s for the whole image
        } else {
            syncOk(source, copy, List.of("--size", "256M"), "--no-verify");
            SplittableRandom random = new SplittableRandom(12);
            try (RawImage image = RawImage.open(source, DiskCommand.DISK_ID, 0)) {
                while (changed.size() < 8192) { // 32 MiB
                    long block = random.nextLong(BLOCKS);
                    if (changed.add(block)) {
                        image.write(block * BLOCK, randomBlock(random));
                    }
                }
            }
            bandwidth = 16L << 20; // 2 s for the changed blocks
        }
        // Watched: a changed block an eighth of the way through the sync; the last changed block
        // must still be unwritten after the kill, or the sync was not cut short.
        long watched = new ArrayList<>(changed).get(changed.size() / 8);
        long last = changed.last();
        ByteBuffer watchedContent = readBlock(source, watched);
        ByteBuffer lastContent = readBlock(source, last);

        Process receiver = receiverProcess(dir, copy, firstSync);
        CompletableFuture<DiskCli.Result> sender = new CompletableFuture<>();
        try {
            int port = CliProcess.awaitPort(receiver);
            Thread.ofPlatform().name("disk-send").start(() -> {
                try {
                    sender.complete(DiskCli.run("disk", "send", "--image", source.toString(), "--to",
                            "127.0.0.1:" + port, "--bandwidth", Long.toString(bandwidth), "--json"));
                } catch (Throwable t) {
                    sender.completeExceptionally(t);
                }
            });
            while (!readBlock(copy, watched).equals(watchedContent)) {
                assertTrue(receiver.isAlive(), "the receiver exited before the watched block arrived");
                Thread.sleep(5);
            }
            receiver.destroyForcibly(); // SIGKILL
            assertTrue(receiver.waitFor(30, TimeUnit.SECONDS));
        } finally {
            receiver.destroyForcibly();
        }
        DiskCli.Result cut = sender.get(60, TimeUnit.SECONDS);
        assertEquals(1, cut.exit(), "the sender did not see the sync fail: " + cut);
        assertFalse(readBlock(copy, last).equals(lastContent), "the sync was not cut short: the last block arrived");

        List<Long> differ = differingBlocks(source, copy);
        assertFalse(differ.isEmpty());
        long logged;
        try (RawImage dst = RawImage.open(copy, DiskCommand.DISK_ID, 0);
             RawImage src = RawImage.open(source, DiskCommand.DISK_ID, 0)) {
            String generation = dst.replicaGeneration().orElseThrow(
                    () -> new AssertionError("the copy holds no generation after the first block was written"));
            PageSet log = src.tracker().orElseThrow().changedSince(generation).orElseThrow(
                    () -> new AssertionError("the source's log is not paired with the copy's generation"));
            for (long block : differ) {
                assertTrue(log.contains(block), "block " + block + " differs but left the source's change log");
            }
            logged = log.cardinality();
        }
        assertTrue(logged <= changed.size(), logged + " blocks logged, " + changed.size() + " written since the sync");

        DiskCli.Sync resync = syncOk(source, copy, List.of());
        assertEquals("change_log", resync.source().json().get("mode"), resync.source().out());
        long sent = resync.source().number("blocksSent") + resync.source().number("zeroBlocksSent");
        assertEquals(logged, sent, "the resync sends the change log, no more");
        assertTrue(sent <= changed.size(), sent + " blocks sent, " + changed.size() + " written since the last sync");
        assertEquals("verified", resync.source().json().get("verification"));
        assertEquals(List.of(), differingBlocks(source, copy));
    }

    /** {@code livemig disk receive} in a JVM of its own, as KvmTwoProcessTest starts the command line. */
    private static Process receiverProcess(Path dir, Path copy, boolean create) throws Exception {
        List<String> args = new ArrayList<>(List.of("disk", "receive", "--insecure", "--listen", "127.0.0.1:0",
                "--image", copy.toString(), "--json"));
        if (create) {
            args.addAll(List.of("--size", "256M"));
        }
        return CliProcess.start(dir.resolve("receive.out"), args.toArray(String[]::new));
    }
}
