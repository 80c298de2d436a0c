package io.livemig.compress;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static io.livemig.compress.PageSets.PAGE;
import static io.livemig.compress.PageSets.direct;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class XbzrleCodecTest {

    private static final int LIMIT = PAGE - PageEncoder.MIN_SAVING_BYTES;

    private final XbzrleCodec codec = new XbzrleCodec(PAGE, 16L * PAGE);
    private final ByteBuffer out = ByteBuffer.allocateDirect(PAGE);

    @Test
    void aDeltaAgainstTheCachedVersionRoundTrips() {
        byte[] old = PageSets.text(1);
        assertEquals(PageCodec.DECLINED, codec.encode(5, direct(old), 0, out, 0, LIMIT), "not cached yet");
        byte[] now = PageSets.changed(old, 8, 2);
        int n = codec.encode(5, direct(now), 0, out, 0, LIMIT);
        assertTrue(n > 0 && n <= 32, "8 changed bytes: " + n);
        ByteBuffer page = direct(old);
        new XbzrleCodec(PAGE).decode(5, out.duplicate().position(0).limit(n), page);
        byte[] got = new byte[PAGE];
        page.get(0, got);
        assertArrayEquals(now, got);
        assertEquals(PageCodec.UNCHANGED, codec.encode(5, direct(now), 0, out, 0, LIMIT), "the cache holds it now");
        assertEquals(1, codec.cacheMisses());
        assertEquals(2, codec.cacheHits());
    }

    @Test
    void aForgottenPageIsDeclinedAndASentOneIsADeltaBase() {
        byte[] a = PageSets.text(1);
        codec.encode(5, direct(a), 0, out, 0, LIMIT);
        codec.forget(5);
        assertEquals(PageCodec.DECLINED, codec.encode(5, direct(a), 0, out, 0, LIMIT), "forgotten: no base");
        codec.sent(6, direct(a), 0);
        assertEquals(PageCodec.UNCHANGED, codec.encode(6, direct(a), 0, out, 0, LIMIT), "sent by another codec");
    }

    @Test
    void aDeltaThatDoesNotSaveEnoughIsDeclinedButCached() {
        byte[] a = PageSets.random(1);
        codec.encode(5, direct(a), 0, out, 0, LIMIT);
        byte[] b = PageSets.random(2);
        assertEquals(PageCodec.DECLINED, codec.encode(5, direct(b), 0, out, 0, LIMIT));
        assertEquals(PageCodec.UNCHANGED, codec.encode(5, direct(b), 0, out, 0, LIMIT), "b went whole: cached");
    }

    @Test
    void aMalformedDeltaIsRefusedAndThePageLeftAlone() {
        byte[] old = PageSets.text(3);
        ByteBuffer page = direct(old);
        assertThrows(CorruptPageException.class,
                () -> codec.decode(1, ByteBuffer.wrap(new byte[] {0x00, (byte) 0x81, 0x20}), page));
        byte[] after = new byte[PAGE];
        page.get(0, after);
        assertArrayEquals(old, after);
    }

    @Test
    void aDecodeOnlyCodecHasNoHistory() {
        XbzrleCodec decodeOnly = new XbzrleCodec(PAGE);
        assertThrows(IllegalStateException.class,
                () -> decodeOnly.encode(0, direct(PageSets.text(1)), 0, out, 0, LIMIT));
        assertThrows(IllegalStateException.class, () -> decodeOnly.forget(0));
    }
}
