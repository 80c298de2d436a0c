package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

/**
 * A received frame whose CRC and type have been checked, with bounds-checked readers for its
 * payload: every read past the end, every length that disagrees, every malformed string ends in
 * a {@link WireException} before anything is acted on.
 *
 * <p>The frame is a view over the receive buffer: valid until the next receive. Not thread-safe.
 */
public final class Frame {

    private final FrameType type;
    private final ByteBuffer payload;

    private Frame(FrameType type, ByteBuffer payload) {
        this.type = type;
        this.payload = payload;
    }

    /**
     * Checks and opens a received message.
     *
     * @param message the bytes between position and limit are the frame
     * @param crc     a CRC32C to reuse
     * @return the frame
     * @throws WireException if it is too short, its CRC does not match, its type is unknown, or its
     *                       reserved header fields are not zero
     */
    public static Frame open(ByteBuffer message, CRC32C crc) throws WireException {
        int length = message.remaining();
        if (length < Wire.MIN_FRAME_BYTES) {
            throw new WireException(Kind.TRUNCATED, "frame of " + length + " bytes is shorter than the "
                    + Wire.MIN_FRAME_BYTES + "-byte minimum");
        }
        int start = message.position();
        int end = message.limit();
        crc.reset();
        crc.update(message.duplicate().limit(end - Wire.TRAILER_BYTES));
        int expected = message.duplicate().order(ByteOrder.BIG_ENDIAN).getInt(end - Wire.TRAILER_BYTES);
        if ((int) crc.getValue() != expected) {
            throw new WireException(Kind.CORRUPT_FRAME, String.format(
                    "CRC32C mismatch in a %d-byte frame: computed %08x, frame says %08x", length,
                    (int) crc.getValue(), expected));
        }
        int code = message.get(start) & 0xFF;
        FrameType type = FrameType.fromCode(code);
        if (type == null) {
            throw new WireException(Kind.UNEXPECTED, String.format("unknown frame type 0x%02x", code));
        }
        if (message.get(start + 1) != 0 || message.get(start + 2) != 0 || message.get(start + 3) != 0) {
            throw new WireException(Kind.UNEXPECTED, "non-zero flags or reserved bytes in a " + type + " frame");
        }
        ByteBuffer payload = message.duplicate().position(start + Wire.HEADER_BYTES).limit(end - Wire.TRAILER_BYTES)
                .slice().order(ByteOrder.BIG_ENDIAN);
        return new Frame(type, payload);
    }

    /** @return the frame type */
    public FrameType type() {
        return type;
    }

    /** @return the payload bytes not read yet */
    public int remaining() {
        return payload.remaining();
    }

    /** @return the payload buffer itself, for bulk access (page data); positioned at the next unread byte */
    public ByteBuffer payload() {
        return payload;
    }

    private void need(int bytes, String field) throws WireException {
        if (payload.remaining() < bytes) {
            throw new WireException(Kind.TRUNCATED, type + " frame ends inside field '" + field + "' (needs "
                    + bytes + " bytes, " + payload.remaining() + " left)");
        }
    }

    /** @return an unsigned byte */
    public int u8(String field) throws WireException {
        need(1, field);
        return payload.get() & 0xFF;
    }

    /** @return an unsigned 16-bit field */
    public int u16(String field) throws WireException {
        need(2, field);
        return payload.getShort() & 0xFFFF;
    }

    /** @return an unsigned 32-bit field */
    public long u32(String field) throws WireException {
        need(4, field);
        return payload.getInt() & 0xFFFF_FFFFL;
    }

    /**
     * @return an unsigned 32-bit field that must lie in {@code [min, max]}
     * @throws WireException if outside
     */
    public int u32In(String field, int min, int max) throws WireException {
        long v = u32(field);
        if (v < min || v > max) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, type + " field '" + field + "' = " + v
                    + " is outside [" + min + ", " + max + "]");
        }
        return (int) v;
    }

    /** @return a 64-bit field */
    public long u64(String field) throws WireException {
        need(8, field);
        return payload.getLong();
    }

    /**
     * Reads {@code into.length} u64s in one bulk copy.
     *
     * @param field the field's name, for the error
     * @param into  where the values go, all of it
     * @throws WireException if the payload ends before them
     */
    public void u64s(String field, long[] into) throws WireException {
        need(8 * into.length, field);
        payload.asLongBuffer().get(into);
        payload.position(payload.position() + 8 * into.length);
    }

    /** @return a string: u8 length + UTF-8 bytes, which must be valid UTF-8 */
    public String string(String field) throws WireException {
        int length = u8(field);
        need(length, field);
        ByteBuffer bytes = payload.slice(payload.position(), length);
        payload.position(payload.position() + length);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(bytes).toString();
        } catch (CharacterCodingException e) {
            throw new WireException(Kind.UNEXPECTED, type + " field '" + field + "' is not valid UTF-8");
        }
    }

    /** @return a byte array of {@code length} bytes */
    public byte[] bytes(String field, int length) throws WireException {
        need(length, field);
        byte[] out = new byte[length];
        payload.get(out);
        return out;
    }

    /**
     * Reads a payload that is exactly one count: a u64 that must not be negative.
     *
     * @throws WireException if the payload is not exactly 8 bytes or the count is negative
     */
    public long soleCount(String field) throws WireException {
        long count = u64(field);
        expectEnd();
        if (count < 0) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, type + " field '" + field + "' = " + count
                    + " is negative");
        }
        return count;
    }

    /** @throws WireException unless the whole payload has been read */
    public void expectEnd() throws WireException {
        if (payload.hasRemaining()) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, type + " frame has " + payload.remaining()
                    + " unexpected trailing bytes");
        }
    }
}
