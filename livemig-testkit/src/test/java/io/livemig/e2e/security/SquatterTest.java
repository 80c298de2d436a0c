package io.livemig.e2e.security;

import io.livemig.api.ChannelException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationSecret;
import io.livemig.api.MigrationStatus;
import io.livemig.api.ReceiveLimits;
import io.livemig.e2e.security.Scene.Destination;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.kit.InMemoryVm;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static io.livemig.e2e.security.Scene.PATIENCE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Squatters: connections that reach a listening destination first and never complete a
 * handshake, idle or sending a byte now and then so that no per-read timeout fires. Each is
 * greeted on its own with a deadline, so the real source that comes after them migrates at once,
 * and the destination closes them when their deadline passes.
 */
class SquatterTest {

    private static final MigrationSecret SECRET = MigrationSecret.random();
    private static final Duration TRICKLE = Duration.ofMillis(300);

    /** @return the bytes a source sends first on TCP, length prefix and all: a slow squatter sends these */
    private static byte[] helloOnTheWire() {
        ByteBuffer frame = new FrameWriter(Wire.DEFAULT_MAX_FRAME_BYTES).write(new HandshakeFrames.Hello(Wire.VERSION,
                Wire.VERSION, Wire.DEFAULT_MAX_FRAME_BYTES, WirePeer.PLAIN, HandshakeFrames.Purpose.NEW, true,
                WirePeer.random(HandshakeFrames.SESSION_ID_BYTES), WirePeer.random(HandshakeFrames.NONCE_BYTES)));
        ByteBuffer onTheWire = ByteBuffer.allocate(4 + frame.remaining()).putInt(frame.remaining()).put(frame);
        return onTheWire.array();
    }

    private static MigrationOptions withHandshakeTimeout(Duration timeout) {
        return Scene.options(SECRET).receiveLimits(ReceiveLimits.DEFAULTS.withHandshakeTimeout(timeout)).build();
    }

    /** Migrates a new VM to the listener; asserts it completed and verified, and runs at the destination. */
    private static void migrateTheRealSource(InetSocketAddress address, MigrationOptions options,
                                             Destination destination, CompletableFuture<ReceivedMigration> received)
            throws Exception {
        try (InMemoryVm vm = Scene.runningSource()) {
            MigrationReport report;
            try (TcpChannel channel = Scene.connect(address)) {
                report = LiveMigration.migrate(vm, channel, options);
            }
            assertEquals(MigrationStatus.COMPLETED, report.status());
            assertTrue(report.verified(), report.toString());
            ReceivedMigration migrated = Scene.value(received);
            assertEquals(1, destination.targetsMade(), "one target, the real source's");
            assertTrue(destination.target().running(), "the VM runs at the destination");
            assertTrue(vm.vcpus().isPaused(), "and no longer at the source");
            migrated.target().close();
        }
    }

    @Test
    void idleAndSlowSquattersDoNotHoldUpTheRealSourceAndAreDroppedWhenItsMigrationEnds() throws Exception {
        // A deadline far beyond what the real migration needs: it must not have to wait for it.
        MigrationOptions options = withHandshakeTimeout(PATIENCE.multipliedBy(2));
        try (TcpChannelListener listener = Scene.listen()) {
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(listener, PATIENCE, options);
            try (Squatter idle = Squatter.idle(listener.localAddress());
                 Squatter slow = Squatter.trickling(listener.localAddress(), helloOnTheWire(), TRICKLE)) {
                while (slow.bytesSent() < 3) {
                    Thread.sleep(TRICKLE.toMillis());
                }
                migrateTheRealSource(listener.localAddress(), options, destination, received);
                // Long before their deadline and the I/O timeout: the destination lets go of them
                // once the migration they never were part of has ended.
                assertTrue(idle.awaitClosedByPeer(PATIENCE.dividedBy(2)), "the idle squatter was not closed");
                assertTrue(slow.awaitClosedByPeer(PATIENCE.dividedBy(2)), "the slow squatter was not closed");
                long admitted = destination.askedNanos();
                assertTrue(idle.closedNanos() > admitted && slow.closedNanos() > admitted,
                        "both were still connected, waiting, when the real source was admitted and set up");
            }
        }
    }

    @Test
    void idleAndSlowSquattersAreClosedAtTheHandshakeDeadlineAndNeverAdmitted() throws Exception {
        Duration deadline = Duration.ofSeconds(1);
        Duration acceptTimeout = Duration.ofSeconds(5);
        byte[] hello = helloOnTheWire();
        try (TcpChannelListener listener = Scene.listen()) {
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(listener, acceptTimeout,
                    withHandshakeTimeout(deadline));
            try (Squatter idle = Squatter.idle(listener.localAddress());
                 Squatter slow = Squatter.trickling(listener.localAddress(), hello, TRICKLE)) {
                // Well before the 30 s I/O timeout, which alone would drop the idle one and never the slow one.
                assertTrue(idle.awaitClosedByPeer(PATIENCE.dividedBy(2)), "the idle squatter was not closed");
                assertTrue(slow.awaitClosedByPeer(PATIENCE.dividedBy(2)), "the slow squatter was not closed");
                assertTrue(idle.lifetime().compareTo(deadline) >= 0, "closed by the deadline, not before: "
                        + idle.lifetime());
                assertTrue(slow.lifetime().compareTo(deadline) >= 0, "closed by the deadline, not before: "
                        + slow.lifetime());
                assertTrue(slow.bytesSent() < hello.length, "the slow squatter was cut off mid-HELLO, after "
                        + slow.bytesSent() + " bytes");
            }
            ChannelException nobody = assertInstanceOf(ChannelException.class, Scene.failure(received));
            assertTrue(nobody.getMessage().contains("no source was admitted"), nobody.getMessage());
            assertEquals(0, destination.targetsMade(), "no squatter got as far as SETUP");
        }
    }

    @Test
    void aFloodOfIdleConnectionsDoesNotStopTheRealSource() throws Exception {
        MigrationOptions options = withHandshakeTimeout(PATIENCE);
        List<Squatter> flood = new ArrayList<>();
        try (TcpChannelListener listener = Scene.listen()) {
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(listener, PATIENCE, options);
            try {
                for (int i = 0; i < 100; i++) {
                    flood.add(Squatter.idle(listener.localAddress()));
                }
                // Let the destination accept the whole flood before the real source comes.
                Thread.sleep(1000);
                migrateTheRealSource(listener.localAddress(), options, destination, received);
            } finally {
                flood.forEach(Squatter::close);
            }
        }
    }
}
