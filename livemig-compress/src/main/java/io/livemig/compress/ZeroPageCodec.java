package io.livemig.compress;

import java.nio.ByteBuffer;

/**
 * The all-zero page: an entry without payload. {@link ZeroPages#isZero} is the test; the encoder
 * takes its caller's answer to it rather than scanning the page twice ({@link PageEncoder}).
 *
 * <p>Stateless: thread-safe and allocation-free.
 */
public final class ZeroPageCodec implements PageCodec {

    private final int pageSize;

    /**
     * Creates a {@code ZeroPageCodec}.
     *
     * @param pageSize the page size in bytes
     */
    public ZeroPageCodec(int pageSize) {
        this.pageSize = PageSizes.require(pageSize);
    }

    @Override
    public PageEncoding encoding() {
        return PageEncoding.ZERO;
    }

    /** {@return 0 (no payload) if the page is all zero, otherwise {@link #DECLINED}} */
    @Override
    public int encode(long key, ByteBuffer page, int pageAt, ByteBuffer out, int outAt, int maxBytes) {
        return ZeroPages.isZero(page, pageAt, pageSize) ? 0 : DECLINED;
    }

    /**
     * Fills the page with zeros.
     *
     * @throws CorruptPageException if the payload is not empty
     */
    @Override
    public void decode(long pageNumber, ByteBuffer payload, ByteBuffer page) {
        if (payload.hasRemaining()) {
            throw new CorruptPageException(pageNumber, PageEncoding.ZERO, "payload of " + payload.remaining()
                    + " bytes; a zero page has none");
        }
        int i = 0;
        for (; i + 8 <= pageSize; i += 8) {
            page.putLong(i, 0);
        }
        for (; i < pageSize; i++) {
            page.put(i, (byte) 0);
        }
    }
}
