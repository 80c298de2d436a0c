package io.livemig.compress;

import com.google.common.hash.HashCode;
import com.google.common.hash.HashFunction;
import com.google.common.hash.Hashing;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;
import java.util.function.LongUnaryOperator;

/**
 * Page deduplication: a page whose content equals that of a page the destination already holds
 * travels as a {@value #PAYLOAD_BYTES}-byte reference instead of its bytes.
 *
 * <p>Payload on the wire (little-endian): {@code sourcePage:u64}, then the page's 128-bit
 * MurmurHash3 ({@code hashLow:u64, hashHigh:u64}). The destination copies its current content of
 * {@code sourcePage} ({@link PageDecoder#basePage}), hashes it and installs it only if the hash
 * matches, so a stale or forged reference is refused ({@link CorruptPageException}) instead of
 * installing wrong content. What remains is a true 128-bit collision between two different
 * pages: for {@code n} distinct page contents its probability is below {@code n² / 2¹²⁹}, under
 * 2⁻⁷³ for a 1 TiB guest of 4 KiB pages; that is the stated bound.
 *
 * <p>The encode side owns a {@link DedupIndex} of what the destination holds at each page key it
 * sent. References name only pages this codec's encoder sent, so that they always follow, on the
 * same stream, the content they refer to. Memory: 17 bytes per page key plus the index's table.
 *
 * <p>Not thread-safe: the index is confined to the one encoding thread that owns this instance.
 * Decoding keeps no state, so a decode-only instance may be shared.
 */
public final class DedupCodec implements HistoryCodec {

    /** Bytes of a dedup reference payload. */
    public static final int PAYLOAD_BYTES = 24;

    private static final HashFunction HASH = Hashing.murmur3_128();

    private final int pageSize;
    private final DedupIndex index;
    private final LongUnaryOperator pageOfKey;

    /**
     * A codec for decoding only: {@link #encode}, {@link #sent} and {@link #forget} throw.
     *
     * @param pageSize the page size in bytes
     */
    public DedupCodec(int pageSize) {
        this.pageSize = PageSizes.require(pageSize);
        this.index = null;
        this.pageOfKey = null;
    }

    /**
     * A codec for both sides.
     *
     * @param pageSize  the page size in bytes
     * @param pageKeys  how many page keys the index may see: keys are {@code 0..pageKeys-1}
     * @param pageOfKey the page number of a key, which a reference to it carries
     */
    public DedupCodec(int pageSize, long pageKeys, LongUnaryOperator pageOfKey) {
        this.pageSize = PageSizes.require(pageSize);
        this.pageOfKey = Objects.requireNonNull(pageOfKey, "pageOfKey");
        this.index = new DedupIndex(pageKeys);
    }

    @Override
    public PageEncoding encoding() {
        return PageEncoding.DEDUP;
    }

    /**
     * @return {@link #PAYLOAD_BYTES}, having written a reference to another page the destination
     *         holds with this content; {@link #DECLINED} if there is none (or {@code maxBytes} is
     *         too small). Either way the index now records the page's content at {@code key}
     */
    @Override
    public int encode(long key, ByteBuffer page, int pageAt, ByteBuffer out, int outAt, int maxBytes) {
        DedupIndex ix = encodeSide();
        long[] h = hash(page, pageAt, pageSize);
        long same = ix.find(key, h);
        ix.sent(key, h);
        if (same < 0 || maxBytes < PAYLOAD_BYTES) {
            return DECLINED;
        }
        writeReference(out, outAt, pageOfKey.applyAsLong(same), h);
        return PAYLOAD_BYTES;
    }

    @Override
    public void sent(long key, ByteBuffer page, int pageAt) {
        encodeSide().sent(key, hash(page, pageAt, pageSize));
    }

    @Override
    public void forget(long key) {
        encodeSide().forget(key);
    }

