package io.livemig.e2e.protocol;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationSecret;
import io.livemig.api.ProtocolException;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.ReceiveLimits;
import io.livemig.api.Strategy;
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
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import io.livemig.engine.internal.wire.HandshakeProof;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A hand-driven hostile source, speaking protocol v2, against the real destination: during the
 * handshake, a source that is incompatible, comes for something else than a new migration, cannot
 * prove the migration secret, or stalls is refused before any target is created; after it, every
 * malformed input ends the migration with a specific {@link ProtocolException}, writes nothing,
 * and discards the target.
 */
class ProtocolRejectionTest {

    private static final int PAGE = 4096;
    private static final MemoryLayout LAYOUT = new MemoryLayout(PAGE,
            List.of(new MemoryRegion(0, 64), new MemoryRegion(128, 64)));
    private static final long ENCODINGS = (1L << PageEncoding.ZERO.wireId()) | (1L << PageEncoding.RAW.wireId());

    private InMemoryChannel.Pair pair;
    private FrameWriter writer;
    private ObservedTarget target;
    /** Targets the destination's factory created. */
    private final AtomicInteger targetsCreated = new AtomicInteger();
    private CompletableFuture<ReceivedMigration> destination;
    /** This test's migration, as its HELLO names it. */
    private byte[] sessionId;

