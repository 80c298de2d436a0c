package io.livemig.e2e.protocol;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationSecret;
import io.livemig.api.ProtocolException;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.compress.PageEncoding;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A hand-driven hostile destination, speaking protocol v2, against the real source: the source
 * fails cleanly and its VM keeps running; with a secret, it tells nothing about the VM to a
 * destination that does not prove it.
 */
class HostileDestinationTest {

    @Test
    void aPongEchoingATokenNoPingCarriedFailsTheMigrationAndTheSourceKeepsRunning() throws Exception {
        // A guest that rewrites 1 MiB at 64 MB/s over a 16 MB/s link never converges: the PONG
        // arrives while the source is still in the live copy.
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(16L << 20, Duration.ZERO), TimeSource.system(),
                (16 << 20) + 4096, Duration.ofSeconds(5));
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(4L << 20).vcpus(1).prefill(0.5)
                .workload(new Workload(WorkloadPattern.RANDOM, 1L << 20, 64L << 20, 0, 3)).build()) {
            vm.start();
            CompletableFuture<Void> hostile = CompletableFuture.runAsync(() -> playHostileDestination(pair));
            ProtocolException e = assertThrows(ProtocolException.class, () -> LiveMigration.migrate(vm, pair.source(),
                    MigrationOptions.builder().strategy(Strategy.PRECOPY).downtimeLimit(Duration.ofMillis(1)).build()));
            assertTrue(e.getMessage().contains("which no PING carried"), e.getMessage());
            assertEquals(SourceVmState.RUNNING, e.sourceState());
            assertFalse(vm.vcpus().isPaused(), "the source VM runs on");
            pair.destination().close();
            hostile.join();
        }
    }

    @Test
    void aSourceWithASecretRefusesADestinationThatDoesNotProveOneBeforeSendingSetup() throws Exception {
        assertTheSourceRefusesAndSendsNoSetup(false, new byte[HandshakeFrames.PROOF_BYTES],
                "the destination does not prove one");
    }

    @Test
    void aSourceWithASecretRefusesADestinationWithAWrongProofBeforeSendingSetup() throws Exception {
        byte[] wrong = new byte[HandshakeFrames.PROOF_BYTES];
        ThreadLocalRandom.current().nextBytes(wrong);
        assertTheSourceRefusesAndSendsNoSetup(true, wrong, "proof of the migration secret is wrong");
    }

    /**
     * A destination that answers HELLO with {@code auth} and {@code proof} and records every frame
     * type it gets after: the source must fail with UNAUTHENTICATED, its VM running, and never send
     * SETUP (which describes the VM) nor AUTH (its own proof) to it.
     */
    private static void assertTheSourceRefusesAndSendsNoSetup(boolean auth, byte[] proof, String why)
            throws Exception {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system(), (16 << 20) + 4096,
                Duration.ofSeconds(5));
        List<FrameType> received = new CopyOnWriteArrayList<>();
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(1L << 20).vcpus(1).build()) {
            vm.start();
            CompletableFuture<Void> hostile = CompletableFuture.runAsync(() -> {
                FrameWriter writer = new FrameWriter(1 << 20);
                ByteBuffer in = ByteBuffer.allocate(1 << 16);
                CRC32C crc = new CRC32C();
                byte[] nonce = new byte[HandshakeFrames.NONCE_BYTES];
                ThreadLocalRandom.current().nextBytes(nonce);
                try {
                    while (true) {
                        in.clear();
                        if (pair.destination().receive(in) < 0) {
                            return;
                        }
                        Frame frame = Frame.open(in.flip(), crc);
                        received.add(frame.type());
                        if (frame.type() == FrameType.HELLO) {
                            HandshakeFrames.Hello hello = (HandshakeFrames.Hello) Message.read(frame,
                                    Message.Context.BEFORE_SETUP);
                            pair.destination().send(new HandshakeFrames.HelloAck(Wire.VERSION, 1 << 20,
                                    hello.encodings(), auth, nonce, proof).write(writer));
                        }
                    }
                } catch (Exception closed) {
                    // the source gave up and closed its end
                }
            });
            ProtocolException e = assertThrows(ProtocolException.class, () -> LiveMigration.migrate(vm, pair.source(),
                    MigrationOptions.builder().strategy(Strategy.PRECOPY).secret(MigrationSecret.random()).build()));
            assertEquals(ProtocolException.Kind.UNAUTHENTICATED, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains(why), e.getMessage());
            assertEquals(SourceVmState.RUNNING, e.sourceState());
            assertFalse(vm.vcpus().isPaused(), "the source VM runs on");
            pair.source().close();
            pair.destination().close();
            hostile.join();
            assertEquals(FrameType.HELLO, received.get(0));
            assertFalse(received.contains(FrameType.SETUP), "SETUP was sent to an unauthenticated peer: " + received);
            assertFalse(received.contains(FrameType.AUTH), "AUTH was sent to an unauthenticated peer: " + received);
        }
    }

    /** Answers the handshake, waits for the first PING and echoes a later token than it carried. */
    private static void playHostileDestination(InMemoryChannel.Pair pair) {
        FrameWriter writer = new FrameWriter(1 << 20);
        ByteBuffer in = ByteBuffer.allocateDirect((16 << 20) + 4096);
        CRC32C crc = new CRC32C();
        long encodings = (1L << PageEncoding.ZERO.wireId()) | (1L << PageEncoding.RAW.wireId());
        // Protocol v2 without a secret: no auth flag, a fresh nonce, a zero proof.
        byte[] nonce = new byte[HandshakeFrames.NONCE_BYTES];
        ThreadLocalRandom.current().nextBytes(nonce);
        try {
            while (true) {
                in.clear();
                if (pair.destination().receive(in) < 0) {
                    return;
                }
                in.flip();
                Frame frame = Frame.open(in, crc);
                switch (frame.type()) {
                    case HELLO -> pair.destination().send(new HandshakeFrames.HelloAck(Wire.VERSION, 1 << 20, encodings,
                            false, nonce, new byte[HandshakeFrames.PROOF_BYTES]).write(writer));
                    case SETUP -> pair.destination().send(new HandshakeFrames.Ready().write(writer));
                    case PING -> {
                        long token = ((ControlFrames.Ping) Message.read(frame, Message.Context.BEFORE_SETUP)).token();
                        pair.destination().send(new ControlFrames.Pong(token + 1).write(writer));
                    }
                    default -> {
                    }
                }
            }
        } catch (Exception closed) {
            // the source gave up and closed its end: what the test expects
        }
    }
}
