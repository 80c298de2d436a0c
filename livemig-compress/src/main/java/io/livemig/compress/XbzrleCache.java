package io.livemig.compress;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The source's cache of the page versions last sent, for XBZRLE: 4-way set-associative, constant
 * time per lookup. Page {@code p} lives in set {@code p mod sets}, so consecutive pages never
 * compete for a set and a cache at least as large as guest memory holds every page (the indexing
 * QEMU's direct-mapped cache uses, with four ways to absorb the pages that alias in a smaller
 * cache). Eviction: an empty way first, otherwise round-robin within the set. After every send the cached copy of a page
 * equals what the destination holds; a page evicted or never cached is sent whole (and cached).
 * The destination needs no cache of its own: its guest memory holds the old version.
 *
 * <p>Memory: one direct buffer of {@code capacityBytes} (rounded down to whole sets) plus 9
 * bytes of bookkeeping per slot. Not thread-safe: one encoder thread owns it.
 */
public final class XbzrleCache {

    private static final int WAYS = 4;

    private final int pageSize;
    private final int sets;
    private final long[] tags;
    private final byte[] nextVictim;
    private final ByteBuffer data;
    private long hits;
    private long misses;

    /**
     * @param capacityBytes bytes of page copies to keep, at least 4 pages
     * @param pageSize      the page size in bytes
     */
    public XbzrleCache(long capacityBytes, int pageSize) {
        long slots = capacityBytes / pageSize / WAYS * WAYS;
        if (slots < WAYS || slots * pageSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("XBZRLE cache of " + capacityBytes + " bytes must hold at least " + WAYS
                    + " pages and at most 2 GiB");
        }
        this.pageSize = pageSize;
        this.sets = (int) (slots / WAYS);
        this.tags = new long[(int) slots];
        java.util.Arrays.fill(tags, -1);
        this.nextVictim = new byte[sets];
        this.data = ByteBuffer.allocateDirect((int) (slots * pageSize)).order(ByteOrder.nativeOrder());
    }

    private int setOf(long page) {
        return (int) Long.remainderUnsigned(page, sets);
    }

    /**
     * @param page a page number
     * @return the byte offset of its cached copy in {@link #data()}, or -1 if not cached
     */
    public int lookup(long page) {
        int base = setOf(page) * WAYS;
        for (int w = 0; w < WAYS; w++) {
            if (tags[base + w] == page) {
                hits++;
                return (base + w) * pageSize;
            }
        }
        misses++;
        return -1;
    }

    /**
     * Makes room for {@code page} (evicting the set's next victim) and returns where its copy
     * goes; the caller copies the content in. If the page is cached already, its slot is returned.
     *
     * @return the byte offset of the page's slot in {@link #data()}
     */
    public int slotFor(long page) {
        int set = setOf(page);
        int base = set * WAYS;
        for (int w = 0; w < WAYS; w++) {
            if (tags[base + w] == page) {
                return (base + w) * pageSize;
            }
        }
        for (int w = 0; w < WAYS; w++) {
            if (tags[base + w] == -1) {
                tags[base + w] = page;
                return (base + w) * pageSize;
            }
        }
        int victim = base + nextVictim[set];
        nextVictim[set] = (byte) ((nextVictim[set] + 1) % WAYS);
        tags[victim] = page;
        return victim * pageSize;
    }

    /** Forgets {@code page} (its destination copy changed in a way the cache did not follow). */
    public void invalidate(long page) {
        int base = setOf(page) * WAYS;
        for (int w = 0; w < WAYS; w++) {
            if (tags[base + w] == page) {
                tags[base + w] = -1;
            }
        }
    }

    /** @return the backing store of the cached copies; use absolute access at offsets this cache gave */
    public ByteBuffer data() {
        return data;
    }

    /** @return lookups that found the page */
    public long hits() {
        return hits;
    }

    /** @return lookups that did not */
    public long misses() {
        return misses;
    }
}
