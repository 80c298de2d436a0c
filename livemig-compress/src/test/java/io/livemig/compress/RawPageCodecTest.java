package io.livemig.compress;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static io.livemig.compress.PageSets.PAGE;
import static io.livemig.compress.PageSets.direct;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class RawPageCodecTest {

    private final RawPageCodec codec = new RawPageCodec(PAGE);

    @Test
    void aRawPageRoundTripsItsBytes() {
        byte[] content = PageSets.random(1);
        ByteBuffer out = ByteBuffer.allocateDirect(PAGE + 8);
        assertEquals(PAGE, codec.encode(0, direct(content), 0, out, 8, PAGE));
        ByteBuffer page = ByteBuffer.allocateDirect(PAGE);
        codec.decode(1, out.duplicate().position(8).limit(8 + PAGE), page);
        byte[] got = new byte[PAGE];
        page.get(0, got);
        assertArrayEquals(content, got);
    }

    @Test
    void rawDeclinesWithoutRoomForAWholePage() {
        ByteBuffer out = ByteBuffer.allocateDirect(PAGE);
        assertEquals(PageCodec.DECLINED, codec.encode(0, direct(PageSets.random(1)), 0, out, 0, PAGE - 1));
    }

    @Test
    void aRawPayloadOfAnyOtherLengthThanAPageIsRefused() {
        ByteBuffer page = ByteBuffer.allocateDirect(PAGE);
        for (int length : new int[] {0, PAGE - 1, PAGE + 1}) {
            assertThrows(CorruptPageException.class, () -> codec.decode(1, ByteBuffer.allocate(length), page),
                    "length " + length);
        }
    }
}
