package io.livemig.engine.internal;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * One CRC32C per page, for verification: the destination records the digest of each page as it
 * lands (read back from guest memory), the source digests its memory after the switchover, and
 * the two are compared page by page. CRC32C is a CPU instruction on x86 and arm64, so
 * digesting runs at memory speed; a differing page escapes with probability 2^-32.
 *
 * <p>Not thread-safe.
 */
public final class PageDigests {

    private final int[] digests;

    /**
     * Creates digests for every page of {@code layout}, all initialised to the digest of a zero
     * page (what a new target's memory holds).
     */
    public PageDigests(MemoryLayout layout) {
        this.digests = new int[Math.toIntExact(layout.pageSpan())];
        int zero = zeroDigest(layout.pageSizeBytes());
        for (MemoryRegion region : layout.regions()) {
            java.util.Arrays.fill(digests, (int) region.firstPage(), (int) region.endPage(), zero);
        }
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

    /** Records {@code digest} for {@code page}. */
    public void set(long page, int digest) {
        digests[(int) page] = digest;
    }

    /** @return the recorded digest of {@code page} */
    public int get(long page) {
        return digests[(int) page];
    }

    /** @return a direct scratch buffer for {@code pages} pages */
    public static ByteBuffer scratch(int pageSize, int pages) {
        return ByteBuffer.allocateDirect(pageSize * pages).order(ByteOrder.nativeOrder());
    }
}
