package io.livemig.compress;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.EnumSet;
import java.util.Random;
import java.util.Set;

import static io.livemig.compress.PageSets.PAGE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The chooser's order and its rules: which codec takes a page when several could. */
class PageEncoderTest {

    private static final Set<PageEncoding> EVERY_CODEC = EnumSet.of(PageEncoding.DEDUP, PageEncoding.XBZRLE,
            PageEncoding.LZ4, PageEncoding.ZSTD);

    private final ByteBuffer frame = ByteBuffer.allocateDirect(PAGE).order(ByteOrder.nativeOrder());

    private static PageEncoder encoder(Set<PageEncoding> codecs) {
        return new PageEncoder(new PageEncoder.Config(codecs, 1 << 20, 3), PAGE, 16);
    }

    /** @return the encoding chosen, or null for UNCHANGED */
    private PageEncoding send(PageEncoder encoder, int key, byte[] content, boolean allowDelta) {
        frame.put(0, content);
        int n = encoder.encode(key, frame, 0, ZeroPages.isZero(frame, 0, PAGE), allowDelta);
        return n == PageEncoder.UNCHANGED ? null : encoder.lastEncoding();
    }

    @Test
    void aFirstPassConfigCachesTheFirstPassSoTheNextSendIsADelta() {
        PageEncoder encoder = new PageEncoder(new PageEncoder.Config(EnumSet.of(PageEncoding.XBZRLE), 1 << 20, 3, true),
                PAGE, 16);
        byte[] page = PageSets.random(5);
        frame.put(0, page);
        encoder.encode(0, frame, 0, false, true, true);
        assertEquals(PageEncoding.XBZRLE, send(encoder, 0, PageSets.changed(page, 8, 2), true));
    }

    @Test
    void withoutFirstPassCachingAPageIsCachedOnItsSecondWholeSendAfterTheFirstPass() {
        PageEncoder encoder = new PageEncoder(new PageEncoder.Config(EnumSet.of(PageEncoding.XBZRLE), 1 << 20, 3, false),
                PAGE, 16);
        byte[] page = PageSets.random(5);
        frame.put(0, page);
        assertEquals(PAGE, encoder.encode(0, frame, 0, false, true, true), "first pass: raw");
        assertEquals(PageEncoding.RAW, encoder.lastEncoding());
        assertEquals(0, encoder.cacheHitsAndMisses()[0] + encoder.cacheHitsAndMisses()[1],
                "the first pass did not touch the cache");
        byte[] changed = PageSets.changed(page, 8, 2);
        assertEquals(PageEncoding.RAW, send(encoder, 0, changed, true), "not cached: whole, and noted");
        byte[] again = PageSets.changed(changed, 8, 3);
        assertEquals(PageEncoding.RAW, send(encoder, 0, again, true), "missed twice: whole, and cached now");
        assertEquals(PageEncoding.XBZRLE, send(encoder, 0, PageSets.changed(again, 8, 4), true));
    }

    @Test
    void inTheFirstPassOtherHistoryCodecsStillLearn() {
        PageEncoder encoder = new PageEncoder(new PageEncoder.Config(EVERY_CODEC, 1 << 20, 3, false), PAGE, 16);
        byte[] a = PageSets.text(1);
        frame.put(0, a);
        encoder.encode(0, frame, 0, false, true, true);
        frame.put(0, a);
        encoder.encode(1, frame, 0, false, true, true);
        assertEquals(PageEncoding.DEDUP, encoder.lastEncoding(), "dedup works in the first pass");
    }

    @Test
    void aPageThatCompressesWellAndHasASmallDeltaGoesAsXbzrle() {
        PageEncoder encoder = encoder(EVERY_CODEC);
        byte[] text = PageSets.text(1);
        assertEquals(PageEncoding.LZ4, send(encoder, 0, text, true));
        assertEquals(PageEncoding.XBZRLE, send(encoder, 0, PageSets.changed(text, 8, 2), true));
    }

    @Test
    void aDuplicateGoesAsAReferenceBeforeADeltaAndTheDeltaCacheFollowsIt() {
        PageEncoder encoder = encoder(EVERY_CODEC);
        byte[] a = PageSets.text(1);
        send(encoder, 0, a, true);
        send(encoder, 1, PageSets.changed(a, 8, 2), true);
        // Key 1's delta would be 8 bytes; key 0 holds exactly this content: a reference wins.
        assertEquals(PageEncoding.DEDUP, send(encoder, 1, a, true));
        // The reference changed key 1 at the destination, and the XBZRLE cache followed: once
        // key 0 holds something else (no reference possible), key 1 is found unchanged.
        send(encoder, 0, PageSets.random(3), true);
        assertEquals(null, send(encoder, 1, a, true), "unchanged");
    }

