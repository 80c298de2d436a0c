package io.livemig.compress;

import java.nio.ByteBuffer;

/**
 * One way of representing a guest page on the wire, both sides of it in one file: the encode
 * side the source runs and the checked decode side the destination runs (the shape of QEMU's
 * {@code migration/multifd.h} with one file per method). {@link PageEncoder} chooses among
 * codecs in a fixed order; {@link PageDecoder} dispatches to them by {@link PageEncoding}. Each
 * codec produces exactly one {@link #encoding()}, and each encoding has exactly one codec, so the
 * set is closed.
 *
 * <p>A codec is made for one page size and works on whole pages. Buffers are accessed with
 * absolute gets and puts only: no method uses or changes a buffer's position or limit.
 *
 * <p>Codecs whose encoding builds on what the destination already holds (XBZRLE, dedup) keep
 * that history themselves; they are {@link HistoryCodec}s. Threading: each codec class says what
 * it keeps per instance; one that keeps encode or decode state is confined to one thread at a
 * time (one instance per encoding thread, one per receiving thread).
 */
public sealed interface PageCodec permits HistoryCodec, ZeroPageCodec, RawPageCodec, Lz4Codec, ZstdCodec {

    /** {@link #encode} result: the destination already holds exactly this content; send nothing. */
    int UNCHANGED = -1;

    /**
     * {@link #encode} result: this codec does not take the page (the result would not fit in the
     * room given, there is nothing to refer to, the page is not zero...); try the next codec.
     */
    int DECLINED = -2;

    /** {@return the encoding this codec produces and decodes} */
    PageEncoding encoding();

    /**
     * Encodes one page.
     *
     * @param key      the page's key in the encoder's history (see {@link PageEncoder}); codecs
     *                 without history ignore it
     * @param page     the raw page at {@code [pageAt, pageAt + pageSize)}; read only. Must be a
     *                 direct buffer for {@link ZstdCodec}
     * @param pageAt   its offset
     * @param out      where the encoding goes, a direct buffer not overlapping the page
     * @param outAt    the offset the encoding starts at
     * @param maxBytes the most bytes the encoding may take; {@code [outAt, outAt + maxBytes)} must
     *                 lie within {@code out}'s limit
     * @return the encoding's length in bytes, written at {@code [outAt, outAt + length)};
     *         {@link #UNCHANGED}; or {@link #DECLINED}. After DECLINED, bytes of
     *         {@code [outAt, outAt + maxBytes)} may have been overwritten with garbage
     * @throws IllegalStateException if this instance was made for decoding only
     */
    int encode(long key, ByteBuffer page, int pageAt, ByteBuffer out, int outAt, int maxBytes);

    /**
     * Decodes one page, checking the payload as it goes: output never leaves the page, and
     * nothing but exactly one page is accepted.
     *
     * @param pageNumber the page (for messages)
     * @param payload    exactly the encoded bytes ({@code position..limit})
     * @param page       receives the page at {@code [0, pageSize)}; for a {@link HistoryCodec} it
     *                   must hold the content of {@link PageDecoder#basePage} first
     * @throws CorruptPageException if the payload is malformed or does not decode to exactly one
     *                              page; {@code page} may then hold garbage (XBZRLE leaves it
     *                              unchanged) but nothing outside it was touched
     */
    void decode(long pageNumber, ByteBuffer payload, ByteBuffer page);
}
