package io.livemig.compress;

import java.util.Arrays;
import java.util.BitSet;

/**
 * The source side of dedup: for each page key, the hash of the content the destination now
 * holds there, and an open-addressing table from hash to one page holding it. A candidate is
 * used only if that page's remembered hash still equals the hash (a page re-sent with other
 * content is no longer a candidate). Hashes are {@link DedupCodec#hash}'s 128-bit
 * {@code {low, high}} pairs.
 *
 * <p>Memory: 17 bytes per page key plus 24 bytes per table slot (at most four slots per
 * distinct content). Not thread-safe: owned by one {@link DedupCodec}.
 */
final class DedupIndex {

    private final long[] sentLow;
    private final long[] sentHigh;
    private final BitSet known;
    private long[] tableLow;
    private long[] tableHigh;
    private long[] tablePage;
    private int used;

    /** @param pageKeys how many page keys the index may see: keys are {@code 0..pageKeys-1} */
    DedupIndex(long pageKeys) {
        if (pageKeys <= 0 || pageKeys > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("dedup needs between 1 and 2^31-1 pages, was " + pageKeys);
        }
        this.sentLow = new long[(int) pageKeys];
        this.sentHigh = new long[(int) pageKeys];
        this.known = new BitSet((int) pageKeys);
        allocate(1024);
    }

    /**
     * @return the key of a page the destination holds with content hashed {@code h}, other than
     *         {@code key}; -1 if none is known
     */
    long find(long key, long[] h) {
        int mask = tablePage.length - 1;
        for (int i = slot(h) & mask; tablePage[i] != -1; i = (i + 1) & mask) {
            if (tableLow[i] == h[0] && tableHigh[i] == h[1]) {
                long candidate = tablePage[i];
                if (candidate != key && holds(candidate, h)) {
                    return candidate;
                }
                return -1;
            }
        }
        return -1;
    }

    /** Records that the destination now holds content hashed {@code h} at page {@code key}. */
    void sent(long key, long[] h) {
        int k = (int) key;
        sentLow[k] = h[0];
        sentHigh[k] = h[1];
        known.set(k);
        int mask = tablePage.length - 1;
        int i = slot(h) & mask;
        for (; tablePage[i] != -1; i = (i + 1) & mask) {
            if (tableLow[i] == h[0] && tableHigh[i] == h[1]) {
                if (!holds(tablePage[i], h)) {
                    tablePage[i] = key;
                }
                return;
            }
        }
        tableLow[i] = h[0];
        tableHigh[i] = h[1];
        tablePage[i] = key;
        if (++used * 2 > tablePage.length) {
            rehash();
        }
    }

    /** Forgets what the destination holds at {@code key} (sent as zero, or outside the index's view). */
    void forget(long key) {
        known.clear((int) key);
    }

    private boolean holds(long key, long[] h) {
        int k = (int) key;
        return known.get(k) && sentLow[k] == h[0] && sentHigh[k] == h[1];
    }

    private static int slot(long[] h) {
        return (int) (h[0] ^ (h[0] >>> 32));
    }

    private void allocate(int slots) {
        tableLow = new long[slots];
        tableHigh = new long[slots];
        tablePage = new long[slots];
        Arrays.fill(tablePage, -1);
        used = 0;
    }

    /** Doubles the table when half full, keeping only entries that are still true. */
    private void rehash() {
        long[] low = tableLow;
        long[] high = tableHigh;
        long[] page = tablePage;
        int live = 0;
        for (int i = 0; i < page.length; i++) {
            if (page[i] != -1 && holds(page[i], new long[] {low[i], high[i]})) {
                live++;
            }
        }
        int slots = page.length;
        while (live * 4 > slots) {
            slots *= 2;
        }
        allocate(slots);
        int mask = slots - 1;
        for (int i = 0; i < page.length; i++) {
            long[] h = {low[i], high[i]};
            if (page[i] != -1 && holds(page[i], h)) {
                int j = slot(h) & mask;
                while (tablePage[j] != -1) {
                    j = (j + 1) & mask;
                }
                tableLow[j] = h[0];
                tableHigh[j] = h[1];
                tablePage[j] = page[i];
                used++;
            }
        }
    }
}
