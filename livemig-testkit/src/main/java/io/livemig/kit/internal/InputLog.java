package io.livemig.kit.internal;

import io.livemig.spi.ReplayDivergedException;

import java.util.Arrays;

/**
 * The simulated VM's execution log, format {@value #FORMAT}: the inputs a
 * {@link ReplayableGuest} consumed, one record per input, in order, nothing else (no header: a
 * segment's positions travel beside its bytes).
 *
 * <pre>
 * log    = record*
 * record = clock | device
 * clock  = 0x01 value:int64 (big-endian; the nanoseconds the guest's clock read)
 * device = 0x02 length:uleb128 byte{length}   (what one read of the input device returned;
 *                                              length 0 to {@value #MAX_DEVICE_READ})
 * </pre>
 *
 * <p>A clock record is 9 bytes; a device record 2 bytes when the device had nothing, plus its
 * bytes otherwise. Every other kind byte, a length past the maximum or a record cut short is
 * malformed.
 *
 * <p>Not thread-safe: the simulated VM's lock guards a writer; a reader belongs to one replay.
 */
public final class InputLog {

    /** The format's name and version, as {@code ExecutionRecorder.format()} gives it. */
    public static final String FORMAT = "kit-input-log/1";
    /** The kind of a clock read. */
    public static final int CLOCK = 1;
    /** The kind of an input device read. */
    public static final int DEVICE = 2;
    /** The most bytes one read of the input device returns (1 MiB). */
    public static final int MAX_DEVICE_READ = 1 << 20;
    /** Bytes of a clock record: the kind and the value. */
    public static final int CLOCK_RECORD_BYTES = 9;

    private InputLog() {
    }

    /**
     * @param kind a record kind
     * @return its name in messages: "a clock read", "an input device read", or the byte in hex
     */
    public static String describe(int kind) {
        return switch (kind) {
            case CLOCK -> "a clock read";
            case DEVICE -> "an input device read";
            default -> String.format("a record of unknown kind 0x%02x", kind);
        };
    }

    /** Appends records to a growing buffer, which {@link #take()} empties. */
    public static final class Writer {
        private byte[] buffer = new byte[256];
        private int size;

        /**
         * Appends a clock record.
         *
         * @param nanos the value the guest read
         */
        public void clock(long nanos) {
            ensure(CLOCK_RECORD_BYTES);
            buffer[size++] = CLOCK;
            for (int shift = 56; shift >= 0; shift -= 8) {
                buffer[size++] = (byte) (nanos >>> shift);
            }
        }

        /**
         * Appends a device record.
         *
         * @param bytes  what the read returned, from index 0
         * @param length how many, 0 to {@value #MAX_DEVICE_READ}
         */
        public void device(byte[] bytes, int length) {
            ensure(1 + 5 + length);
            buffer[size++] = DEVICE;
            int n = length;
            while (n >= 0x80) {
                buffer[size++] = (byte) (n | 0x80);
                n >>>= 7;
            }
            buffer[size++] = (byte) n;
            System.arraycopy(bytes, 0, buffer, size, length);
            size += length;
        }

        /** {@return the bytes appended since the last take, and forgets them} */
        public byte[] take() {
            byte[] out = Arrays.copyOf(buffer, size);
            size = 0;
            if (buffer.length > 1 << 16) {
                buffer = new byte[256];
            }
            return out;
        }

        /** Forgets what was appended. */
        public void clear() {
            size = 0;
            buffer = new byte[256];
        }

        private void ensure(int more) {
            if (size + more > buffer.length) {
                buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, size + more));
            }
        }
    }

    /**
     * Reads the records of one segment, checking each against what the replayed guest asks for.
     * Errors are {@link ReplayDivergedException}s at the position replay reached.
     */
    public static final class Reader {
        private final byte[] bytes;
        private int offset;

        /** @param bytes a segment's bytes, owned by the reader from now on */
        public Reader(byte[] bytes) {
            this.bytes = bytes;
        }

        /** @return whether bytes are left */
        public boolean hasMore() {
            return offset < bytes.length;
        }

        /** @return the offset of the next record in the segment's bytes */
        public int offset() {
            return offset;
        }

        /**
         * Takes the next record's kind, checked against what the guest asks for.
         *
         * @param asked    the kind of input the guest asks for
         * @param position the position replay stands at
         * @throws ReplayDivergedException if the log ended, the kind is unknown or not the one asked for
         */
        public void expect(int asked, long position) throws ReplayDivergedException {
            if (!hasMore()) {
                throw new ReplayDivergedException("the guest asked for " + describe(asked)
                        + " but the segment's log ends (" + bytes.length + " bytes) before its end position", position);
            }
            int kind = bytes[offset] & 0xFF;
            if (kind != CLOCK && kind != DEVICE) {
                throw new ReplayDivergedException("malformed log: " + describe(kind) + " at byte " + offset
                        + " of the segment", position);
            }
            if (kind != asked) {
                throw new ReplayDivergedException("the guest asked for " + describe(asked) + " but the log's next record "
                        + "(byte " + offset + " of the segment) is " + describe(kind), position);
            }
            offset++;
        }

        /**
         * Reads a clock record's value, after {@link #expect} took its kind.
         *
         * @param position the position replay stands at
         * @return the value
         * @throws ReplayDivergedException if the record is cut short
         */
        public long clockValue(long position) throws ReplayDivergedException {
            if (bytes.length - offset < 8) {
                throw new ReplayDivergedException("malformed log: a clock record at byte " + (offset - 1)
                        + " is cut short (" + (bytes.length - offset) + " of 8 value bytes)", position);
            }
            long v = 0;
            for (int i = 0; i < 8; i++) {
                v = (v << 8) | (bytes[offset++] & 0xFF);
            }
            return v;
        }

        /**
         * Reads a device record's length, after {@link #expect} took its kind; its bytes follow
         * from {@link #offset()}, and {@link #skip} passes them.
         *
         * @param position the position replay stands at
         * @return the length, 0 to {@value #MAX_DEVICE_READ}, all of it within the segment
         * @throws ReplayDivergedException if the length is malformed, too large, or runs past the segment
         */
        public int deviceLength(long position) throws ReplayDivergedException {
            int start = offset - 1;
            long length = 0;
            for (int shift = 0; ; shift += 7) {
                if (offset >= bytes.length || shift > 21) {
                    throw new ReplayDivergedException("malformed log: the length of the input device record at byte "
                            + start + " is cut short or too long", position);
                }
                int b = bytes[offset++] & 0xFF;
                length |= (long) (b & 0x7F) << shift;
                if (b < 0x80) {
                    break;
                }
            }
            if (length > MAX_DEVICE_READ) {
                throw new ReplayDivergedException("malformed log: the input device record at byte " + start + " holds "
                        + length + " bytes, more than one read returns (" + MAX_DEVICE_READ + ")", position);
            }
            if (length > bytes.length - offset) {
                throw new ReplayDivergedException("malformed log: the input device record at byte " + start + " is cut "
                        + "short (" + (bytes.length - offset) + " of " + length + " bytes)", position);
            }
            return (int) length;
        }

        /** @return the segment's bytes (the reader's own array: read only) */
        public byte[] array() {
            return bytes;
        }

        /** @param n bytes to pass, already checked by {@link #deviceLength} */
        public void skip(int n) {
            offset += n;
        }
    }
}
