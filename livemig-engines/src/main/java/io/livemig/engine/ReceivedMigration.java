package io.livemig.engine;

import io.livemig.api.MigrationReport;
import io.livemig.spi.MigrationTarget;

import java.util.Objects;

/**
 * What the destination holds after a successful migration: the VM, now running, and the
 * destination's report. The caller owns the target and closes it when the VM should stop.
 *
 * @param target the running VM
 * @param report the destination's view: bytes received, downtime from switchover to resume,
 *               verification
 */
public record ReceivedMigration(MigrationTarget target, MigrationReport report) {

    /**
     * Checks the components.
     *
     * @throws NullPointerException if either is null
     */
    public ReceivedMigration {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(report, "report");
    }
}
