package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.spi.MemoryLayout;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Verification's frames (docs/protocol.md, section 4), after RESUMED while the source VM is
 * still paused:
 * <pre>
 * source                                   destination
 * DIGESTS … (one CRC32C per page, or    ─►  compare with digests of what landed
 *   a run of pages that are zero)
 * DIGESTS_END(totalPages)               ─►
 *                                       ◄─  VERIFY_RESULT
 * </pre>
 */
public final class VerifyFrames {

    private VerifyFrames() {
    }

    /** Bytes of a DIGESTS frame besides its digests: header, firstPage, count, trailer. */
    public static final int DIGESTS_OVERHEAD_BYTES = Wire.MIN_FRAME_BYTES + 12;
    /** Most digests in one DIGESTS frame. */
    public static final int MAX_DIGESTS = 65536;
    /** Set in a DIGESTS frame's count: the frame is a run of zero pages, with no digest in it. */
    public static final long ZERO_RUN_FLAG = 1L << 31;
    /** Most pages in one zero run: the count's other 31 bits. */
    public static final long MAX_ZERO_RUN_PAGES = ZERO_RUN_FLAG - 1;

    /**
     * DIGESTS: the CRC32C of each page of a run that lies in one region; or, with
     * {@link #ZERO_RUN_FLAG} in the count, a run of pages that are all zero at the source (pages
     * the guest never wrote), sent as its length alone: the destination compares each with the
     * digest of a zero page. Holes cost a frame per run, not four bytes per page.
     *
     * @param firstPage     the run's first page
     * @param digests       one per page, 1 to {@link #MAX_DIGESTS} (the record owns the array);
     *                      empty for a zero run
     * @param zeroRunPages  0, or the length of a zero run (1 to {@link #MAX_ZERO_RUN_PAGES})
     */
    public record Digests(long firstPage, int[] digests, long zeroRunPages) implements Message {
        /** @throws IllegalArgumentException for an empty or oversized run, or digests in a zero run */
        public Digests {
            if (zeroRunPages == 0 ? digests.length < 1 || digests.length > MAX_DIGESTS
                    : digests.length != 0 || zeroRunPages < 0 || zeroRunPages > MAX_ZERO_RUN_PAGES) {
                throw new IllegalArgumentException("a DIGESTS frame holds 1 to " + MAX_DIGESTS
                        + " digests, or a zero run of 1 to " + MAX_ZERO_RUN_PAGES + " pages and no digest");
            }
        }

        /**
         * @param firstPage the run's first page
         * @param digests   one per page, 1 to {@link #MAX_DIGESTS}
         */
        public Digests(long firstPage, int[] digests) {
            this(firstPage, digests, 0);
        }

        /**
         * @param firstPage the run's first page
         * @param pages     pages in the run, all zero at the source
         * @return a zero run
         */
        public static Digests zeroRun(long firstPage, long pages) {
            return new Digests(firstPage, new int[0], pages);
        }

        /** @return the pages the frame covers */
        public long pageCount() {
            return zeroRunPages == 0 ? digests.length : zeroRunPages;
        }

        @Override
        public FrameType type() {
            return FrameType.DIGESTS;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            if (zeroRunPages > 0) {
                w.begin(FrameType.DIGESTS).putLong(firstPage).putInt((int) (ZERO_RUN_FLAG | zeroRunPages));
                return w.finish();
            }
            return write(w, firstPage, digests, digests.length);
        }

        /** Writes the first {@code count} of {@code digests} for the run from {@code firstPage}, without a record. */
        public static ByteBuffer write(FrameWriter w, long firstPage, int[] digests, int count) {
            ByteBuffer b = w.begin(FrameType.DIGESTS).putLong(firstPage).putInt(count);
            for (int i = 0; i < count; i++) {
                b.putInt(digests[i]);
            }
            return w.finish();
        }

