package io.livemig.engine.internal;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.zip.CRC32C;

/**
 * One CRC32C per page, for verification: the destination records the digest of each page as it
 * lands (read back from guest memory), the source digests its memory after the switchover, and
 * the two are compared page by page. CRC32C is a CPU instruction on x86 and arm64, so
 * digesting runs at memory speed; a differing page escapes with probability 2^-32.
 *
 * <p>Memory is at most 4 bytes per RAM page of the layout, whatever its span: the digests are
 * stored in layout order (the pages of the first region, then of the next), in chunks of at most
 * {@value #CHUNK_DIGESTS} digests, and a page finds its slot through its region's offset. A sparse
 * layout (one page at a huge address) costs one digest, not one per page of the address space. A
 * chunk is made on the first record in it: a big, mostly untouched VM costs what it received.
 *
 * <p>Threading: {@link #set} may be called from several threads at once for different pages (a
 * chunk is installed atomically); {@link #get} sees what was set before it in happens-before
 * order (the caller orders records before comparisons).
 */
public final class PageDigests {

    /** Digests per chunk: 256 KiB of them, for 256 MiB of 4 KiB pages. */
    static final int CHUNK_DIGESTS = 1 << 16;
    private static final int CHUNK_SHIFT = Integer.numberOfTrailingZeros(CHUNK_DIGESTS);

    private final long[] regionFirst;
    private final long[] regionEnd;
    /** The slot of each region's first page: the pages of the regions before it. */
    private final long[] regionBase;
    private final AtomicReferenceArray<int[]> chunks;
    /** The digest of a zero page: what a chunk not made yet holds everywhere. */
    private final int zero;
    private final long pageCount;
    /** The region of the last page looked up: pages mostly come in runs (a racy hint, checked on use). */
    private int lastRegion;

    /**
     * Creates digests for every page of {@code layout}, all initialised to the digest of a zero
     * page (what a new target's memory holds).
     */
    public PageDigests(MemoryLayout layout) {
        int regions = layout.regions().size();
        regionFirst = new long[regions];
        regionEnd = new long[regions];
        regionBase = new long[regions];
        long pages = 0;
        for (int r = 0; r < regions; r++) {
            MemoryRegion region = layout.regions().get(r);
            regionFirst[r] = region.firstPage();
            regionEnd[r] = region.endPage();
            regionBase[r] = pages;
            pages += region.pageCount();
        }
        this.zero = zeroDigest(layout.pageSizeBytes());
        this.pageCount = pages;
        chunks = new AtomicReferenceArray<>(Math.toIntExact((pages + CHUNK_DIGESTS - 1) >>> CHUNK_SHIFT));
    }

    /** @return chunk {@code c}, made (full of zero-page digests) on its first record */
    private int[] chunkForWrite(int c) {
        int[] chunk = chunks.get(c);
        if (chunk == null) {
            int[] made = new int[(int) Math.min(CHUNK_DIGESTS, pageCount - ((long) c << CHUNK_SHIFT))];
            Arrays.fill(made, zero);
            chunk = chunks.compareAndExchange(c, null, made);
            if (chunk == null) {
                chunk = made;
            }
        }
        return chunk;
    }

    /** @return the CRC32C of a zero page of {@code pageSize} bytes */
    public static int zeroDigest(int pageSize) {
        CRC32C c = new CRC32C();
        c.update(new byte[pageSize]);
        return (int) c.getValue();
    }

    /** Computes page digests without allocating per page. Not thread-safe. */
    public static final class Digester {
        private final int pageSize;
        private final CRC32C crc = new CRC32C();
        private ByteBuffer view;
        private ByteBuffer viewOf;

        /** @param pageSize the page size in bytes */
        public Digester(int pageSize) {
            this.pageSize = pageSize;
        }

