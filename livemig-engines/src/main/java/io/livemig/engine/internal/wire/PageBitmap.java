package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.PageSet;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A chunk of a page bitmap (docs/protocol.md, 2.3), the payload of MISSING_PAGES (the pages the
 * destination will receive after it resumes) and RECOVER_MISSING (the pages it still lacks on a
 * new channel): {@code firstPage:u64} (a multiple of 64), {@code wordCount:u32} (1 to
 * {@link Wire#MAX_BITMAP_WORDS}), {@code word:u64[wordCount]}; bit {@code i} of word {@code w}
 * stands for page {@code firstPage + 64w + i}. Every set bit must be a RAM page of the layout.
 *
 * @param type      MISSING_PAGES or RECOVER_MISSING
 * @param firstWord the index of the first word, {@code firstPage / 64}
 * @param words     the bitmap words (the record owns the array)
 */
public record PageBitmap(FrameType type, int firstWord, long[] words) implements Message {

    /** @throws IllegalArgumentException for another frame type, a negative start or an empty or oversized chunk */
    public PageBitmap {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(words, "words");
        if (type != FrameType.MISSING_PAGES && type != FrameType.RECOVER_MISSING) {
            throw new IllegalArgumentException(type + " does not carry a page bitmap");
        }
        if (firstWord < 0 || words.length < 1 || words.length > Wire.MAX_BITMAP_WORDS) {
            throw new IllegalArgumentException("bitmap chunk of " + words.length + " words at word " + firstWord);
        }
    }

    /**
     * Splits {@code set} into the chunks that carry it, each fitting in a frame of
     * {@code maxFrameBytes}. An empty set still gives one chunk (of zero bits), so that the
     * receiver always learns the bitmap's extent.
     */
    public static List<PageBitmap> chunks(FrameType type, PageSet set, int maxFrameBytes) {
        int words = set.wordCount();
        int perFrame = Math.min(Wire.MAX_BITMAP_WORDS, (maxFrameBytes - 64) / 8);
        List<PageBitmap> chunks = new ArrayList<>();
        for (int first = 0; first < Math.max(1, words); first += perFrame) {
            long[] chunk = new long[Math.max(1, Math.min(perFrame, words - first))];
            if (words > 0) {
                set.copyWords(first, chunk);
            }
            chunks.add(new PageBitmap(type, first, chunk));
        }
        return chunks;
    }

    /** @return the first page the chunk covers */
    public long firstPage() {
        return (long) firstWord << 6;
    }

    /** Adds the chunk's pages to {@code into}, whose span must cover them. */
    public void addTo(PageSet into) {
        into.orWords(firstWord, words);
    }

    /** @return the number of pages set in this chunk */
    public long cardinality() {
        long count = 0;
        for (long w : words) {
            if (w != 0) { // as PageSet.cardinality: no call for a zero word in the interpreter
                count += Long.bitCount(w);
            }
        }
        return count;
    }

    @Override
    public ByteBuffer write(FrameWriter w) {
        FrameWriter.putLongs(w.begin(type).putLong(firstPage()).putInt(words.length), words);
        return w.finish();
    }

    /**
     * @param layout the layout announced in SETUP
     * @throws WireException if the chunk leaves the layout's span, marks a page outside its RAM,
     *                       or its length disagrees with its word count
     */
    public static PageBitmap read(Frame f, MemoryLayout layout) throws WireException {
        long first = f.u64("firstPage");
        int count = f.u32In("wordCount", 1, Wire.MAX_BITMAP_WORDS);
        if (first < 0 || (first & 63) != 0 || first >= layout.pageSpan()
                || first + 64L * count > ((layout.pageSpan() + 63) & ~63L)) {
            throw new WireException(Kind.PAGE_OUT_OF_RANGE, f.type() + " bitmap [" + first + ", +" + (64L * count)
                    + ") leaves the layout's span " + layout.pageSpan());
        }
        if (f.remaining() != 8 * count) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, f.type() + " announces " + count + " words in "
                    + f.remaining() + " bytes");
        }
        long[] words = new long[count];
        f.u64s("word", words);
        checkInsideRam(f.type(), layout, first, words);
        int base = (int) (first >>> 6);
        return new PageBitmap(f.type(), base, words);
    }

    /**
     * Checks that {@code words}, from page {@code first} (a multiple of 64), mark only RAM pages of
     * {@code layout}: the bits of the gaps between its regions (and past its last) must be clear.
     * The cost follows the gaps inside the chunk, not its length or the layout's span.
     */
    private static void checkInsideRam(FrameType type, MemoryLayout layout, long first, long[] words)
            throws WireException {
        long end = first + 64L * words.length;
        long cursor = first;
        for (MemoryRegion r : layout.regions()) {
            if (cursor >= end) {
                return;
            }
            if (r.firstPage() > cursor) {
                requireClear(type, words, first, cursor, Math.min(end, r.firstPage()));
            }
            cursor = Math.max(cursor, r.endPage());
        }
        if (cursor < end) {
            requireClear(type, words, first, cursor, end);
        }
    }

    /** Checks that the bits of pages {@code [from, to)} are clear in {@code words}, which start at page {@code first}. */
    private static void requireClear(FrameType type, long[] words, long first, long from, long to)
            throws WireException {
        for (long page = from; page < to; ) {
            int word = (int) ((page - first) >>> 6);
            int bit = (int) (page & 63);
            int bits = (int) Math.min(64 - bit, to - page);
            long mask = (bits == 64 ? -1L : ((1L << bits) - 1)) << bit;
            if ((words[word] & mask) != 0) {
                throw new WireException(Kind.PAGE_OUT_OF_RANGE, type + " marks pages outside the layout near page "
                        + page);
            }
            page += bits;
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PageBitmap other && other.type == type && other.firstWord == firstWord
                && Arrays.equals(other.words, words);
    }

    @Override
    public int hashCode() {
        return (type.hashCode() * 31 + firstWord) * 31 + Arrays.hashCode(words);
    }

    @Override
    public String toString() {
        return "PageBitmap[" + type + ", firstPage=" + firstPage() + ", " + words.length + " words]";
    }
}
