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
    void withAdmissionOnTheSecondMissAPageIsCachedOnlyWhenItMissesAgain() {
        XbzrleCodec admitting = new XbzrleCodec(PAGE, 16L * PAGE, 64);
        byte[] a = PageSets.text(1);
        assertEquals(PageCodec.DECLINED, admitting.encode(5, direct(a), 0, out, 0, LIMIT), "first miss: noted");
        assertEquals(PageCodec.DECLINED, admitting.encode(5, direct(a), 0, out, 0, LIMIT), "second miss: cached");
        assertEquals(PageCodec.UNCHANGED, admitting.encode(5, direct(a), 0, out, 0, LIMIT));
        ByteBuffer frame = ByteBuffer.allocateDirect(PAGE).put(0, a);
        ByteBuffer work = ByteBuffer.allocateDirect(PAGE);
        assertEquals(PageCodec.DECLINED, admitting.encodeInPlace(9, frame, 0, LIMIT, work), "in place: noted");
        assertEquals(PageCodec.DECLINED, admitting.encodeInPlace(9, frame, 0, LIMIT, work), "in place: cached");
        assertEquals(PageCodec.UNCHANGED, admitting.encodeInPlace(9, frame, 0, LIMIT, work));
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
    void encodingInPlaceGivesTheDeltasAndCacheOfEncodingFromACopy() {
        // Two codecs with small caches (evictions too) see the same page sequence: one encodes
        // from a copy, the other in the frame; every result and delta must be the same.
        XbzrleCodec fromCopy = new XbzrleCodec(PAGE, 8L * PAGE);
        XbzrleCodec inPlace = new XbzrleCodec(PAGE, 8L * PAGE);
        ByteBuffer work = ByteBuffer.allocateDirect(PAGE);
        ByteBuffer frame = ByteBuffer.allocateDirect(3 * PAGE).order(java.nio.ByteOrder.nativeOrder());
        byte[][] latest = new byte[12][];
        java.util.Random random = new java.util.Random(12);
        for (int step = 0; step < 400; step++) {
            int key = random.nextInt(latest.length);
            byte[] base = latest[key] == null ? PageSets.text(key) : latest[key];
            byte[] now = switch (random.nextInt(4)) {
                case 0 -> base;
                case 1 -> PageSets.random(step);
                default -> PageSets.changed(base, 1 + random.nextInt(200), step);
            };
            latest[key] = now;
            int expected = fromCopy.encode(key, direct(now), 0, out, 0, LIMIT);
            int at = PAGE + random.nextInt(PAGE / 2);
            frame.put(at, now);
            int got = inPlace.encodeInPlace(key, frame, at, LIMIT, work);
            assertEquals(expected, got, "step " + step);
            byte[] gotBytes = new byte[got > 0 ? got : got == PageCodec.DECLINED ? PAGE : 0];
            frame.get(at, gotBytes);
            byte[] expectedBytes = got > 0 ? new byte[got] : got == PageCodec.DECLINED ? now : new byte[0];
            if (got > 0) {
                out.get(0, expectedBytes);
            }
            assertArrayEquals(expectedBytes, gotBytes, "step " + step + ": the delta, or the raw page left alone");
        }
        assertEquals(fromCopy.cacheHits(), inPlace.cacheHits());
        assertEquals(fromCopy.cacheMisses(), inPlace.cacheMisses());
        assertTrue(inPlace.cacheHits() > 100 && inPlace.cacheMisses() > 20, "both paths were taken");
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
