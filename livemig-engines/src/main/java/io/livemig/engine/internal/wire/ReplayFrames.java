package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Objects;

/**
 * The frames of trace and replay (docs/protocol.md, section 9). The checkpoint's pages travel as
 * PAGES and its vCPU states as VCPU_STATE frames during the live copy; CHECKPOINT then closes it.
 * LOG_SEGMENT carries the execution log, a segment possibly split over several frames; REPLAYED
 * reports on the return path how far the destination replayed.
 */
public final class ReplayFrames {

    /** LOG_SEGMENT: this frame ends its segment (the segment's bytes are complete). */
    public static final int FLAG_SEGMENT_END = 1;
    /** LOG_SEGMENT: the segment is the last of the migration (sent after the pause). */
    public static final int FLAG_FINAL = 2;
    /** LOG_SEGMENT's fields before the bytes: start, end, flags, length. */
    public static final int LOG_HEADER_BYTES = 8 + 8 + 1 + 4;

    private ReplayFrames() {
    }

    /**
     * CHECKPOINT: the checkpoint is complete; replay starts from it.
     *
     * @param format        the log's format, as the source's recorder names it
     * @param startPosition the checkpoint's position in the log
     */
    public record Checkpoint(String format, long startPosition) implements Message {
        /** @throws NullPointerException if format is null */
        public Checkpoint {
            Objects.requireNonNull(format, "format");
        }

        @Override
        public FrameType type() {
            return FrameType.CHECKPOINT;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.CHECKPOINT);
            FrameWriter.putString(b, format);
            b.putLong(startPosition);
            return w.finish();
        }

        /** @throws WireException for a blank format or a negative position */
        public static Checkpoint read(Frame f) throws WireException {
            String format = f.string("format");
            long start = f.u64("startPosition");
            f.expectEnd();
            if (format.isBlank()) {
                throw new WireException(Kind.UNEXPECTED, "CHECKPOINT with a blank log format");
            }
            if (start < 0) {
                throw new WireException(Kind.UNEXPECTED, "CHECKPOINT at a negative position " + start);
            }
            return new Checkpoint(format, start);
        }
    }

    /**
     * LOG_SEGMENT: a piece of a log segment.
     *
     * @param startPosition the segment's start position
     * @param endPosition   the segment's end position
     * @param flags         {@link #FLAG_SEGMENT_END}, {@link #FLAG_FINAL}
     * @param bytes         this frame's part of the segment's bytes
     */
    public record LogChunk(long startPosition, long endPosition, int flags, byte[] bytes)
            implements Message {
        /** @throws NullPointerException if bytes is null */
        public LogChunk {
            Objects.requireNonNull(bytes, "bytes");
        }

        /** @return whether this frame ends its segment */
        public boolean segmentEnd() {
            return (flags & FLAG_SEGMENT_END) != 0;
        }

        /** @return whether the segment is the migration's last */
        public boolean last() {
            return (flags & FLAG_FINAL) != 0;
        }

        @Override
        public FrameType type() {
            return FrameType.LOG_SEGMENT;
        }

        /** @throws IllegalArgumentException if the bytes do not fit in one frame */
        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.LOG_SEGMENT);
            if (bytes.length > w.payloadRoom() - LOG_HEADER_BYTES) {
                throw new IllegalArgumentException("a log chunk of " + bytes.length + " bytes does not fit in a frame");
            }
            b.putLong(startPosition).putLong(endPosition).put((byte) flags)
                    .putInt(bytes.length).put(bytes);
            return w.finish();
        }

        /** @throws WireException for positions out of order, unknown flags or a bad length */
        public static LogChunk read(Frame f) throws WireException {
            long start = f.u64("startPosition");
            long end = f.u64("endPosition");
            int flags = f.u8("flags");
            if ((flags & ~(FLAG_SEGMENT_END | FLAG_FINAL)) != 0) {
                throw new WireException(Kind.UNEXPECTED, "unknown LOG_SEGMENT flags " + flags);
            }
            if (start < 0 || end < start) {
                throw new WireException(Kind.UNEXPECTED, "LOG_SEGMENT from position " + start + " to " + end);
            }
            int length = f.u32In("length", 0, f.remaining() - Integer.BYTES);
            byte[] bytes = f.bytes("bytes", length);
            f.expectEnd();
            return new LogChunk(start, end, flags, bytes);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof LogChunk c && c.startPosition == startPosition && c.endPosition == endPosition
                    && c.flags == flags && Arrays.equals(c.bytes, bytes);
        }

        @Override
        public int hashCode() {
            return Objects.hash(startPosition, endPosition, flags) * 31 + Arrays.hashCode(bytes);
        }

        @Override
        public String toString() {
            return "LogChunk[" + startPosition + ".." + endPosition + ", flags=" + flags + ", " + bytes.length
                    + " bytes]";
        }
    }

    /**
     * REPLAYED: the destination replayed the log up to {@code position}.
     *
     * @param position    the position replay reached
     * @param replayNanos the time spent replaying so far, in all
     */
    public record Replayed(long position, long replayNanos) implements Message {
        @Override
        public FrameType type() {
            return FrameType.REPLAYED;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.REPLAYED);
            b.putLong(position).putLong(replayNanos);
            return w.finish();
        }

        /** @throws WireException for a negative figure */
        public static Replayed read(Frame f) throws WireException {
            long position = f.u64("position");
            long nanos = f.u64("replayNanos");
            f.expectEnd();
            if (position < 0 || nanos < 0) {
                throw new WireException(Kind.UNEXPECTED, "REPLAYED at position " + position + " after " + nanos + " ns");
            }
            return new Replayed(position, nanos);
        }
    }
}
