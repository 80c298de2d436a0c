package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.Strategy;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The control frames of protocol v1 as records, each with its writer and its checked parser.
 * Page batches have their own classes ({@link PageBatchReader}); everything else is here.
 */
public final class Messages {
    private Messages() {
    }

    /** HELLO: the source's opening. */
    public record Hello(int minVersion, int maxVersion, int maxFrameBytes, long encodings) {
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.HELLO).putInt(Wire.MAGIC).putShort((short) minVersion).putShort((short) maxVersion)
                    .putInt(maxFrameBytes).putLong(encodings);
            return w.finish();
        }

        public static Hello read(Frame f) throws WireException {
            checkMagic(f);
            Hello h = new Hello(f.u16("minVersion"), f.u16("maxVersion"),
                    f.u32In("maxFrameBytes", Wire.MIN_MAX_FRAME_BYTES, Integer.MAX_VALUE), f.u64("encodings"));
            f.expectEnd();
            if (h.minVersion < 1 || h.maxVersion < h.minVersion) {
                throw new WireException(Kind.INCOMPATIBLE, "bad version range [" + h.minVersion + ", " + h.maxVersion + "]");
            }
            return h;
        }
    }

    /** HELLO_ACK: the destination's answer, with the agreed version, frame limit and encodings. */
    public record HelloAck(int version, int maxFrameBytes, long encodings) {
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.HELLO_ACK).putInt(Wire.MAGIC).putShort((short) version).putShort((short) 0)
                    .putInt(maxFrameBytes).putLong(encodings);
            return w.finish();
        }

        public static HelloAck read(Frame f) throws WireException {
            checkMagic(f);
            int version = f.u16("version");
            if (f.u16("reserved") != 0) {
                throw new WireException(Kind.UNEXPECTED, "HELLO_ACK reserved field is not zero");
            }
            HelloAck a = new HelloAck(version, f.u32In("maxFrameBytes", Wire.MIN_MAX_FRAME_BYTES, Integer.MAX_VALUE),
                    f.u64("encodings"));
            f.expectEnd();
            return a;
        }
    }

    private static void checkMagic(Frame f) throws WireException {
        long magic = f.u32("magic");
        if (magic != Wire.MAGIC) {
            throw new WireException(Kind.INCOMPATIBLE, String.format("bad magic %08x: not a livemig peer", magic));
        }
    }

    /** SETUP: what is migrated (layout, vCPUs, devices) and how. */
    public record Setup(Strategy strategy, boolean verify, boolean mayPostcopy, VmDescriptor descriptor,
                        int batchPages) {
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.SETUP);
            MemoryLayout layout = descriptor.memoryLayout();
            int flags = (verify ? Wire.SETUP_FLAG_VERIFY : 0) | (mayPostcopy ? Wire.SETUP_FLAG_POSTCOPY : 0);
            b.put((byte) (strategy.ordinal() + 1)).put((byte) flags).putShort((short) 0);
            b.putInt(layout.pageSizeBytes()).putInt(layout.regions().size());
            for (MemoryRegion r : layout.regions()) {
                b.putLong(r.firstPage()).putLong(r.pageCount());
            }
            b.putInt(descriptor.vcpuCount());
            FrameWriter.putString(b, descriptor.vcpuStateFormat());
            b.putInt(descriptor.deviceIds().size());
            for (String id : descriptor.deviceIds()) {
                FrameWriter.putString(b, id);
            }
            b.putInt(batchPages);
            return w.finish();
        }

        public static Setup read(Frame f) throws WireException {
            int strategyCode = f.u8("strategy");
            if (strategyCode < 1 || strategyCode > Strategy.values().length) {
                throw new WireException(Kind.UNEXPECTED, "unknown strategy code " + strategyCode);
            }
            int flags = f.u8("flags");
            if ((flags & ~(Wire.SETUP_FLAG_VERIFY | Wire.SETUP_FLAG_POSTCOPY)) != 0 || f.u16("reserved") != 0) {
                throw new WireException(Kind.UNEXPECTED, "unknown SETUP flags " + flags);
            }
            int pageSize = f.u32In("pageSize", MemoryLayout.MIN_PAGE_SIZE_BYTES, MemoryLayout.MAX_PAGE_SIZE_BYTES);
            int regionCount = f.u32In("regionCount", 1, Wire.MAX_REGIONS);
            List<MemoryRegion> regions = new ArrayList<>(regionCount);
            for (int i = 0; i < regionCount; i++) {
                long first = f.u64("region.firstPage");
                long count = f.u64("region.pageCount");
                if (first < 0 || count < 1 || first + count < first) {
                    throw new WireException(Kind.INCOMPATIBLE, "bad region [" + first + ", +" + count + ")");
                }
                regions.add(new MemoryRegion(first, count));
            }
            MemoryLayout layout;
            try {
                layout = new MemoryLayout(pageSize, regions);
            } catch (IllegalArgumentException e) {
                throw new WireException(Kind.INCOMPATIBLE, "bad memory layout: " + e.getMessage());
            }
            if (layout.memoryBytes() > Wire.MAX_MEMORY_BYTES || layout.pageSpan() > (1L << 37)) {
                throw new WireException(Kind.INCOMPATIBLE, "memory of " + layout.memoryBytes()
                        + " bytes (span " + layout.pageSpan() + " pages) exceeds the limit");
            }
            int vcpus = f.u32In("vcpuCount", 1, Wire.MAX_VCPUS);
            String format = f.string("vcpuStateFormat");
            int deviceCount = f.u32In("deviceCount", 0, Wire.MAX_DEVICES);
            List<String> ids = new ArrayList<>(deviceCount);
            for (int i = 0; i < deviceCount; i++) {
                ids.add(f.string("deviceId"));
            }
            int batchPages = f.u32In("batchPages", 1, 1 << 20);
            f.expectEnd();
            VmDescriptor descriptor;
            try {
                descriptor = new VmDescriptor(layout, vcpus, ids, format);
            } catch (IllegalArgumentException e) {
                throw new WireException(Kind.INCOMPATIBLE, "bad VM descriptor: " + e.getMessage());
            }
            return new Setup(Strategy.values()[strategyCode - 1], (flags & Wire.SETUP_FLAG_VERIFY) != 0,
                    (flags & Wire.SETUP_FLAG_POSTCOPY) != 0, descriptor, batchPages);
        }
    }

    /** VCPU_STATE: one vCPU's saved state. */
    public static ByteBuffer writeVcpuState(FrameWriter w, VcpuState s) {
        ByteBuffer b = w.begin(FrameType.VCPU_STATE).putInt(s.index());
        FrameWriter.putString(b, s.format());
        byte[] data = s.data();
        if (data.length > w.payloadRoom() - 4) {
            throw new IllegalArgumentException("vCPU state of " + data.length + " bytes does not fit in a frame");
        }
        b.putInt(data.length).put(data);
        return w.finish();
    }

    public static VcpuState readVcpuState(Frame f, int vcpuCount) throws WireException {
        int index = f.u32In("index", 0, vcpuCount - 1);
        String format = f.string("format");
        int length = f.u32In("length", 0, f.remaining());
        byte[] data = f.bytes("data", length);
        f.expectEnd();
        if (format.isBlank()) {
            throw new WireException(Kind.UNEXPECTED, "blank vCPU state format");
        }
        return new VcpuState(index, format, data);
    }

    /** DEVICE_STATE: one device's saved state. */
    public record DeviceState(String id, byte[] data) {
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.DEVICE_STATE);
            FrameWriter.putString(b, id);
            if (data.length > w.payloadRoom() - 4) {
                throw new IllegalArgumentException("state of device " + id + " (" + data.length
                        + " bytes) does not fit in a frame");
            }
            b.putInt(data.length).put(data);
            return w.finish();
        }

        public static DeviceState read(Frame f) throws WireException {
            String id = f.string("id");
            int length = f.u32In("length", 0, f.remaining());
            byte[] data = f.bytes("data", length);
            f.expectEnd();
            return new DeviceState(id, data);
        }
    }

    /**
     * COMMIT: all state sent; load it and resume. Carries the counts, so nothing missing goes
     * unnoticed, and whether pages are still to come (post-copy).
     */
    public record Commit(int vcpuStates, int deviceStates, boolean postcopy) {
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.COMMIT).putInt(vcpuStates).putInt(deviceStates)
                    .putInt(postcopy ? Wire.COMMIT_FLAG_POSTCOPY : 0);
            return w.finish();
        }

        public static Commit read(Frame f) throws WireException {
            int vcpus = f.u32In("vcpuStates", 0, Wire.MAX_VCPUS);
            int devices = f.u32In("deviceStates", 0, Wire.MAX_DEVICES);
            long flags = f.u32("flags");
            if ((flags & ~Wire.COMMIT_FLAG_POSTCOPY) != 0) {
                throw new WireException(Kind.UNEXPECTED, "unknown COMMIT flags " + flags);
            }
            f.expectEnd();
            return new Commit(vcpus, devices, flags != 0);
        }
    }

    /**
     * A chunk of a page bitmap (MISSING_PAGES, RECOVER_MISSING): {@code firstPage:u64} (a multiple
     * of 64), {@code wordCount:u32}, {@code words:u64[wordCount]}; bit i of word w is page
     * {@code firstPage + 64w + i}. Every set bit must be a RAM page of the layout.
     */
    public static void writeBitmap(ByteBuffer b, io.livemig.spi.PageSet set, int firstWord, int wordCount) {
        b.putLong((long) firstWord << 6).putInt(wordCount);
        for (int i = 0; i < wordCount; i++) {
            b.putLong(set.word(firstWord + i));
        }
    }

    /** Reads a bitmap chunk into {@code into}, checking every set bit against {@code layout}. */
    public static long readBitmap(Frame f, io.livemig.spi.MemoryLayout layout, io.livemig.spi.PageSet into)
            throws WireException {
        long first = f.u64("firstPage");
        int words = f.u32In("wordCount", 1, Wire.MAX_BITMAP_WORDS);
        if (first < 0 || (first & 63) != 0 || first >= layout.pageSpan()
                || first + 64L * words > ((layout.pageSpan() + 63) & ~63L)) {
            throw new WireException(Kind.PAGE_OUT_OF_RANGE, f.type() + " bitmap [" + first + ", +" + (64L * words)
                    + ") leaves the layout's span " + layout.pageSpan());
        }
        if (f.remaining() != 8 * words) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, f.type() + " announces " + words + " words in "
                    + f.remaining() + " bytes");
        }
        long count = 0;
        io.livemig.spi.PageSet valid = io.livemig.spi.PageSet.allOf(layout);
        int base = (int) (first >>> 6);
        for (int i = 0; i < words; i++) {
            long word = f.u64("word");
            if ((word & ~valid.word(base + i)) != 0) {
                throw new WireException(Kind.PAGE_OUT_OF_RANGE, f.type() + " marks pages outside the layout near page "
                        + (first + 64L * i));
            }
            into.orWord(base + i, word);
            count += Long.bitCount(word);
        }
        return count;
    }

    /** PAGE_REQUEST: pages the destination's vCPUs are blocked on, most urgent first. */
    public static ByteBuffer writePageRequest(FrameWriter w, long[] pages, int count) {
        ByteBuffer b = w.begin(FrameType.PAGE_REQUEST).putInt(count);
        for (int i = 0; i < count; i++) {
            b.putLong(pages[i]);
        }
        return w.finish();
    }

    public static long[] readPageRequest(Frame f, io.livemig.spi.MemoryLayout layout) throws WireException {
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
        return pages;
    }

    /** POSTCOPY_DONE: every page is here; the destination's fault statistics. */
    public record PostcopyDone(long faults, long latencyP50Nanos, long latencyP99Nanos, long[] blockedNanos) {
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.POSTCOPY_DONE).putLong(faults).putLong(latencyP50Nanos)
                    .putLong(latencyP99Nanos).putInt(blockedNanos.length);
            for (long n : blockedNanos) {
                b.putLong(n);
            }
            return w.finish();
        }

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
    }

    /** VERIFY_RESULT: the destination's comparison of digests. */
    public record VerifyResult(long checkedPages, long mismatchedPages, long firstMismatch) {
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.VERIFY_RESULT).putLong(checkedPages).putLong(mismatchedPages).putLong(firstMismatch);
            return w.finish();
        }

        public static VerifyResult read(Frame f) throws WireException {
            VerifyResult r = new VerifyResult(f.u64("checkedPages"), f.u64("mismatchedPages"), f.u64("firstMismatch"));
            f.expectEnd();
            if (r.checkedPages < 0 || r.mismatchedPages < 0 || r.mismatchedPages > r.checkedPages) {
                throw new WireException(Kind.INCONSISTENT_LENGTH, "VERIFY_RESULT counts are inconsistent: " + r);
            }
            return r;
        }
    }

    /** ABORT: the sender gives up; the reason is for the logs. */
    public record Abort(int code, String reason) {
        /** Code: cancelled by the user. */
        public static final int CANCELLED = 1;
        /** Code: the sender found a protocol violation. */
        public static final int PROTOCOL_ERROR = 2;
        /** Code: the destination cannot create or run the VM. */
        public static final int TARGET_ERROR = 3;
        /** Code: the source failed (provider error, policy abort). */
        public static final int SOURCE_ERROR = 4;

        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.ABORT).putShort((short) code);
            String r = reason.length() > 200 ? reason.substring(0, 200) : reason;
            FrameWriter.putString(b, r);
            return w.finish();
        }

        public static Abort read(Frame f) throws WireException {
            Abort a = new Abort(f.u16("code"), f.string("reason"));
            f.expectEnd();
            return a;
        }
    }

    /** Writes a PING or PONG: {@code token:u64}. */
    public static ByteBuffer writeToken(FrameWriter w, FrameType type, long token) {
        w.begin(type).putLong(token);
        return w.finish();
    }

    /** Reads a PING or PONG's token: the payload must be exactly one u64. */
    public static long readToken(Frame frame) throws WireException {
        long token = frame.u64("token");
        frame.expectEnd();
        return token;
    }

    /** Writes an empty frame of {@code type} (READY, RESUMED, SWITCHOVER). */
    public static ByteBuffer writeEmpty(FrameWriter w, FrameType type) {
        w.begin(type);
        return w.finish();
    }

    /** Reads an empty frame: the payload must be empty. */
    public static void readEmpty(Frame f) throws WireException {
        f.expectEnd();
    }
}
