package io.livemig.examples.cli;

import io.livemig.api.MigrationSecret;
import io.livemig.disk.RawImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;

import static io.livemig.examples.cli.DiskCli.BLOCK;
import static io.livemig.examples.cli.DiskCli.differingBlocks;
import static io.livemig.examples.cli.DiskCli.randomBlock;
import static io.livemig.examples.cli.DiskCli.run;
import static io.livemig.examples.cli.DiskCli.syncOk;
import static io.livemig.examples.cli.DiskCli.writeRandomImage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code livemig disk send} and {@code disk receive}, both in this JVM over loopback: a new copy,
 * a replica brought up to date by its change log, a copy of unknown age by digests, and the
 * refusals.
 */
class DiskCommandTest {

    /** 8 MiB: 2048 blocks. */
    private static final long BLOCKS = 2048;
    private static final List<String> CREATE = List.of("--size", "8M");

    @Test
    void aSyncToAMissingFileCreatesAnIdenticalImageSendingOnlyTheNonZeroBlocks(@TempDir Path dir) throws Exception {
        Path source = dir.resolve("source.img");
        Path copy = dir.resolve("copy.img");
        writeRandomImage(source, BLOCKS, 1, 16); // every 16th block zero: 128 of them

        // No --size: the copy is made at the size the source announces.
        DiskCli.Sync sync = syncOk(source, copy, List.of());

        Map<String, Object> sent = sync.source().json();
        assertEquals("new_disk", sent.get("mode"), sent.toString());
        assertEquals(BLOCKS - 128, sync.source().number("blocksSent"));
        assertEquals(0, sync.source().number("zeroBlocksSent"));
        assertEquals(128, sync.source().number("blocksUnchanged"));
        assertEquals("verified", sent.get("verification"));
        assertTrue(sync.source().number("bytesOnWire") > (BLOCKS - 128) * BLOCK, sent.toString());
        assertTrue(sent.containsKey("totalMs"), sent.toString());
        Map<String, Object> received = sync.destination().json();
        assertEquals("destination", received.get("side"));
        assertEquals(BLOCKS - 128, sync.destination().number("blocksSent"), "blocks written at the destination");
        assertEquals(List.of(), differingBlocks(source, copy));
        assertEquals(Files.size(source), Files.size(copy));
    }

    @Test
    void afterAFirstSyncOnlyTheBlocksWrittenThroughTheChangeLogTravel(@TempDir Path dir) throws Exception {
        Path source = dir.resolve("source.img");
        Path replica = dir.resolve("replica.img");
        writeRandomImage(source, BLOCKS, 2, 0);
        syncOk(source, replica, CREATE);

        int k = 37;
        SplittableRandom random = new SplittableRandom(3);
        TreeSet<Long> written = new TreeSet<>();
        try (RawImage image = RawImage.open(source, DiskCommand.DISK_ID, 0)) {
            while (written.size() < k) {
                long block = random.nextLong(BLOCKS);
                if (written.add(block)) {
                    image.write(block * BLOCK, randomBlock(random));
                }
            }
        }
        assertEquals(k, differingBlocks(source, replica).size());

        DiskCli.Sync sync = syncOk(source, replica, List.of());

        assertEquals("change_log", sync.source().json().get("mode"), sync.source().out());
        assertEquals(k, sync.source().number("blocksSent"));
        assertEquals(0, sync.source().number("zeroBlocksSent"));
        assertEquals("verified", sync.source().json().get("verification"));
        assertEquals(List.of(), differingBlocks(source, replica));

        DiskCli.Sync again = syncOk(source, replica, List.of(), "--no-verify");
        assertEquals("change_log", again.source().json().get("mode"));
        assertEquals(0, again.source().number("blocksSent"), "nothing was written since");
        assertEquals("not_checked", again.source().json().get("verification"));
    }

    @Test
    void aStaleCopyWithoutAChangeLogGetsOnlyTheBlocksWhoseDigestDiffers(@TempDir Path dir) throws Exception {
        Path source = dir.resolve("source.img");
        Path stale = dir.resolve("stale.img");
        long blocks = 16384; // 64 MiB: the copy's digests take several frames
        writeRandomImage(source, blocks, 4, 0);
        Files.copy(source, stale);
        // Changed behind any change log: only digests can find these.
        long[] changed = {0, 1, 2, 500, 4095, 4096, 8191, 16383};
        SplittableRandom random = new SplittableRandom(5);
        try (FileChannel file = FileChannel.open(source, StandardOpenOption.WRITE)) {
            for (long block : changed) {
                file.write(randomBlock(random), block * BLOCK);
            }
        }

        DiskCli.Sync sync = syncOk(source, stale, List.of());

        assertEquals("digests", sync.source().json().get("mode"), sync.source().out());
        assertEquals(changed.length, sync.source().number("blocksSent"));
        assertEquals(blocks - changed.length, sync.source().number("blocksUnchanged"));
        assertEquals(List.of(), differingBlocks(source, stale));
        // The copy is now the replica of the source's log: the next sync is a bitmap sync.
        DiskCli.Sync next = syncOk(source, stale, List.of());
        assertEquals("change_log", next.source().json().get("mode"));
        assertEquals(0, next.source().number("blocksSent"));
    }

