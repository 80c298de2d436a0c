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

    /** What a frame writer holds at first: most frames are far smaller than the frame limit. */
    static final int INITIAL_BYTES = 1 << 20;

    /** The largest frame this writer builds. */
    private final int maxFrameBytes;
    private ByteBuffer buffer;
    private ByteBuffer nativeView;
    private final CRC32C crc = new CRC32C();

    /** Whether the buffer starts small and grows when a {@link #write} needs more. */
    private final boolean growable;

    /**
     * A writer whose buffer holds the whole frame limit from the start, for callers that write
     * into {@link #begin}'s buffer directly.
     *
     * @param maxFrameBytes the largest frame this writer builds
     */
    public FrameWriter(int maxFrameBytes) {
        this(maxFrameBytes, false);
    }

    private FrameWriter(int maxFrameBytes, boolean growable) {
        this.maxFrameBytes = maxFrameBytes;
        this.growable = growable;
        allocate(growable ? Math.min(maxFrameBytes, INITIAL_BYTES) : maxFrameBytes);
    }

    /**
     * A writer for messages written through {@link #write} only (control frames): its buffer
     * holds {@code min(maxFrameBytes, 1 MiB)} at first and grows to the limit the first time a
     * message does not fit, which is then written again. A direct buffer of the 16 MiB limit costs
     * ~9 ms to allocate on a virtualised host (zeroing touches every page), and most control
     * frames are small.
     *
     * @param maxFrameBytes the largest frame this writer builds
     * @return the writer
     */
    public static FrameWriter growable(int maxFrameBytes) {
        return new FrameWriter(maxFrameBytes, true);
    }

    private void allocate(int bytes) {
        buffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.BIG_ENDIAN);
        nativeView = buffer.duplicate().order(ByteOrder.nativeOrder());
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
            if (growable && buffer.capacity() < maxFrameBytes) {
                allocate(maxFrameBytes);
                return write(message);
            }
            throw new IllegalArgumentException(message.type() + " frame does not fit in the " + capacity()
                    + "-byte frame limit", e);
        }
    }

    /**
     * Puts {@code values} as big-endian u64s at {@code b}'s position, in one bulk copy (a
     * bitmap's thousands of words are written once per migration, by the interpreter).
     *
     * @param b      the frame's buffer, big-endian
     * @param values the values
     * @return {@code b}, positioned after them
     * @throws java.nio.BufferOverflowException if they do not fit
     */
    public static ByteBuffer putLongs(ByteBuffer b, long[] values) {
        b.asLongBuffer().put(values);
        return b.position(b.position() + 8 * values.length);
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

    /**
     * @return the room left for payload in the current frame up to the frame limit, trailer
     *         reserved (a growable writer's buffer may hold less: a message that writes more is
     *         written again into a buffer of the limit)
     */
    public int payloadRoom() {
        return maxFrameBytes - buffer.position() - Wire.TRAILER_BYTES;
    }

    /** @return the capacity: the largest frame this writer builds */
    public int capacity() {
        return maxFrameBytes;
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
