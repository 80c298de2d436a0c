package io.livemig.compress;

import java.nio.ByteBuffer;

/**
 * A codec whose encoding builds on the content the destination already holds (XBZRLE: the page's
 * version last sent; dedup: another page with the same content), and which therefore keeps, per
 * page key, what it believes the destination holds.
 *
 * <p>The history must never be wrong, so it follows every page the encoder sends:
 * <ul>
 * <li>{@link #encode} records {@code page} as the content the destination holds at {@code key}
 *     from now on, <em>whether it encodes the page or declines</em>: its caller must then deliver
 *     exactly that content, by this codec or whole by a later one (as {@link PageEncoder} does:
 *     every codec after a history codec reproduces the page exactly).</li>
 * <li>{@link #sent} records the same when an earlier codec took the page and this one was not
 *     asked.</li>
 * <li>{@link #forget} drops what it knew of a page sent in a way it cannot follow (as zero, or
 *     to a destination that may not hold it, as in post-copy).</li>
 * </ul>
 * On the decode side, {@link #decode}'s {@code page} must first hold the base the encoding
 * builds on ({@link PageDecoder#basePage}).
 *
 * <p>The history is not thread-safe: an instance that encodes is confined to one encoding thread.
 */
public sealed interface HistoryCodec extends PageCodec permits XbzrleCodec, DedupCodec {

    /**
     * Records that the destination now holds {@code page}'s content at {@code key}, sent by
     * another codec without this one being asked.
     *
     * @param key    the page's key
     * @param page   the raw page at {@code [pageAt, pageAt + pageSize)}; read only
     * @param pageAt its offset
     * @throws IllegalStateException if this instance was made for decoding only
     */
    void sent(long key, ByteBuffer page, int pageAt);

    /**
     * Forgets what the destination holds at {@code key}.
     *
     * @param key the page's key
     * @throws IllegalStateException if this instance was made for decoding only
     */
    void forget(long key);
}
