package io.livemig.spi;

import java.util.Arrays;
import java.util.Objects;

/**
 * A set of guest page frame numbers in {@code [0, pageSpan)}, stored as a bitmap of one bit per
 * page (128 KiB per GiB of 4 KiB pages). It is what {@link DirtyTracker#collect()} returns and
 * what engines use to remember which pages remain to be sent.
 *
 * <p>Iterate with {@link #nextSetBit(long)}, which skips 64 clear pages per step:
 * <pre>{@code
 * for (long page = set.nextSetBit(0); page >= 0; page = set.nextSetBit(page + 1)) { ... }
 * }</pre>
 *
 * <p>Bitmap words are exposed ({@link #word(int)}, {@link #orWord(int, long)} and their bulk forms
 * {@link #copyWords(int, long[])}, {@link #orWords(int, long[])}) so that a provider
 * can merge a hypervisor's native dirty bitmap, which has the same layout (bit {@code i} of word
 * {@code w} is page {@code 64 * w + i}), without a per-page loop.
 *
 * <p>Not thread-safe: a set is owned by one thread at a time; hand it over with a
 * happens-before edge (a queue, a lock, a returned value).
 */
public final class PageSet {

    private final long pageSpan;
    private final long[] words;

    /**
     * Creates an empty set.
     *
     * @param pageSpan the exclusive upper bound of page numbers, at least 0 and at most 2^37
     *                 (512 TiB of 4 KiB pages)
     */
    public PageSet(long pageSpan) {
        if (pageSpan < 0 || pageSpan > (1L << 37)) {
            throw new IllegalArgumentException("pageSpan must be in [0, 2^37], was " + pageSpan);
        }
        this.pageSpan = pageSpan;
        this.words = new long[(int) ((pageSpan + 63) >>> 6)];
    }

    private PageSet(long pageSpan, long[] words) {
        this.pageSpan = pageSpan;
        this.words = words;
    }

    /**
     * {@return a new set holding every RAM page of {@code layout} (holes excluded)}
     *
     * @param layout a memory layout
     */
    public static PageSet allOf(MemoryLayout layout) {
        PageSet set = new PageSet(layout.pageSpan());
        for (MemoryRegion region : layout.regions()) {
            set.addRange(region.firstPage(), region.pageCount());
        }
        return set;
    }

    /** {@return the exclusive upper bound of page numbers this set can hold} */
    public long pageSpan() {
        return pageSpan;
    }

    /** {@return the number of 64-bit words of the bitmap} */
    public int wordCount() {
        return words.length;
    }

    /**
     * {@return the bitmap word: bit {@code i} is page {@code 64 * index + i}}
     *
     * @param index a word index in {@code [0, wordCount())}
     */
    public long word(int index) {
        return words[index];
    }

    /**
     * ORs {@code bits} into word {@code index}. Bits past {@link #pageSpan()} are ignored.
     *
     * @param index a word index in {@code [0, wordCount())}
     * @param bits  the bits to add
     */
    public void orWord(int index, long bits) {
        words[index] |= bits & validMask(index);
    }

    /**
     * Copies {@code into.length} bitmap words from word {@code fromIndex} into {@code into}: the
     * bulk form of {@link #word(int)}, for sending a set (one array copy, not a call per word).
     *
     * @param fromIndex the first word, with {@code fromIndex + into.length <= wordCount()}
     * @param into      where the words go
     * @throws IndexOutOfBoundsException if the range leaves the bitmap
     */
    public void copyWords(int fromIndex, long[] into) {
        Objects.checkFromIndexSize(fromIndex, into.length, words.length);
        System.arraycopy(words, fromIndex, into, 0, into.length);
    }

    /**
     * ORs {@code bits} into the words from {@code fromIndex}: the bulk form of
     * {@link #orWord(int, long)}. Bits past {@link #pageSpan()} are ignored.
     *
     * @param fromIndex the first word, with {@code fromIndex + bits.length <= wordCount()}
     * @param bits      the words to add
     * @throws IndexOutOfBoundsException if the range leaves the bitmap
     */
    public void orWords(int fromIndex, long[] bits) {
        Objects.checkFromIndexSize(fromIndex, bits.length, words.length);
        for (int i = 0; i < bits.length; i++) {
            words[fromIndex + i] |= bits[i];
        }
        if (bits.length > 0) {
            int last = words.length - 1;
            words[last] &= validMask(last);
        }
    }

    private long validMask(int index) {
        long firstPage = (long) index << 6;
        long remaining = pageSpan - firstPage;
        return remaining >= 64 ? -1L : (1L << remaining) - 1;
    }

    /**
     * Adds {@code page}.
     *
     * @param page the page number
     * @throws IndexOutOfBoundsException if outside {@code [0, pageSpan)}
     */
    public void add(long page) {
        Objects.checkIndex(page, pageSpan);
        words[(int) (page >>> 6)] |= 1L << page;
    }

