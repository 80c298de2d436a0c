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
 * <p>Slots are numbered way by way ({@code way * sets + set}), so the first way of consecutive
 * pages is consecutive memory, and their copies live in blocks of about 2 MiB that are made when
 * a slot in them is first handed out ({@link #block}). A cache sized to a guest's memory
 * therefore costs what the guest's written pages need, not its size up front: making (and
 * zeroing) a 1 GiB buffer before the first page cost more than the whole copy of a guest that
 * wrote 256 MiB.
 *
 * <p>Memory: direct buffers of at most {@code capacityBytes} (rounded down to whole sets) as
 * slots are used, plus 9 bytes of bookkeeping per slot. Not thread-safe: one encoder thread owns
 * it.
 */
public final class XbzrleCache {

    private static final int WAYS = 4;
    /** Bytes of page copies per block, when pages are smaller. */
    private static final int BLOCK_BYTES = 2 << 20;

    private final int pageSize;
    private final int sets;
    private final int slots;
    private final long[] tags;
    private final byte[] nextVictim;
    /** Slots per block: a power of two. */
    private final int slotsPerBlock;
    private final int blockShift;
    private final ByteBuffer[] blocks;
    private long hits;
    private long misses;

    /**
     * Creates a {@code XbzrleCache}.
     *
     * @param capacityBytes bytes of page copies to keep, at least 4 pages
     * @param pageSize      the page size in bytes
     * @throws IllegalArgumentException if that is fewer than 4 pages or more than 2 GiB
     */
    public XbzrleCache(long capacityBytes, int pageSize) {
        long slots = capacityBytes / pageSize / WAYS * WAYS;
        if (slots < WAYS || slots * pageSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("XBZRLE cache of " + capacityBytes + " bytes must hold at least " + WAYS
                    + " pages and at most 2 GiB");
        }
        this.pageSize = pageSize;
        this.slots = (int) slots;
        this.sets = (int) (slots / WAYS);
        this.tags = new long[(int) slots];
        java.util.Arrays.fill(tags, -1);
        this.nextVictim = new byte[sets];
        this.slotsPerBlock = Math.max(1, Integer.highestOneBit(BLOCK_BYTES / pageSize));
        this.blockShift = Integer.numberOfTrailingZeros(slotsPerBlock);
        this.blocks = new ByteBuffer[(this.slots + slotsPerBlock - 1) / slotsPerBlock];
    }

    private int setOf(long page) {
        return (int) Long.remainderUnsigned(page, sets);
    }

    /**
     * {@return its slot (for {@link #block} and {@link #offset}), or -1 if not cached}
     *
     * @param page a page number
     */
    public int lookup(long page) {
        int set = setOf(page);
        for (int w = 0, s = set; w < WAYS; w++, s += sets) {
            if (tags[s] == page) {
                hits++;
                return s;
            }
        }
        misses++;
        return -1;
    }

    /**
     * Makes room for {@code page} (evicting the set's next victim) and returns where its copy
     * goes; the caller copies the content in. If the page is cached already, its slot is returned.
     *
     * @param page the page number
     * @return the page's slot (for {@link #block} and {@link #offset})
     */
    public int slotFor(long page) {
        int set = setOf(page);
        for (int w = 0, s = set; w < WAYS; w++, s += sets) {
            if (tags[s] == page) {
                return s;
            }
        }
        for (int w = 0, s = set; w < WAYS; w++, s += sets) {
            if (tags[s] == -1) {
                tags[s] = page;
                return s;
            }
        }
        int victim = set + nextVictim[set] * sets;
        nextVictim[set] = (byte) ((nextVictim[set] + 1) % WAYS);
        tags[victim] = page;
        return victim;
    }

    /**
     * Forgets {@code page} (its destination copy changed in a way the cache did not follow).
     *
     * @param page the page number
     */
    public void invalidate(long page) {
        int set = setOf(page);
        for (int w = 0, s = set; w < WAYS; w++, s += sets) {
            if (tags[s] == page) {
                tags[s] = -1;
            }
        }
    }

    /**
     * The direct buffer holding a slot's copy, made (zeroed) the first time one of its slots is
     * asked for. Use absolute access at {@link #offset}{@code (slot)}.
     *
     * @param slot a slot {@link #lookup} or {@link #slotFor} gave
     * @return the block; its position and limit are not to be relied on
     */
    public ByteBuffer block(int slot) {
        int b = slot >>> blockShift;
        ByteBuffer block = blocks[b];
        if (block == null) {
            int inBlock = Math.min(slotsPerBlock, slots - (b << blockShift));
            block = ByteBuffer.allocateDirect(inBlock * pageSize).order(ByteOrder.nativeOrder());
            blocks[b] = block;
        }
        return block;
    }

    /**
     * {@return the byte offset of its copy in {@link #block}{@code (slot)}}
     *
     * @param slot a slot {@link #lookup} or {@link #slotFor} gave
     */
    public int offset(int slot) {
        return (slot & (slotsPerBlock - 1)) * pageSize;
    }

    /** {@return lookups that found the page} */
    public long hits() {
        return hits;
    }

    /** {@return lookups that did not} */
    public long misses() {
        return misses;
    }
}
