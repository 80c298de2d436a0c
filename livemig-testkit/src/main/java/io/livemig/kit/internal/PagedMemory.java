package io.livemig.kit.internal;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MemorySource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * Guest RAM of the in-memory kit: direct buffers of at most 1 GiB each ("chunks"), so that VMs
 * larger than a ByteBuffer's 2 GiB limit work and no page straddles two chunks. Pages in the
 * layout's holes have no storage. As a {@link MemorySource} and {@link MemorySink} it is plain
 * storage: it marks nothing dirty.
 *
 * <p>Thread-safety: reads and writes of different pages may run concurrently; concurrent access
 * to one page is a data race the caller accepts (a guest write racing a migration read is
 * resolved by dirty tracking). Bulk operations work on duplicates, never on shared positions.
 */
public final class PagedMemory implements MemorySource, MemorySink {

    private static final int CHUNK_SHIFT = 30;

    private final MemoryLayout layout;
    private final int pageSize;
    private final int pageShift;
    /** Per region, its chunks; a region's chunk i holds its pages [i * pagesPerChunk, ...). */
    private final ByteBuffer[][] chunks;
    private final int pagesPerChunk;

    /**
     * Allocates zeroed memory for every region of {@code layout}.
     *
     * @param layout the layout
     * @throws OutOfMemoryError if direct memory runs out ({@code -XX:MaxDirectMemorySize})
     */
    public PagedMemory(MemoryLayout layout) {
        this.layout = Objects.requireNonNull(layout, "layout");
        this.pageSize = layout.pageSizeBytes();
        this.pageShift = Integer.numberOfTrailingZeros(pageSize);
        this.pagesPerChunk = 1 << (CHUNK_SHIFT - pageShift);
        this.chunks = new ByteBuffer[layout.regions().size()][];
        for (int r = 0; r < chunks.length; r++) {
            MemoryRegion region = layout.regions().get(r);
            int chunkCount = (int) ((region.pageCount() + pagesPerChunk - 1) / pagesPerChunk);
            chunks[r] = new ByteBuffer[chunkCount];
            for (int c = 0; c < chunkCount; c++) {
                long pages = Math.min(pagesPerChunk, region.pageCount() - (long) c * pagesPerChunk);
                chunks[r][c] = ByteBuffer.allocateDirect((int) (pages << pageShift)).order(ByteOrder.nativeOrder());
            }
        }
    }

    /** @return the layout */
    @Override
    public MemoryLayout layout() {
        return layout;
    }

    /** @return the page size in bytes */
    public int pageSize() {
        return pageSize;
    }

    /**
     * The chunk that holds {@code page}, for direct single-page access by the workload:
     * {@code chunk(page).put(offsetInChunk(page) + i, b)}. The returned buffer is shared: use
     * absolute get/put only.
     *
     * @param page a RAM page of the layout
     * @return the chunk buffer
     */
    public ByteBuffer chunkOf(long page) {
        int region = layout.regionIndexOf(page);
        if (region < 0) {
            throw new IndexOutOfBoundsException("page " + page + " is not RAM in " + layout);
        }
        long index = page - layout.regions().get(region).firstPage();
        return chunks[region][(int) (index / pagesPerChunk)];
    }

    /**
     * @param page a RAM page of the layout
     * @return the byte offset of {@code page} inside {@link #chunkOf(long)}
     */
    public int offsetInChunk(long page) {
        int region = layout.regionIndexOf(page);
        long index = page - layout.regions().get(region).firstPage();
        return (int) ((index % pagesPerChunk) << pageShift);
    }

    /**
     * Copies pages into {@code destination} at its position, advancing it.
     *
     * @throws IndexOutOfBoundsException if the run is not inside one region
     */
    @Override
    public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
        forEachChunkRun(firstPage, pageCount, (chunk, offset, bytes) -> {
            destination.put(destination.position(), chunk, offset, bytes);
            destination.position(destination.position() + bytes);
        });
    }

    /**
     * Copies pages from {@code source} at its position, advancing it.
     *
     * @throws IndexOutOfBoundsException if the run is not inside one region
     */
    @Override
    public void writePages(long firstPage, int pageCount, ByteBuffer source) {
        if (source.remaining() < (long) pageCount << pageShift) {
            throw new java.nio.BufferUnderflowException();
        }
        forEachChunkRun(firstPage, pageCount, (chunk, offset, bytes) -> {
            chunk.put(offset, source, source.position(), bytes);
            source.position(source.position() + bytes);
        });
    }

    /** A contiguous byte range inside one chunk. */
    @FunctionalInterface
    private interface ChunkRun {
        void accept(ByteBuffer chunk, int offset, int bytes);
    }

    /** Splits a page run (inside one region) into the contiguous ranges of the chunks that hold it. */
    private void forEachChunkRun(long firstPage, int pageCount, ChunkRun action) {
        int region = checkRun(firstPage, pageCount);
        long index = firstPage - layout.regions().get(region).firstPage();
        int remaining = pageCount;
        while (remaining > 0) {
            int chunk = (int) (index / pagesPerChunk);
            int inChunk = (int) (index % pagesPerChunk);
            int pages = Math.min(remaining, pagesPerChunk - inChunk);
            action.accept(chunks[region][chunk], inChunk << pageShift, pages << pageShift);
            index += pages;
            remaining -= pages;
        }
    }

    /**
     * Zeroes pages.
     *
     * @throws IndexOutOfBoundsException if the run is not inside one region
     */
    @Override
    public void zeroPages(long firstPage, int pageCount) {
        checkRun(firstPage, pageCount);
        for (long page = firstPage; page < firstPage + pageCount; page++) {
            ByteBuffer chunk = chunkOf(page);
            int offset = offsetInChunk(page);
            for (int i = 0; i < pageSize; i += 8) {
                chunk.putLong(offset + i, 0L);
            }
        }
    }

    private int checkRun(long firstPage, int pageCount) {
        if (pageCount < 1 || !layout.containsRun(firstPage, pageCount)) {
            throw new IndexOutOfBoundsException("pages [" + firstPage + ", " + (firstPage + pageCount)
                    + ") are not inside one RAM region of " + layout);
        }
        return layout.regionIndexOf(firstPage);
    }
}
