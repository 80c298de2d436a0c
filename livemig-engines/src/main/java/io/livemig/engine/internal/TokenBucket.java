package io.livemig.engine.internal;

import io.livemig.api.TimeSource;

/**
 * Paces a byte stream to a rate on a {@link TimeSource}, so that it works in virtual time too
 * (Guava's RateLimiter reads the real clock). Burst: up to 50 ms of tokens. A rate of 0 means
 * unlimited and costs nothing. Not thread-safe: one sending thread.
 */
public final class TokenBucket {

    private static final long BURST_NANOS = 50_000_000L;

    private final TimeSource time;
    private long bytesPerSecond;
    private double tokens;
    private long last;

    /**
     * @param time           the clock
     * @param bytesPerSecond the rate, 0 for unlimited
     */
    public TokenBucket(TimeSource time, long bytesPerSecond) {
        this.time = time;
        this.bytesPerSecond = bytesPerSecond;
        this.last = time.nanoTime();
    }

    /** @param bytesPerSecond the new rate, 0 for unlimited */
    public void setRate(long bytesPerSecond) {
        this.bytesPerSecond = bytesPerSecond;
    }

    /**
     * Takes {@code bytes} tokens, waiting as long as the rate requires.
     *
     * @throws InterruptedException if interrupted while waiting
     */
    public void acquire(long bytes) throws InterruptedException {
        if (bytesPerSecond <= 0) {
            return;
        }
        long now = time.nanoTime();
        double perNano = bytesPerSecond / 1e9;
        tokens = Math.min(tokens + (now - last) * perNano, BURST_NANOS * perNano);
        last = now;
        tokens -= bytes;
        if (tokens < 0) {
            long waitNanos = (long) Math.ceil(-tokens / perNano);
            time.sleepNanos(waitNanos);
            last += waitNanos;
            tokens = 0;
        }
    }
}
