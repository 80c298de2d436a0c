package io.livemig.engine.internal.wire;

import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.zip.CRC32C;

/**
 * What the wire tests share: a layout with holes and a far end, and frames built or rebuilt
 * byte by byte with a freshly computed CRC32C, so that a malformed frame passes
 * {@link Frame#open} and only the field checks can catch it. Frames are byte arrays: copies,
 * never views of a writer's reused buffer.
 */
final class WireFixtures {

    private WireFixtures() {
    }

    /** The page size of {@link #LAYOUT}, in bytes. */
    static final int PAGE_SIZE = 4096;

    /**
     * RAM at pages [0, 16), [64, 70 064) and [4 194 000, 4 194 304): a hole from 16 to 64 (inside
     * the first bitmap word), a large one after 70 064, and a span of exactly 2^22 pages, so that
     * a bitmap of the whole span has the maximum {@link Wire#MAX_BITMAP_WORDS} words and the
     * middle region holds a run of {@link VerifyFrames#MAX_DIGESTS} pages.
     */
    static final MemoryLayout LAYOUT = new MemoryLayout(PAGE_SIZE, List.of(new MemoryRegion(0, 16),
            new MemoryRegion(64, 70_000), new MemoryRegion(4_194_000, 304)));

    /** The first page of the first hole of {@link #LAYOUT}. */
    static final long HOLE_PAGE = 16;

    /** The last RAM page of {@link #LAYOUT}. */
    static final long LAST_PAGE = LAYOUT.pageSpan() - 1;

    /** vCPUs announced with {@link #LAYOUT}. */
    static final int VCPUS = 4;

    /** Disks announced with {@link #LAYOUT}: 256 blocks of 4 KiB, and 8 blocks of 512 bytes. */
    static final List<io.livemig.spi.DiskDescriptor> DISKS = List.of(
            new io.livemig.spi.DiskDescriptor("vda", 256 * 4096, 4096),
            new io.livemig.spi.DiskDescriptor("vdb", 8 * 512, 512));

    /** What a receiver knows after SETUP. */
    static final Message.Context AFTER_SETUP = new Message.Context(LAYOUT, VCPUS, DISKS);

    /** The frame limit the tests write with: room for a bitmap of the maximum word count. */
    static final int FRAME_LIMIT = 1 << 20;

    /** A session id: bytes 0x10 to 0x1F, so that its place in a frame shows in hex. */
    static final byte[] SESSION_ID = ascending(0x10, HandshakeFrames.SESSION_ID_BYTES);

    /** A source nonce: bytes 0x20 to 0x3F. */
    static final byte[] SOURCE_NONCE = ascending(0x20, HandshakeFrames.NONCE_BYTES);

    /** A destination nonce: bytes 0x40 to 0x5F. */
    static final byte[] DESTINATION_NONCE = ascending(0x40, HandshakeFrames.NONCE_BYTES);

    /** A proof: bytes 0x60 to 0x7F. */
    static final byte[] PROOF = ascending(0x60, HandshakeFrames.PROOF_BYTES);

    /** @return {@code length} bytes counting up from {@code first} */
    static byte[] ascending(int first, int length) {
        byte[] out = new byte[length];
        for (int i = 0; i < length; i++) {
            out[i] = (byte) (first + i);
        }
        return out;
    }

    /**
     * @return a HELLO for a new migration, with the auth flag, {@link #SESSION_ID} and
     * {@link #SOURCE_NONCE}: the fields a row does not vary
     */
    static HandshakeFrames.Hello hello(int minVersion, int maxVersion, int maxFrameBytes, long encodings) {
        return new HandshakeFrames.Hello(minVersion, maxVersion, maxFrameBytes, encodings,
                HandshakeFrames.Purpose.NEW, true, SESSION_ID, SOURCE_NONCE);
    }

    /** @return a HELLO_ACK with the auth flag, {@link #DESTINATION_NONCE} and {@link #PROOF} */
    static HandshakeFrames.HelloAck helloAck(int version, int maxFrameBytes, long encodings) {
        return new HandshakeFrames.HelloAck(version, maxFrameBytes, encodings, true, DESTINATION_NONCE, PROOF);
    }

    /** @return a copy of the frame between the buffer's position and limit */
    static byte[] bytes(ByteBuffer frame) {
        byte[] out = new byte[frame.remaining()];
        frame.duplicate().get(out);
        return out;
    }

