package io.livemig.e2e.security;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationSecret;
import io.livemig.api.MigrationStatus;
import io.livemig.api.PostcopyStats;
import io.livemig.api.Strategy;
import io.livemig.channel.Reconnector;
import io.livemig.e2e.ObservedTarget;
import io.livemig.e2e.security.FramingProxy.Verdict;
import io.livemig.e2e.security.FramingProxy.Way;
import io.livemig.e2e.security.Scene.Destination;
import io.livemig.e2e.security.Scene.PauseSnapshot;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.Migration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import io.livemig.kit.InMemoryVm;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static io.livemig.e2e.security.Scene.PATIENCE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A third party at post-copy recovery: the link of an authenticated post-copy migration is cut
 * while the VM already runs at the destination with pages missing, and before the real source
 * dials again, others connect to the destination's port claiming to be the source coming back.
 * Every one of them is refused at the handshake, before it is told anything about the migration
 * or can write a page; the real source then recovers, and the guest holds exactly the source's
 * memory.
 */
class RecoveryIntruderTest {

    private static final long BANDWIDTH_BYTES_PER_SECOND = 4L << 20;
    /** A cold page (outside the guest's working set) an intruder tries to overwrite. */
    private static final long TARGET_PAGE = 1000;
    private static final byte MARKER = (byte) 0xEE;

    @Test
    void thirdPartiesAtRecoveryAreRefusedAndTheRealSourceRecoversByteExact() throws Exception {
        MigrationSecret secret = MigrationSecret.random();
        AtomicBoolean cut = new AtomicBoolean();
        CountDownLatch sourceRedials = new CountDownLatch(1);
        CountDownLatch intrudersDone = new CountDownLatch(1);
        AtomicLong missingAtSwitchover = new AtomicLong(-1);
        try (InMemoryVm vm = Scene.runningSource();
             TcpChannelListener listener = Scene.listen();
             FramingProxy proxy = FramingProxy.to(listener.localAddress(), (connection, way, message) ->
                     connection == 0 && way == Way.FORWARD && cut.get() ? Verdict.DROP_AND_CUT : Verdict.PASS);
             TcpChannel first = Scene.connect(proxy.address());
             Scene.Dialler dialler = new Scene.Dialler(proxy.address())) {
            MigrationOptions options = Scene.options(secret).strategy(Strategy.POSTCOPY)
                    .bandwidthLimitBytesPerSecond(BANDWIDTH_BYTES_PER_SECOND).recoveryWindow(PATIENCE).build();
            PauseSnapshot atPause = new PauseSnapshot(vm.memory());
            MigrationOptions sourceOptions = Scene.alsoTell(options, event -> {
                atPause.onEvent(event);
                if (event instanceof MigrationEvent.PostcopyStarted started) {
                    missingAtSwitchover.set(started.missingPages());
                    // Mid-post-copy: the push takes over a second at this bandwidth.
                    Thread.ofPlatform().start(() -> {
                        sleep(200);
                        cut.set(true);
                    });
                }
            });
            // The source dials again only once the intruders have had their go.
            Reconnector redial = () -> {
                sourceRedials.countDown();
                await(intrudersDone);
                return dialler.reconnect();
            };
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(listener, PATIENCE, options);
            Migration migration = LiveMigration.start(vm, first, redial, sourceOptions);

            assertTrue(sourceRedials.await(PATIENCE.toSeconds(), TimeUnit.SECONDS), "the link was never cut");
            assertTrue(proxy.wasCut(0));
            assertTrue(destination.target().resumes() > 0, "the VM already runs at the destination");
            try {
                intrude(listener.localAddress(), proxy.firstForwardMessage(0));
            } finally {
                intrudersDone.countDown();
            }

            MigrationReport report = migration.await(PATIENCE);
            assertEquals(MigrationStatus.COMPLETED, report.status());
            assertTrue(report.verified(), "every page at the destination equals the source's at the pause");
            PostcopyStats postcopy = report.postcopy().orElseThrow();
            assertEquals(1, postcopy.recoveries(), "the real source recovered the migration, once");
            assertTrue(postcopy.recovered());
            assertEquals(2, proxy.connections(), "the source's first connection and its recovery connection");

            ReceivedMigration migrated = Scene.value(received);
            ObservedTarget target = destination.target();
            assertEquals(1, destination.targetsMade());
            assertTrue(target.running(), "the VM runs at the destination");
            assertTrue(vm.vcpus().isPaused(), "and not at the source: exactly one runs");
            assertEquals(missingAtSwitchover.get(), target.pagesInstalled(),
                    "every page missing at the switchover was installed");
            assertEquals(1, target.mostInstallsOfOnePage(), "and each once: nobody installed a page twice");
            byte[] intruded = target.vm().memory().page(TARGET_PAGE);
            assertFalse(allBytesAre(intruded, MARKER), "the intruder's page never reached the guest");
            atPause.assertColdPagesMatch(target.vm());
            migrated.target().close();
        }
    }

