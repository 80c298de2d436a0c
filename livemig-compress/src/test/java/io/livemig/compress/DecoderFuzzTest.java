package io.livemig.compress;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

import static io.livemig.compress.PageSets.PAGE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzzes every page decoder with hostile payloads: each either decodes to exactly one page
 * without touching a byte outside it, or fails with {@link CorruptPageException}; nothing else.
 * And XBZRLE round-trips: whatever the old page and the changes, decode(encode) is the new page.
 *
 * <p>In a plain test run Jazzer replays the seeds under {@code DecoderFuzzTestInputs/}; the
 * build's {@code fuzz} execution fuzzes for real for a bounded time (see docs/fuzzing.md). One
 * target only, which picks the decoder from its first input byte: Jazzer fuzzes one target per
 * run.
 */
class DecoderFuzzTest {

    /** Bytes around the page in the destination buffer that must survive every decode. */
    private static final int GUARD = 256;
    private static final byte GUARD_BYTE = (byte) 0xA5;

    private final PageDecoder decoder = new PageDecoder(PAGE);

    @FuzzTest(maxDuration = "20s")
    void decodersRejectOrDecodeExactlyOnePage(FuzzedDataProvider data) {
        int target = data.consumeInt(0, 4);
        switch (target) {
            case 0 -> hostile(PageEncoding.XBZRLE, data);
            case 1 -> hostile(PageEncoding.LZ4, data);
            case 2 -> hostile(PageEncoding.ZSTD, data);
            case 3 -> hostile(PageEncoding.DEDUP, data);
            default -> xbzrleRoundTrip(data);
        }
    }

    private void hostile(PageEncoding encoding, FuzzedDataProvider data) {
        byte[] old = data.consumeBytes(data.consumeInt(0, PAGE));
        byte[] payloadBytes = data.consumeRemainingAsBytes();
        if (payloadBytes.length == 0) {
            return;
        }
        ByteBuffer payload = ByteBuffer.allocateDirect(payloadBytes.length + 16).order(ByteOrder.nativeOrder());
        payload.position(8).put(payloadBytes).flip().position(8);
        ByteBuffer region = ByteBuffer.allocateDirect(GUARD + PAGE + GUARD).order(ByteOrder.nativeOrder());
        for (int i = 0; i < region.capacity(); i++) {
            region.put(i, GUARD_BYTE);
        }
        region.put(GUARD, old);
        ByteBuffer page = region.slice(GUARD, PAGE).order(ByteOrder.nativeOrder());
        byte[] before = new byte[PAGE];
        page.get(0, before);
        boolean rejected = false;
        try {
            decoder.decode(7, encoding, payload, page);
        } catch (CorruptPageException expected) {
            rejected = true;
        }
        for (int i = 0; i < GUARD; i++) {
            assertEquals(GUARD_BYTE, region.get(i), encoding + " wrote before the page");
            assertEquals(GUARD_BYTE, region.get(GUARD + PAGE + i), encoding + " wrote after the page");
        }
        assertEquals(8, payload.position(), "the payload's position moved");
        if (rejected && encoding == PageEncoding.XBZRLE) {
            byte[] after = new byte[PAGE];
            page.get(0, after);
            assertArrayEquals(before, after, "a refused XBZRLE delta changed the page");
        }
    }

    private static void xbzrleRoundTrip(FuzzedDataProvider data) {
        byte[] old = Arrays.copyOf(data.consumeBytes(PAGE), PAGE);
        byte[] now = old.clone();
        int changes = data.consumeInt(0, 64);
        for (int i = 0; i < changes; i++) {
            int at = data.consumeInt(0, PAGE - 1);
            byte[] bytes = data.consumeBytes(data.consumeInt(1, 64));
            for (int j = 0; j < bytes.length && at + j < PAGE; j++) {
                now[at + j] = bytes[j];
            }
        }
        ByteBuffer previous = PageSets.direct(old);
        ByteBuffer current = PageSets.direct(now);
        ByteBuffer out = ByteBuffer.allocateDirect(PAGE + GUARD).order(ByteOrder.nativeOrder());
        int n = Xbzrle.encode(previous, 0, current, 0, PAGE, out, PAGE);
        if (n < 0) {
            return; // not worth a delta: the encoder says so, the page goes raw
        }
        if (n == 0) {
            assertArrayEquals(old, now, "an empty delta for a changed page");
            return;
        }
        assertTrue(n <= PAGE, "a delta longer than the page");
        ByteBuffer page = PageSets.direct(old);
        Xbzrle.decode(out, 0, n, page, 0, PAGE, 1);
        byte[] got = new byte[PAGE];
        page.get(0, got);
        assertArrayEquals(now, got, "decode(encode(old, new)) != new");
    }
}
