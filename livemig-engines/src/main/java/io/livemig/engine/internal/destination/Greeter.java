package io.livemig.engine.internal.destination;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationSecret;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.channel.Channel;
import io.livemig.channel.MessageTooLargeException;
import io.livemig.compress.PageEncoding;
import io.livemig.engine.internal.Codecs;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.FrameWarmup;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import io.livemig.engine.internal.wire.HandshakeProof;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.engine.internal.wire.WireException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.CRC32C;

/**
 * The destination's side of the handshake on one connection (docs/protocol.md, section 3):
 * HELLO, HELLO_ACK with the destination's proof of the secret, and AUTH with the source's. Only a
 * connection that completes it within the handshake deadline, proves the secret when this side
 * holds one, and comes for something this side is waiting for (a new migration, or the recovery
 * or settling of this very migration, by its session id) is admitted; anything else gets an
 * ABORT saying why and is closed by the caller. It reads into a buffer of a few KiB, so a
 * connection that never authenticates costs next to nothing.
 *
 * <p>Stateless; thread-safe.
 */
final class Greeter {

    /** Largest greeting frame accepted: HELLO and AUTH are far smaller. */
    private static final int GREETING_BYTES = 4096;
    private static final long MANDATORY = (1L << PageEncoding.ZERO.wireId()) | (1L << PageEncoding.RAW.wireId());
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Closes connections whose handshake passed its deadline: one daemon thread for every greeting. */
    private static final ScheduledThreadPoolExecutor DEADLINES = deadlines();

    /**
     * An admitted connection.
     *
     * @param channel         the channel, now owned by whoever took the greeting
     * @param hello           the source's HELLO
     * @param maxFrameBytes   the agreed frame limit
     * @param agreedEncodings the agreed page encodings
     */
    record Greeted(Channel channel, HandshakeFrames.Hello hello, int maxFrameBytes, long agreedEncodings) {
    }

    /** What this side admits. */
    interface Admission {
        /**
         * @return null to admit a HELLO of this purpose and session, else why it is refused
         */
        String refusal(Purpose purpose, byte[] sessionId);
    }

    /** A connection that was not admitted. */
    static final class Refused extends Exception {
        private static final long serialVersionUID = 1L;
        private final Kind kind;

        Refused(Kind kind, String message) {
            super(message);
            this.kind = kind;
        }

        /** @return what was wrong */
        Kind kind() {
            return kind;
        }
    }

    private Greeter() {
    }

