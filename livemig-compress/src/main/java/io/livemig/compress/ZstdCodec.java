package io.livemig.compress;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Zstandard compression of the page, one frame per page (zstd-jni). The decoder accepts only a
 * frame that announces exactly one page and decompresses into at most one page, so a
 * decompression bomb gets no further than the page.
 *
 * <p>Not thread-safe: the instance keeps zstd-jni's native contexts (a compression context made
 * with the encoding constructor; a decompression context and one page of direct scratch for heap
 * payloads, made on the first decode). One instance per encoding or receiving thread. The
 * contexts are released by zstd-jni when the instance is collected, as they were before the
 * codecs had files of their own.
 */
public final class ZstdCodec implements PageCodec {

    private final int pageSize;
    private final ZstdCompressCtx compressor;
    private ZstdDecompressCtx decompressor;
    private ByteBuffer input;

    /**
     * A codec for decoding only: {@link #encode} throws.
     *
     * @param pageSize the page size in bytes
     */
    public ZstdCodec(int pageSize) {
        this.pageSize = PageSizes.require(pageSize);
        this.compressor = null;
    }

    /**
     * A codec for both sides.
     *
     * @param pageSize the page size in bytes
     * @param level    Zstd's level, 1 (fast) to 19
     */
    public ZstdCodec(int pageSize, int level) {
        if (level < 1 || level > 19) {
            throw new IllegalArgumentException("zstd level must be in [1, 19], was " + level);
        }
        this.pageSize = PageSizes.require(pageSize);
        this.compressor = new ZstdCompressCtx().setLevel(level);
    }

    @Override
    public PageEncoding encoding() {
        return PageEncoding.ZSTD;
    }

    /**
     * @return the frame's length, or {@link #DECLINED} if it would exceed {@code maxBytes}
     * @throws IllegalStateException if this instance was made for decoding only
     */
    @Override
    public int encode(long key, ByteBuffer page, int pageAt, ByteBuffer out, int outAt, int maxBytes) {
        if (compressor == null) {
            throw new IllegalStateException("this Zstd codec was made for decoding only: it has no level");
        }
        try {
            int n = compressor.compressDirectByteBuffer(out, outAt, maxBytes, page, pageAt, pageSize);
            if (!Zstd.isError(n) && n > 0 && n <= maxBytes) {
                return n;
            }
        } catch (ZstdException doesNotFit) {
            // incompressible: declined below
        }
        return DECLINED;
    }

    /**
     * @throws CorruptPageException for a malformed frame, one longer than a page, or one that does
     *                              not announce and decompress to exactly one page
     */
    @Override
    public void decode(long pageNumber, ByteBuffer payload, ByteBuffer page) {
        if (decompressor == null) {
            decompressor = new ZstdDecompressCtx();
            input = ByteBuffer.allocateDirect(pageSize).order(ByteOrder.nativeOrder());
        }
        int length = payload.remaining();
        if (length > pageSize) {
            // The encoder never sends one (it must save MIN_SAVING_BYTES) and the wire refuses it;
            // refusing it here too keeps a heap payload inside the one page of scratch.
            throw new CorruptPageException(pageNumber, PageEncoding.ZSTD, "frame of " + length
                    + " bytes, longer than a page of " + pageSize);
        }
        ByteBuffer src = payload;
        int at = payload.position();
        if (!payload.isDirect()) {
            input.clear();
            input.put(0, payload, at, length);
            src = input;
            at = 0;
        }
        long size = Zstd.getDirectByteBufferFrameContentSize(src, at, length);
        if (size != pageSize) {
            throw new CorruptPageException(pageNumber, PageEncoding.ZSTD, "frame announces " + size + " bytes, not "
                    + pageSize);
        }
        int n;
        try {
            n = decompressor.decompressDirectByteBuffer(page, 0, pageSize, src, at, length);
        } catch (RuntimeException e) {
            throw new CorruptPageException(pageNumber, PageEncoding.ZSTD, "malformed Zstd frame: " + e.getMessage());
        }
        if (n != pageSize) {
            throw new CorruptPageException(pageNumber, PageEncoding.ZSTD, "decompressed to " + n + " bytes, not "
                    + pageSize);
        }
    }
}
