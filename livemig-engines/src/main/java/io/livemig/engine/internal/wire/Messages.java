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
    public record Setup(Strategy strategy, boolean verify, VmDescriptor descriptor, int batchPages) {
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.SETUP);
            MemoryLayout layout = descriptor.memoryLayout();
            b.put((byte) (strategy.ordinal() + 1)).put((byte) (verify ? Wire.SETUP_FLAG_VERIFY : 0)).putShort((short) 0);
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
            if ((flags & ~Wire.SETUP_FLAG_VERIFY) != 0 || f.u16("reserved") != 0) {
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
            return new Setup(Strategy.values()[strategyCode - 1], (flags & Wire.SETUP_FLAG_VERIFY) != 0, descriptor,
                    batchPages);
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

    /** COMMIT: all state sent; load it and resume. Carries the counts, so nothing missing goes unnoticed. */
    public record Commit(int vcpuStates, int deviceStates) {
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.COMMIT).putInt(vcpuStates).putInt(deviceStates);
            return w.finish();
        }

        public static Commit read(Frame f) throws WireException {
            Commit c = new Commit(f.u32In("vcpuStates", 0, Wire.MAX_VCPUS), f.u32In("deviceStates", 0, Wire.MAX_DEVICES));
            f.expectEnd();
            return c;
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
