package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.Strategy;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The handshake's frames (docs/protocol.md, section 3):
 * <pre>
 * source                                        destination
 * HELLO(versions, maxFrame, encodings, purpose,
 *       auth, sessionId, nonceS)             ─►
 *                                            ◄─ HELLO_ACK(version, maxFrame, encodings, auth, nonceD, proofD)
 * AUTH(proofS)              (both hold a secret) ─►
 * SETUP(strategy, layout, vCPUs, devices)    ─►
 *                                            ◄─ READY            (or ABORT)
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

    /** Bytes of a HELLO's session id. */
    public static final int SESSION_ID_BYTES = 16;
    /** Bytes of each side's nonce. */
    public static final int NONCE_BYTES = 32;
    /** Bytes of an authentication proof (HMAC-SHA256). */
    public static final int PROOF_BYTES = 32;
    /** HELLO and HELLO_ACK flag: this side holds the migration secret and will prove it. */
    public static final int FLAG_AUTH = 1;

    /** Why a source connects: HELLO's {@code purpose:u8}. 0 is reserved as invalid. */
    public enum Purpose {
        /** A new migration. */
        NEW(1),
        /** A new channel for a migration whose channel broke in post-copy. */
        RECOVER(2),
        /** A question after a channel broke at the switchover: did the destination resume? */
        SETTLE(3),
        /** One of the data connections a migration announced with STREAMS (docs/protocol.md, section 6). */
        STREAM(4),
        /** A disk sync without a VM (docs/protocol.md, section 7.3): DISK_SETUP follows, not SETUP. */
        DISK_SYNC(5);

        private final int code;

        Purpose(int code) {
            this.code = code;
        }

        /** @return the wire code */
        public int code() {
            return code;
        }

        static Purpose of(int code) throws WireException {
            for (Purpose p : values()) {
                if (p.code == code) {
                    return p;
                }
            }
            throw new WireException(Kind.UNEXPECTED, "unknown HELLO purpose " + code);
        }
    }

    private static byte[] fixed(Frame f, String field, int length) throws WireException {
        return f.bytes(field, length);
    }

    private static byte[] checkLength(byte[] value, int length, String field) {
        if (value.length != length) {
            throw new IllegalArgumentException(field + " must be " + length + " bytes, not " + value.length);
        }
        return value.clone();
    }

    /**
     * HELLO: the source's opening.
     *
     * @param minVersion    the oldest protocol version the source speaks, at least 1
     * @param maxVersion    the newest, at least {@code minVersion}
     * @param maxFrameBytes the largest frame the source proposes, at least {@link Wire#MIN_MAX_FRAME_BYTES}
     * @param encodings     bit {@code n} set if the page encoding with wire id {@code n} is offered
     * @param purpose       why the source connects
     * @param auth          whether the source holds the migration secret and will prove it
     * @param sessionId     the migration's id, random, the same on its recovery and settle connections
     * @param nonce         the source's fresh random nonce for this connection
     */
    public record Hello(int minVersion, int maxVersion, int maxFrameBytes, long encodings, Purpose purpose,
                       boolean auth, byte[] sessionId, byte[] nonce) implements Message {
        /** @throws IllegalArgumentException for a session id or nonce of the wrong length; both are copied */
        public Hello {
            Objects.requireNonNull(purpose, "purpose");
            sessionId = checkLength(sessionId, SESSION_ID_BYTES, "sessionId");
            nonce = checkLength(nonce, NONCE_BYTES, "nonce");
        }

        @Override
        public FrameType type() {
            return FrameType.HELLO;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.HELLO).putInt(Wire.MAGIC).putShort((short) minVersion).putShort((short) maxVersion)
                    .putInt(maxFrameBytes).putLong(encodings).put((byte) purpose.code()).put((byte) (auth ? FLAG_AUTH : 0))
                    .putShort((short) 0).put(sessionId).put(nonce);
            return w.finish();
        }

        /** @throws WireException for a bad magic, version range, frame limit, purpose or flag */
        public static Hello read(Frame f) throws WireException {
            checkMagic(f);
            int min = f.u16("minVersion");
            int max = f.u16("maxVersion");
            if (min < 1 || max < min) {
                throw new WireException(Kind.INCOMPATIBLE, "bad version range [" + min + ", " + max + "]");
            }
            int maxFrame = f.u32In("maxFrameBytes", Wire.MIN_MAX_FRAME_BYTES, Integer.MAX_VALUE);
            long encodings = f.u64("encodings");
            Purpose purpose = Purpose.of(f.u8("purpose"));
            int flags = f.u8("flags");
            if ((flags & ~FLAG_AUTH) != 0) {
                throw new WireException(Kind.UNEXPECTED, "unknown HELLO flags " + flags);
            }
            if (f.u16("reserved") != 0) {
                throw new WireException(Kind.UNEXPECTED, "HELLO reserved field is not zero");
            }
            Hello h = new Hello(min, max, maxFrame, encodings, purpose, (flags & FLAG_AUTH) != 0,
                    fixed(f, "sessionId", SESSION_ID_BYTES), fixed(f, "nonce", NONCE_BYTES));
            f.expectEnd();
            return h;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Hello h && h.minVersion == minVersion && h.maxVersion == maxVersion
                    && h.maxFrameBytes == maxFrameBytes && h.encodings == encodings && h.purpose == purpose
                    && h.auth == auth && Arrays.equals(h.sessionId, sessionId) && Arrays.equals(h.nonce, nonce);
        }

        @Override
        public int hashCode() {
            return Objects.hash(minVersion, maxVersion, maxFrameBytes, encodings, purpose, auth)
                    + 31 * Arrays.hashCode(sessionId) + Arrays.hashCode(nonce);
        }

        @Override
        public String toString() {
            return "Hello[versions " + minVersion + ".." + maxVersion + ", maxFrameBytes=" + maxFrameBytes
                    + ", encodings=" + Long.toHexString(encodings) + ", " + purpose + ", auth=" + auth + "]";
        }
    }

    /**
     * HELLO_ACK: the destination's answer.
     *
     * @param version       the version chosen
     * @param maxFrameBytes the agreed frame limit
     * @param encodings     the agreed page encodings (a subset of those offered)
     * @param auth          whether the destination holds the secret; {@code proof} proves it
     * @param nonce         the destination's fresh random nonce for this connection
     * @param proof         {@link HandshakeProof#destination}, or zeros without {@code auth}
     */
    public record HelloAck(int version, int maxFrameBytes, long encodings, boolean auth, byte[] nonce, byte[] proof)
            implements Message {
        /** @throws IllegalArgumentException for a nonce or proof of the wrong length; both are copied */
        public HelloAck {
            nonce = checkLength(nonce, NONCE_BYTES, "nonce");
            proof = checkLength(proof, PROOF_BYTES, "proof");
        }

        @Override
        public FrameType type() {
            return FrameType.HELLO_ACK;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.HELLO_ACK).putInt(Wire.MAGIC).putShort((short) version).putShort((short) 0)
                    .putInt(maxFrameBytes).putLong(encodings).put((byte) (auth ? FLAG_AUTH : 0)).put((byte) 0)
                    .putShort((short) 0).put(nonce).put(proof);
            return w.finish();
        }

        /** @throws WireException for a bad magic, a non-zero reserved field, a bad frame limit or flag */
        public static HelloAck read(Frame f) throws WireException {
            checkMagic(f);
            int version = f.u16("version");
            if (f.u16("reserved") != 0) {
                throw new WireException(Kind.UNEXPECTED, "HELLO_ACK reserved field is not zero");
            }
            int maxFrame = f.u32In("maxFrameBytes", Wire.MIN_MAX_FRAME_BYTES, Integer.MAX_VALUE);
            long encodings = f.u64("encodings");
            int flags = f.u8("flags");
            if ((flags & ~FLAG_AUTH) != 0) {
                throw new WireException(Kind.UNEXPECTED, "unknown HELLO_ACK flags " + flags);
            }
            if (f.u8("reserved2") != 0 || f.u16("reserved3") != 0) {
                throw new WireException(Kind.UNEXPECTED, "HELLO_ACK reserved field after the flags is not zero");
            }
            HelloAck a = new HelloAck(version, maxFrame, encodings, (flags & FLAG_AUTH) != 0,
                    fixed(f, "nonce", NONCE_BYTES), fixed(f, "proof", PROOF_BYTES));
            f.expectEnd();
            return a;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof HelloAck a && a.version == version && a.maxFrameBytes == maxFrameBytes
                    && a.encodings == encodings && a.auth == auth && Arrays.equals(a.nonce, nonce)
                    && Arrays.equals(a.proof, proof);
        }

        @Override
        public int hashCode() {
            return Objects.hash(version, maxFrameBytes, encodings, auth) + 31 * Arrays.hashCode(nonce);
        }

        @Override
        public String toString() {
            return "HelloAck[version " + version + ", maxFrameBytes=" + maxFrameBytes + ", encodings="
                    + Long.toHexString(encodings) + ", auth=" + auth + "]";
        }
    }

    /**
     * AUTH: the source's proof that it holds the migration secret, after it checked the
     * destination's; sent only when both sides hold one.
     *
     * @param proof {@link HandshakeProof#source}
     */
    public record Auth(byte[] proof) implements Message {
        /** @throws IllegalArgumentException for a proof of the wrong length; it is copied */
        public Auth {
            proof = checkLength(proof, PROOF_BYTES, "proof");
        }

        @Override
        public FrameType type() {
            return FrameType.AUTH;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.AUTH).put(proof);
            return w.finish();
        }

        /** @throws WireException unless the payload is exactly one proof */
        public static Auth read(Frame f) throws WireException {
            Auth a = new Auth(fixed(f, "proof", PROOF_BYTES));
            f.expectEnd();
            return a;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Auth a && Arrays.equals(a.proof, proof);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(proof);
        }

        @Override
        public String toString() {
            return "Auth[proof]";
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
     * @param diskOffers  the source change logs' generations, one per disk of the descriptor
     */
    public record Setup(Strategy strategy, boolean verify, boolean mayPostcopy, VmDescriptor descriptor,
                        int batchPages, List<DiskFrames.DiskOffer> diskOffers) implements Message {

        /** @throws IllegalArgumentException unless there is one offer per disk */
        public Setup {
            diskOffers = List.copyOf(diskOffers);
            if (diskOffers.size() != descriptor.disks().size()) {
                throw new IllegalArgumentException(diskOffers.size() + " disk offers for "
                        + descriptor.disks().size() + " disks");
            }
        }

        /** A VM without disks. */
        public Setup(Strategy strategy, boolean verify, boolean mayPostcopy, VmDescriptor descriptor, int batchPages) {
            this(strategy, verify, mayPostcopy, descriptor, batchPages, List.of());
        }

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
            DiskFrames.writeOffers(b, descriptor.disks(), diskOffers);
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
            List<DiskDescriptor> disks = new ArrayList<>();
            List<DiskFrames.DiskOffer> offers = new ArrayList<>();
            DiskFrames.readOffers(f, disks, offers);
            f.expectEnd();
            VmDescriptor descriptor;
            try {
                descriptor = new VmDescriptor(layout, vcpus, ids, format, disks);
            } catch (IllegalArgumentException e) {
                throw new WireException(Kind.INCOMPATIBLE, "bad VM descriptor: " + e.getMessage());
            }
            return new Setup(strategy, (flags & Wire.SETUP_FLAG_VERIFY) != 0,
                    (flags & Wire.SETUP_FLAG_POSTCOPY) != 0, descriptor, batchPages, offers);
        }

        /** @return the strategy's wire code (docs/protocol.md 2.1): 1 cold, 2 pre-copy, 3 post-copy, 4 hybrid, 5 trace and replay */
        static int strategyCode(Strategy strategy) {
            return switch (strategy) {
                case COLD -> 1;
                case PRECOPY -> 2;
                case POSTCOPY -> 3;
                case HYBRID -> 4;
                case TRACE_REPLAY -> 5;
            };
        }

        /** @throws WireException for 0 (reserved) or an unknown code */
        static Strategy strategyOf(int code) throws WireException {
            return switch (code) {
                case 1 -> Strategy.COLD;
                case 2 -> Strategy.PRECOPY;
                case 3 -> Strategy.POSTCOPY;
                case 4 -> Strategy.HYBRID;
                case 5 -> Strategy.TRACE_REPLAY;
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