    /**
     * Removes {@code page}.
     *
     * @param page the page number
     * @throws IndexOutOfBoundsException if outside {@code [0, pageSpan)}
     */
    public void remove(long page) {
        Objects.checkIndex(page, pageSpan);
        words[(int) (page >>> 6)] &= ~(1L << page);
    }

    /**
     * {@return whether {@code page} is in the set; false for pages outside {@code [0, pageSpan)}}
     *
     * @param page the page number, any value
     */
    public boolean contains(long page) {
        return page >= 0 && page < pageSpan && (words[(int) (page >>> 6)] & (1L << page)) != 0;
    }

    /**
     * Adds the run {@code [firstPage, firstPage + pageCount)}.
     *
     * @param firstPage the run's first page
     * @param pageCount the run's length in pages, not negative
     * @throws IndexOutOfBoundsException if the run leaves {@code [0, pageSpan)}
     */
    public void addRange(long firstPage, long pageCount) {
        Objects.checkFromIndexSize(firstPage, pageCount, pageSpan);
        long end = firstPage + pageCount;
        long page = firstPage;
        while (page < end) {
            int word = (int) (page >>> 6);
            int bit = (int) (page & 63);
            int span = (int) Math.min(64 - bit, end - page);
            long mask = span == 64 ? -1L : ((1L << span) - 1) << bit;
            words[word] |= mask;
            page += span;
        }
    }

    /**
     * {@return the smallest page {@code >= fromPage} in the set, or -1 if there is none}
     *
     * @param fromPage the page to start from, inclusive; may be past the end
     */
    public long nextSetBit(long fromPage) {
        if (fromPage < 0) {
            fromPage = 0;
        }
        if (fromPage >= pageSpan) {
            return -1;
        }
        int index = (int) (fromPage >>> 6);
        long word = words[index] & (-1L << fromPage);
        while (true) {
            if (word != 0) {
                return ((long) index << 6) + Long.numberOfTrailingZeros(word);
            }
            if (++index == words.length) {
                return -1;
            }
            word = words[index];
        }
    }

    /**
     * {@return the smallest page {@code >= fromPage} not in the set, or {@link #pageSpan()} if none}
     *
     * @param fromPage the page to start from, inclusive
     */
    public long nextClearBit(long fromPage) {
        if (fromPage < 0) {
            fromPage = 0;
        }
        if (fromPage >= pageSpan) {
            return pageSpan;
        }
        int index = (int) (fromPage >>> 6);
        long word = ~words[index] & (-1L << fromPage);
        while (true) {
            if (word != 0) {
                return Math.min(pageSpan, ((long) index << 6) + Long.numberOfTrailingZeros(word));
            }
            if (++index == words.length) {
                return pageSpan;
            }
            word = ~words[index];
        }
    }

    /** {@return the number of pages in the set (a popcount over the bitmap, O(pageSpan / 64))} */
    public long cardinality() {
        long count = 0;
        for (long word : words) {
            // Zero words skip the call: a switchover's sparse 1 GiB set is counted in the
            // interpreter, where a call per word costs 410 µs and a test per word 70.
            if (word != 0) {
                count += Long.bitCount(word);
            }
        }
        return count;
    }

    /** {@return whether the set holds no page} */
    public boolean isEmpty() {
        for (long word : words) {
            if (word != 0) {
                return false;
            }
        }
        return true;
    }

    /** Removes every page. */
    public void clear() {
        Arrays.fill(words, 0);
    }

    /**
     * Adds every page of {@code other}.
     *
     * @param other a set of the same page span
     * @throws IllegalArgumentException if the spans differ
     */
    public void addAll(PageSet other) {
        checkSameSpan(other);
        for (int i = 0; i < words.length; i++) {
            words[i] |= other.words[i];
        }
    }

    /**
     * Removes every page of {@code other}.
     *
     * @param other a set of the same page span
     * @throws IllegalArgumentException if the spans differ
     */
    public void removeAll(PageSet other) {
        checkSameSpan(other);
        for (int i = 0; i < words.length; i++) {
            words[i] &= ~other.words[i];
        }
    }

    /**
     * Keeps only the pages that are also in {@code other} (intersection).
     *
     * @param other a set of the same page span
     * @throws IllegalArgumentException if the spans differ
     */
    public void retainAll(PageSet other) {
        checkSameSpan(other);
        for (int i = 0; i < words.length; i++) {
            words[i] &= other.words[i];
        }
    }

    private void checkSameSpan(PageSet other) {
        if (other.pageSpan != pageSpan) {
            throw new IllegalArgumentException("page spans differ: " + pageSpan + " vs " + other.pageSpan);
        }
    }

    /** {@return an independent copy} */
    public PageSet copy() {
        return new PageSet(pageSpan, words.clone());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PageSet other && other.pageSpan == pageSpan && Arrays.equals(words, other.words);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(pageSpan) * 31 + Arrays.hashCode(words);
    }

    @Override
    public String toString() {
        return "PageSet[span=" + pageSpan + ", cardinality=" + cardinality() + "]";
    }
}
