package io.livemig.examples.cli;

import io.livemig.api.DurationText;

import java.time.Duration;

/**
 * The command line's durations: {@link DurationText}'s forms ({@code 300ms}, {@code 1m30s}, a bare
 * number of milliseconds, ISO-8601), and how the CLI prints one.
 */
final class Durations {

    private Durations() {
    }

    /**
     * @param text the argument
     * @return the duration, at least zero
     * @throws IllegalArgumentException if it is not a duration, or negative
     */
    static Duration parse(String text) {
        return DurationText.parse(text);
    }

    static String format(Duration d) {
        return d.toMillis() + " ms";
    }
}
