package io.livemig.disk;

import static io.livemig.disk.TestImages.BLOCK;
import static io.livemig.disk.TestImages.BLOCKS;
import static io.livemig.disk.TestImages.blocks;
import static io.livemig.disk.TestImages.open;
import static io.livemig.disk.TestImages.readAll;
import static io.livemig.disk.TestImages.tracker;
import static io.livemig.disk.TestImages.writeBlock;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.livemig.spi.BlockTracker;
import io.livemig.spi.PageSet;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The destination side: {@link RawImage} as a {@link io.livemig.spi.DiskSink} and a replica. */
class ReplicaTest {

    @TempDir
    Path dir;

    @Test
    void beginReplicaOfRecordsTheGenerationDurablyAndClearsTheLog() throws IOException {
        try (RawImage replica = open(dir, "replica.img")) {
            assertEquals(Optional.empty(), replica.replicaGeneration(), "a new image is nobody's replica");
            tracker(replica).pair("old");
            replica.beginReplicaOf("g1");
            assertEquals(Optional.of("g1"), replica.replicaGeneration());
            assertEquals(Optional.of(new PageSet(BLOCKS)), tracker(replica).changedSince("g1"));
        }
        try (RawImage replica = open(dir, "replica.img")) {
            assertEquals(Optional.of("g1"), replica.replicaGeneration());
        }
    }

    @Test
    void writeBlocksSetsNeitherChangeLogNorLiveBits() throws IOException {
        try (RawImage replica = open(dir, "replica.img")) {
            replica.beginReplicaOf("g1");
            BlockTracker tracker = tracker(replica);
            tracker.start();
            replica.writeBlocks(4, 2, TestImages.filled(2 * BLOCK, 0x44));
            replica.flush();
            assertTrue(tracker.collect().isEmpty());
            assertEquals(Optional.of(new PageSet(BLOCKS)), tracker.changedSince("g1"));
            assertEquals(Optional.of("g1"), replica.replicaGeneration());
            ByteBuffer back = ByteBuffer.allocate(2 * BLOCK);
            replica.readBlocks(4, 2, back);
            assertArrayEquals(TestImages.filled(2 * BLOCK, 0x44).array(), back.array());
        }
    }

    @Test
    void aReplicaWrittenSinceItsSyncReportsNoReplicaGeneration() throws IOException {
        try (RawImage replica = open(dir, "replica.img")) {
            replica.beginReplicaOf("g1");
            writeBlock(replica, 9, 9); // a VM ran on it
            assertEquals(Optional.empty(), replica.replicaGeneration());
            assertEquals(Optional.of("g1"), tracker(replica).generation(), "as a source it still pairs with g1");
            assertEquals(Optional.of(blocks(9)), tracker(replica).changedSince("g1"));
            replica.beginReplicaOf("g1"); // a digest sync into it makes it equal to the source again
            assertEquals(Optional.of("g1"), replica.replicaGeneration());
        }
    }

    @Test
    void aSyncBackSendsOnlyTheBlocksWrittenOnTheReplica() throws IOException {
        try (RawImage a = open(dir, "a.img"); RawImage b = open(dir, "b.img")) {
            for (int block = 0; block < BLOCKS; block++) {
                writeBlock(a, block, block);
            }
            // A -> B, a first sync: pair, send what changedSince reports, flush, confirm.
            tracker(a).pair("N");
            b.beginReplicaOf("N");
            PageSet sent = copy(a, b, tracker(a).changedSince("N").orElseThrow());
            assertEquals(BLOCKS, sent.cardinality());
            assertEquals(Optional.of(new PageSet(BLOCKS)), tracker(a).changedSince("N"), "every block confirmed");
            assertArrayEquals(readAll(a), readAll(b));

            // The VM runs on B and writes two blocks; B -> A sends only those.
            writeBlock(b, 10, 0xB1);
            writeBlock(b, 11, 0xB2);
            assertEquals(Optional.of("N"), a.replicaGeneration());
            PageSet back = tracker(b).changedSince(a.replicaGeneration().orElseThrow()).orElseThrow();
            assertEquals(blocks(10, 11), back);
            a.beginReplicaOf("N");
            copy(b, a, back);
            assertArrayEquals(readAll(b), readAll(a));
            assertEquals(Optional.of(new PageSet(BLOCKS)), tracker(b).changedSince("N"));
        }
    }

    /** Copies {@code blocks} from {@code source} to {@code sink} as the engine does, then confirms them. */
    private static PageSet copy(RawImage source, RawImage sink, PageSet blocks) {
        ByteBuffer buffer = ByteBuffer.allocate(BLOCK);
        for (long block = blocks.nextSetBit(0); block >= 0; block = blocks.nextSetBit(block + 1)) {
            buffer.clear();
            source.readBlocks(block, 1, buffer);
            sink.writeBlocks(block, 1, buffer.flip());
        }
        sink.flush();
        tracker(source).confirm(blocks);
        return blocks;
    }
}
