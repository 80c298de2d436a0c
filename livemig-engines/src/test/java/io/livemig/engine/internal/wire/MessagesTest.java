package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.Strategy;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Every control message round-trips, and every one rejects a malformed copy of itself. */
class MessagesTest {

    private final FrameWriter writer = new FrameWriter(1 << 16);
    private final CRC32C crc = new CRC32C();

    private Frame reopen(ByteBuffer frame) throws WireException {
        ByteBuffer copy = ByteBuffer.allocate(frame.remaining());
        copy.put(frame.duplicate()).flip();
        return Frame.open(copy, crc);
    }

    private static ByteBuffer truncatePayload(ByteBuffer frame, int cut) {
        // Rebuild a shorter frame with a valid CRC, so that only the field check can catch it.
        ByteBuffer body = ByteBuffer.allocate(frame.remaining() - Wire.TRAILER_BYTES - cut);
        body.put(frame.duplicate().limit(frame.limit() - Wire.TRAILER_BYTES - cut)).flip();
        CRC32C c = new CRC32C();
        c.update(body.duplicate());
        ByteBuffer out = ByteBuffer.allocate(body.remaining() + 4);
        out.put(body).putInt((int) c.getValue()).flip();
        return out;
    }

    @Test
    void helloRoundTripsAndRejectsAForeignMagic() throws Exception {
        Messages.Hello hello = new Messages.Hello(1, 1, 1 << 20, 6);
        assertEquals(hello, Messages.Hello.read(reopen(hello.write(writer))));
        ByteBuffer bad = ByteBuffer.allocate(64);
        ByteBuffer frame = hello.write(writer);
        bad.put(frame.duplicate()).flip();
        bad.put(Wire.HEADER_BYTES, (byte) 'X');
        ByteBuffer fixed = truncatePayload(bad, 0);
        WireException e = assertThrows(WireException.class, () -> Messages.Hello.read(reopen(fixed)));
        assertEquals(Kind.INCOMPATIBLE, e.kind());
        assertThrows(WireException.class, () -> Messages.Hello.read(reopen(truncatePayload(hello.write(writer), 3))));
    }

    @Test
    void setupRoundTripsWithHolesAndDevices() throws Exception {
        VmDescriptor d = new VmDescriptor(new MemoryLayout(4096, List.of(new MemoryRegion(0, 10),
                new MemoryRegion(100, 5))), 3, List.of("workload", "net0"), "fmt-v1");
        Messages.Setup setup = new Messages.Setup(Strategy.HYBRID, true, true, d, 128);
        assertEquals(setup, Messages.Setup.read(reopen(setup.write(writer))));
        WireException e = assertThrows(WireException.class,
                () -> Messages.Setup.read(reopen(truncatePayload(setup.write(writer), 2))));
        assertEquals(Kind.TRUNCATED, e.kind());
    }

    @Test
    void setupRejectsOverlappingRegions() throws Exception {
        ByteBuffer b = writer.begin(FrameType.SETUP).put((byte) 1).put((byte) 0).putShort((short) 0);
        b.putInt(4096).putInt(2).putLong(0).putLong(10).putLong(5).putLong(10);
        b.putInt(1);
        FrameWriter.putString(b, "f");
        b.putInt(0).putInt(1);
        WireException e = assertThrows(WireException.class, () -> Messages.Setup.read(reopen(writer.finish())));
        assertEquals(Kind.INCOMPATIBLE, e.kind());
    }

    @Test
    void stateFramesRoundTripAndRejectTrailingBytes() throws Exception {
        VcpuState s = new VcpuState(1, "fmt", new byte[] {1, 2, 3});
        assertEquals(s, Messages.readVcpuState(reopen(Messages.writeVcpuState(writer, s)), 2));
        WireException outOfRange = assertThrows(WireException.class,
                () -> Messages.readVcpuState(reopen(Messages.writeVcpuState(writer, s)), 1));
        assertEquals(Kind.INCONSISTENT_LENGTH, outOfRange.kind());
        Messages.DeviceState dev = new Messages.DeviceState("workload", new byte[] {9, 8});
        Messages.DeviceState back = Messages.DeviceState.read(reopen(dev.write(writer)));
        assertEquals("workload", back.id());
        assertArrayEquals(dev.data(), back.data());
        ByteBuffer b = writer.begin(FrameType.COMMIT).putInt(1).putInt(1).putInt(0).put((byte) 0);
        WireException trailing = assertThrows(WireException.class, () -> Messages.Commit.read(reopen(writer.finish())));
        assertEquals(Kind.INCONSISTENT_LENGTH, trailing.kind());
    }

    @Test
    void verifyResultAndAbortRoundTrip() throws Exception {
        Messages.VerifyResult r = new Messages.VerifyResult(10, 1, 4);
        assertEquals(r, Messages.VerifyResult.read(reopen(r.write(writer))));
        Messages.VerifyResult nonsense = new Messages.VerifyResult(1, 5, 0);
        assertThrows(WireException.class, () -> Messages.VerifyResult.read(reopen(nonsense.write(writer))));
        Messages.Abort a = new Messages.Abort(Messages.Abort.CANCELLED, "bye");
        assertEquals(a, Messages.Abort.read(reopen(a.write(writer))));
    }

    @Test
    void invalidUtf8InAStringIsRejected() throws Exception {
        ByteBuffer b = writer.begin(FrameType.ABORT).putShort((short) 1).put((byte) 2).put((byte) 0xC3).put((byte) 0x28);
        WireException e = assertThrows(WireException.class, () -> Messages.Abort.read(reopen(writer.finish())));
        assertEquals(Kind.UNEXPECTED, e.kind());
    }

    @Test
    void nonZeroReservedHeaderBytesAreRejected() {
        ByteBuffer frame = Messages.writeEmpty(writer, FrameType.READY);
        ByteBuffer copy = ByteBuffer.allocate(frame.remaining());
        copy.put(frame).flip();
        copy.put(2, (byte) 1);
        ByteBuffer fixed = truncatePayload(copy, 0);
        assertThrows(WireException.class, () -> Frame.open(fixed, crc));
    }
}