    private static ScheduledThreadPoolExecutor deadlines() {
        ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1,
                task -> Thread.ofPlatform().daemon().name("livemig-handshake-deadline").unstarted(task));
        timer.setRemoveOnCancelPolicy(true);
        return timer;
    }

    /** @return an admission for one session: new migrations no more, only this session's {@code purposes} */
    static Admission session(byte[] sessionId, Purpose... purposes) {
        return (purpose, id) -> {
            if (!Arrays.asList(purposes).contains(purpose)) {
                return "a " + purpose + " connection is not expected now";
            }
            return Arrays.equals(id, sessionId) ? null : "the connection names another migration";
        };
    }

    /**
     * Greets the source on {@code channel}, closing it from another thread if the greeting is not
     * done within {@code deadline}.
     *
     * @return the admitted connection
     * @throws Refused     if the peer is incompatible, unauthenticated, or not expected
     * @throws IOException if the channel failed, or the deadline passed
     */
    static Greeted greet(Channel channel, MigrationOptions options, Admission admission, Duration deadline)
            throws Refused, IOException {
        // SETUP follows the greeting: warm its checks up meanwhile, if no doorman started that yet.
        FrameWarmup.runInBackground();
        ReceiveBuffers.prepareInBackground();
        // Whoever sets this first decides: the greeting (done in time) or the watchdog (too late),
        // so that a greeting completed at the deadline is never closed after it was admitted.
        AtomicBoolean decided = new AtomicBoolean();
        ScheduledFuture<?> watchdog = DEADLINES.schedule(() -> {
            if (decided.compareAndSet(false, true)) {
                channel.close();
            }
        }, deadline.toNanos(), TimeUnit.NANOSECONDS);
        try {
            Greeted greeted = greet(channel, options, admission);
            if (!decided.compareAndSet(false, true)) {
                throw late(channel, deadline, null);
            }
            return greeted;
        } catch (IOException e) {
            if (!decided.compareAndSet(false, true)) {
                throw late(channel, deadline, e);
            }
            throw e;
        } finally {
            watchdog.cancel(false);
        }
    }

    private static IOException late(Channel channel, Duration deadline, IOException cause) {
        return new IOException("no complete handshake within " + deadline.toMillis() + " ms from " + channel.peer(),
                cause);
    }

    private static Greeted greet(Channel channel, MigrationOptions options, Admission admission)
            throws Refused, IOException {
        ByteBuffer buffer = ByteBuffer.allocate(GREETING_BYTES).order(ByteOrder.BIG_ENDIAN);
        FrameWriter writer = new FrameWriter(GREETING_BYTES);
        try {
            HandshakeFrames.Hello hello = (HandshakeFrames.Hello) receive(channel, buffer, FrameType.HELLO);
            if (hello.minVersion() > Wire.VERSION || hello.maxVersion() < Wire.VERSION) {
                throw new Refused(Kind.INCOMPATIBLE, "source speaks protocol versions [" + hello.minVersion() + ", "
                        + hello.maxVersion() + "], this destination speaks " + Wire.VERSION);
            }
            long agreed = hello.encodings() & Codecs.DECODABLE;
            if ((agreed & MANDATORY) != MANDATORY) {
                throw new Refused(Kind.INCOMPATIBLE, "HELLO does not offer the zero and raw page encodings, which "
                        + "every migration needs");
            }
            String refusal = admission.refusal(hello.purpose(), hello.sessionId());
            if (refusal != null) {
                throw new Refused(Kind.UNAUTHENTICATED, refusal);
            }
            Optional<MigrationSecret> secret = options.secret();
            if (secret.isPresent() && !hello.auth()) {
                throw new Refused(Kind.UNAUTHENTICATED, "this destination requires the migration secret, and the "
                        + "source does not offer to prove it");
            }
            int maxFrame = Math.min(Math.min(hello.maxFrameBytes(), Wire.DEFAULT_MAX_FRAME_BYTES),
                    channel.maxMessageBytes());
            byte[] nonce = new byte[HandshakeFrames.NONCE_BYTES];
            RANDOM.nextBytes(nonce);
            byte[] transcript = HandshakeProof.transcript(hello.purpose(), hello.sessionId(), hello.nonce(), nonce,
                    maxFrame, agreed);
            byte[] proof = secret.map(s -> HandshakeProof.destination(s, transcript))
                    .orElse(new byte[HandshakeFrames.PROOF_BYTES]);
            channel.send(writer.write(new HandshakeFrames.HelloAck(Wire.VERSION, maxFrame, agreed, secret.isPresent(),
                    nonce, proof)));
            if (secret.isPresent()) {
                HandshakeFrames.Auth auth = (HandshakeFrames.Auth) receive(channel, buffer, FrameType.AUTH);
                if (!HandshakeProof.matches(HandshakeProof.source(secret.get(), transcript), auth.proof())) {
                    throw new Refused(Kind.UNAUTHENTICATED, "the source's proof of the migration secret is wrong");
                }
            }
            return new Greeted(channel, hello, maxFrame, agreed);
        } catch (Refused e) {
            try {
                channel.send(writer.write(new ControlFrames.Abort(ControlFrames.AbortCode.PROTOCOL_ERROR,
                        e.getMessage())));
            } catch (IOException | RuntimeException ignored) {
                // the peer may be gone already; it is refused either way
            }
            throw e;
        }
    }

    private static Message receive(Channel channel, ByteBuffer buffer, FrameType expected)
            throws Refused, IOException {
        buffer.clear();
        int length;
        try {
            length = channel.receive(buffer);
        } catch (MessageTooLargeException e) {
            throw new Refused(Kind.FRAME_TOO_LARGE, "a handshake frame larger than " + GREETING_BYTES + " bytes");
        }
        if (length < 0) {
            throw new IOException("the peer closed the connection before " + expected);
        }
        buffer.flip();
        try {
            Frame frame = Frame.open(buffer, new CRC32C());
            if (frame.type() == FrameType.ABORT) {
                throw new Refused(Kind.UNEXPECTED, "the source aborted the handshake: "
                        + ((ControlFrames.Abort) Message.read(frame, Message.Context.BEFORE_SETUP)).reason());
            }
            if (frame.type() != expected) {
                throw new Refused(Kind.UNEXPECTED, "expected " + expected + ", got " + frame.type());
            }
            return Message.read(frame, Message.Context.BEFORE_SETUP);
        } catch (WireException e) {
            throw new Refused(e.kind(), e.getMessage());
        }
    }
}
