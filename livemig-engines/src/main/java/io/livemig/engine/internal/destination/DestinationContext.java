package io.livemig.engine.internal.destination;

import io.livemig.api.ChannelException;
import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationReport.SwitchoverStep;
import io.livemig.api.ProtocolException;
import io.livemig.api.SourceVmState;
import io.livemig.api.TimeSource;
import io.livemig.engine.internal.SwitchoverSteps;
import io.livemig.engine.internal.wire.ControlFrames;

import java.time.Duration;
import java.util.List;

/**
 * The ongoing destination-side migration's state and timestamps: the {@link ReceiverState} with
 * checked transitions, the moments the report's times come from, and the failures every part of
 * the destination raises, in the current phase (the source's state is never known here:
 * {@link SourceVmState#UNKNOWN}).
 *
 * <p>Written by the receiving thread; the state is volatile because the page requester's
 * thread reads it through the failures it builds.
 */
final class DestinationContext {

    private final TimeSource time;
    private final long startNanos;
    private volatile ReceiverState state = ReceiverState.AWAIT_HELLO;
    private long switchoverNanos = -1;
    private long commitNanos = -1;
    private long stateLoadedNanos = -1;
    private long resumedNanos = -1;

    DestinationContext(TimeSource time) {
        this.time = time;
        this.startNanos = time.nanoTime();
    }

    ReceiverState state() {
        return state;
    }

    MigrationPhase phase() {
        return state.phase();
    }

    /**
     * Moves to {@code next}, stamping the switchover's moments.
     *
     * @throws IllegalStateException if the transition is not allowed (a bug: frames are checked against the state first)
     */
    void moveTo(ReceiverState next) {
        if (!state.next().contains(next)) {
            throw new IllegalStateException("receiver state " + state + " cannot move to " + next);
        }
        if (next == ReceiverState.STOPPED) {
            switchoverNanos = time.nanoTime();
        }
        state = next;
    }

    /** @return the migration's clock, now */
    long now() {
        return time.nanoTime();
    }

    /** Notes that COMMIT arrived: the state is loaded next. */
    void commitArrived() {
        commitNanos = time.nanoTime();
    }

    /** Notes that the state is loaded: the vCPUs resume next. */
    void stateLoaded() {
        stateLoadedNanos = time.nanoTime();
    }

    /** Notes that the VM runs here. */
    void resumed() {
        resumedNanos = time.nanoTime();
    }

    /** @return when the VM resumed here, on this side's clock, or -1 */
    long resumedNanos() {
        return resumedNanos;
    }

    /** @return whether the VM was resumed here */
    boolean hasResumed() {
        return resumedNanos >= 0;
    }

    /** @return from the start to {@code endNanos} */
    Duration totalTime(long endNanos) {
        return Duration.ofNanos(Math.max(0, endNanos - startNanos));
    }

    /** @return SWITCHOVER's arrival to the resume, zero if either did not happen */
    Duration downtime() {
        return switchoverNanos >= 0 && resumedNanos >= 0 ? Duration.ofNanos(resumedNanos - switchoverNanos)
                : Duration.ZERO;
    }

    /** @return where the downtime went: receiving the rest, loading the state, resuming */
    List<SwitchoverStep> switchoverSteps() {
        return SwitchoverSteps.between(new long[] {switchoverNanos, commitNanos, stateLoadedNanos, resumedNanos},
                SwitchoverStep.Kind.RECEIVE, SwitchoverStep.Kind.STATE_LOAD, SwitchoverStep.Kind.RESUME);
    }

    /** @return the failure the source's ABORT means: a cancellation, or an abort */
    MigrationException aborted(ControlFrames.Abort abort) {
        if (abort.code() == ControlFrames.AbortCode.CANCELLED) {
            return new MigrationCancelledException("the source cancelled: " + abort.reason(), phase(),
                    SourceVmState.UNKNOWN);
        }
        return new MigrationAbortedException("the source aborted: " + abort.reason(), phase(), SourceVmState.UNKNOWN);
    }

    ProtocolException protocol(ProtocolException.Kind kind, String message) {
        return new ProtocolException(kind, message, phase(), SourceVmState.UNKNOWN);
    }

    ChannelException channel(String message, Throwable cause) {
        return new ChannelException(message, phase(), SourceVmState.UNKNOWN, cause);
    }
}
