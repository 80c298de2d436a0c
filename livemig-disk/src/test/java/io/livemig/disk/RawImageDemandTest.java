package io.livemig.disk;

import static io.livemig.disk.TestImages.BLOCK;
import static io.livemig.disk.TestImages.blocks;
import static io.livemig.disk.TestImages.filled;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.livemig.spi.BlockDemand;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Post-copy on a {@link RawImage}: guest requests wait for missing blocks, installs fill only those. */
class RawImageDemandTest {

    /** A deadline for what must happen, never a measured time. */
    private static final long DEADLINE_SECONDS = 10;

    @TempDir
    Path dir;

    private final BlockingQueue<Long> reports = new LinkedBlockingQueue<>();

    /** Runs {@code request} on a platform thread of its own, as a guest request would. */
    private static <T> CompletableFuture<T> request(Supplier<T> request) {
        return CompletableFuture.supplyAsync(request, task -> Thread.ofPlatform().name("guest-request").start(task));
    }

    private long nextReport() throws InterruptedException {
        Long block = reports.poll(DEADLINE_SECONDS, TimeUnit.SECONDS);
        if (block == null) {
            throw new AssertionError("no block reported");
        }
        return block;
    }

    private BlockDemand armed(RawImage image, long... missing) {
        BlockDemand demand = image.demand().orElseThrow();
        demand.arm(blocks(missing), reports::add);
        return demand;
    }

    private static byte[] guestRead(RawImage image, long offsetBytes, int lengthBytes) {
        ByteBuffer into = ByteBuffer.allocate(lengthBytes);
        image.read(offsetBytes, into);
        return into.array();
    }

