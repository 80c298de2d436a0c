package io.livemig.e2e.security;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationSecret;
import io.livemig.api.MigrationStatus;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.e2e.security.FramingProxy.Verdict;
import io.livemig.e2e.security.FramingProxy.Way;
import io.livemig.e2e.security.Scene.Destination;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.Migration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import io.livemig.kit.InMemoryVm;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

import static io.livemig.e2e.security.Scene.PATIENCE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The data connections of parallel streams (docs/protocol.md, section 6) against third parties and
 * breaks: a stranger cannot attach a data connection to a running migration, however much of the
 * first channel's handshake it saw, and a data connection cut mid-copy fails the migration before
 * the switchover with the source VM running on and the destination's target discarded.
 */
class DataConnectionTest {

    /** Slow enough that the copy of the 8 MiB VM lasts over a second. */
    private static final long BANDWIDTH_BYTES_PER_SECOND = 4L << 20;

    @Test
    void strangersCannotAttachADataConnectionAndTheMigrationCompletes() throws Exception {
        MigrationSecret secret = MigrationSecret.random();
        try (InMemoryVm vm = Scene.runningSource();
             TcpChannelListener listener = Scene.listen();
             FramingProxy proxy = FramingProxy.to(listener.localAddress(), FramingProxy.PASS_ALL);
             TcpChannel first = Scene.connect(proxy.address());
             Scene.Dialler dialler = new Scene.Dialler(proxy.address())) {
            MigrationOptions options = Scene.options(secret).strategy(Strategy.PRECOPY).streams(2)
                    .bandwidthLimitBytesPerSecond(BANDWIDTH_BYTES_PER_SECOND).build();
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(listener, PATIENCE, options);
            Migration migration = LiveMigration.start(vm, first, dialler, options);
            awaitConnections(proxy, 3);

            byte[] sessionId = WirePeer.helloIn(proxy.firstForwardMessage(0)).sessionId();
            InetSocketAddress port = listener.localAddress();
            // 1. A data connection of another migration.
            try (WirePeer stranger = WirePeer.connect(port)) {
                stranger.hello(Purpose.STREAM, WirePeer.random(HandshakeFrames.SESSION_ID_BYTES), true);
                assertRefused(stranger.refusal(), "names another migration");
            }
            // 2. This migration's session id, read off the cleartext HELLO, without the secret.
            try (WirePeer stranger = WirePeer.connect(port)) {
                stranger.hello(Purpose.STREAM, sessionId, false);
                assertRefused(stranger.refusal(), "requires the migration secret");
            }
            // 3. This migration's session id, proving another secret.
            try (WirePeer stranger = WirePeer.connect(port)) {
                stranger.hello(Purpose.STREAM, sessionId, true);
                HandshakeFrames.HelloAck ack = assertInstanceOf(HandshakeFrames.HelloAck.class, stranger.next());
                stranger.proveWith(MigrationSecret.random(), Purpose.STREAM, sessionId, ack);
                assertRefused(stranger.refusal(), "proof of the migration secret is wrong");
            }

            MigrationReport report = migration.await(PATIENCE);
            assertEquals(MigrationStatus.COMPLETED, report.status());
            assertTrue(report.verified(), "every page landed as the source had it at the pause");
            assertEquals(3, proxy.connections(), "the first channel and the two data connections, nothing else");
            assertEquals(1, destination.targetsMade());
            Scene.value(received).target().close();
        }
    }

    @Test
    void aDataConnectionCutMidCopyFailsTheMigrationAndTheSourceRunsOn() throws Exception {
        AtomicInteger forwardOnSecond = new AtomicInteger();
        try (InMemoryVm vm = Scene.runningSource();
             TcpChannelListener listener = Scene.listen();
             // Connection 2 is the second data connection: cut it after its handshake and a few frames.
             FramingProxy proxy = FramingProxy.to(listener.localAddress(), (connection, way, message) ->
                     connection == 2 && way == Way.FORWARD && forwardOnSecond.incrementAndGet() > 4
                             ? Verdict.DROP_AND_CUT : Verdict.PASS);
             TcpChannel first = Scene.connect(proxy.address());
             Scene.Dialler dialler = new Scene.Dialler(proxy.address())) {
            MigrationOptions options = Scene.options(null).strategy(Strategy.PRECOPY).streams(2)
                    .bandwidthLimitBytesPerSecond(BANDWIDTH_BYTES_PER_SECOND).build();
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(listener, PATIENCE, options);

            MigrationException failure = assertThrows(MigrationException.class,
                    () -> LiveMigration.migrate(vm, first, dialler, options));
            assertEquals(SourceVmState.RUNNING, failure.sourceState(), failure.toString());
            assertTrue(proxy.wasCut(2), "the data connection was cut");
            Scene.assertGuestRuns(vm);
            assertInstanceOf(MigrationException.class, Scene.failure(received));
            assertTrue(destination.target().discarded(), "the destination discarded what it received");
        }
    }

    private static void awaitConnections(FramingProxy proxy, int count) throws InterruptedException {
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (proxy.connections() < count) {
            assertTrue(System.nanoTime() < deadline, "only " + proxy.connections() + " connections came");
            Thread.sleep(5);
        }
    }

    private static void assertRefused(String reason, String why) {
        assertNotNull(reason, "the destination closed the connection without saying why");
        assertTrue(reason.contains(why), "refused, but for: " + reason);
    }
}
