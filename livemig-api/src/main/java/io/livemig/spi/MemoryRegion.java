package io.livemig.spi;

/**
 * A contiguous run of guest-physical pages that holds RAM.
 *
 * @param firstPage the first guest page frame number of the region (guest-physical address
 *                  divided by the page size); at least 0
 * @param pageCount the number of pages in the region; at least 1
 */
public record MemoryRegion(long firstPage, long pageCount) {

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException if {@code firstPage < 0}, {@code pageCount < 1} or the end overflows
     */
    public MemoryRegion {
        if (firstPage < 0) {
            throw new IllegalArgumentException("firstPage must be >= 0, was " + firstPage);
        }
        if (pageCount < 1) {
            throw new IllegalArgumentException("pageCount must be >= 1, was " + pageCount);
        }
        if (firstPage + pageCount < firstPage) {
            throw new IllegalArgumentException("region end overflows: " + firstPage + " + " + pageCount);
        }
    }

    /** {@return the page frame number just past the region (exclusive end)} */
    public long endPage() {
        return firstPage + pageCount;
    }

    /**
     * {@return whether {@code page} lies inside this region}
     *
     * @param page a page frame number, any value
     */
    public boolean contains(long page) {
        return page >= firstPage && page < endPage();
    }
}
