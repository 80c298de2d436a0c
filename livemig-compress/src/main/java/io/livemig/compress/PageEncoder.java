package io.livemig.compress;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.LongUnaryOperator;

/**
 * Chooses the encoding of each page the source sends and produces it, in place in the frame
 * being built, by asking its {@link PageCodec}s in a fixed order and taking the first that
 * accepts the page:
 * <ol>
 * <li>{@link PageEncoding#ZERO zero}: the caller says whether the page is all zero
 *     ({@link ZeroPages#isZero}), so it is not scanned twice;</li>
 * <li>{@link DedupCodec dedup}: a reference to another page the destination holds with this
 *     content;</li>
 * <li>{@link XbzrleCodec XBZRLE}: a delta against the version last sent, or nothing at all
 *     ({@link #UNCHANGED}) when it is empty;</li>
 * <li>{@link Lz4Codec LZ4}, then {@link ZstdCodec Zstd};</li>
 * <li>{@link RawPageCodec raw}, which always accepts.</li>
 * </ol>
 * Only the codecs the {@link Config} names take part. Dedup and XBZRLE are asked only when the
 * destination holds what they build on ({@code allowDelta}). Every codec but raw must save at
 * least {@link #MIN_SAVING_BYTES}, so no page ever costs more than raw.
 *
 * <p>History: dedup and XBZRLE ({@link HistoryCodec}s) record every page they are asked about as
 * what the destination will hold, since every later codec reproduces the page exactly; when an
 * earlier codec takes the page (a dedup reference), the later history codecs are told it was
 * {@link HistoryCodec#sent sent}. A zero page, or any page without {@code allowDelta}, makes them
 * {@link HistoryCodec#forget forget} the page.
 *
 * <p>Pages are known to the encoder's history by a <em>key</em>, {@code 0} to
 * {@code pageKeys - 1}: the page number itself for one encoder, a dense index into its share of
 * memory when several encoders split the pages between them (so that each cache is dense).
 * Dedup references name only pages this encoder sent, so that they always follow, on the same
 * stream, the content they refer to.
 *
 * <p>Not thread-safe: one encoder per sending thread (it owns its codecs, their history and its
 * scratch page).
 */
public final class PageEncoder {

    /** A compressed or delta page must save at least this much over raw, or raw is sent. */
    public static final int MIN_SAVING_BYTES = 64;

    /** {@link #encode} result: the destination already holds exactly this content; send nothing. */
    public static final int UNCHANGED = PageCodec.UNCHANGED;

    /**
     * What the encoder may use.
     *
     * @param encodings      the encodings allowed besides zero and raw: XBZRLE, LZ4, ZSTD, DEDUP
     * @param xbzrleCacheBytes bytes of page copies the XBZRLE cache keeps
     * @param zstdLevel      Zstd's level, 1 (fast) to 19
     * @param xbzrleFirstPass whether XBZRLE caches the pages of a migration's first pass (see
     *                        {@link #encode(long, ByteBuffer, int, boolean, boolean, boolean)})
     *                        and every page it sends whole: worth its CPU where the link, not
     *                        the CPU, limits the migration. Otherwise the first pass caches
     *                        nothing and a page is cached on its second whole send after it
     *                        ({@link XbzrleCodec#XbzrleCodec(int, long, long)})
     */
    public record Config(Set<PageEncoding> encodings, long xbzrleCacheBytes, int zstdLevel, boolean xbzrleFirstPass) {

        /**
         * A config whose XBZRLE caches the first pass too.
         *
         * @param encodings        the encodings allowed besides zero and raw
         * @param xbzrleCacheBytes bytes of page copies the XBZRLE cache keeps
         * @param zstdLevel        Zstd's level, 1 (fast) to 19
         */
        public Config(Set<PageEncoding> encodings, long xbzrleCacheBytes, int zstdLevel) {
            this(encodings, xbzrleCacheBytes, zstdLevel, true);
        }

        /**
         * Checks the components.
         *
         * @throws IllegalArgumentException for an encoding that is not a codec, or a bad level
         */
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

