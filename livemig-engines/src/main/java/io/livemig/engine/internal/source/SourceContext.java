package io.livemig.engine.internal.source;

import io.livemig.api.ChannelException;
import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationReport.SwitchoverStep;
import io.livemig.api.ProtocolException;
import io.livemig.api.SourceVmState;
import io.livemig.api.TimeSource;
import io.livemig.engine.internal.SwitchoverSteps;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The ongoing source-side migration's state and timestamps: the {@link SourceState} with checked
 * transitions, and the moments the report's times are computed from. Failures raised anywhere on
 * the source side are built here, so that each says the phase and the VM's state truthfully.
 *
 * <p>Written by the migration's thread; read by any (the fields are volatile where another
 * thread reads them: the return path's reader builds exceptions too).
 */
public final class SourceContext {

    private final TimeSource time;
    private volatile SourceState state = SourceState.HANDSHAKE;
    private final long startNanos;
    /** The pause was asked for: the guest stops from here (the downtime's start). */
    private long pauseNanos = -1;
    /** Every vCPU has stopped. */
    private long pausedNanos = -1;
    /** The last pages began to go (after the last collect of the dirty log). */
    private long finalSendNanos = -1;
    private long stateSaveStartNanos = -1;
    private long stateSavedNanos = -1;
    private long commitSentNanos = -1;
    private long resumedNanos = -1;
    /** When the destination resumed, on this side's clock (same host only), or -1. */
    private long destinationResumedNanos = -1;
    private long handedOverNanos = -1;

    /** Starts the clock of a new migration, in HANDSHAKE. */
    public SourceContext(TimeSource time) {
        this.time = time;
        this.startNanos = time.nanoTime();
    }

    /** @return the current state */
    public SourceState state() {
        return state;
    }

    /** @return the current phase */
    public MigrationPhase phase() {
        return state.phase();
    }

    /** @return where the VM is now */
    public SourceVmState vmState() {
        return state.vmState();
    }

    /**
     * Moves to {@code next}, stamping the moments the report needs.
     *
     * @throws IllegalStateException if the transition is not allowed (a bug, not a peer's doing)
     */
    public void moveTo(SourceState next) {
        if (!state.next().contains(next)) {
            throw new IllegalStateException("source state " + state + " cannot move to " + next);
        }
        long now = time.nanoTime();
        switch (next) {
            case STOP_COPY -> {
                pausedNanos = now;
                if (pauseNanos < 0) {
                    pauseNanos = now;
                }
            }
            case COMMITTED -> commitSentNanos = now;
            case HANDED_OVER -> handedOverNanos = now;
            default -> { }
        }
        state = next;
    }

    /** Notes that the VM is about to be paused: the downtime starts now. */
    public void pauseRequested() {
        pauseNanos = time.nanoTime();
    }

    /**
     * Notes that the last pages (or post-copy's list of missing pages) start to go now, after the
     * last collect of the dirty log. Only the first call after the pause counts.
     */
    public void finalSendStarted() {
        if (pausedNanos >= 0 && finalSendNanos < 0) {
            finalSendNanos = time.nanoTime();
        }
    }

    /** Notes that saving the vCPU and device state starts now. */
    public void stateSaveStarted() {
        stateSaveStartNanos = time.nanoTime();
    }

    /** Notes that the vCPU and device state are saved. */
    public void stateSaved() {
        stateSavedNanos = time.nanoTime();
    }

    /** @return the migration's clock, now */
    public long now() {
        return time.nanoTime();
    }

    /** Notes when RESUMED arrived, on this side's clock. */
    public void resumedAt(long arrivalNanos) {
        resumedNanos = arrivalNanos;
    }

    /**
     * Notes when the destination resumed the VM, as it said in RESUMED, when its clock is this
     * side's clock (both on one host).
     */
    public void destinationResumedAt(long nanos) {
        destinationResumedNanos = nanos;
    }

    /**
     * The blackout as the guest saw it: from the pause to the destination's resume, on one
     * host's monotonic clock. Unlike {@link #downtime()} it does not include RESUMED's transit
     * back. Known only when both sides run on one host, and only if the destination's instant
     * lies between the pause and RESUMED's arrival (anything else is a clock the source cannot
     * trust, and is ignored).
     *
     * @return the blackout, or empty if it cannot be known
     */
    public Optional<Duration> blackout() {
        if (pauseNanos < 0 || destinationResumedNanos < pauseNanos || resumedNanos < destinationResumedNanos) {
            return Optional.empty();
        }
        return Optional.of(Duration.ofNanos(destinationResumedNanos - pauseNanos));
    }

    /** @return nanoseconds since the pause, or -1 if the VM was not paused */
    public long nanosSincePause() {
        return pauseNanos < 0 ? -1 : time.nanoTime() - pauseNanos;
    }

    /**
     * @param endNanos the end of the migration proper: the resume (cold, pre-copy), the last
     *                 page's arrival (post-copy), or the failure
     * @return from the start of the handshake to {@code endNanos}
     */
    public Duration totalTime(long endNanos) {
        return Duration.ofNanos(Math.max(0, endNanos - startNanos));
    }

    /** @return when the VM started running at the destination alone, or -1 */
    public long handedOverNanos() {
        return handedOverNanos;
    }

    /**
     * Pause to the arrival of RESUMED, on this side's clock: an upper bound by one transit of the
     * return path. (Subtracting half the handshake's round trip was tried; that round trip
     * includes the destination's start-up and made short downtimes vanish.)
     *
     * @return the downtime, zero if the VM never paused or never resumed at the destination
     */
    public Duration downtime() {
        return pauseNanos >= 0 && resumedNanos >= 0 ? Duration.ofNanos(Math.max(0, resumedNanos - pauseNanos))
                : Duration.ZERO;
    }

    /** @return when RESUMED arrived (or the switchover was settled as resumed), on this side's clock, or -1 */
    public long resumedNanos() {
        return resumedNanos;
    }

    /** @return when the pause was asked for, on this side's clock, or -1 if the VM was not paused */
    public long pauseNanos() {
        return pauseNanos;
    }

    /**
     * @return where the downtime went: pause, final sync, stop-copy, state save, state send,
     *         resume wait (those that happened)
     */
    public List<SwitchoverStep> switchoverSteps() {
        return SwitchoverSteps.between(new long[] {pauseNanos, pausedNanos, finalSendNanos, stateSaveStartNanos,
                stateSavedNanos, commitSentNanos, resumedNanos}, SwitchoverStep.Kind.PAUSE,
                SwitchoverStep.Kind.FINAL_SYNC, SwitchoverStep.Kind.STOP_COPY, SwitchoverStep.Kind.STATE_SAVE,
                SwitchoverStep.Kind.STATE_SEND, SwitchoverStep.Kind.RESUME_WAIT);
    }

    /** @return a cancellation in the current phase and VM state */
    public MigrationCancelledException cancelled(String message) {
        return new MigrationCancelledException(message, phase(), vmState());
    }

    /** @return the destination's abort, in the current phase and VM state */
    public MigrationAbortedException aborted(String message) {
        return new MigrationAbortedException(message, phase(), vmState());
    }

    /** @return a protocol violation by the destination, in the current phase and VM state */
    public ProtocolException protocol(ProtocolException.Kind kind, String message) {
        return new ProtocolException(kind, message, phase(), vmState());
    }

    /** @return a channel failure, in the current phase and VM state */
    public ChannelException channel(String message, Throwable cause) {
        return new ChannelException(message, phase(), vmState(), cause);
    }
}
