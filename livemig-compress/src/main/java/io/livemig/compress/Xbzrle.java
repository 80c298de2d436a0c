package io.livemig.compress;

import java.nio.ByteBuffer;

/**
 * XBZRLE (Xor-Based Zero Run Length Encoding; Svärd et al., VEE'11, as adopted by QEMU) of one
 * page against the version the destination already holds.
 *
 * <pre>
 * page   = zrun nzrun
 *        | zrun nzrun page
 * zrun   = length                 bytes equal in the old and the new page (skipped)
 * nzrun  = length byte...         bytes that differ: the NEW page's bytes, verbatim
 * length = ULEB128 integer        (1 byte below 128, 2 bytes below 16384)
 * </pre>
 *
 * Only the first zrun may be empty; every nzrun has at least one byte; a zero run that reaches
 * the end of the page is not written. An unchanged page encodes to nothing (length 0).
 *
 * <p><b>Compatibility.</b> This is the grammar of QEMU's docs/xbzrle.txt and
 * migration/xbzrle.c. The encoder emits maximal runs at byte granularity, as QEMU's encoder does,
 * so for pages of up to 16 KiB (QEMU's ULEB128 is limited to 14 bits) its output is byte for
 * byte what QEMU produces for the same old and new page, and the decoder accepts exactly what
 * QEMU's decoder accepts. (QEMU frames the result differently on its own wire; only the page
 * encoding is shared.)
 *
 * <p>Stateless and thread-safe; allocation-free. Buffers are read with absolute gets; their
 * positions and limits are neither used nor changed unless a method says so.
 */
public final class Xbzrle {

    private static final long LOW_BITS = 0x0101010101010101L;
    private static final long HIGH_BITS = 0x8080808080808080L;

    private Xbzrle() {
    }

    /**
     * Encodes {@code current} against {@code previous}.
     *
     * @param previous   the old page at {@code [previousAt, previousAt + pageSize)}
     * @param previousAt its offset
     * @param current    the new page
     * @param currentAt  its offset
     * @param pageSize   the page size in bytes
     * @param out        where the encoding goes, from its position (advanced on success)
     * @param maxBytes   the most bytes the encoding may take (e.g. a bit less than a page)
     * @return the encoded length, 0 if the pages are equal, or -1 if the encoding would exceed
     *         {@code maxBytes} (the caller sends the page otherwise; {@code out}'s position is then
     *         unchanged)
     */
    public static int encode(ByteBuffer previous, int previousAt, ByteBuffer current, int currentAt, int pageSize,
                             ByteBuffer out, int maxBytes) {
        if (current.order() != previous.order()) {
            // The runs are found word by word: both pages must be read in the same byte order.
            current = current.duplicate().order(previous.order());
        }
        int start = out.position();
        int limit = Math.min(maxBytes, out.remaining());
        int d = 0;
        int i = 0;
        while (i < pageSize) {
            int zrun = equalRun(previous, previousAt + i, current, currentAt + i, pageSize - i);
            i += zrun;
            if (i == pageSize) {
                break;
            }
            int nzrun = differentRun(previous, previousAt + i, current, currentAt + i, pageSize - i);
            int need = ulebSize(zrun) + ulebSize(nzrun) + nzrun;
            if (d + need > limit) {
                return -1;
            }
            d += putUleb(out, start + d, zrun);
            d += putUleb(out, start + d, nzrun);
            out.put(start + d, current, currentAt + i, nzrun);
            d += nzrun;
            i += nzrun;
        }
        out.position(start + d);
        return d;
    }

    /**
     * Applies an encoding to the old page in place, turning it into the new one. The whole
     * encoding is checked before a byte of {@code page} changes.
     *
     * @param encoded   the encoding at {@code [encodedAt, encodedAt + length)}
     * @param encodedAt its offset
     * @param length    its length in bytes, at least 1
     * @param page      the old page at {@code [pageAt, pageAt + pageSize)}; becomes the new one
     * @param pageAt    its offset
     * @param pageSize  the page size
     * @param pageNumber for error messages
     * @throws CorruptPageException if the encoding is malformed; {@code page} is then unchanged
     */
    public static void decode(ByteBuffer encoded, int encodedAt, int length, ByteBuffer page, int pageAt, int pageSize,
                              long pageNumber) {
        walk(encoded, encodedAt, length, pageSize, pageNumber, null, 0);
        walk(encoded, encodedAt, length, pageSize, pageNumber, page, pageAt);
    }

