package io.livemig.e2e.protocol;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.ProtocolException;
import io.livemig.api.TimeSource;
import io.livemig.compress.PageEncoding;
import io.livemig.e2e.ObservedTarget;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.LinkShape;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A source driven by hand, frame by frame, against the real destination
 * ({@link LiveMigration#receive}) over an in-memory channel: what a hostile peer can send, with
 * the destination's answers and its outcome at hand. The destination makes its targets with the
 * factory given, and every target it makes is counted.
 */
final class HostileSource implements AutoCloseable {

    /** Bytes of a page in these tests. */
    static final int PAGE = 4096;
    /** The encodings every migration must offer. */
    static final long PLAIN = bit(PageEncoding.ZERO) | bit(PageEncoding.RAW);

    private final InMemoryChannel.Pair pair;
    private final FrameWriter writer = new FrameWriter(Wire.DEFAULT_MAX_FRAME_BYTES);
    private final ByteBuffer received = ByteBuffer.allocate(Wire.DEFAULT_MAX_FRAME_BYTES);
    private final CRC32C crc = new CRC32C();
    private final AtomicInteger targetsMade = new AtomicInteger();
    private final CompletableFuture<ReceivedMigration> destination;
    private volatile ObservedTarget target;

    /**
     * Starts a destination that receives with {@code options}, making targets with {@code factory}.
     */
    HostileSource(MigrationOptions options, Function<VmDescriptor, ObservedTarget> factory) {
        pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system(), Wire.DEFAULT_MAX_FRAME_BYTES + 4096,
                Duration.ofSeconds(10));
        destination = CompletableFuture.supplyAsync(() -> {
            try {
                return LiveMigration.receive(pair.destination(), d -> {
                    targetsMade.incrementAndGet();
                    ObservedTarget made = factory.apply(d);
                    target = made;
                    return made;
                }, options);
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        });
    }

    /** @return bit {@code wireId} of each encoding */
    static long bit(PageEncoding encoding) {
        return 1L << encoding.wireId();
    }

    /** Sends HELLO offering {@code encodings} and frames of {@code maxFrameBytes}, without a secret, and takes HELLO_ACK. */
    HandshakeFrames.HelloAck hello(long encodings, int maxFrameBytes) throws Exception {
        send(new HandshakeFrames.Hello(Wire.VERSION, Wire.VERSION, maxFrameBytes, encodings,
                HandshakeFrames.Purpose.NEW, false, new byte[HandshakeFrames.SESSION_ID_BYTES],
                new byte[HandshakeFrames.NONCE_BYTES]));
        return (HandshakeFrames.HelloAck) Message.read(expect(FrameType.HELLO_ACK), null);
    }

    /** Sends {@code message} as one frame. */
    void send(Message message) throws Exception {
        send(writer.write(message));
    }

    /** Sends a frame built by hand (see {@link #begin}). */
    void send(ByteBuffer frame) throws Exception {
        pair.source().send(frame);
    }

    /** @return the payload of a frame of {@code type} to fill; {@link #finish} makes the frame */
    ByteBuffer begin(FrameType type) {
        return writer.begin(type);
    }

    /** @return the frame begun with {@link #begin}, CRC and all */
    ByteBuffer finish() {
        return writer.finish();
    }

    /**
     * @return the next return frame that is not a KEEPALIVE or PONG
     * @throws AssertionError if it is not of {@code type}
     */
    Frame expect(FrameType type) throws Exception {
        Frame frame = next();
        assertEquals(type, frame.type(), () -> type + " expected, got " + describe(frame));
        return frame;
    }

    private Frame next() throws Exception {
        while (true) {
            received.clear();
            if (pair.source().receive(received) < 0) {
                throw new AssertionError("the destination closed the channel");
            }
            received.flip();
            Frame frame = Frame.open(received, crc);
            if (frame.type() != FrameType.KEEPALIVE && frame.type() != FrameType.PONG) {
                return frame;
            }
        }
    }

    private static String describe(Frame frame) {
        if (frame.type() != FrameType.ABORT) {
            return frame.type().toString();
        }
        try {
            return frame.type() + ": " + ((ControlFrames.Abort) Message.read(frame, null)).reason();
        } catch (WireException e) {
            return frame.type() + " (unreadable: " + e.getMessage() + ")";
        }
    }

    /**
     * Waits for the destination to fail before its VM ran, with a protocol error, having told this
     * source so with an ABORT.
     *
     * @return the destination's error
     */
    ProtocolException refused() throws Exception {
        ExecutionException e = assertThrows(ExecutionException.class, () -> destination.get(20, TimeUnit.SECONDS));
        ProtocolException p = assertInstanceOf(ProtocolException.class, e.getCause(), String.valueOf(e.getCause()));
        ControlFrames.Abort abort = (ControlFrames.Abort) Message.read(expect(FrameType.ABORT), null);
        assertEquals(ControlFrames.AbortCode.PROTOCOL_ERROR, abort.code(), abort.reason());
        if (target != null) {
            assertTrue(target.discarded(), "the target the destination made is discarded");
            assertTrue(target.vm().vcpus().isPaused(), "and never ran");
        }
        return p;
    }

    /** @return the migration the destination received, once it succeeded */
    ReceivedMigration received() throws Exception {
        return destination.get(20, TimeUnit.SECONDS);
    }

    /** @return the destination's failure, whatever it is */
    Throwable failure() {
        ExecutionException e = assertThrows(ExecutionException.class, () -> destination.get(20, TimeUnit.SECONDS));
        return e.getCause();
    }

    /** @return how many targets the destination made */
    int targetsMade() {
        return targetsMade.get();
    }

    /** @return the target the destination made last, or null */
    ObservedTarget target() {
        return target;
    }

    @Override
    public void close() {
        pair.source().close();
        pair.destination().close();
        ObservedTarget made = target;
        if (made != null) {
            made.close();
        }
    }
}
