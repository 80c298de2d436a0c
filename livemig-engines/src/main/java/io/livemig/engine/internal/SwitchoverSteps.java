package io.livemig.engine.internal;

import io.livemig.api.MigrationReport.SwitchoverStep;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Turns the moments a side stamped during the switchover into the report's steps. */
public final class SwitchoverSteps {

    private SwitchoverSteps() {
    }

    /**
     * @param marks the moments in nanoseconds, in order, -1 where one did not happen; step
     *              {@code i} runs from {@code marks[i]} to {@code marks[i + 1]}
     * @param kinds one kind per step: {@code marks.length - 1} of them
     * @return the steps whose both ends happened, in order
     */
    public static List<SwitchoverStep> between(long[] marks, SwitchoverStep.Kind... kinds) {
        if (kinds.length != marks.length - 1) {
            throw new IllegalArgumentException(kinds.length + " steps need " + (kinds.length + 1) + " marks");
        }
        List<SwitchoverStep> steps = new ArrayList<>();
        for (int i = 0; i < kinds.length; i++) {
            if (marks[i] >= 0 && marks[i + 1] >= 0) {
                steps.add(new SwitchoverStep(kinds[i], Duration.ofNanos(Math.max(0, marks[i + 1] - marks[i]))));
            }
        }
        return steps;
    }
}