    @Test
    void aSyncRunsOverMutualTlsWithTheSecretAndAWrongSecretIsRefusedBeforeTheCopyIsCreated(@TempDir Path dir)
            throws Exception {
        Path source = dir.resolve("source.img");
        Path copy = dir.resolve("copy.img");
        writeRandomImage(source, BLOCKS, 9, 0);
        Path pem = ThrowawayPki.create("livemig test CA").writePem(Files.createDirectories(dir.resolve("pki")), false);
        Path secret = Files.writeString(dir.resolve("secret.hex"), MigrationSecret.random().toHex());
        Path wrong = Files.writeString(dir.resolve("wrong.hex"), MigrationSecret.random().toHex());
        List<String> receive = List.of("--size", "8M", "--secret-file", secret.toString(),
                "--tls-cert", pem.resolve("destination.pem").toString(),
                "--tls-key", pem.resolve("destination.key").toString(),
                "--tls-ca", pem.resolve("ca.pem").toString(), "--tls-peer-name", ThrowawayPki.SOURCE_NAME);
        String[] send = {"--tls-cert", pem.resolve("source.pem").toString(),
                "--tls-key", pem.resolve("source.key").toString(),
                "--tls-ca", pem.resolve("ca.pem").toString(), "--tls-peer-name", ThrowawayPki.DESTINATION_NAME};

        DiskCli.Sync refused = DiskCli.sync(source, copy, receive, concat(send, "--secret-file", wrong.toString()));
        assertEquals(1, refused.source().exit(), refused.source().toString());
        assertEquals(1, refused.destination().exit(), refused.destination().toString());
        assertFalse(Files.exists(copy), "a copy created for a sync that wrote nothing is removed");

        DiskCli.Sync sync = syncOk(source, copy, receive, concat(send, "--secret-file", secret.toString()));
        assertEquals("tls", sync.source().json().get("transport"));
        assertEquals("verified", sync.source().json().get("verification"));
        assertEquals(List.of(), differingBlocks(source, copy));
    }

    private static String[] concat(String[] first, String... more) {
        String[] all = java.util.Arrays.copyOf(first, first.length + more.length);
        System.arraycopy(more, 0, all, first.length, more.length);
        return all;
    }

    @Test
    void anExistingCopyOfAnotherSizeIsRefusedInOneLineAndLeftAsItWas(@TempDir Path dir) throws Exception {
        Path source = dir.resolve("source.img");
        Path other = dir.resolve("other.img");
        writeRandomImage(source, BLOCKS, 6, 0);
        writeRandomImage(other, BLOCKS / 2, 7, 0);
        byte[] before = Files.readAllBytes(other);

        DiskCli.Sync sync = DiskCli.sync(source, other, List.of());

        assertNotEquals(0, sync.source().exit(), sync.source().toString());
        assertNotEquals(0, sync.destination().exit(), sync.destination().toString());
        assertEquals(1, sync.destination().err().lines().filter(l -> !l.contains("listening on")).count(),
                sync.destination().err());
        assertTrue(sync.destination().err().contains("does not match"), sync.destination().err());
        assertEquals("failed", sync.source().json().get("status"));
        assertArrayEquals(before, Files.readAllBytes(other), "the copy was changed");
    }

    @Test
    void aBadSizeAndAListenerWithoutTlsOrInsecureAreUsageErrors(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("missing.img");
        DiskCli.Result badSize = run("disk", "receive", "--insecure", "--listen", "127.0.0.1:0", "--image",
                missing.toString(), "--size", "5000", "--json");
        assertEquals(2, badSize.exit());
        assertTrue(badSize.err().contains("4 KiB"), badSize.err());
        assertEquals("refused", badSize.json().get("status"));
        assertFalse(Files.exists(missing));

        DiskCli.Result plain = run("disk", "receive", "--listen", "127.0.0.1:0", "--image", missing.toString(),
                "--size", "8M");
        assertEquals(2, plain.exit());
        assertTrue(plain.err().contains("refusing to listen without TLS"), plain.err());

        DiskCli.Result noImage = run("disk", "send", "--image", missing.toString(), "--to", "127.0.0.1:9");
        assertEquals(2, noImage.exit());
        assertEquals(1, noImage.err().strip().lines().count(), noImage.err());
    }

    @Test
    void aSenderWithNobodyListeningFailsInOneLineAndReleasesItsImage(@TempDir Path dir) throws Exception {
        Path source = dir.resolve("source.img");
        writeRandomImage(source, 16, 8, 0);
        DiskCli.Result result;
        try (java.net.ServerSocket closed = new java.net.ServerSocket(0)) {
            int port = closed.getLocalPort();
            closed.close();
            result = run("disk", "send", "--image", source.toString(), "--to", "127.0.0.1:" + port);
        }
        assertEquals(1, result.exit(), result.toString());
        assertEquals(1, result.err().strip().lines().filter(l -> !l.contains("plain TCP")).count(), result.err());
        // Closed: the image and its change log can be opened again at once.
        try (RawImage image = RawImage.open(source, DiskCommand.DISK_ID, 0)) {
            assertEquals(16, image.descriptor().blockCount());
            ByteBuffer block = ByteBuffer.allocate(BLOCK);
            image.readBlocks(0, 1, block);
        }
    }
}
