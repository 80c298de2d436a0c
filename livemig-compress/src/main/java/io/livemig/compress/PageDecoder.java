package io.livemig.compress;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdDecompressCtx;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Decodes pages on the destination. XBZRLE applies its delta to the page's current content (the
 * destination's guest memory holds exactly what the source's cache holds); LZ4 and Zstd must
 * produce exactly one page, and their output is bounded by the page size, so no decompression
 * bomb gets further than one page of scratch.
 *
 * <p>Not thread-safe: one decoder per receiving thread.
 */
public final class PageDecoder {

    private final int pageSize;
    private final LZ4SafeDecompressor lz4 = LZ4Factory.fastestInstance().safeDecompressor();
    private final ZstdDecompressCtx zstd = new ZstdDecompressCtx();
    private final ByteBuffer input;

    /** @param pageSize the page size in bytes */
    public PageDecoder(int pageSize) {
        this.pageSize = pageSize;
        this.input = ByteBuffer.allocateDirect(pageSize).order(ByteOrder.nativeOrder());
    }

    /**
     * @return the page whose current content {@link #decode} needs in its {@code page} buffer
     *         first: the page itself for XBZRLE, the referenced page for DEDUP; -1 for the others
     * @throws CorruptPageException for a DEDUP payload of the wrong length
     */
    public static long basePage(long pageNumber, PageEncoding encoding, ByteBuffer payload) {
        return switch (encoding) {
            case XBZRLE -> pageNumber;
            case DEDUP -> Dedup.referencedPage(pageNumber, payload);
            default -> -1;
        };
    }

    /**
     * Decodes one page.
     *
     * @param pageNumber the page (for messages)
     * @param encoding   XBZRLE, LZ4, ZSTD or DEDUP
     * @param payload    exactly the encoded bytes (position..limit)
     * @param page       a direct buffer whose {@code [0, pageSize)} receives the page; for XBZRLE and
     *                   DEDUP it must hold the content of {@link #basePage} first
     * @throws CorruptPageException if the payload is malformed or decodes to anything but one page;
     *                              {@code page} may then hold garbage but nothing outside it was touched
     */
    public void decode(long pageNumber, PageEncoding encoding, ByteBuffer payload, ByteBuffer page) {
        int length = payload.remaining();
        switch (encoding) {
            case DEDUP -> Dedup.verify(pageNumber, payload, page, 0, pageSize);
            case XBZRLE -> Xbzrle.decode(payload, payload.position(), length, page, 0, pageSize, pageNumber);
            case LZ4 -> {
                int n;
                try {
                    n = lz4.decompress(payload, payload.position(), length, page, 0, pageSize);
                } catch (LZ4Exception e) {
                    throw new CorruptPageException(pageNumber, encoding, "malformed LZ4 block: " + e.getMessage());
                }
                if (n != pageSize) {
                    throw new CorruptPageException(pageNumber, encoding, "decompressed to " + n + " bytes, not "
                            + pageSize);
                }
            }
            case ZSTD -> {
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
                    throw new CorruptPageException(pageNumber, encoding, "frame announces " + size + " bytes, not "
                            + pageSize);
                }
                int n;
                try {
                    n = zstd.decompressDirectByteBuffer(page, 0, pageSize, src, at, length);
                } catch (RuntimeException e) {
                    throw new CorruptPageException(pageNumber, encoding, "malformed Zstd frame: " + e.getMessage());
                }
                if (n != pageSize) {
                    throw new CorruptPageException(pageNumber, encoding, "decompressed to " + n + " bytes, not "
                            + pageSize);
                }
            }
            default -> throw new CorruptPageException(pageNumber, encoding, "not a codec this decoder knows");
        }
    }
}
