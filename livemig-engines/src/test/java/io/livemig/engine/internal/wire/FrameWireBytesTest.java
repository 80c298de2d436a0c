package io.livemig.engine.internal.wire;

import io.livemig.api.Strategy;
import io.livemig.compress.PageEncoding;
import io.livemig.engine.internal.wire.ControlFrames.Abort;
import io.livemig.engine.internal.wire.ControlFrames.AbortCode;
import io.livemig.engine.internal.wire.ControlFrames.Outcome;
import io.livemig.engine.internal.wire.ControlFrames.Settled;
import io.livemig.engine.internal.wire.HandshakeFrames.Auth;
import io.livemig.engine.internal.wire.HandshakeFrames.Hello;
import io.livemig.engine.internal.wire.HandshakeFrames.HelloAck;
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import io.livemig.engine.internal.wire.HandshakeFrames.Ready;
import io.livemig.engine.internal.wire.HandshakeFrames.Setup;
import io.livemig.engine.internal.wire.SwitchoverFrames.Commit;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

import static io.livemig.engine.internal.wire.WireFixtures.DESTINATION_NONCE;
import static io.livemig.engine.internal.wire.WireFixtures.FRAME_LIMIT;
import static io.livemig.engine.internal.wire.WireFixtures.PROOF;
import static io.livemig.engine.internal.wire.WireFixtures.SESSION_ID;
import static io.livemig.engine.internal.wire.WireFixtures.SOURCE_NONCE;
import static io.livemig.engine.internal.wire.WireFixtures.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The bytes of protocol v2 as docs/protocol.md writes them down: frame type codes, a few whole
 * frames (header, big-endian fields, CRC32C trailer, each CRC computed independently of
 * java.util.zip, with a bitwise and a table-driven CRC-32C outside Java that agree), and the
 * explicit codes inside payloads (HELLO's purpose and flags, HELLO_ACK's flags, SETTLED's
 * outcome, SETUP's strategy and flags, ABORT's code, COMMIT's flag, a PAGES entry's encoding).
 * A change here is a protocol change.
 */
class FrameWireBytesTest {

    private static final HexFormat HEX = HexFormat.of().withUpperCase();

    private final FrameWriter writer = new FrameWriter(FRAME_LIMIT);

    /** @return the frame as upper-case hex, header, payload and CRC separated by spaces */
    private static String hex(byte[] frame) {
        return HEX.formatHex(frame, 0, Wire.HEADER_BYTES) + " "
                + HEX.formatHex(frame, Wire.HEADER_BYTES, frame.length - Wire.TRAILER_BYTES) + " "
                + HEX.formatHex(frame, frame.length - Wire.TRAILER_BYTES, frame.length);
    }

    private String written(Message message) {
        return hex(bytes(message.write(writer)));
    }

