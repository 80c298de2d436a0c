package io.livemig.e2e.security;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationSecret;
import io.livemig.api.MigrationStatus;
import io.livemig.api.ProtocolException;
import io.livemig.api.Strategy;
import io.livemig.e2e.security.Scene.Destination;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.kit.InMemoryVm;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static io.livemig.e2e.security.Scene.PATIENCE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Replay: a migration recorded on the wire (the attacker saw every forward byte of a real,
 * authenticated migration) and sent again to a destination that holds the same secret. The
 * destination's nonce is new, so the recorded proof does not match it: the replay is refused at
 * the handshake, before SETUP, and no target is ever made.
 */
class ReplayTest {

    private static final MigrationSecret SECRET = MigrationSecret.random();
    private static final MigrationOptions OPTIONS = Scene.options(SECRET).strategy(Strategy.PRECOPY).build();

    /** Migrates a VM with the secret through a recording proxy; returns every forward message. */
    private static List<byte[]> recordARealMigration() throws Exception {
        try (InMemoryVm vm = Scene.runningSource();
             TcpChannelListener listener = Scene.listen();
             FramingProxy proxy = FramingProxy.to(listener.localAddress(), FramingProxy.PASS_ALL)) {
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(listener, PATIENCE, OPTIONS);
            MigrationReport report;
            try (TcpChannel channel = Scene.connect(proxy.address())) {
                report = LiveMigration.migrate(vm, channel, OPTIONS);
            }
            assertEquals(MigrationStatus.COMPLETED, report.status());
            assertTrue(report.verified(), "the recorded migration is a real, complete one");
            Scene.value(received).target().close();
            List<byte[]> recorded = proxy.forwardMessages(0);
            assertEquals(FrameType.HELLO.code(), recorded.get(0)[0] & 0xFF);
            assertEquals(FrameType.AUTH.code(), recorded.get(1)[0] & 0xFF, "the source proved the secret");
            assertEquals(FrameType.SETUP.code(), recorded.get(2)[0] & 0xFF);
            assertTrue(recorded.size() > 10, "the recording holds the whole migration: " + recorded.size());
            return recorded;
        }
    }

    /** Sends the recording on a thread of its own, as fast as the destination takes it, until it closes. */
    private static Thread replay(WirePeer attacker, List<byte[]> recorded) {
        return Thread.ofPlatform().name("replayer").start(() -> {
            try {
                for (byte[] message : recorded) {
                    attacker.sendRaw(message);
                }
            } catch (IOException refused) {
                // the destination stopped listening: that is the point
            }
        });
    }

    @Test
    void aRecordedMigrationReplayedToAFreshDestinationIsRefusedBeforeSetup() throws Exception {
        List<byte[]> recorded = recordARealMigration();
        try (TcpChannelListener listener = Scene.listen();
             WirePeer attacker = WirePeer.connect(listener.localAddress());
             TcpChannel accepted = listener.accept(PATIENCE)) {
            Destination fresh = new Destination();
            CompletableFuture<ReceivedMigration> received = fresh.receive(accepted, OPTIONS);
            Thread replayer = replay(attacker, recorded);

            ProtocolException refused = assertInstanceOf(ProtocolException.class, Scene.failure(received));
            assertEquals(ProtocolException.Kind.UNAUTHENTICATED, refused.kind(), refused.getMessage());
            assertTrue(refused.getMessage().contains("proof of the migration secret is wrong"), refused.getMessage());
            assertEquals(MigrationPhase.HANDSHAKE, refused.phase(), "refused before SETUP");
            assertEquals(0, fresh.targetsMade(), "the target factory was never called: nothing reached a guest");

            accepted.close();
            replayer.join(PATIENCE.toMillis());
        }
    }

    @Test
    void aReplayAtAListeningDestinationIsTurnedAwayAndTheRealSourceMigratesAfterIt() throws Exception {
        List<byte[]> recorded = recordARealMigration();
        try (TcpChannelListener listener = Scene.listen();
             InMemoryVm vm = Scene.runningSource()) {
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(listener, PATIENCE, OPTIONS);

            String reason;
            try (WirePeer attacker = WirePeer.connect(listener.localAddress())) {
                Thread replayer = replay(attacker, recorded);
                reason = attacker.refusal();
                replayer.join(PATIENCE.toMillis());
            }
            assertNotNull(reason, "the destination said why before it closed the replay's connection");
            assertTrue(reason.contains("proof of the migration secret is wrong"), reason);
            assertEquals(0, destination.targetsMade(), "the replay made no target");

            MigrationReport report;
            try (TcpChannel channel = Scene.connect(listener.localAddress())) {
                report = LiveMigration.migrate(vm, channel, OPTIONS);
            }
            assertEquals(MigrationStatus.COMPLETED, report.status());
            assertTrue(report.verified(), report.toString());
            ReceivedMigration migrated = Scene.value(received);
            assertEquals(1, destination.targetsMade(), "one target, the real source's");
            assertTrue(destination.target().running(), "the real source's VM runs at the destination");
            assertTrue(vm.vcpus().isPaused(), "and no longer at the source");
            migrated.target().close();
        }
    }
}
