package io.livemig.kit;

import io.livemig.spi.BlockTracker;
import io.livemig.spi.PageSet;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The in-memory disk: sparse storage, whole-block reads, and the SPI's block tracking to the letter. */
class InMemoryDiskTest {

    private static final int BLOCK = 4096;

    private static InMemoryDisk disk(long blocks) {
        return new InMemoryDisk("vda", blocks * BLOCK, BLOCK);
    }

    private static byte[] filled(int value) {
        byte[] b = new byte[BLOCK];
        Arrays.fill(b, (byte) value);
        return b;
    }

    private static PageSet blocks(long span, long... numbers) {
        PageSet set = new PageSet(span);
        for (long n : numbers) {
            set.add(n);
        }
        return set;
    }

    private static BlockTracker tracker(InMemoryDisk disk) {
        return disk.tracker().orElseThrow();
    }

    @Test
    void aFourGibDiskAllocatesNoBlockUntilWrittenAndUnwrittenBlocksReadAsZeros() {
        InMemoryDisk disk = new InMemoryDisk("big", 4L << 30, BLOCK);
        long last = disk.descriptor().blockCount() - 1;
        assertEquals(1L << 20, last + 1);
        ByteBuffer two = ByteBuffer.allocate(2 * BLOCK);
        disk.readBlocks(last - 1, 2, two);
        assertEquals(2 * BLOCK, two.position());
        assertArrayEquals(new byte[2 * BLOCK], two.array());
        assertEquals(0, disk.allocatedBlockCount());
        assertTrue(disk.startsEmpty());

        disk.write(last, filled(7));
        assertEquals(1, disk.allocatedBlockCount());
        assertArrayEquals(filled(7), disk.read(last));
        disk.write(last, new byte[BLOCK]);
        assertEquals(0, disk.allocatedBlockCount(), "a block written with zeros is not stored");
        assertFalse(disk.startsEmpty(), "once written, a disk no longer starts empty");
    }

    @Test
    void readsAndWritesOutsideTheDiskOrOfTheWrongSizeAreRefused() {
        InMemoryDisk disk = disk(8);
        assertThrows(IndexOutOfBoundsException.class, () -> disk.readBlocks(7, 2, ByteBuffer.allocate(2 * BLOCK)));
        assertThrows(java.nio.BufferOverflowException.class, () -> disk.readBlocks(0, 2, ByteBuffer.allocate(BLOCK)));
        assertThrows(IndexOutOfBoundsException.class, () -> disk.writeBlocks(8, 1, ByteBuffer.allocate(BLOCK)));
        assertThrows(IllegalArgumentException.class, () -> disk.writeBlocks(0, 2, ByteBuffer.allocate(BLOCK)));
        assertThrows(IllegalArgumentException.class, () -> disk.writeBlocks(0, 1, ByteBuffer.allocate(BLOCK + 1)));
        assertThrows(IllegalArgumentException.class, () -> disk.write(0, new byte[BLOCK - 1]));
        assertThrows(IndexOutOfBoundsException.class, () -> disk.write(-1, filled(1)));
        assertEquals(0, disk.blocksWrittenBySync());
    }

    @Test
    void collectIsFetchAndClearOfTheBlocksWrittenSinceStart() {
        InMemoryDisk disk = disk(100);
        BlockTracker t = tracker(disk);
        assertThrows(IllegalStateException.class, t::collect, "not started");
        assertThrows(IllegalStateException.class, () -> t.redirty(new PageSet(100)));
        disk.write(1, filled(1));
        t.start();
        disk.write(3, filled(3));
        disk.write(5, filled(5));
        disk.write(3, filled(4));
        assertEquals(blocks(100, 3, 5), t.collect(), "block 1 was written before start");
        assertTrue(t.collect().isEmpty(), "a collect clears what it returns");
        t.redirty(blocks(100, 5, 9));
        assertEquals(blocks(100, 5, 9), t.collect(), "redirtied blocks come back");
        assertThrows(IllegalArgumentException.class, () -> t.redirty(new PageSet(99)));
    }

    @Test
    void stopEndsLiveTrackingWhileTheChangeLogKeepsRecordingAndStartBeginsEmpty() {
        InMemoryDisk disk = disk(16);
        BlockTracker t = tracker(disk);
        t.start();
        disk.write(2, filled(2));
        t.stop();
        t.stop();
        disk.write(7, filled(7));
        assertThrows(IllegalStateException.class, t::collect);
        assertEquals(blocks(16, 2, 7), disk.changeLog());
        t.start();
        assertTrue(t.collect().isEmpty(), "start clears the live set");
    }