    private static byte[] bytes(int length, int value) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return b;
    }

    @Test
    void aGuestReadOfAMissingBlockWaitsForItsInstallAndReadsTheInstalledBytes() throws Exception {
        try (RawImage image = TestImages.open(dir, "disk.img")) {
            BlockDemand demand = armed(image, 2);
            CompletableFuture<byte[]> read = request(() -> guestRead(image, BLOCK, 2 * BLOCK));
            assertEquals(2, nextReport());
            assertFalse(read.isDone(), "block 2 is still missing");
            assertEquals(1, demand.install(2, 1, filled(BLOCK, 0x5A)));
            byte[] expected = new byte[2 * BLOCK];
            Arrays.fill(expected, BLOCK, 2 * BLOCK, (byte) 0x5A);
            assertArrayEquals(expected, read.get(DEADLINE_SECONDS, TimeUnit.SECONDS));
            assertEquals(0, demand.missingBlocks());
        }
    }

    @Test
    void aWholeBlockGuestWriteSupersedesTheBlockAndItsLaterInstallIsDropped() throws Exception {
        try (RawImage image = TestImages.open(dir, "disk.img")) {
            BlockDemand demand = armed(image, 3, 4);
            image.write(3 * BLOCK, filled(BLOCK, 0x11)); // block 3 whole: no wait
            assertEquals(1, demand.missingBlocks());
            assertEquals(1, demand.install(3, 2, ByteBuffer.wrap(bytes(2 * BLOCK, 0x22))), "only block 4 installed");
            assertArrayEquals(bytes(BLOCK, 0x11), guestRead(image, 3 * BLOCK, BLOCK));
            assertArrayEquals(bytes(BLOCK, 0x22), guestRead(image, 4 * BLOCK, BLOCK));
            assertEquals(0, demand.install(3, 2, ByteBuffer.wrap(bytes(2 * BLOCK, 0x33))));
            assertNull(reports.poll(), "no request waited");
        }
    }

    @Test
    void aPartialGuestWriteWaitsForTheBlockThenMergesIntoIt() throws Exception {
        try (RawImage image = TestImages.open(dir, "disk.img")) {
            BlockDemand demand = armed(image, 5);
            CompletableFuture<Void> write = request(() -> {
                image.write(5L * BLOCK + 512, filled(512, 0x77));
                return null;
            });
            assertEquals(5, nextReport());
            assertFalse(write.isDone(), "block 5 is still missing");
            assertEquals(1, demand.install(5, 1, filled(BLOCK, 0x44)));
            write.get(DEADLINE_SECONDS, TimeUnit.SECONDS);
            byte[] expected = bytes(BLOCK, 0x44);
            Arrays.fill(expected, 512, 1024, (byte) 0x77);
            assertArrayEquals(expected, guestRead(image, 5L * BLOCK, BLOCK));
        }
    }

    @Test
    void aWriteSpanningBlocksWaitsForItsPartialEdgesAndSupersedesTheWholeMiddle() throws Exception {
        try (RawImage image = TestImages.open(dir, "disk.img")) {
            BlockDemand demand = armed(image, 10, 11, 12);
            CompletableFuture<Void> write = request(() -> {
                image.write(10L * BLOCK + 1024, filled(2 * BLOCK, 0x66)); // 10 in part, 11 whole, 12 in part
                return null;
            });
            assertEquals(10, nextReport());
            assertEquals(1, demand.install(10, 1, filled(BLOCK, 0x01)));
            assertEquals(12, nextReport());
            assertEquals(1, demand.install(12, 1, filled(BLOCK, 0x02)));
            write.get(DEADLINE_SECONDS, TimeUnit.SECONDS);
            assertEquals(0, demand.missingBlocks(), "block 11 was written whole");
            assertEquals(0, demand.install(11, 1, filled(BLOCK, 0x03)));
            byte[] expected = new byte[3 * BLOCK];
            Arrays.fill(expected, 0, BLOCK, (byte) 0x01);
            Arrays.fill(expected, 2 * BLOCK, 3 * BLOCK, (byte) 0x02);
            Arrays.fill(expected, 1024, 2 * BLOCK + 1024, (byte) 0x66);
            assertArrayEquals(expected, guestRead(image, 10L * BLOCK, 3 * BLOCK));
            assertNull(reports.poll(), "block 11 was never reported");
        }
    }

    @Test
    void installWritesOnlyMissingBlocksAndSetsNoChangeLogBit() throws IOException {
        try (RawImage image = TestImages.open(dir, "disk.img")) {
            image.writeBlocks(0, 4, ByteBuffer.wrap(bytes(4 * BLOCK, 0x09)));
            image.beginReplicaOf("gen-1");
            BlockDemand demand = armed(image, 1, 3);
            assertEquals(2, demand.install(0, 4, ByteBuffer.wrap(bytes(4 * BLOCK, 0x0A))));
            ByteBuffer all = ByteBuffer.allocate(4 * BLOCK);
            image.readBlocks(0, 4, all);
            for (int block = 0; block < 4; block++) {
                assertEquals(block % 2 == 1 ? 0x0A : 0x09, all.get(block * BLOCK), "block " + block);
            }
            assertEquals(Optional.of("gen-1"), image.replicaGeneration(), "an install is a sync's write");
            assertThrows(IllegalArgumentException.class, () -> demand.install(0, 2, filled(BLOCK, 1)));
            assertThrows(IndexOutOfBoundsException.class,
                    () -> demand.install(TestImages.BLOCKS - 1, 2, filled(2 * BLOCK, 1)));
        }
    }

    @Test
    void readBlocksAndRequestsOffTheMissingBlocksDoNotWait() throws IOException {
        try (RawImage image = TestImages.open(dir, "disk.img")) {
            armed(image, 7);
            image.readBlocks(7, 1, ByteBuffer.allocate(BLOCK)); // the engine's own read
            assertArrayEquals(new byte[BLOCK], guestRead(image, 6 * BLOCK, BLOCK));
            image.write(8 * BLOCK, filled(BLOCK, 1));
            assertNull(reports.poll());
        }
    }

    @Test
    void closingTheImageFailsTheRequestsWaitingOnAMissingBlock() throws Exception {
        RawImage image = TestImages.open(dir, "disk.img");
        armed(image, 0);
        CompletableFuture<byte[]> read = request(() -> guestRead(image, 0, 512));
        assertEquals(0, nextReport());
        image.close();
        ExecutionException failed = assertThrows(ExecutionException.class,
                () -> read.get(DEADLINE_SECONDS, TimeUnit.SECONDS));
        assertEquals(IllegalStateException.class, failed.getCause().getClass());
    }
}
