package io.livemig.api;

import java.time.Duration;

/**
 * What a running migration tells its {@link MigrationListener}, in order: one {@link Started},
 * zero or more {@link RoundCompleted} and {@link EscalationApplied}, at most one
 * {@link SwitchoverHeld}, at most one {@link SwitchoverStarted}, for post-copy one {@link PostcopyStarted} and any number of
 * {@link LinkRecovered}, then exactly one of {@link Completed} or {@link Failed}. The destination's
 * listener hears the same sequence without the rounds and escalations (the source decides those):
 * {@link Started} once SETUP was taken, {@link SwitchoverStarted} (with no remaining bytes or
 * expected downtime: the source knows them), {@link PostcopyStarted}, {@link LinkRecovered}, then
 * {@link Completed} or {@link Failed}; a connection refused before SETUP gives {@link Failed} only.
 * Between {@link Started} and the end, the source also emits {@link Progress} at the options'
 * {@link MigrationOptions#progressInterval() progress interval}. Every event of a migration is
 * delivered on one thread, the migration's, one at a time. Switch over all of them exhaustively:
 * <pre>{@code
 * switch (event) {
 *     case MigrationEvent.Started s -> ...;
 *     case MigrationEvent.RoundCompleted r -> ...;
 *     case MigrationEvent.EscalationApplied e -> ...;
 *     case MigrationEvent.Progress p -> ...;
 *     case MigrationEvent.SwitchoverHeld h -> ...;
 *     case MigrationEvent.SwitchoverStarted s -> ...;
 *     case MigrationEvent.PostcopyStarted p -> ...;
 *     case MigrationEvent.LinkRecovered l -> ...;
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
     * The pre-copy escalation ladder acted because the migration was not converging.
     *
     * @param round  the round after which it acted
     * @param step   the step that acted
     * @param action what it did, e.g. {@code "auto-converge 30%"} or {@code "downtime limit 400 ms"}
     */
    record EscalationApplied(int round, EscalationStep step, String action) implements MigrationEvent {
    }

    /**
     * The migration moved on since the last event; emitted at the options' progress interval.
     *
     * @param progress a snapshot, as {@code Migration.progress()} gives
     */
    record Progress(MigrationProgress progress) implements MigrationEvent {
    }

    /**
     * The rest fits the downtime limit, but the options hold the switchover until the caller
     * releases it ({@code Migration.releaseSwitchover()}); the VM runs and its dirtied pages keep
     * being copied meanwhile.
     *
     * @param round            the last round sent
     * @param expectedDowntime the downtime a switchover now would take
     * @param timeout          how long the hold lasts before the migration is aborted
     */
    record SwitchoverHeld(int round, Duration expectedDowntime, Duration timeout) implements MigrationEvent {
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
     * The destination resumed the VM before all of memory arrived; the rest follows on demand
     * and in the background.
     *
     * @param missingPages pages the destination still lacks
     */
    record PostcopyStarted(long missingPages) implements MigrationEvent {
    }

    /**
     * A broken link during post-copy was replaced by a new channel and the migration goes on.
     *
     * @param recoveries how many recoveries so far
     * @param reason     why the old link failed
     */
    record LinkRecovered(int recoveries, String reason) implements MigrationEvent {
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
