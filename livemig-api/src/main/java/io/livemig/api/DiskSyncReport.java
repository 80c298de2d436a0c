package io.livemig.api;

import java.time.Duration;
import java.util.Objects;

/**
 * The outcome of a disk sync without a VM (dsync as a tool): one disk brought up to date at the
 * destination, from one side's point of view.
 *
 * @param disk         what was sent, and how the destination's copy was compared; on the
 *                     destination, the blocks it wrote (as {@code blocksSent} and
 *                     {@code zeroBlocksSent}) and how it took the disk
 * @param totalTime    from the first byte of the handshake to the destination's last answer
 * @param bytesOnWire  bytes sent on the forward stream (received, on the destination), frame
 *                     headers included
 * @param verification the block-by-block comparison, if the source asked for one
 */
public record DiskSyncReport(DiskStats disk, Duration totalTime, long bytesOnWire,
                             MigrationReport.Check verification) {

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for a negative time or byte count
     */
    public DiskSyncReport {
        Objects.requireNonNull(disk, "disk");
        Objects.requireNonNull(verification, "verification");
        if (totalTime.isNegative() || bytesOnWire < 0) {
            throw new IllegalArgumentException("time and bytes must not be negative");
        }
    }
}
