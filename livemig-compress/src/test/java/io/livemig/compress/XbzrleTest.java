package io.livemig.compress;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HexFormat;

import static io.livemig.compress.PageSets.PAGE;
import static io.livemig.compress.PageSets.direct;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class XbzrleTest {

    private static byte[] encode(byte[] old, byte[] cur, int max) {
        ByteBuffer out = ByteBuffer.allocate(PAGE * 2);
        int n = Xbzrle.encode(direct(old), 0, direct(cur), 0, PAGE, out, max);
        if (n < 0) {
            return null;
        }
        byte[] bytes = new byte[n];
        out.get(0, bytes);
        return bytes;
    }

    private static byte[] decode(byte[] old, byte[] encoded) {
        ByteBuffer page = direct(old);
        Xbzrle.decode(ByteBuffer.wrap(encoded), 0, encoded.length, page, 0, PAGE, 7);
        byte[] out = new byte[PAGE];
        page.get(0, out);
        return out;
    }

    @Test
    void pagesReadInDifferentByteOrdersGiveTheSameDelta() {
        byte[] old = new byte[PAGE];
        byte[] cur = new byte[PAGE];
        for (int i = 0; i < 8; i++) {
            old[i] = (byte) (i + 1);
            cur[i] = (byte) (8 - i); // a word equal to the old one read in the other byte order
        }
        cur[100] = 5;
        byte[] expected = encode(old, cur, PAGE);
        ByteBuffer bigEndian = ByteBuffer.allocateDirect(PAGE).order(ByteOrder.BIG_ENDIAN).put(0, cur);
        ByteBuffer out = ByteBuffer.allocate(PAGE);
        int n = Xbzrle.encode(direct(old), 0, bigEndian, 0, PAGE, out, PAGE);
        byte[] got = new byte[n];
        out.get(0, got);
        assertArrayEquals(expected, got);
        assertArrayEquals(cur, decode(old, got));
    }

    @Test
    void smallDeltasRoundTripAndStaySmall() {
        for (byte[] base : new byte[][] {PageSets.text(1), PageSets.zeroHeavy(2), PageSets.random(3)}) {
            byte[] cur = PageSets.changed(base, 8, 4);
            byte[] enc = encode(base, cur, PAGE);
            // Each change costs at most a 2-byte zero run, a 1-byte length and the byte itself.
            assertTrue(enc.length <= 8 * 4, "8 changed bytes cost at most 32: " + enc.length);
            assertArrayEquals(cur, decode(base, enc));
        }
    }

    @Test
    void anUnchangedPageEncodesToNothing() {
        byte[] p = PageSets.text(9);
        assertEquals(0, encode(p, p.clone(), PAGE).length);
    }

    @Test
    void theEncodingFollowsQemusGrammarByteForByte() {
        byte[] old = new byte[PAGE];
        byte[] cur = new byte[PAGE];
        cur[0] = 1;           // zrun 0, nzrun 1
        cur[200] = 2;         // zrun 199, nzrun 1 (199 needs two ULEB128 bytes: c7 01)
        cur[201] = 3;         // part of the same nzrun: 2 bytes
        cur[4095] = 4;        // zrun 3893 (b5 1e), nzrun 1, and no trailing zrun
        byte[] enc = encode(old, cur, PAGE);
        assertEquals("000101" + "c70102" + "0203" + "b51e" + "0104", HexFormat.of().formatHex(enc));
        assertArrayEquals(cur, decode(old, enc));
    }

    @Test
    void aDeltaLargerThanTheLimitIsRefusedWithoutWriting() {
        ByteBuffer out = ByteBuffer.allocate(PAGE);
        assertEquals(-1, Xbzrle.encode(direct(PageSets.random(1)), 0, direct(PageSets.random(2)), 0, PAGE, out,
                PAGE - 64));
        assertEquals(0, out.position());
    }

    @Test
    void everyMalformationIsRejectedAndTheOldPageIsLeftAlone() {
        byte[] old = PageSets.text(5);
        String[] bad = {
            "",             // empty
            "00",           // zrun without nzrun
            "0000",         // empty nzrun
            "0001",         // nzrun of 1 with no byte
            "ff",           // truncated ULEB128
            "808000",       // over-long ULEB128
            "80808001",     // more than 3 ULEB128 bytes
            "0101aa00",     // a zero run after the start that has no non-zero run
            "8120" + "01ff", // zrun 4097 > page
            "00" + "8120",  // nzrun 4097 > page
        };
        for (String hex : bad) {
            byte[] enc = HexFormat.of().parseHex(hex);
            ByteBuffer page = direct(old);
            assertThrows(CorruptPageException.class,
                    () -> Xbzrle.decode(ByteBuffer.wrap(enc), 0, enc.length, page, 0, PAGE, 1), hex);
            byte[] after = new byte[PAGE];
            page.get(0, after);
            assertArrayEquals(old, after, "unchanged after rejecting " + hex);
        }
    }

    @Test
    void decodingNeverWritesOutsideThePage() {
        // Guard bytes around the page catch any stray write.
        java.util.Random r = new java.util.Random(42);
        byte[] base = PageSets.text(3);
        byte[] good = encode(base, PageSets.changed(base, 300, 5), PAGE);
        for (int i = 0; i < 20_000; i++) {
            byte[] enc = good.clone();
            int flips = 1 + r.nextInt(4);
            for (int f = 0; f < flips; f++) {
                enc[r.nextInt(enc.length)] = (byte) r.nextInt(256);
            }
            ByteBuffer buf = ByteBuffer.allocateDirect(PAGE + 128).order(ByteOrder.nativeOrder());
            for (int g = 0; g < 64; g++) {
                buf.put(g, (byte) 0x5A);
                buf.put(PAGE + 64 + g, (byte) 0x5A);
            }
            buf.put(64, base);
            try {
                Xbzrle.decode(ByteBuffer.wrap(enc), 0, enc.length, buf, 64, PAGE, 1);
            } catch (CorruptPageException expected) {
                // fine: rejected
            }
            for (int g = 0; g < 64; g++) {
                assertEquals(0x5A, buf.get(g));
                assertEquals(0x5A, buf.get(PAGE + 64 + g));
            }
        }
    }
}
