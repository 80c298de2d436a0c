package io.livemig.kit;

import io.livemig.spi.BlockDemand;
import io.livemig.spi.PageSet;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Post-copy on an {@link InMemoryDisk}: guest reads wait for missing blocks, whole-block writes supersede them. */
class InMemoryDiskDemandTest {

    private static final int BLOCK = 4096;
    private static final long BLOCKS = 16;
    /** A deadline for what must happen, never a measured time. */
    private static final long DEADLINE_SECONDS = 10;

    private final BlockingQueue<Long> reports = new LinkedBlockingQueue<>();
    private final InMemoryDisk disk = new InMemoryDisk("vda", BLOCKS * BLOCK, BLOCK);

    private static byte[] filled(int value) {
        byte[] b = new byte[BLOCK];
        Arrays.fill(b, (byte) value);
        return b;
    }

    private BlockDemand armed(long... missing) {
        PageSet set = new PageSet(BLOCKS);
        for (long n : missing) {
            set.add(n);
        }
        BlockDemand demand = disk.demand().orElseThrow();
        demand.arm(set, reports::add);
        return demand;
    }

    private CompletableFuture<byte[]> guestRead(long block) {
        CompletableFuture<byte[]> result = new CompletableFuture<>();
        Thread.ofPlatform().name("guest-read").start(() -> {
            try {
                result.complete(disk.read(block));
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        return result;
    }

    private long nextReport() throws InterruptedException {
        Long block = reports.poll(DEADLINE_SECONDS, TimeUnit.SECONDS);
        if (block == null) {
            throw new AssertionError("no block reported");
        }
        return block;
    }

    @Test
    void aGuestReadOfAMissingBlockWaitsForItsInstallAndReadsTheInstalledBytes() throws Exception {
        BlockDemand demand = armed(4, 5);
        CompletableFuture<byte[]> read = guestRead(4);
        assertEquals(4, nextReport());
        assertFalse(read.isDone(), "block 4 is still missing");
        assertEquals(2, demand.install(3, 3, ByteBuffer.wrap(new byte[3 * BLOCK]).put(BLOCK, filled(0x42))));
        assertArrayEquals(filled(0x42), read.get(DEADLINE_SECONDS, TimeUnit.SECONDS));
        assertEquals(0, demand.missingBlocks());
        assertEquals(2, disk.blocksWrittenBySync(), "block 3 was not missing");
        assertNull(reports.poll(), "block 5 was never read");
    }

    @Test
    void aWholeBlockWriteSupersedesTheBlockAndItsLaterInstallIsDropped() throws Exception {
        BlockDemand demand = armed(7);
        CompletableFuture<byte[]> read = guestRead(7);
        assertEquals(7, nextReport());
        disk.write(7, filled(0x13));
        assertArrayEquals(filled(0x13), read.get(DEADLINE_SECONDS, TimeUnit.SECONDS));
        assertEquals(0, demand.install(7, 1, ByteBuffer.wrap(filled(0x99))));
        assertArrayEquals(filled(0x13), disk.read(7));
        assertEquals(0, disk.blocksWrittenBySync());
    }

    @Test
    void theEnginesReadsAndReadsOfPresentBlocksDoNotWait() {
        BlockDemand demand = armed(2);
        ByteBuffer engineRead = ByteBuffer.allocate(BLOCK);
        disk.readBlocks(2, 1, engineRead);
        assertArrayEquals(new byte[BLOCK], engineRead.array());
        assertArrayEquals(new byte[BLOCK], disk.read(1));
        assertNull(reports.poll());
        demand.disarm();
        assertEquals(1, demand.missingBlocks());
    }

    @Test
    void aDiskNeverArmedReadsAtOnce() {
        disk.write(0, filled(1));
        assertArrayEquals(filled(1), disk.read(0));
        assertEquals(0, disk.demand().orElseThrow().missingBlocks());
    }
}
