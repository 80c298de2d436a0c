package io.livemig.spi;

import java.util.List;

/**
 * The shape of a VM's guest-physical RAM: a page size and the regions that hold RAM. Real VMs
 * have holes (the PCI hole below 4 GiB, for instance); pages in a hole are never read, sent or
 * written.
 *
 * <p>Immutable and thread-safe.
 *
 * @param pageSizeBytes the page size in bytes: a power of two from 512 to 1 MiB (4096 on x86)
 * @param regions       the RAM regions, sorted by {@code firstPage}, not overlapping, at least one
 */
public record MemoryLayout(int pageSizeBytes, List<MemoryRegion> regions) {

    /** Largest page size accepted, in bytes. */
    public static final int MAX_PAGE_SIZE_BYTES = 1 << 20;

    /** Smallest page size accepted, in bytes. */
    public static final int MIN_PAGE_SIZE_BYTES = 512;

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for a bad page size, no region, or unsorted or overlapping regions
     */
    public MemoryLayout {
        if (Integer.bitCount(pageSizeBytes) != 1 || pageSizeBytes < MIN_PAGE_SIZE_BYTES
                || pageSizeBytes > MAX_PAGE_SIZE_BYTES) {
            throw new IllegalArgumentException("pageSizeBytes must be a power of two in ["
                    + MIN_PAGE_SIZE_BYTES + ", " + MAX_PAGE_SIZE_BYTES + "], was " + pageSizeBytes);
        }
        regions = List.copyOf(regions);
        if (regions.isEmpty()) {
            throw new IllegalArgumentException("a layout needs at least one region");
        }
        long previousEnd = 0;
        for (MemoryRegion region : regions) {
            if (region.firstPage() < previousEnd) {
                throw new IllegalArgumentException("regions must be sorted and must not overlap: " + regions);
            }
            previousEnd = region.endPage();
        }
        if (Math.multiplyHigh(previousEnd, pageSizeBytes) != 0 || previousEnd * pageSizeBytes < 0) {
            throw new IllegalArgumentException("layout exceeds 2^63 bytes of guest-physical space");
        }
    }

    /**
     * A layout of one region starting at guest-physical address 0.
     *
     * @param pageSizeBytes the page size in bytes
     * @param memoryBytes   the RAM size in bytes, a positive multiple of the page size
     * @return the layout
     */
    public static MemoryLayout contiguous(int pageSizeBytes, long memoryBytes) {
        if (pageSizeBytes <= 0 || memoryBytes <= 0 || memoryBytes % pageSizeBytes != 0) {
            throw new IllegalArgumentException("memoryBytes (" + memoryBytes
                    + ") must be a positive multiple of pageSizeBytes (" + pageSizeBytes + ")");
        }
        return new MemoryLayout(pageSizeBytes, List.of(new MemoryRegion(0, memoryBytes / pageSizeBytes)));
    }

    /** {@return the number of RAM pages, holes excluded} */
    public long pageCount() {
        long count = 0;
        for (MemoryRegion region : regions) {
            count += region.pageCount();
        }
        return count;
    }

    /** {@return the RAM size in bytes, holes excluded} */
    public long memoryBytes() {
        return pageCount() * pageSizeBytes;
    }

    /** {@return the page frame number just past the last region: the size a {@link PageSet} needs} */
    public long pageSpan() {
        return regions.get(regions.size() - 1).endPage();
    }

    /**
     * {@return whether {@code page} is a RAM page of this layout (not in a hole, not past the end)}
     *
     * @param page a page frame number, any value
     */
    public boolean contains(long page) {
        return regionIndexOf(page) >= 0;
    }

    /**
     * Whether the whole run {@code [firstPage, firstPage + pageCount)} lies inside one region.
     *
     * @param firstPage the first page of the run
     * @param pageCount the number of pages, at least 1
     * @return true if every page of the run is RAM in a single region
     */
    public boolean containsRun(long firstPage, long pageCount) {
        int index = regionIndexOf(firstPage);
        return index >= 0 && pageCount >= 1 && firstPage + pageCount <= regions.get(index).endPage()
                && firstPage + pageCount > firstPage;
    }

    /**
     * {@return the index in {@link #regions()} of the region that holds {@code page}, or -1}
     *
     * @param page a page frame number
     */
    public int regionIndexOf(long page) {
        int low = 0;
        int high = regions.size() - 1;
        while (low <= high) {
            int mid = (low + high) >>> 1;
            MemoryRegion region = regions.get(mid);
            if (page < region.firstPage()) {
                high = mid - 1;
            } else if (page >= region.endPage()) {
                low = mid + 1;
            } else {
                return mid;
            }
        }
        return -1;
    }
}