    /** Four third parties, each refused at the handshake with the reason its HELLO deserves. */
    private static void intrude(InetSocketAddress port, byte[] recordedHello) throws Exception {
        HandshakeFrames.Hello original = WirePeer.helloIn(recordedHello);
        byte[] sessionId = original.sessionId();
        byte[] otherSession = WirePeer.random(HandshakeFrames.SESSION_ID_BYTES);
        assertFalse(Arrays.equals(sessionId, otherSession));

        // 1. Another migration's recovery (a random session id), offering a proof.
        try (WirePeer intruder = WirePeer.connect(port)) {
            intruder.hello(Purpose.RECOVER, otherSession, true);
            assertRefused(intruder.refusal(), "names another migration");
        }
        // 2. This migration's session id, read off the cleartext HELLO, without the secret; it
        //    sends a page straight after, as if it had been let in.
        try (WirePeer intruder = WirePeer.connect(port)) {
            intruder.hello(Purpose.RECOVER, sessionId, false);
            try {
                intruder.sendPage(TARGET_PAGE, 4096, MARKER);
            } catch (IOException closedAlready) {
                // refused before the page could even be sent
            }
            assertRefused(intruder.refusal(), "requires the migration secret");
        }
        // 3. This migration's session id, proving a secret that is not this migration's.
        try (WirePeer intruder = WirePeer.connect(port)) {
            intruder.hello(Purpose.RECOVER, sessionId, true);
            HandshakeFrames.HelloAck ack = assertInstanceOf(HandshakeFrames.HelloAck.class, intruder.next(),
                    "the destination proves itself first, telling nothing about the migration");
            intruder.proveWith(MigrationSecret.random(), Purpose.RECOVER, sessionId, ack);
            try {
                intruder.sendPage(TARGET_PAGE, 4096, MARKER);
            } catch (IOException closedAlready) {
                // refused before the page could even be sent
            }
            assertRefused(intruder.refusal(), "proof of the migration secret is wrong");
        }
        // 4. The source's own opening HELLO, replayed as recorded.
        try (WirePeer intruder = WirePeer.connect(port)) {
            intruder.sendRaw(recordedHello);
            assertRefused(intruder.refusal(), "a migration is running here already");
        }
    }

    private static void assertRefused(String reason, String why) {
        assertNotNull(reason, "the destination closed the connection without saying why");
        assertTrue(reason.contains(why), reason);
    }

    private static boolean allBytesAre(byte[] bytes, byte value) {
        for (byte b : bytes) {
            if (b != value) {
                return false;
            }
        }
        return true;
    }

    private static void await(CountDownLatch latch) throws IOException {
        try {
            if (!latch.await(PATIENCE.toSeconds(), TimeUnit.SECONDS)) {
                throw new IOException("the test never let the source dial again");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
