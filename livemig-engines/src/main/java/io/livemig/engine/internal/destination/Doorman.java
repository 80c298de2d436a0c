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
import java.nio.ByteBuffer;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
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
 * running migration: a source of a new migration is handed out while fewer than the doorman's
 * limit run ({@link #awaitNew}), and then that migration's recovery, settle and data connections
 * are admitted and kept for it ({@link #awaitReturn}) until it is {@link #forget forgotten};
 * everything else is turned away. A doorman for one migration ({@code receive} from a listener)
 * has a limit of one and is closed with it; a {@link io.livemig.engine.MigrationServer}'s admits
 * several, one after the other or at once.
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
    /** Sources of new migrations, admitted and not yet taken. */
    private final LinkedBlockingQueue<Greeter.Greeted> newcomers = new LinkedBlockingQueue<>();
    /** The most migrations admitted and not forgotten at once. */
    private final int maxMigrations;
    /** Connections being greeted, oldest first. */
    private final ConcurrentLinkedDeque<Channel> pending = new ConcurrentLinkedDeque<>();
    private final Thread acceptor;
    /** The admitted migrations, by session id, with their returning connections. Guarded by {@code this}. */
    private final Map<ByteBuffer, Session> sessions = new HashMap<>();
    private volatile boolean closed;
    /** No new migration is admitted any more; running ones still get their connections. */
    private volatile boolean draining;

    /** An admitted migration's connections: those waiting to be taken, and those handed out. */
    private static final class Session {
        final LinkedBlockingQueue<Greeter.Greeted> returning = new LinkedBlockingQueue<>();
        final ConcurrentLinkedQueue<Channel> handedOut = new ConcurrentLinkedQueue<>();
    }

    Doorman(ChannelListener listener, MigrationOptions options) {
        this(listener, options, 1);
    }

    /**
     * @param maxMigrations the most migrations admitted and not yet {@link #forget forgotten} at once
     */
    Doorman(ChannelListener listener, MigrationOptions options, int maxMigrations) {
        this.listener = listener;
        this.options = options;
        this.maxMigrations = maxMigrations;
        try (EngineThreads.Binding threads = EngineThreads.bind(options.threadFactory())) {
            this.acceptor = EngineThreads.unstarted("livemig-doorman", this::acceptLoop);
        }
    }

    /** Starts accepting, and the one-time warm-up of the set-up path while no source is here yet. */
    void start() {
        FrameWarmup.runInBackground();
        ReceiveBuffers.prepareInBackground();
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
                ByteBuffer id = ByteBuffer.wrap(greeted.hello().sessionId().clone());
                if (greeted.hello().purpose() == Purpose.NEW) {
                    String busy = busy();
                    if (busy != null) {
                        throw new IOException(busy);
                    }
                    if (sessions.containsKey(id)) {
                        throw new IOException("a migration with this session id was admitted already");
                    }
                    sessions.put(id, new Session());
                    newcomers.add(greeted);
                } else {
                    Session session = sessions.get(id);
                    if (session == null) {
                        throw new IOException("its migration ended here meanwhile");
                    }
                    session.returning.add(greeted);
                }
            }
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
        if (purpose == Purpose.NEW) {
            return busy();
        }
        if (sessions.isEmpty()) {
            return "no migration is running here to " + purpose.name().toLowerCase();
        }
        return sessions.containsKey(ByteBuffer.wrap(id)) ? null : "the connection names another migration";
    }

    /** @return why a new migration cannot be admitted now, or null if it can */
    private String busy() {
        if (draining) {
            return "this destination is shutting down and takes no new migration";
        }
        if (sessions.size() < maxMigrations) {
            return null;
        }
        return maxMigrations == 1 ? "a migration is running here already"
                : maxMigrations + " migrations are running here already, the most this destination takes at once";
    }

    /** Admits no new migration from now on; the running ones still get their connections. */
    void stopAdmitting() {
        draining = true;
    }

    /** @return how many migrations are admitted and not yet forgotten */
    synchronized int admittedCount() {
        return sessions.size();
    }

    /**
     * The migration of {@code sessionId} ended: closes its connections, and makes room for a new one.
     * Idempotent.
     */
    void forget(byte[] sessionId) {
        Session session;
        synchronized (this) {
            session = sessions.remove(ByteBuffer.wrap(sessionId));
        }
        if (session != null) {
            closeAll(session);
        }
    }

    private static void closeAll(Session session) {
        Greeter.Greeted g;
        while ((g = session.returning.poll()) != null) {
            g.channel().close();
        }
        Channel channel;
        while ((channel = session.handedOut.poll()) != null) {
            channel.close();
        }
    }

    /**
     * Waits for the source of a new migration.
     *
     * @return the admitted connection; its migration's later connections are kept for it until it
     *         is {@link #forget forgotten}
     * @throws IOException if none came within {@code timeout}
     */
    Greeter.Greeted awaitNew(Duration timeout) throws IOException {
        Greeter.Greeted g = poll(newcomers, timeout, EnumSet.of(Purpose.NEW));
        Session session;
        synchronized (this) {
            session = sessions.get(ByteBuffer.wrap(g.hello().sessionId()));
        }
        if (session == null) {
            g.channel().close();
            throw new IOException("the new migration's connection was closed before it was taken");
        }
        session.handedOut.add(g.channel());
        return g;
    }

    /**
     * Waits for the source of {@code sessionId} to come back for one of {@code purposes} (recovery,
     * settling or a data connection); connections it opens for other purposes meanwhile are closed.
     *
     * @throws IOException if it did not within {@code timeout}, or the migration was forgotten
     */
    Greeter.Greeted awaitReturn(byte[] sessionId, Duration timeout, Set<Purpose> purposes) throws IOException {
        Session session;
        synchronized (this) {
            session = sessions.get(ByteBuffer.wrap(sessionId));
        }
        if (session == null) {
            throw new IOException("no migration with this session id is running here");
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Duration left = Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
            Greeter.Greeted g = poll(session.returning, left, purposes);
            if (purposes.contains(g.hello().purpose())) {
                session.handedOut.add(g.channel());
                return g;
            }
            LOG.warn("dropped a {} connection from {}: waiting for {}", g.hello().purpose(), g.channel().peer(),
                    purposes);
            g.channel().close();
        }
    }

    private Greeter.Greeted poll(LinkedBlockingQueue<Greeter.Greeted> queue, Duration timeout, Set<Purpose> purposes)
            throws IOException {
        try {
            Greeter.Greeted g = queue.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
            if (g == null) {
                throw new SocketTimeoutException("no authenticated " + purposes + " connection on "
                        + listener.localDescription() + " within " + timeout.toMillis() + " ms");
            }
            return g;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for a connection", e);
        }
    }

    private void drain() {
        Greeter.Greeted g;
        while ((g = newcomers.poll()) != null) {
            g.channel().close();
        }
        java.util.List<Session> all;
        synchronized (this) {
            all = java.util.List.copyOf(sessions.values());
        }
        for (Session session : all) {
            Greeter.Greeted r;
            while ((r = session.returning.poll()) != null) {
                r.channel().close();
            }
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
        java.util.List<Session> all;
        synchronized (this) {
            all = java.util.List.copyOf(sessions.values());
        }
        drain();
        for (Session session : all) {
            closeAll(session);
        }
    }
}
