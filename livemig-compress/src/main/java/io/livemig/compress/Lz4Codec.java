package io.livemig.compress;

import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

import java.nio.ByteBuffer;

/**
 * LZ4 block compression of the page (lz4-java's fastest implementation, fast compressor). The
 * decoder must produce exactly one page, and its output is bounded by the page size, so a
 * decompression bomb gets no further than the page.
 *
 * <p>Thread-safe: lz4-java's compressors and decompressors keep no state; allocation-free.
 */
public final class Lz4Codec implements PageCodec {

    private final int pageSize;
    private final LZ4Compressor compressor = LZ4Factory.fastestInstance().fastCompressor();
    private final LZ4SafeDecompressor decompressor = LZ4Factory.fastestInstance().safeDecompressor();

    /**
     * Creates a {@code Lz4Codec}.
     *
     * @param pageSize the page size in bytes
     */
    public Lz4Codec(int pageSize) {
        this.pageSize = PageSizes.require(pageSize);
    }

    @Override
    public PageEncoding encoding() {
        return PageEncoding.LZ4;
    }

    /** {@return the compressed length, or {@link #DECLINED} if it would exceed {@code maxBytes}} */
    @Override
    public int encode(long key, ByteBuffer page, int pageAt, ByteBuffer out, int outAt, int maxBytes) {
        try {
            return compressor.compress(page, pageAt, pageSize, out, outAt, maxBytes);
        } catch (LZ4Exception doesNotFit) {
            return DECLINED;
        }
    }

    /** @throws CorruptPageException for a malformed block or one that is not exactly one page */
    @Override
    public void decode(long pageNumber, ByteBuffer payload, ByteBuffer page) {
        int n;
        try {
            n = decompressor.decompress(payload, payload.position(), payload.remaining(), page, 0, pageSize);
        } catch (LZ4Exception e) {
            throw new CorruptPageException(pageNumber, PageEncoding.LZ4, "malformed LZ4 block: " + e.getMessage());
        }
        if (n != pageSize) {
            throw new CorruptPageException(pageNumber, PageEncoding.LZ4, "decompressed to " + n + " bytes, not "
                    + pageSize);
        }
    }
}
