package io.livemig.engine.internal.source;

import io.livemig.engine.internal.EngineThreads;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.ProtocolException;
import io.livemig.channel.Channel;
import io.livemig.channel.Reconnector;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.TokenBucket;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import io.livemig.engine.internal.wire.StreamFrames;
import io.livemig.spi.MemoryLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The source's data connections (docs/protocol.md, section 6): announced with STREAMS on the first
 * channel, each made by the migration's {@link Reconnector} and greeted like the first one (HELLO
 * of purpose STREAM with the migration's session id, HELLO_ACK with the destination's proof, AUTH
 * with the source's), admitted once the destination answers READY on the first channel. Each
 * connection is a {@link SourceLink} of its own, so a failure on it becomes a
 * {@link io.livemig.api.ChannelException} with the migration's phase and VM state, as on the first.
 *
 * <p>Pages on the connections share the one bandwidth limit ({@link #pace}). Connection {@code k}
 * is written by one thread at a time: in a round the encoder thread that owns it, in post-copy
 * the migration's thread. Owns the connections: {@link #close()} closes them.
 */
final class SourceStreams implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SourceStreams.class);

    /** How often the wait for READY looks whether a greeting failed. */
    private static final long GREETING_POLL_NANOS = 20_000_000L;
    /** How long a failed greeting waits for the destination's reason on the first channel. */
    private static final long REASON_WAIT_NANOS = 500_000_000L;

    private final SourceLink[] links;
    private final Channel[] channels;
    private final MigrationCounters[] counters;
    /** Shared by every connection; guarded by itself. */
    private final TokenBucket bandwidth;
    /** The last SYNC sequence number sent; migration thread only. */
    private long sequence;
    private boolean closed;

    private SourceStreams(SourceLink[] links, Channel[] channels, MigrationCounters[] counters, TokenBucket bandwidth) {
        this.links = links;
        this.channels = channels;
        this.counters = counters;
        this.bandwidth = bandwidth;
    }

    /**
     * Announces {@code options.streams()} data connections on {@code control}, makes and greets them,
     * each on a thread of its own, and waits for the destination's READY on {@code control}. A
     * destination that refuses them says why there (ABORT), which ends the wait at once.
     *
     * @param maxFrameBytes the frame limit the first channel agreed: every connection must carry it
     * @throws MigrationException if a connection cannot be made or greeted, or the destination refuses
     */
    static SourceStreams open(SourceLink control, Reconnector reconnector, byte[] sessionId, int maxFrameBytes,
                              MigrationOptions options, MemoryLayout layout, SourceContext context)
            throws MigrationException {
        int n = options.streams();
        control.send(new StreamFrames.Streams(n));
        Channel[] channels = new Channel[n];
        SourceLink[] links = new SourceLink[n];
        MigrationCounters[] counters = new MigrationCounters[n];
        List<CompletableFuture<Void>> greetings = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            int index = k;
            counters[k] = new MigrationCounters();
            greetings.add(CompletableFuture.runAsync(() -> {
                try {
                    Channel channel = reconnector.reconnect();
                    synchronized (channels) {
                        channels[index] = channel;
                    }
                    SourceLink link = new SourceLink(channel, options, layout, java.util.List.of(), context,
                            counters[index], control.control(), control.meter());
                    link.start();
                    int agreed = SourceHandshake.greet(link, Purpose.STREAM, sessionId, options);
                    if (agreed < maxFrameBytes) {
                        throw control.protocol(ProtocolException.Kind.INCOMPATIBLE, "data connection " + (index + 1)
                                + " agreed a frame limit of " + agreed + " bytes, below the first channel's "
                                + maxFrameBytes);
                    }
                    links[index] = link;
                } catch (IOException e) {
                    throw new CompletionException(context.channel("cannot open data connection " + (index + 1)
                            + " of " + n + ": " + e.getMessage(), e));
                } catch (MigrationException e) {
                    throw new CompletionException(e);
                }
            }, task -> EngineThreads.unstarted("livemig-stream-greeting-" + index, task).start()));
        }
        CompletableFuture<Void> all = CompletableFuture.allOf(greetings.toArray(CompletableFuture[]::new));
        long deadline = System.nanoTime() + options.ioTimeout().toNanos();
        try {
            // READY comes only once every connection was admitted; a refusal comes as ABORT.
            while (control.awaitWithin(HandshakeFrames.Ready.class, GREETING_POLL_NANOS) == null) {
                if (all.isCompletedExceptionally()) {
                    // A destination that refused a connection says why on the first channel.
                    control.awaitWithin(HandshakeFrames.Ready.class, REASON_WAIT_NANOS);
                    all.join();
                }
                if (System.nanoTime() > deadline) {
                    throw context.channel("the destination did not admit " + n + " data connections within "
                            + options.ioTimeout().toMillis() + " ms", null);
                }
            }
            all.get(options.ioTimeout().toNanos(), TimeUnit.NANOSECONDS);
        } catch (MigrationException | RuntimeException | ExecutionException | TimeoutException e) {
            synchronized (channels) {
                for (Channel channel : channels) {
                    if (channel != null) {
                        channel.close();
                    }
                }
            }
            throw failure(e, context);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw context.cancelled("interrupted while opening data connections");
        }
        LOG.debug("{} data connections admitted", n);
        return new SourceStreams(links, channels, counters,
                new TokenBucket(options.timeSource(), control.control()::bandwidthBytesPerSecond));
    }

    private static MigrationException failure(Exception e, SourceContext context) {
        Throwable t = e;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof MigrationException me) {
            return me;
        }
        if (t instanceof RuntimeException re) {
            throw re;
        }
        return context.channel("data connections failed: " + t, t);
    }

    /** @return the number of data connections */
    int count() {
        return links.length;
    }

    /** @return data connection {@code k} */
    SourceLink link(int k) {
        return links[k];
    }

    /** @return forward frame bytes sent on every data connection so far */
    long bytesSent() {
        long sum = 0;
        for (SourceLink link : links) {
            sum += link.bytesSent();
        }
        return sum;
    }

    /** @return each connection's counters (frame bytes sent) */
    List<MigrationCounters> counters() {
        return List.of(counters);
    }

    /**
     * Sends {@code frame} on connection {@code k}, after waiting as long as the shared bandwidth
     * limit requires. For the thread that writes connection {@code k}.
     */
    void sendPaced(int k, ByteBuffer frame) throws MigrationException {
        synchronized (bandwidth) {
            try {
                bandwidth.acquire(frame.remaining());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw links[k].interrupted();
            }
        }
        links[k].send(frame);
    }

    /** @return the sequence number of the next SYNC; migration thread only */
    long nextSequence() {
        return ++sequence;
    }

    /** Closes every connection. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Channel channel : channels) {
            channel.close();
        }
    }
}
