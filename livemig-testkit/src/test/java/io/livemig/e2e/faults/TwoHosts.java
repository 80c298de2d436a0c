package io.livemig.e2e.faults;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.channel.Reconnector;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.TargetFactory;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.VmDescriptor;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A source host and a destination host in one JVM: a small in-memory VM whose guest keeps writing,
 * migrated over an in-memory link (redialable or not) to a destination that makes in-memory
 * targets, and how each side ended: the source's exception or report and its VM's state, the
 * destination's exception or running target, and the events the source's listener saw.
 */
final class TwoHosts {

    /** How the source ended. */
    enum SourceEnd {
        /** Failed; its VM runs there, unchanged. */
        RUNNING,
        /** Failed after COMMIT without learning whether the destination resumed; its VM stays paused. */
        UNKNOWN,
        /** Failed in post-copy; its VM stays paused (it holds the memory as of the pause). */
        SPLIT,
        /** Completed: the VM runs at the destination. */
        COMPLETED
    }

    /** How the destination ended. */
    enum DestinationEnd {
        /** Failed before it made a target. */
        NO_TARGET,
        /** Failed, and discarded the target it made, which never ran. */
        DISCARDED,
        /** Returned its target, running. */
        RUNS,
        /** Failed in post-copy: the target ran, then was stopped and discarded. */
        STOPPED
    }

    /** How long either side may wait for the other to come back after a cut. */
    static final Duration RECOVERY_WINDOW = Duration.ofSeconds(1);
    private static final Workload GUEST = new Workload(WorkloadPattern.HOTCOLD, 256L << 10, 8L << 20, 64, 3);

    private final InMemoryVm sourceVm;
    private final List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    private final AtomicReference<InMemoryVm> targetVm = new AtomicReference<>();
    private final AtomicInteger targetsMade = new AtomicInteger();
    private final AtomicInteger targetResumes = new AtomicInteger();
    private MigrationReport report;
    private MigrationException sourceError;
    private ReceivedMigration received;
    private Throwable destinationError;

    TwoHosts() {
        sourceVm = InMemoryVm.builder().memoryBytes(1L << 20).prefill(0.5).workload(GUEST).build();
        sourceVm.start();
    }

    /**
     * The options of both sides: small batches (many PAGES frames per round), pre-copy forced to
     * switch over after three rounds that cannot converge (a guest writing 8 MB/s against a 1 ms
     * downtime limit), one hybrid round, verification, a short recovery window.
     */
    static MigrationOptions.Builder options(Strategy strategy) {
        return MigrationOptions.builder().strategy(strategy).batchPages(16).downtimeLimit(Duration.ofMillis(1))
                .maxRounds(3).escalation(List.of(new EscalationStep.Force())).hybridRounds(1).verify(true)
                .recoveryWindow(RECOVERY_WINDOW).ioTimeout(Duration.ofSeconds(3));
    }

    /** @return a link of 32 MiB/s: round 0 of the 1 MiB VM takes some 30 ms, in some 70 frames */
    static LinkShape shape() {
        return LinkShape.of(32L << 20, Duration.ZERO);
    }

    /** @return a new in-memory target of the announced shape, counted and watched for its resume */
    InMemoryVm newTarget(VmDescriptor d) {
        targetsMade.incrementAndGet();
        InMemoryVm vm = InMemoryVm.builder().layout(d.memoryLayout()).vcpus(d.vcpuCount())
                .onResume(resumed -> targetResumes.incrementAndGet()).build();
        targetVm.set(vm);
        return vm;
    }

    /** @return the source VM */
    InMemoryVm sourceVm() {
        return sourceVm;
    }

