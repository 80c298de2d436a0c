package io.livemig.e2e;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.SourceVmState;
import io.livemig.engine.LiveMigration;
import io.livemig.kit.InMemoryVm;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link LiveMigration#rehearse}: a whole migration inside the JVM, over loopback TCP, whose
 * target is thrown away afterwards; a rehearsal that fails says so and leaves its source running.
 */
class RehearsalTest {

    @Test
    void aRehearsalMigratesVerifiedAndClosesItsTarget() throws Exception {
        AtomicReference<InMemoryVm> made = new AtomicReference<>();
        try (InMemoryVm source = InMemoryVm.builder().memoryBytes(8L << 20).prefill(0.5).build()) {
            source.start();
            MigrationReport report = LiveMigration.rehearse(source, d -> {
                InMemoryVm target = InMemoryVm.builder().layout(d.memoryLayout()).vcpus(d.vcpuCount()).build();
                made.set(target);
                return target;
            }, MigrationOptions.defaults());
            assertEquals(MigrationStatus.COMPLETED, report.status());
            assertTrue(report.verified(), report.toString());
            assertTrue(report.totals().bytesOnWire() > 4L << 20, "half of 8 MiB was filled and sent: " + report);
            assertFalse(made.get().isOpen(), "the rehearsal's target is closed once it ended");
        }
    }

    @Test
    void aRehearsalWithSeveralStreamsOpensItsDataConnectionsToTheSameListener() throws Exception {
        try (InMemoryVm source = InMemoryVm.builder().memoryBytes(8L << 20).prefill(0.5).build()) {
            source.start();
            MigrationReport report = LiveMigration.rehearse(source, d -> InMemoryVm.builder().layout(d.memoryLayout())
                    .vcpus(d.vcpuCount()).build(), MigrationOptions.builder().streams(3).build());
            assertEquals(MigrationStatus.COMPLETED, report.status());
            assertTrue(report.verified(), report.toString());
        }
    }

    @Test
    void aRehearsalWhoseTargetCannotBeMadeFailsAndLeavesTheSourceRunning() throws Exception {
        try (InMemoryVm source = InMemoryVm.builder().memoryBytes(4L << 20).prefill(0.5).build()) {
            source.start();
            MigrationException e = assertThrows(MigrationException.class, () -> LiveMigration.rehearse(source, d -> {
                throw new IllegalArgumentException("no room for a rehearsal here");
            }, MigrationOptions.defaults()));
            assertEquals(SourceVmState.RUNNING, e.sourceState(), e.toString());
            assertTrue(e.getMessage().contains("no room for a rehearsal here"), e.getMessage());
            assertFalse(source.vcpus().isPaused(), "the source runs on");
        }
    }
}
