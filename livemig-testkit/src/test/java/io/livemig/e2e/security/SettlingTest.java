package io.livemig.e2e.security;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationSecret;
import io.livemig.api.MigrationStatus;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.Verification;
import io.livemig.e2e.security.FramingProxy.Verdict;
import io.livemig.e2e.security.FramingProxy.Way;
import io.livemig.e2e.security.Scene.Destination;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.kit.InMemoryVm;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import static io.livemig.e2e.security.Scene.PATIENCE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Settling a cut at the switchover: the link breaks after COMMIT left the source and before
 * RESUMED came back, so the source cannot know whether the destination resumed the VM. Given a
 * reconnector, it dials again (proving the secret, naming the migration) and asks; the
 * destination says, and exactly one copy of the VM runs: the destination's if it resumed, the
 * source's if the destination never got COMMIT and discarded what it had. Without a reconnector
 * the source cannot ask, stays paused and says UNKNOWN.
 */
class SettlingTest {

    private static final MigrationSecret SECRET = MigrationSecret.random();

    private static MigrationOptions options(Duration recoveryWindow) {
        return Scene.options(SECRET).strategy(Strategy.COLD).recoveryWindow(recoveryWindow).build();
    }

    /** Drops the first frame of {@code type} that travels {@code way} on the first connection, and cuts it there. */
    private static FramingProxy.Rule cutAt(Way way, FrameType type) {
        return (connection, w, message) -> connection == 0 && w == way && (message[0] & 0xFF) == type.code()
                ? Verdict.DROP_AND_CUT : Verdict.PASS;
    }

    @Test
    void aCutBeforeResumedReachesTheSourceIsSettledAsCompletedWithTheVmHandedOver() throws Exception {
        MigrationOptions options = options(PATIENCE);
        try (InMemoryVm vm = Scene.runningSource();
             TcpChannelListener listener = Scene.listen();
             FramingProxy proxy = FramingProxy.to(listener.localAddress(), cutAt(Way.RETURN, FrameType.RESUMED));
             TcpChannel first = Scene.connect(proxy.address());
             Scene.Dialler redial = new Scene.Dialler(proxy.address())) {
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(listener, PATIENCE, options);

            MigrationReport report = LiveMigration.migrate(vm, first, redial, options);

            assertTrue(proxy.wasCut(0), "RESUMED never reached the source");
            assertEquals(2, proxy.connections(), "the source came back once, to ask");
            assertEquals(MigrationStatus.COMPLETED, report.status(), "the destination said it resumed the VM");
            assertEquals(Verification.NOT_CHECKED, report.verification().outcome(), "completed, unverified");
            assertFalse(report.switchover().downtime().isZero(),
                    "the VM was down until the destination's answer at the latest, not for no time at all");
            assertTrue(vm.vcpus().isPaused(), "the source VM stays paused: it was handed over");

            ReceivedMigration migrated = Scene.value(received);
            assertTrue(destination.target().running(), "the VM runs at the destination");
            assertEquals(1, destination.target().resumes(), "resumed there once: exactly one copy runs");
            assertEquals(Verification.NOT_CHECKED, migrated.report().verification().outcome());
            migrated.target().close();
        }
    }

    @Test
    void aCutBeforeCommitReachesTheDestinationIsSettledAsDiscardedAndTheSourceResumes() throws Exception {
        MigrationOptions options = options(PATIENCE);
        try (InMemoryVm vm = Scene.runningSource();
             TcpChannelListener listener = Scene.listen();
             FramingProxy proxy = FramingProxy.to(listener.localAddress(), cutAt(Way.FORWARD, FrameType.COMMIT));
             TcpChannel first = Scene.connect(proxy.address());
             Scene.Dialler redial = new Scene.Dialler(proxy.address())) {
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(listener, PATIENCE, options);

            MigrationException e = assertThrows(MigrationException.class,
                    () -> LiveMigration.migrate(vm, first, redial, options));

            assertTrue(proxy.wasCut(0), "COMMIT never reached the destination");
            assertEquals(2, proxy.connections(), "the source came back once, to ask");
            assertEquals(SourceVmState.RUNNING, e.sourceState(), e.getMessage());
            Scene.assertGuestRuns(vm);

            MigrationException atDestination = (MigrationException) Scene.failure(received);
            assertEquals(SourceVmState.UNKNOWN, atDestination.sourceState(), atDestination.getMessage());
            assertEquals(1, destination.targetsMade());
            assertEquals(0, destination.target().resumes(), "the destination never resumed its copy");
            assertTrue(destination.target().discarded(), "and discarded it: exactly one copy runs, the source's");
        }
    }

    @Test
    void withoutAReconnectorACutBeforeResumedLeavesTheSourcePausedAndUnknown() throws Exception {
        // The destination waits this long for the source to ask, then keeps the VM it resumed.
        MigrationOptions options = options(Duration.ofSeconds(2));
        try (InMemoryVm vm = Scene.runningSource();
             TcpChannelListener listener = Scene.listen();
             FramingProxy proxy = FramingProxy.to(listener.localAddress(), cutAt(Way.RETURN, FrameType.RESUMED));
             TcpChannel first = Scene.connect(proxy.address())) {
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(listener, PATIENCE, options);

            MigrationException e = assertThrows(MigrationException.class,
                    () -> LiveMigration.migrate(vm, first, options));

            assertTrue(proxy.wasCut(0), "RESUMED never reached the source");
            assertEquals(1, proxy.connections(), "the source had no way to come back");
            assertEquals(SourceVmState.UNKNOWN, e.sourceState(), e.getMessage());
            assertTrue(vm.vcpus().isPaused(), "the source stays paused rather than risk running the VM twice");
            long writes = vm.writesDone();

            ReceivedMigration migrated = Scene.value(received);
            assertTrue(destination.target().running(), "the VM runs at the destination");
            assertEquals(1, destination.target().resumes());
            assertEquals(writes, vm.writesDone(), "the source's guest did not run meanwhile: one copy runs");
            assertFalse(migrated.report().verified());
            migrated.target().close();
        }
    }
}
