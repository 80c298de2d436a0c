package io.livemig.engine.internal.destination;

import io.livemig.engine.internal.EngineThreads;
import io.livemig.api.MigrationOptions;
import io.livemig.channel.Channel;
import io.livemig.channel.ChannelListener;
import io.livemig.engine.internal.wire.FrameWarmup;
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * Accepts connections from a {@link ChannelListener} for as long as a migration may need one,
 * and greets each on a thread of its own ({@link Greeter}, with the handshake deadline), so that
 * an idle, slow or unauthenticated connection never holds up the real source nor disturbs a
 * running migration: the first source admitted for a new migration is handed out, then only
 * that migration's recovery and settle connections are admitted; everything else is turned away.
 * At most {@value #MAX_GREETINGS} greetings run at once. When that many are running, the oldest
 * is closed to make room for the newcomer rather than the newcomer turned away: a real source
 * greets within a round trip, a squatter holds its connection for as long as it is let, so the
 * oldest pending greetings are the likeliest squatters, and a flood of idle connections cannot
 * keep the real source out.
 *
 * <p>Thread-safe. {@link #close()} stops accepting (the listener belongs to the caller) and closes
 * every connection it accepted, handed out or not: the caller of {@code receive} never sees them,
 * and the migration is over by then.
 */
final class Doorman implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Doorman.class);
    private static final int MAX_GREETINGS = 64;
    private static final Duration ACCEPT_POLL = Duration.ofMillis(250);
    /** How long a newcomer waits for the greeting it evicted to give back its slot. */
    private static final Duration EVICTION_WAIT = Duration.ofSeconds(1);

    private final ChannelListener listener;
    private final MigrationOptions options;
    private final Semaphore greetings = new Semaphore(MAX_GREETINGS);
    private final LinkedBlockingQueue<Greeter.Greeted> admitted = new LinkedBlockingQueue<>();
    /** Connections being greeted, oldest first. */
    private final ConcurrentLinkedDeque<Channel> pending = new ConcurrentLinkedDeque<>();
    /** Connections handed to the migration, closed with the doorman. */
    private final ConcurrentLinkedQueue<Channel> handedOut = new ConcurrentLinkedQueue<>();
    private final Thread acceptor;
    /** The admitted migration's session id; null until one is admitted. Guarded by {@code this}. */
    private byte[] sessionId;
    private volatile boolean closed;

    Doorman(ChannelListener listener, MigrationOptions options) {
        this.listener = listener;
        this.options = options;
        try (EngineThreads.Binding threads = EngineThreads.bind(options.threadFactory())) {
            this.acceptor = EngineThreads.unstarted("livemig-doorman", this::acceptLoop);
        }
    }

    /** Starts accepting, and the one-time warm-up of the set-up path while no source is here yet. */
    void start() {
        FrameWarmup.runInBackground();
        acceptor.start();
    }

    private void acceptLoop() {
        while (!closed) {
            Channel channel;
            try {
                channel = listener.accept(ACCEPT_POLL);
            } catch (SocketTimeoutException idle) {
                continue;
            } catch (IOException e) {
                if (!closed) {
                    LOG.warn("{} stopped accepting: {}", listener.localDescription(), e.getMessage());
                }
                return;
            }
            if (closed || !makeRoom()) {
                LOG.warn("turned away {}: {}", channel.peer(), closed ? "closing" : "too many handshakes at once");
                channel.close();
                continue;
            }
            pending.addLast(channel);
            EngineThreads.unstarted("livemig-greeting", () -> greet(channel)).start();
        }
    }

    private void greet(Channel channel) {
        try {
            Greeter.Greeted greeted = Greeter.greet(channel, options, this::refusal,
                    options.receiveLimits().handshakeTimeout());
            if (!pending.remove(channel)) {
                // Closed (to make room, or because the migration ended) just as it completed; once
                // out of the pending list it never is.
                throw new IOException("closed while it was being greeted");
            }
            synchronized (this) {
                if (greeted.hello().purpose() == Purpose.NEW) {
                    if (sessionId != null) {
                        throw new IOException("a migration was admitted already");
                    }
                    sessionId = greeted.hello().sessionId();
                }
            }
            admitted.add(greeted);
            if (closed) {
                drain();
            }
        } catch (Greeter.Refused | IOException | RuntimeException e) {
            LOG.warn("turned away {}: {}", channel.peer(), e.getMessage());
            channel.close();
        } finally {
            pending.remove(channel);
            greetings.release();
        }
    }

    /**
     * Takes a greeting slot, closing the oldest pending greeting if none is free; its greeter then
     * fails at once and gives its slot back.
     *
     * @return false if no slot came free in time
     */
    private boolean makeRoom() {
        if (greetings.tryAcquire()) {
            return true;
        }
        Channel oldest = pending.pollFirst();
        if (oldest != null) {
            LOG.warn("closed {}, the oldest of {} pending handshakes, to make room", oldest.peer(), MAX_GREETINGS);
            oldest.close();
        }
        try {
            return greetings.tryAcquire(EVICTION_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private synchronized String refusal(Purpose purpose, byte[] id) {
        if (sessionId == null) {
            return purpose == Purpose.NEW ? null : "no migration is running here to " + purpose.name().toLowerCase();
        }
        if (purpose == Purpose.NEW) {
            return "a migration is running here already";
        }
        return Arrays.equals(id, sessionId) ? null : "the connection names another migration";
    }

    /**
     * Waits for the source of a new migration.
     *
     * @return the admitted connection
     * @throws IOException if none came within {@code timeout}
     */
    Greeter.Greeted awaitNew(Duration timeout) throws IOException {
        return await(timeout, EnumSet.of(Purpose.NEW));
    }

    /**
     * Waits for this migration's source to come back for one of {@code purposes} (recovery or settling).
     *
     * @throws IOException if it did not within {@code timeout}
     */
    Greeter.Greeted awaitReturn(Duration timeout, Set<Purpose> purposes) throws IOException {
        return await(timeout, purposes);
    }

    private Greeter.Greeted await(Duration timeout, Set<Purpose> purposes) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            while (true) {
                Greeter.Greeted g = admitted.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (g == null) {
                    throw new SocketTimeoutException("no authenticated " + purposes
                            + " connection on " + listener.localDescription() + " within " + timeout.toMillis()
                            + " ms");
                }
                if (purposes.contains(g.hello().purpose())) {
                    handedOut.add(g.channel());
                    return g;
                }
                LOG.warn("dropped a {} connection from {}: waiting for {}", g.hello().purpose(), g.channel().peer(),
                        purposes);
                g.channel().close();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for a connection", e);
        }
    }

    private void drain() {
        Greeter.Greeted g;
        while ((g = admitted.poll()) != null) {
            g.channel().close();
        }
    }

    /**
     * Stops accepting and closes every connection accepted: those still being greeted, the
     * admitted ones nobody took, and those handed out. Idempotent.
     */
    @Override
    public void close() {
        closed = true;
        acceptor.interrupt();
        Channel channel;
        while ((channel = pending.pollFirst()) != null) {
            channel.close();
        }
        drain();
        while ((channel = handedOut.poll()) != null) {
            channel.close();
        }
    }
}