        /**
         * @param buffer page bytes at {@code [offset, offset + pageSize)}; position and limit untouched
         * @return the page's CRC32C
         */
        public int digest(ByteBuffer buffer, int offset) {
            if (viewOf != buffer) {
                view = buffer.duplicate();
                viewOf = buffer;
            }
            crc.reset();
            crc.update(view.limit(offset + pageSize).position(offset));
            return (int) crc.getValue();
        }
    }

    /**
     * Records {@code digest} for {@code page}.
     *
     * @throws IndexOutOfBoundsException if {@code page} is not a RAM page of the layout
     */
    public void set(long page, int digest) {
        long slot = slotOf(page);
        chunkForWrite((int) (slot >>> CHUNK_SHIFT))[(int) slot & (CHUNK_DIGESTS - 1)] = digest;
    }

    /**
     * @return the recorded digest of {@code page}
     * @throws IndexOutOfBoundsException if {@code page} is not a RAM page of the layout
     */
    public int get(long page) {
        long slot = slotOf(page);
        int[] chunk = chunks.get((int) (slot >>> CHUNK_SHIFT));
        return chunk == null ? zero : chunk[(int) slot & (CHUNK_DIGESTS - 1)];
    }

    /**
     * The first page of a run whose digest is not a zero page's: for checking that a run the
     * source found zero is zero here too. Chunks never made (nothing landed there) are skipped
     * whole, so a run over untouched memory costs a look-up per chunk, not per page.
     *
     * @param fromPage the first page to look at
     * @param endPage  the page after the last; {@code [fromPage, endPage)} lies in one region
     * @return that page, or -1 if every digest of the run is a zero page's
     * @throws IndexOutOfBoundsException if the run is not RAM of one region of the layout
     */
    public long nextNonZero(long fromPage, long endPage) {
        if (fromPage >= endPage) {
            return -1;
        }
        long firstSlot = slotOf(fromPage);
        if (slotOf(endPage - 1) - firstSlot != endPage - 1 - fromPage) {
            throw new IndexOutOfBoundsException("pages [" + fromPage + ", " + endPage + ") span regions");
        }
        long endSlot = firstSlot + (endPage - fromPage);
        for (long slot = firstSlot; slot < endSlot; ) {
            int c = (int) (slot >>> CHUNK_SHIFT);
            long stop = Math.min(endSlot, ((long) c + 1) << CHUNK_SHIFT);
            int[] chunk = chunks.get(c);
            if (chunk != null) {
                for (long at = slot; at < stop; at++) {
                    if (chunk[(int) at & (CHUNK_DIGESTS - 1)] != zero) {
                        return fromPage + (at - firstSlot);
                    }
                }
            }
            slot = stop;
        }
        return -1;
    }

    private long slotOf(long page) {
        int r = lastRegion;
        if (page < regionFirst[r] || page >= regionEnd[r]) {
            r = regionOf(page);
            lastRegion = r;
        }
        return regionBase[r] + (page - regionFirst[r]);
    }

    private int regionOf(long page) {
        int low = 0;
        int high = regionFirst.length - 1;
        while (low <= high) {
            int mid = (low + high) >>> 1;
            if (page < regionFirst[mid]) {
                high = mid - 1;
            } else if (page >= regionEnd[mid]) {
                low = mid + 1;
            } else {
                return mid;
            }
        }
        throw new IndexOutOfBoundsException("page " + page + " is not RAM of this layout");
    }

    /** @return how many chunks exist: those that received a record */
    int chunksMade() {
        int made = 0;
        for (int c = 0; c < chunks.length(); c++) {
            if (chunks.get(c) != null) {
                made++;
            }
        }
        return made;
    }

    /** @return how many digests are held: one per RAM page of the layout */
    long digestCount() {
        return pageCount;
    }

    /** @return a direct scratch buffer for {@code pages} pages */
    public static ByteBuffer scratch(int pageSize, int pages) {
        return ByteBuffer.allocateDirect(pageSize * pages).order(ByteOrder.nativeOrder());
    }
}
