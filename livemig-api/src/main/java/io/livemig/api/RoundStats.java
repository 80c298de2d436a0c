package io.livemig.api;

import java.time.Duration;
import java.util.Objects;

/**
 * What one round of a migration did. Cold migration has one round (round 0, with the VM
 * paused); pre-copy's round 0 sends all memory and each later round re-sends what was dirtied.
 *
 * @param round                    the round number, from 0
 * @param pagesSent                pages put on the wire in this round, of every encoding
 * @param bytesOnWire              bytes this round put on the wire, frame headers included
 * @param dirtyPages               pages found dirty when the round's set was collected
 * @param dirtyRateBytesPerSecond  the guest's dirtying rate measured over this round
 * @param bandwidthBytesPerSecond  the wire throughput measured over this round
 * @param remainingBytes           bytes still dirty at the end of the round
 * @param expectedDowntime         the downtime a switchover right after this round would cost
 * @param throttlePercent          the vCPU throttle in force during the round, 0 to 99
 * @param duration                 how long the round took
 */
public record RoundStats(int round, long pagesSent, long bytesOnWire, long dirtyPages,
                         long dirtyRateBytesPerSecond, long bandwidthBytesPerSecond, long remainingBytes,
                         Duration expectedDowntime, int throttlePercent, Duration duration) {

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for negative counts
     */
    public RoundStats {
        if (round < 0 || pagesSent < 0 || bytesOnWire < 0 || dirtyPages < 0 || dirtyRateBytesPerSecond < 0
                || bandwidthBytesPerSecond < 0 || remainingBytes < 0 || throttlePercent < 0) {
            throw new IllegalArgumentException("round statistics must not be negative");
        }
        Objects.requireNonNull(expectedDowntime, "expectedDowntime");
        Objects.requireNonNull(duration, "duration");
    }
}
