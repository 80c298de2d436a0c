package io.livemig.compress;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;

import static io.livemig.compress.PageSets.PAGE;
import static io.livemig.compress.PageSets.direct;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Lz4CodecTest {

    private final Lz4Codec codec = new Lz4Codec(PAGE);

    @Test
    void aCompressiblePageRoundTrips() {
        byte[] content = PageSets.text(1);
        ByteBuffer out = ByteBuffer.allocateDirect(PAGE);
        int n = codec.encode(0, direct(content), 0, out, 0, PAGE - PageEncoder.MIN_SAVING_BYTES);
        assertTrue(n > 0 && n < PAGE / 2, "text compresses to " + n);
        ByteBuffer page = ByteBuffer.allocateDirect(PAGE);
        codec.decode(1, out.duplicate().position(0).limit(n), page);
        byte[] got = new byte[PAGE];
        page.get(0, got);
        assertArrayEquals(content, got);
    }

    @Test
    void anIncompressiblePageIsDeclined() {
        ByteBuffer out = ByteBuffer.allocateDirect(PAGE);
        assertEquals(PageCodec.DECLINED, codec.encode(0, direct(PageSets.random(1)), 0, out, 0,
                PAGE - PageEncoder.MIN_SAVING_BYTES));
    }

    @Test
    void aTruncatedBlockIsRefused() {
        byte[] block = net.jpountz.lz4.LZ4Factory.fastestInstance().fastCompressor().compress(PageSets.text(2));
        byte[] truncated = Arrays.copyOf(block, block.length - 10);
        assertThrows(CorruptPageException.class,
                () -> codec.decode(1, ByteBuffer.wrap(truncated), ByteBuffer.allocateDirect(PAGE)));
    }
}
