package io.livemig.e2e;

import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.PassThroughPolicy;
import io.livemig.api.PassThroughStats;
import io.livemig.api.SourceVmState;
import io.livemig.api.TimeSource;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.FailoverPair;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.StatefulDeviceSpec;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.MigratableDevice;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pass-through devices under the policy (Zhai et al.'s failover): unplugged with the guest's
 * acknowledgement before the migration and plugged back at the destination, an unplug the guest
 * never acknowledges, a replug that fails, and a device the policy refuses; each with the outcome
 * the reports state.
 */
class FailoverTest {

    private static final Duration WAIT = Duration.ofSeconds(60);
    /** The pass-through NIC: a device that cannot migrate its state here, only be failed over. */
    private static final StatefulDeviceSpec VF = StatefulDeviceSpec.of("vf0", 64L << 10);

    private static InMemoryVm source(FailoverPair pair) {
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(4L << 20).prefill(0.5)
                .workload(new Workload(WorkloadPattern.RANDOM, 0, 256L << 10, 0, 5))
                .statefulDevice(VF).hotPlug(pair.hotPlug()).build();
        vm.start();
        return vm;
    }

    private static CompletableFuture<ReceivedMigration> receive(InMemoryChannel.Pair link, FailoverPair pair,
                                                                MigrationOptions options) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return LiveMigration.receive(link.destination(),
                        d -> InMemoryVm.builder().hotPlug(pair.hotPlug()).buildTarget(d), options);
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        }, task -> Thread.ofPlatform().name("test-destination").start(task));
    }

    private static MigrationOptions failover(Duration unplugTimeout) {
        return MigrationOptions.builder().passThrough(PassThroughPolicy.NONE
                .with(VF.id(), PassThroughPolicy.Action.FAILOVER).withTimeouts(unplugTimeout, Duration.ofSeconds(5)))
                .build();
    }

    @Test
    void anAcknowledgedUnplugFailsTheDeviceOverAndTheDestinationPlugsItBack() throws Exception {
        FailoverPair here = new FailoverPair(VF.id(), Duration.ofMillis(20), true);
        FailoverPair there = new FailoverPair(VF.id(), Duration.ofMillis(20), false);
        MigrationOptions options = failover(Duration.ofSeconds(5));
        try (InMemoryVm vm = source(here)) {
            InMemoryChannel.Pair link = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(link, there, options);
            MigrationReport report = LiveMigration.migrate(vm, link.source(), options);
            ReceivedMigration got = received.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            try {
                assertTrue(report.verified());
                PassThroughStats out = report.passThrough().get(0);
                assertEquals(PassThroughStats.Outcome.UNPLUGGED, out.outcome(), report.passThrough().toString());
                assertTrue(out.absent().compareTo(Duration.ZERO) > 0, "absent from the unplug to the resume");
                PassThroughStats in = got.report().passThrough().get(0);
                assertEquals(PassThroughStats.Outcome.REPLUGGED, in.outcome(), got.report().passThrough().toString());
                assertFalse(here.counts().primaryActive(), "the source's guest runs on its virtual NIC");
                assertTrue(there.counts().primaryActive(), "the destination's guest has the primary back");
                assertEquals(0, here.counts().lost() + there.counts().lost(), "no packet lost in the failover");
                assertTrue(got.target().devices().stream().map(MigratableDevice::id).noneMatch(VF.id()::equals),
                        "the pass-through device's state did not travel: the destination plugged its own");
            } finally {
                got.target().close();
            }
        }
    }

    @Test
    void anUnplugTheGuestNeverAcknowledgesStopsTheMigrationAndTheVmKeepsItsDevice() throws Exception {
        FailoverPair here = new FailoverPair(VF.id(), Duration.ofMillis(20), true);
        here.neverAcknowledge();
        MigrationOptions options = failover(Duration.ofMillis(200));
        try (InMemoryVm vm = source(here)) {
            InMemoryChannel.Pair link = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(link,
                    new FailoverPair(VF.id(), Duration.ZERO, false), options);
            MigrationAbortedException aborted = assertThrows(MigrationAbortedException.class,
                    () -> LiveMigration.migrate(vm, link.source(), options));
            assertEquals(SourceVmState.RUNNING, aborted.sourceState());
            assertTrue(aborted.getMessage().contains("did not release"), aborted.getMessage());
            MigrationReport report = aborted.report().orElseThrow();
            assertEquals(PassThroughStats.Outcome.UNPLUG_TIMED_OUT, report.passThrough().get(0).outcome());
            assertTrue(here.counts().primaryActive(), "the guest still has its pass-through NIC");
            assertFalse(vm.vcpus().isPaused());
            assertThrows(ExecutionException.class, () -> received.get(WAIT.toSeconds(), TimeUnit.SECONDS));
        }
    }

    @Test
    void aReplugThatFailsLeavesTheVmRunningAtTheDestinationAndSaysSo() throws Exception {
        FailoverPair here = new FailoverPair(VF.id(), Duration.ofMillis(5), true);
        FailoverPair there = new FailoverPair(VF.id(), Duration.ofMillis(5), false);
        there.failPlug();
        MigrationOptions options = failover(Duration.ofSeconds(5));
        try (InMemoryVm vm = source(here)) {
            InMemoryChannel.Pair link = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(link, there, options);
            MigrationReport report = LiveMigration.migrate(vm, link.source(), options);
            ReceivedMigration got = received.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            try {
                assertEquals(MigrationStatus.COMPLETED, report.status());
                assertEquals(MigrationStatus.COMPLETED, got.report().status(), "the VM runs here, without the NIC");
                PassThroughStats in = got.report().passThrough().get(0);
                assertEquals(PassThroughStats.Outcome.REPLUG_FAILED, in.outcome());
                assertTrue(in.detail().orElseThrow().contains("no device like"), in.toString());
                assertFalse(there.counts().primaryActive(), "the guest stays on its virtual NIC");
                assertFalse(got.target().vcpus().isPaused());
            } finally {
                got.target().close();
            }
        }
    }

    @Test
    void aDeviceThePolicyRefusesStopsTheMigrationBeforeAnythingMoves() throws Exception {
        FailoverPair here = new FailoverPair(VF.id(), Duration.ofMillis(5), true);
        MigrationOptions options = MigrationOptions.builder().passThrough(PassThroughPolicy.NONE
                .with(VF.id(), PassThroughPolicy.Action.REFUSE)).build();
        try (InMemoryVm vm = source(here)) {
            InMemoryChannel.Pair link = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = receive(link, here, MigrationOptions.defaults());
            MigrationAbortedException refused = assertThrows(MigrationAbortedException.class,
                    () -> LiveMigration.migrate(vm, link.source(), options));
            assertTrue(refused.getMessage().contains("refuses"), refused.getMessage());
            assertEquals(SourceVmState.RUNNING, refused.sourceState());
            assertEquals(0, refused.report().orElseThrow().totals().roundCount(), "nothing was copied");
            assertEquals(0, here.counts().unplugs(), "nothing was unplugged");
            assertThrows(ExecutionException.class, () -> received.get(WAIT.toSeconds(), TimeUnit.SECONDS));
        }
    }
}
