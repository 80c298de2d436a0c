package io.livemig.disk;

import static io.livemig.disk.TestImages.BLOCK;
import static io.livemig.disk.TestImages.BLOCKS;
import static io.livemig.disk.TestImages.BOOT;
import static io.livemig.disk.TestImages.blocks;
import static io.livemig.disk.TestImages.openUnder;
import static io.livemig.disk.TestImages.tracker;
import static io.livemig.disk.TestImages.writeBlock;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.livemig.disk.internal.SidecarHeader;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** When {@link RawImage#open} keeps an existing change log, and when it discards it. */
class ChangeLogTrustTest {

    private static final String OTHER_BOOT = "99999999-8888-7777-6666-555555555555";

    @TempDir
    Path dir;

    private Path pairedImage() throws IOException {
        Path image = dir.resolve("disk.img");
        try (RawImage disk = openUnder(image, BOOT)) {
            tracker(disk).pair("g1");
        }
        return image;
    }

    private static Path sidecar(Path image) {
        return image.resolveSibling(image.getFileName() + RawImage.SIDECAR_SUFFIX);
    }

    private static void assertNoGeneration(RawImage disk) {
        assertEquals(Optional.empty(), tracker(disk).generation());
        assertEquals(Optional.empty(), tracker(disk).changedSince("g1"));
        assertEquals(Optional.empty(), disk.replicaGeneration());
    }

    @Test
    void aCleanlyClosedLogIsKeptUnderAnotherBoot() throws IOException {
        Path image = pairedImage();
        try (RawImage disk = openUnder(image, OTHER_BOOT)) {
            assertEquals(Optional.of("g1"), tracker(disk).generation());
        }
    }

    @Test
    void aCorruptHeaderGivesNoGeneration() throws IOException {
        Path image = pairedImage();
        try (RandomAccessFile file = new RandomAccessFile(sidecar(image).toFile(), "rw")) {
            file.seek(28); // the first character of the generation
            file.write('h');
        }
        try (RawImage disk = openUnder(image, BOOT)) {
            assertNoGeneration(disk);
        }
    }

    @Test
    void aTruncatedSidecarGivesNoGeneration() throws IOException {
        Path image = pairedImage();
        try (RandomAccessFile file = new RandomAccessFile(sidecar(image).toFile(), "rw")) {
            file.setLength(100);
        }
        try (RawImage disk = openUnder(image, BOOT)) {
            assertNoGeneration(disk);
        }
    }

    @Test
    void aLogOfAnotherBlockSizeGivesNoGeneration() throws IOException {
        Path image = pairedImage();
        try (RawImage disk = RawImage.open(image, "vda", 0, 2 * BLOCK, () -> BOOT)) {
            assertNoGeneration(disk);
            assertEquals(BLOCKS / 2, disk.descriptor().blockCount());
        }
    }

    @Test
    void aLogOfAnotherImageSizeGivesNoGeneration() throws IOException {
        Path image = pairedImage();
        try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
            file.setLength((long) (BLOCKS + 64) * BLOCK); // grown behind livemig's back
        }
        try (RawImage disk = RawImage.open(image, "vda", 0, BLOCK, () -> BOOT)) {
            assertNoGeneration(disk);
            tracker(disk).pair("g2"); // and the new log covers the new geometry
            assertEquals(BLOCKS + 64, tracker(disk).changedSince("g2").orElseThrow().cardinality());
        }
    }

    @Test
    void aLogNotClosedCleanlyIsKeptUnderTheSameBootAndDiscardedUnderAnother() throws IOException {
        // A copy of image and log taken while the image is open is what a killed process leaves.
        Path sameBoot = dir.resolve("same");
        Path otherBoot = dir.resolve("other");
        Files.createDirectories(sameBoot);
        Files.createDirectories(otherBoot);
        try (RawImage disk = openUnder(dir.resolve("disk.img"), BOOT)) {
            disk.beginReplicaOf("g1");
            writeBlock(disk, 5, 5);
            for (Path target : new Path[] {sameBoot, otherBoot}) {
                Files.copy(disk.path(), target.resolve("disk.img"));
                Files.copy(sidecar(disk.path()), sidecar(target.resolve("disk.img")));
            }
        }
        try (RawImage disk = openUnder(sameBoot.resolve("disk.img"), BOOT)) {
            assertEquals(Optional.of(blocks(5)), tracker(disk).changedSince("g1"), "a killed process lost no bit");
        }
        try (RawImage disk = openUnder(otherBoot.resolve("disk.img"), OTHER_BOOT)) {
            assertNoGeneration(disk);
        }
    }

    @Test
    void aLogNotClosedCleanlyIsDiscardedWhenTheBootIdIsUnknown() throws IOException {
        Path copy = dir.resolve("copy");
        Files.createDirectories(copy);
        try (RawImage disk = openUnder(dir.resolve("disk.img"), "")) {
            tracker(disk).pair("g1");
            Files.copy(disk.path(), copy.resolve("disk.img"));
            Files.copy(sidecar(disk.path()), sidecar(copy.resolve("disk.img")));
        }
        try (RawImage disk = openUnder(copy.resolve("disk.img"), "")) {
            assertNoGeneration(disk);
        }
    }

    @Test
    void aNewImageDiscardsALeftoverChangeLog() throws IOException {
        Path image = pairedImage();
        Files.delete(image);
        try (RawImage disk = openUnder(image, BOOT)) {
            assertTrue(disk.wasCreated());
            assertNoGeneration(disk);
        }
    }

    @Test
    void theHeaderSaysNotCleanWhileOpenAndCleanAfterClose() throws IOException {
        Path image = dir.resolve("disk.img");
        try (RawImage disk = openUnder(image, BOOT)) {
            tracker(disk).pair("g1");
            SidecarHeader open = readHeader(image);
            assertEquals(false, open.clean());
            assertEquals(BOOT, open.bootId());
            assertEquals(Optional.of("g1"), open.generation());
        }
        SidecarHeader closed = readHeader(image);
        assertEquals(true, closed.clean());
        assertEquals(BLOCKS, closed.blockCount());
        assertEquals(BLOCK, closed.blockSizeBytes());
        assertEquals(SidecarHeader.SIZE_BYTES + BLOCKS / 8, Files.size(sidecar(image)));
    }

    private static SidecarHeader readHeader(Path image) throws IOException {
        try {
            return SidecarHeader.decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(sidecar(image))));
        } catch (SidecarHeader.InvalidHeaderException e) {
            throw new AssertionError(e);
        }
    }
}
