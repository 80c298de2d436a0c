package io.livemig.compress;

import java.nio.ByteBuffer;
import java.util.BitSet;

/**
 * XBZRLE deltas ({@link Xbzrle}, whose comment holds the format) against the version of the page
 * the destination already holds. The encode side owns an {@link XbzrleCache} of the versions last
 * sent; the destination needs none, since its guest memory holds the old version, so the decode
 * side applies the delta to the page's current content ({@link PageDecoder#basePage} is the page
 * itself).
 *
 * <p>An unchanged page encodes to nothing, reported as {@link #UNCHANGED}. A page the cache does
 * not hold, or whose delta does not fit in {@code maxBytes}, is declined and cached, since the
 * caller then sends it whole (with admission on the second miss, a page that misses for the first
 * time is declined and not cached).
 *
 * <p>Not thread-safe: the cache is confined to the one encoding thread that owns this instance.
 * Decoding keeps no state and allocates nothing, so a decode-only instance may be shared.
 */
public final class XbzrleCodec implements HistoryCodec {

    private final int pageSize;
    private final XbzrleCache cache;
    /**
     * With admission on the second miss: the keys that missed once and were not cached; null
     * when every miss is cached.
     */
    private final BitSet missedOnce;

    /**
     * A codec for decoding only: {@link #encode}, {@link #sent} and {@link #forget} throw.
     *
     * @param pageSize the page size in bytes
     */
    public XbzrleCodec(int pageSize) {
        this.pageSize = PageSizes.require(pageSize);
        this.cache = null;
        this.missedOnce = null;
    }

    /**
     * A codec for both sides, with a cache of {@code cacheBytes}.
     *
     * @param pageSize   the page size in bytes
     * @param cacheBytes bytes of page copies to keep (see {@link XbzrleCache})
     */
    public XbzrleCodec(int pageSize, long cacheBytes) {
        this.pageSize = PageSizes.require(pageSize);
        this.cache = new XbzrleCache(cacheBytes, pageSize);
        this.missedOnce = null;
    }

    /**
     * A codec for both sides whose cache admits a page on its second miss, not its first: a page
     * sent whole once is not cached, and one sent whole again is. Where the CPU, not the link,
     * limits a migration, a page the guest writes once (a sequential writer's) then costs no
     * copy into the cache nor the cache memory's first touch; a page written round after round
     * travels as deltas one send later than with admission on the first miss.
     *
     * @param pageSize   the page size in bytes
     * @param cacheBytes bytes of page copies to keep (see {@link XbzrleCache})
     * @param keys       how many keys the codec will see (keys are {@code [0, keys)}); a key
     *                   beyond is admitted on its first miss
     */
    public XbzrleCodec(int pageSize, long cacheBytes, long keys) {
        this.pageSize = PageSizes.require(pageSize);
        this.cache = new XbzrleCache(cacheBytes, pageSize);
        this.missedOnce = new BitSet((int) Math.min(keys, Integer.MAX_VALUE));
    }

    /** @return whether a key that missed the cache is cached now (otherwise it is only noted) */
    private boolean admit(long key) {
        if (missedOnce == null || key < 0 || key >= Integer.MAX_VALUE || missedOnce.get((int) key)) {
            return true;
        }
        missedOnce.set((int) key);
        return false;
    }

    @Override
    public PageEncoding encoding() {
        return PageEncoding.XBZRLE;
    }

    /**
     * {@return the delta's length; {@link #UNCHANGED} if the cached version equals the page;
     * {@link #DECLINED} if the page is not cached or its delta would exceed
     * {@code maxBytes} (or {@code out}'s limit). Either way the cache now holds the page}
     */
    @Override
    public int encode(long key, ByteBuffer page, int pageAt, ByteBuffer out, int outAt, int maxBytes) {
        XbzrleCache c = encodeSide();
        int slot = c.lookup(key);
        if (slot >= 0) {
            ByteBuffer cached = c.block(slot);
            int at = c.offset(slot);
            int n = Xbzrle.encode(cached, at, page, pageAt, pageSize, out.duplicate().position(outAt), maxBytes);
            if (n >= 0) {
                cached.put(at, page, pageAt, pageSize);
                return n == 0 ? UNCHANGED : n;
            }
            cached.put(at, page, pageAt, pageSize);
            return DECLINED;
        }
        if (admit(key)) {
            insert(c, key, page, pageAt);
        }
        return DECLINED;
    }

    /**
     * {@link #encode} for a page that lies where its encoding goes: the raw page at
     * {@code [at, at + pageSize)} of {@code frame} is replaced by its delta, or left as it is when
     * the codec declines. The result, the delta's bytes and the cache afterwards are those of
     * {@code encode(key, page, 0, frame, at, maxBytes)} on a copy of the page; this saves the
     * copies: a page the cache does not hold is copied once, into the cache, and a cached page
     * is brought up to date by writing the delta's changed bytes into it.
     *
     * @param key      the page's key
     * @param frame    the buffer holding the raw page
     * @param at       its offset, where the delta goes
     * @param maxBytes the most bytes the delta may take, less than the page size
     * @param work     a buffer of at least a page, for the delta before it is written over the
     *                 page; its content and position afterwards are unspecified
     * @return the delta's length; {@link #UNCHANGED}; or {@link #DECLINED}, the frame unchanged.
     *         Either way the cache now holds the page
     * @throws IllegalStateException if this instance was made for decoding only
     */
    public int encodeInPlace(long key, ByteBuffer frame, int at, int maxBytes, ByteBuffer work) {
        XbzrleCache c = encodeSide();
        int slot = c.lookup(key);
        if (slot >= 0) {
            ByteBuffer cached = c.block(slot);
            int cachedAt = c.offset(slot);
            int n = Xbzrle.encode(cached, cachedAt, frame, at, pageSize, work.clear(), maxBytes);
            if (n == 0) {
                return UNCHANGED;
            }
            if (n > 0) {
                Xbzrle.patch(work, 0, n, cached, cachedAt);
                frame.put(at, work, 0, n);
                return n;
            }
            cached.put(cachedAt, frame, at, pageSize);
            return DECLINED;
        }
        if (admit(key)) {
            insert(c, key, frame, at);
        }
        return DECLINED;
    }

    /** Caches the page at {@code [at, at + pageSize)} of {@code page} as {@code key}'s version. */
    private void insert(XbzrleCache c, long key, ByteBuffer page, int at) {
        int slot = c.slotFor(key);
        c.block(slot).put(c.offset(slot), page, at, pageSize);
    }

    /** Caches the page: the destination's copy changed without a delta (a dedup reference, say). */
    @Override
    public void sent(long key, ByteBuffer page, int pageAt) {
        insert(encodeSide(), key, page, pageAt);
    }

    @Override
    public void forget(long key) {
        encodeSide().invalidate(key);
    }

    /**
     * Applies the delta to {@code page}, which holds the page's current content.
     *
     * @throws CorruptPageException if the delta is malformed; {@code page} is then unchanged
     */
    @Override
    public void decode(long pageNumber, ByteBuffer payload, ByteBuffer page) {
        Xbzrle.decode(payload, payload.position(), payload.remaining(), page, 0, pageSize, pageNumber);
    }

    /** {@return lookups that found the page in the cache} */
    public long cacheHits() {
        return encodeSide().hits();
    }

    /** {@return lookups that did not} */
    public long cacheMisses() {
        return encodeSide().misses();
    }

    private XbzrleCache encodeSide() {
        if (cache == null) {
            throw new IllegalStateException("this XBZRLE codec was made for decoding only: it has no cache");
        }
        return cache;
    }
}
