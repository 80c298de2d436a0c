package io.livemig.compress;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.Set;

import static io.livemig.compress.PageSets.PAGE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The adaptive encoder and the decoder, end to end, on realistic pages. */
class PageCodecTest {

    private static final PageEncoder.Config ALL = new PageEncoder.Config(
            Set.of(PageEncoding.XBZRLE, PageEncoding.LZ4), 1 << 20, 3);

    /** Encodes like the engine does (raw page in a frame), decodes like the destination does. */
    private static final class Pipe {
        final PageEncoder encoder;
        final PageDecoder decoder = new PageDecoder(PAGE);
        final ByteBuffer frame = ByteBuffer.allocateDirect(2 * PAGE).order(ByteOrder.nativeOrder());
        final byte[][] destination = new byte[64][];
        /** What the last {@link #send} got from {@link PageEncoder#encode}. */
        int lastResult;

        Pipe(PageEncoder.Config config) {
            encoder = new PageEncoder(config, PAGE, 64);
            for (int i = 0; i < destination.length; i++) {
                destination[i] = new byte[PAGE];
            }
        }

        /** @return the encoding the page went as, or null if the encoder said UNCHANGED */
        PageEncoding send(int page, byte[] content) {
            frame.put(0, content);
            boolean zero = ZeroPages.isZero(frame, 0, PAGE);
            lastResult = encoder.encode(page, frame, 0, zero, true);
            PageEncoding r = lastResult == PageEncoder.UNCHANGED ? null : encoder.lastEncoding();
            ByteBuffer out = ByteBuffer.allocateDirect(PAGE).order(ByteOrder.nativeOrder());
            if (r != null) {
                ByteBuffer payload = frame.duplicate().position(0).limit(lastResult);
                switch (r) {
                    case ZERO -> destination[page] = new byte[PAGE];
                    case RAW -> {
                        byte[] raw = new byte[PAGE];
                        payload.get(raw);
                        destination[page] = raw;
                    }
                    case XBZRLE, LZ4, ZSTD, DEDUP -> {
                        long base = PageDecoder.basePage(page, r, payload);
                        if (base >= 0) {
                            out.put(0, destination[(int) base]);
                        }
                        decoder.decode(page, r, payload, out);
                        byte[] got = new byte[PAGE];
                        out.get(0, got);
                        destination[page] = got;
                    }
                }
            }
            assertArrayEquals(content, destination[page], "page " + page + " via " + (r == null ? "unchanged" : r));
            return r;
        }
    }

    @Test
    void everyPageSetRoundTripsThroughEveryCodec() {
        for (Set<PageEncoding> codecs : java.util.List.of(Set.<PageEncoding>of(), Set.of(PageEncoding.XBZRLE),
                Set.of(PageEncoding.LZ4), Set.of(PageEncoding.ZSTD), Set.of(PageEncoding.XBZRLE, PageEncoding.ZSTD))) {
            Pipe pipe = new Pipe(new PageEncoder.Config(codecs, 1 << 20, 3));
            Random r = new Random(1);
            byte[][] current = new byte[64][];
            for (int p = 0; p < 64; p++) {
                current[p] = switch (p % 4) {
                    case 0 -> PageSets.text(p);
                    case 1 -> PageSets.zeroHeavy(p);
                    case 2 -> PageSets.random(p);
                    default -> new byte[PAGE];
                };
                pipe.send(p, current[p]);
            }
            for (int round = 0; round < 3; round++) {
                for (int p = 0; p < 64; p++) {
                    current[p] = PageSets.changed(current[p], 1 + r.nextInt(16), round * 100 + p);
                    pipe.send(p, current[p]);
                }
            }
        }
    }

    @Test
    void theAdaptiveChoicePicksTheCheapestSafeEncoding() {
        Pipe pipe = new Pipe(ALL);
        byte[] text = PageSets.text(1);
        assertEquals(PageEncoding.LZ4, pipe.send(0, text), "first send of text: compressed");
        assertEquals(PageEncoding.XBZRLE, pipe.send(0, PageSets.changed(text, 8, 2)), "8 bytes later: a delta");
        assertNull(pipe.send(0, pipe.destination[0].clone()), "unchanged: nothing");
        assertEquals(PageEncoder.UNCHANGED, pipe.lastResult, "unchanged: nothing");
        assertEquals(PageEncoding.RAW, pipe.send(1, PageSets.random(3)), "random: raw, never more");
        assertEquals(PageEncoding.ZERO, pipe.send(2, new byte[PAGE]));
        assertTrue(pipe.lastResult == 0);
    }

