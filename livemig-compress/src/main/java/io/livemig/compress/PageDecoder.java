package io.livemig.compress;

import java.nio.ByteBuffer;
import java.util.EnumSet;
import java.util.Set;

/**
 * Decodes pages on the destination: one decode-only instance of each {@link PageCodec}, chosen
 * by the page's {@link PageEncoding}. XBZRLE applies its delta to the page's current content (the
 * destination's guest memory holds exactly what the source's cache holds); dedup checks the
 * referenced page's content against the reference; LZ4 and Zstd must produce exactly one page,
 * and their output is bounded by the page size, so no decompression bomb gets further than one
 * page of scratch.
 *
 * <p>Not thread-safe (the Zstd codec keeps a native context): one decoder per receiving thread.
 */
public final class PageDecoder {

    private final int pageSize;
    private final ZeroPageCodec zero;
    private final RawPageCodec raw;
    private final XbzrleCodec xbzrle;
    private final DedupCodec dedup;
    /** Made on first use: their native libraries load (and on JDK 24+ warn) only when needed. */
    private Lz4Codec lz4;
    private ZstdCodec zstd;

    /**
     * Creates a {@code PageDecoder}.
     *
     * @param pageSize the page size in bytes
     */
    public PageDecoder(int pageSize) {
        this(pageSize, EnumSet.noneOf(PageEncoding.class));
    }

    /**
     * Creates a {@code PageDecoder}.
     *
     * @param pageSize the page size in bytes
     * @param prepare  encodings whose codec is made now rather than at the first page that uses
     *                 it: the encodings a migration agreed, so that loading LZ4's or Zstd's
     *                 native library never falls inside a downtime
     */
    public PageDecoder(int pageSize, Set<PageEncoding> prepare) {
        this.pageSize = pageSize;
        this.zero = new ZeroPageCodec(pageSize);
        this.raw = new RawPageCodec(pageSize);
        this.xbzrle = new XbzrleCodec(pageSize);
        this.dedup = new DedupCodec(pageSize);
        for (PageEncoding encoding : prepare) {
            codec(encoding);
        }
    }

    /**
     * {@return the page whose current content {@link #decode} needs in its {@code page} buffer
     * first: the page itself for XBZRLE, the referenced page for DEDUP (never negative);
     * -1 for the others. The caller checks that the page is guest RAM before reading it}
     *
     * @param pageNumber the page the payload is for
     * @param encoding the payload's encoding
     * @param payload the encoded page; its position is not moved
     * @throws CorruptPageException for a DEDUP payload of the wrong length or naming a negative page
     */
    public static long basePage(long pageNumber, PageEncoding encoding, ByteBuffer payload) {
        return switch (encoding) {
            case XBZRLE -> pageNumber;
            case DEDUP -> DedupCodec.referencedPage(pageNumber, payload);
            case ZERO, RAW, LZ4, ZSTD -> -1;
        };
    }

    /**
     * Decodes one page with the codec of {@code encoding} ({@link PageCodec#decode}).
     *
     * @param pageNumber the page (for messages)
     * @param encoding   the page's encoding; for ZERO and RAW this checks the payload's length and
     *                   fills or copies the page, though a destination may install those itself
     * @param payload    exactly the encoded bytes (position..limit); its position is not changed
     * @param page       a direct buffer whose {@code [0, pageSize)} receives the page; for XBZRLE and
     *                   DEDUP it must hold the content of {@link #basePage} first
     * @throws CorruptPageException if the payload is malformed or decodes to anything but one page;
     *                              {@code page} may then hold garbage but nothing outside it was touched
     */
    public void decode(long pageNumber, PageEncoding encoding, ByteBuffer payload, ByteBuffer page) {
        codec(encoding).decode(pageNumber, payload, page);
    }

    private PageCodec codec(PageEncoding encoding) {
        return switch (encoding) {
            case ZERO -> zero;
            case RAW -> raw;
            case XBZRLE -> xbzrle;
            case LZ4 -> lz4 != null ? lz4 : (lz4 = new Lz4Codec(pageSize));
            case ZSTD -> zstd != null ? zstd : (zstd = new ZstdCodec(pageSize));
            case DEDUP -> dedup;
        };
    }
}
