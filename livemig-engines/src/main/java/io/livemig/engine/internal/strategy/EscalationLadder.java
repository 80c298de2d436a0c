package io.livemig.engine.internal.strategy;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationOptions;
import io.livemig.spi.VcpuThrottle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Walks the options' escalation ladder: each call to {@link #act} applies the current step once
 * (or moves to the next when the current one is exhausted) and returns what it did and whether
 * pre-copy goes on, forces the switchover, aborts or switches to post-copy. It sets the vCPU
 * throttle itself (it owns the auto-converge steps); recording and reporting its actions is the
 * caller's. The migration's thread only.
 */
final class EscalationLadder {

    private static final Logger LOG = LoggerFactory.getLogger(EscalationLadder.class);

    /** What pre-copy does next. */
    enum Outcome { CONTINUE, FORCE, ABORT, POSTCOPY }

    /**
     * One action of the ladder.
     *
     * @param outcome     what pre-copy does next
     * @param step        the step that acted
     * @param description what it did, for the report and the listener
     */
    record Action(Outcome outcome, EscalationStep step, String description) {
    }

    private final List<EscalationStep> steps;
    private final Optional<VcpuThrottle> throttle;
    private int index;
    private Duration downtimeLimit;
    private int throttlePercent;
    /** Whether an auto-converge step has set the throttle (and the ladder is still on it). */
    private boolean throttling;

    EscalationLadder(MigrationOptions options, Optional<VcpuThrottle> throttle) {
        this.steps = options.escalation();
        this.throttle = throttle;
        this.downtimeLimit = options.downtimeLimit();
        this.throttlePercent = throttle.map(VcpuThrottle::throttlePercent).orElse(0);
    }

    /** @return the downtime limit in force, raised by RaiseDowntime steps */
    Duration downtimeLimit() {
        return downtimeLimit;
    }

    /** Puts {@code limit} in force, as the caller asked; later RaiseDowntime steps start from it. */
    void setDowntimeLimit(Duration limit) {
        downtimeLimit = limit;
    }

    /** @return the throttle this ladder set, in percent */
    int throttlePercent() {
        return throttlePercent;
    }

    /**
     * Steps up a throttle that an auto-converge step set, if the ladder is on that step and its
     * maximum is not reached; nothing otherwise (it never moves the ladder on).
     *
     * @return the action, if the throttle went up
     */
    Optional<Action> stepUpThrottle() {
        if (!throttling || index >= steps.size()
                || !(steps.get(index) instanceof EscalationStep.AutoConverge auto)
                || throttlePercent >= auto.maxPercent()) {
            return Optional.empty();
        }
        return Optional.of(throttle(auto, throttlePercent + auto.incrementPercent()));
    }

    /** Sets the throttle to {@code percent} (capped at the step's maximum). */
    private Action throttle(EscalationStep.AutoConverge auto, int percent) {
        throttlePercent = Math.min(auto.maxPercent(), percent);
        throttle.orElseThrow().setThrottlePercent(throttlePercent);
        throttling = true;
        return new Action(Outcome.CONTINUE, auto, "auto-converge " + throttlePercent + "%");
    }

    /**
     * Applies the next action.
     *
     * @param limitReached true when max rounds or max total time ran out: skip to a terminal step
     * @return what was done
     */
    Action act(boolean limitReached) {
        while (index < steps.size()) {
            EscalationStep step = steps.get(index);
            if (limitReached && !step.terminal()) {
                index++;
                continue;
            }
            switch (step) {
                case EscalationStep.RaiseDowntime raise -> {
                    if (downtimeLimit.compareTo(raise.ceiling()) < 0) {
                        Duration next = downtimeLimit.plus(raise.increment());
                        downtimeLimit = next.compareTo(raise.ceiling()) > 0 ? raise.ceiling() : next;
                        return new Action(Outcome.CONTINUE, step, "downtime limit " + downtimeLimit.toMillis() + " ms");
                    }
                }
                case EscalationStep.AutoConverge auto -> {
                    if (throttle.isEmpty()) {
                        LOG.warn("auto-converge skipped: this VM cannot throttle its vCPUs");
                    } else if (throttlePercent < auto.maxPercent()) {
                        return throttle(auto, throttlePercent < auto.initialPercent() ? auto.initialPercent()
                                : throttlePercent + auto.incrementPercent());
                    }
                }
                case EscalationStep.Force force -> {
                    return new Action(Outcome.FORCE, step, "force switchover past the "
                            + downtimeLimit.toMillis() + " ms limit");
                }
                case EscalationStep.Abort abort -> {
                    return new Action(Outcome.ABORT, step, "abort");
                }
                case EscalationStep.SwitchToPostcopy postcopy -> {
                    return new Action(Outcome.POSTCOPY, step, "switch to post-copy");
                }
            }
            index++;
            throttling = false;
        }
        return new Action(Outcome.ABORT, new EscalationStep.Abort(), "abort (the escalation ladder is exhausted)");
    }
}
