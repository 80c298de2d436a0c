package io.livemig.compress;

import java.nio.ByteBuffer;

/**
 * The page's bytes, uncompressed: what the encoder sends when nothing else saves at least
 * {@link PageEncoder#MIN_SAVING_BYTES}, so that no page ever costs more than this.
 *
 * <p>Stateless: thread-safe and allocation-free.
 */
public final class RawPageCodec implements PageCodec {

    private final int pageSize;

    /**
     * Creates a {@code RawPageCodec}.
     *
     * @param pageSize the page size in bytes
     */
    public RawPageCodec(int pageSize) {
        this.pageSize = PageSizes.require(pageSize);
    }

    @Override
    public PageEncoding encoding() {
        return PageEncoding.RAW;
    }

    /** {@return the page size, having copied the page; {@link #DECLINED} if {@code maxBytes} is less} */
    @Override
    public int encode(long key, ByteBuffer page, int pageAt, ByteBuffer out, int outAt, int maxBytes) {
        if (maxBytes < pageSize) {
            return DECLINED;
        }
        out.put(outAt, page, pageAt, pageSize);
        return pageSize;
    }

    /** @throws CorruptPageException if the payload is not exactly one page long */
    @Override
    public void decode(long pageNumber, ByteBuffer payload, ByteBuffer page) {
        if (payload.remaining() != pageSize) {
            throw new CorruptPageException(pageNumber, PageEncoding.RAW, "payload of " + payload.remaining()
                    + " bytes, not " + pageSize);
        }
        page.put(0, payload, payload.position(), pageSize);
    }
}
