package io.livemig.engine.internal.strategy;

import java.time.Duration;

/**
 * A transfer rate a switchover decision relies on: an exponentially weighted average
 * (weight 1/2) of each round's amount (bytes, or pages) over its duration. Rounds shorter than
 * 1 ms or lighter than the minimum amount say little about the link and are merged into the
 * next one rather than averaged alone.
 */
final class BandwidthEstimator {

    private static final long MIN_NANOS = 1_000_000;
    private final long minAmount;

    /** Measures bytes per second; rounds under 64 KiB are merged. */
    BandwidthEstimator() {
        this(64 << 10);
    }

    /** @param minAmount the smallest amount a round must carry to count on its own */
    BandwidthEstimator(long minAmount) {
        this.minAmount = minAmount;
    }

    private double bytesPerSecond;
    private long pendingBytes;
    private long pendingNanos;

    void add(long bytes, long nanos) {
        pendingBytes += bytes;
        pendingNanos += nanos;
        if (pendingNanos < MIN_NANOS || pendingBytes < minAmount) {
            return;
        }
        double sample = pendingBytes * 1e9 / pendingNanos;
        bytesPerSecond = bytesPerSecond == 0 ? sample : (bytesPerSecond + sample) / 2;
        pendingBytes = 0;
        pendingNanos = 0;
    }

    /** @return the smoothed rate in bytes per second, 0 before the first measurement */
    long bytesPerSecond() {
        return (long) bytesPerSecond;
    }

    /** @return how long {@code bytes} take at the smoothed rate; unknown rate = very long */
    Duration timeFor(long bytes) {
        if (bytes == 0) {
            return Duration.ZERO;
        }
        if (bytesPerSecond <= 0) {
            return Duration.ofDays(1);
        }
        return Duration.ofNanos((long) (bytes * 1e9 / bytesPerSecond));
    }
}
