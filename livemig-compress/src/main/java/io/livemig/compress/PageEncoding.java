package io.livemig.compress;

/**
 * How one page travels on the wire. The wire identifier is one byte in every page entry of a
 * page-batch frame (docs/protocol.md); 0 is reserved as invalid so that a zeroed buffer never
 * decodes as a valid entry. Identifiers never change meaning; new encodings take new numbers.
 *
 * <p>This is the one identity of a codec: each encoding has exactly one {@link PageCodec} that
 * produces and decodes it, and {@link PageEncoder#lastEncoding()} reports the encoder's choice
 * with it.
 */
public enum PageEncoding {
    /** The page is all zero; no payload. */
    ZERO(1, "zero"),
    /** The page's bytes, uncompressed; payload = page size. */
    RAW(2, "raw"),
    /** XBZRLE delta against the version the destination already holds (Svärd et al., VEE'11). */
    XBZRLE(3, "xbzrle"),
    /** LZ4 block compression of the page. */
    LZ4(4, "lz4"),
    /** Zstandard compression of the page. */
    ZSTD(5, "zstd"),
    /** A reference to a page with identical content that the destination already holds. */
    DEDUP(6, "dedup");

    private static final PageEncoding[] BY_WIRE_ID = new PageEncoding[256];

    static {
        for (PageEncoding e : values()) {
            BY_WIRE_ID[e.wireId] = e;
        }
    }

    private final int wireId;
    private final String reportName;

    PageEncoding(int wireId, String reportName) {
        this.wireId = wireId;
        this.reportName = reportName;
    }

    /** {@return the byte that identifies this encoding on the wire, 1 to 255} */
    public int wireId() {
        return wireId;
    }

    /** {@return the lower-case name used in reports, options and the command line} */
    public String reportName() {
        return reportName;
    }

    /**
     * Whether a payload of {@code length} bytes is possible for this encoding, before any decoding:
     * none for ZERO, exactly one page for RAW, {@value DedupCodec#PAYLOAD_BYTES} bytes for DEDUP,
     * and 1 to {@code pageSize} bytes for XBZRLE, LZ4 and ZSTD (the encoder never sends more than
     * a page: a compressed or delta page must save {@link PageEncoder#MIN_SAVING_BYTES}). The wire
     * layer checks this for every page entry; the codec's decoder checks the payload itself.
     *
     * @param length   the payload length in bytes
     * @param pageSize the page size in bytes
     * @return whether the length is allowed
     */
    public boolean acceptsPayloadLength(long length, int pageSize) {
        return switch (this) {
            case ZERO -> length == 0;
            case RAW -> length == pageSize;
            case DEDUP -> length == DedupCodec.PAYLOAD_BYTES;
            case XBZRLE, LZ4, ZSTD -> length >= 1 && length <= pageSize;
        };
    }

    /**
     * {@return the encoding, or null if the identifier is unknown or the reserved 0}
     *
     * @param wireId a byte read from the wire, 0 to 255
     */
    public static PageEncoding fromWireId(int wireId) {
        return wireId < 0 || wireId > 255 ? null : BY_WIRE_ID[wireId];
    }

    /**
     * {@return the encoding}
     *
     * @param name a report name such as {@code "xbzrle"}, case-insensitive
     * @throws IllegalArgumentException if no encoding has that name
     */
    public static PageEncoding fromReportName(String name) {
        for (PageEncoding e : values()) {
            if (e.reportName.equalsIgnoreCase(name.trim())) {
                return e;
            }
        }
        throw new IllegalArgumentException("unknown page encoding '" + name + "'; known: zero, raw, xbzrle, lz4, zstd, dedup");
    }
}