    @Test
    void everyWriteSetsTheChangeLogAndOnlyConfirmClearsIt() {
        InMemoryDisk disk = disk(64);
        BlockTracker t = tracker(disk);
        t.pair("g1");
        t.confirm(PageSet.allOf(io.livemig.spi.MemoryLayout.contiguous(BLOCK, 64L * BLOCK)));
        assertTrue(t.changedSince("g1").orElseThrow().isEmpty());
        t.start();
        disk.write(10, filled(1));
        disk.write(11, filled(1));
        assertEquals(blocks(64, 10, 11), t.collect());
        assertEquals(blocks(64, 10, 11), t.changedSince("g1").orElseThrow(), "a collect leaves the log alone");
        t.stop();
        assertEquals(blocks(64, 10, 11), disk.changeLog(), "so does stop");
        t.confirm(blocks(64, 10));
        assertEquals(blocks(64, 11), t.changedSince("g1").orElseThrow());
        assertEquals(Optional.of("g1"), t.generation());
    }

    @Test
    void confirmLeavesTheBitOfABlockWrittenSinceItWasReported() {
        InMemoryDisk disk = disk(32);
        BlockTracker t = tracker(disk);
        disk.syncedReplica("base");
        t.start();
        disk.write(4, filled(1));
        PageSet collected = t.collect();
        disk.write(4, filled(2));
        t.confirm(collected);
        assertEquals(blocks(32, 4), disk.changeLog(), "written after the collect that reported it");
        assertEquals(blocks(32, 4), t.collect());
        t.confirm(blocks(32, 4));
        assertTrue(disk.changeLog().isEmpty());

        // Without live tracking, the same holds for a block reported by changedSince.
        t.stop();
        disk.write(6, filled(1));
        PageSet reported = t.changedSince("base").orElseThrow();
        assertEquals(blocks(32, 6), reported);
        disk.write(6, filled(3));
        t.confirm(reported);
        assertEquals(blocks(32, 6), disk.changeLog());
        t.confirm(t.changedSince("base").orElseThrow());
        assertTrue(disk.changeLog().isEmpty());
    }

    @Test
    void changedSinceAnswersOnlyForThePairedGenerationAndPairSetsEveryBlock() {
        InMemoryDisk disk = disk(100);
        BlockTracker t = tracker(disk);
        assertEquals(Optional.empty(), t.generation());
        assertEquals(Optional.empty(), t.changedSince("g1"), "a new disk has no generation");
        t.pair("g1");
        assertEquals(Optional.empty(), t.changedSince("g2"));
        assertEquals(100, t.changedSince("g1").orElseThrow().cardinality());
        t.confirm(blocks(100, 0, 1, 2));
        assertEquals(97, t.changedSince("g1").orElseThrow().cardinality());
        t.pair("g2");
        assertEquals(Optional.empty(), t.changedSince("g1"));
        assertEquals(100, t.changedSince("g2").orElseThrow().cardinality());
        assertEquals(Optional.of("g2"), disk.replicaGeneration());
    }

    @Test
    void malformedGenerationsAreRefused() {
        InMemoryDisk disk = disk(4);
        for (String bad : new String[] {"", "x".repeat(65), "tab\t", "\u00e9t\u00e9"}) {
            assertThrows(IllegalArgumentException.class, () -> tracker(disk).pair(bad), bad);
            assertThrows(IllegalArgumentException.class, () -> disk.beginReplicaOf(bad), bad);
        }
        tracker(disk).pair("x".repeat(64));
        tracker(disk).pair(" ~");
    }

    @Test
    void blocksASyncWritesAreCountedButNotTracked() {
        InMemoryDisk disk = disk(16);
        BlockTracker t = tracker(disk);
        disk.beginReplicaOf("g");
        t.start();
        ByteBuffer two = ByteBuffer.allocate(2 * BLOCK);
        two.put(filled(5)).put(filled(6)).flip();
        disk.writeBlocks(3, 2, two);
        assertFalse(two.hasRemaining(), "the source buffer is consumed");
        assertArrayEquals(filled(6), disk.read(4));
        assertTrue(t.collect().isEmpty());
        assertTrue(disk.changeLog().isEmpty());
        assertEquals(2, disk.blocksWrittenBySync());
        assertEquals(0, disk.writeCount());
    }

