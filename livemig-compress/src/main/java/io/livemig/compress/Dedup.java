package io.livemig.compress;

import com.google.common.hash.HashCode;
import com.google.common.hash.HashFunction;
import com.google.common.hash.Hashing;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Page deduplication: a page whose content equals that of a page the destination already holds
 * travels as a 24-byte reference instead of its bytes.
 *
 * <p>Payload on the wire (little-endian): {@code sourcePage:u64}, then the page's 128-bit
 * MurmurHash3 ({@code hashLow:u64, hashHigh:u64}). The destination copies its current content of
 * {@code sourcePage}, hashes it and installs it only if the hash matches, so a stale or forged
 * reference is refused ({@link CorruptPageException}) instead of installing wrong content. What
 * remains is a true 128-bit collision between two different pages: for {@code n} distinct page
 * contents its probability is below {@code n² / 2¹²⁹}, under 2⁻⁷³ for a 1 TiB guest of 4 KiB
 * pages; that is the stated bound.
 *
 * <p>The source side ({@link #Dedup(long)}) remembers, for each page it sent, the hash of the
 * content the destination now holds there, and an open-addressing table from hash to one page
 * holding it. A candidate is used only if that page's remembered hash still equals the hash
 * (a page re-sent with other content is no longer a candidate). Memory: 17 bytes per page of
 * the span plus 24 bytes per table slot (at most four slots per distinct content).
 *
 * <p>Not thread-safe: owned by one {@link PageEncoder}.
 */
public final class Dedup {

    /** Bytes of a dedup reference payload. */
    public static final int PAYLOAD_BYTES = 24;

    private static final HashFunction HASH = Hashing.murmur3_128();

    private final long[] sentLow;
    private final long[] sentHigh;
    private final java.util.BitSet known;
    private long[] tableLow;
    private long[] tableHigh;
    private long[] tablePage;
    private int used;

    /** @param pageKeys how many page keys the index may see: keys are {@code 0..pageKeys-1} */
    public Dedup(long pageKeys) {
        if (pageKeys <= 0 || pageKeys > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("dedup needs between 1 and 2^31-1 pages, was " + pageKeys);
        }
        this.sentLow = new long[(int) pageKeys];
        this.sentHigh = new long[(int) pageKeys];
        this.known = new java.util.BitSet((int) pageKeys);
        allocate(1024);
    }

    /** @return the 128-bit hash of {@code length} bytes at {@code at}, as {low, high} */
    public static long[] hash(ByteBuffer buffer, int at, int length) {
        HashCode code = HASH.hashBytes(buffer.duplicate().limit(at + length).position(at));
        ByteBuffer b = ByteBuffer.wrap(code.asBytes()).order(ByteOrder.LITTLE_ENDIAN);
        return new long[] {b.getLong(0), b.getLong(8)};
    }

    /**
     * @return the key of a page the destination holds with content hashed {@code h}, other than
     *         {@code key}; -1 if none is known
     */
    public long find(long key, long[] h) {
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
    public void sent(long key, long[] h) {
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
    public void forget(long key) {
        known.clear((int) key);
    }

    /** Writes a reference payload at {@code at}: the page to copy and the content's hash. */
    public static void writeReference(ByteBuffer out, int at, long sourcePage, long[] h) {
        ByteBuffer le = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        le.putLong(at, sourcePage).putLong(at + 8, h[0]).putLong(at + 16, h[1]);
    }

    /**
     * @return the page a reference payload names
     * @throws CorruptPageException if the payload is not {@link #PAYLOAD_BYTES} long
     */
    public static long referencedPage(long pageNumber, ByteBuffer payload) {
        checkLength(pageNumber, payload);
        return payload.duplicate().order(ByteOrder.LITTLE_ENDIAN).getLong(payload.position());
    }

    /**
     * Checks that {@code content} (one page at {@code at}) hashes to what the reference says.
     *
     * @throws CorruptPageException if it does not: the reference is stale or forged
     */
    public static void verify(long pageNumber, ByteBuffer payload, ByteBuffer content, int at, int pageSize) {
        checkLength(pageNumber, payload);
        ByteBuffer le = payload.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long[] h = hash(content, at, pageSize);
        if (h[0] != le.getLong(payload.position() + 8) || h[1] != le.getLong(payload.position() + 16)) {
            throw new CorruptPageException(pageNumber, PageEncoding.DEDUP, "the referenced page "
                    + le.getLong(payload.position()) + " does not hold the content the reference names");
        }
    }

    private static void checkLength(long pageNumber, ByteBuffer payload) {
        if (payload.remaining() != PAYLOAD_BYTES) {
            throw new CorruptPageException(pageNumber, PageEncoding.DEDUP, "reference of " + payload.remaining()
                    + " bytes, not " + PAYLOAD_BYTES);
        }
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
