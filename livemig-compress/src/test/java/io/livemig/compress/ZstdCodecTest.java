package io.livemig.compress;

import org.junit.jupiter.api.Test;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.Arrays;

import static io.livemig.compress.PageSets.PAGE;
import static io.livemig.compress.PageSets.direct;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ZstdCodecTest {

    private final ZstdCodec codec = new ZstdCodec(PAGE, 3);

    @Test
    void aCompressiblePageRoundTripsFromDirectAndHeapPayloads() {
        byte[] content = PageSets.text(1);
        ByteBuffer out = ByteBuffer.allocateDirect(PAGE);
        int n = codec.encode(0, direct(content), 0, out, 0, PAGE - PageEncoder.MIN_SAVING_BYTES);
        assertTrue(n > 0 && n < PAGE / 2, "text compresses to " + n);
        byte[] frame = new byte[n];
        out.get(0, frame);
        ZstdCodec decoder = new ZstdCodec(PAGE);
        for (ByteBuffer payload : new ByteBuffer[] {out.duplicate().position(0).limit(n), ByteBuffer.wrap(frame)}) {
            ByteBuffer page = ByteBuffer.allocateDirect(PAGE);
            decoder.decode(1, payload, page);
            byte[] got = new byte[PAGE];
            page.get(0, got);
            assertArrayEquals(content, got);
        }
    }

    @Test
    void anIncompressiblePageIsDeclined() {
        ByteBuffer out = ByteBuffer.allocateDirect(PAGE);
        assertEquals(PageCodec.DECLINED, codec.encode(0, direct(PageSets.random(1)), 0, out, 0,
                PAGE - PageEncoder.MIN_SAVING_BYTES));
    }

    @Test
    void aTruncatedOrOverlongFrameIsRefused() {
        byte[] frame = com.github.luben.zstd.Zstd.compress(PageSets.text(2), 3);
        ByteBuffer page = ByteBuffer.allocateDirect(PAGE);
        assertThrows(CorruptPageException.class,
                () -> codec.decode(1, ByteBuffer.wrap(Arrays.copyOf(frame, frame.length - 5)), page));
        // Longer than a page: refused before it is copied into the decoder's one page of scratch.
        assertThrows(CorruptPageException.class,
                () -> codec.decode(1, ByteBuffer.wrap(Arrays.copyOf(frame, PAGE + 1)), page));
    }

    @Test
    void codecsThatAreDroppedFreeTheirNativeContexts() throws InterruptedException {
        // zstd-jni frees a context only in close(); a destination made a decoder per migration
        // and leaked its context (the receiver fuzzer's memory grew by 22 KiB per migration).
        long before = ZstdCodec.liveContexts();
        ByteBuffer out = ByteBuffer.allocateDirect(PAGE);
        ByteBuffer page = ByteBuffer.allocateDirect(PAGE);
        ZstdCodec last = null;
        for (int i = 0; i < 200; i++) {
            last = new ZstdCodec(PAGE, 3);
            int n = last.encode(0, direct(PageSets.text(1)), 0, out, 0, PAGE - PageEncoder.MIN_SAVING_BYTES);
            last.decode(1, out.duplicate().position(0).limit(n), page);
        }
        assertTrue(ZstdCodec.liveContexts() >= before + 2, "the live codec's two contexts are counted");
        Reference.reachabilityFence(last);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (ZstdCodec.liveContexts() > before && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(20);
        }
        assertTrue(ZstdCodec.liveContexts() <= before, ZstdCodec.liveContexts() - before
                + " contexts of collected codecs were not freed");
    }

    @Test
    void aDecodeOnlyCodecRefusesToEncode() {
        ByteBuffer out = ByteBuffer.allocateDirect(PAGE);
        assertThrows(IllegalStateException.class,
                () -> new ZstdCodec(PAGE).encode(0, direct(PageSets.text(1)), 0, out, 0, PAGE));
        assertThrows(IllegalArgumentException.class, () -> new ZstdCodec(PAGE, 20));
    }
}
