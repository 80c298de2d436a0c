package io.livemig.api;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * What the post-copy phase did. Counts come from the source, latencies and blocked times from
 * the destination (it sends them when every page has arrived).
 *
 * @param demandFaults     first touches of missing pages by the destination's vCPUs
 * @param pagesPulled      pages sent because the destination asked for them
 * @param pagesPushed      pages sent by the background push
 * @param requestRaces     requests for pages already on their way (each page still crossed once)
 * @param faultLatencyP50  median time from a fault to the page's installation
 * @param faultLatencyP99  99th percentile of the same
 * @param vcpuBlocked      per vCPU, the time spent blocked on missing pages
 * @param recoveries       how many times a broken link was recovered over a new channel
 */
public record PostcopyStats(long demandFaults, long pagesPulled, long pagesPushed, long requestRaces,
                            Duration faultLatencyP50, Duration faultLatencyP99, List<Duration> vcpuBlocked,
                            int recoveries) {

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for negative counts
     */
    public PostcopyStats {
        if (demandFaults < 0 || pagesPulled < 0 || pagesPushed < 0 || requestRaces < 0 || recoveries < 0) {
            throw new IllegalArgumentException("post-copy counts must not be negative");
        }
        Objects.requireNonNull(faultLatencyP50, "faultLatencyP50");
        Objects.requireNonNull(faultLatencyP99, "faultLatencyP99");
        vcpuBlocked = List.copyOf(vcpuBlocked);
    }

    /** {@return whether the migration survived at least one broken link} */
    public boolean recovered() {
        return recoveries > 0;
    }
}
