package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.engine.internal.wire.HandshakeFrames.Ready;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.zip.CRC32C;

import static io.livemig.engine.internal.wire.WireFixtures.FRAME_LIMIT;
import static io.livemig.engine.internal.wire.WireFixtures.bytes;
import static io.livemig.engine.internal.wire.WireFixtures.hello;
import static io.livemig.engine.internal.wire.WireFixtures.open;
import static io.livemig.engine.internal.wire.WireFixtures.patched;
import static io.livemig.engine.internal.wire.WireFixtures.withCrc;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * What {@link Frame#open} refuses before any payload is looked at (docs/protocol.md, section 2):
 * a CRC32C that does not match, checked first; type 0 and unknown types; non-zero flags and
 * reserved bytes; a frame shorter than header and trailer. {@link FrameRejectionTest} covers the
 * payloads of every frame type.
 */
class FrameHeaderRejectionTest {

    private final FrameWriter writer = new FrameWriter(FRAME_LIMIT);

    private static Kind rejection(byte[] frame) {
        return assertThrows(WireException.class, () -> open(frame)).kind();
    }

    @Test
    void aFlippedPayloadBitFailsTheCrc() {
        byte[] hello = bytes(hello(2, 2, 1 << 20, 6).write(writer));
        for (int at = 0; at < hello.length; at++) {
            byte[] corrupt = hello.clone();
            corrupt[at] ^= 0x10;
            assertEquals(Kind.CORRUPT_FRAME, rejection(corrupt), "bit 4 flipped at byte " + at);
        }
    }

    @Test
    void theCrcIsCheckedBeforeTheTypeAndHeader() {
        byte[] typeZero = withCrc(new byte[] {0, 0, 0, 0});
        typeZero[typeZero.length - 1] ^= 1;
        assertEquals(Kind.CORRUPT_FRAME, rejection(typeZero));
        byte[] flags = withCrc(new byte[] {(byte) FrameType.READY.code(), 1, 0, 0});
        flags[flags.length - 1] ^= 1;
        assertEquals(Kind.CORRUPT_FRAME, rejection(flags));
    }

    @Test
    void typeZeroIsReservedAsInvalid() {
        assertEquals(Kind.UNEXPECTED, rejection(withCrc(new byte[] {0, 0, 0, 0})));
        assertEquals(Kind.UNEXPECTED, rejection(withCrc(new byte[] {0, 0, 0, 0, 1, 2, 3})));
    }

    @Test
    void everyUnknownTypeIsRejected() {
        int unknown = 0;
        for (int code = 1; code < 256; code++) {
            if (FrameType.fromCode(code) == null) {
                unknown++;
                assertEquals(Kind.UNEXPECTED, rejection(withCrc(new byte[] {(byte) code, 0, 0, 0})),
                        String.format("type 0x%02x", code));
            }
        }
        assertEquals(255 - FrameType.values().length, unknown);
    }

    @Test
    void nonZeroFlagsAreRejectedForEveryType() {
        for (FrameType type : FrameType.values()) {
            for (int flags : new int[] {1, 0x80}) {
                assertEquals(Kind.UNEXPECTED, rejection(withCrc(new byte[] {(byte) type.code(), (byte) flags, 0, 0})),
                        type + " with flags " + flags);
            }
        }
    }

    @Test
    void nonZeroReservedHeaderBytesAreRejected() {
        byte[] ready = bytes(new Ready().write(writer));
        assertEquals(Kind.UNEXPECTED, rejection(patched(ready, 2, (byte) 1)));
        assertEquals(Kind.UNEXPECTED, rejection(patched(ready, 3, (byte) 1)));
    }

    @Test
    void aFrameShorterThanHeaderAndTrailerIsTruncated() {
        assertEquals(Kind.TRUNCATED, rejection(new byte[0]));
        byte[] ready = bytes(new Ready().write(writer));
        assertEquals(Wire.MIN_FRAME_BYTES, ready.length);
        assertEquals(Kind.TRUNCATED, rejection(Arrays.copyOf(ready, Wire.MIN_FRAME_BYTES - 1)));
    }

    @Test
    void aFrameIsOpenedBetweenItsBuffersPositionAndLimit() throws WireException {
        byte[] ready = bytes(new Ready().write(writer));
        ByteBuffer inside = ByteBuffer.allocate(ready.length + 6);
        inside.position(3);
        inside.put(ready).flip().position(3);
        Frame frame = Frame.open(inside, new CRC32C());
        assertEquals(FrameType.READY, frame.type());
        assertEquals(0, frame.remaining());
    }
}
