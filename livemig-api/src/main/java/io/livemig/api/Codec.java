package io.livemig.api;

/**
 * Page codecs a migration may use besides zero-page elision and raw pages (always on). The
 * encoder picks per page: a dedup reference when the destination already holds the same content
 * at another page, an XBZRLE delta when the page was sent before and changed little, else the
 * compressor (LZ4 or Zstd) when it saves enough, else the raw page; never more than raw.
 */
public enum Codec {
    /** Delta against the version sent before (Svärd et al., VEE'11; QEMU's xbzrle). Pre-copy rounds only. */
    XBZRLE,
    /** LZ4 block compression of each page: fast, modest ratio. */
    LZ4,
    /** Zstandard compression of each page: slower, better ratio. */
    ZSTD,
    /**
     * A page identical to one the destination already holds travels as a 24-byte reference,
     * checked at the destination against a 128-bit hash of the content. Pre-copy rounds only.
     */
    DEDUP
}