    @Test
    void frameTypeCodesAreTheTableOfProtocolMd() {
        Map<FrameType, Integer> table = new EnumMap<>(FrameType.class);
        table.put(FrameType.HELLO, 0x01);
        table.put(FrameType.SETUP, 0x02);
        table.put(FrameType.PAGES, 0x03);
        table.put(FrameType.SWITCHOVER, 0x04);
        table.put(FrameType.VCPU_STATE, 0x05);
        table.put(FrameType.DEVICE_STATE, 0x06);
        table.put(FrameType.COMMIT, 0x07);
        table.put(FrameType.DIGESTS, 0x08);
        table.put(FrameType.DIGESTS_END, 0x09);
        table.put(FrameType.MISSING_PAGES, 0x0A);
        table.put(FrameType.POSTCOPY_END, 0x0B);
        table.put(FrameType.RECOVER_ACK, 0x0C);
        table.put(FrameType.PING, 0x0D);
        table.put(FrameType.AUTH, 0x0E);
        table.put(FrameType.STREAMS, 0x0F);
        table.put(FrameType.SYNC, 0x10);
        table.put(FrameType.DISK_BLOCKS, 0x11);
        table.put(FrameType.DISK_FLUSH, 0x12);
        table.put(FrameType.DISK_VERIFY, 0x13);
        table.put(FrameType.DISK_SETUP, 0x14);
        table.put(FrameType.DISK_MISSING, 0x15);
        table.put(FrameType.DEVICE_DATA, 0x16);
        table.put(FrameType.CHECKPOINT, 0x17);
        table.put(FrameType.LOG_SEGMENT, 0x18);
        table.put(FrameType.HELLO_ACK, 0x41);
        table.put(FrameType.READY, 0x42);
        table.put(FrameType.RESUMED, 0x43);
        table.put(FrameType.VERIFY_RESULT, 0x44);
        table.put(FrameType.PAGE_REQUEST, 0x45);
        table.put(FrameType.POSTCOPY_DONE, 0x46);
        table.put(FrameType.RECOVER_MISSING, 0x47);
        table.put(FrameType.RECOVER, 0x48);
        table.put(FrameType.POSTCOPY_ACK, 0x49);
        table.put(FrameType.KEEPALIVE, 0x4A);
        table.put(FrameType.PONG, 0x4B);
        table.put(FrameType.SETTLED, 0x4C);
        table.put(FrameType.DISK_FLUSHED, 0x4D);
        table.put(FrameType.DISK_DIGESTS, 0x4E);
        table.put(FrameType.DISK_PLAN, 0x4F);
        table.put(FrameType.BLOCK_REQUEST, 0x50);
        table.put(FrameType.REPLAYED, 0x51);
        table.put(FrameType.ABORT, 0x7F);
        assertEquals(FrameType.values().length, table.size(), "a frame type is missing from this table");
        for (FrameType type : FrameType.values()) {
            assertEquals(table.get(type), type.code(), type.name());
            assertEquals(type, FrameType.fromCode(type.code()));
            boolean forward = type.code() < 0x40 || type == FrameType.ABORT;
            boolean returning = type.code() >= 0x40;
            assertEquals(forward, type.forward(), type + " may arrive on the forward stream");
            assertEquals(returning, type.returning(), type + " may arrive on the return path");
        }
        assertEquals(null, FrameType.fromCode(0), "0 is reserved as invalid");
    }

    @Test
    void crcIsCastagnoli() {
        CRC32C crc = new CRC32C();
        crc.update("123456789".getBytes(StandardCharsets.US_ASCII));
        assertEquals(0xE3069283L, crc.getValue(), "the CRC-32C check value (RFC 3720)");
    }

    @Test
    void thisBuildSpeaksVersion6() {
        assertEquals(6, Wire.VERSION);
    }

    @Test
    void helloIsMagicVersionsFrameLimitEncodingsPurposeFlagsSessionIdAndNonce() {
        assertEquals("01000000 4C564D47" + "0002" + "0002" + "01000000" + "0000000000000006"
                        + "03" + "01" + "0000" + "101112131415161718191A1B1C1D1E1F"
                        + "202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F" + " 1E7E981F",
                written(new Hello(2, 2, Wire.DEFAULT_MAX_FRAME_BYTES, 0b110, Purpose.SETTLE, true, SESSION_ID,
                        SOURCE_NONCE)));
    }

    @Test
    void helloAckHasAZeroReservedFieldAfterTheVersionThenFlagsReservedNonceAndProof() {
        assertEquals("41000000 4C564D47" + "0002" + "0000" + "00010000" + "0000000000000006"
                        + "01" + "00" + "0000" + "404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F"
                        + "606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F" + " BDCBF9D9",
                written(new HelloAck(2, Wire.MIN_MAX_FRAME_BYTES, 0b110, true, DESTINATION_NONCE, PROOF)));
    }

