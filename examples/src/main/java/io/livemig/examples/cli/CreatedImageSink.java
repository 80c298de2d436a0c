package io.livemig.examples.cli;

import io.livemig.disk.RawImage;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.DiskSink;

import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * A {@link RawImage} as the destination of {@code livemig disk receive}, which says whether the
 * image was created for this sync ({@link #startsEmpty()}): a sparse file that {@link RawImage#open}
 * has just created reads as zeros everywhere, so the engine neither digests it nor has the source
 * send its zero blocks (a NEW_DISK sync). Every other method is the image's own.
 *
 * <p>Not thread-safe beyond what {@link RawImage} is; used by the one receiving thread. Does not
 * own the image: its opener closes it.
 */
final class CreatedImageSink implements DiskSink {

    private final RawImage image;
    /** Until the first write: whether the image was created by this process's {@link RawImage#open}. */
    private boolean untouched;

    /** @param image an open image, still unwritten if {@link RawImage#wasCreated()} */
    CreatedImageSink(RawImage image) {
        this.image = image;
        this.untouched = image.wasCreated();
    }

    /** @return true while the image is one this process created and nothing has been written to it */
    @Override
    public boolean startsEmpty() {
        return untouched;
    }

    @Override
    public DiskDescriptor descriptor() {
        return image.descriptor();
    }

    @Override
    public void readBlocks(long firstBlock, int blockCount, ByteBuffer destination) {
        image.readBlocks(firstBlock, blockCount, destination);
    }

    @Override
    public void writeBlocks(long firstBlock, int blockCount, ByteBuffer source) {
        untouched = false;
        image.writeBlocks(firstBlock, blockCount, source);
    }

    @Override
    public void flush() {
        image.flush();
    }

    @Override
    public Optional<String> replicaGeneration() {
        return image.replicaGeneration();
    }

    @Override
    public void beginReplicaOf(String generation) {
        image.beginReplicaOf(generation);
    }
}
