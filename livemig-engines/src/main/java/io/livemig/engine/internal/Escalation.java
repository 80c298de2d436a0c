package io.livemig.engine.internal;

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
 * (or moves to the next when the current one is exhausted) and says whether pre-copy goes on,
 * forces the switchover or aborts.
 */
final class Escalation {

    private static final Logger LOG = LoggerFactory.getLogger(Escalation.class);

    enum Outcome { CONTINUE, FORCE, ABORT, POSTCOPY }

    private final List<EscalationStep> steps;
    private final Optional<VcpuThrottle> throttle;
    private int index;
    private Duration downtimeLimit;
    private int throttlePercent;
    /** Whether an auto-converge step has set the throttle (and the ladder is still on it). */
    private boolean throttling;

    Escalation(MigrationOptions options, Optional<VcpuThrottle> throttle) {
        this.steps = options.escalation();
        this.throttle = throttle;
        this.downtimeLimit = options.downtimeLimit();
        this.throttlePercent = throttle.map(VcpuThrottle::throttlePercent).orElse(0);
    }

    /** @return the downtime limit in force, raised by RaiseDowntime steps */
    Duration downtimeLimit() {
        return downtimeLimit;
    }

    /** @return the throttle this ladder set, in percent */
    int throttlePercent() {
        return throttlePercent;
    }

    /**
     * Steps up a throttle that an auto-converge step set, if the ladder is on that step and its
     * maximum is not reached; nothing otherwise (it never moves the ladder on).
     *
     * @return whether the throttle went up
     */
    boolean stepUpThrottle(SourceSession session, int round) {
        if (!throttling || index >= steps.size()
                || !(steps.get(index) instanceof EscalationStep.AutoConverge auto)
                || throttlePercent >= auto.maxPercent()) {
            return false;
        }
        throttle(session, round, auto, throttlePercent + auto.incrementPercent());
        return true;
    }

    /** Sets the throttle to {@code percent} (capped at the step's maximum) and reports it. */
    private void throttle(SourceSession session, int round, EscalationStep.AutoConverge auto, int percent) {
        throttlePercent = Math.min(auto.maxPercent(), percent);
        throttle.orElseThrow().setThrottlePercent(throttlePercent);
        throttling = true;
        session.policyApplied(round, auto, "auto-converge " + throttlePercent + "%");
    }

    /**
     * Applies the next action.
     *
     * @param limitReached true when max rounds or max total time ran out: skip to a terminal step
     */
    Outcome act(SourceSession session, int round, boolean limitReached) {
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
                        session.policyApplied(round, step, "downtime limit " + downtimeLimit.toMillis() + " ms");
                        return Outcome.CONTINUE;
                    }
                }
                case EscalationStep.AutoConverge auto -> {
                    if (throttle.isEmpty()) {
                        LOG.warn("auto-converge skipped: this VM cannot throttle its vCPUs");
                    } else if (throttlePercent < auto.maxPercent()) {
                        throttle(session, round, auto, throttlePercent < auto.initialPercent() ? auto.initialPercent()
                                : throttlePercent + auto.incrementPercent());
                        return Outcome.CONTINUE;
                    }
                }
                case EscalationStep.Force force -> {
                    session.policyApplied(round, step, "force switchover past the "
                            + downtimeLimit.toMillis() + " ms limit");
                    return Outcome.FORCE;
                }
                case EscalationStep.Abort abort -> {
                    session.policyApplied(round, step, "abort");
                    return Outcome.ABORT;
                }
                case EscalationStep.SwitchToPostcopy postcopy -> {
                    session.policyApplied(round, step, "switch to post-copy");
                    return Outcome.POSTCOPY;
                }
            }
            index++;
            throttling = false;
        }
        session.policyApplied(round, new EscalationStep.Abort(), "abort (the escalation ladder is exhausted)");
        return Outcome.ABORT;
    }
}
