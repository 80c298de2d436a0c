package io.livemig.disk;

import static io.livemig.disk.TestImages.BLOCK;
import static io.livemig.disk.TestImages.BLOCKS;
import static io.livemig.disk.TestImages.filled;
import static io.livemig.disk.TestImages.open;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.livemig.spi.DiskDescriptor;
import java.io.IOException;
import java.nio.BufferOverflowException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Opening, guest I/O, block I/O and their validation. */
class RawImageIoTest {

    @TempDir
    Path dir;

    @Test
    void openCreatesAnImageOfTheGivenSizeAndThenOpensItAtItsSize() throws IOException {
        Path path = dir.resolve("disk.img");
        try (RawImage image = open(dir, "disk.img")) {
            assertTrue(image.wasCreated());
            assertEquals(path, image.path());
            assertEquals(new DiskDescriptor("vda", (long) BLOCKS * BLOCK, BLOCK), image.descriptor());
            assertEquals((long) BLOCKS * BLOCK, Files.size(path));
            assertTrue(Files.exists(dir.resolve("disk.img.dsync")));
        }
        try (RawImage image = RawImage.open(path, "vda", 0)) {
            assertFalse(image.wasCreated());
            assertEquals((long) BLOCKS * BLOCK, image.descriptor().sizeBytes());
            assertEquals(RawImage.DEFAULT_BLOCK_SIZE_BYTES, image.descriptor().blockSizeBytes());
        }
        try (RawImage image = RawImage.open(path, "vda", (long) BLOCKS * BLOCK)) {
            assertFalse(image.wasCreated(), "the same size as the existing image is accepted");
        }
    }

    @Test
    void aFourGibImageIsCreatedSparseAndReadsAsZeros() throws IOException {
        long size = 4L << 30;
        try (RawImage image = RawImage.open(dir.resolve("big.img"), "vdb", size)) {
            assertEquals(size / 4096, image.descriptor().blockCount());
            ByteBuffer last = ByteBuffer.allocate(4096);
            image.readBlocks(image.descriptor().blockCount() - 1, 1, last);
            assertArrayEquals(new byte[4096], last.array());
        }
        assertEquals(size, Files.size(dir.resolve("big.img")));
    }

    @Test
    void openRefusesAMissingImageWithoutASizeAndAMismatchedSize() throws IOException {
        Path path = dir.resolve("disk.img");
        NoSuchFileException missing = assertThrows(NoSuchFileException.class, () -> RawImage.open(path, "vda", 0));
        assertTrue(missing.getMessage().contains("no size given"), missing.getMessage());
        assertFalse(Files.exists(path));
        open(dir, "disk.img").close();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> RawImage.open(path, "vda", 2L * BLOCKS * BLOCK));
        assertTrue(e.getMessage().contains("exists with 262144 bytes, not the 524288"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> RawImage.open(path, "vda", -1));
    }

    @Test
    void openRefusesABadGeometryWithoutCreatingAFile() {
        Path path = dir.resolve("odd.img");
        assertThrows(IllegalArgumentException.class, () -> RawImage.open(path, "vda", 4096 + 512));
        assertThrows(IllegalArgumentException.class, () -> RawImage.open(path, "vda", 8192, 3000));
        assertThrows(IllegalArgumentException.class, () -> RawImage.open(path, " ", 8192));
        assertFalse(Files.exists(path));
    }

