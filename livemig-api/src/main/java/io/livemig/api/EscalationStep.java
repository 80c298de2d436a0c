package io.livemig.api;

import java.time.Duration;
import java.util.Objects;

/**
 * One rung of the ladder a pre-copy migration climbs when it does not converge: when the dirty
 * rate stays at or above the transfer rate, or the remaining bytes stop reaching new lows, for
 * {@link MigrationOptions#stallRounds()} rounds. Steps are tried in the order given in
 * {@link MigrationOptions#escalation()}; a step that can act several times (raising the limit,
 * throttling harder) does so on each stall until it is exhausted, then the next step takes over.
 * Reaching {@link MigrationOptions#maxRounds()} or {@link MigrationOptions#maxTotalTime()} jumps
 * straight to the first terminal step ({@link Force}, {@link Abort}, {@link SwitchToPostcopy}),
 * or aborts if the ladder has none.
 *
 * <pre>{@code
 * .escalation(List.of(
 *         new EscalationStep.RaiseDowntime(Duration.ofMillis(50), Duration.ofMillis(500)),
 *         EscalationStep.AutoConverge.QEMU_DEFAULTS,
 *         new EscalationStep.Force()))
 * }</pre>
 */
public sealed interface EscalationStep {

    /** {@return whether this step ends the pre-copy phase when it acts} */
    boolean terminal();

    /**
     * Raise the downtime limit by {@code increment} on each stall, up to {@code ceiling} (as Nova
     * does in steps up to 500 ms).
     *
     * @param increment added on each stall, positive
     * @param ceiling   the highest limit this step sets, positive
     */
    record RaiseDowntime(Duration increment, Duration ceiling) implements EscalationStep {
        /**
         * Checks the components.
         *
         * @throws IllegalArgumentException for non-positive durations
         */
        public RaiseDowntime {
            Objects.requireNonNull(increment, "increment");
            Objects.requireNonNull(ceiling, "ceiling");
            if (increment.isNegative() || increment.isZero() || ceiling.isNegative() || ceiling.isZero()) {
                throw new IllegalArgumentException("increment and ceiling must be positive");
            }
        }

        @Override
        public boolean terminal() {
            return false;
        }
    }

    /**
     * Throttle the vCPUs (QEMU's auto-converge): {@code initialPercent} on the first stall, then
     * {@code incrementPercent} more on each further stall and, as QEMU does, after every second
     * round in a row in which the guest dirtied more than half the pages the round sent; up to
     * {@code maxPercent}. The ladder moves past this step only when a stall comes with the
     * throttle at its maximum. Needs a VM whose {@code VcpuControl} offers a throttle; otherwise
     * the step is skipped with a warning.
     *
     * @param initialPercent   first throttle, 1 to 99
     * @param incrementPercent added at each step up, 1 to 99
     * @param maxPercent       the most, initialPercent to 99
     */
    record AutoConverge(int initialPercent, int incrementPercent, int maxPercent) implements EscalationStep {
        /** QEMU's cpu-throttle-initial 20, cpu-throttle-increment 10, max 99. */
        public static final AutoConverge QEMU_DEFAULTS = new AutoConverge(20, 10, 99);

        /**
         * Checks the components.
         *
         * @throws IllegalArgumentException for out-of-range percentages
         */
        public AutoConverge {
            if (initialPercent < 1 || initialPercent > 99 || incrementPercent < 1 || incrementPercent > 99
                    || maxPercent < initialPercent || maxPercent > 99) {
                throw new IllegalArgumentException("throttle percentages must satisfy 1 <= initial <= max <= 99 and "
                        + "1 <= increment <= 99: " + initialPercent + "/" + incrementPercent + "/" + maxPercent);
            }
        }

        @Override
        public boolean terminal() {
            return false;
        }
    }

    /** Hand over to post-copy (hybrid migration). Needs the post-copy engine. */
    record SwitchToPostcopy() implements EscalationStep {
        @Override
        public boolean terminal() {
            return true;
        }
    }

    /** Stop and copy now, exceeding the downtime limit; the report says it was forced. */
    record Force() implements EscalationStep {
        @Override
        public boolean terminal() {
            return true;
        }
    }

    /** Give up: cancel the migration; the source VM keeps running. */
    record Abort() implements EscalationStep {
        @Override
        public boolean terminal() {
            return true;
        }
    }
}
