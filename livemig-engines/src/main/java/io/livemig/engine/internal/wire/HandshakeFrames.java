package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.Strategy;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The handshake's frames (docs/protocol.md, section 3):
 * <pre>
 * source                                   destination
 * HELLO(min, max, maxFrame, encodings)  ─►
 *                                       ◄─ HELLO_ACK(version, maxFrame, encodings)
 * SETUP(strategy, layout, vCPUs, devices)─►
 *                                       ◄─ READY            (or ABORT)
 * </pre>
 */
public final class HandshakeFrames {

    private HandshakeFrames() {
    }

    private static void checkMagic(Frame f) throws WireException {
        long magic = f.u32("magic");
        if (magic != Wire.MAGIC) {
            throw new WireException(Kind.INCOMPATIBLE, String.format("bad magic %08x: not a livemig peer", magic));
        }
    }

    /**
     * HELLO: the source's opening.
     *
     * @param minVersion    the oldest protocol version the source speaks, at least 1
     * @param maxVersion    the newest, at least {@code minVersion}
     * @param maxFrameBytes the largest frame the source proposes, at least {@link Wire#MIN_MAX_FRAME_BYTES}
     * @param encodings     bit {@code n} set if the page encoding with wire id {@code n} is offered
     */
    public record Hello(int minVersion, int maxVersion, int maxFrameBytes, long encodings) implements Message {
        @Override
        public FrameType type() {
            return FrameType.HELLO;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.HELLO).putInt(Wire.MAGIC).putShort((short) minVersion).putShort((short) maxVersion)
                    .putInt(maxFrameBytes).putLong(encodings);
            return w.finish();
        }

        /** @throws WireException for a bad magic, version range or frame limit */
        public static Hello read(Frame f) throws WireException {
            checkMagic(f);
            Hello h = new Hello(f.u16("minVersion"), f.u16("maxVersion"),
                    f.u32In("maxFrameBytes", Wire.MIN_MAX_FRAME_BYTES, Integer.MAX_VALUE), f.u64("encodings"));
            f.expectEnd();
            if (h.minVersion < 1 || h.maxVersion < h.minVersion) {
                throw new WireException(Kind.INCOMPATIBLE, "bad version range [" + h.minVersion + ", " + h.maxVersion
                        + "]");
            }
            return h;
        }
    }

    /**
     * HELLO_ACK: the destination's answer.
     *
     * @param version       the version chosen
     * @param maxFrameBytes the agreed frame limit
     * @param encodings     the agreed page encodings (a subset of those offered)
     */
    public record HelloAck(int version, int maxFrameBytes, long encodings) implements Message {
        @Override
        public FrameType type() {
            return FrameType.HELLO_ACK;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.HELLO_ACK).putInt(Wire.MAGIC).putShort((short) version).putShort((short) 0)
                    .putInt(maxFrameBytes).putLong(encodings);
            return w.finish();
        }

        /** @throws WireException for a bad magic, a non-zero reserved field or a bad frame limit */
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

    /**
     * SETUP: what is migrated (layout, vCPUs, devices) and how (docs/protocol.md, 2.1).
     *
     * @param strategy    the source's strategy (informational for the receiver)
     * @param verify      whether DIGESTS follow the switchover
     * @param mayPostcopy whether the migration may switch to post-copy (the target must page on demand)
     * @param descriptor  the VM's layout, vCPUs and devices
     * @param batchPages  the most entries the source puts in one PAGES frame
     */
    public record Setup(Strategy strategy, boolean verify, boolean mayPostcopy, VmDescriptor descriptor,
                        int batchPages) implements Message {
        @Override
        public FrameType type() {
            return FrameType.SETUP;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.SETUP);
            MemoryLayout layout = descriptor.memoryLayout();
            int flags = (verify ? Wire.SETUP_FLAG_VERIFY : 0) | (mayPostcopy ? Wire.SETUP_FLAG_POSTCOPY : 0);
            b.put((byte) strategyCode(strategy)).put((byte) flags).putShort((short) 0);
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

        /** @throws WireException for an unknown strategy or flag, or a layout or descriptor out of bounds */
        public static Setup read(Frame f) throws WireException {
            Strategy strategy = strategyOf(f.u8("strategy"));
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
            if (layout.memoryBytes() > Wire.MAX_MEMORY_BYTES || layout.pageSpan() > Wire.MAX_PAGE_SPAN) {
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
            int batchPages = f.u32In("batchPages", 1, Wire.MAX_BATCH_PAGES);
            f.expectEnd();
            VmDescriptor descriptor;
            try {
                descriptor = new VmDescriptor(layout, vcpus, ids, format);
            } catch (IllegalArgumentException e) {
                throw new WireException(Kind.INCOMPATIBLE, "bad VM descriptor: " + e.getMessage());
            }
            return new Setup(strategy, (flags & Wire.SETUP_FLAG_VERIFY) != 0,
                    (flags & Wire.SETUP_FLAG_POSTCOPY) != 0, descriptor, batchPages);
        }

        /** @return the strategy's wire code (docs/protocol.md 2.1): 1 cold, 2 pre-copy, 3 post-copy, 4 hybrid */
        static int strategyCode(Strategy strategy) {
            return switch (strategy) {
                case COLD -> 1;
                case PRECOPY -> 2;
                case POSTCOPY -> 3;
                case HYBRID -> 4;
            };
        }

        /** @throws WireException for 0 (reserved) or an unknown code */
        static Strategy strategyOf(int code) throws WireException {
            return switch (code) {
                case 1 -> Strategy.COLD;
                case 2 -> Strategy.PRECOPY;
                case 3 -> Strategy.POSTCOPY;
                case 4 -> Strategy.HYBRID;
                default -> throw new WireException(Kind.UNEXPECTED, "unknown strategy code " + code);
            };
        }
    }

    /** READY: the target exists with the announced layout. Empty. */
    public record Ready() implements Message.Empty {
        @Override
        public FrameType type() {
            return FrameType.READY;
        }
    }
}
