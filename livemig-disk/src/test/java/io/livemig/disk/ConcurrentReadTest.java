package io.livemig.disk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.livemig.spi.BlockTracker;
import io.livemig.spi.PageSet;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link RawImage#readBlocks} while the guest writes: every block read is whole. */
class ConcurrentReadTest {

    private static final int BLOCK = 65536;
    private static final int BLOCKS = 8;
    private static final int READS = 400;

    @TempDir
    Path dir;

    @Test
    void readBlocksNeverSeesAHalfWrittenBlockUnderConcurrentWrites() throws Exception {
        try (RawImage image = RawImage.open(dir.resolve("disk.img"), "vda", (long) BLOCKS * BLOCK, BLOCK,
                () -> TestImages.BOOT)) {
            BlockTracker tracker = image.tracker().orElseThrow();
            tracker.start();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong writes = new AtomicLong();
            Thread writer = Thread.ofPlatform().name("guest-writer").start(() -> {
                byte[] data = new byte[2 * BLOCK];
                int value = 0;
                while (!stop.get()) {
                    value = (value + 1) & 0xFF;
                    Arrays.fill(data, (byte) value);
                    long block = value % (BLOCKS - 1);
                    image.write(block * BLOCK, ByteBuffer.wrap(data)); // two whole blocks, one request
                    writes.incrementAndGet();
                }
            });
            PageSet written = new PageSet(BLOCKS);
            try {
                ByteBuffer all = ByteBuffer.allocate(BLOCKS * BLOCK);
                for (int read = 0; read < READS; read++) {
                    all.clear();
                    image.readBlocks(0, BLOCKS, all);
                    for (int block = 0; block < BLOCKS; block++) {
                        byte first = all.get(block * BLOCK);
                        for (int i = 1; i < BLOCK; i++) {
                            if (all.get(block * BLOCK + i) != first) {
                                fail("block " + block + " read " + read + " is torn: byte 0 is " + first
                                        + ", byte " + i + " is " + all.get(block * BLOCK + i));
                            }
                        }
                    }
                    written.addAll(tracker.collect());
                }
            } finally {
                stop.set(true);
                writer.join();
            }
            written.addAll(tracker.collect());
            assertTrue(writes.get() > 0);
            assertEquals(Math.min(writes.get() + 1, BLOCKS), written.cardinality(),
                    "every block the writer touched was collected");
        }
    }
}
