package io.livemig.compress;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static io.livemig.compress.PageSets.PAGE;
import static io.livemig.compress.PageSets.direct;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ZeroPageCodecTest {

    private final ZeroPageCodec codec = new ZeroPageCodec(PAGE);

    @Test
    void aZeroPageEncodesToNoPayloadAndDecodesToZeros() {
        ByteBuffer out = ByteBuffer.allocateDirect(PAGE);
        assertEquals(0, codec.encode(0, direct(new byte[PAGE]), 0, out, 0, PAGE));
        assertEquals(PageCodec.DECLINED, codec.encode(0, direct(PageSets.zeroHeavy(1)), 0, out, 0, PAGE));
        ByteBuffer page = direct(PageSets.random(2));
        codec.decode(3, ByteBuffer.allocate(0), page);
        byte[] got = new byte[PAGE];
        page.get(0, got);
        assertArrayEquals(new byte[PAGE], got);
    }

    @Test
    void aZeroPageWithAPayloadIsRefused() {
        ByteBuffer page = direct(PageSets.text(1));
        CorruptPageException e = assertThrows(CorruptPageException.class,
                () -> codec.decode(3, ByteBuffer.allocate(1), page));
        assertEquals(PageEncoding.ZERO, e.encoding());
        assertEquals(3, e.page());
    }
}