    @Test
    void lz4IsTriedBeforeZstdAndZstdTakesWhatLz4CannotShrinkEnough() {
        PageEncoder encoder = encoder(EnumSet.of(PageEncoding.LZ4, PageEncoding.ZSTD));
        assertEquals(PageEncoding.LZ4, send(encoder, 0, PageSets.text(1), true));
        // Random 7-bit bytes: no repeats for LZ4 to find, but entropy coding saves an eighth.
        byte[] sevenBit = PageSets.random(2);
        for (int i = 0; i < PAGE; i++) {
            sevenBit[i] &= 0x7F;
        }
        assertEquals(PageEncoding.ZSTD, send(encoder, 1, sevenBit, true));
    }

    @Test
    void aPageThatSavesLessThanTheMinimumGoesRaw() {
        // Random bytes after a run of zeros: find the run for which LZ4 saves 1 to 63 bytes.
        net.jpountz.lz4.LZ4Compressor lz4 = net.jpountz.lz4.LZ4Factory.fastestInstance().fastCompressor();
        byte[] page = null;
        for (int zeros = 0; zeros < PAGE && page == null; zeros += 4) {
            byte[] candidate = PageSets.random(3);
            java.util.Arrays.fill(candidate, 0, zeros, (byte) 0);
            int n = lz4.compress(candidate).length;
            if (n < PAGE && n > PAGE - PageEncoder.MIN_SAVING_BYTES) {
                page = candidate;
            }
        }
        assertTrue(page != null, "no page that LZ4 shrinks by less than the minimum");
        PageEncoder encoder = encoder(EnumSet.of(PageEncoding.LZ4));
        assertEquals(PageEncoding.RAW, send(encoder, 0, page, true));
        assertEquals(PAGE, encoder.encode(0, frame.put(0, page), 0, false, true));
    }

    @Test
    void aZeroPageComesFirstAndDropsWhatTheEncoderKnewOfIt() {
        PageEncoder encoder = encoder(EVERY_CODEC);
        byte[] text = PageSets.text(1);
        send(encoder, 0, text, true);
        assertEquals(PageEncoding.ZERO, send(encoder, 0, new byte[PAGE], true));
        assertEquals(0, encoder.encode(0, frame.put(0, new byte[PAGE]), 0, true, true));
        // Key 0 holds zeros now: no reference to it, no delta against the text.
        assertEquals(PageEncoding.LZ4, send(encoder, 1, text, true));
        assertEquals(PageEncoding.DEDUP, send(encoder, 0, text, true), "key 1 holds it");
    }

    @Test
    void withoutDeltaNeitherReferencesNorDeltasAreMadeAndWhatWasKnownIsDropped() {
        PageEncoder encoder = encoder(EVERY_CODEC);
        byte[] text = PageSets.text(1);
        send(encoder, 0, text, true);
        assertEquals(PageEncoding.LZ4, send(encoder, 1, text, false), "no reference");
        assertEquals(PageEncoding.LZ4, send(encoder, 0, text, false), "not unchanged");
        // Key 0 was dropped from both the cache and the index.
        assertEquals(PageEncoding.LZ4, send(encoder, 0, text, true), "no delta base, no reference");
        assertEquals(null, send(encoder, 0, text, true), "cached again");
        long[] hm = encoder.cacheHitsAndMisses();
        assertEquals(1, hm[0]);
        assertEquals(1, hm[1] - 1, "the first send and the one after the drop missed");
    }

    @Test
    void lastEncodingKeepsTheLastPageSentAndNeedsOne() {
        PageEncoder encoder = encoder(EVERY_CODEC);
        assertThrows(IllegalStateException.class, encoder::lastEncoding);
        byte[] text = PageSets.text(1);
        send(encoder, 0, text, true);
        assertEquals(PageEncoder.UNCHANGED, encoder.encode(0, frame.put(0, text), 0, false, true));
        assertEquals(PageEncoding.LZ4, encoder.lastEncoding());
    }

    @Test
    void noPageEverCostsMoreThanRaw() {
        PageEncoder encoder = encoder(EVERY_CODEC);
        Random r = new Random(5);
        for (int i = 0; i < 500; i++) {
            byte[] content = switch (r.nextInt(3)) {
                case 0 -> PageSets.random(r.nextLong());
                case 1 -> PageSets.text(r.nextLong());
                default -> PageSets.zeroHeavy(r.nextLong());
            };
            frame.put(0, content);
            int n = encoder.encode(r.nextInt(16), frame, 0, false, r.nextBoolean());
            assertTrue(n == PageEncoder.UNCHANGED || n == PAGE || n <= PAGE - PageEncoder.MIN_SAVING_BYTES,
                    encoder.lastEncoding() + " of " + n + " bytes");
        }
    }
}
