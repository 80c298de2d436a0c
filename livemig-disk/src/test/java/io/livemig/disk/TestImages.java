package io.livemig.disk;

import io.livemig.spi.BlockTracker;
import io.livemig.spi.PageSet;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;

/** Small images and helpers shared by the tests. */
final class TestImages {

    static final int BLOCK = 4096;
    static final int BLOCKS = 64;
    static final String BOOT = "11111111-2222-3333-4444-555555555555";

    private TestImages() {
    }

    /** Opens (creating if absent) a 64-block image named {@code name} under the current boot. */
    static RawImage open(Path dir, String name) throws IOException {
        return openUnder(dir.resolve(name), BOOT);
    }

    /** Opens (creating if absent) a 64-block image at {@code image}, under the boot {@code bootId}. */
    static RawImage openUnder(Path image, String bootId) throws IOException {
        return RawImage.open(image, "vda", (long) BLOCKS * BLOCK, BLOCK, () -> bootId);
    }

    static BlockTracker tracker(RawImage image) {
        return image.tracker().orElseThrow();
    }

    /** Writes block {@code block} as a guest would, every byte {@code value}. */
    static void writeBlock(RawImage image, long block, int value) {
        image.write(block * BLOCK, filled(BLOCK, value));
    }

    static ByteBuffer filled(int bytes, int value) {
        byte[] data = new byte[bytes];
        Arrays.fill(data, (byte) value);
        return ByteBuffer.wrap(data);
    }

    static PageSet blocks(long... numbers) {
        PageSet set = new PageSet(BLOCKS);
        for (long n : numbers) {
            set.add(n);
        }
        return set;
    }

    static byte[] readAll(RawImage image) {
        ByteBuffer all = ByteBuffer.allocate(BLOCKS * BLOCK);
        image.readBlocks(0, BLOCKS, all);
        return all.array();
    }
}
