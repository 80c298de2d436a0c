package io.livemig.examples.cli;

import io.livemig.api.EscalationStep;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Parses the {@code --on-stall} ladder: {@code raise-downtime:50ms:500ms,autoconverge,force}. */
final class Escalations {

    private Escalations() {
    }

    /**
     * Follows the ladder's raise-downtime steps as its {@code EscalationApplied} events report them:
     * each one raises the limit by its increment, up to its ceiling (the ladder only applies it
     * while the limit is below the ceiling).
     *
     * @param limit the limit before the step
     * @param step  the step the ladder applied
     * @return the limit after it: raised for a raise-downtime step, else {@code limit}
     */
    static Duration downtimeAfter(Duration limit, EscalationStep step) {
        if (step instanceof EscalationStep.RaiseDowntime raise) {
            Duration next = limit.plus(raise.increment());
            return next.compareTo(raise.ceiling()) > 0 ? raise.ceiling() : next;
        }
        return limit;
    }

    /**
     * @param requested the limit the command line asked for
     * @param effective the limit in force at the end
     * @return e.g. {@code "300 ms"}, or {@code "500 ms, raised from 300 ms"}
     */
    static String describeLimit(Duration requested, Duration effective) {
        if (effective == null || effective.equals(requested)) {
            return requested.toMillis() + " ms";
        }
        return effective.toMillis() + " ms, raised from " + requested.toMillis() + " ms";
    }

    static List<EscalationStep> parse(List<String> items) {
        List<EscalationStep> steps = new ArrayList<>();
        for (String item : items) {
            String[] parts = item.trim().toLowerCase(Locale.ROOT).split(":");
            switch (parts[0]) {
                case "raise-downtime" -> {
                    if (parts.length != 3) {
                        throw new IllegalArgumentException("raise-downtime needs STEP:CEILING, e.g. raise-downtime:50ms:500ms");
                    }
                    steps.add(new EscalationStep.RaiseDowntime(Durations.parse(parts[1]), Durations.parse(parts[2])));
                }
                case "autoconverge" -> {
                    if (parts.length != 1 && parts.length != 4) {
                        throw new IllegalArgumentException("autoconverge takes no values or INITIAL:INCREMENT:MAX, "
                                + "e.g. autoconverge:20:10:99");
                    }
                    steps.add(parts.length == 1 ? EscalationStep.AutoConverge.QEMU_DEFAULTS
                        : new EscalationStep.AutoConverge(Integer.parseInt(parts[1]), Integer.parseInt(parts[2]),
                        Integer.parseInt(parts[3])));
                }
                case "force" -> steps.add(new EscalationStep.Force());
                case "abort" -> steps.add(new EscalationStep.Abort());
                case "postcopy" -> steps.add(new EscalationStep.SwitchToPostcopy());
                case "none" -> { }
                default -> throw new IllegalArgumentException("unknown --on-stall step '" + item
                        + "': use raise-downtime:STEP:CEILING, autoconverge[:I:INC:MAX], force, abort, postcopy");
            }
        }
        return steps;
    }
}
