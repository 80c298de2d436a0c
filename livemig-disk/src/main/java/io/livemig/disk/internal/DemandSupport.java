package io.livemig.disk.internal;

import io.livemig.spi.BlockDemand;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.PageSet;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.concurrent.locks.Lock;

/**
 * The {@link BlockDemand} of an image (post-copy on a migration target), over a
 * {@link BlockDemand.Gate}, and the hooks the image's guest requests call:
 * <ul>
 *   <li>{@link #beforeRead} and {@link #beforeWrite}, before the image takes its lock: a read
 *       waits for every missing block it touches, a write for a missing block it covers only in
 *       part (the block's other bytes must be the source's before the write merges into them);</li>
 *   <li>{@link #afterWrite}, under the image's write lock once the write's bytes are in the file:
 *       the blocks it covered whole are present, and the blocks arriving for them are dropped.</li>
 * </ul>
 * {@link #install} takes the image's write lock and writes each block of the run still missing
 * with the image's {@link BlockWriter}, then marks it installed, so a waiting request never wakes
 * before the bytes are in the file and a guest write never falls between the check and the write.
 *
 * <p><b>Threading.</b> Thread-safe.
 */
public final class DemandSupport implements BlockDemand {

    /** Writes blocks to the image as a sync does (no change log bit, no live bit): the image's writeBlocks. */
    @FunctionalInterface
    public interface BlockWriter {
        /**
         * Called with the image's write lock held.
         *
         * @param firstBlock the first block
         * @param blockCount how many blocks
         * @param bytes      exactly {@code blockCount} blocks, position..limit
         * @throws RuntimeException if the image is closed or cannot be written; the blocks stay missing
         */
        void write(long firstBlock, int blockCount, ByteBuffer bytes);
    }

    private final DiskDescriptor descriptor;
    private final Lock writeLock;
    private final BlockWriter writer;
    private final BlockDemand.Gate gate;

    /**
     * @param descriptor the image's shape
     * @param writeLock  the image's write lock, the one its guest writes take
     * @param writer     how an installed block is written
     * @param what       the image, for error messages
     */
    public DemandSupport(DiskDescriptor descriptor, Lock writeLock, BlockWriter writer, String what) {
        this.descriptor = Objects.requireNonNull(descriptor, "descriptor");
        this.writeLock = Objects.requireNonNull(writeLock, "writeLock");
        this.writer = Objects.requireNonNull(writer, "writer");
        this.gate = new BlockDemand.Gate(what, descriptor.blockCount());
    }

    /** {@inheritDoc} */
    @Override
    public void arm(PageSet missing, Listener listener) {
        gate.arm(missing, listener);
    }

    /**
     * {@inheritDoc} The blocks are written one by one under the image's write lock; the
     * position of {@code content} does not move.
     */
    @Override
    public int install(long firstBlock, int blockCount, ByteBuffer content) {
        int blockSize = descriptor.blockSizeBytes();
        Objects.checkFromIndexSize(firstBlock, blockCount, descriptor.blockCount());
        if (content.remaining() != (long) blockCount * blockSize) {
            throw new IllegalArgumentException("disk " + descriptor.id() + ": " + blockCount + " blocks of "
                    + blockSize + " bytes expected, the buffer holds " + content.remaining());
        }
        int installed = 0;
        writeLock.lock();
        try {
            for (int i = 0; i < blockCount; i++) {
                long block = firstBlock + i;
                if (gate.isMissing(block)) {
                    writer.write(block, 1, content.slice(content.position() + i * blockSize, blockSize));
                    gate.installed(block);
                    installed++;
                }
            }
        } finally {
            writeLock.unlock();
        }
        return installed;
    }

    /** {@inheritDoc} */
    @Override
    public long missingBlocks() {
        return gate.missingBlocks();
    }

    /** {@inheritDoc} */
    @Override
    public void disarm() {
        gate.disarm();
    }

    /**
     * Waits until every block of a guest read is present. Call it before taking the image's lock.
     *
     * @param offsetBytes the read's offset, checked to be on the disk
     * @param lengthBytes its length; 0 waits for nothing
     */
    public void beforeRead(long offsetBytes, int lengthBytes) {
        if (lengthBytes > 0) {
            gate.awaitPresent(offsetBytes / descriptor.blockSizeBytes(),
                    (offsetBytes + lengthBytes - 1) / descriptor.blockSizeBytes());
        }
    }

    /**
     * Waits until the blocks a guest write covers only in part (its first and last, at most) are
     * present. Call it before taking the image's lock.
     *
     * @param offsetBytes the write's offset, checked to be on the disk
     * @param lengthBytes its length, at least 1
     */
    public void beforeWrite(long offsetBytes, int lengthBytes) {
        int blockSize = descriptor.blockSizeBytes();
        long end = offsetBytes + lengthBytes;
        long first = offsetBytes / blockSize;
        long last = (end - 1) / blockSize;
        if (offsetBytes % blockSize != 0) {
            gate.awaitPresent(first, first);
        }
        if (end % blockSize != 0 && (last != first || offsetBytes % blockSize == 0)) {
            gate.awaitPresent(last, last);
        }
    }

    /**
     * The blocks a guest write covered whole are present. Call it under the image's write lock,
     * once the write's bytes are in the file.
     *
     * @param offsetBytes the write's offset
     * @param lengthBytes its length, at least 1
     */
    public void afterWrite(long offsetBytes, int lengthBytes) {
        int blockSize = descriptor.blockSizeBytes();
        long firstWhole = (offsetBytes + blockSize - 1) / blockSize;
        long lastWhole = (offsetBytes + lengthBytes) / blockSize - 1;
        gate.supersede(firstWhole, lastWhole);
    }

    /** The image is closing: requests waiting on a block return (and fail as closed). Idempotent. */
    public void close() {
        gate.close();
    }
}
