package io.livemig.engine.internal.wire;

/**
 * The frames of parallel streams (docs/protocol.md, section 6): STREAMS, with which the source
 * announces its data connections on the first channel, and SYNC, the barrier it puts on every
 * data connection and then on the first channel, so that the destination acts on what follows on
 * the first channel only once every data connection delivered everything sent before.
 */
public final class StreamFrames {

    private StreamFrames() {
    }

    /**
     * @return the frame's sole u64, once checked to be positive
     * @throws WireException if the payload is not one u64, or it is 0 or negative
     */
    static long positive(Frame frame, String field) throws WireException {
        long value = frame.soleCount(field);
        if (value == 0) {
            throw new WireException(io.livemig.api.ProtocolException.Kind.INCONSISTENT_LENGTH, frame.type()
                    + " field '" + field + "' = 0, must be at least 1");
        }
        return value;
    }

    /**
     * STREAMS: the source opens {@code count} data connections now, each greeted with HELLO of
     * purpose STREAM, this migration's session id and, with a secret, AUTH. The destination answers
     * READY once it admitted them all.
     *
     * @param count data connections, at least 1 (the destination checks it against its limit)
     */
    public record Streams(long count) implements Message.Count {
        /** @throws IllegalArgumentException if {@code count} is not positive */
        public Streams {
            if (count < 1) {
                throw new IllegalArgumentException("count must be positive, was " + count);
            }
        }

        @Override
        public FrameType type() {
            return FrameType.STREAMS;
        }
    }

    /**
     * SYNC: on a data connection, everything before it on that connection has been sent; on the
     * first channel, the destination waits until every data connection delivered its SYNC with this
     * sequence number before it reads on.
     *
     * @param sequence 1 for the first SYNC, one more for each after it, on every connection alike
     */
    public record Sync(long sequence) implements Message.Count {
        /** @throws IllegalArgumentException if {@code sequence} is not positive */
        public Sync {
            if (sequence < 1) {
                throw new IllegalArgumentException("sequence must be positive, was " + sequence);
            }
        }

        @Override
        public long count() {
            return sequence;
        }

        @Override
        public FrameType type() {
            return FrameType.SYNC;
        }
    }
}
