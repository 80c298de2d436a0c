package io.livemig.compress;

/** The one check every codec makes of the page size it is built for. */
final class PageSizes {

    private PageSizes() {
    }

    /**
     * @return {@code pageSize}
     * @throws IllegalArgumentException unless it is positive
     */
    static int require(int pageSize) {
        if (pageSize <= 0) {
            throw new IllegalArgumentException("page size must be positive, was " + pageSize);
        }
        return pageSize;
    }
}
