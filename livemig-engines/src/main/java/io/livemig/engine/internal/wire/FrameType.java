package io.livemig.engine.internal.wire;

/**
 * The frame types of the wire protocol (docs/protocol.md). The numeric codes are the wire bytes;
 * 0 is reserved as invalid. Codes 0x01-0x3F travel from source to destination, 0x40-0x7F on the
 * return path, {@link #ABORT} either way.
 */
public enum FrameType {
    HELLO(0x01, Direction.FORWARD),
    SETUP(0x02, Direction.FORWARD),
    PAGES(0x03, Direction.FORWARD),
    SWITCHOVER(0x04, Direction.FORWARD),
    VCPU_STATE(0x05, Direction.FORWARD),
    DEVICE_STATE(0x06, Direction.FORWARD),
    COMMIT(0x07, Direction.FORWARD),
    DIGESTS(0x08, Direction.FORWARD),
    DIGESTS_END(0x09, Direction.FORWARD),
    MISSING_PAGES(0x0A, Direction.FORWARD),
    POSTCOPY_END(0x0B, Direction.FORWARD),
    RECOVER_ACK(0x0C, Direction.FORWARD),
    PING(0x0D, Direction.FORWARD),
    AUTH(0x0E, Direction.FORWARD),
    STREAMS(0x0F, Direction.FORWARD),
    SYNC(0x10, Direction.FORWARD),
    DISK_BLOCKS(0x11, Direction.FORWARD),
    DISK_FLUSH(0x12, Direction.FORWARD),
    DISK_VERIFY(0x13, Direction.FORWARD),
    DISK_SETUP(0x14, Direction.FORWARD),
    DISK_MISSING(0x15, Direction.FORWARD),
    DEVICE_DATA(0x16, Direction.FORWARD),
    CHECKPOINT(0x17, Direction.FORWARD),
    LOG_SEGMENT(0x18, Direction.FORWARD),
    HELLO_ACK(0x41, Direction.RETURN),
    READY(0x42, Direction.RETURN),
    RESUMED(0x43, Direction.RETURN),
    VERIFY_RESULT(0x44, Direction.RETURN),
    PAGE_REQUEST(0x45, Direction.RETURN),
    POSTCOPY_DONE(0x46, Direction.RETURN),
    RECOVER_MISSING(0x47, Direction.RETURN),
    RECOVER(0x48, Direction.RETURN),
    POSTCOPY_ACK(0x49, Direction.RETURN),
    KEEPALIVE(0x4A, Direction.RETURN),
    PONG(0x4B, Direction.RETURN),
    SETTLED(0x4C, Direction.RETURN),
    DISK_FLUSHED(0x4D, Direction.RETURN),
    DISK_DIGESTS(0x4E, Direction.RETURN),
    DISK_PLAN(0x4F, Direction.RETURN),
    BLOCK_REQUEST(0x50, Direction.RETURN),
    REPLAYED(0x51, Direction.RETURN),
    ABORT(0x7F, Direction.BOTH);

    /** Which way a frame type may travel. */
    public enum Direction { FORWARD, RETURN, BOTH }

    private static final FrameType[] BY_CODE = new FrameType[256];

    static {
        for (FrameType t : values()) {
            BY_CODE[t.code] = t;
        }
    }

    private final int code;
    private final Direction direction;

    FrameType(int code, Direction direction) {
        this.code = code;
        this.direction = direction;
    }

    /** @return the wire byte */
    public int code() {
        return code;
    }

    /** @return whether this type may arrive on the forward stream (at the destination) */
    public boolean forward() {
        return direction != Direction.RETURN;
    }

    /** @return whether this type may arrive on the return path (at the source) */
    public boolean returning() {
        return direction != Direction.FORWARD;
    }

    /** @return the type with that wire byte, or null if unknown or 0 */
    public static FrameType fromCode(int code) {
        return code < 0 || code > 255 ? null : BY_CODE[code];
    }
}
