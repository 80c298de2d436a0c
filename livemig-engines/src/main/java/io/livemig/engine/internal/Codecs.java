package io.livemig.engine.internal;

import io.livemig.api.Codec;
import io.livemig.api.MigrationOptions;
import io.livemig.compress.PageEncoder;
import io.livemig.compress.PageEncoding;

import java.util.EnumSet;
import java.util.Set;

/** Maps the API's codec choice onto livemig-compress and the wire's encoding bits. */
public final class Codecs {

    /** Every encoding this build decodes. */
    public static final long DECODABLE = wireBits(EnumSet.allOf(Codec.class));

    private Codecs() {
    }

    public static PageEncoding encodingOf(Codec codec) {
        return switch (codec) {
            case XBZRLE -> PageEncoding.XBZRLE;
            case LZ4 -> PageEncoding.LZ4;
            case ZSTD -> PageEncoding.ZSTD;
            case DEDUP -> PageEncoding.DEDUP;
        };
    }

    /** @return the HELLO bit set: zero and raw, plus the codecs */
    public static long wireBits(Set<Codec> codecs) {
        long bits = (1L << PageEncoding.ZERO.wireId()) | (1L << PageEncoding.RAW.wireId());
        for (Codec c : codecs) {
            bits |= 1L << encodingOf(c).wireId();
        }
        return bits;
    }

    /** @return the encodings of a HELLO bit set (bits for unknown wire ids are ignored) */
    public static Set<PageEncoding> encodingsOf(long wireBits) {
        Set<PageEncoding> encodings = EnumSet.noneOf(PageEncoding.class);
        for (PageEncoding e : PageEncoding.values()) {
            if (e.wireId() < 64 && (wireBits & (1L << e.wireId())) != 0) {
                encodings.add(e);
            }
        }
        return encodings;
    }

    /** @return {@code config} without the encodings that build on what was sent before (XBZRLE, dedup) */
    public static PageEncoder.Config withoutHistory(PageEncoder.Config config) {
        Set<PageEncoding> encodings = EnumSet.noneOf(PageEncoding.class);
        encodings.addAll(config.encodings());
        encodings.remove(PageEncoding.XBZRLE);
        encodings.remove(PageEncoding.DEDUP);
        return new PageEncoder.Config(encodings, config.xbzrleCacheBytes(), config.zstdLevel(),
                config.xbzrleFirstPass());
    }

    public static PageEncoder.Config encoderConfig(MigrationOptions options) {
        Set<PageEncoding> encodings = EnumSet.noneOf(PageEncoding.class);
        for (Codec c : options.codecs()) {
            encodings.add(encodingOf(c));
        }
        // With a bandwidth cap the link is what limits: caching the first pass buys deltas in
        // the next. Without one, the CPU is, and the first pass caches nothing (as QEMU's).
        return new PageEncoder.Config(encodings, options.xbzrleCacheBytes(), options.zstdLevel(),
                options.bandwidthLimitBytesPerSecond() > 0);
    }
}
