package io.livemig.api;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The immutable outcome of a migration, from one side's point of view, built from named parts:
 * the {@link Totals}, the {@link RoundStats rounds}, the {@link Switchover} with its steps, the
 * page {@link Encodings}, the {@link Check verification}, the escalation ladder's actions and,
 * when there was one, the post-copy phase. Build one with {@link #builder(Strategy)}.
 *
 * <p>Times are measured on the migration's {@link TimeSource}. On the source, the downtime runs
 * from the source's pause to the arrival of the destination's "resumed" message, both read on
 * the source's clock: an upper bound of the true pause by one transit of the return path (tens
 * of microseconds on a LAN). On the destination it runs from the switchover message's arrival to
 * the resume.
 *
 * @param strategy     the strategy that ran
 * @param status       how it ended
 * @param memoryBytes  the VM's RAM size in bytes, holes excluded
 * @param totals       time and bytes of the whole migration
 * @param rounds       per-round statistics, in order (the source's view; empty on the destination)
 * @param switchover   the pause: downtime, its prediction and its steps
 * @param encodings    pages and payload bytes by encoding
 * @param verification the page-by-page comparison
 * @param escalations  what the escalation ladder did, in order (e.g. {@code "auto-converge 30%"})
 * @param postcopy     what the post-copy phase did, if there was one
 * @param failure      what went wrong, if {@code status != COMPLETED}
 * @param disks        what was done with each disk, in the VM's order (empty without disks); on the
 *                     destination, the blocks it wrote
 * @param migrationId  the migration's id, the same on both sides and in the logs' MDC key
 *                     {@code livemig.migration}; empty if it never got one (refused before the
 *                     handshake named it)
 * @param passThrough  what was done with each failover device on this side (empty without one)
 * @param traceReplay  what the checkpoint, the log and its replay did, for a {@link Strategy#TRACE_REPLAY}
 *                     migration seen from the source; empty otherwise
 */
public record MigrationReport(Strategy strategy, MigrationStatus status, long memoryBytes, Totals totals,
                              List<RoundStats> rounds, Switchover switchover, Encodings encodings,
                              Check verification, List<String> escalations, Optional<PostcopyStats> postcopy,
                              Optional<String> failure, List<DiskStats> disks, String migrationId,
                              List<PassThroughStats> passThrough, Optional<TraceReplayStats> traceReplay) {

    /**
     * Checks the components.
     *
     * @throws NullPointerException     for a null part
     * @throws IllegalArgumentException for a negative size, or a failure on a completed migration
     */
    public MigrationReport {
        Objects.requireNonNull(strategy, "strategy");
        Objects.requireNonNull(status, "status");
        Objects.requireNonNull(totals, "totals");
        Objects.requireNonNull(switchover, "switchover");
        Objects.requireNonNull(encodings, "encodings");
        Objects.requireNonNull(verification, "verification");
        Objects.requireNonNull(postcopy, "postcopy");
        Objects.requireNonNull(traceReplay, "traceReplay");
        Objects.requireNonNull(failure, "failure");
        Objects.requireNonNull(migrationId, "migrationId");
        if (memoryBytes < 0) {
            throw new IllegalArgumentException("memoryBytes must not be negative, was " + memoryBytes);
        }
        rounds = List.copyOf(rounds);
        escalations = List.copyOf(escalations);
        disks = List.copyOf(disks);
        passThrough = List.copyOf(passThrough);
        if (status == MigrationStatus.COMPLETED && failure.isPresent()) {
            throw new IllegalArgumentException("a completed migration has no failure");
        }
    }

    /**
     * A report of a VM without disks.
     *
     * @param strategy the strategy that ran
     * @param status how it ended
     * @param memoryBytes the VM's RAM size in bytes, holes excluded
     * @param totals time and bytes of the whole migration
     * @param rounds per-round statistics, in order
     * @param switchover the pause: downtime, its prediction and its steps
     * @param encodings pages and payload bytes by encoding
     * @param verification the page-by-page comparison
     * @param escalations what the escalation ladder did, in order
     * @param postcopy what the post-copy phase did, if there was one
     * @param failure what went wrong, if {@code status != COMPLETED}
     */
    public MigrationReport(Strategy strategy, MigrationStatus status, long memoryBytes, Totals totals,
                           List<RoundStats> rounds, Switchover switchover, Encodings encodings, Check verification,
                           List<String> escalations, Optional<PostcopyStats> postcopy, Optional<String> failure) {
        this(strategy, status, memoryBytes, totals, rounds, switchover, encodings, verification, escalations,
                postcopy, failure, List.of(), "", List.of(), Optional.empty());
    }

    /**
     * {@return true only if the destination's memory (and disks) at resume equalled the source's at
     * pause, page for page and block for block}
     */
    public boolean verified() {
        return verification.outcome() == Verification.VERIFIED;
    }

    /**
     * {@return a builder for a report of {@code strategy}, with every part empty and status COMPLETED}
     *
     * @param strategy the strategy the report is for
     */
    public static Builder builder(Strategy strategy) {
        return new Builder(strategy);
    }

    /**
     * Time and bytes of the whole migration.
     *
     * @param totalTime   from the start of the handshake until the VM runs at the destination
     *                    alone: its resume (cold, pre-copy) or the last page's arrival (post-copy);
     *                    the verification pass that may follow is not included
     * @param bytesOnWire bytes sent on the forward stream (received, on the destination), frame
     *                    headers included
     * @param roundCount  the number of memory rounds (on the destination: the highest round
     *                    number seen, plus one)
     */
    public record Totals(Duration totalTime, long bytesOnWire, int roundCount) {
        /** No time, no bytes, no round. */
        public static final Totals NONE = new Totals(Duration.ZERO, 0, 0);

        /**
         * Checks the components.
         *
         * @throws IllegalArgumentException for negative values
         */
        public Totals {
            requireNonNegative(totalTime, "totalTime");
            if (bytesOnWire < 0 || roundCount < 0) {
                throw new IllegalArgumentException("totals must not be negative");
            }
        }
    }

    /**
     * The switchover: from the pause of the source VM to its resume at the destination.
     *
     * @param downtime         source pause to destination resume; zero if the VM never paused
     * @param expectedDowntime what the engine predicted when it decided to switch over
     * @param forced           whether the switchover was forced past the downtime limit (the FORCE step)
     * @param steps            where the downtime went, in order; their durations add up to
     *                         about the downtime
     * @param blackout         the source's report only: the time the guest ran nowhere, from the
     *                         source's pause to the destination's resume on one host's monotonic
     *                         clock; known only when both sides run on the same host (it then
     *                         leaves out RESUMED's trip back, which the downtime includes), empty
     *                         otherwise and in the destination's report
     */
    public record Switchover(Duration downtime, Duration expectedDowntime, boolean forced, List<SwitchoverStep> steps,
                             Optional<Duration> blackout) {
        /** No switchover happened. */
        public static final Switchover NONE = new Switchover(Duration.ZERO, Duration.ZERO, false, List.of());

        /**
         * Checks the components.
         *
         * @throws IllegalArgumentException for negative durations; the steps are copied
         */
        public Switchover {
            requireNonNegative(downtime, "downtime");
            requireNonNegative(expectedDowntime, "expectedDowntime");
            steps = List.copyOf(steps);
            Objects.requireNonNull(blackout, "blackout");
            blackout.ifPresent(b -> requireNonNegative(b, "blackout"));
        }

        /**
         * A switchover whose blackout is not known.
         *
         * @param downtime how long the VM was paused
         * @param expectedDowntime the downtime predicted when the switchover began
         * @param forced whether the switchover was forced before the rest fit the downtime limit
         * @param steps the switchover's steps with their durations (copied)
         */
        public Switchover(Duration downtime, Duration expectedDowntime, boolean forced, List<SwitchoverStep> steps) {
            this(downtime, expectedDowntime, forced, steps, Optional.empty());
        }

        /**
         * {@return the duration of {@code kind}, zero if that step did not happen}
         *
         * @param kind the step
         */
        public Duration step(SwitchoverStep.Kind kind) {
            for (SwitchoverStep s : steps) {
                if (s.kind() == kind) {
                    return s.duration();
                }
            }
            return Duration.ZERO;
        }
    }

    /**
     * One step of the switchover.
     *
     * @param kind     which step
     * @param duration how long it took
     */
    public record SwitchoverStep(Kind kind, Duration duration) {

        /** The steps, in the order they happen; each side reports its own. */
        public enum Kind {
            /** Source: the vCPUs asked to stop until every one has stopped. */
            PAUSE,
            /**
             * Source: after the pause, the dirty log collected a last time (cold and post-copy: the
             * pages to send or to list found).
             */
            FINAL_SYNC,
            /**
             * Source: the last dirty pages sent after the pause (cold: all of memory; post-copy: the
             * list of pages still missing).
             */
            STOP_COPY,
            /** Source: the vCPU and device state saved. */
            STATE_SAVE,
            /** Source: the state and COMMIT sent. */
            STATE_SEND,
            /** Source: COMMIT sent until the destination's RESUMED arrived. */
            RESUME_WAIT,
            /** Destination: SWITCHOVER until COMMIT arrived (pages and state received). */
            RECEIVE,
            /** Destination: the vCPU and device state loaded. */
            STATE_LOAD,
            /** Destination: the vCPUs resumed. */
            RESUME
        }

        /**
         * Checks the components.
         *
         * @throws IllegalArgumentException for a negative duration
         */
        public SwitchoverStep {
            Objects.requireNonNull(kind, "kind");
            requireNonNegative(duration, "duration");
        }
    }

    /**
     * Pages by the encoding they travelled in.
     *
     * @param pagesByEncoding pages sent per encoding name ({@code "zero"}, {@code "raw"}, {@code "xbzrle"}, ...)
     * @param bytesByEncoding payload bytes sent per encoding name
     * @param unchangedPages  dirtied pages found unchanged since they were last sent (by the XBZRLE
     *                        cache, or by their hash after a small round) and not sent again
     * @param bytesSaved      page bytes not sent thanks to zero pages and codecs: pages sent times the
     *                        page size, minus their payload bytes
     */
    public record Encodings(Map<String, Long> pagesByEncoding, Map<String, Long> bytesByEncoding, long unchangedPages,
                            long bytesSaved) {
        /** Nothing sent. */
        public static final Encodings NONE = new Encodings(Map.of(), Map.of(), 0, 0);

        /**
         * Checks the components.
         *
         * @throws IllegalArgumentException for negative counts; the maps are copied
         */
        public Encodings {
            pagesByEncoding = Map.copyOf(new TreeMap<>(pagesByEncoding));
            bytesByEncoding = Map.copyOf(new TreeMap<>(bytesByEncoding));
            if (unchangedPages < 0 || bytesSaved < 0) {
                throw new IllegalArgumentException("encoding counts must not be negative");
            }
        }

        /** {@return the pages sent, of every encoding} */
        public long pagesSent() {
            long total = 0;
            for (long pages : pagesByEncoding.values()) {
                total += pages;
            }
            return total;
        }
    }

    /**
     * The comparison of the destination's memory and disks at resume with the source's at pause.
     *
     * @param outcome          the result
     * @param mismatchedPages  pages whose digests differed (0 unless {@code MISMATCH})
     * @param time             how long the verification pass took; zero if there was none
     * @param checkedBlocks    disk blocks compared, over all disks (0 without disks)
     * @param mismatchedBlocks disk blocks whose digests differed (0 unless {@code MISMATCH})
     */
    public record Check(Verification outcome, long mismatchedPages, Duration time, long checkedBlocks,
                        long mismatchedBlocks) {
        /** Verification did not run. */
        public static final Check NOT_CHECKED = new Check(Verification.NOT_CHECKED, 0, Duration.ZERO);

        /**
         * Checks the components.
         *
         * @throws IllegalArgumentException for negative values
         */
        public Check {
            Objects.requireNonNull(outcome, "outcome");
            requireNonNegative(time, "time");
            if (mismatchedPages < 0 || checkedBlocks < 0 || mismatchedBlocks < 0) {
                throw new IllegalArgumentException("page and block counts must not be negative");
            }
        }

        /**
         * A check of a VM without disks.
         *
         * @param outcome the verification's outcome
         * @param mismatchedPages pages that differed
         * @param time how long the check took
         */
        public Check(Verification outcome, long mismatchedPages, Duration time) {
            this(outcome, mismatchedPages, time, 0, 0);
        }
    }

    /** Builds a {@link MigrationReport}; every part starts empty. Not thread-safe. */
    public static final class Builder {
        private final Strategy strategy;
        private MigrationStatus status = MigrationStatus.COMPLETED;
        private long memoryBytes;
        private Totals totals = Totals.NONE;
        private List<RoundStats> rounds = new ArrayList<>();
        private Switchover switchover = Switchover.NONE;
        private Encodings encodings = Encodings.NONE;
        private Check verification = Check.NOT_CHECKED;
        private List<String> escalations = new ArrayList<>();
        private PostcopyStats postcopy;
        private String failure;
        private List<DiskStats> disks = new ArrayList<>();
        private String migrationId = "";
        private List<PassThroughStats> passThrough = new ArrayList<>();
        private TraceReplayStats traceReplay;

        private Builder(Strategy strategy) {
            this.strategy = Objects.requireNonNull(strategy, "strategy");
        }

        /**
         * Sets how the migration ended.
         *
         * @param status how the migration ended
         * @return this builder
         */
        public Builder status(MigrationStatus status) {
            this.status = Objects.requireNonNull(status, "status");
            return this;
        }

        /**
         * Sets the VM's RAM size in bytes.
         *
         * @param memoryBytes the VM's RAM size in bytes
         * @return this builder
         */
        public Builder memoryBytes(long memoryBytes) {
            this.memoryBytes = memoryBytes;
            return this;
        }

        /**
         * Sets the totals.
         *
         * @param totals the totals
         * @return this builder
         */
        public Builder totals(Totals totals) {
            this.totals = Objects.requireNonNull(totals, "totals");
            return this;
        }

        /**
         * Sets the rounds.
         *
         * @param rounds the rounds (copied)
         * @return this builder
         */
        public Builder rounds(List<RoundStats> rounds) {
            this.rounds = new ArrayList<>(rounds);
            return this;
        }

        /**
         * Sets the switchover.
         *
         * @param switchover the switchover
         * @return this builder
         */
        public Builder switchover(Switchover switchover) {
            this.switchover = Objects.requireNonNull(switchover, "switchover");
            return this;
        }

        /**
         * Sets the encodings.
         *
         * @param encodings the encodings
         * @return this builder
         */
        public Builder encodings(Encodings encodings) {
            this.encodings = Objects.requireNonNull(encodings, "encodings");
            return this;
        }

        /**
         * Sets the verification.
         *
         * @param verification the verification
         * @return this builder
         */
        public Builder verification(Check verification) {
            this.verification = Objects.requireNonNull(verification, "verification");
            return this;
        }

        /**
         * Sets the escalation ladder's actions.
         *
         * @param escalations the escalation ladder's actions (copied)
         * @return this builder
         */
        public Builder escalations(List<String> escalations) {
            this.escalations = new ArrayList<>(escalations);
            return this;
        }

        /**
         * Sets the post-copy statistics.
         *
         * @param postcopy the post-copy statistics, null if there was no post-copy
         * @return this builder
         */
        public Builder postcopy(PostcopyStats postcopy) {
            this.postcopy = postcopy;
            return this;
        }

        /**
         * Sets the failure description.
         *
         * @param failure the failure description, null for a completed migration
         * @return this builder
         */
        public Builder failure(String failure) {
            this.failure = failure;
            return this;
        }

        /**
         * Sets what was done with each disk.
         *
         * @param disks what was done with each disk (copied)
         * @return this builder
         */
        public Builder disks(List<DiskStats> disks) {
            this.disks = new ArrayList<>(disks);
            return this;
        }

        /**
         * Sets what was done with each failover device (copied).
         *
         * @param stats one entry per failover device
         * @return this builder
         */
        public Builder passThrough(List<PassThroughStats> stats) {
            this.passThrough = new ArrayList<>(stats);
            return this;
        }

        /**
         * Sets the trace-and-replay figures.
         *
         * @param stats the figures, null if the migration was not trace and replay
         * @return this builder
         */
        public Builder traceReplay(TraceReplayStats stats) {
            this.traceReplay = stats;
            return this;
        }

        /**
         * Sets the migration's id (see the record's {@code migrationId}).
         *
         * @param migrationId the migration's id (see the record's {@code migrationId})
         * @return this builder
         */
        public Builder migrationId(String migrationId) {
            this.migrationId = Objects.requireNonNull(migrationId, "migrationId");
            return this;
        }

        /**
         * {@return the report}
         *
         * @throws IllegalArgumentException if the parts are inconsistent (see the record's constructor)
         */
        public MigrationReport build() {
            return new MigrationReport(strategy, status, memoryBytes, totals, rounds, switchover, encodings,
                    verification, escalations, Optional.ofNullable(postcopy), Optional.ofNullable(failure), disks,
                    migrationId, passThrough, Optional.ofNullable(traceReplay));
        }
    }

    private static void requireNonNegative(Duration d, String name) {
        Objects.requireNonNull(d, name);
        if (d.isNegative()) {
            throw new IllegalArgumentException(name + " must not be negative, was " + d);
        }
    }
}