    @Test
    void beginReplicaOfTakesTheGenerationAndClearsTheLogOnlyWhenItChanges() {
        InMemoryDisk disk = disk(16);
        disk.write(1, filled(1));
        assertEquals(Optional.empty(), disk.replicaGeneration());
        disk.beginReplicaOf("g1");
        assertEquals(Optional.of("g1"), disk.replicaGeneration());
        assertEquals(Optional.of("g1"), tracker(disk).generation());
        assertTrue(disk.changeLog().isEmpty(), "a new pairing");
        disk.write(2, filled(2));
        disk.beginReplicaOf("g1");
        assertEquals(blocks(16, 2), disk.changeLog(), "the same generation: a sync resumed");
        disk.beginReplicaOf("g2");
        assertTrue(disk.changeLog().isEmpty());
    }

    @Test
    void aCopyIsAnIndependentReplicaCarryingTheContentGenerationAndLog() {
        InMemoryDisk disk = disk(16);
        disk.write(1, filled(1));
        tracker(disk).pair("nightly");
        tracker(disk).confirm(blocks(16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14));
        InMemoryDisk copy = disk.copy();
        assertTrue(copy.contentEquals(disk));
        assertEquals(disk.digest(), copy.digest());
        assertEquals(Optional.of("nightly"), copy.replicaGeneration());
        assertEquals(blocks(16, 15), copy.changeLog());
        assertEquals(0, copy.writeCount());
        assertFalse(copy.startsEmpty());

        disk.write(2, filled(2));
        assertFalse(copy.contentEquals(disk));
        assertNotEquals(disk.digest(), copy.digest());
        assertEquals(blocks(16, 2), disk.differingBlocks(copy));
        assertArrayEquals(new byte[BLOCK], copy.read(2), "the copy does not see later writes");
        assertEquals(blocks(16, 15), copy.changeLog());
    }

    @Test
    void aSyncedReplicaLeavesOnlyTheBlocksWrittenSinceToSend() {
        InMemoryDisk disk = disk(1024);
        for (int b = 0; b < 1024; b += 3) {
            disk.write(b, filled(b));
        }
        InMemoryDisk replica = disk.syncedReplica("r1");
        assertTrue(replica.contentEquals(disk));
        assertTrue(tracker(disk).changedSince("r1").orElseThrow().isEmpty());
        disk.write(5, filled(9));
        disk.write(900, filled(9));
        disk.write(5, filled(10));
        PageSet changed = tracker(disk).changedSince("r1").orElseThrow();
        assertEquals(blocks(1024, 5, 900), changed);
        assertEquals(changed, disk.differingBlocks(replica));
        assertEquals(Optional.of("r1"), replica.replicaGeneration());
    }

    @Test
    void digestsCompareContentOnlyAndAZeroWriteEqualsNoWrite() {
        InMemoryDisk a = new InMemoryDisk("a", 64L * BLOCK, BLOCK);
        InMemoryDisk b = new InMemoryDisk("b", 64L * BLOCK, BLOCK);
        b.write(3, new byte[BLOCK]);
        assertEquals(a.digest(), b.digest(), "ids aside, both are all zero");
        assertTrue(a.contentEquals(b));
        a.write(3, filled(1));
        assertNotEquals(a.digest(), b.digest());
        b.write(3, filled(1));
        assertEquals(a.digest(), b.digest());
        InMemoryDisk bigger = new InMemoryDisk("a", 128L * BLOCK, BLOCK);
        assertFalse(a.contentEquals(bigger));
        assertNotEquals(new InMemoryDisk("a", 64L * BLOCK, BLOCK).digest(), bigger.digest());
        assertThrows(IllegalArgumentException.class, () -> a.differingBlocks(bigger));
    }

    @Test
    void aReadNeverSeesAHalfWrittenBlock() throws Exception {
        InMemoryDisk disk = disk(4);
        AtomicBoolean done = new AtomicBoolean();
        Thread writer = Thread.ofPlatform().start(() -> {
            for (int i = 1; i <= 20_000; i++) {
                disk.write(i & 3, filled(i));
            }
            done.set(true);
        });
        AtomicReference<String> torn = new AtomicReference<>();
        ByteBuffer all = ByteBuffer.allocate(4 * BLOCK);
        int reads = 0;
        while (!done.get() || reads == 0) {
            all.clear();
            disk.readBlocks(0, 4, all);
            for (int b = 0; b < 4; b++) {
                byte first = all.get(b * BLOCK);
                for (int i = 1; i < BLOCK; i++) {
                    if (all.get(b * BLOCK + i) != first) {
                        torn.compareAndSet(null, "block " + b + " byte " + i + " after " + reads + " reads");
                    }
                }
            }
            reads++;
        }
        writer.join();
        assertNull(torn.get());
    }
}