    @Test
    void decompressorsRefuseAnythingButExactlyOnePage() {
        PageDecoder decoder = new PageDecoder(PAGE);
        ByteBuffer out = ByteBuffer.allocateDirect(PAGE);
        // LZ4 of 8 KiB of zeros: a decompression bomb for a 4 KiB page.
        byte[] big = new byte[2 * PAGE];
        byte[] bomb = net.jpountz.lz4.LZ4Factory.fastestInstance().fastCompressor().compress(big);
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(1, PageEncoding.LZ4, ByteBuffer.wrap(bomb), out));
        byte[] small = net.jpountz.lz4.LZ4Factory.fastestInstance().fastCompressor().compress(new byte[100]);
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(1, PageEncoding.LZ4, ByteBuffer.wrap(small), out));
        byte[] zbomb = com.github.luben.zstd.Zstd.compress(new byte[1 << 20]);
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(1, PageEncoding.ZSTD, ByteBuffer.wrap(zbomb), out));
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(1, PageEncoding.ZSTD, ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5, 6, 7, 8}), out));
        assertThrows(CorruptPageException.class,
                () -> decoder.decode(1, PageEncoding.LZ4, ByteBuffer.wrap(new byte[] {(byte) 0xF0, 1, 2}), out));
    }

    @Test
    void mutatedCompressedPagesNeverEscapeThePage() {
        PageDecoder decoder = new PageDecoder(PAGE);
        byte[] lz4 = net.jpountz.lz4.LZ4Factory.fastestInstance().fastCompressor().compress(PageSets.text(4));
        byte[] zstd = com.github.luben.zstd.Zstd.compress(PageSets.text(5), 3);
        Random r = new Random(7);
        for (int i = 0; i < 5_000; i++) {
            for (PageEncoding e : new PageEncoding[] {PageEncoding.LZ4, PageEncoding.ZSTD}) {
                byte[] enc = (e == PageEncoding.LZ4 ? lz4 : zstd).clone();
                enc[r.nextInt(enc.length)] = (byte) r.nextInt(256);
                ByteBuffer buf = ByteBuffer.allocateDirect(PAGE + 64);
                buf.put(PAGE, new byte[64]);
                for (int g = 0; g < 64; g++) {
                    buf.put(PAGE + g, (byte) 0x5A);
                }
                ByteBuffer page = buf.slice(0, PAGE);
                try {
                    decoder.decode(1, e, ByteBuffer.wrap(enc), page);
                } catch (CorruptPageException expected) {
                    // rejected
                }
                for (int g = 0; g < 64; g++) {
                    assertEquals(0x5A, buf.get(PAGE + g), e + " wrote past the page");
                }
            }
        }
    }

    @Test
    void theCacheMirrorsTheDestinationEvenWhenItEvicts() {
        // A 4-page cache and 64 pages: constant eviction, and every page still lands exactly.
        Pipe pipe = new Pipe(new PageEncoder.Config(Set.of(PageEncoding.XBZRLE), 4 * PAGE, 3));
        byte[][] cur = new byte[64][];
        for (int p = 0; p < 64; p++) {
            cur[p] = PageSets.text(p);
            pipe.send(p, cur[p]);
        }
        for (int round = 0; round < 5; round++) {
            for (int p = 0; p < 64; p++) {
                // Twice in a row: the second send finds the first in the cache.
                cur[p] = PageSets.changed(cur[p], 8, round * 64 + p);
                pipe.send(p, cur[p]);
                cur[p] = PageSets.changed(cur[p], 8, round * 64 + p + 10_000);
                pipe.send(p, cur[p]);
            }
        }
        long[] hm = pipe.encoder.cacheHitsAndMisses();
        assertTrue(hm[0] > 0 && hm[1] > 0, "hits " + hm[0] + ", misses " + hm[1]);
    }

    @Test
    void duplicatePagesTravelAsReferencesAndLandExactly() {
        Pipe pipe = new Pipe(new PageEncoder.Config(Set.of(PageEncoding.DEDUP, PageEncoding.LZ4), 1 << 20, 3));
        byte[] shared = PageSets.random(7);
        assertEquals(PageEncoding.RAW, pipe.send(3, shared));
        for (int p = 10; p < 20; p++) {
            assertEquals(PageEncoding.DEDUP, pipe.send(p, shared));
            assertEquals(DedupCodec.PAYLOAD_BYTES, pipe.lastResult);
        }
    }

    @Test
    void aPageRewrittenSinceItWasSentIsNoLongerAReference() {
        Pipe pipe = new Pipe(new PageEncoder.Config(Set.of(PageEncoding.DEDUP), 1 << 20, 3));
        byte[] a = PageSets.random(1);
        pipe.send(1, a);
        pipe.send(1, PageSets.random(2));
        // Page 1 no longer holds a at the destination: a must travel whole, not as a reference to it.
        assertEquals(PageEncoding.RAW, pipe.send(2, a));
        // Page 2 does hold it now.
        assertEquals(PageEncoding.DEDUP, pipe.send(5, a));
    }

    @Test
    void aReferenceToOtherContentIsRefused() {
        ByteBuffer payload = ByteBuffer.allocate(DedupCodec.PAYLOAD_BYTES);
        ByteBuffer content = ByteBuffer.allocateDirect(PAGE);
        content.put(0, PageSets.text(3));
        long[] h = DedupCodec.hash(content, 0, PAGE);
        DedupCodec.writeReference(payload, 0, 9, h);
        assertEquals(9, PageDecoder.basePage(4, PageEncoding.DEDUP, payload));
        PageDecoder decoder = new PageDecoder(PAGE);
        decoder.decode(4, PageEncoding.DEDUP, payload, content);
        content.put(100, (byte) (content.get(100) ^ 1));
        assertThrows(CorruptPageException.class, () -> decoder.decode(4, PageEncoding.DEDUP, payload, content));
        assertThrows(CorruptPageException.class,
                () -> PageDecoder.basePage(4, PageEncoding.DEDUP, ByteBuffer.allocate(8)));
    }

    @Test
    void aCacheAsLargeAsMemoryHoldsEveryPage() {
        int pages = 4096;
        XbzrleCache cache = new XbzrleCache((long) pages * PAGE, PAGE);
        for (int p = 0; p < pages; p++) {
            cache.slotFor(p);
        }
        for (int p = 0; p < pages; p++) {
            assertTrue(cache.lookup(p) >= 0, "page " + p + " was evicted");
        }
        assertEquals(0, cache.misses());
    }

    @Test
    void zeroDetectionSeesTheLastByte() {
        ByteBuffer b = ByteBuffer.allocateDirect(PAGE * 2);
        assertTrue(ZeroPages.isZero(b, PAGE, PAGE));
        b.put(2 * PAGE - 1, (byte) 1);
        assertTrue(!ZeroPages.isZero(b, PAGE, PAGE));
        assertTrue(ZeroPages.isZero(b, 0, PAGE));
    }
}
