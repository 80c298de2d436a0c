package io.livemig.compress;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;
import java.util.function.LongUnaryOperator;

/**
 * Chooses the encoding of each page the source sends and produces it, in place in the frame
 * being built: zero pages travel as a bare entry; a page whose content the destination already
 * holds at another page travels as a {@link Dedup} reference; a page the XBZRLE cache holds
 * travels as a delta when that is small; otherwise the compressor's output (LZ4 or Zstd) when it
 * saves at least {@link #MIN_SAVING_BYTES}; otherwise the raw page. So no page ever costs more
 * than raw.
 *
 * <p>Pages are known to the encoder's cache and dedup index by a <em>key</em>, {@code 0} to
 * {@code pageKeys - 1}: the page number itself for one encoder, a dense index into its share of
 * memory when several encoders split the pages between them (so that each cache is dense).
 * Dedup references name only pages this encoder sent, so that they always follow, on the same
 * stream, the content they refer to.
 *
 * <p>Not thread-safe: one encoder per sending thread (it owns its XBZRLE cache and scratch).
 */
public final class PageEncoder {

    /** A compressed or delta page must save at least this much over raw, or raw is sent. */
    public static final int MIN_SAVING_BYTES = 64;

    /**
     * What the encoder may use.
     *
     * @param encodings      the encodings allowed besides zero and raw: XBZRLE, LZ4, ZSTD, DEDUP
     * @param xbzrleCacheBytes bytes of page copies the XBZRLE cache keeps
     * @param zstdLevel      Zstd's level, 1 (fast) to 19
     */
    public record Config(Set<PageEncoding> encodings, long xbzrleCacheBytes, int zstdLevel) {
        /** @throws IllegalArgumentException for an encoding that is not a codec, or a bad level */
        public Config {
            encodings = encodings.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(encodings));
            for (PageEncoding e : encodings) {
                if (e == PageEncoding.ZERO || e == PageEncoding.RAW) {
                    throw new IllegalArgumentException(e.reportName() + " is always on; it is not a codec");
                }
            }
            if (zstdLevel < 1 || zstdLevel > 19) {
                throw new IllegalArgumentException("zstd level must be in [1, 19], was " + zstdLevel);
            }
        }
    }

    /** What {@link #encode} chose. */
    public enum Result { ZERO, RAW, XBZRLE, LZ4, ZSTD, DEDUP, UNCHANGED }

    private final int pageSize;
    private final XbzrleCache cache;
    private final Dedup dedup;
    private final LongUnaryOperator pageOfKey;
    private final LZ4Compressor lz4;
    private final ZstdCompressCtx zstd;
    private final ByteBuffer scratch;
    private final long[] bytesByResult = new long[Result.values().length];
    private final long[] pagesByResult = new long[Result.values().length];

    /**
     * @param config   what to use
     * @param pageSize the page size in bytes
     * @param pageSpan the page span of guest memory; keys are page numbers
     */
    public PageEncoder(Config config, int pageSize, long pageSpan) {
        this(config, pageSize, pageSpan, LongUnaryOperator.identity());
    }

    /**
     * @param config    what to use
     * @param pageSize  the page size in bytes
     * @param pageKeys  how many page keys the encoder will see
     * @param pageOfKey the page number of a key, which a dedup reference to it carries
     */
    public PageEncoder(Config config, int pageSize, long pageKeys, LongUnaryOperator pageOfKey) {
        Objects.requireNonNull(config, "config");
        this.pageSize = pageSize;
        this.pageOfKey = Objects.requireNonNull(pageOfKey, "pageOfKey");
        this.dedup = config.encodings().contains(PageEncoding.DEDUP) ? new Dedup(pageKeys) : null;
        this.cache = config.encodings().contains(PageEncoding.XBZRLE)
                ? new XbzrleCache(config.xbzrleCacheBytes(), pageSize) : null;
        this.lz4 = config.encodings().contains(PageEncoding.LZ4) ? LZ4Factory.fastestInstance().fastCompressor() : null;
        this.zstd = config.encodings().contains(PageEncoding.ZSTD) ? new ZstdCompressCtx().setLevel(config.zstdLevel())
                : null;
        this.scratch = ByteBuffer.allocateDirect(pageSize).order(ByteOrder.nativeOrder());
    }

    /**
     * Encodes the raw page that lies at {@code [at, at + pageSize)} of {@code frame}, replacing it
     * with its encoding.
     *
     * @param key   the page's key (see the class comment)
     * @param frame a direct buffer holding the raw page
     * @param at    the page's offset; the encoding is written from there
     * @param zero  whether the page is known to be all zero
     * @param allowDelta whether the destination holds the version last sent of this page (false in
     *                   post-copy, where it is missing there): without it no XBZRLE delta or dedup
     *                   reference is made and what the encoder knew of the page is dropped
     * @return the encoding chosen and its length in bytes ({@link #lastLength()}); UNCHANGED means
     *         the destination already holds exactly this content and nothing need be sent
     */
    public Result encode(long key, ByteBuffer frame, int at, boolean zero, boolean allowDelta) {
        Result result = choose(key, frame, at, zero, allowDelta);
        pagesByResult[result.ordinal()]++;
        bytesByResult[result.ordinal()] += lastLength;
        return result;
    }

    private int lastLength;

    /** @return the payload length of the last {@link #encode} result */
    public int lastLength() {
        return lastLength;
    }

    private Result choose(long page, ByteBuffer frame, int at, boolean zero, boolean allowDelta) {
        if (!allowDelta || zero) {
            if (cache != null) {
                cache.invalidate(page);
            }
            if (dedup != null) {
                dedup.forget(page);
            }
        }
        if (zero) {
            lastLength = 0;
            return Result.ZERO;
        }
        if (cache == null && lz4 == null && zstd == null && dedup == null) {
            lastLength = pageSize;
            return Result.RAW;
        }
        if (dedup != null && allowDelta) {
            long[] h = Dedup.hash(frame, at, pageSize);
            long same = dedup.find(page, h);
            dedup.sent(page, h);
            if (same >= 0) {
                if (cache != null) {
                    // The destination's copy changes under the cache's feet: keep them equal.
                    cache.data().put(cache.slotFor(page), frame, at, pageSize);
                }
                Dedup.writeReference(frame, at, pageOfKey.applyAsLong(same), h);
                lastLength = Dedup.PAYLOAD_BYTES;
                return Result.DEDUP;
            }
        }
        // Work from a copy: every encoding below is written over the raw page in the frame.
        scratch.put(0, frame, at, pageSize);
        int limit = pageSize - MIN_SAVING_BYTES;
        if (cache != null && allowDelta) {
            int slot = cache.lookup(page);
            ByteBuffer cached = cache.data();
            if (slot >= 0) {
                ByteBuffer out = frame.duplicate().position(at);
                int n = Xbzrle.encode(cached, slot, scratch, 0, pageSize, out, limit);
                if (n >= 0) {
                    cached.put(slot, scratch, 0, pageSize);
                    lastLength = n;
                    return n == 0 ? Result.UNCHANGED : Result.XBZRLE;
                }
            }
            cached.put(cache.slotFor(page), scratch, 0, pageSize);
        }
        if (lz4 != null) {
            try {
                int n = lz4.compress(scratch, 0, pageSize, frame, at, limit);
                lastLength = n;
                return Result.LZ4;
            } catch (LZ4Exception doesNotFit) {
                // incompressible: fall through
            }
        }
        if (zstd != null) {
            try {
                int n = zstd.compressDirectByteBuffer(frame, at, limit, scratch, 0, pageSize);
                if (!Zstd.isError(n) && n > 0 && n <= limit) {
                    lastLength = n;
                    return Result.ZSTD;
                }
            } catch (com.github.luben.zstd.ZstdException doesNotFit) {
                // incompressible: fall through
            }
        }
        frame.put(at, scratch, 0, pageSize);
        lastLength = pageSize;
        return Result.RAW;
    }

    /** @return pages encoded per result, indexed by {@link Result#ordinal()} (a copy) */
    public long[] pagesByResult() {
        return pagesByResult.clone();
    }

    /** @return payload bytes per result, indexed by {@link Result#ordinal()} (a copy) */
    public long[] bytesByResult() {
        return bytesByResult.clone();
    }

    /** @return the XBZRLE cache's hits and misses, or zeros without XBZRLE */
    public long[] cacheHitsAndMisses() {
        return cache == null ? new long[2] : new long[] {cache.hits(), cache.misses()};
    }
}
