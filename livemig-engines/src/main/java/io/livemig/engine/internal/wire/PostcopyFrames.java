package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.spi.MemoryLayout;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Post-copy's frames besides the page bitmaps ({@link PageBitmap}), docs/protocol.md section 4:
 * <pre>
 * source                                   destination
 * COMMIT(flags = post-copy)             ─►  arm demand paging, load state, resume
 *                                       ◄─  RESUMED
 * PAGES (pushed, and demanded first)    ─►
 *                                       ◄─  PAGE_REQUEST (first touches of missing pages)
 *                                       ◄─  POSTCOPY_ACK (flow control, every 256 KiB)
 * POSTCOPY_END                          ─►
 *                                       ◄─  POSTCOPY_DONE (fault statistics)
 * recovery, on a new channel:
 *                                       ◄─  RECOVER_MISSING … RECOVER(missingPages)
 * RECOVER_ACK                           ─►
 * </pre>
 */
public final class PostcopyFrames {

    private PostcopyFrames() {
    }

    /**
     * PAGE_REQUEST: pages the destination's vCPUs are blocked on, most urgent first.
     *
     * @param pages 1 to {@link Wire#MAX_REQUEST_PAGES} RAM pages (the record owns the array)
     */
    public record PageRequest(long[] pages) implements Message {
        /** @throws IllegalArgumentException for an empty or oversized request */
        public PageRequest {
            if (pages.length < 1 || pages.length > Wire.MAX_REQUEST_PAGES) {
                throw new IllegalArgumentException("a page request holds 1 to " + Wire.MAX_REQUEST_PAGES
                        + " pages, not " + pages.length);
            }
        }

        @Override
        public FrameType type() {
            return FrameType.PAGE_REQUEST;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            return write(w, pages, pages.length);
        }

        /** Writes a request for the first {@code count} of {@code pages} without copying them into a record. */
        public static ByteBuffer write(FrameWriter w, long[] pages, int count) {
            ByteBuffer b = w.begin(FrameType.PAGE_REQUEST).putInt(count);
            for (int i = 0; i < count; i++) {
                b.putLong(pages[i]);
            }
            return w.finish();
        }

        /**
         * @param layout the layout announced in SETUP
         * @throws WireException for a bad count, a length that disagrees, or a page outside the layout
         */
        public static PageRequest read(Frame f, MemoryLayout layout) throws WireException {
            int count = f.u32In("count", 1, Wire.MAX_REQUEST_PAGES);
            if (f.remaining() != 8 * count) {
                throw new WireException(Kind.INCONSISTENT_LENGTH, "PAGE_REQUEST announces " + count + " pages in "
                        + f.remaining() + " bytes");
            }
            long[] pages = new long[count];
            for (int i = 0; i < count; i++) {
                pages[i] = f.u64("page");
                if (!layout.contains(pages[i])) {
                    throw new WireException(Kind.PAGE_OUT_OF_RANGE, "PAGE_REQUEST for page " + pages[i]
                            + ", outside the layout");
                }
            }
            return new PageRequest(pages);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof PageRequest other && Arrays.equals(other.pages, pages);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(pages);
        }

        @Override
        public String toString() {
            return "PageRequest" + Arrays.toString(pages);
        }
    }

    /**
     * POSTCOPY_ACK: forward frame bytes received in post-copy on this channel.
     *
     * @param count the bytes, never decreasing on one channel (the source checks)
     */
    public record PostcopyAck(long count) implements Message.Count {
        @Override
        public FrameType type() {
            return FrameType.POSTCOPY_ACK;
        }
    }

    /** POSTCOPY_END: every announced page has been sent. Empty. */
    public record PostcopyEnd() implements Message.Empty {
        @Override
        public FrameType type() {
            return FrameType.POSTCOPY_END;
        }
    }

    /**
     * POSTCOPY_DONE: every page is at the destination; its fault statistics.
     *
     * @param faults          first touches of missing pages
     * @param latencyP50Nanos median fault-to-installation time
     * @param latencyP99Nanos 99th percentile of the same
     * @param blockedNanos    per vCPU, the time blocked on missing pages (the record owns the array)
     */
    public record PostcopyDone(long faults, long latencyP50Nanos, long latencyP99Nanos, long[] blockedNanos)
            implements Message {
        @Override
        public FrameType type() {
            return FrameType.POSTCOPY_DONE;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.POSTCOPY_DONE).putLong(faults).putLong(latencyP50Nanos)
                    .putLong(latencyP99Nanos).putInt(blockedNanos.length);
            for (long n : blockedNanos) {
                b.putLong(n);
            }
            return w.finish();
        }

        /** @throws WireException for negative values or a length that disagrees with the vCPU count */
        public static PostcopyDone read(Frame f) throws WireException {
            long faults = f.u64("faults");
            long p50 = f.u64("latencyP50Nanos");
            long p99 = f.u64("latencyP99Nanos");
            int vcpus = f.u32In("vcpuCount", 0, Wire.MAX_VCPUS);
            if (f.remaining() != 8 * vcpus || faults < 0 || p50 < 0 || p99 < 0) {
                throw new WireException(Kind.INCONSISTENT_LENGTH, "malformed POSTCOPY_DONE");
            }
            long[] blocked = new long[vcpus];
            for (int i = 0; i < vcpus; i++) {
                blocked[i] = f.u64("blockedNanos");
                if (blocked[i] < 0) {
                    throw new WireException(Kind.INCONSISTENT_LENGTH, "negative blocked time");
                }
            }
            return new PostcopyDone(faults, p50, p99, blocked);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof PostcopyDone other && other.faults == faults && other.latencyP50Nanos == latencyP50Nanos
                    && other.latencyP99Nanos == latencyP99Nanos && Arrays.equals(other.blockedNanos, blockedNanos);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(faults) * 31 + Arrays.hashCode(blockedNanos);
        }

        @Override
        public String toString() {
            return "PostcopyDone[faults=" + faults + ", p50=" + latencyP50Nanos + " ns, p99=" + latencyP99Nanos
                    + " ns, blocked=" + Arrays.toString(blockedNanos) + "]";
        }
    }

    /**
     * RECOVER: the RECOVER_MISSING chunks are complete.
     *
     * @param count the pages they mark, in all (the source checks)
     */
    public record Recover(long count) implements Message.Count {
        @Override
        public FrameType type() {
            return FrameType.RECOVER;
        }
    }

    /** RECOVER_ACK: the source took RECOVER and resumes sending. Empty. */
    public record RecoverAck() implements Message.Empty {
        @Override
        public FrameType type() {
            return FrameType.RECOVER_ACK;
        }
    }
}
