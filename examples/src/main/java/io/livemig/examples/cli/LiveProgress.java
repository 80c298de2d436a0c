package io.livemig.examples.cli;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationListener;
import io.livemig.api.MigrationProgress;
import io.livemig.api.RoundStats;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;

/**
 * A running migration's progress on stderr, from the engine's {@link MigrationEvent.Progress}
 * events: in {@link Mode#BAR} a live bar per phase (pre-copy round, switchover, post-copy) drawn
 * by the progressbar library, whose last state stays on screen as the phase's line; in
 * {@link Mode#LINES} one plain line per event; in {@link Mode#NONE} nothing.
 *
 * <p>A bar shows the phase's bytes done and to go (in MB, 10<sup>6</sup> bytes), the time since
 * the migration started, and the send rate, the guest's dirty rate, the vCPU throttle, the bytes
 * sent so far and the expected downtime. Any event other than progress ends the phase's bar
 * first, so that the command's own line for that event is printed below it, not through it.
 *
 * <p>Thread-safe: events come on the migration's thread, {@link #close} from the command's; the
 * library redraws the bar on a thread of its own.
 */
final class LiveProgress implements MigrationListener, AutoCloseable {

    /** How progress is shown. */
    enum Mode {
        /** A live bar, for a person at a terminal. */
        BAR,
        /** One line per progress event ({@code --progress}), for logs and pipes. */
        LINES,
        /** Nothing. */
        NONE
    }

    private static final long MB = 1_000_000;
    /** The page size the engines count pages of. */
    private static final long PAGE_BYTES = 4096;

    private final Mode mode;
    private final PrintStream err;
    /** The current phase's bar, or null between phases. */
    private ProgressBar bar;
    private Ending barConsumer;
    private String barTask;
    /** Whether the last completed round was shown by its bar, left at its end. */
    private boolean roundShown;
    /** Pages sent by the rounds completed so far: the current round's start. */
    private long pagesBeforeRound;

    /**
     * @param mode how to show progress
     * @param err  where; not closed by {@link #close}
     */
    LiveProgress(Mode mode, PrintStream err) {
        this.mode = mode;
        this.err = err;
    }

    /** {@return how this display shows progress} */
    Mode mode() {
        return mode;
    }

    /**
     * {@return whether the last {@link MigrationEvent.RoundCompleted} was shown as its bar's last
     * line (a round too short for a progress event has no bar: its command prints its line)}
     */
    synchronized boolean roundShown() {
        return roundShown;
    }

    @Override
    public synchronized void onEvent(MigrationEvent event) {
        if (mode == Mode.NONE) {
            return;
        }
        switch (event) {
            case MigrationEvent.Progress p -> show(p.progress());
            case MigrationEvent.RoundCompleted r -> {
                pagesBeforeRound += r.stats().pagesSent();
                roundShown = mode == Mode.BAR && ("round " + r.stats().round()).equals(barTask);
                if (roundShown) {
                    finishRound(r.stats());
                } else {
                    finish();
                }
            }
            case MigrationEvent.Completed c -> {
                if (bar != null && bar.getMax() > 0) {
                    bar.stepTo(bar.getMax()); // the last progress event came before the end
                }
                finish();
            }
            default -> finish();
        }
    }

    /**
     * Shows bytes moved by something that has no progress events of its own (a disk sync).
     *
     * @param task       the bar's name, e.g. {@code "disk"}
     * @param doneBytes  bytes done
     * @param totalBytes bytes in all (at most; the bar's end)
     * @param elapsed    time since the start
     * @param bytesPerSecond the recent rate
     */
    synchronized void showBytes(String task, long doneBytes, long totalBytes, Duration elapsed, long bytesPerSecond) {
        switch (mode) {
            case NONE -> { }
            case LINES -> err.printf(Locale.ROOT, "progress %s: %.1f s, %,d of %,d MB sent, %.0f MB/s%n", task,
                    seconds(elapsed), doneBytes / MB, totalBytes / MB, (double) bytesPerSecond / MB);
            case BAR -> {
                ProgressBar b = bar(task, elapsed);
                b.maxHint(Math.max(totalBytes, doneBytes));
                b.stepTo(doneBytes);
                b.setExtraMessage(String.format(Locale.ROOT, "%.0f MB/s", (double) bytesPerSecond / MB));
            }
        }
    }

