package io.livemig.bench;

import io.livemig.disk.RawImage;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Changes an image the way a guest would, for bench/disk-sync.py: opens it as a {@link RawImage}
 * (so every write lands in its dsync change log), writes {@code count} distinct blocks, chosen
 * at random, with random bytes (never all zero), and closes it cleanly. The same seed picks the
 * same blocks and bytes.
 *
 * <p>Usage: {@code DiskWriter IMAGE COUNT SEED}; prints one line: blocks written and milliseconds.
 */
public final class DiskWriter {

    private DiskWriter() {
    }

    /**
     * @param args the image, the number of blocks to write, the seed
     * @throws Exception if the image cannot be opened, written or closed
     */
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: DiskWriter IMAGE COUNT SEED");
            System.exit(2);
        }
        Path image = Path.of(args[0]);
        long count = Long.parseLong(args[1]);
        SplittableRandom random = new SplittableRandom(Long.parseLong(args[2]));
        long start = System.nanoTime();
        // The disk id is the one `livemig disk` uses; RawImage does not store it.
        try (RawImage disk = RawImage.open(image, "disk0", 0)) {
            long blocks = disk.descriptor().blockCount();
            int blockBytes = disk.descriptor().blockSizeBytes();
            if (count > blocks || blocks > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("cannot write " + count + " distinct blocks of " + blocks);
            }
            BitSet written = new BitSet((int) blocks);
            ByteBuffer block = ByteBuffer.allocateDirect(blockBytes);
            for (long n = 0; n < count; ) {
                int b = (int) random.nextLong(blocks);
                if (written.get(b)) {
                    continue;
                }
                written.set(b);
                block.clear();
                while (block.hasRemaining()) {
                    block.putLong(random.nextLong() | 1);
                }
                disk.write((long) b * blockBytes, block.flip());
                n++;
            }
            disk.flush();
        }
        System.out.printf(Locale.ROOT, "%d blocks written in %.0f ms%n", count, (System.nanoTime() - start) / 1e6);
    }
}
