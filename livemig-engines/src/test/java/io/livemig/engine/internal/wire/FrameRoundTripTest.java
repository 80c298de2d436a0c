package io.livemig.engine.internal.wire;

import io.livemig.api.Strategy;
import io.livemig.compress.PageEncoding;
import io.livemig.engine.internal.wire.ControlFrames.Abort;
import io.livemig.engine.internal.wire.ControlFrames.AbortCode;
import io.livemig.engine.internal.wire.ControlFrames.Keepalive;
import io.livemig.engine.internal.wire.ControlFrames.Outcome;
import io.livemig.engine.internal.wire.ControlFrames.Ping;
import io.livemig.engine.internal.wire.ControlFrames.Pong;
import io.livemig.engine.internal.wire.ControlFrames.Settled;
import io.livemig.engine.internal.wire.HandshakeFrames.Auth;
import io.livemig.engine.internal.wire.HandshakeFrames.Hello;
import io.livemig.engine.internal.wire.HandshakeFrames.HelloAck;
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import io.livemig.engine.internal.wire.HandshakeFrames.Ready;
import io.livemig.engine.internal.wire.HandshakeFrames.Setup;
import io.livemig.engine.internal.wire.PostcopyFrames.PageRequest;
import io.livemig.engine.internal.wire.PostcopyFrames.PostcopyAck;
import io.livemig.engine.internal.wire.PostcopyFrames.PostcopyDone;
import io.livemig.engine.internal.wire.PostcopyFrames.PostcopyEnd;
import io.livemig.engine.internal.wire.PostcopyFrames.Recover;
import io.livemig.engine.internal.wire.PostcopyFrames.RecoverAck;
import io.livemig.engine.internal.wire.SwitchoverFrames.Commit;
import io.livemig.engine.internal.wire.SwitchoverFrames.DeviceStateFrame;
import io.livemig.engine.internal.wire.SwitchoverFrames.Resumed;
import io.livemig.engine.internal.wire.SwitchoverFrames.Switchover;
import io.livemig.engine.internal.wire.SwitchoverFrames.VcpuStateFrame;
import io.livemig.engine.internal.wire.VerifyFrames.Digests;
import io.livemig.engine.internal.wire.VerifyFrames.DigestsEnd;
import io.livemig.engine.internal.wire.VerifyFrames.VerifyResult;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.function.Executable;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import java.util.stream.Stream;