    @BeforeEach
    void connect() {
        pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system(), (16 << 20) + 4096, Duration.ofSeconds(5));
        writer = new FrameWriter(1 << 20);
        sessionId = randomBytes(HandshakeFrames.SESSION_ID_BYTES);
    }

    @AfterEach
    void close() {
        pair.source().close();
        pair.destination().close();
    }

    private void send(ByteBuffer frame) throws Exception {
        pair.source().send(frame);
    }

    private void receive() throws Exception {
        ByteBuffer b = ByteBuffer.allocate(1 << 16);
        pair.source().receive(b);
    }

    /** Runs the real destination on its end of the pair, into an {@link ObservedTarget}. */
    private CompletableFuture<ReceivedMigration> startDestination(MigrationOptions options) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return LiveMigration.receive(pair.destination(), d -> {
                    targetsCreated.incrementAndGet();
                    return target = ObservedTarget.of(d);
                }, options);
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        });
    }

    private static byte[] randomBytes(int length) {
        byte[] b = new byte[length];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }

    /** A HELLO of protocol v2 for this test's session, proposing 1 MiB frames. */
    private ByteBuffer hello(Purpose purpose, boolean auth, long encodings, byte[] nonce) {
        return new HandshakeFrames.Hello(Wire.VERSION, Wire.VERSION, 1 << 20, encodings, purpose, auth, sessionId,
                nonce).write(writer);
    }

    /** @return the next frame the destination sent, opened and read, or null if it closed the connection */
    private Message receiveMessage() throws Exception {
        ByteBuffer b = ByteBuffer.allocate(1 << 16);
        if (pair.source().receive(b) < 0) {
            return null;
        }
        return Message.read(Frame.open(b.flip(), new CRC32C()), Message.Context.BEFORE_SETUP);
    }

    /** A PAGES frame with one raw page, then {@code tamper} applied to the finished frame. */
    private ByteBuffer pagesFrame(long page, int encoding, int length, int payloadBytes) {
        ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(1);
        b.putLong(page).put((byte) encoding).putInt(length);
        for (int i = 0; i < payloadBytes; i++) {
            b.put((byte) 7);
        }
        return writer.finish();
    }

    /** A source that completed the handshake and SETUP, then misbehaves: the target exists and must be discarded. */
    @Nested
    class AfterTheHandshake {

        @BeforeEach
        void handshakeAndSetup() throws Exception {
            destination = startDestination(MigrationOptions.builder().strategy(Strategy.COLD).build());
            send(hello(Purpose.NEW, false, ENCODINGS, randomBytes(HandshakeFrames.NONCE_BYTES)));
            receive();
            VmDescriptor descriptor = new VmDescriptor(LAYOUT, 1, List.of(InMemoryVm.WORKLOAD_DEVICE_ID),
                    "livemig-mem-vcpu-v1");
            send(new HandshakeFrames.Setup(Strategy.COLD, true, false, descriptor, 64).write(writer));
            receive();
        }

        private ProtocolException rejected() {
            ExecutionException e = assertThrows(ExecutionException.class, destination::get);
            ProtocolException p = assertInstanceOf(ProtocolException.class, e.getCause(), e.getCause().toString());
            assertEquals(0, target.writes(), "a rejected frame writes nothing");
            assertTrue(target.discarded(), "the partly received VM is discarded");
            assertTrue(target.vm().vcpus().isPaused(), "and never ran");
            return p;
        }

        @Test
        void aCorruptedCrcIsRejectedBeforeAnythingIsApplied() throws Exception {
            ByteBuffer frame = pagesFrame(3, PageEncoding.RAW.wireId(), PAGE, PAGE);
            frame.put(40, (byte) (frame.get(40) ^ 1));
            send(frame);
            assertEquals(Kind.CORRUPT_FRAME, rejected().kind());
        }

        @Test
        void aPageInTheLayoutsHoleIsOutOfRange() throws Exception {
            send(pagesFrame(100, PageEncoding.RAW.wireId(), PAGE, PAGE));
            ProtocolException p = rejected();
            assertEquals(Kind.PAGE_OUT_OF_RANGE, p.kind());
            assertTrue(p.getMessage().contains("page 100"), p.getMessage());
        }

        @Test
        void aPagePastTheEndIsOutOfRange() throws Exception {
            send(pagesFrame(Long.MAX_VALUE, PageEncoding.ZERO.wireId(), 0, 0));
            assertEquals(Kind.PAGE_OUT_OF_RANGE, rejected().kind());
        }

        @Test
        void aLaterBadEntryRejectsTheWholeBatchBeforeTheFirstIsWritten() throws Exception {
            ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(2);
            b.putLong(1).put((byte) PageEncoding.RAW.wireId()).putInt(PAGE).put(new byte[PAGE]);
            b.putLong(9999).put((byte) PageEncoding.ZERO.wireId()).putInt(0);
            send(writer.finish());
            assertEquals(Kind.PAGE_OUT_OF_RANGE, rejected().kind());
        }

        @Test
        void aPayloadCutShortIsTruncated() throws Exception {
            send(pagesFrame(5, PageEncoding.RAW.wireId(), PAGE, PAGE - 100));
            assertEquals(Kind.TRUNCATED, rejected().kind());
        }

        @Test
        void aFrameEndingInsideAFieldIsTruncated() throws Exception {
            ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(1);
            b.putLong(5).put((byte) PageEncoding.ZERO.wireId()).putShort((short) 0);
            send(writer.finish());
            Kind kind = rejected().kind();
            assertTrue(kind == Kind.TRUNCATED || kind == Kind.INCONSISTENT_LENGTH, kind.toString());
        }

        @Test
        void aRawPageWithTheWrongLengthIsInconsistent() throws Exception {
            send(pagesFrame(5, PageEncoding.RAW.wireId(), 100, 100));
            assertEquals(Kind.INCONSISTENT_LENGTH, rejected().kind());
        }

        @Test
        void anEntryCountLargerThanTheFrameIsInconsistent() throws Exception {
            ByteBuffer b = writer.begin(FrameType.PAGES).putInt(0).putInt(1_000_000);
            b.putLong(5).put((byte) PageEncoding.ZERO.wireId()).putInt(0);
            send(writer.finish());
            assertEquals(Kind.INCONSISTENT_LENGTH, rejected().kind());
        }

        @Test
        void anUnagreedEncodingIsUnexpected() throws Exception {
            send(pagesFrame(5, PageEncoding.LZ4.wireId(), 10, 10));
            assertEquals(Kind.UNEXPECTED, rejected().kind());
        }

        @Test
        void anUnknownFrameTypeIsUnexpected() throws Exception {
            ByteBuffer b = writer.begin(FrameType.PAGES);
            b.put(0, (byte) 0x33);
            send(writer.finish());
            assertEquals(Kind.UNEXPECTED, rejected().kind());
        }

        @Test
        void aCommitBeforeTheSwitchoverIsOutOfOrder() throws Exception {
            send(new SwitchoverFrames.Commit(1, 1, false).write(writer));
            assertEquals(Kind.UNEXPECTED, rejected().kind());
        }

        @Test
        void aCommitWithoutEveryStateIsRejectedAndTheVmNeverRuns() throws Exception {
            send(new SwitchoverFrames.Switchover().write(writer));
            send(new SwitchoverFrames.Commit(1, 1, false).write(writer));
            assertEquals(Kind.INCONSISTENT_LENGTH, rejected().kind());
        }

        @Test
        void aFrameLargerThanTheAgreedLimitIsTooLarge() throws Exception {
            ByteBuffer huge = ByteBuffer.allocate((1 << 20) + 100);
            huge.put(0, (byte) FrameType.PAGES.code());
            send(huge);
            assertEquals(Kind.FRAME_TOO_LARGE, rejected().kind());
        }

        @Test
        void aFrameShorterThanAHeaderIsTruncated() throws Exception {
            send(ByteBuffer.wrap(new byte[] {3, 0, 0}));
            assertEquals(Kind.TRUNCATED, rejected().kind());
        }

        @Test
        void aStreamThatEndsMidMigrationFailsAndDiscards() throws Exception {
            send(pagesFrame(5, PageEncoding.RAW.wireId(), PAGE, PAGE));
            pair.source().close();
            ExecutionException e = assertThrows(ExecutionException.class, destination::get);
            assertInstanceOf(MigrationException.class, e.getCause());
            assertTrue(target.discarded());
            assertEquals(1, target.writes(), "the valid frame before the end was applied, nothing else");
        }

        @Test
        void aValidBatchIsApplied() throws Exception {
            send(pagesFrame(130, PageEncoding.RAW.wireId(), PAGE, PAGE));
            send(new ControlFrames.Abort(ControlFrames.AbortCode.SOURCE_ERROR, "test over").write(writer));
            assertThrows(ExecutionException.class, destination::get);
            assertEquals(1, target.writes());
        }

    }

    /**
     * A source that never completes the handshake, or fails it: it is refused with a specific
     * error and an ABORT saying why, before any target is created.
     */
    @Nested
    class DuringTheHandshake {

        private final MigrationSecret secret = MigrationSecret.random();

        private MigrationOptions withSecret() {
            return MigrationOptions.builder().strategy(Strategy.COLD).secret(secret).build();
        }

        /** @return the destination's failure, once it is certain no target was created */
        private MigrationException failedBeforeAnyTarget() {
            ExecutionException e = assertThrows(ExecutionException.class, () -> destination.get(10, TimeUnit.SECONDS));
            MigrationException m = assertInstanceOf(MigrationException.class, e.getCause(), e.getCause().toString());
            assertEquals(0, targetsCreated.get(), "nothing is created for a source that was not admitted");
            return m;
        }

        /** @return the refusal, once the source got an ABORT saying why and no target was created */
        private ProtocolException refusedBeforeAnyTarget() throws Exception {
            ProtocolException p = assertInstanceOf(ProtocolException.class, failedBeforeAnyTarget());
            ControlFrames.Abort abort = assertInstanceOf(ControlFrames.Abort.class, receiveMessage());
            assertEquals(ControlFrames.AbortCode.PROTOCOL_ERROR, abort.code());
            assertTrue(p.getMessage().contains(abort.reason()), "the source is told why: " + abort.reason()
                    + " / " + p.getMessage());
            return p;
        }

        @Test
        void aHelloWithoutTheZeroEncodingIsIncompatibleBeforeAnythingIsCreated() throws Exception {
            destination = startDestination(MigrationOptions.builder().strategy(Strategy.COLD).build());
            long everyEncodingButZero = 0;
            for (PageEncoding e : PageEncoding.values()) {
                if (e != PageEncoding.ZERO) {
                    everyEncodingButZero |= 1L << e.wireId();
                }
            }
            send(hello(Purpose.NEW, false, everyEncodingButZero, randomBytes(HandshakeFrames.NONCE_BYTES)));
            ProtocolException p = refusedBeforeAnyTarget();
            assertEquals(Kind.INCOMPATIBLE, p.kind());
            assertTrue(p.getMessage().contains("zero and raw"), p.getMessage());
        }

        @Test
        void aHelloWithoutTheRawEncodingIsIncompatibleBeforeAnythingIsCreated() throws Exception {
            destination = startDestination(MigrationOptions.builder().strategy(Strategy.COLD).build());
            send(hello(Purpose.NEW, false, 1L << PageEncoding.ZERO.wireId(), randomBytes(HandshakeFrames.NONCE_BYTES)));
            assertEquals(Kind.INCOMPATIBLE, refusedBeforeAnyTarget().kind());
        }

        @ParameterizedTest(name = "{0}")
        @EnumSource(value = Purpose.class, names = {"RECOVER", "SETTLE"})
        void aFirstConnectionThatDoesNotStartANewMigrationIsRefused(Purpose purpose) throws Exception {
            destination = startDestination(MigrationOptions.builder().strategy(Strategy.COLD).build());
            send(hello(purpose, false, ENCODINGS, randomBytes(HandshakeFrames.NONCE_BYTES)));
            ProtocolException p = refusedBeforeAnyTarget();
            assertEquals(Kind.UNAUTHENTICATED, p.kind(), p.getMessage());
            assertTrue(p.getMessage().contains("new migration"), p.getMessage());
        }

        @Test
        void withASecretAHelloWithoutTheAuthFlagIsUnauthenticated() throws Exception {
            destination = startDestination(withSecret());
            send(hello(Purpose.NEW, false, ENCODINGS, randomBytes(HandshakeFrames.NONCE_BYTES)));
            ProtocolException p = refusedBeforeAnyTarget();
            assertEquals(Kind.UNAUTHENTICATED, p.kind(), p.getMessage());
        }

        /** Sends HELLO with the auth flag and checks the destination's HELLO_ACK; @return the transcript. */
        private byte[] helloAndCheckedAck(byte[] sourceNonce) throws Exception {
            send(hello(Purpose.NEW, true, ENCODINGS, sourceNonce));
            HandshakeFrames.HelloAck ack = assertInstanceOf(HandshakeFrames.HelloAck.class, receiveMessage());
            assertTrue(ack.auth(), "a destination with a secret proves it");
            byte[] transcript = HandshakeProof.transcript(Purpose.NEW, sessionId, sourceNonce, ack.nonce(),
                    ack.maxFrameBytes(), ack.encodings());
            assertTrue(HandshakeProof.matches(HandshakeProof.destination(secret, transcript), ack.proof()),
                    "the destination's proof is over this connection's transcript");
            return transcript;
        }

        @Test
        void withASecretAnAuthFromAnotherSecretIsUnauthenticated() throws Exception {
            destination = startDestination(withSecret());
            byte[] transcript = helloAndCheckedAck(randomBytes(HandshakeFrames.NONCE_BYTES));
            send(new HandshakeFrames.Auth(HandshakeProof.source(MigrationSecret.random(), transcript)).write(writer));
            ProtocolException p = refusedBeforeAnyTarget();
            assertEquals(Kind.UNAUTHENTICATED, p.kind(), p.getMessage());
        }

        @Test
        void withASecretAReplayedAuthFromAnotherConnectionIsUnauthenticated() throws Exception {
            destination = startDestination(withSecret());
            byte[] sourceNonce = randomBytes(HandshakeFrames.NONCE_BYTES);
            byte[] transcript = helloAndCheckedAck(sourceNonce);
            // The AUTH of a recorded connection: the right secret, the same HELLO, the destination's nonce of then.
            byte[] recorded = HandshakeProof.transcript(Purpose.NEW, sessionId, sourceNonce,
                    randomBytes(HandshakeFrames.NONCE_BYTES), 1 << 20, ENCODINGS);
            assertFalse(Arrays.equals(transcript, recorded));
            send(new HandshakeFrames.Auth(HandshakeProof.source(secret, recorded)).write(writer));
            ProtocolException p = refusedBeforeAnyTarget();
            assertEquals(Kind.UNAUTHENTICATED, p.kind(), p.getMessage());
        }

        @Test
        void withASecretTheDestinationsOwnProofReflectedBackIsUnauthenticated() throws Exception {
            destination = startDestination(withSecret());
            byte[] transcript = helloAndCheckedAck(randomBytes(HandshakeFrames.NONCE_BYTES));
            send(new HandshakeFrames.Auth(HandshakeProof.destination(secret, transcript)).write(writer));
            assertEquals(Kind.UNAUTHENTICATED, refusedBeforeAnyTarget().kind());
        }

        @Test
        void withASecretTheRightProofIsAdmittedAndTheTargetCreated() throws Exception {
            destination = startDestination(withSecret());
            byte[] transcript = helloAndCheckedAck(randomBytes(HandshakeFrames.NONCE_BYTES));
            send(new HandshakeFrames.Auth(HandshakeProof.source(secret, transcript)).write(writer));
            VmDescriptor descriptor = new VmDescriptor(LAYOUT, 1, List.of(InMemoryVm.WORKLOAD_DEVICE_ID),
                    "livemig-mem-vcpu-v1");
            send(new HandshakeFrames.Setup(Strategy.COLD, false, false, descriptor, 64).write(writer));
            assertInstanceOf(HandshakeFrames.Ready.class, receiveMessage());
            assertEquals(1, targetsCreated.get());
            send(new ControlFrames.Abort(ControlFrames.AbortCode.SOURCE_ERROR, "test over").write(writer));
            assertThrows(ExecutionException.class, () -> destination.get(10, TimeUnit.SECONDS));
            assertTrue(target.discarded(), "the aborted migration's target is discarded");
        }

        /** @return the destination's failure when its source stalls, checked to come at the handshake deadline */
        private MigrationException droppedAtTheDeadline(Duration deadline, long startNanos) throws Exception {
            MigrationException e = failedBeforeAnyTarget();
            long elapsedMillis = (System.nanoTime() - startNanos) / 1_000_000;
            assertTrue(elapsedMillis >= deadline.toMillis(), "dropped after " + elapsedMillis + " ms");
            assertTrue(elapsedMillis < deadline.toMillis() + 3_000, "dropped by the deadline, not the 5 s I/O "
                    + "timeout: " + elapsedMillis + " ms");
            assertTrue(e.getMessage().contains("no complete handshake within " + deadline.toMillis() + " ms"),
                    e.getMessage());
            assertEquals(null, receiveMessage(), "the connection is closed");
            return e;
        }

        @Test
        void aSourceThatSendsNothingIsDroppedAfterTheHandshakeTimeout() throws Exception {
            Duration deadline = Duration.ofMillis(300);
            long start = System.nanoTime();
            destination = startDestination(MigrationOptions.builder().strategy(Strategy.COLD)
                    .receiveLimits(ReceiveLimits.DEFAULTS.withHandshakeTimeout(deadline)).build());
            droppedAtTheDeadline(deadline, start);
        }

        @Test
        void aSourceThatStopsAfterHelloIsDroppedAfterTheHandshakeTimeout() throws Exception {
            // Long enough for a cold JVM to answer HELLO (first SecureRandom and HMAC) before it passes.
            Duration deadline = Duration.ofMillis(1_500);
            long start = System.nanoTime();
            destination = startDestination(withSecret().toBuilder()
                    .receiveLimits(ReceiveLimits.DEFAULTS.withHandshakeTimeout(deadline)).build());
            helloAndCheckedAck(randomBytes(HandshakeFrames.NONCE_BYTES));
            droppedAtTheDeadline(deadline, start);
        }
    }
}