    private final int pageSize;
    /** The codecs between zero and raw, in the order they are asked. */
    private final PageCodec[] codecs;
    /** {@code usesHistory[i]}: whether {@code codecs[i]} is a {@link HistoryCodec}. */
    private final boolean[] usesHistory;
    private final HistoryCodec[] histories;
    private final XbzrleCodec xbzrle;
    /** Whether XBZRLE takes part in the first pass ({@link Config#xbzrleFirstPass()}). */
    private final boolean xbzrleFirstPass;
    /** Whether XBZRLE is the first codec asked, so that it can work on the page in the frame. */
    private final boolean xbzrleFirst;
    private final RawPageCodec raw;
    private final ByteBuffer scratch;
    private PageEncoding lastEncoding;

    /**
     * Creates a {@code PageEncoder}.
     *
     * @param config   what to use
     * @param pageSize the page size in bytes
     * @param pageSpan the page span of guest memory; keys are page numbers
     */
    public PageEncoder(Config config, int pageSize, long pageSpan) {
        this(config, pageSize, pageSpan, LongUnaryOperator.identity());
    }

    /**
     * Creates a {@code PageEncoder}.
     *
     * @param config    what to use
     * @param pageSize  the page size in bytes
     * @param pageKeys  how many page keys the encoder will see
     * @param pageOfKey the page number of a key, which a dedup reference to it carries
     */
    public PageEncoder(Config config, int pageSize, long pageKeys, LongUnaryOperator pageOfKey) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(pageOfKey, "pageOfKey");
        Set<PageEncoding> on = config.encodings();
        this.pageSize = pageSize;
        // Where the first pass is not cached (the CPU limits), a page is cached on its second
        // whole send after it, not its first: a page written once never costs a cache copy.
        this.xbzrle = !on.contains(PageEncoding.XBZRLE) ? null : config.xbzrleFirstPass()
                ? new XbzrleCodec(pageSize, config.xbzrleCacheBytes())
                : new XbzrleCodec(pageSize, config.xbzrleCacheBytes(), pageKeys);
        List<PageCodec> order = new ArrayList<>();
        if (on.contains(PageEncoding.DEDUP)) {
            order.add(new DedupCodec(pageSize, pageKeys, pageOfKey));
        }
        if (xbzrle != null) {
            order.add(xbzrle);
        }
        if (on.contains(PageEncoding.LZ4)) {
            order.add(new Lz4Codec(pageSize));
        }
        if (on.contains(PageEncoding.ZSTD)) {
            order.add(new ZstdCodec(pageSize, config.zstdLevel()));
        }
        this.codecs = order.toArray(PageCodec[]::new);
        this.usesHistory = new boolean[codecs.length];
        List<HistoryCodec> history = new ArrayList<>();
        for (int i = 0; i < codecs.length; i++) {
            if (codecs[i] instanceof HistoryCodec h) {
                usesHistory[i] = true;
                history.add(h);
            }
        }
        this.histories = history.toArray(HistoryCodec[]::new);
        this.xbzrleFirst = xbzrle != null && codecs[0] == xbzrle;
        this.xbzrleFirstPass = config.xbzrleFirstPass();
        this.raw = new RawPageCodec(pageSize);
        this.scratch = ByteBuffer.allocateDirect(pageSize).order(ByteOrder.nativeOrder());
    }

    /**
     * Encodes the raw page that lies at {@code [at, at + pageSize)} of {@code frame}, replacing it
     * with its encoding; {@link #lastEncoding()} then says which encoding that is.
     *
     * @param key   the page's key (see the class comment)
     * @param frame a direct buffer holding the raw page, with room up to {@code at + pageSize}
     * @param at    the page's offset; the encoding is written from there
     * @param zero  whether the page is known to be all zero
     * @param allowDelta whether the destination holds the version last sent of this page (false in
     *                   post-copy, where it is missing there): without it no XBZRLE delta or dedup
     *                   reference is made and what the encoder knew of the page is dropped
     * @return the payload length in bytes written at {@code at}, or {@link #UNCHANGED} when the
     *         destination already holds exactly this content and nothing need be sent (the
     *         frame's bytes from {@code at} are then unspecified)
     */
    public int encode(long key, ByteBuffer frame, int at, boolean zero, boolean allowDelta) {
        return encode(key, frame, at, zero, allowDelta, false);
    }