    @Test
    void helloPurposeByteIs1New2Recover3Settle4Stream5DiskSync() {
        Map<Purpose, Integer> codes = Map.of(Purpose.NEW, 1, Purpose.RECOVER, 2, Purpose.SETTLE, 3, Purpose.STREAM, 4,
                Purpose.DISK_SYNC, 5);
        assertEquals(Purpose.values().length, codes.size(), "a purpose is missing from this table");
        for (Purpose purpose : Purpose.values()) {
            byte[] frame = bytes(new Hello(2, 2, 1 << 20, 6, purpose, false, SESSION_ID, SOURCE_NONCE).write(writer));
            assertEquals(codes.get(purpose), frame[Wire.HEADER_BYTES + 20] & 0xFF, purpose.name());
            assertEquals(codes.get(purpose), purpose.code(), purpose.name());
        }
    }

    @Test
    void authFlagIsBit0OfHelloAndHelloAck() {
        int helloFlagsAt = Wire.HEADER_BYTES + 21;
        int ackFlagsAt = Wire.HEADER_BYTES + 20;
        assertEquals(1, HandshakeFrames.FLAG_AUTH);
        assertEquals(0, bytes(new Hello(2, 2, 1 << 20, 6, Purpose.NEW, false, SESSION_ID, SOURCE_NONCE)
                .write(writer))[helloFlagsAt]);
        assertEquals(1, bytes(new Hello(2, 2, 1 << 20, 6, Purpose.NEW, true, SESSION_ID, SOURCE_NONCE)
                .write(writer))[helloFlagsAt]);
        assertEquals(0, bytes(new HelloAck(2, 1 << 20, 6, false, DESTINATION_NONCE, PROOF)
                .write(writer))[ackFlagsAt]);
        assertEquals(1, bytes(new HelloAck(2, 1 << 20, 6, true, DESTINATION_NONCE, PROOF)
                .write(writer))[ackFlagsAt]);
    }

    @Test
    void authIsTheProofAlone() {
        assertEquals("0E000000 " + "606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F" + " 2913518B",
                written(new Auth(PROOF)));
    }

    @Test
    void settledIsOneOutcomeByte1Resumed2Discarded() {
        assertEquals("4C000000 01 A56A2AB9", written(new Settled(Outcome.RESUMED)));
        assertEquals("4C000000 02 B63AD94D", written(new Settled(Outcome.DISCARDED)));
        Map<Outcome, Integer> codes = Map.of(Outcome.RESUMED, 1, Outcome.DISCARDED, 2);
        assertEquals(Outcome.values().length, codes.size(), "an outcome is missing from this table");
        for (Outcome outcome : Outcome.values()) {
            assertEquals(codes.get(outcome), outcome.code(), outcome.name());
        }
    }

    @Test
    void setupIsStrategyFlagsLayoutVcpusDevicesBatchAndDisks() {
        VmDescriptor d = new VmDescriptor(new MemoryLayout(4096, List.of(new MemoryRegion(0, 10),
                new MemoryRegion(100, 5))), 3, List.of("workload", "net0"), "fmt-v1");
        assertEquals("02000000 " + "04" + "03" + "0000" + "00001000" + "00000002"
                        + "0000000000000000" + "000000000000000A" + "0000000000000064" + "0000000000000005"
                        + "00000003" + "06" + "666D742D7631"
                        + "00000002" + "08" + "776F726B6C6F6164" + "04" + "6E657430"
                        + "00000080" + "00000000" + " 676514DA",
                written(new Setup(Strategy.HYBRID, true, true, d, 128)));
    }

    @Test
    void setupStrategyByteIs1Cold2Precopy3Postcopy4Hybrid5TraceReplay() {
        Map<Strategy, Integer> codes = Map.of(Strategy.COLD, 1, Strategy.PRECOPY, 2, Strategy.POSTCOPY, 3,
                Strategy.HYBRID, 4, Strategy.TRACE_REPLAY, 5);
        assertEquals(Strategy.values().length, codes.size(), "a strategy is missing from this table");
        VmDescriptor d = new VmDescriptor(MemoryLayout.contiguous(4096, 4096), 1, List.of(), "f");
        for (Strategy strategy : Strategy.values()) {
            byte[] frame = bytes(new Setup(strategy, false, false, d, 1).write(writer));
            assertEquals(codes.get(strategy), frame[Wire.HEADER_BYTES] & 0xFF, strategy.name());
        }
    }

