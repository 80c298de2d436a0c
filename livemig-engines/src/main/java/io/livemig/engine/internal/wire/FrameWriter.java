package io.livemig.engine.internal.wire;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

/**
 * Builds frames in one reusable direct buffer: {@link #begin} writes the header, the caller puts
 * the payload (big-endian fields), {@link #finish} appends the CRC32C and returns the buffer ready
 * to send. Not thread-safe: one writer per sending thread.
 */
public final class FrameWriter {

    private final ByteBuffer buffer;
    private final ByteBuffer nativeView;
    private final CRC32C crc = new CRC32C();

    /** @param maxFrameBytes the largest frame this writer builds */
    public FrameWriter(int maxFrameBytes) {
        this.buffer = ByteBuffer.allocateDirect(maxFrameBytes).order(ByteOrder.BIG_ENDIAN);
        this.nativeView = buffer.duplicate().order(ByteOrder.nativeOrder());
    }

    /**
     * @return a native-order view of the same memory, for word-wise scans of page data in the
     *         frame (absolute access only; its position and limit mean nothing)
     */
    public ByteBuffer nativeView() {
        return nativeView;
    }

    /**
     * Starts a frame.
     *
     * @param type the frame type
     * @return the buffer, positioned after the header; put the payload, then call {@link #finish()}
     */
    public ByteBuffer begin(FrameType type) {
        buffer.clear();
        buffer.put((byte) type.code()).put((byte) 0).putShort((short) 0);
        return buffer;
    }

    /**
     * Writes {@code message} as one frame.
     *
     * @return the buffer, flipped: the whole frame
     * @throws IllegalArgumentException if the message does not fit in this writer's frame limit
     */
    public ByteBuffer write(Message message) {
        try {
            return message.write(this);
        } catch (java.nio.BufferOverflowException e) {
            throw new IllegalArgumentException(message.type() + " frame does not fit in the " + capacity()
                    + "-byte frame limit", e);
        }
    }

    /**
     * Writes a frame with an empty payload (READY, SWITCHOVER, KEEPALIVE, ...).
     *
     * @return the buffer, flipped: the whole frame
     */
    public ByteBuffer empty(FrameType type) {
        begin(type);
        return finish();
    }

    /**
     * Writes a frame whose payload is one u64 (PING, PONG, POSTCOPY_ACK, RECOVER, DIGESTS_END).
     *
     * @return the buffer, flipped: the whole frame
     */
    public ByteBuffer single(FrameType type, long value) {
        begin(type).putLong(value);
        return finish();
    }

    /** @return the room left for payload in the current frame, trailer reserved */
    public int payloadRoom() {
        return buffer.capacity() - buffer.position() - Wire.TRAILER_BYTES;
    }

    /** @return the capacity: the largest frame this writer builds */
    public int capacity() {
        return buffer.capacity();
    }

    /**
     * Ends the frame: appends the CRC32C of everything before it.
     *
     * @return the buffer, flipped: position 0, limit at the frame's end
     */
    public ByteBuffer finish() {
        int end = buffer.position();
        crc.reset();
        crc.update(buffer.duplicate().flip());
        buffer.putInt(end, (int) crc.getValue());
        buffer.position(0).limit(end + Wire.TRAILER_BYTES);
        return buffer;
    }

    /**
     * Puts a string as u8 length + UTF-8 bytes.
     *
     * @throws IllegalArgumentException if longer than {@link Wire#MAX_STRING_BYTES} bytes
     */
    public static void putString(ByteBuffer b, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > Wire.MAX_STRING_BYTES) {
            throw new IllegalArgumentException("string field longer than " + Wire.MAX_STRING_BYTES + " bytes: " + s);
        }
        b.put((byte) bytes.length).put(bytes);
    }

    /** @return the bytes {@link #putString} takes for {@code s} */
    public static int stringBytes(String s) {
        return 1 + s.getBytes(StandardCharsets.UTF_8).length;
    }
}
