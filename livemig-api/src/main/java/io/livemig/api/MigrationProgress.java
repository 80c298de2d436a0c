package io.livemig.api;

import java.time.Duration;
import java.util.Objects;

/**
 * A consistent snapshot of a running migration, as the source sees it: what libvirt's
 * {@code virDomainGetJobStats} gives. Taken by {@code Migration.progress()} at any time (cheap
 * enough to poll every 100 ms) and carried by {@link MigrationEvent.Progress}. Immutable.
 *
 * <p>The figures of the current round are live; those that need a whole round to measure (the
 * dirty rate, the expected downtime) are the last completed round's, zero before the first.
 *
 * @param migrationId                  the migration's id, as in the report and the logs' MDC
 *                                     ({@code livemig.migration})
 * @param phase                        where the migration is
 * @param elapsed                      time since the migration started, on the options' clock
 * @param round                        the round being sent (0 first), or -1 before the first
 * @param memoryBytes                  the VM's RAM in bytes
 * @param bytesOnWire                  forward bytes sent so far on every connection, frames whole
 * @param pagesSent                    page entries sent so far
 * @param remainingBytes               bytes of the current round not yet sent (raw pages); after a
 *                                     round, until the next starts, the bytes it left dirty
 * @param dirtyBytesPerSecond          the rate the guest dirtied memory at during the last round
 * @param bandwidthBytesPerSecond      the send rate over the last progress interval (or since the
 *                                     start, for the first)
 * @param throttlePercent              the vCPU throttle the escalation ladder applies, 0 for none
 * @param expectedDowntime             the downtime the last round predicted
 * @param downtimeLimit                the downtime limit in force (the ladder or the caller may
 *                                     have raised it)
 * @param bandwidthLimitBytesPerSecond the bandwidth cap in force, 0 for none
 * @param postcopyMissingPages         pages the destination still lacks in post-copy, estimated
 *                                     from the pages sent since; 0 outside post-copy
 * @param switchoverHeld               whether the switchover is held, waiting for the caller
 */
public record MigrationProgress(String migrationId, MigrationPhase phase, Duration elapsed, int round,
                                long memoryBytes, long bytesOnWire, long pagesSent, long remainingBytes,
                                long dirtyBytesPerSecond, long bandwidthBytesPerSecond, int throttlePercent,
                                Duration expectedDowntime, Duration downtimeLimit,
                                long bandwidthLimitBytesPerSecond, long postcopyMissingPages,
                                boolean switchoverHeld) {

    /**
     * Checks the components.
     *
     * @throws NullPointerException if an object component is null
     */
    public MigrationProgress {
        Objects.requireNonNull(migrationId, "migrationId");
        Objects.requireNonNull(phase, "phase");
        Objects.requireNonNull(elapsed, "elapsed");
        Objects.requireNonNull(expectedDowntime, "expectedDowntime");
        Objects.requireNonNull(downtimeLimit, "downtimeLimit");
    }
}