    /**
     * As {@link #encode(long, ByteBuffer, int, boolean, boolean)}, in a migration's first pass
     * over memory when {@code firstPass}: unless {@link Config#xbzrleFirstPass()}, XBZRLE then
     * neither encodes nor caches the page, as QEMU's does not until the second pass. A first pass
     * sends every page once and finds none cached, and caching them all costs a copy and a fresh
     * cache page each (on a virtualised host with costly first-touch faults, a third of the pass
     * for 256 MiB); a page the guest dirties again is then cached when it is sent next, whole,
     * and travels as deltas from then on. Where the link limits the migration, the first pass's
     * caching is worth it: the next pass sends deltas instead of whole pages.
     *
     * @param key        the page's key (see the class comment)
     * @param frame      a direct buffer holding the raw page, with room up to {@code at + pageSize}
     * @param at         the page's offset; the encoding is written from there
     * @param zero       whether the page is known to be all zero
     * @param allowDelta whether the destination holds the version last sent of this page
     * @param firstPass  whether this is the first pass (round 0)
     * @return the payload length in bytes written at {@code at}, or {@link #UNCHANGED}
     */
    public int encode(long key, ByteBuffer frame, int at, boolean zero, boolean allowDelta, boolean firstPass) {
        firstPass &= !xbzrleFirstPass;
        if (!allowDelta || zero) {
            for (HistoryCodec h : histories) {
                h.forget(key);
            }
        }
        if (zero) {
            lastEncoding = PageEncoding.ZERO;
            return 0;
        }
        if (codecs.length == 0) {
            lastEncoding = PageEncoding.RAW;
            return pageSize; // the frame holds the raw page already
        }
        int limit = pageSize - MIN_SAVING_BYTES;
        int first = 0;
        if (xbzrleFirst && allowDelta && !firstPass) {
            // XBZRLE works on the page in the frame: no copy unless it declines and others follow.
            int n = xbzrle.encodeInPlace(key, frame, at, limit, scratch);
            if (n == PageCodec.UNCHANGED) {
                return UNCHANGED;
            }
            if (n != PageCodec.DECLINED) {
                lastEncoding = PageEncoding.XBZRLE;
                return n;
            }
            if (codecs.length == 1) {
                lastEncoding = PageEncoding.RAW;
                return pageSize; // the frame holds the raw page still
            }
            first = 1;
        }
        if (firstPass && xbzrleFirst && codecs.length == 1) {
            lastEncoding = PageEncoding.RAW;
            return pageSize; // XBZRLE sits the first pass out: the frame holds the raw page already
        }
        // Work from a copy: every encoding is written over the raw page in the frame.
        scratch.put(0, frame, at, pageSize);
        for (int i = first; i < codecs.length; i++) {
            if (usesHistory[i] && (!allowDelta || firstPass && codecs[i] == xbzrle)) {
                continue;
            }
            int n = codecs[i].encode(key, scratch, 0, frame, at, limit);
            if (n == PageCodec.DECLINED) {
                continue;
            }
            if (allowDelta) {
                for (int j = i + 1; j < codecs.length; j++) {
                    if (usesHistory[j] && !(firstPass && codecs[j] == xbzrle)) {
                        ((HistoryCodec) codecs[j]).sent(key, scratch, 0);
                    }
                }
            }
            if (n == PageCodec.UNCHANGED) {
                return UNCHANGED;
            }
            lastEncoding = codecs[i].encoding();
            return n;
        }
        lastEncoding = PageEncoding.RAW;
        return raw.encode(key, scratch, 0, frame, at, pageSize);
    }

    /**
     * {@return the encoding of the last {@link #encode} that did not return {@link #UNCHANGED}}
     *
     * @throws IllegalStateException if no page was encoded yet
     */
    public PageEncoding lastEncoding() {
        if (lastEncoding == null) {
            throw new IllegalStateException("no page encoded yet");
        }
        return lastEncoding;
    }

    /** {@return the XBZRLE cache's hits and misses, or zeros without XBZRLE} */
    public long[] cacheHitsAndMisses() {
        return xbzrle == null ? new long[2] : new long[] {xbzrle.cacheHits(), xbzrle.cacheMisses()};
    }
}
