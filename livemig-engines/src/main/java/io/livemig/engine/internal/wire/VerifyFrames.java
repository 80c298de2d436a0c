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
 * DIGESTS … (one CRC32C per page)       ─►  compare with digests of what landed
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

    /**
     * DIGESTS: the CRC32C of each page of a run that lies in one region.
     *
     * @param firstPage the run's first page
     * @param digests   one per page, 1 to {@link #MAX_DIGESTS} (the record owns the array)
     */
    public record Digests(long firstPage, int[] digests) implements Message {
        /** @throws IllegalArgumentException for an empty or oversized run */
        public Digests {
            if (digests.length < 1 || digests.length > MAX_DIGESTS) {
                throw new IllegalArgumentException("a DIGESTS frame holds 1 to " + MAX_DIGESTS + " digests");
            }
        }

        @Override
        public FrameType type() {
            return FrameType.DIGESTS;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
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
            return o instanceof Digests other && other.firstPage == firstPage && Arrays.equals(other.digests, digests);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(firstPage) * 31 + Arrays.hashCode(digests);
        }

        @Override
        public String toString() {
            return "Digests[firstPage=" + firstPage + ", " + digests.length + " digests]";
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
     */
    public record VerifyResult(long checkedPages, long mismatchedPages, long firstMismatch) implements Message {
        @Override
        public FrameType type() {
            return FrameType.VERIFY_RESULT;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.VERIFY_RESULT).putLong(checkedPages).putLong(mismatchedPages).putLong(firstMismatch);
            return w.finish();
        }

        /**
         * @throws WireException for inconsistent counts, or a first mismatch that is not a page (≥ 0) while
         *                       pages differ, or not -1 while none does
         */
        public static VerifyResult read(Frame f) throws WireException {
            VerifyResult r = new VerifyResult(f.u64("checkedPages"), f.u64("mismatchedPages"), f.u64("firstMismatch"));
            f.expectEnd();
            if (r.checkedPages < 0 || r.mismatchedPages < 0 || r.mismatchedPages > r.checkedPages
                    || (r.mismatchedPages == 0 ? r.firstMismatch != -1 : r.firstMismatch < 0)) {
                throw new WireException(Kind.INCONSISTENT_LENGTH, "VERIFY_RESULT counts are inconsistent: " + r);
            }
            return r;
        }
    }
}
