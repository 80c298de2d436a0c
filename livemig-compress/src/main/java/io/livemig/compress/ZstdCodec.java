package io.livemig.compress;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Zstandard compression of the page, one frame per page (zstd-jni). The decoder accepts only a
 * frame that announces exactly one page and decompresses into at most one page, so a
 * decompression bomb gets no further than the page.
 *
 * <p>Not thread-safe: the instance keeps zstd-jni's native contexts (a compression context made
 * with the encoding constructor; a decompression context and one page of direct scratch for heap
 * payloads, made on the first decode). One instance per encoding or receiving thread. The
 * contexts are freed when the instance has been collected: zstd-jni frees them only in
 * {@code close()} (its contexts have no finalizer), and a migration makes codecs and drops them.
 */
public final class ZstdCodec implements PageCodec {

    /** Frees the native contexts of collected codecs. */
    private static final Cleaner CLEANER = Cleaner.create();
    /** Native contexts made and not yet freed, all codecs together; for tests. */
    private static final AtomicLong LIVE_CONTEXTS = new AtomicLong();

    private final int pageSize;
    private final ZstdCompressCtx compressor;
    private ZstdDecompressCtx decompressor;
    private ByteBuffer input;
    /** This codec's contexts, which the cleaning action frees (it must not reach the codec). */
    private final Contexts contexts = new Contexts();

    /**
     * A codec for decoding only: {@link #encode} throws.
     *
     * @param pageSize the page size in bytes
     */
    public ZstdCodec(int pageSize) {
        this.pageSize = PageSizes.require(pageSize);
        this.compressor = null;
        CLEANER.register(this, contexts);
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
        contexts.compressor = compressor;
        LIVE_CONTEXTS.incrementAndGet();
        CLEANER.register(this, contexts);
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
        } finally {
            // The context is in use until here: the cleaner must not free it before.
            Reference.reachabilityFence(this);
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
            contexts.decompressor = decompressor;
            LIVE_CONTEXTS.incrementAndGet();
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
        } finally {
            // The context is in use until here: the cleaner must not free it before.
            Reference.reachabilityFence(this);
        }
        if (n != pageSize) {
            throw new CorruptPageException(pageNumber, PageEncoding.ZSTD, "decompressed to " + n + " bytes, not "
                    + pageSize);
        }
    }

    /** @return the native contexts made by all codecs and not yet freed (for tests) */
    static long liveContexts() {
        return LIVE_CONTEXTS.get();
    }

    /** A codec's native contexts, freed by the {@link #CLEANER} once the codec is unreachable. */
    private static final class Contexts implements Runnable {
        // Written by the codec's thread, read by the cleaner's.
        private volatile ZstdCompressCtx compressor;
        private volatile ZstdDecompressCtx decompressor;

        @Override
        public void run() {
            if (compressor != null) {
                compressor.close();
                LIVE_CONTEXTS.decrementAndGet();
            }
            if (decompressor != null) {
                decompressor.close();
                LIVE_CONTEXTS.decrementAndGet();
            }
        }
    }
}
