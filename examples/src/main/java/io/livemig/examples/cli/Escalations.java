package io.livemig.examples.cli;

import io.livemig.api.EscalationStep;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Parses the {@code --on-stall} ladder: {@code raise-downtime:50ms:500ms,autoconverge,force}. */
final class Escalations {

    private Escalations() {
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
                case "autoconverge" -> steps.add(parts.length == 1 ? EscalationStep.AutoConverge.QEMU_DEFAULTS
                        : new EscalationStep.AutoConverge(Integer.parseInt(parts[1]), Integer.parseInt(parts[2]),
                        Integer.parseInt(parts[3])));
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
