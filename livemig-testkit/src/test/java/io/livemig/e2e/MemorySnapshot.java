package io.livemig.e2e;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySource;

import java.nio.ByteBuffer;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** A full copy of a VM's memory, taken at a moment a test chooses, for byte-exact comparisons. */
final class MemorySnapshot {

    private final MemoryLayout layout;
    private final byte[][] pages;

    private MemorySnapshot(MemoryLayout layout, byte[][] pages) {
        this.layout = layout;
        this.pages = pages;
    }

    /** Reads every RAM page of {@code source}. */
    static MemorySnapshot of(MemorySource source) {
        MemoryLayout layout = source.layout();
        byte[][] pages = new byte[(int) layout.pageSpan()][];
        ByteBuffer buffer = ByteBuffer.allocate(layout.pageSizeBytes());
        for (MemoryRegion region : layout.regions()) {
            for (long page = region.firstPage(); page < region.endPage(); page++) {
                buffer.clear();
                source.readPages(page, 1, buffer);
                pages[(int) page] = buffer.array().clone();
            }
        }
        return new MemorySnapshot(layout, pages);
    }

    /** Fails with the first differing page unless both snapshots hold the same bytes in every page. */
    void assertSameAs(MemorySnapshot other) {
        assertEquals(layout, other.layout, "layouts differ");
        long differing = 0;
        long first = -1;
        for (int page = 0; page < pages.length; page++) {
            if (!Arrays.equals(pages[page], other.pages[page])) {
                if (differing++ == 0) {
                    first = page;
                }
            }
        }
        if (differing > 0) {
            fail(differing + " pages differ, first at page " + first);
        }
    }

    /** @return a copy of one page's bytes */
    byte[] page(long page) {
        return pages[(int) page].clone();
    }

    /** @return how many pages hold a non-zero byte */
    long nonZeroPages() {
        long n = 0;
        for (byte[] page : pages) {
            if (page != null) {
                for (byte b : page) {
                    if (b != 0) {
                        n++;
                        break;
                    }
                }
            }
        }
        return n;
    }

    /** @return whether any page holds a non-zero byte */
    boolean hasNonZeroPage() {
        for (byte[] page : pages) {
            if (page != null) {
                for (byte b : page) {
                    if (b != 0) {
                        return true;
                    }
                }
            }
        }
        return false;
    }
}