    /**
     * Checks that {@code page}, which holds the referenced page's content, hashes to what the
     * reference says; it then is the decoded page.
     *
     * @throws CorruptPageException if the payload is not {@link #PAYLOAD_BYTES} long, or the
     *                              content does not match: the reference is stale or forged
     */
    @Override
    public void decode(long pageNumber, ByteBuffer payload, ByteBuffer page) {
        checkLength(pageNumber, payload);
        ByteBuffer le = payload.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long[] h = hash(page, 0, pageSize);
        if (h[0] != le.getLong(payload.position() + 8) || h[1] != le.getLong(payload.position() + 16)) {
            throw new CorruptPageException(pageNumber, PageEncoding.DEDUP, "the referenced page "
                    + le.getLong(payload.position()) + " does not hold the content the reference names");
        }
    }

    /**
     * Reads the page a reference names, for {@link PageDecoder#basePage}. The caller must still
     * check that the page is guest RAM before it reads it.
     *
     * @param pageNumber the page being decoded (for messages)
     * @param payload    the reference ({@code position..limit}); its position is not changed
     * @return the page a reference payload names, never negative
     * @throws CorruptPageException if the payload is not {@link #PAYLOAD_BYTES} long, or names a
     *                              negative page (a u64 above 2^63: no page at all)
     */
    public static long referencedPage(long pageNumber, ByteBuffer payload) {
        checkLength(pageNumber, payload);
        long referenced = referencedPage(payload, payload.position());
        if (referenced < 0) {
            throw new CorruptPageException(pageNumber, PageEncoding.DEDUP, "reference to page "
                    + Long.toUnsignedString(referenced) + ", which is no page");
        }
        return referenced;
    }

    /**
     * Reads the {@code sourcePage} field of a reference without checking it or allocating, for a
     * receiver that checks a whole batch before decoding any of it.
     *
     * @param buffer the bytes, in any byte order; its position, limit and order are not changed
     * @param at     the offset of the reference's first byte
     * @return the field as a signed long: a negative value is a u64 above 2^63
     */
    public static long referencedPage(ByteBuffer buffer, int at) {
        long raw = buffer.getLong(at);
        return buffer.order() == ByteOrder.LITTLE_ENDIAN ? raw : Long.reverseBytes(raw);
    }

    /**
     * Hashes a page with the 128-bit MurmurHash3 a reference carries.
     *
     * @param buffer the bytes; its position and limit are not changed
     * @param at     the offset of the first byte
     * @param length how many bytes
     * @return the hash as {@code {low, high}}
     */
    public static long[] hash(ByteBuffer buffer, int at, int length) {
        HashCode code = HASH.hashBytes(buffer.duplicate().limit(at + length).position(at));
        ByteBuffer b = ByteBuffer.wrap(code.asBytes()).order(ByteOrder.LITTLE_ENDIAN);
        return new long[] {b.getLong(0), b.getLong(8)};
    }

    /**
     * Writes a reference payload: the page to copy and the content's hash.
     *
     * @param out        where it goes, {@link #PAYLOAD_BYTES} bytes from {@code at}
     * @param at         the offset
     * @param sourcePage the page the destination copies
     * @param h          the content's hash ({@link #hash})
     */
    public static void writeReference(ByteBuffer out, int at, long sourcePage, long[] h) {
        ByteBuffer le = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        le.putLong(at, sourcePage).putLong(at + 8, h[0]).putLong(at + 16, h[1]);
    }

    private static void checkLength(long pageNumber, ByteBuffer payload) {
        if (payload.remaining() != PAYLOAD_BYTES) {
            throw new CorruptPageException(pageNumber, PageEncoding.DEDUP, "reference of " + payload.remaining()
                    + " bytes, not " + PAYLOAD_BYTES);
        }
    }

    private DedupIndex encodeSide() {
        if (index == null) {
            throw new IllegalStateException("this dedup codec was made for decoding only: it has no index");
        }
        return index;
    }
}
