package io.livemig.engine.internal;

import org.HdrHistogram.Histogram;

/**
 * A latency distribution in nanoseconds, kept as an HdrHistogram with 3 significant digits: its
 * memory grows with the range of the values (a few tens of KiB up to minutes), not with their
 * count, and recording one is a few array updates.
 *
 * <p>Percentiles follow the nearest-rank rule (the smallest recorded value such that at least
 * p% of the values are at or below it), reported as the highest value that the value's bucket
 * stands for: exact below 2,048 ns, and never more than 0.1% above the recorded value beyond.
 *
 * <p>Not thread-safe: the owner guards it.
 */
public final class LatencyHistogram {

    private static final int SIGNIFICANT_DIGITS = 3;

    private final Histogram histogram = new Histogram(SIGNIFICANT_DIGITS);

    /** Makes an empty distribution that grows to whatever range it is given. */
    public LatencyHistogram() {
    }

    /**
     * Records one latency.
     *
     * @param nanos the latency in nanoseconds; a negative one (a clock that went back) counts as 0
     */
    public void record(long nanos) {
        histogram.recordValue(Math.max(0, nanos));
    }

    /** {@return how many latencies were recorded} */
    public long count() {
        return histogram.getTotalCount();
    }

    /**
     * Returns a percentile of the recorded latencies.
     *
     * @param percentile the percentile, from 0 (exclusive) to 100 (inclusive)
     * @return the latency in nanoseconds at that percentile (see the class comment for the rule
     *         and the precision), or 0 if nothing was recorded
     * @throws IllegalArgumentException if {@code percentile} is not in (0, 100]
     */
    public long percentileNanos(double percentile) {
        if (!(percentile > 0 && percentile <= 100)) {
            throw new IllegalArgumentException("a percentile is in (0, 100]: " + percentile);
        }
        return histogram.getTotalCount() == 0 ? 0 : histogram.getValueAtPercentile(percentile);
    }
}