        /**
         * @param layout the layout announced in SETUP
         * @throws WireException if the count disagrees with the payload or the run leaves a region
         */
        public static Digests read(Frame f, MemoryLayout layout) throws WireException {
            long first = f.u64("firstPage");
            long count = f.u32("count");
            if ((count & ZERO_RUN_FLAG) != 0) {
                long pages = count & MAX_ZERO_RUN_PAGES;
                if (pages < 1 || f.remaining() != 0) {
                    throw new WireException(Kind.INCONSISTENT_LENGTH, "DIGESTS zero run of " + pages + " pages with "
                            + f.remaining() + " bytes of payload");
                }
                if (!layout.containsRun(first, pages)) {
                    throw new WireException(Kind.PAGE_OUT_OF_RANGE, "DIGESTS zero run [" + first + ", +" + pages
                            + ") outside the layout");
                }
                return zeroRun(first, pages);
            }
            if (count < 1 || count > MAX_DIGESTS || count != f.remaining() / 4 || f.remaining() % 4 != 0) {
                throw new WireException(Kind.INCONSISTENT_LENGTH, "DIGESTS announces " + count + " digests in "
                        + f.remaining() + " bytes");
            }
            if (!layout.containsRun(first, count)) {
                throw new WireException(Kind.PAGE_OUT_OF_RANGE, "DIGESTS for pages [" + first + ", +" + count
                        + ") outside the layout");
            }
            int[] digests = new int[(int) count];
            f.payload().asIntBuffer().get(digests);
            f.payload().position(f.payload().limit());
            return new Digests(first, digests);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Digests other && other.firstPage == firstPage && other.zeroRunPages == zeroRunPages
                    && Arrays.equals(other.digests, digests);
        }

        @Override
        public int hashCode() {
            return (Long.hashCode(firstPage) * 31 + Arrays.hashCode(digests)) * 31 + Long.hashCode(zeroRunPages);
        }

        @Override
        public String toString() {
            return zeroRunPages > 0 ? "Digests[firstPage=" + firstPage + ", zero run of " + zeroRunPages + " pages]"
                    : "Digests[firstPage=" + firstPage + ", " + digests.length + " digests]";
        }
    }

    /**
     * DIGESTS_END: every digest was sent.
     *
     * @param count digests sent in all: the layout's page count
     */
    public record DigestsEnd(long count) implements Message.Count {
        @Override
        public FrameType type() {
            return FrameType.DIGESTS_END;
        }
    }

    /**
     * VERIFY_RESULT: the destination's comparison of digests.
     *
     * @param checkedPages    digests compared
     * @param mismatchedPages digests that differed, at most {@code checkedPages}
     * @param firstMismatch   the first page that differed, or -1
     * @param checkedBlocks   disk block digests compared (DISK_VERIFY), over all disks
     * @param mismatchedBlocks disk block digests that differed, at most {@code checkedBlocks}
     */
    public record VerifyResult(long checkedPages, long mismatchedPages, long firstMismatch, long checkedBlocks,
                               long mismatchedBlocks) implements Message {
        /** A result without disks. */
        public VerifyResult(long checkedPages, long mismatchedPages, long firstMismatch) {
            this(checkedPages, mismatchedPages, firstMismatch, 0, 0);
        }

        @Override
        public FrameType type() {
            return FrameType.VERIFY_RESULT;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.VERIFY_RESULT).putLong(checkedPages).putLong(mismatchedPages).putLong(firstMismatch)
                    .putLong(checkedBlocks).putLong(mismatchedBlocks);
            return w.finish();
        }

        /**
         * @throws WireException for inconsistent counts, or a first mismatch that is not a page (≥ 0) while
         *                       pages differ, or not -1 while none does
         */
        public static VerifyResult read(Frame f) throws WireException {
            VerifyResult r = new VerifyResult(f.u64("checkedPages"), f.u64("mismatchedPages"), f.u64("firstMismatch"),
                    f.u64("checkedBlocks"), f.u64("mismatchedBlocks"));
            f.expectEnd();
            if (r.checkedPages < 0 || r.mismatchedPages < 0 || r.mismatchedPages > r.checkedPages
                    || (r.mismatchedPages == 0 ? r.firstMismatch != -1 : r.firstMismatch < 0)
                    || r.checkedBlocks < 0 || r.mismatchedBlocks < 0 || r.mismatchedBlocks > r.checkedBlocks) {
                throw new WireException(Kind.INCONSISTENT_LENGTH, "VERIFY_RESULT counts are inconsistent: " + r);
            }
            return r;
        }
    }
}