    /**
     * Applies an encoding this class produced ({@link #encode}) to the old page in place, without
     * checking it: for the encoder's own copy of the page, which it brings up to date by writing
     * only the changed bytes.
     *
     * @param encoded   a well-formed encoding at {@code [encodedAt, encodedAt + length)}
     * @param encodedAt its offset
     * @param length    its length in bytes
     * @param page      the old page at {@code pageAt}; becomes the new one
     * @param pageAt    its offset
     */
    static void patch(ByteBuffer encoded, int encodedAt, int length, ByteBuffer page, int pageAt) {
        int end = encodedAt + length;
        int s = encodedAt;
        int d = 0;
        while (s < end) {
            long zrun = uleb(encoded, s, end, -1);
            s += (int) (zrun >>> 32);
            d += (int) zrun;
            long nzrun = uleb(encoded, s, end, -1);
            s += (int) (nzrun >>> 32);
            int n = (int) nzrun;
            page.put(pageAt + d, encoded, s, n);
            d += n;
            s += n;
        }
    }

    /** Checks (page == null) or applies the encoding. */
    private static void walk(ByteBuffer in, int at, int length, int pageSize, long pageNumber, ByteBuffer page,
                             int pageAt) {
        if (length < 1) {
            throw corrupt(pageNumber, "empty encoding");
        }
        int end = at + length;
        int s = at;
        int d = 0;
        boolean first = true;
        while (s < end) {
            long zrun = uleb(in, s, end, pageNumber);
            s += (int) (zrun >>> 32);
            int z = (int) zrun;
            if (z == 0 && !first) {
                throw corrupt(pageNumber, "empty zero run after the start, at byte " + (s - at));
            }
            first = false;
            if (d + (long) z > pageSize) {
                throw corrupt(pageNumber, "zero run of " + z + " bytes passes the page end at " + d);
            }
            d += z;
            if (s >= end) {
                throw corrupt(pageNumber, "encoding ends after a zero run, without its non-zero run");
            }
            long nzrun = uleb(in, s, end, pageNumber);
            s += (int) (nzrun >>> 32);
            int n = (int) nzrun;
            if (n == 0) {
                throw corrupt(pageNumber, "empty non-zero run at byte " + (s - at));
            }
            if (d + (long) n > pageSize) {
                throw corrupt(pageNumber, "non-zero run of " + n + " bytes passes the page end at " + d);
            }
            if (s + (long) n > end) {
                throw corrupt(pageNumber, "non-zero run of " + n + " bytes but only " + (end - s) + " left");
            }
            if (page != null) {
                page.put(pageAt + d, in, s, n);
            }
            d += n;
            s += n;
        }
    }

    /** @return the ULEB128 value in the low 32 bits and its size in bytes in the high 32 */
    private static long uleb(ByteBuffer in, int at, int end, long pageNumber) {
        int value = 0;
        for (int i = 0; i < 3; i++) {
            if (at + i >= end) {
                throw corrupt(pageNumber, "truncated length at the end of the encoding");
            }
            int b = in.get(at + i) & 0xFF;
            value |= (b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0) {
                if (i > 0 && b == 0) {
                    throw corrupt(pageNumber, "over-long (non-minimal) length encoding");
                }
                return ((long) (i + 1) << 32) | value;
            }
        }
        throw corrupt(pageNumber, "length longer than 3 bytes (pages are at most 1 MiB)");
    }

    private static int ulebSize(int v) {
        return v < 0x80 ? 1 : v < 0x4000 ? 2 : 3;
    }

    private static int putUleb(ByteBuffer out, int at, int v) {
        int n = 0;
        do {
            int b = v & 0x7F;
            v >>>= 7;
            out.put(at + n++, (byte) (v != 0 ? b | 0x80 : b));
        } while (v != 0);
        return n;
    }

    /**
     * Length of the run of equal bytes at the start. The JDK's mismatch compares with vector
     * instructions; a loop of {@code getLong} calls costs a call per word where the buffers'
     * classes differ from call to call (direct, mapped, heap), and this run is most of a page.
     */
    private static int equalRun(ByteBuffer a, int aAt, ByteBuffer b, int bAt, int max) {
        int m = a.slice(aAt, max).mismatch(b.slice(bAt, max));
        return m < 0 ? max : m;
    }

    /** Length of the run of differing bytes at the start: ends at the first equal byte. */
    private static int differentRun(ByteBuffer a, int aAt, ByteBuffer b, int bAt, int max) {
        int n = 0;
        while (n + 8 <= max) {
            long x = a.getLong(aAt + n) ^ b.getLong(bAt + n);
            if (((x - LOW_BITS) & ~x & HIGH_BITS) != 0) {
                break; // a zero byte in the XOR: an equal byte inside this word
            }
            n += 8;
        }
        while (n < max && a.get(aAt + n) != b.get(bAt + n)) {
            n++;
        }
        return n;
    }

    private static CorruptPageException corrupt(long page, String message) {
        return new CorruptPageException(page, PageEncoding.XBZRLE, message);
    }
}
