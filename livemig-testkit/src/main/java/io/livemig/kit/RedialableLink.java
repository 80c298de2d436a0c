package io.livemig.kit;

import io.livemig.api.TimeSource;
import io.livemig.channel.Reconnector;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * An in-memory link that can be dialled again after a cut, as a TCP connection can: for
 * exercising post-copy recovery without sockets. {@link #first()} is the initial pair; the
 * source's {@link #sourceSide() reconnector} makes a new pair with the same shape and hands its
 * destination end to the destination's {@link #destinationSide(Duration) reconnector}, which
 * waits for it as a listener waits in {@code accept}.
 *
 * <p>Thread-safe. Every channel it hands out is owned by whoever received it.
 */
public final class RedialableLink {

    private final LinkShape shape;
    private final TimeSource time;
    private final InMemoryChannel.Pair first;
    private final BlockingQueue<InMemoryChannel> dialled = new LinkedBlockingQueue<>();

    /**
     * Creates a {@code RedialableLink}.
     *
     * @param shape the bandwidth and latency of every pair, the first and the redialled ones
     * @param time  the clock of both ends
     */
    public RedialableLink(LinkShape shape, TimeSource time) {
        this.shape = shape;
        this.time = time;
        this.first = InMemoryChannel.pair(shape, time);
    }

    /** {@return the initial pair; cut it with {@link InMemoryChannel#breakLink()}} */
    public InMemoryChannel.Pair first() {
        return first;
    }

    /** {@return the source's reconnector: each call dials a new pair and returns its source end} */
    public Reconnector sourceSide() {
        return () -> {
            InMemoryChannel.Pair next = InMemoryChannel.pair(shape, time);
            dialled.add(next.destination());
            return next.source();
        };
    }

    /**
     * {@return the destination's reconnector: each call returns the destination end of the next
     * pair the source dials, or fails with an {@link IOException} after {@code timeout}}
     *
     * @param timeout how long each call waits for the source to dial again (real time)
     */
    public Reconnector destinationSide(Duration timeout) {
        return () -> {
            try {
                InMemoryChannel channel = dialled.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
                if (channel == null) {
                    throw new IOException("the source did not dial again within " + timeout.toMillis() + " ms");
                }
                return channel;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting for the source to dial again");
            }
        };
    }
}
