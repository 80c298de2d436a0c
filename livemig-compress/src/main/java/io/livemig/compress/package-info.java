/**
 * Page codecs: how one guest page is represented on the wire, one codec per file behind one
 * interface (the layout of QEMU's {@code migration/multifd.h} and {@code multifd-zstd.c}).
 *
 * <ul>
 * <li>{@link io.livemig.compress.PageEncoding} is the one identity of a codec: it names the
 *     encodings, fixes their wire identifiers and the payload lengths each allows.</li>
 * <li>{@link io.livemig.compress.PageCodec} is the codec interface: the encode side and the
 *     checked decode side of one encoding. {@link io.livemig.compress.ZeroPageCodec},
 *     {@link io.livemig.compress.RawPageCodec}, {@link io.livemig.compress.Lz4Codec} and
 *     {@link io.livemig.compress.ZstdCodec} keep no history;
 *     {@link io.livemig.compress.XbzrleCodec} and {@link io.livemig.compress.DedupCodec} are
 *     {@link io.livemig.compress.HistoryCodec}s that own what they know of the destination (an
 *     {@link io.livemig.compress.XbzrleCache}, a dedup index).</li>
 * <li>{@link io.livemig.compress.PageEncoder} is the source's chooser over an ordered list of
 *     codecs (zero, dedup, XBZRLE, LZ4, Zstd, raw); {@link io.livemig.compress.PageDecoder} is
 *     the destination's facade that dispatches to them.</li>
 * <li>{@link io.livemig.compress.Xbzrle} is the pure XBZRLE format, with its grammar;
 *     {@link io.livemig.compress.ZeroPages} detects all-zero pages at memory speed.</li>
 * </ul>
 */
package io.livemig.compress;