    @Test
    void setupFlagsAreBit0VerifyAndBit1MayPostcopy() {
        VmDescriptor d = new VmDescriptor(MemoryLayout.contiguous(4096, 4096), 1, List.of(), "f");
        int flagsAt = Wire.HEADER_BYTES + 1;
        assertEquals(0, bytes(new Setup(Strategy.COLD, false, false, d, 1).write(writer))[flagsAt]);
        assertEquals(1, bytes(new Setup(Strategy.COLD, true, false, d, 1).write(writer))[flagsAt]);
        assertEquals(2, bytes(new Setup(Strategy.COLD, false, true, d, 1).write(writer))[flagsAt]);
        assertEquals(3, bytes(new Setup(Strategy.COLD, true, true, d, 1).write(writer))[flagsAt]);
    }

    @Test
    void abortIsCodeAndReason() {
        assertEquals("7F000000 " + "0002" + "0178" + " 00B0D2F3", written(new Abort(AbortCode.PROTOCOL_ERROR, "x")));
    }

    @Test
    void abortCodeIs1Cancelled2Protocol3Target4Source() {
        Map<AbortCode, Integer> codes = Map.of(AbortCode.CANCELLED, 1, AbortCode.PROTOCOL_ERROR, 2,
                AbortCode.TARGET_ERROR, 3, AbortCode.SOURCE_ERROR, 4);
        assertEquals(AbortCode.values().length, codes.size(), "an abort code is missing from this table");
        for (AbortCode code : AbortCode.values()) {
            byte[] frame = bytes(new Abort(code, "").write(writer));
            int onTheWire = ((frame[Wire.HEADER_BYTES] & 0xFF) << 8) | (frame[Wire.HEADER_BYTES + 1] & 0xFF);
            assertEquals(codes.get(code), onTheWire, code.name());
            assertEquals(codes.get(code), code.code(), code.name());
        }
    }

    @Test
    void commitIsCountsAndBit0Postcopy() {
        assertEquals("07000000 " + "00000002" + "00000001" + "00000001" + " B067603C", written(new Commit(2, 1, true)));
    }

    @Test
    void emptyFramesAreHeaderAndCrcOnly() {
        assertEquals("42000000  5CA637A1", written(new Ready()));
    }

    @Test
    void pagesEntryIsPageEncodingLengthPayload() {
        PageBatchWriter pages = new PageBatchWriter(FRAME_LIMIT);
        pages.begin(3);
        pages.openEntry(0x102, 4096);
        pages.commitEntry(PageEncoding.ZERO, 0);
        assertEquals("03000000 " + "00000003" + "00000001" + "0000000000000102" + "01" + "00000000" + " A1CE53BB",
                hex(bytes(pages.finish())));
    }

    @Test
    void pagesEncodingByteIs1Zero2Raw3Xbzrle4Lz45Zstd6Dedup() {
        Map<PageEncoding, Integer> ids = Map.of(PageEncoding.ZERO, 1, PageEncoding.RAW, 2, PageEncoding.XBZRLE, 3,
                PageEncoding.LZ4, 4, PageEncoding.ZSTD, 5, PageEncoding.DEDUP, 6);
        assertEquals(PageEncoding.values().length, ids.size(), "an encoding is missing from this table");
        PageBatchWriter pages = new PageBatchWriter(FRAME_LIMIT);
        int entryAt = Wire.HEADER_BYTES + Wire.PAGES_HEADER_BYTES;
        for (PageEncoding encoding : PageEncoding.values()) {
            pages.begin(0);
            pages.openEntry(0, 4096);
            pages.commitEntry(encoding, 0);
            byte[] frame = bytes(pages.finish());
            assertEquals(ids.get(encoding), frame[entryAt + 8] & 0xFF, encoding.name());
        }
    }
}