    /** Opens a copy of {@code frame}, as a receiver would. */
    static Frame open(byte[] frame) throws WireException {
        return Frame.open(ByteBuffer.wrap(frame.clone()), new CRC32C());
    }

    /** @return {@code headerAndPayload} followed by its CRC32C: a frame whose CRC is valid */
    static byte[] withCrc(byte[] headerAndPayload) {
        CRC32C crc = new CRC32C();
        crc.update(headerAndPayload);
        byte[] out = Arrays.copyOf(headerAndPayload, headerAndPayload.length + Wire.TRAILER_BYTES);
        ByteBuffer.wrap(out).putInt(headerAndPayload.length, (int) crc.getValue());
        return out;
    }

    /**
     * Builds a frame by hand, independently of {@link FrameWriter}.
     *
     * @param type    the frame type, with zero flags and reserved bytes
     * @param payload puts the payload (big-endian) into the buffer it is given
     * @return the frame, with a valid CRC
     */
    static byte[] frame(FrameType type, Consumer<ByteBuffer> payload) {
        ByteBuffer b = ByteBuffer.allocate(FRAME_LIMIT).order(ByteOrder.BIG_ENDIAN);
        b.put((byte) type.code()).put((byte) 0).putShort((short) 0);
        payload.accept(b);
        b.flip();
        byte[] body = new byte[b.remaining()];
        b.get(body);
        return withCrc(body);
    }

    /** @return the payload of {@code frame}: what lies between header and CRC */
    static byte[] payload(byte[] frame) {
        return Arrays.copyOfRange(frame, Wire.HEADER_BYTES, frame.length - Wire.TRAILER_BYTES);
    }

    /** @return {@code frame} with its last {@code cut} payload bytes removed and its CRC recomputed */
    static byte[] truncated(byte[] frame, int cut) {
        return withCrc(Arrays.copyOf(frame, frame.length - Wire.TRAILER_BYTES - cut));
    }

    /**
     * @param at an offset in the frame (the header counts)
     * @return {@code frame} cut to its first {@code at} bytes, with its CRC recomputed
     */
    static byte[] cutAt(byte[] frame, int at) {
        return withCrc(Arrays.copyOf(frame, at));
    }

    /** @return {@code frame} with {@code extra} appended to its payload and its CRC recomputed */
    static byte[] extended(byte[] frame, byte... extra) {
        int end = frame.length - Wire.TRAILER_BYTES;
        byte[] body = Arrays.copyOf(frame, end + extra.length);
        System.arraycopy(extra, 0, body, end, extra.length);
        return withCrc(body);
    }

    /**
     * @param at    an offset in the frame (the header counts: the payload starts at {@link Wire#HEADER_BYTES})
     * @param bytes the bytes to put there
     * @return a copy of {@code frame} with {@code bytes} at {@code at} and its CRC recomputed
     */
    static byte[] patched(byte[] frame, int at, byte... bytes) {
        byte[] body = Arrays.copyOf(frame, frame.length - Wire.TRAILER_BYTES);
        System.arraycopy(bytes, 0, body, at, bytes.length);
        return withCrc(body);
    }

    /** @return {@code value} as 8 big-endian bytes */
    static byte[] u64(long value) {
        return ByteBuffer.allocate(8).putLong(value).array();
    }

    /** @return {@code value} as 4 big-endian bytes */
    static byte[] u32(long value) {
        return ByteBuffer.allocate(4).putInt((int) value).array();
    }

    /**
     * @param utf8Bytes the length wanted, in UTF-8 bytes
     * @return a string of exactly that many UTF-8 bytes, mostly two- and three-byte characters
     */
    static String stringOfUtf8Bytes(int utf8Bytes) {
        StringBuilder s = new StringBuilder();
        int left = utf8Bytes;
        while (left >= 3) {
            s.append(left % 2 == 0 ? "é" : "€");
            left -= left % 2 == 0 ? 2 : 3;
        }
        s.append("x".repeat(left));
        String out = s.toString();
        if (out.getBytes(StandardCharsets.UTF_8).length != utf8Bytes) {
            throw new AssertionError("fixture built " + out.getBytes(StandardCharsets.UTF_8).length + " bytes");
        }
        return out;
    }
}