import static io.livemig.engine.internal.wire.WireFixtures.AFTER_SETUP;
import static io.livemig.engine.internal.wire.WireFixtures.DESTINATION_NONCE;
import static io.livemig.engine.internal.wire.WireFixtures.FRAME_LIMIT;
import static io.livemig.engine.internal.wire.WireFixtures.LAST_PAGE;
import static io.livemig.engine.internal.wire.WireFixtures.LAYOUT;
import static io.livemig.engine.internal.wire.WireFixtures.PAGE_SIZE;
import static io.livemig.engine.internal.wire.WireFixtures.PROOF;
import static io.livemig.engine.internal.wire.WireFixtures.SESSION_ID;
import static io.livemig.engine.internal.wire.WireFixtures.SOURCE_NONCE;
import static io.livemig.engine.internal.wire.WireFixtures.VCPUS;
import static io.livemig.engine.internal.wire.WireFixtures.bytes;
import static io.livemig.engine.internal.wire.WireFixtures.hello;
import static io.livemig.engine.internal.wire.WireFixtures.helloAck;
import static io.livemig.engine.internal.wire.WireFixtures.open;
import static io.livemig.engine.internal.wire.WireFixtures.stringOfUtf8Bytes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every frame type of protocol v2 survives a trip through the wire: written by its writer,
 * reopened from a copy of the bytes by {@link Frame#open}, read back by {@link Message#read} (or,
 * for PAGES, {@link PageBatchReader}), and equal to what was written. The table must cover
 * {@link FrameType#values()}; {@link FrameWireBytesTest} pins the bytes themselves.
 */
class FrameRoundTripTest {

    private static final String LONGEST_STRING = stringOfUtf8Bytes(Wire.MAX_STRING_BYTES);

    /** One row of the table: a frame type and a round trip of a representative instance of it. */
    private record RoundTrip(FrameType type, String instance, Executable check) {
        DynamicTest test() {
            return DynamicTest.dynamicTest(type + ": " + instance, check);
        }
    }

    private static RoundTrip message(String instance, Message message) {
        return new RoundTrip(message.type(), instance, () -> assertRoundTrips(message));
    }

    private static void assertRoundTrips(Message message) throws WireException {
        byte[] frame = bytes(message.write(new FrameWriter(FRAME_LIMIT)));
        Frame reopened = open(frame);
        assertEquals(message.type(), reopened.type());
        assertEquals(message, Message.read(reopened, AFTER_SETUP));
    }

    private static List<RoundTrip> table() {
        List<RoundTrip> t = new ArrayList<>();
        // Handshake.
        t.add(message("version 2, 1 MiB frames, zero and raw", hello(2, 2, 1 << 20, 0b110)));
        t.add(message("widest version range, largest frame limit, every encoding bit",
                hello(1, 0xFFFF, Integer.MAX_VALUE, -1L)));
        for (Purpose purpose : Purpose.values()) {
            t.add(message(purpose + ", without the auth flag", new Hello(2, 2, 1 << 20, 0b110, purpose, false,
                    SESSION_ID, SOURCE_NONCE)));
        }
        t.add(message("all-ones session id and nonce", new Hello(2, 2, Wire.MIN_MAX_FRAME_BYTES, 0b110,
                Purpose.SETTLE, true, filled(HandshakeFrames.SESSION_ID_BYTES, 0xFF),
                filled(HandshakeFrames.NONCE_BYTES, 0xFF))));
        t.add(message("smallest frame limit", helloAck(2, Wire.MIN_MAX_FRAME_BYTES, 0b111_1110)));
        t.add(message("largest version and frame limit, every encoding bit",
                helloAck(0xFFFF, Integer.MAX_VALUE, -1L)));
        t.add(message("without the auth flag, a zero proof", new HelloAck(2, 1 << 20, 0b110, false,
                DESTINATION_NONCE, new byte[HandshakeFrames.PROOF_BYTES])));
        t.add(message("all-ones nonce and proof", new HelloAck(2, 1 << 20, 0b110, true,
                filled(HandshakeFrames.NONCE_BYTES, 0xFF), filled(HandshakeFrames.PROOF_BYTES, 0xFF))));
        t.add(message("a proof", new Auth(PROOF)));
        t.add(message("an all-zero proof", new Auth(new byte[HandshakeFrames.PROOF_BYTES])));
        t.add(message("an all-ones proof", new Auth(filled(HandshakeFrames.PROOF_BYTES, 0xFF))));
        t.add(message("hybrid, verified, a hole, two devices", new Setup(Strategy.HYBRID, true, true,
                new VmDescriptor(new MemoryLayout(PAGE_SIZE, List.of(new MemoryRegion(0, 10),
                        new MemoryRegion(100, 5))), 3, List.of("workload", "net0"), "fmt-v1"), 128)));
        for (Strategy strategy : Strategy.values()) {
            t.add(message(strategy + ", holes, several devices, longest strings", new Setup(strategy,
                    strategy == Strategy.PRECOPY, strategy != Strategy.COLD, new VmDescriptor(LAYOUT, VCPUS,
                    List.of("workload", "net0", LONGEST_STRING, ""), LONGEST_STRING), 128)));
        }
        t.add(message("no device, one region, smallest pages", new Setup(Strategy.COLD, false, false,
                new VmDescriptor(MemoryLayout.contiguous(512, 512), 1, List.of(), "f"), 1)));
        t.add(message("maximum regions, devices, vCPUs and batch", new Setup(Strategy.HYBRID, true, true,
                new VmDescriptor(new MemoryLayout(PAGE_SIZE, LongStream.range(0, Wire.MAX_REGIONS)
                        .mapToObj(i -> new MemoryRegion(3 * i, 2)).toList()), Wire.MAX_VCPUS,
                        IntStream.range(0, Wire.MAX_DEVICES).mapToObj(i -> i + "-" + LONGEST_STRING.substring(6))
                                .toList(), "kvm-x86-v1"), Wire.MAX_BATCH_PAGES)));
        t.add(message("2^46 bytes of 1 MiB pages, the most memory accepted", new Setup(Strategy.PRECOPY, false, false,
                new VmDescriptor(MemoryLayout.contiguous(MemoryLayout.MAX_PAGE_SIZE_BYTES, Wire.MAX_MEMORY_BYTES), 2,
                        List.of("d"), "f"), 64)));
        t.add(message("a span of 2^37 pages, the widest accepted", new Setup(Strategy.POSTCOPY, false, true,
                new VmDescriptor(new MemoryLayout(PAGE_SIZE, List.of(new MemoryRegion(0, 1),
                        new MemoryRegion(Wire.MAX_PAGE_SPAN - 1, 1))), 2, List.of(), "f"), 64)));
        t.add(message("two disks, one with a change log", new Setup(Strategy.PRECOPY, true, false,
                new VmDescriptor(LAYOUT, 1, List.of(), "f", WireFixtures.DISKS), 64, List.of(
                        new DiskFrames.DiskOffer("", "next-1"), new DiskFrames.DiskOffer("gen-7", "next-2")))));
        t.add(message("empty", new Ready()));
        t.add(message("a disk sync of one disk, verified", new DiskFrames.DiskSetup(true,
                List.of(WireFixtures.DISKS.get(1)), List.of(new DiskFrames.DiskOffer("gen-1", "gen-2")))));
        t.add(message("one mode per disk", new DiskFrames.DiskPlan(List.of(DiskFrames.Mode.EMPTY,
                DiskFrames.Mode.DIGESTS))));
        t.add(message("the second disk fetched on demand", new DiskFrames.DiskPlan(List.of(DiskFrames.Mode.REPLICA,
                DiskFrames.Mode.EMPTY), 0b10)));
        t.add(message("the blocks of a whole disk", new DiskFrames.DiskMissing(0, 0, new long[] {-1, -1, -1, -1})));
        t.add(message("the last of a short disk", new DiskFrames.DiskMissing(1, 0, new long[] {0x80})));
        t.add(message("one block", new DiskFrames.BlockRequest(1, new long[] {7})));
        t.add(message("blocks of a disk, out of order", new DiskFrames.BlockRequest(0, new long[] {255, 0, 3})));
        t.add(message("a zero run to the disk's end", new DiskFrames.DiskBlocks(1, true, 2, 6, ByteBuffer.allocate(0))));
        t.add(message("two blocks of content", new DiskFrames.DiskBlocks(0, false, 254, 2,
                ByteBuffer.wrap(pattern(2 * 4096)))));
        t.add(message("the first sequence", new DiskFrames.DiskFlush(1)));
        t.add(message("the largest sequence", new DiskFrames.DiskFlushed(Long.MAX_VALUE)));
        t.add(message("a replica's digests", new DiskFrames.BlockDigests(FrameType.DISK_DIGESTS, 0, 0,
                new long[] {-1, 0, Long.MIN_VALUE})));
        t.add(message("the source's digests of a disk's last block", new DiskFrames.BlockDigests(
                FrameType.DISK_VERIFY, 1, 7, new long[] {42})));
        // Switchover.
        t.add(message("empty", new Switchover()));
        t.add(message("first vCPU, no data", new VcpuStateFrame(new VcpuState(0, "fmt", new byte[0]))));
        t.add(message("last vCPU, longest format, 64 KiB of data",
                new VcpuStateFrame(new VcpuState(VCPUS - 1, LONGEST_STRING, pattern(64 << 10)))));
        t.add(message("empty state", new DeviceStateFrame("net0", new byte[0])));
        t.add(message("longest id, 256 KiB of state", new DeviceStateFrame(LONGEST_STRING, pattern(256 << 10))));
        t.add(message("empty id", new DeviceStateFrame("", new byte[] {9, 8})));
        t.add(message("device data", new DeviceFrames.DeviceData("gpu0", false, pattern(64 << 10))));
        t.add(message("the end of a device's stream, empty", new DeviceFrames.DeviceData("gpu0", true, new byte[0])));
        t.add(message("a checkpoint", new ReplayFrames.Checkpoint("kvm-exit-log/1", 1L << 40)));
        t.add(message("a log segment's first frame", new ReplayFrames.LogChunk(5, 900, 0, pattern(4096))));
        t.add(message("the final segment, empty", new ReplayFrames.LogChunk(900, 900,
                ReplayFrames.FLAG_SEGMENT_END | ReplayFrames.FLAG_FINAL, new byte[0])));
        t.add(message("replayed", new ReplayFrames.Replayed(900, 123_456_789)));
        t.add(message("no state", new Commit(0, 0, false)));
        t.add(message("maximum counts, post-copy", new Commit(Wire.MAX_VCPUS, Wire.MAX_DEVICES, true)));
        t.add(message("zero token", new Resumed(0, new byte[Resumed.HOST_TOKEN_BYTES])));
        t.add(message("an instant and a token", new Resumed(Long.MAX_VALUE, pattern(Resumed.HOST_TOKEN_BYTES))));
        // Bitmaps.
        t.add(message("an empty chunk", new PageBitmap(FrameType.MISSING_PAGES, 0, new long[1])));
        t.add(message("pages around the first hole and at the layout's end", new PageBitmap(FrameType.MISSING_PAGES,
                0, bitmapOf(0, 15, 64, 127, 128, LAST_PAGE))));
        t.add(message("every RAM page, maximum word count", bitmapOfEveryPage(FrameType.MISSING_PAGES)));
        t.add(message("an empty chunk at the last word", new PageBitmap(FrameType.RECOVER_MISSING,
                Wire.MAX_BITMAP_WORDS - 1, new long[1])));
        t.add(message("one page", new PageBitmap(FrameType.RECOVER_MISSING, 1, new long[] {1L << 63})));
        t.add(message("every RAM page, maximum word count", bitmapOfEveryPage(FrameType.RECOVER_MISSING)));
        // Post-copy.
        t.add(message("one page", new PageRequest(new long[] {64})));
        t.add(message("maximum count, every region, the layout's last page", new PageRequest(LongStream.concat(
                LongStream.concat(LongStream.range(0, 16), LongStream.range(64, 64 + 3776)),
                LongStream.rangeClosed(4_194_000, LAST_PAGE)).toArray())));
        t.add(message("nothing received yet", new PostcopyAck(0)));
        t.add(message("largest count", new PostcopyAck(Long.MAX_VALUE)));
        t.add(message("empty", new PostcopyEnd()));
        t.add(message("no vCPU", new PostcopyDone(0, 0, 0, new long[0])));
        t.add(message("maximum vCPUs, largest values", new PostcopyDone(Long.MAX_VALUE, Long.MAX_VALUE - 1,
                Long.MAX_VALUE, LongStream.range(0, Wire.MAX_VCPUS).map(i -> Long.MAX_VALUE - i).toArray())));
        t.add(message("one data connection", new StreamFrames.Streams(1)));
        t.add(message("sixteen data connections", new StreamFrames.Streams(16)));
        t.add(message("the first barrier", new StreamFrames.Sync(1)));
        t.add(message("a late barrier", new StreamFrames.Sync(Long.MAX_VALUE)));
        t.add(message("nothing missing", new Recover(0)));
        t.add(message("largest count", new Recover(Long.MAX_VALUE)));
        t.add(message("empty", new RecoverAck()));
        // Verification.
        t.add(message("one digest, at the layout's last page", new Digests(LAST_PAGE, new int[] {-1})));
        t.add(message("maximum count, digests with the sign bit set", new Digests(64, IntStream
                .range(0, VerifyFrames.MAX_DIGESTS).map(i -> i == 0 ? Integer.MIN_VALUE : i * 0x9E3779B9).toArray())));
        t.add(message("a zero run of one page", Digests.zeroRun(LAST_PAGE, 1)));
        t.add(message("a zero run of a whole region", Digests.zeroRun(64, 70_000)));
        t.add(message("no page", new DigestsEnd(0)));
        t.add(message("largest count", new DigestsEnd(Long.MAX_VALUE)));
        t.add(message("one mismatch of ten", new VerifyResult(10, 1, 4)));
        t.add(message("disk blocks checked, two differ", new VerifyResult(10, 0, -1, 264, 2)));
        t.add(message("no mismatch", new VerifyResult(LAYOUT.pageCount(), 0, -1)));
        t.add(message("every page mismatched", new VerifyResult(Long.MAX_VALUE, Long.MAX_VALUE, LAST_PAGE)));
        // Control.
        t.add(message("zero token", new Ping(0)));
        t.add(message("all-ones token", new Ping(-1)));
        t.add(message("a nanoTime token", new Pong(Long.MIN_VALUE + 12_345)));
        t.add(message("empty", new Keepalive()));
        for (Outcome outcome : Outcome.values()) {
            t.add(message(outcome.toString(), new Settled(outcome)));
        }
        t.add(message("bye", new Abort(AbortCode.CANCELLED, "bye")));
        for (AbortCode code : AbortCode.values()) {
            t.add(message(code + ", empty reason", new Abort(code, "")));
        }
        t.add(message("the longest reason sent, 200 characters", new Abort(AbortCode.TARGET_ERROR,
                "r".repeat(Abort.MAX_REASON_CHARS))));
        // Pages.
        t.add(new RoundTrip(FrameType.PAGES, "every encoding, holes skipped, layout's last page, a dropped entry",
                FrameRoundTripTest::assertPageBatchRoundTrips));
        return t;
    }

    @Test
    void roundTripTableCoversEveryFrameType() {
        EnumSet<FrameType> covered = EnumSet.noneOf(FrameType.class);
        table().forEach(r -> covered.add(r.type()));
        assertEquals(EnumSet.allOf(FrameType.class), covered, "frame types without a round trip");
    }

    @TestFactory
    Stream<DynamicTest> everyFrameTypeReadsBackEqualToWhatWasWritten() {
        return table().stream().map(RoundTrip::test);
    }

    /** One entry of a PAGES frame as the sink sees it. */
    private record Entry(long page, PageEncoding encoding, byte[] payload) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Entry e && e.page == page && e.encoding == encoding
                    && Arrays.equals(e.payload, payload);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(page) * 31 + Arrays.hashCode(payload);
        }

        @Override
        public String toString() {
            return "Entry[" + page + ", " + encoding + ", " + payload.length + " bytes]";
        }
    }

    private static void assertPageBatchRoundTrips() throws WireException {
        List<Entry> sent = List.of(
                new Entry(0, PageEncoding.ZERO, new byte[0]),
                new Entry(15, PageEncoding.RAW, pattern(PAGE_SIZE)),
                new Entry(64, PageEncoding.XBZRLE, new byte[] {7}),
                new Entry(65, PageEncoding.LZ4, pattern(PAGE_SIZE)),
                new Entry(70_063, PageEncoding.ZSTD, pattern(100)),
                new Entry(LAST_PAGE, PageEncoding.DEDUP, pattern(24)),
                new Entry(15, PageEncoding.ZERO, new byte[0]));
        EnumSet<PageEncoding> encodings = EnumSet.noneOf(PageEncoding.class);
        for (Entry e : sent) {
            assertTrue(e.encoding.acceptsPayloadLength(e.payload.length, PAGE_SIZE), "test entry is illegal: " + e);
            encodings.add(e.encoding);
        }
        assertEquals(EnumSet.allOf(PageEncoding.class), encodings, "page encodings missing from the batch");

        PageBatchWriter writer = new PageBatchWriter(FRAME_LIMIT);
        writer.begin(0xFFFF_FFFE);
        for (Entry e : sent) {
            writer.openEntry(e.page, PAGE_SIZE).put(e.payload);
            writer.commitEntry(e.encoding, e.payload.length);
            writer.openEntry(e.page + 1, PAGE_SIZE).put(pattern(PAGE_SIZE));
            writer.dropEntry();
        }
        assertEquals(sent.size(), writer.entries());
        byte[] frame = bytes(writer.finish());

        long allEncodings = 0;
        for (PageEncoding e : PageEncoding.values()) {
            allEncodings |= 1L << e.wireId();
        }
        List<Entry> received = new ArrayList<>();
        Frame reopened = open(frame);
        assertEquals(FrameType.PAGES, reopened.type());
        int round = new PageBatchReader(LAYOUT, allEncodings).read(reopened, (page, encoding, payload) ->
                received.add(new Entry(page, encoding, bytes(payload))));
        assertEquals(0xFFFF_FFFE, round);
        assertEquals(sent, received);
    }

    @Test
    void messageReadRefusesPagesFramesWhichPageBatchReaderReads() throws WireException {
        PageBatchWriter writer = new PageBatchWriter(FRAME_LIMIT);
        writer.begin(1);
        writer.openEntry(0, PAGE_SIZE);
        writer.commitEntry(PageEncoding.ZERO, 0);
        Frame pages = open(bytes(writer.finish()));
        assertThrows(IllegalArgumentException.class, () -> Message.read(pages, AFTER_SETUP));
    }

    @Test
    void pageSetSplitIntoBitmapChunksAtTheSmallestFrameLimitReassemblesExactly() throws WireException {
        PageSet missing = PageSet.allOf(LAYOUT);
        for (long page = 64; page < 70_064; page += 3) {
            missing.remove(page);
        }
        List<PageBitmap> chunks = PageBitmap.chunks(FrameType.MISSING_PAGES, missing, Wire.MIN_MAX_FRAME_BYTES);
        assertTrue(chunks.size() > 1, "expected several chunks, got " + chunks.size());
        PageSet received = new PageSet(LAYOUT.pageSpan());
        long cardinality = 0;
        FrameWriter writer = new FrameWriter(Wire.MIN_MAX_FRAME_BYTES);
        for (PageBitmap chunk : chunks) {
            PageBitmap back = (PageBitmap) Message.read(open(bytes(chunk.write(writer))), AFTER_SETUP);
            assertEquals(chunk, back);
            back.addTo(received);
            cardinality += back.cardinality();
        }
        assertEquals(missing, received);
        assertEquals(missing.cardinality(), cardinality);
    }

    @Test
    void anEmptyPageSetStillTravelsAsOneChunk() {
        List<PageBitmap> chunks = PageBitmap.chunks(FrameType.RECOVER_MISSING, new PageSet(LAYOUT.pageSpan()),
                FRAME_LIMIT);
        assertEquals(1, chunks.size());
        assertEquals(0, chunks.get(0).cardinality());
        assertEquals(0, chunks.get(0).firstPage());
    }

    @Test
    void abortReasonIsCutTo200CharactersAnd255Utf8Bytes() throws WireException {
        FrameWriter writer = new FrameWriter(FRAME_LIMIT);
        Abort tooLong = new Abort(AbortCode.SOURCE_ERROR, "x".repeat(300));
        assertEquals(new Abort(AbortCode.SOURCE_ERROR, "x".repeat(Abort.MAX_REASON_CHARS)),
                Message.read(open(bytes(tooLong.write(writer))), AFTER_SETUP));
        Abort wide = new Abort(AbortCode.PROTOCOL_ERROR, "é".repeat(Abort.MAX_REASON_CHARS));
        assertEquals(new Abort(AbortCode.PROTOCOL_ERROR, "é".repeat(Wire.MAX_STRING_BYTES / 2)),
                Message.read(open(bytes(wide.write(writer))), AFTER_SETUP));
    }

    @Test
    void stateFramesKeepTheirBytes() throws WireException {
        FrameWriter writer = new FrameWriter(FRAME_LIMIT);
        VcpuState s = new VcpuState(1, "fmt", new byte[] {1, 2, 3});
        assertEquals(new VcpuStateFrame(s), Message.read(open(bytes(new VcpuStateFrame(s).write(writer))),
                new Message.Context(LAYOUT, 2)));
        DeviceStateFrame dev = new DeviceStateFrame("workload", new byte[] {9, 8});
        DeviceStateFrame back = (DeviceStateFrame) Message.read(open(bytes(dev.write(writer))), AFTER_SETUP);
        assertEquals("workload", back.id());
        assertArrayEquals(dev.data(), back.data());
    }

    @Test
    void handshakeRecordsCopyTheirBytesAndRefuseWrongLengths() {
        byte[] id = SESSION_ID.clone();
        byte[] nonce = SOURCE_NONCE.clone();
        byte[] proof = PROOF.clone();
        Hello hello = new Hello(2, 2, 1 << 20, 6, Purpose.NEW, true, id, nonce);
        HelloAck ack = new HelloAck(2, 1 << 20, 6, true, nonce, proof);
        Auth auth = new Auth(proof);
        id[0] ^= 1;
        nonce[0] ^= 1;
        proof[0] ^= 1;
        assertArrayEquals(SESSION_ID, hello.sessionId());
        assertArrayEquals(SOURCE_NONCE, hello.nonce());
        assertArrayEquals(SOURCE_NONCE, ack.nonce());
        assertArrayEquals(PROOF, ack.proof());
        assertArrayEquals(PROOF, auth.proof());

        byte[] shortId = new byte[HandshakeFrames.SESSION_ID_BYTES - 1];
        byte[] longNonce = new byte[HandshakeFrames.NONCE_BYTES + 1];
        byte[] shortProof = new byte[HandshakeFrames.PROOF_BYTES - 1];
        assertThrows(IllegalArgumentException.class,
                () -> new Hello(2, 2, 1 << 20, 6, Purpose.NEW, true, shortId, SOURCE_NONCE));
        assertThrows(IllegalArgumentException.class,
                () -> new Hello(2, 2, 1 << 20, 6, Purpose.NEW, true, SESSION_ID, longNonce));
        assertThrows(NullPointerException.class,
                () -> new Hello(2, 2, 1 << 20, 6, null, true, SESSION_ID, SOURCE_NONCE));
        assertThrows(IllegalArgumentException.class, () -> new HelloAck(2, 1 << 20, 6, true, longNonce, PROOF));
        assertThrows(IllegalArgumentException.class,
                () -> new HelloAck(2, 1 << 20, 6, true, DESTINATION_NONCE, shortProof));
        assertThrows(IllegalArgumentException.class, () -> new Auth(shortProof));
        assertThrows(NullPointerException.class, () -> new Settled(null));
    }

    private static PageBitmap bitmapOfEveryPage(FrameType type) {
        List<PageBitmap> chunks = PageBitmap.chunks(type, PageSet.allOf(LAYOUT), FRAME_LIMIT);
        assertEquals(1, chunks.size());
        assertEquals(Wire.MAX_BITMAP_WORDS, chunks.get(0).words().length);
        return chunks.get(0);
    }

    private static long[] bitmapOf(long... pages) {
        long[] words = new long[(int) (LAYOUT.pageSpan() >>> 6)];
        for (long page : pages) {
            words[(int) (page >>> 6)] |= 1L << page;
        }
        return words;
    }

    private static byte[] filled(int length, int value) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return b;
    }

    private static byte[] pattern(int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 31 + 7);
        }
        return b;
    }
}
