package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.Strategy;
import io.livemig.compress.PageEncoding;
import io.livemig.engine.internal.wire.HandshakeFrames.Auth;
import io.livemig.engine.internal.wire.HandshakeFrames.Hello;
import io.livemig.engine.internal.wire.HandshakeFrames.HelloAck;
import io.livemig.engine.internal.wire.HandshakeFrames.Setup;
import io.livemig.engine.internal.wire.SwitchoverFrames.VcpuStateFrame;
import io.livemig.engine.internal.wire.VerifyFrames.VerifyResult;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static io.livemig.engine.internal.wire.WireFixtures.AFTER_SETUP;
import static io.livemig.engine.internal.wire.WireFixtures.FRAME_LIMIT;
import static io.livemig.engine.internal.wire.WireFixtures.HOLE_PAGE;
import static io.livemig.engine.internal.wire.WireFixtures.LAYOUT;
import static io.livemig.engine.internal.wire.WireFixtures.PAGE_SIZE;
import static io.livemig.engine.internal.wire.WireFixtures.VCPUS;
import static io.livemig.engine.internal.wire.WireFixtures.PROOF;
import static io.livemig.engine.internal.wire.WireFixtures.SESSION_ID;
import static io.livemig.engine.internal.wire.WireFixtures.SOURCE_NONCE;
import static io.livemig.engine.internal.wire.WireFixtures.bytes;
import static io.livemig.engine.internal.wire.WireFixtures.cutAt;
import static io.livemig.engine.internal.wire.WireFixtures.extended;
import static io.livemig.engine.internal.wire.WireFixtures.frame;
import static io.livemig.engine.internal.wire.WireFixtures.hello;
import static io.livemig.engine.internal.wire.WireFixtures.helloAck;
import static io.livemig.engine.internal.wire.WireFixtures.open;
import static io.livemig.engine.internal.wire.WireFixtures.patched;
import static io.livemig.engine.internal.wire.WireFixtures.payload;
import static io.livemig.engine.internal.wire.WireFixtures.truncated;
import static io.livemig.engine.internal.wire.WireFixtures.u32;
import static io.livemig.engine.internal.wire.WireFixtures.u64;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every frame type of protocol v2 refuses malformed payloads: each row of the table is a frame
 * with a valid CRC, type and header, so that {@link Frame#open} lets it through and only the
 * field checks of {@link Message#read} (or, for PAGES, {@link PageBatchReader}) can catch it,
 * with the {@link Kind} a receiver reports. The table must cover {@link FrameType#values()}.
 * {@link FrameHeaderRejectionTest} covers what {@link Frame#open} itself refuses.
 */
class FrameRejectionTest {

    /** The encodings agreed for PAGES rows: all but zstd, so that a zstd entry was not agreed. */
    private static final long AGREED = agreed(PageEncoding.ZERO, PageEncoding.RAW, PageEncoding.XBZRLE,
            PageEncoding.LZ4, PageEncoding.DEDUP);
    /** A layout whose span (100 pages) ends inside its last bitmap word. */
    private static final Message.Context SHORT_LAYOUT = new Message.Context(MemoryLayout.contiguous(PAGE_SIZE,
            100L * PAGE_SIZE), 1);

    /**
     * One row: a malformed frame, what is wrong with it, the kind of violation it must raise and,
     * where the row says so, the field its message must name (null: any).
     */
    private record Rejection(FrameType type, String defect, Kind kind, byte[] frame, Message.Context context,
                             String field) {
        DynamicTest test() {
            return DynamicTest.dynamicTest(type + ": " + defect + " -> " + kind, this::assertRejected);
        }

        void assertRejected() {
            Frame opened = assertDoesNotThrow(() -> open(frame), "the frame must pass Frame.open");
            List<Long> applied = new ArrayList<>();
            WireException e = assertThrows(WireException.class, () -> {
                if (type == FrameType.PAGES) {
                    new PageBatchReader(context.layout(), AGREED).read(opened,
                            (page, encoding, payload) -> applied.add(page));
                } else {
                    Message.read(opened, context);
                }
            });
            assertEquals(kind, e.kind(), e.getMessage());
            if (field != null) {
                assertTrue(e.getMessage().contains("'" + field + "'"), "the message must name field '" + field
                        + "': " + e.getMessage());
            }
            assertEquals(List.of(), applied, "entries of a rejected batch reached the sink");
        }
    }

    /** Collects the rows. */
    private static final class Table {
        final List<Rejection> rows = new ArrayList<>();
        private final FrameWriter writer = new FrameWriter(FRAME_LIMIT);

        byte[] valid(Message m) {
            return bytes(m.write(writer));
        }

        void reject(String defect, Kind kind, byte[] frame, Message.Context context) {
            rows.add(new Rejection(FrameType.fromCode(frame[0] & 0xFF), defect, kind, frame, context, null));
        }

        /** A row whose exception message must also name {@code field}. */
        void rejectNaming(String field, String defect, Kind kind, byte[] frame) {
            rows.add(new Rejection(FrameType.fromCode(frame[0] & 0xFF), defect, kind, frame, AFTER_SETUP, field));
        }

        void reject(String defect, Kind kind, byte[] frame) {
            reject(defect, kind, frame, AFTER_SETUP);
        }

        void reject(FrameType type, String defect, Kind kind, Consumer<ByteBuffer> payload) {
            reject(defect, kind, frame(type, payload));
        }

        void rejectTrailingByte(Message m) {
            reject("a trailing byte", Kind.INCONSISTENT_LENGTH, extended(valid(m), (byte) 0));
        }
    }

    private static List<Rejection> table() {
        Table t = new Table();
        handshake(t);
        pages(t);
        switchover(t);
        bitmaps(t);
        postcopy(t);
        verification(t);
        control(t);
        disks(t);
        return t.rows;
    }

    @Test
    void rejectionTableCoversEveryFrameType() {
        EnumSet<FrameType> covered = EnumSet.noneOf(FrameType.class);
        table().forEach(r -> covered.add(r.type()));
        assertEquals(EnumSet.allOf(FrameType.class), covered, "frame types without a rejection test");
    }

    @TestFactory
    Stream<DynamicTest> everyFrameTypeRejectsMalformedPayloadsWithTheRightKind() {
        return table().stream().map(Rejection::test);
    }

    /** Offsets in a HELLO frame (docs/protocol.md, section 1), header included. */
    private static final int HELLO_MAX_FRAME_AT = Wire.HEADER_BYTES + 8;
    private static final int HELLO_PURPOSE_AT = Wire.HEADER_BYTES + 20;
    private static final int HELLO_SESSION_ID_AT = HELLO_PURPOSE_AT + 4;
    private static final int HELLO_NONCE_AT = HELLO_SESSION_ID_AT + HandshakeFrames.SESSION_ID_BYTES;
    /** Offsets in a HELLO_ACK frame, header included. */
    private static final int ACK_ENCODINGS_AT = Wire.HEADER_BYTES + 12;
    private static final int ACK_FLAGS_AT = ACK_ENCODINGS_AT + 8;
    private static final int ACK_NONCE_AT = ACK_FLAGS_AT + 4;

    private static void handshake(Table t) {
        helloRows(t);
        helloAckRows(t);
        authRows(t);
        setupRows(t);
        t.rejectTrailingByte(new HandshakeFrames.Ready());
    }

    private static void helloRows(Table t) {
        Hello valid = hello(2, 2, 1 << 20, 6);
        byte[] hello = t.valid(valid);
        assertEquals(HELLO_NONCE_AT + HandshakeFrames.NONCE_BYTES + Wire.TRAILER_BYTES, hello.length);
        t.reject("a foreign magic", Kind.INCOMPATIBLE, patched(hello, Wire.HEADER_BYTES, (byte) 'X'));
        t.reject("truncated by 3 bytes", Kind.TRUNCATED, truncated(hello, 3));
        t.rejectTrailingByte(valid);
        t.reject(FrameType.HELLO, "a frame limit below 64 KiB", Kind.INCONSISTENT_LENGTH,
                b -> b.putInt(Wire.MAGIC).putShort((short) 2).putShort((short) 2).putInt(65535).putLong(6)
                        .put((byte) 1).put((byte) 1).putShort((short) 0).put(SESSION_ID).put(SOURCE_NONCE));
        t.reject(FrameType.HELLO, "a frame limit above 2^31 - 1", Kind.INCONSISTENT_LENGTH,
                b -> b.putInt(Wire.MAGIC).putShort((short) 2).putShort((short) 2).putInt(1 << 31).putLong(6)
                        .put((byte) 1).put((byte) 1).putShort((short) 0).put(SESSION_ID).put(SOURCE_NONCE));
        t.reject("a frame limit of 0", Kind.INCONSISTENT_LENGTH, patched(hello, HELLO_MAX_FRAME_AT, u32(0)));
        t.reject("minimum version 0", Kind.INCOMPATIBLE, t.valid(hello(0, 1, 1 << 20, 6)));
        t.reject("maximum version below the minimum", Kind.INCOMPATIBLE, t.valid(hello(2, 1, 1 << 20, 6)));
        t.reject("purpose 0, reserved as invalid", Kind.UNEXPECTED, patched(hello, HELLO_PURPOSE_AT, (byte) 0));
        t.reject("an unknown purpose 6", Kind.UNEXPECTED, patched(hello, HELLO_PURPOSE_AT, (byte) 6));
        t.reject("an unknown purpose 0xFF", Kind.UNEXPECTED, patched(hello, HELLO_PURPOSE_AT, (byte) 0xFF));
        t.reject("an unknown flag bit 1", Kind.UNEXPECTED, patched(hello, HELLO_PURPOSE_AT + 1, (byte) 2));
        t.reject("an unknown flag bit 7", Kind.UNEXPECTED, patched(hello, HELLO_PURPOSE_AT + 1, (byte) 0x81));
        t.reject("a non-zero reserved field, high byte", Kind.UNEXPECTED,
                patched(hello, HELLO_PURPOSE_AT + 2, (byte) 1));
        t.reject("a non-zero reserved field, low byte", Kind.UNEXPECTED,
                patched(hello, HELLO_PURPOSE_AT + 3, (byte) 0x80));
        t.rejectNaming("purpose", "a v1 HELLO: nothing after the encodings", Kind.TRUNCATED,
                cutAt(hello, HELLO_PURPOSE_AT));
        t.rejectNaming("sessionId", "ends inside the session id", Kind.TRUNCATED,
                cutAt(hello, HELLO_SESSION_ID_AT + HandshakeFrames.SESSION_ID_BYTES - 1));
        t.rejectNaming("nonce", "a session id one byte short, so the frame ends inside the nonce", Kind.TRUNCATED,
                frame(FrameType.HELLO, b -> b.put(payload(hello), 0, HELLO_SESSION_ID_AT - Wire.HEADER_BYTES)
                        .put(SESSION_ID, 0, HandshakeFrames.SESSION_ID_BYTES - 1).put(SOURCE_NONCE)));
        t.rejectNaming("nonce", "a nonce one byte short", Kind.TRUNCATED, truncated(hello, 1));
        t.rejectNaming("nonce", "no nonce", Kind.TRUNCATED, cutAt(hello, HELLO_NONCE_AT));
    }

    private static void helloAckRows(Table t) {
        HelloAck valid = helloAck(2, 1 << 20, 6);
        byte[] ack = t.valid(valid);
        assertEquals(ACK_NONCE_AT + HandshakeFrames.NONCE_BYTES + HandshakeFrames.PROOF_BYTES + Wire.TRAILER_BYTES,
                ack.length);
        t.reject("a non-zero reserved field", Kind.UNEXPECTED, patched(ack, Wire.HEADER_BYTES + 7, (byte) 1));
        t.reject("a foreign magic", Kind.INCOMPATIBLE, patched(ack, Wire.HEADER_BYTES + 3, (byte) 'H'));
        t.reject("a frame limit below 64 KiB", Kind.INCONSISTENT_LENGTH, t.valid(helloAck(2, 65535, 6)));
        t.rejectNaming("encodings", "truncated inside the encodings", Kind.TRUNCATED,
                cutAt(ack, ACK_ENCODINGS_AT + 7));
        t.rejectTrailingByte(valid);
        t.reject("an unknown flag bit 1", Kind.UNEXPECTED, patched(ack, ACK_FLAGS_AT, (byte) 2));
        t.reject("an unknown flag bit 7", Kind.UNEXPECTED, patched(ack, ACK_FLAGS_AT, (byte) 0x81));
        t.reject("a non-zero reserved byte after the flags", Kind.UNEXPECTED,
                patched(ack, ACK_FLAGS_AT + 1, (byte) 1));
        t.reject("a non-zero reserved field after the flags, high byte", Kind.UNEXPECTED,
                patched(ack, ACK_FLAGS_AT + 2, (byte) 1));
        t.reject("a non-zero reserved field after the flags, low byte", Kind.UNEXPECTED,
                patched(ack, ACK_FLAGS_AT + 3, (byte) 0x80));
        t.rejectNaming("flags", "a v1 HELLO_ACK: nothing after the encodings", Kind.TRUNCATED,
                cutAt(ack, ACK_FLAGS_AT));
        t.rejectNaming("nonce", "ends inside the nonce", Kind.TRUNCATED, cutAt(ack, ACK_NONCE_AT + 10));
        t.rejectNaming("proof", "a proof one byte short", Kind.TRUNCATED, truncated(ack, 1));
        t.rejectNaming("proof", "no proof", Kind.TRUNCATED, truncated(ack, HandshakeFrames.PROOF_BYTES));
    }

    private static void authRows(Table t) {
        t.rejectNaming("proof", "a proof one byte short", Kind.TRUNCATED,
                frame(FrameType.AUTH, b -> b.put(PROOF, 0, HandshakeFrames.PROOF_BYTES - 1)));
        t.rejectNaming("proof", "no proof", Kind.TRUNCATED, frame(FrameType.AUTH, b -> { }));
        t.rejectTrailingByte(new Auth(PROOF));
        t.reject(FrameType.AUTH, "two proofs", Kind.INCONSISTENT_LENGTH, b -> b.put(PROOF).put(PROOF));
    }

    private static void setupRows(Table t) {
        VmDescriptor d = new VmDescriptor(new MemoryLayout(PAGE_SIZE, List.of(new MemoryRegion(0, 10),
                new MemoryRegion(100, 5))), 3, List.of("workload", "net0"), "fmt-v1");
        Setup setup = new Setup(Strategy.HYBRID, true, true, d, 128);
        t.reject("truncated inside batchPages", Kind.TRUNCATED, truncated(t.valid(setup), 2));
        t.rejectTrailingByte(setup);
        t.reject("overlapping regions", Kind.INCOMPATIBLE, setup(s -> {
            s.regions = new long[] {0, 10, 5, 10};
            s.vcpus = 1;
            s.format = utf8("f");
            s.devices = List.of();
            s.batchPages = 1;
        }));
        t.reject("unsorted regions", Kind.INCOMPATIBLE, setup(s -> s.regions = new long[] {100, 5, 0, 10}));
        t.reject("a region of no page", Kind.INCOMPATIBLE, setup(s -> s.regions = new long[] {0, 10, 100, 0}));
        t.reject("a region at a negative page", Kind.INCOMPATIBLE, setup(s -> s.regions = new long[] {-64, 10}));
        t.reject("a region whose end overflows", Kind.INCOMPATIBLE,
                setup(s -> s.regions = new long[] {Long.MAX_VALUE - 1, 2}));
        t.reject("a span of 2^37 + 1 pages", Kind.INCOMPATIBLE,
                setup(s -> s.regions = new long[] {0, 1, Wire.MAX_PAGE_SPAN - 1, 2}));
        t.reject("2^46 bytes and one page", Kind.INCOMPATIBLE, setup(s -> {
            s.pageSize = MemoryLayout.MAX_PAGE_SIZE_BYTES;
            s.regions = new long[] {0, (Wire.MAX_MEMORY_BYTES >> 20) + 1};
        }));
        t.reject("strategy 0, reserved as invalid", Kind.UNEXPECTED, setup(s -> s.strategy = 0));
        t.reject("an unknown strategy 6", Kind.UNEXPECTED, setup(s -> s.strategy = 6));
        t.reject("an unknown flag bit 2", Kind.UNEXPECTED, setup(s -> s.flags = 4));
        t.reject("a non-zero reserved field", Kind.UNEXPECTED, setup(s -> s.reserved = 1));
        t.reject("a page size that is not a power of two", Kind.INCOMPATIBLE, setup(s -> s.pageSize = 4097));
        t.reject("a page size below 512", Kind.INCONSISTENT_LENGTH, setup(s -> s.pageSize = 256));
        t.reject("a page size above 1 MiB", Kind.INCONSISTENT_LENGTH, setup(s -> s.pageSize = 2 << 20));
        t.reject("no region", Kind.INCONSISTENT_LENGTH, setup(s -> s.regionCount = 0));
        t.reject("1025 regions", Kind.INCONSISTENT_LENGTH, setup(s -> s.regionCount = Wire.MAX_REGIONS + 1));
        t.reject("no vCPU", Kind.INCONSISTENT_LENGTH, setup(s -> s.vcpus = 0));
        t.reject("4097 vCPUs", Kind.INCONSISTENT_LENGTH, setup(s -> s.vcpus = Wire.MAX_VCPUS + 1));
        t.reject("a blank vCPU state format", Kind.INCOMPATIBLE, setup(s -> s.format = utf8("  ")));
        t.reject("a vCPU state format that is not UTF-8", Kind.UNEXPECTED,
                setup(s -> s.format = new byte[] {(byte) 0xC3, 0x28}));
        t.reject("1025 devices", Kind.INCONSISTENT_LENGTH, setup(s -> s.deviceCount = Wire.MAX_DEVICES + 1));
        t.reject("more devices announced than ids present", Kind.TRUNCATED, setup(s -> s.deviceCount = 3));
        t.reject("a device id twice", Kind.INCOMPATIBLE, setup(s -> s.devices = List.of("net0", "net0")));
        t.reject("a batch of no page", Kind.INCONSISTENT_LENGTH, setup(s -> s.batchPages = 0));
        t.reject("a batch above 2^20 pages", Kind.INCONSISTENT_LENGTH,
                setup(s -> s.batchPages = Wire.MAX_BATCH_PAGES + 1));
    }

    private static void pages(Table t) {
        t.reject("no entry", Kind.INCONSISTENT_LENGTH, pages(0, b -> { }));
        t.reject("two entries announced, one present", Kind.INCONSISTENT_LENGTH, pages(2, b -> zero(b, 0)));
        t.reject("shorter than its header", Kind.TRUNCATED, frame(FrameType.PAGES, b -> b.putInt(1)));
        t.reject("a page in a hole", Kind.PAGE_OUT_OF_RANGE, pages(1, b -> zero(b, HOLE_PAGE)));
        t.reject("a page at the layout's span", Kind.PAGE_OUT_OF_RANGE, pages(1, b -> zero(b, LAYOUT.pageSpan())));
        t.reject("a negative page", Kind.PAGE_OUT_OF_RANGE, pages(1, b -> zero(b, -1)));
        t.reject("encoding 0, reserved as invalid", Kind.UNEXPECTED, pages(1, b -> entry(b, 0, 0, 0)));
        t.reject("an unknown encoding 7", Kind.UNEXPECTED, pages(1, b -> entry(b, 0, 7, 0)));
        t.reject("an unknown encoding 65 (bit 1 modulo 64)", Kind.UNEXPECTED, pages(1, b -> entry(b, 0, 65, 0)));
        t.reject("zstd, which was not agreed", Kind.UNEXPECTED, pages(1, b -> entry(b, 0, 5, 10)));
        t.reject("a zero page with a payload", Kind.INCONSISTENT_LENGTH, pages(1, b -> entry(b, 0, 1, 1)));
        t.reject("a raw page one byte short", Kind.INCONSISTENT_LENGTH, pages(1, b -> entry(b, 0, 2, PAGE_SIZE - 1)));
        t.reject("a raw page one byte long", Kind.INCONSISTENT_LENGTH, pages(1, b -> entry(b, 0, 2, PAGE_SIZE + 1)));
        t.reject("an empty xbzrle delta", Kind.INCONSISTENT_LENGTH, pages(1, b -> entry(b, 0, 3, 0)));
        t.reject("an lz4 block above a page", Kind.INCONSISTENT_LENGTH, pages(1, b -> entry(b, 0, 4, PAGE_SIZE + 1)));
        t.reject("a dedup reference of 23 bytes", Kind.INCONSISTENT_LENGTH, pages(1, b -> entry(b, 0, 6, 23)));
        t.reject("a dedup reference of 25 bytes", Kind.INCONSISTENT_LENGTH, pages(1, b -> entry(b, 0, 6, 25)));
        t.reject("a raw payload past the frame's end", Kind.TRUNCATED, pages(1, b -> {
            b.putLong(0).put((byte) 2).putInt(PAGE_SIZE);
            b.put(new byte[100]);
        }));
        t.reject("a trailing byte after the last entry", Kind.INCONSISTENT_LENGTH, pages(1, b -> {
            zero(b, 0);
            b.put((byte) 0);
        }));
        t.reject("three good entries, then a page in a hole", Kind.PAGE_OUT_OF_RANGE, pages(4, b -> {
            zero(b, 0);
            entry(b, 1, 2, PAGE_SIZE);
            entry(b, 64, 3, 1);
            zero(b, HOLE_PAGE);
        }));
    }

    private static void switchover(Table t) {
        t.rejectTrailingByte(new SwitchoverFrames.Switchover());
        t.rejectTrailingByte(new SwitchoverFrames.Resumed(5, new byte[SwitchoverFrames.Resumed.HOST_TOKEN_BYTES]));
        t.reject(FrameType.RESUMED, "a token one byte short", Kind.TRUNCATED,
                b -> b.putLong(5).put(new byte[SwitchoverFrames.Resumed.HOST_TOKEN_BYTES - 1]));
        t.reject(FrameType.RESUMED, "empty, as version 2 sent it", Kind.TRUNCATED, b -> { });

        VcpuState s = new VcpuState(1, "fmt", new byte[] {1, 2, 3});
        t.reject("vCPU index 1 of 1", Kind.INCONSISTENT_LENGTH, t.valid(new VcpuStateFrame(s)),
                new Message.Context(LAYOUT, 1));
        t.reject("vCPU index " + VCPUS + " of " + VCPUS, Kind.INCONSISTENT_LENGTH,
                t.valid(new VcpuStateFrame(new VcpuState(VCPUS, "fmt", new byte[0]))));
        t.reject("before SETUP", Kind.UNEXPECTED, t.valid(new VcpuStateFrame(s)), Message.Context.BEFORE_SETUP);
        t.rejectTrailingByte(new VcpuStateFrame(s));
        t.reject(FrameType.VCPU_STATE, "a blank format", Kind.UNEXPECTED,
                b -> b.putInt(0).put((byte) 2).put((byte) ' ').put((byte) ' ').putInt(1).put((byte) 1));
        t.reject(FrameType.VCPU_STATE, "an empty format", Kind.UNEXPECTED, b -> b.putInt(0).put((byte) 0).putInt(0));
        t.reject(FrameType.VCPU_STATE, "a format that is not UTF-8", Kind.UNEXPECTED,
                b -> b.putInt(0).put((byte) 2).put((byte) 0xC3).put((byte) 0x28).putInt(0));
        t.reject(FrameType.VCPU_STATE, "a format past the frame's end", Kind.TRUNCATED,
                b -> b.putInt(0).put((byte) 10).put("fmt".getBytes(StandardCharsets.UTF_8)));
        t.reject(FrameType.VCPU_STATE, "data one byte longer than the frame", Kind.INCONSISTENT_LENGTH,
                b -> b.putInt(0).put((byte) 1).put((byte) 'f').putInt(4).put(new byte[3]));
        t.reject(FrameType.VCPU_STATE, "data of 2^32 - 1 bytes", Kind.INCONSISTENT_LENGTH,
                b -> b.putInt(0).put((byte) 1).put((byte) 'f').putInt(-1).put(new byte[3]));

        byte[] device = t.valid(new SwitchoverFrames.DeviceStateFrame("net0", new byte[] {9, 8}));
        t.reject("data one byte longer than the frame", Kind.INCONSISTENT_LENGTH,
                patched(device, Wire.HEADER_BYTES + 5 + 3, (byte) 3));
        t.reject("data of 2^32 - 1 bytes", Kind.INCONSISTENT_LENGTH,
                patched(device, Wire.HEADER_BYTES + 5, (byte) -1, (byte) -1, (byte) -1, (byte) -1));
        t.reject("a trailing byte", Kind.INCONSISTENT_LENGTH, extended(device, (byte) 0));
        t.reject("truncated inside the length", Kind.TRUNCATED,
                frame(FrameType.DEVICE_STATE, b -> b.put((byte) 1).put((byte) 'd').putShort((short) 0)));
        t.reject("an empty payload", Kind.TRUNCATED, frame(FrameType.DEVICE_STATE, b -> { }));
        t.reject(FrameType.DEVICE_STATE, "an id that is not UTF-8", Kind.UNEXPECTED,
                b -> b.put((byte) 1).put((byte) 0xFF).putInt(0));

        byte[] data = t.valid(new DeviceFrames.DeviceData("gpu0", true, new byte[] {7, 6, 5}));
        t.reject("DEVICE_DATA one byte longer than the frame", Kind.INCONSISTENT_LENGTH,
                patched(data, Wire.HEADER_BYTES + 6 + 3, (byte) 4));
        t.reject("DEVICE_DATA of 2^32 - 1 bytes", Kind.INCONSISTENT_LENGTH,
                patched(data, Wire.HEADER_BYTES + 6, (byte) -1, (byte) -1, (byte) -1, (byte) -1));
        t.reject("DEVICE_DATA with a trailing byte", Kind.INCONSISTENT_LENGTH, extended(data, (byte) 0));
        t.reject(FrameType.DEVICE_DATA, "an unknown flag", Kind.UNEXPECTED,
                b -> b.put((byte) 1).put((byte) 'g').put((byte) 2).putInt(0));
        t.reject(FrameType.DEVICE_DATA, "no flags", Kind.TRUNCATED, b -> b.put((byte) 1).put((byte) 'g'));
        t.reject(FrameType.DEVICE_DATA, "an id that is not UTF-8", Kind.UNEXPECTED,
                b -> b.put((byte) 1).put((byte) 0xFF).put((byte) 0).putInt(0));

        t.reject(FrameType.COMMIT, "a trailing byte", Kind.INCONSISTENT_LENGTH,
                b -> b.putInt(1).putInt(1).putInt(0).put((byte) 0));

        byte[] checkpoint = t.valid(new ReplayFrames.Checkpoint("kit-input-log/1", 7));
        t.reject("CHECKPOINT with a trailing byte", Kind.INCONSISTENT_LENGTH, extended(checkpoint, (byte) 0));
        t.reject(FrameType.CHECKPOINT, "a blank format", Kind.UNEXPECTED, b -> b.put((byte) 1).put((byte) ' ').putLong(0));
        t.reject(FrameType.CHECKPOINT, "a negative position", Kind.UNEXPECTED,
                b -> b.put((byte) 1).put((byte) 'k').putLong(-1));
        t.reject(FrameType.CHECKPOINT, "no position", Kind.TRUNCATED, b -> b.put((byte) 1).put((byte) 'k'));
        byte[] log = t.valid(new ReplayFrames.LogChunk(3, 9, ReplayFrames.FLAG_SEGMENT_END, new byte[] {1, 2, 3}));
        t.reject("LOG_SEGMENT with a trailing byte", Kind.INCONSISTENT_LENGTH, extended(log, (byte) 0));
        t.reject("LOG_SEGMENT one byte longer than the frame", Kind.INCONSISTENT_LENGTH,
                patched(log, Wire.HEADER_BYTES + 17 + 3, (byte) 4));
        t.reject(FrameType.LOG_SEGMENT, "an end before its start", Kind.UNEXPECTED,
                b -> b.putLong(9).putLong(3).put((byte) 1).putInt(0));
        t.reject(FrameType.LOG_SEGMENT, "a negative start", Kind.UNEXPECTED,
                b -> b.putLong(-5).putLong(9).put((byte) 1).putInt(0));
        t.reject(FrameType.LOG_SEGMENT, "an unknown flag", Kind.UNEXPECTED,
                b -> b.putLong(3).putLong(9).put((byte) 4).putInt(0));
        t.reject(FrameType.LOG_SEGMENT, "no length", Kind.TRUNCATED,
                b -> b.putLong(3).putLong(9).put((byte) 1));
        t.reject(FrameType.COMMIT, "an unknown flag bit 1", Kind.UNEXPECTED, b -> b.putInt(1).putInt(1).putInt(2));
        t.reject(FrameType.COMMIT, "an unknown flag bit 31", Kind.UNEXPECTED,
                b -> b.putInt(1).putInt(1).putInt(1 << 31));
        t.reject(FrameType.COMMIT, "4097 vCPU states", Kind.INCONSISTENT_LENGTH,
                b -> b.putInt(4097).putInt(1).putInt(0));
        t.reject(FrameType.COMMIT, "1025 device states", Kind.INCONSISTENT_LENGTH,
                b -> b.putInt(1).putInt(1025).putInt(0));
        t.reject(FrameType.COMMIT, "no flags", Kind.TRUNCATED, b -> b.putInt(1).putInt(1));
    }

    private static void bitmaps(Table t) {
        for (FrameType type : List.of(FrameType.MISSING_PAGES, FrameType.RECOVER_MISSING)) {
            t.reject("a page in a hole", Kind.PAGE_OUT_OF_RANGE, bitmap(type, 0, 1, 1L << HOLE_PAGE));
            long[] farInto = new long[1095];
            farInto[1094] = 1L << (70_070 - 70_016); // the word holding RAM's end at 70 064 and the hole after
            t.reject("a page in a hole, 1 094 words into the chunk", Kind.PAGE_OUT_OF_RANGE,
                    bitmap(type, 0, farInto.length, farInto));
            t.reject("the last page of the large hole, beside the last region", Kind.PAGE_OUT_OF_RANGE,
                    bitmap(type, 4_193_984, 1, 1L << (4_193_999 - 4_193_984) | 1L << (4_194_000 - 4_193_984)));
            t.reject("one word more than announced", Kind.INCONSISTENT_LENGTH, bitmap(type, 0, 1, 1, 0));
            t.reject("one word fewer than announced", Kind.INCONSISTENT_LENGTH, bitmap(type, 0, 2, 1));
            t.reject("before SETUP", Kind.UNEXPECTED, bitmap(type, 0, 1, 1), Message.Context.BEFORE_SETUP);
            t.reject("a first page not a multiple of 64", Kind.PAGE_OUT_OF_RANGE, bitmap(type, 32, 1, 0));
            t.reject("a page past the layout's end, in its last word", Kind.PAGE_OUT_OF_RANGE,
                    bitmap(type, 64, 1, 1L << (100 - 64)), SHORT_LAYOUT);
            t.reject("a chunk that runs past the span", Kind.PAGE_OUT_OF_RANGE,
                    bitmap(type, LAYOUT.pageSpan() - 64, 2, 0, 0));
            t.reject("a first page at the span", Kind.PAGE_OUT_OF_RANGE, bitmap(type, LAYOUT.pageSpan(), 1, 0));
            t.reject("a negative first page", Kind.PAGE_OUT_OF_RANGE, bitmap(type, -64, 1, 0));
            t.reject("no word", Kind.INCONSISTENT_LENGTH, bitmap(type, 0, 0));
            t.reject("65537 words", Kind.INCONSISTENT_LENGTH, bitmap(type, 0, Wire.MAX_BITMAP_WORDS + 1));
            t.reject("truncated inside the word count", Kind.TRUNCATED,
                    frame(type, b -> b.putLong(0).putShort((short) 1)));
        }
    }

    private static void postcopy(Table t) {
        t.reject(FrameType.PAGE_REQUEST, "no page", Kind.INCONSISTENT_LENGTH, b -> b.putInt(0));
        t.reject(FrameType.PAGE_REQUEST, "4097 pages", Kind.INCONSISTENT_LENGTH, b -> {
            b.putInt(Wire.MAX_REQUEST_PAGES + 1);
            for (int i = 0; i <= Wire.MAX_REQUEST_PAGES; i++) {
                b.putLong(i % 16);
            }
        });
        t.reject(FrameType.PAGE_REQUEST, "a page in a hole", Kind.PAGE_OUT_OF_RANGE,
                b -> b.putInt(2).putLong(0).putLong(HOLE_PAGE));
        t.reject(FrameType.PAGE_REQUEST, "a page at the span", Kind.PAGE_OUT_OF_RANGE,
                b -> b.putInt(1).putLong(LAYOUT.pageSpan()));
        t.reject(FrameType.PAGE_REQUEST, "a negative page", Kind.PAGE_OUT_OF_RANGE, b -> b.putInt(1).putLong(-1));
        t.reject(FrameType.PAGE_REQUEST, "two pages announced, one present", Kind.INCONSISTENT_LENGTH,
                b -> b.putInt(2).putLong(0));
        t.reject(FrameType.PAGE_REQUEST, "a trailing byte", Kind.INCONSISTENT_LENGTH,
                b -> b.putInt(1).putLong(0).put((byte) 0));
        t.reject("before SETUP", Kind.UNEXPECTED, frame(FrameType.PAGE_REQUEST, b -> b.putInt(1).putLong(0)),
                Message.Context.BEFORE_SETUP);

        t.reject(FrameType.POSTCOPY_ACK, "a negative byte count", Kind.INCONSISTENT_LENGTH, b -> b.putLong(-1));
        t.reject(FrameType.POSTCOPY_ACK, "truncated", Kind.TRUNCATED, b -> b.putInt(0));
        t.rejectTrailingByte(new PostcopyFrames.PostcopyAck(5));
        t.rejectTrailingByte(new PostcopyFrames.PostcopyEnd());

        t.reject(FrameType.POSTCOPY_DONE, "two vCPUs announced, one present", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(1).putLong(2).putLong(3).putInt(2).putLong(0));
        t.reject(FrameType.POSTCOPY_DONE, "one vCPU announced, two present", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(1).putLong(2).putLong(3).putInt(1).putLong(0).putLong(0));
        t.reject(FrameType.POSTCOPY_DONE, "4097 vCPUs", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(1).putLong(2).putLong(3).putInt(Wire.MAX_VCPUS + 1).put(new byte[8 * 4097]));
        t.reject(FrameType.POSTCOPY_DONE, "negative faults", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(-1).putLong(2).putLong(3).putInt(0));
        t.reject(FrameType.POSTCOPY_DONE, "a negative median", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(1).putLong(-2).putLong(3).putInt(0));
        t.reject(FrameType.POSTCOPY_DONE, "a negative 99th percentile", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(1).putLong(2).putLong(-3).putInt(0));
        t.reject(FrameType.POSTCOPY_DONE, "a negative blocked time", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(1).putLong(2).putLong(3).putInt(2).putLong(0).putLong(Long.MIN_VALUE));
        t.reject(FrameType.POSTCOPY_DONE, "truncated before the vCPU count", Kind.TRUNCATED,
                b -> b.putLong(1).putLong(2).putLong(3));

        t.reject(FrameType.RECOVER, "a negative page count", Kind.INCONSISTENT_LENGTH, b -> b.putLong(Long.MIN_VALUE));
        t.reject(FrameType.RECOVER, "an empty payload", Kind.TRUNCATED, b -> { });
        t.rejectTrailingByte(new PostcopyFrames.Recover(3));
        t.rejectTrailingByte(new PostcopyFrames.RecoverAck());
        t.reject(FrameType.STREAMS, "no data connection", Kind.INCONSISTENT_LENGTH, b -> b.putLong(0));
        t.reject(FrameType.STREAMS, "a negative count", Kind.INCONSISTENT_LENGTH, b -> b.putLong(-1));
        t.rejectTrailingByte(new StreamFrames.Streams(2));
        t.reject(FrameType.SYNC, "sequence 0, before the first", Kind.INCONSISTENT_LENGTH, b -> b.putLong(0));
        t.reject(FrameType.SYNC, "an empty payload", Kind.TRUNCATED, b -> { });
        t.rejectTrailingByte(new StreamFrames.Sync(1));
    }

    private static void verification(Table t) {
        t.reject(FrameType.DIGESTS, "no digest", Kind.INCONSISTENT_LENGTH, b -> b.putLong(0).putInt(0));
        t.reject(FrameType.DIGESTS, "two digests announced, three present", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(0).putInt(2).putInt(1).putInt(2).putInt(3));
        t.reject(FrameType.DIGESTS, "three digests announced, two present", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(0).putInt(3).putInt(1).putInt(2));
        t.reject(FrameType.DIGESTS, "a partial digest", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(0).putInt(1).putInt(1).put((byte) 0));
        t.reject(FrameType.DIGESTS, "65537 digests", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(64).putInt(VerifyFrames.MAX_DIGESTS + 1)
                        .put(new byte[4 * (VerifyFrames.MAX_DIGESTS + 1)]));
        t.reject(FrameType.DIGESTS, "a run from a region into a hole", Kind.PAGE_OUT_OF_RANGE,
                b -> b.putLong(HOLE_PAGE - 1).putInt(2).putInt(1).putInt(2));
        t.reject(FrameType.DIGESTS, "a run in a hole", Kind.PAGE_OUT_OF_RANGE,
                b -> b.putLong(HOLE_PAGE).putInt(1).putInt(1));
        t.reject(FrameType.DIGESTS, "a run at the span", Kind.PAGE_OUT_OF_RANGE,
                b -> b.putLong(LAYOUT.pageSpan()).putInt(1).putInt(1));
        t.reject(FrameType.DIGESTS, "a zero run of no page", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(0).putInt((int) VerifyFrames.ZERO_RUN_FLAG));
        t.reject(FrameType.DIGESTS, "a zero run with a digest", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(0).putInt((int) VerifyFrames.ZERO_RUN_FLAG | 1).putInt(1));
        t.reject(FrameType.DIGESTS, "a zero run from a region into a hole", Kind.PAGE_OUT_OF_RANGE,
                b -> b.putLong(HOLE_PAGE - 1).putInt((int) VerifyFrames.ZERO_RUN_FLAG | 2));
        t.reject(FrameType.DIGESTS, "a zero run past the span", Kind.PAGE_OUT_OF_RANGE,
                b -> b.putLong(WireFixtures.LAST_PAGE)
                        .putInt((int) (VerifyFrames.MAX_ZERO_RUN_PAGES | VerifyFrames.ZERO_RUN_FLAG)));
        t.reject("before SETUP", Kind.UNEXPECTED, frame(FrameType.DIGESTS, b -> b.putLong(0).putInt(1).putInt(1)),
                Message.Context.BEFORE_SETUP);

        t.reject(FrameType.DIGESTS_END, "a negative page count", Kind.INCONSISTENT_LENGTH, b -> b.putLong(-1));
        t.reject(FrameType.DIGESTS_END, "truncated", Kind.TRUNCATED, b -> b.putInt(7));
        t.rejectTrailingByte(new VerifyFrames.DigestsEnd(7));

        t.reject("more mismatches than pages checked", Kind.INCONSISTENT_LENGTH, t.valid(new VerifyResult(1, 5, 0)));
        t.reject("negative pages checked", Kind.INCONSISTENT_LENGTH, t.valid(new VerifyResult(-1, 0, -1)));
        t.reject("negative mismatches", Kind.INCONSISTENT_LENGTH, t.valid(new VerifyResult(5, -1, -1)));
        t.reject("mismatches without a first one", Kind.INCONSISTENT_LENGTH, t.valid(new VerifyResult(10, 1, -1)));
        t.reject("a first mismatch without mismatches", Kind.INCONSISTENT_LENGTH, t.valid(new VerifyResult(10, 0, 3)));
        t.reject("a first mismatch of -2", Kind.INCONSISTENT_LENGTH, t.valid(new VerifyResult(10, 1, -2)));
        t.reject("truncated inside firstMismatch", Kind.TRUNCATED, truncated(t.valid(new VerifyResult(10, 1, 4)), 1));
        t.rejectTrailingByte(new VerifyResult(10, 1, 4));
    }

    private static void disks(Table t) {
        t.reject("a disk of 1000 bytes, not whole blocks", Kind.INCOMPATIBLE, setup(s -> s.disks = List.of(
                disk("vda", 1000, 512, "", "n"))));
        t.reject("a block size of 3000 bytes", Kind.INCOMPATIBLE, setup(s -> s.disks = List.of(
                disk("vda", 6000, 3000, "", "n"))));
        t.reject("a disk id twice", Kind.INCOMPATIBLE, setup(s -> s.disks = List.of(
                disk("vda", 4096, 4096, "", "n"), disk("vda", 4096, 4096, "", "m"))));
        t.reject("an empty next generation", Kind.INCOMPATIBLE, setup(s -> s.disks = List.of(
                disk("vda", 4096, 4096, "g", ""))));
        t.reject("a generation with a space", Kind.INCOMPATIBLE, setup(s -> s.disks = List.of(
                disk("vda", 4096, 4096, "a b", "n"))));
        t.reject("65 disks", Kind.INCONSISTENT_LENGTH, setup(s -> s.diskCount = VmDescriptor.MAX_DISKS + 1));
        t.reject("a disk announced, none present", Kind.TRUNCATED, setup(s -> s.diskCount = 1));

        byte[] block = new byte[4096];
        long digest = BlockDigest.of(ByteBuffer.wrap(block));
        t.reject(FrameType.DISK_BLOCKS, "disk 2 of 2", Kind.UNEXPECTED,
                b -> b.putShort((short) 2).putShort((short) 0).putLong(0).putInt(1).putLong(digest).put(block));
        t.reject(FrameType.DISK_BLOCKS, "a block at the disk's end", Kind.UNEXPECTED,
                b -> b.putShort((short) 0).putShort((short) 0).putLong(256).putInt(1).putLong(digest).put(block));
        t.reject(FrameType.DISK_BLOCKS, "a run past the disk's end", Kind.UNEXPECTED,
                b -> b.putShort((short) 0).putShort((short) 0).putLong(255).putInt(2).putLong(digest).put(block)
                        .put(block));
        t.reject(FrameType.DISK_BLOCKS, "a negative block", Kind.UNEXPECTED,
                b -> b.putShort((short) 0).putShort((short) 0).putLong(-1).putInt(1).putLong(digest).put(block));
        t.reject(FrameType.DISK_BLOCKS, "no block", Kind.INCONSISTENT_LENGTH,
                b -> b.putShort((short) 0).putShort((short) 0).putLong(0).putInt(0).putLong(0));
        t.reject(FrameType.DISK_BLOCKS, "a block one byte short", Kind.INCONSISTENT_LENGTH,
                b -> b.putShort((short) 0).putShort((short) 0).putLong(0).putInt(1).putLong(digest)
                        .put(block, 0, 4095));
        t.reject(FrameType.DISK_BLOCKS, "two blocks announced, one present", Kind.INCONSISTENT_LENGTH,
                b -> b.putShort((short) 0).putShort((short) 0).putLong(0).putInt(2).putLong(digest).put(block));
        t.reject(FrameType.DISK_BLOCKS, "a digest that does not match", Kind.CORRUPT_FRAME,
                b -> b.putShort((short) 0).putShort((short) 0).putLong(0).putInt(1).putLong(digest + 1).put(block));
        t.reject(FrameType.DISK_BLOCKS, "a zero run with a payload", Kind.INCONSISTENT_LENGTH,
                b -> b.putShort((short) 0).put((byte) 1).put((byte) 0).putLong(0).putInt(1).putLong(0).put(block));
        t.reject(FrameType.DISK_BLOCKS, "an unknown flag", Kind.UNEXPECTED,
                b -> b.putShort((short) 0).put((byte) 2).put((byte) 0).putLong(0).putInt(1).putLong(digest).put(block));
        t.reject("before SETUP", Kind.UNEXPECTED, frame(FrameType.DISK_BLOCKS, b -> b.putShort((short) 0)
                .put((byte) 1).put((byte) 0).putLong(0).putInt(1).putLong(0)), Message.Context.BEFORE_SETUP);

        t.reject(FrameType.DISK_FLUSH, "a negative sequence", Kind.INCONSISTENT_LENGTH, b -> b.putLong(-1));
        t.reject(FrameType.DISK_FLUSHED, "truncated", Kind.TRUNCATED, b -> b.putInt(1));
        for (FrameType type : List.of(FrameType.DISK_DIGESTS, FrameType.DISK_VERIFY)) {
            t.reject(type, "a run past the disk's end", Kind.UNEXPECTED,
                    b -> b.putShort((short) 1).putShort((short) 0).putLong(7).putInt(2).putLong(1).putLong(2));
            t.reject(type, "no digest", Kind.INCONSISTENT_LENGTH,
                    b -> b.putShort((short) 1).putShort((short) 0).putLong(0).putInt(0));
            t.reject(type, "two digests announced, one present", Kind.INCONSISTENT_LENGTH,
                    b -> b.putShort((short) 1).putShort((short) 0).putLong(0).putInt(2).putLong(1));
            t.reject(type, "an unknown disk", Kind.UNEXPECTED,
                    b -> b.putShort((short) 9).putShort((short) 0).putLong(0).putInt(1).putLong(1));
        }
        t.reject(FrameType.DISK_PLAN, "one mode for two disks", Kind.INCONSISTENT_LENGTH,
                b -> b.putShort((short) 1).put((byte) 1));
        t.reject(FrameType.DISK_PLAN, "mode 0, reserved as invalid", Kind.UNEXPECTED,
                b -> b.putShort((short) 2).put((byte) 1).put((byte) 0));
        t.reject(FrameType.DISK_PLAN, "an unknown mode 4", Kind.UNEXPECTED,
                b -> b.putShort((short) 2).put((byte) 4).put((byte) 1));
        t.reject(FrameType.DISK_PLAN, "demand for a disk not announced", Kind.UNEXPECTED,
                b -> b.putShort((short) 2).put((byte) 1).put((byte) 1).putLong(0b100));
        t.reject(FrameType.DISK_PLAN, "no demand mask", Kind.TRUNCATED,
                b -> b.putShort((short) 2).put((byte) 1).put((byte) 1));
        // vdb has 8 blocks: one word, whose bits above 7 are beyond its end.
        t.reject(FrameType.DISK_MISSING, "a block beyond the disk's end", Kind.UNEXPECTED,
                b -> b.putShort((short) 1).putShort((short) 0).putLong(0).putInt(1).putLong(0x100));
        t.reject(FrameType.DISK_MISSING, "a word beyond the disk", Kind.UNEXPECTED,
                b -> b.putShort((short) 0).putShort((short) 0).putLong(4).putInt(1).putLong(1));
        t.reject(FrameType.DISK_MISSING, "no word", Kind.INCONSISTENT_LENGTH,
                b -> b.putShort((short) 0).putShort((short) 0).putLong(0).putInt(0));
        t.reject(FrameType.DISK_MISSING, "two words announced, one present", Kind.INCONSISTENT_LENGTH,
                b -> b.putShort((short) 0).putShort((short) 0).putLong(0).putInt(2).putLong(1));
        t.reject(FrameType.DISK_MISSING, "an unknown disk", Kind.UNEXPECTED,
                b -> b.putShort((short) 2).putShort((short) 0).putLong(0).putInt(1).putLong(1));
        t.reject(FrameType.REPLAYED, "a negative position", Kind.UNEXPECTED, b -> b.putLong(-1).putLong(0));
        t.reject(FrameType.REPLAYED, "a negative replay time", Kind.UNEXPECTED, b -> b.putLong(1).putLong(-1));
        t.reject(FrameType.REPLAYED, "no replay time", Kind.TRUNCATED, b -> b.putLong(1));
        t.reject(FrameType.REPLAYED, "a trailing byte", Kind.INCONSISTENT_LENGTH,
                b -> b.putLong(1).putLong(2).put((byte) 0));
        t.reject(FrameType.BLOCK_REQUEST, "a block beyond the disk", Kind.UNEXPECTED,
                b -> b.putShort((short) 1).putShort((short) 0).putInt(1).putLong(8));
        t.reject(FrameType.BLOCK_REQUEST, "a negative block", Kind.UNEXPECTED,
                b -> b.putShort((short) 0).putShort((short) 0).putInt(1).putLong(-1));
        t.reject(FrameType.BLOCK_REQUEST, "no block", Kind.INCONSISTENT_LENGTH,
                b -> b.putShort((short) 0).putShort((short) 0).putInt(0));
        t.reject(FrameType.BLOCK_REQUEST, "4097 blocks", Kind.INCONSISTENT_LENGTH,
                b -> b.putShort((short) 0).putShort((short) 0).putInt(4097));
        t.reject(FrameType.BLOCK_REQUEST, "two blocks announced, one present", Kind.INCONSISTENT_LENGTH,
                b -> b.putShort((short) 0).putShort((short) 0).putInt(2).putLong(1));
        DiskFrames.DiskSetup setup = new DiskFrames.DiskSetup(true, List.of(WireFixtures.DISKS.get(0)),
                List.of(new DiskFrames.DiskOffer("", "n")));
        t.rejectTrailingByte(setup);
        t.reject(FrameType.DISK_SETUP, "no disk", Kind.INCOMPATIBLE, b -> b.putInt(0).putInt(0));
        t.reject(FrameType.DISK_SETUP, "an unknown flag", Kind.UNEXPECTED, b -> b.put((byte) 2).put((byte) 0)
                .putShort((short) 0).putInt(0));
        t.reject("more disk blocks mismatched than checked", Kind.INCONSISTENT_LENGTH,
                t.valid(new VerifyResult(1, 0, -1, 1, 2)));
    }

    /** @return one disk of SETUP's disk list, as its bytes */
    private static byte[] disk(String id, long sizeBytes, int blockSizeBytes, String generation, String next) {
        ByteBuffer b = ByteBuffer.allocate(1024);
        for (String s : List.of(id)) {
            byte[] bytes = utf8(s);
            b.put((byte) bytes.length).put(bytes);
        }
        b.putLong(sizeBytes).putInt(blockSizeBytes);
        for (String s : List.of(generation, next)) {
            byte[] bytes = utf8(s);
            b.put((byte) bytes.length).put(bytes);
        }
        return java.util.Arrays.copyOf(b.array(), b.position());
    }

    private static void control(Table t) {
        for (FrameType type : List.of(FrameType.PING, FrameType.PONG)) {
            t.reject(type, "a token of 4 bytes", Kind.TRUNCATED, b -> b.putInt(1));
            t.reject(type, "no token", Kind.TRUNCATED, b -> { });
            t.reject(type, "a trailing byte", Kind.INCONSISTENT_LENGTH, b -> b.putLong(1).put((byte) 0));
        }
        t.rejectTrailingByte(new ControlFrames.Keepalive());

        t.reject(FrameType.SETTLED, "outcome 0, reserved as invalid", Kind.UNEXPECTED, b -> b.put((byte) 0));
        t.reject(FrameType.SETTLED, "an unknown outcome 3", Kind.UNEXPECTED, b -> b.put((byte) 3));
        t.reject(FrameType.SETTLED, "an unknown outcome 0xFF", Kind.UNEXPECTED, b -> b.put((byte) 0xFF));
        t.rejectNaming("outcome", "no outcome", Kind.TRUNCATED, frame(FrameType.SETTLED, b -> { }));
        t.rejectTrailingByte(new ControlFrames.Settled(ControlFrames.Outcome.RESUMED));
        t.reject(FrameType.SETTLED, "a trailing byte after a valid outcome 2", Kind.INCONSISTENT_LENGTH,
                b -> b.put((byte) 2).put((byte) 2));

        t.reject(FrameType.ABORT, "code 0, reserved as invalid", Kind.UNEXPECTED,
                b -> b.putShort((short) 0).put((byte) 0));
        t.reject(FrameType.ABORT, "an unknown code 5", Kind.UNEXPECTED, b -> b.putShort((short) 5).put((byte) 0));
        t.reject(FrameType.ABORT, "an unknown code 0xFFFF", Kind.UNEXPECTED, b -> b.putShort((short) -1).put((byte) 0));
        t.reject(FrameType.ABORT, "a reason that is not UTF-8", Kind.UNEXPECTED,
                b -> b.putShort((short) 1).put((byte) 2).put((byte) 0xC3).put((byte) 0x28));
        t.reject(FrameType.ABORT, "a reason past the frame's end", Kind.TRUNCATED,
                b -> b.putShort((short) 1).put((byte) 5).put((byte) 'b').put((byte) 'y').put((byte) 'e'));
        t.reject(FrameType.ABORT, "no reason", Kind.TRUNCATED, b -> b.putShort((short) 1));
        t.rejectTrailingByte(new ControlFrames.Abort(ControlFrames.AbortCode.CANCELLED, "bye"));
    }

    @Test
    void pageBatchWithOneBadEntryPassesNoEntryToItsSink() throws WireException {
        byte[][] badLastEntries = {
                pagesThenBad(PageEncoding.ZERO, HOLE_PAGE, 0), // a page in a hole
                pagesThenBad(PageEncoding.DEDUP, 64, 23), // an impossible length
                pagesThenBad(PageEncoding.ZSTD, 64, 10), // an encoding not agreed
        };
        for (byte[] batch : badLastEntries) {
            List<Long> applied = new ArrayList<>();
            Frame frame = open(batch);
            assertThrows(WireException.class, () -> new PageBatchReader(LAYOUT, AGREED).read(frame,
                    (page, encoding, payload) -> applied.add(page)));
            assertEquals(List.of(), applied);
        }
        List<Long> applied = new ArrayList<>();
        new PageBatchReader(LAYOUT, AGREED).read(open(pagesThenBad(PageEncoding.ZERO, 70, 0)),
                (page, encoding, payload) -> applied.add(page));
        assertEquals(List.of(0L, 1L, 64L, 70L), applied, "the same batch with a good last entry is applied in order");
    }

    /** Three good entries written by {@link PageBatchWriter}, then one of {@code encoding} for {@code page}. */
    private static byte[] pagesThenBad(PageEncoding encoding, long page, int length) {
        PageBatchWriter writer = new PageBatchWriter(FRAME_LIMIT);
        writer.begin(2);
        writer.openEntry(0, PAGE_SIZE);
        writer.commitEntry(PageEncoding.ZERO, 0);
        writer.openEntry(1, PAGE_SIZE).put(new byte[PAGE_SIZE]);
        writer.commitEntry(PageEncoding.RAW, PAGE_SIZE);
        writer.openEntry(64, PAGE_SIZE).put((byte) 1);
        writer.commitEntry(PageEncoding.XBZRLE, 1);
        writer.openEntry(page, PAGE_SIZE).put(new byte[length]);
        writer.commitEntry(encoding, length);
        byte[] frame = bytes(writer.finish());
        assertTrue(frame.length > 3 * Wire.PAGE_ENTRY_BYTES + PAGE_SIZE);
        return frame;
    }

    private static byte[] pages(int count, Consumer<ByteBuffer> entries) {
        return frame(FrameType.PAGES, b -> {
            b.putInt(1).putInt(count);
            entries.accept(b);
        });
    }

    /** Puts an entry with {@code length} payload bytes, whatever the encoding allows. */
    private static void entry(ByteBuffer b, long page, int encoding, int length) {
        b.putLong(page).put((byte) encoding).putInt(length).put(new byte[length]);
    }

    private static void zero(ByteBuffer b, long page) {
        entry(b, page, PageEncoding.ZERO.wireId(), 0);
    }

    private static byte[] bitmap(FrameType type, long firstPage, int wordCount, long... words) {
        return frame(type, b -> {
            b.putLong(firstPage).putInt(wordCount);
            for (long w : words) {
                b.putLong(w);
            }
        });
    }

    private static long agreed(PageEncoding... encodings) {
        long set = 0;
        for (PageEncoding e : encodings) {
            set |= 1L << e.wireId();
        }
        return set;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** @return a SETUP frame whose fields are those of {@link SetupFields} after {@code change} */
    private static byte[] setup(Consumer<SetupFields> change) {
        SetupFields s = new SetupFields();
        change.accept(s);
        return s.frame();
    }

    /**
     * A SETUP payload field by field (docs/protocol.md 2.1), valid until a row changes a field:
     * cold, 4 KiB pages, regions [0, 10) and [100, 105), 3 vCPUs, format "fmt-v1", devices
     * "workload" and "net0", batches of 128. A count of -1 means "as many as present".
     */
    private static final class SetupFields {
        int strategy = 1;
        int flags;
        int reserved;
        int pageSize = PAGE_SIZE;
        /** Pairs of firstPage, pageCount. */
        long[] regions = {0, 10, 100, 5};
        int regionCount = -1;
        int vcpus = 3;
        byte[] format = utf8("fmt-v1");
        List<String> devices = List.of("workload", "net0");
        int deviceCount = -1;
        int batchPages = 128;
        /** Each disk's bytes, as {@link #disk} makes them. */
        List<byte[]> disks = List.of();
        int diskCount = -1;

        byte[] frame() {
            return WireFixtures.frame(FrameType.SETUP, b -> {
                b.put((byte) strategy).put((byte) flags).putShort((short) reserved).putInt(pageSize);
                b.putInt(regionCount >= 0 ? regionCount : regions.length / 2);
                for (long v : regions) {
                    b.putLong(v);
                }
                b.putInt(vcpus).put((byte) format.length).put(format);
                b.putInt(deviceCount >= 0 ? deviceCount : devices.size());
                for (String id : devices) {
                    byte[] bytes = utf8(id);
                    b.put((byte) bytes.length).put(bytes);
                }
                b.putInt(batchPages);
                b.putInt(diskCount >= 0 ? diskCount : disks.size());
                for (byte[] disk : disks) {
                    b.put(disk);
                }
            });
        }
    }
}