    /**
     * Migrates: the destination receives on {@code destinationEnd} on a thread of its own, into
     * targets made by {@code targets} (given this object's {@link #newTarget}), while the source
     * migrates {@code vm} (this source VM, or a wrapper of it) on {@code sourceEnd}; returns when
     * both have ended.
     */
    void migrate(MigratableVm vm, Channel sourceEnd, Reconnector sourceReconnector, Channel destinationEnd,
                 Reconnector destinationReconnector, Function<TargetFactory, TargetFactory> targets,
                 MigrationOptions options) throws InterruptedException {
        TargetFactory factory = targets.apply(this::newTarget);
        CompletableFuture<ReceivedMigration> destination = CompletableFuture.supplyAsync(() -> {
            try {
                return LiveMigration.receive(destinationEnd, destinationReconnector, factory, options);
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        }, task -> Thread.ofPlatform().name("fault-matrix-destination").daemon().start(task));
        MigrationOptions observed = options.toBuilder().listener(events::add).build();
        try {
            report = LiveMigration.migrate(vm, sourceEnd, sourceReconnector, observed);
        } catch (MigrationException e) {
            sourceError = e;
        }
        try {
            received = destination.get(20, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            destinationError = e.getCause();
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AssertionError("the destination did not end within 20 s", e);
        }
    }

    /** Migrates this source VM into targets made as they should be. */
    void migrate(Channel sourceEnd, Reconnector sourceReconnector, Channel destinationEnd,
                 Reconnector destinationReconnector, MigrationOptions options) throws InterruptedException {
        migrate(sourceVm, sourceEnd, sourceReconnector, destinationEnd, destinationReconnector, t -> t, options);
    }

    /** @return the events the source's listener saw */
    List<MigrationEvent> events() {
        return events;
    }

    /** @return the source's failure, or null */
    MigrationException sourceError() {
        return sourceError;
    }

    /** @return the destination's failure, or null */
    Throwable destinationError() {
        return destinationError;
    }

    /**
     * Checks the source ended as {@code expected}, its listener's last event says the same, and
     * its VM is where the exception says.
     */
    void assertSource(SourceEnd expected) {
        MigrationEvent last = events.isEmpty() ? null : events.getLast();
        if (expected == SourceEnd.COMPLETED) {
            assertNull(sourceError, () -> "the source failed: " + sourceError);
            assertNotNull(report);
            assertInstanceOf(MigrationEvent.Completed.class, last);
            assertTrue(sourceVm.vcpus().isPaused(), "a source whose VM runs at the destination stays paused");
            return;
        }
        assertNotNull(sourceError, "the source completed");
        MigrationEvent.Failed failed = assertInstanceOf(MigrationEvent.Failed.class, last);
        assertSame(sourceError, failed.error(), "the listener is told the error the caller gets");
        SourceVmState state = switch (expected) {
            case RUNNING -> SourceVmState.RUNNING;
            case UNKNOWN -> SourceVmState.UNKNOWN;
            case SPLIT -> SourceVmState.SPLIT;
            case COMPLETED -> throw new IllegalStateException();
        };
        assertEquals(state, sourceError.sourceState(), sourceError::toString);
        assertEquals(expected == SourceEnd.RUNNING, !sourceVm.vcpus().isPaused(),
                () -> "the source VM runs iff the source says RUNNING: " + sourceError);
    }

    /** Checks the destination ended as {@code expected}, with its target where that says. */
    void assertDestination(DestinationEnd expected) {
        InMemoryVm target = targetVm.get();
        if (expected == DestinationEnd.RUNS) {
            assertNull(destinationError, () -> "the destination failed: " + destinationError);
            assertSame(target, received.target());
            assertTrue(target.isOpen() && !target.vcpus().isPaused(), "the received VM runs");
            assertEquals(1, targetResumes.get());
            return;
        }
        MigrationException e = assertInstanceOf(MigrationException.class, destinationError,
                "the destination did not fail with a MigrationException");
        switch (expected) {
            case NO_TARGET -> assertEquals(0, targetsMade.get(), "a target was made: " + e);
            case DISCARDED -> {
                assertEquals(1, targetsMade.get(), () -> "no target was made: " + e);
                assertFalse(target.isOpen(), "the target is discarded");
                assertEquals(0, targetResumes.get(), "the discarded target never ran");
            }
            case STOPPED -> {
                assertEquals(SourceVmState.SPLIT, e.sourceState(), e::toString);
                assertEquals(1, targetResumes.get(), "the target ran before post-copy failed");
                assertFalse(target.isOpen(), "the target is discarded");
            }
            case RUNS -> throw new IllegalStateException();
        }
    }

    /** Never two running copies: the source VM and the destination's target do not both run. */
    void assertAtMostOneRuns() {
        InMemoryVm target = targetVm.get();
        boolean sourceRuns = sourceVm.isOpen() && !sourceVm.vcpus().isPaused();
        boolean targetRuns = target != null && target.isOpen() && !target.vcpus().isPaused();
        assertFalse(sourceRuns && targetRuns, "the VM runs on both hosts");
    }

    /** Closes both VMs. */
    void close() {
        sourceVm.close();
        InMemoryVm target = targetVm.get();
        if (target != null) {
            target.close();
        }
    }

    /** A target factory that fails as a provider that cannot create the VM does. */
    static TargetFactory failingToCreate(TargetFactory ignored) {
        return d -> {
            throw new IOException("no room for the VM on this host");
        };
    }

    /** @return a factory whose targets refuse their device state at COMMIT, as a provider with a broken device does */
    static TargetFactory refusingState(TargetFactory made) {
        return d -> FaultyVms.refusingDeviceState(made.create(d));
    }
}
