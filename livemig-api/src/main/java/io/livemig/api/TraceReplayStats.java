package io.livemig.api;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * What a trace-and-replay migration ({@link Strategy#TRACE_REPLAY}) did, as the source saw it: the
 * checkpoint, the log shipped after it, and how fast the destination replayed it.
 *
 * @param checkpointBytes   bytes of the checkpoint's frames on the wire (pages and vCPU state)
 * @param checkpointPause   how long the VM was paused to take the checkpoint (its memory copied
 *                          and its vCPU state saved): a stall of the running VM, not downtime
 * @param startPosition     the checkpoint's position in the VM's input log
 * @param finalPosition     the position the VM stopped at, which the destination replayed to
 * @param segmentLogBytes   log bytes of each segment shipped, in order, the last one after the pause
 * @param logBytes          log bytes in all (the sum of {@code segmentLogBytes})
 * @param recordingTime     how long the VM ran recorded, from the checkpoint to the stop
 * @param logBytesPerSecond how fast the log grew: {@code logBytes} over {@code recordingTime}
 * @param replayTime        how long the destination spent replaying, as it reported it
 * @param replaySpeed       recorded execution replayed per unit of replay time ({@code recordingTime /
 *                          replayTime}): above 1 replay outruns real time; 0 if nothing was replayed
 */
public record TraceReplayStats(long checkpointBytes, Duration checkpointPause, long startPosition, long finalPosition,
                               List<Long> segmentLogBytes, long logBytes, Duration recordingTime,
                               long logBytesPerSecond, Duration replayTime, double replaySpeed) {

    /**
     * Checks and copies the components.
     *
     * @throws NullPointerException     for a null component
     * @throws IllegalArgumentException for a negative figure, or a final position before the start
     */
    public TraceReplayStats {
        Objects.requireNonNull(checkpointPause, "checkpointPause");
        Objects.requireNonNull(recordingTime, "recordingTime");
        Objects.requireNonNull(replayTime, "replayTime");
        segmentLogBytes = List.copyOf(segmentLogBytes);
        if (checkpointBytes < 0 || logBytes < 0 || logBytesPerSecond < 0 || startPosition < 0
                || finalPosition < startPosition || replaySpeed < 0 || checkpointPause.isNegative()
                || recordingTime.isNegative() || replayTime.isNegative()) {
            throw new IllegalArgumentException("trace-and-replay figures must not be negative, and the final position "
                    + "not before the start: " + checkpointBytes + " B, " + logBytes + " B, " + startPosition + ".."
                    + finalPosition);
        }
    }
}
