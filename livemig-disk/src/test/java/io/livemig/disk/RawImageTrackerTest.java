package io.livemig.disk;

import static io.livemig.disk.TestImages.BLOCK;
import static io.livemig.disk.TestImages.BLOCKS;
import static io.livemig.disk.TestImages.blocks;
import static io.livemig.disk.TestImages.filled;
import static io.livemig.disk.TestImages.open;
import static io.livemig.disk.TestImages.tracker;
import static io.livemig.disk.TestImages.writeBlock;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.livemig.spi.BlockTracker;
import io.livemig.spi.PageSet;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The live set and the change log of {@link RawImage}'s tracker. */
class RawImageTrackerTest {

    @TempDir
    Path dir;

    @Test
    void writeSetsTheChangeLogBitOfEveryBlockItTouchesAndTheBitsSurviveCloseAndReopen() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            image.beginReplicaOf("g1");
            writeBlock(image, 3, 0x33);
            // 1 KiB straddling blocks 5 and 6; a single 512-byte sector in block 9.
            image.write(6L * BLOCK - 512, filled(1024, 0x56));
            image.write(9L * BLOCK + 1024, filled(512, 0x09));
            assertEquals(Optional.of(blocks(3, 5, 6, 9)), tracker(image).changedSince("g1"));
        }
        try (RawImage image = open(dir, "disk.img")) {
            assertEquals(Optional.of("g1"), tracker(image).generation());
            assertEquals(Optional.of(blocks(3, 5, 6, 9)), tracker(image).changedSince("g1"));
        }
    }

    @Test
    void collectIsFetchAndClearAndAWriteAfterCollectIsCollectedAgain() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            BlockTracker tracker = tracker(image);
            writeBlock(image, 1, 1); // before start: not in the live set
            tracker.start();
            writeBlock(image, 2, 2);
            writeBlock(image, 40, 3);
            assertEquals(blocks(2, 40), tracker.collect());
            assertTrue(tracker.collect().isEmpty(), "a second collect finds nothing written since the first");
            writeBlock(image, 2, 4);
            assertEquals(blocks(2), tracker.collect());
        }
    }

    @Test
    void redirtyPutsBlocksBackIntoTheLiveSet() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            BlockTracker tracker = tracker(image);
            tracker.start();
            writeBlock(image, 7, 7);
            PageSet collected = tracker.collect();
            tracker.redirty(collected);
            writeBlock(image, 8, 8);
            assertEquals(blocks(7, 8), tracker.collect());
        }
    }

    @Test
    void liveTrackingRefusesCollectAndRedirtyUntilStartedAndAfterStop() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            BlockTracker tracker = tracker(image);
            assertThrows(IllegalStateException.class, tracker::collect);
            tracker.start();
            tracker.stop();
            tracker.stop();
            assertThrows(IllegalStateException.class, tracker::collect);
            assertThrows(IllegalStateException.class, () -> tracker.redirty(blocks(1)));
        }
    }

    @Test
    void confirmDoesNotClearABlockWrittenAfterItsCollect() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            BlockTracker tracker = tracker(image);
            tracker.pair("g1");
            tracker.start();
            writeBlock(image, 1, 1);
            writeBlock(image, 2, 2);
            PageSet sent = tracker.collect();
            writeBlock(image, 2, 22); // after the collect, before the confirm
            PageSet all = new PageSet(BLOCKS);
            all.addRange(0, BLOCKS);
            tracker.confirm(all);
            assertEquals(Optional.of(blocks(2)), tracker.changedSince("g1"));
            assertEquals(blocks(2), tracker.collect(), "the live bit stays for the next round");
            assertEquals(blocks(1, 2), sent);
        }
    }

    @Test
    void confirmClearsOnlyTheConfirmedBlocks() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            BlockTracker tracker = tracker(image);
            tracker.pair("g1");
            PageSet confirmed = new PageSet(BLOCKS);
            confirmed.addRange(0, BLOCKS - 2);
            tracker.confirm(confirmed);
            assertEquals(Optional.of(blocks(BLOCKS - 2, BLOCKS - 1)), tracker.changedSince("g1"));
        }
    }

    @Test
    void pairSetsEveryBlockAndPersistsTheGeneration() throws IOException {
        PageSet all = new PageSet(BLOCKS);
        all.addRange(0, BLOCKS);
        try (RawImage image = open(dir, "disk.img")) {
            assertEquals(Optional.empty(), tracker(image).generation(), "a new image has no generation");
            tracker(image).pair("2024-06-01T00:00Z#7");
            assertEquals(Optional.of(all), tracker(image).changedSince("2024-06-01T00:00Z#7"));
        }
        try (RawImage image = open(dir, "disk.img")) {
            assertEquals(Optional.of("2024-06-01T00:00Z#7"), tracker(image).generation());
            assertEquals(Optional.of(all), tracker(image).changedSince("2024-06-01T00:00Z#7"));
        }
    }

    @Test
    void changedSinceAnswersOnlyForTheLogsGeneration() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            assertEquals(Optional.empty(), tracker(image).changedSince("g1"), "no generation yet");
            tracker(image).pair("g1");
            assertTrue(tracker(image).changedSince("g1").isPresent());
            assertEquals(Optional.empty(), tracker(image).changedSince("g0"));
            tracker(image).pair("g2");
            assertEquals(Optional.empty(), tracker(image).changedSince("g1"), "pairing again makes g1 stale");
            assertTrue(tracker(image).changedSince("g2").isPresent());
        }
    }

    @Test
    void changedSinceReturnsACopyTheCallerOwns() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            tracker(image).pair("g1");
            tracker(image).changedSince("g1").orElseThrow().clear();
            assertEquals(BLOCKS, tracker(image).changedSince("g1").orElseThrow().cardinality());
        }
    }

    @Test
    void malformedGenerationsAreRefused() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            BlockTracker tracker = tracker(image);
            assertThrows(IllegalArgumentException.class, () -> tracker.pair(""));
            assertThrows(IllegalArgumentException.class, () -> tracker.pair("x".repeat(65)));
            assertThrows(IllegalArgumentException.class, () -> tracker.pair("line\nbreak"));
            assertThrows(IllegalArgumentException.class, () -> tracker.pair("caf\u00e9"));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> image.beginReplicaOf("x".repeat(65)));
            assertTrue(e.getMessage().contains("1 to 64 printable ASCII"), e.getMessage());
            tracker.pair("x".repeat(64));
            assertEquals(Optional.of("x".repeat(64)), tracker.generation());
        }
    }

    @Test
    void blockSetsOfAnotherSpanAreRefused() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            BlockTracker tracker = tracker(image);
            tracker.start();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> tracker.confirm(new PageSet(BLOCKS + 1)));
            assertTrue(e.getMessage().contains("span the disk's 64 blocks"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> tracker.redirty(new PageSet(1)));
        }
    }
}
