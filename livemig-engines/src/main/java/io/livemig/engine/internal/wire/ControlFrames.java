package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * Frames that keep the link honest in every phase: PING and PONG (the destination's backlog plus
 * a round trip, for the switchover estimate), KEEPALIVE (a quiet return path is not a dead one)
 * and ABORT (either side gives up).
 */
public final class ControlFrames {

    private ControlFrames() {
    }

    /**
     * PING: answered at once with a PONG carrying the same token; only during the live copy.
     *
     * @param token opaque to the destination (the source's send time)
     */
    public record Ping(long token) implements Message.Token {
        @Override
        public FrameType type() {
            return FrameType.PING;
        }
    }

    /**
     * PONG: a PING's token, echoed.
     *
     * @param token the PING's token; the source rejects one it never sent
     */
    public record Pong(long token) implements Message.Token {
        @Override
        public FrameType type() {
            return FrameType.PONG;
        }
    }

    /** KEEPALIVE: the destination is alive (sent when the return path has been quiet). Empty. */
    public record Keepalive() implements Message.Empty {
        @Override
        public FrameType type() {
            return FrameType.KEEPALIVE;
        }
    }

    /** How the switchover ended at the destination: SETTLED's {@code outcome:u8}. 0 is reserved as invalid. */
    public enum Outcome {
        /** The destination resumed the VM: it runs there, the source must never resume it. */
        RESUMED(1),
        /** The destination never resumed it and has discarded what it received: the source may resume. */
        DISCARDED(2);

        private final int code;

        Outcome(int code) {
            this.code = code;
        }

        /** @return the wire code */
        public int code() {
            return code;
        }

        static Outcome of(int code) throws WireException {
            for (Outcome o : values()) {
                if (o.code == code) {
                    return o;
                }
            }
            throw new WireException(Kind.UNEXPECTED, "unknown SETTLED outcome " + code);
        }
    }

    /**
     * SETTLED: the destination's answer to a source that lost the channel at the switchover and
     * reconnected to ask (HELLO purpose SETTLE).
     *
     * @param outcome whether the VM runs at the destination
     */
    public record Settled(Outcome outcome) implements Message {
        /** @throws NullPointerException if outcome is null */
        public Settled {
            Objects.requireNonNull(outcome, "outcome");
        }

        @Override
        public FrameType type() {
            return FrameType.SETTLED;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.SETTLED).put((byte) outcome.code());
            return w.finish();
        }

        /** @throws WireException for an unknown outcome or trailing bytes */
        public static Settled read(Frame f) throws WireException {
            Settled s = new Settled(Outcome.of(f.u8("outcome")));
            f.expectEnd();
            return s;
        }
    }

    /** Why a side aborted: the ABORT frame's {@code code:u16}. 0 is reserved as invalid. */
    public enum AbortCode {
        /** Cancelled by the user. */
        CANCELLED(1),
        /** The sender found a protocol violation. */
        PROTOCOL_ERROR(2),
        /** The destination cannot create or run the VM. */
        TARGET_ERROR(3),
        /** The source failed (provider error, escalation abort). */
        SOURCE_ERROR(4);

        private final int code;

        AbortCode(int code) {
            this.code = code;
        }

        /** @return the wire code */
        public int code() {
            return code;
        }

        /** @throws WireException for 0 or an unknown code */
        static AbortCode of(int code) throws WireException {
            for (AbortCode c : values()) {
                if (c.code == code) {
                    return c;
                }
            }
            throw new WireException(Kind.UNEXPECTED, "unknown ABORT code " + code);
        }
    }

    /**
     * ABORT: the sender gives up.
     *
     * @param code   why
     * @param reason for the logs; at most 200 characters are sent
     */
    public record Abort(AbortCode code, String reason) implements Message {
        /** Longest reason sent, in characters. */
        public static final int MAX_REASON_CHARS = 200;

        /** @throws NullPointerException for null fields */
        public Abort {
            Objects.requireNonNull(code, "code");
            Objects.requireNonNull(reason, "reason");
        }

        @Override
        public FrameType type() {
            return FrameType.ABORT;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.ABORT).putShort((short) code.code());
            // Cut at code points, never inside a surrogate pair, until it fits the string field.
            int chars = reason.codePointCount(0, reason.length()) > MAX_REASON_CHARS
                    ? reason.offsetByCodePoints(0, MAX_REASON_CHARS) : reason.length();
            String r = reason.substring(0, chars);
            while (FrameWriter.stringBytes(r) > Wire.MAX_STRING_BYTES + 1) {
                r = r.substring(0, r.offsetByCodePoints(r.length(), -1));
            }
            FrameWriter.putString(b, r);
            return w.finish();
        }

        /** @throws WireException for an unknown code or a malformed reason */
        public static Abort read(Frame f) throws WireException {
            AbortCode code = AbortCode.of(f.u16("code"));
            Abort a = new Abort(code, f.string("reason"));
            f.expectEnd();
            return a;
        }
    }
}
