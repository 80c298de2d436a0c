package io.livemig.engine.internal.source;

import io.livemig.api.TimeSource;

import java.util.function.LongSupplier;

/**
 * How many pushed bytes post-copy lets be in flight (sent, not acknowledged by the destination):
 * the bandwidth-delay product of the link as measured, so that the push keeps the link full and
 * no more. A demanded page queues behind at most this much, so a window larger than the link
 * needs only adds to fault latency; a smaller one leaves the link idle between acknowledgements.
 *
 * <p><b>The rule.</b> {@code window = 2 × minimum RTT × push rate}, clamped to
 * [{@value #MIN_BYTES}, {@value #MAX_BYTES}] bytes. The RTT is the smallest PING/PONG round trip
 * the link measured (queueing excluded); the push rate is the bytes sent since the push began
 * divided by the time since, once at least {@value #MIN_SAMPLE_NANOS} ns have passed (until then,
 * and while no RTT is known, the window is {@value #DEFAULT_BYTES} bytes). The factor 2 covers
 * the destination's acknowledgement granularity (every 256 KiB) and a rate that varies; the floor
 * is twice that granularity, below which the push would stall between acknowledgements; the
 * ceiling is about what the socket buffers between two Linux hosts hold.
 *
 * <p>The migration's thread only.
 */
final class PushWindow {

    /** The smallest window: twice the destination's acknowledgement step (256 KiB). */
    static final long MIN_BYTES = 512L << 10;
    /** The window before the link is measured: 1 Gbit/s at 8 ms, 10 Gbit/s at 0.8 ms. */
    static final long DEFAULT_BYTES = 1L << 20;
    /** The largest window. */
    static final long MAX_BYTES = 16L << 20;
    /** The push rate is trusted once it was measured over this long (20 ms). */
    static final long MIN_SAMPLE_NANOS = 20_000_000L;

    private final TimeSource time;
    private final LongSupplier minRoundTripNanos;
    private long startNanos;
    private long startBytes;

    /**
     * @param time              the clock the push rate is measured with
     * @param minRoundTripNanos the link's smallest measured round trip, 0 or less if none yet
     */
    PushWindow(TimeSource time, LongSupplier minRoundTripNanos) {
        this.time = time;
        this.minRoundTripNanos = minRoundTripNanos;
    }

    /** (Re)starts measuring the push rate: the push begins, or goes on over a new channel. */
    void start(long bytesSent) {
        startNanos = time.nanoTime();
        startBytes = bytesSent;
    }

    /**
     * @param bytesSent the link's bytes sent so far
     * @return the window in bytes, by the rule in the class comment
     */
    long bytes(long bytesSent) {
        long elapsed = time.nanoTime() - startNanos;
        long rtt = minRoundTripNanos.getAsLong();
        if (elapsed < MIN_SAMPLE_NANOS || rtt <= 0 || bytesSent <= startBytes) {
            return DEFAULT_BYTES;
        }
        double bytesPerNano = (double) (bytesSent - startBytes) / elapsed;
        double window = 2.0 * rtt * bytesPerNano;
        return (long) Math.max(MIN_BYTES, Math.min(MAX_BYTES, window));
    }
}
