package io.livemig.engine.internal;

import io.livemig.api.TimeSource;

import java.util.function.LongSupplier;

/**
 * Paces a byte stream to a rate on a {@link TimeSource}, so that it works in virtual time too
 * (Guava's RateLimiter reads the real clock). Burst: up to 50 ms of tokens. A rate of 0 means
 * unlimited and costs nothing. The rate is read on every acquire, so it may change while the
 * stream runs. Not thread-safe: one sending thread.
 */
public final class TokenBucket {

    private static final long BURST_NANOS = 50_000_000L;
    /** The longest single sleep: how late a changed rate can take effect. */
    private static final long SLICE_NANOS = 20_000_000L;

    private final TimeSource time;
    private final LongSupplier rate;
    private double tokens;
    private long last;

    /**
     * @param time the clock
     * @param rate the rate in bytes per second, 0 for unlimited; read on every acquire
     */
    public TokenBucket(TimeSource time, LongSupplier rate) {
        this.time = time;
        this.rate = rate;
        this.last = time.nanoTime();
    }

    /**
     * Takes {@code bytes} tokens, waiting as long as the rate requires.
     *
     * @throws InterruptedException if interrupted while waiting
     */
    public void acquire(long bytes) throws InterruptedException {
        long bytesPerSecond = rate.getAsLong();
        if (bytesPerSecond <= 0) {
            last = time.nanoTime();
            tokens = 0;
            return;
        }
        refill(bytesPerSecond);
        tokens -= bytes;
        // Waits in slices, reading the rate again after each: a cap lifted or raised while a large
        // frame waits at a low one takes effect within a slice, not after the whole wait.
        while (tokens < 0) {
            double perNano = bytesPerSecond / 1e9;
            time.sleepNanos(Math.min(SLICE_NANOS, (long) Math.ceil(-tokens / perNano)));
            bytesPerSecond = rate.getAsLong();
            if (bytesPerSecond <= 0) {
                last = time.nanoTime();
                tokens = 0;
                return;
            }
            refill(bytesPerSecond);
        }
    }

    private void refill(long bytesPerSecond) {
        long now = time.nanoTime();
        double perNano = bytesPerSecond / 1e9;
        tokens = Math.min(tokens + (now - last) * perNano, BURST_NANOS * perNano);
        last = now;
    }
}