    @Test
    void anImageOpenTwiceIsRefused() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            IOException e = assertThrows(IOException.class, () -> open(dir, "disk.img"));
            assertTrue(e.getMessage().contains(image.path() + ".dsync is already open"), e.getMessage());
        }
        open(dir, "disk.img").close(); // released by close
    }

    @Test
    void guestWritesAreReadBackAndAdvanceTheBuffers() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            ByteBuffer source = filled(1536, 0x5A);
            long offset = 3L * BLOCK - 512; // three sectors across blocks 2 and 3
            image.write(offset, source);
            assertFalse(source.hasRemaining());
            ByteBuffer back = ByteBuffer.allocate(2048);
            image.read(offset - 512, back);
            assertFalse(back.hasRemaining());
            byte[] expected = new byte[2048];
            java.util.Arrays.fill(expected, 512, 2048, (byte) 0x5A);
            assertArrayEquals(expected, back.array());
        }
    }

    @Test
    void readBlocksAndWriteBlocksMoveWholeBlocksAndAdvanceTheBuffers() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            ByteBuffer source = ByteBuffer.allocate(3 * BLOCK);
            for (int i = 0; i < source.capacity(); i++) {
                source.put(i, (byte) (i / BLOCK + 1));
            }
            image.writeBlocks(BLOCKS - 3, 3, source);
            assertFalse(source.hasRemaining());
            ByteBuffer destination = ByteBuffer.allocate(4 * BLOCK).position(BLOCK);
            image.readBlocks(BLOCKS - 3, 3, destination);
            assertEquals(4 * BLOCK, destination.position());
            assertEquals(3, destination.get(4 * BLOCK - 1));
            assertEquals(1, destination.get(BLOCK));
            assertEquals(0, destination.get(0), "nothing written before the position");
        }
    }

    @Test
    void blockRangesOffTheDiskAreRefusedWithTheRangeInTheMessage() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            ByteBuffer block = ByteBuffer.allocate(BLOCK);
            IndexOutOfBoundsException past = assertThrows(IndexOutOfBoundsException.class,
                    () -> image.readBlocks(BLOCKS, 1, block));
            assertEquals("disk vda: blocks [64, 65) are not all on the disk of 64 blocks", past.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> image.readBlocks(-1, 1, block));
            assertThrows(IndexOutOfBoundsException.class, () -> image.writeBlocks(BLOCKS - 1, 2, filled(2 * BLOCK, 1)));
            assertThrows(IndexOutOfBoundsException.class, () -> image.writeBlocks(Long.MAX_VALUE, 1, block));
            IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                    () -> image.readBlocks(0, 0, block));
            assertTrue(none.getMessage().contains("at least 1, was 0"), none.getMessage());
        }
    }

    @Test
    void writeBlocksRefusesABufferThatIsNotExactlyTheBlocks() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> image.writeBlocks(0, 2, filled(2 * BLOCK - 1, 7)));
            assertEquals("disk vda: 2 blocks of 4096 bytes are 8192 bytes, the buffer holds 8191", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> image.writeBlocks(0, 1, filled(2 * BLOCK, 7)));
            ByteBuffer untouched = ByteBuffer.allocate(2 * BLOCK);
            image.readBlocks(0, 2, untouched);
            assertArrayEquals(new byte[2 * BLOCK], untouched.array(), "a refused write leaves the image as it was");
        }
    }

    @Test
    void readBlocksRefusesADestinationWithTooLittleRoom() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            ByteBuffer small = ByteBuffer.allocate(2 * BLOCK - 1);
            assertThrows(BufferOverflowException.class, () -> image.readBlocks(0, 2, small));
            assertEquals(0, small.position());
        }
    }

    @Test
    void guestByteRangesOffTheDiskAreRefused() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            long size = (long) BLOCKS * BLOCK;
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class,
                    () -> image.write(size - 512, filled(1024, 1)));
            assertEquals("disk vda: bytes [261632, 262656) are not all on the disk of 262144 bytes", e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> image.read(-512, ByteBuffer.allocate(512)));
            assertThrows(IndexOutOfBoundsException.class, () -> image.read(Long.MAX_VALUE, ByteBuffer.allocate(512)));
        }
    }

    @Test
    void closeIsIdempotentAndTheImageIsThenRefused() throws IOException {
        RawImage image = open(dir, "disk.img");
        image.close();
        image.close();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> image.read(0, ByteBuffer.allocate(512)));
        assertTrue(e.getMessage().contains("is closed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> image.write(0, ByteBuffer.allocate(512)));
        assertThrows(IllegalStateException.class, image::flush);
        assertThrows(IllegalStateException.class, () -> image.beginReplicaOf("g"));
        assertThrows(IllegalStateException.class, () -> image.tracker().orElseThrow().pair("g"));
    }

    @Test
    void drainReturnsWithEveryWriteInTheFile() throws IOException {
        try (RawImage image = open(dir, "disk.img")) {
            TestImages.writeBlock(image, 1, 0x11);
            image.drain();
            try (var channel = java.nio.channels.FileChannel.open(image.path())) {
                ByteBuffer onDisk = ByteBuffer.allocate(BLOCK);
                channel.read(onDisk, BLOCK);
                assertArrayEquals(filled(BLOCK, 0x11).array(), onDisk.array());
            }
        }
    }
}
