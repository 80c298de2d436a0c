package io.livemig.api;

import java.time.Duration;

/**
 * What a running migration tells its {@link MigrationListener}, in order: one {@link Started},
 * zero or more {@link RoundCompleted}, at most one {@link SwitchoverStarted}, then exactly one of
 * {@link Completed} or {@link Failed}. Switch over all of them exhaustively:
 * <pre>{@code
 * switch (event) {
 *     case MigrationEvent.Started s -> ...;
 *     case MigrationEvent.RoundCompleted r -> ...;
 *     case MigrationEvent.SwitchoverStarted s -> ...;
 *     case MigrationEvent.Completed c -> ...;
 *     case MigrationEvent.Failed f -> ...;
 * }
 * }</pre>
 */
public sealed interface MigrationEvent {

    /**
     * The handshake succeeded and memory starts moving.
     *
     * @param strategy    the strategy
     * @param memoryBytes the VM's RAM size in bytes
     * @param peer        the channel's description of the other side
     */
    record Started(Strategy strategy, long memoryBytes, String peer) implements MigrationEvent {
    }

    /**
     * A memory round ended.
     *
     * @param stats the round's statistics
     */
    record RoundCompleted(RoundStats stats) implements MigrationEvent {
    }

    /**
     * The source VM was paused; the final pages and the state are moving.
     *
     * @param remainingBytes   bytes still to send
     * @param expectedDowntime the predicted downtime
     */
    record SwitchoverStarted(long remainingBytes, Duration expectedDowntime) implements MigrationEvent {
    }

    /**
     * The migration ended successfully.
     *
     * @param report the final report
     */
    record Completed(MigrationReport report) implements MigrationEvent {
    }

    /**
     * The migration failed or was cancelled.
     *
     * @param error  what went wrong and where the VM is
     * @param report the report up to the failure
     */
    record Failed(MigrationException error, MigrationReport report) implements MigrationEvent {
    }
}