    private void show(MigrationProgress p) {
        if (mode == Mode.LINES) {
            err.println(line(p));
            return;
        }
        long done;
        long total;
        String task;
        switch (p.phase()) {
            case LIVE_COPY, STOP_COPY -> {
                task = p.phase() == io.livemig.api.MigrationPhase.STOP_COPY ? "switchover" : "round " + p.round();
                done = Math.max(0, p.pagesSent() - pagesBeforeRound) * PAGE_BYTES;
                total = done + p.remainingBytes();
            }
            case POST_COPY -> {
                task = "post-copy";
                total = p.memoryBytes();
                done = Math.max(0, total - p.postcopyMissingPages() * PAGE_BYTES);
            }
            default -> {
                task = p.phase().name().toLowerCase(Locale.ROOT).replace('_', ' ');
                done = 0;
                total = -1; // indefinite
            }
        }
        ProgressBar b = bar(task, p.elapsed());
        b.maxHint(total);
        b.stepTo(total < 0 ? 0 : Math.min(done, total));
        b.setExtraMessage(extra(p));
    }

    /** @return the bar of {@code task}, a new one if the phase changed (the old one's last state stays) */
    private ProgressBar bar(String task, Duration elapsed) {
        if (bar != null && task.equals(barTask)) {
            return bar;
        }
        finish();
        barConsumer = new Ending(err);
        bar = new ProgressBarBuilder()
                .setTaskName(task)
                .setInitialMax(-1)
                .setUnit(" MB", MB)
                .setStyle(ProgressBarStyle.UNICODE_BLOCK)
                .setUpdateIntervalMillis((int) ProgressOptions.INTERVAL.toMillis())
                .setConsumer(barConsumer)
                .startsFrom(0, elapsed)
                .hideEta()
                .build();
        barTask = task;
        return bar;
    }

    /** Leaves the round's bar at its end with the round's figures. */
    private void finishRound(RoundStats r) {
        long total = Math.max(Math.max(bar.getMax(), bar.getCurrent()), 1);
        bar.maxHint(total);
        bar.stepTo(total);
        bar.setExtraMessage(String.format(Locale.ROOT, "%.0f MB/s, dirty %.0f MB/s%s, exp. downtime %.0f ms",
                (double) r.bandwidthBytesPerSecond() / MB, (double) r.dirtyRateBytesPerSecond() / MB,
                r.throttlePercent() > 0 ? ", throttle " + r.throttlePercent() + "%" : "",
                r.expectedDowntime().toNanos() / 1e6));
        finish();
    }

    /** Ends the current bar: the library draws its last state and a line break. */
    private void finish() {
        if (bar != null) {
            bar.close();
            // A bar closed before its first drawing gets no line break from the library.
            barConsumer.close();
            bar = null;
            barConsumer = null;
            barTask = null;
        }
    }

    /** The console consumer, whose line break at the end comes once, whoever asks first. */
    private static final class Ending extends ConsoleProgressBarConsumer {
        private boolean ended;

        Ending(PrintStream out) {
            super(out);
        }

        @Override
        public synchronized void close() {
            if (!ended) {
                ended = true;
                super.close();
            }
        }
    }

    private static String extra(MigrationProgress p) {
        StringBuilder s = new StringBuilder(p.phase() == io.livemig.api.MigrationPhase.POST_COPY
                ? String.format(Locale.ROOT, "%.0f MB/s, %,d pages missing, %,d MB sent",
                        (double) p.bandwidthBytesPerSecond() / MB, p.postcopyMissingPages(), p.bytesOnWire() / MB)
                : String.format(Locale.ROOT, "%.0f MB/s, dirty %.0f MB/s, %,d MB sent",
                        (double) p.bandwidthBytesPerSecond() / MB, (double) p.dirtyBytesPerSecond() / MB,
                        p.bytesOnWire() / MB));
        if (p.throttlePercent() > 0) {
            s.append(String.format(Locale.ROOT, ", throttle %d%%", p.throttlePercent()));
        }
        if (p.switchoverHeld()) {
            s.append(", switchover held");
        }
        return s.toString();
    }

    /** @return the plain line for one progress event */
    static String line(MigrationProgress p) {
        return String.format(Locale.ROOT, "progress %s round %d: %.1f s, %,d MB sent, %,d MB to go in the round, "
                        + "%.0f MB/s, dirty %.0f MB/s, throttle %d%%, expected downtime %.1f ms (limit %d ms)%s%s",
                p.phase().name().toLowerCase(Locale.ROOT), p.round(), seconds(p.elapsed()), p.bytesOnWire() / MB,
                p.remainingBytes() / MB, (double) p.bandwidthBytesPerSecond() / MB,
                (double) p.dirtyBytesPerSecond() / MB, p.throttlePercent(), p.expectedDowntime().toNanos() / 1e6,
                p.downtimeLimit().toMillis(),
                p.postcopyMissingPages() > 0 ? String.format(Locale.ROOT, ", %,d pages missing",
                        p.postcopyMissingPages()) : "",
                p.switchoverHeld() ? ", switchover held" : "");
    }

    private static double seconds(Duration d) {
        return d.toNanos() / 1e9;
    }

    /** Ends the bar, if one is up. Idempotent. */
    @Override
    public synchronized void close() {
        finish();
    }
}
