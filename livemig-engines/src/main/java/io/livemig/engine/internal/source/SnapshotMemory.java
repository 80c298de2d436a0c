package io.livemig.engine.internal.source;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySource;
import io.livemig.spi.PageSet;

import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * The source VM's memory as the page sender reads it in a trace-and-replay migration: the live
 * memory, except while a checkpoint is held, when the checkpoint's pages read as they were when
 * it was taken (the VM runs on and changes them meanwhile). The copy is taken with the VM paused,
 * in chunks of 256 pages, only for the chunks that hold checkpoint pages, and released once the
 * checkpoint was sent.
 *
 * <p>{@link #take} and {@link #release} are called by the migration's thread while no read runs;
 * reads may come from several threads (the encoder pool), as {@link MemorySource} allows.
 */
final class SnapshotMemory implements MemorySource {

    private static final int CHUNK_SHIFT = 8;
    private static final int CHUNK_PAGES = 1 << CHUNK_SHIFT;

    private final MemorySource live;
    private final MemoryLayout layout;
    private final int pageSize;
    private volatile ByteBuffer[] chunks;
    private volatile PageSet held;
    /** Buffers made ahead of the pause, by {@link #prepare}, for the chunks of a page set. */
    private ByteBuffer[] prepared;

    SnapshotMemory(MemorySource live) {
        this.live = live;
        this.layout = live.layout();
        this.pageSize = layout.pageSizeBytes();
    }

    @Override
    public MemoryLayout layout() {
        return layout;
    }

    @Override
    public Optional<PageSet> populatedPages() {
        return live.populatedPages();
    }

    /**
     * Makes (and touches) the buffers {@code pages} will need, before the pause, so that the pause
     * only copies: allocating a GiB of buffers costs more than copying into them.
     */
    void prepare(PageSet pages) {
        ByteBuffer[] buffers = new ByteBuffer[chunkCount()];
        for (long page = pages.nextSetBit(0); page >= 0; page = pages.nextSetBit(((page >>> CHUNK_SHIFT) + 1)
                << CHUNK_SHIFT)) {
            buffers[(int) (page >>> CHUNK_SHIFT)] = ByteBuffer.allocate(CHUNK_PAGES * pageSize);
        }
        prepared = buffers;
    }

    private int chunkCount() {
        return (int) ((layout.pageSpan() + CHUNK_PAGES - 1) >>> CHUNK_SHIFT);
    }

    /**
     * Copies {@code pages} as they are now, into the buffers {@link #prepare} made and new ones for
     * the chunks it did not foresee; the VM must be paused.
     *
     * @return the bytes copied
     */
    long take(PageSet pages) {
        ByteBuffer[] copy = prepared != null ? prepared : new ByteBuffer[chunkCount()];
        prepared = null;
        long bytes = 0;
        for (MemoryRegion region : layout.regions()) {
            long page = pages.nextSetBit(region.firstPage());
            while (page >= 0 && page < region.endPage()) {
                long clear = pages.nextClearBit(page);
                long runEnd = Math.min(region.endPage(), clear < 0 ? region.endPage() : clear);
                // Within one chunk at a time, so that a read lands in one buffer.
                long chunkEnd = ((page >>> CHUNK_SHIFT) + 1) << CHUNK_SHIFT;
                int n = (int) (Math.min(runEnd, chunkEnd) - page);
                int index = (int) (page >>> CHUNK_SHIFT);
                if (copy[index] == null) {
                    copy[index] = ByteBuffer.allocate(CHUNK_PAGES * pageSize);
                }
                ByteBuffer chunk = copy[index];
                chunk.clear().position((int) (page & (CHUNK_PAGES - 1)) * pageSize);
                live.readPages(page, n, chunk);
                bytes += (long) n * pageSize;
                page = pages.nextSetBit(page + n);
            }
        }
        chunks = copy;
        held = pages.copy();
        return bytes;
    }

    /** Drops the copy: reads see the live memory again. */
    void release() {
        held = null;
        chunks = null;
        prepared = null;
    }

    @Override
    public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
        PageSet pages = held;
        ByteBuffer[] copy = chunks;
        if (pages == null || copy == null) {
            live.readPages(firstPage, pageCount, destination);
            return;
        }
        for (int i = 0; i < pageCount; i++) {
            long page = firstPage + i;
            if (!pages.contains(page)) {
                live.readPages(page, 1, destination);
                continue;
            }
            ByteBuffer chunk = copy[(int) (page >>> CHUNK_SHIFT)];
            int offset = (int) (page & (CHUNK_PAGES - 1)) * pageSize;
            destination.put(chunk.slice(offset, pageSize));
        }
    }
}
