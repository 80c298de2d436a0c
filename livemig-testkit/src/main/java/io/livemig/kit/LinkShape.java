package io.livemig.kit;

import java.time.Duration;
import java.util.Objects;

/**
 * The shape of a simulated link for {@link InMemoryChannel}: how fast bytes go, how long they take
 * to arrive, and how many may be in flight before the sender blocks.
 *
 * @param bandwidthBytesPerSecond link rate in bytes per second in each direction; 0 for unlimited
 * @param latency                 one-way delay added to every message
 * @param bufferBytes             bytes that may be queued in one direction before {@code send}
 *                                blocks (the socket buffers of a real link), at least 64 KiB
 */
public record LinkShape(long bandwidthBytesPerSecond, Duration latency, long bufferBytes) {

    /** An unshaped link: no rate limit, no latency, 32 MiB of buffering. */
    public static final LinkShape UNLIMITED = new LinkShape(0, Duration.ZERO, 32L << 20);

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for a negative rate or latency, or a too small buffer
     */
    public LinkShape {
        Objects.requireNonNull(latency, "latency");
        if (bandwidthBytesPerSecond < 0) {
            throw new IllegalArgumentException("bandwidthBytesPerSecond must be >= 0, was " + bandwidthBytesPerSecond);
        }
        if (latency.isNegative()) {
            throw new IllegalArgumentException("latency must not be negative, was " + latency);
        }
        if (bufferBytes < 64 << 10) {
            throw new IllegalArgumentException("bufferBytes must be >= 64 KiB, was " + bufferBytes);
        }
    }

    /**
     * {@return a link with that rate and delay and 32 MiB of buffering}
     *
     * @param bandwidthBytesPerSecond the rate, 0 for unlimited
     * @param latency                 the one-way delay
     */
    public static LinkShape of(long bandwidthBytesPerSecond, Duration latency) {
        return new LinkShape(bandwidthBytesPerSecond, latency, 32L << 20);
    }
}
