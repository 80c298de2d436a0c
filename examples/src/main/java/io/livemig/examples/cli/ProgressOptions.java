package io.livemig.examples.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;

import java.io.Console;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The flags of every command that runs a migration ({@code demo}, {@code kvm run},
 * {@code disk send}) about what it shows while it runs and draws after: a live progress bar on a
 * terminal ({@link LiveProgress}), plain progress lines on request, and {@code --plot}
 * ({@link TimelinePlot}). A picocli mixin; the fields are set by picocli before the command runs.
 */
final class ProgressOptions {

    /** How often the engine reports progress to the command line; the bar redraws as often. */
    static final Duration INTERVAL = Duration.ofMillis(200);

    @Option(names = "--progress", description = "print one line per progress update (every 200 ms) on stderr, "
            + "also when it is not a terminal")
    boolean lines;

    @Option(names = "--no-progress", description = "no live progress bar (shown on stderr when on a terminal)")
    boolean noBar;

    @Option(names = "--quiet", description = "no progress on stderr while the migration runs: no bar, no progress "
            + "lines, no lines for its events (rounds, switchover)")
    boolean quiet;

    @Option(names = "--plot", paramLabel = "FILE", description = "afterwards, draw the migration's timeline "
            + "(bytes, rates, throttle and downtime per round) into FILE, an .svg or .png")
    Path plot;

    /**
     * Refuses contradicting flags and a plot file of an unknown kind, before anything starts.
     *
     * @param spec the command's spec
     * @throws picocli.CommandLine.ParameterException if a flag is bad input (exit 2)
     */
    void check(CommandSpec spec) {
        BadInput.check(spec, !(quiet && lines), "--quiet and --progress exclude each other");
        if (plot != null) {
            try {
                TimelinePlot.Format.of(plot);
            } catch (IllegalArgumentException e) {
                throw BadInput.invalid(spec, "--plot", e);
            }
        }
    }

    /** {@return whether the command's own event lines (handshake, rounds, switchover) go to stderr} */
    boolean eventLines() {
        return !quiet;
    }

    /**
     * @param err where the progress goes
     * @return a display for one migration: a bar on a terminal, lines with {@code --progress}, else none;
     *         the caller closes it
     */
    LiveProgress display(PrintStream err) {
        return new LiveProgress(mode(), err);
    }

    /** {@return how progress is shown, from the flags and whether this process runs on a terminal} */
    LiveProgress.Mode mode() {
        if (quiet) {
            return LiveProgress.Mode.NONE;
        }
        if (lines) {
            return LiveProgress.Mode.LINES;
        }
        return !noBar && onTerminal() ? LiveProgress.Mode.BAR : LiveProgress.Mode.NONE;
    }

    /** {@return whether standard input and output are a terminal (a person watches), not a pipe or a file} */
    static boolean onTerminal() {
        Console console = System.console();
        return console != null && console.isTerminal();
    }
}
