package io.livemig.engine.internal.destination;

import io.livemig.engine.internal.EngineThreads;
import io.livemig.api.ChannelException;
import io.livemig.api.MigrationException;
import io.livemig.api.ProtocolException;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.StreamFrames;
import io.livemig.engine.internal.wire.WireException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The destination's data connections (docs/protocol.md, section 6): after STREAMS on the first
 * channel, that many connections greeted with purpose STREAM and this migration's session id (and
 * the secret) are admitted, each with a platform thread of its own that checks and applies its
 * PAGES frames with a {@link PageApplier} of its own (pages of different connections are disjoint,
 * which is all the target's memory needs to take writes from several threads) and notes its SYNCs.
 *
 * <p><b>Barriers.</b> The first channel's thread calls {@link #awaitSync} on a SYNC there: it waits
 * until every connection delivered its SYNC with that number, that is, applied every page sent on
 * it before. COMMIT and POSTCOPY_END run {@link #exclusive} (no connection applies a page
 * meanwhile) and only if every connection is at the last SYNC with nothing applied since: a source
 * that sends COMMIT before its pages landed is refused, and post-copy's demand paging is never armed
 * while a stop-copy page is being written. Only then may pushed post-copy pages come on the
 * connections; from then on they are installed through the {@link PostcopyReceiver}.
 *
 * <p><b>Failures.</b> A connection that breaks or carries a bad frame fails the migration: its
 * thread records the failure and wakes the first channel's thread by telling the source (ABORT,
 * before the resume) and closing the first channel, whose thread then reports the recorded failure
 * ({@link #failure()}). In post-copy it only closes the first channel: that is a break, which the
 * migration recovers on the first channel alone, after {@link #close() dropping} every data
 * connection.
 *
 * <p>Thread-safe as described: {@link #awaitSync}, {@link #exclusive} and {@link #close} are for
 * the first channel's thread.
 */
final class DataStreams implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DataStreams.class);

    /** Work done while no connection applies a page. */
    @FunctionalInterface
    interface Exclusive<T> {
        T run() throws WireException, MigrationException;
    }

    private final DestinationContext context;
    private final DestinationLink control;
    private final Duration ioTimeout;
    private final List<Stream> streams = new ArrayList<>();
    /** Held (shared) by a connection's thread while it applies a frame; exclusively by {@link #exclusive}. */
    private final ReentrantReadWriteLock applying = new ReentrantReadWriteLock();
    private final Object progress = new Object();
    /** The first channel's last SYNC; its thread only. */
    private long sequence;
    private volatile MigrationException failure;
    private volatile boolean closing;

    private DataStreams(DestinationContext context, DestinationLink control, Duration ioTimeout) {
        this.context = context;
        this.control = control;
        this.ioTimeout = ioTimeout;
    }

    /**
     * Admits {@code count} data connections of this migration and starts receiving on each.
     *
     * @throws WireException      if they did not all come, authenticated, within the handshake deadline
     */
    static DataStreams accept(int count, Arrivals arrivals, byte[] sessionId, TargetSetup setup,
                              DestinationLink control, DestinationContext context, Duration ioTimeout,
                              Duration handshakeTimeout) throws WireException {
        DataStreams result = new DataStreams(context, control, ioTimeout);
        try {
            for (int k = 0; k < count; k++) {
                Greeter.Greeted greeted;
                try {
                    greeted = arrivals.stream(sessionId, handshakeTimeout);
                } catch (IOException e) {
                    throw new WireException(Kind.INCOMPATIBLE, "the source announced " + count
                            + " data connections, " + k + " were admitted: " + e.getMessage());
                }
                MigrationCounters counters = new MigrationCounters();
                DestinationLink link = new DestinationLink(greeted.channel(), ioTimeout, context, counters);
                link.agreeFrameLimit(Math.min(greeted.maxFrameBytes(), control.maxFrameBytes()));
                result.streams.add(new Stream(k, greeted, link, setup.applierFor(counters), counters));
            }
        } catch (WireException | RuntimeException e) {
            result.close();
            throw e;
        }
        for (Stream s : result.streams) {
            s.thread = EngineThreads.unstarted("livemig-data-" + s.index, () -> result.receive(s));
            s.thread.start();
        }
        return result;
    }

    /** One data connection. */
    private static final class Stream {
        final int index;
        final Greeter.Greeted greeted;
        final DestinationLink link;
        final PageApplier applier;
        final MigrationCounters counters;
        Thread thread;
        /** The last SYNC this connection delivered. */
        volatile long synced;
        /** PAGES frames applied since its last SYNC; written under the shared lock, read under the exclusive one. */
        int sinceSync;

        Stream(int index, Greeter.Greeted greeted, DestinationLink link, PageApplier applier,
               MigrationCounters counters) {
            this.index = index;
            this.greeted = greeted;
            this.link = link;
            this.applier = applier;
            this.counters = counters;
        }
    }

    private void receive(Stream s) {
        try {
            while (!closing) {
                Frame frame = s.link.receive();
                applying.readLock().lock();
                try {
                    if (closing) {
                        return;
                    }
                    if (frame.type() == FrameType.PAGES) {
                        s.applier.apply(frame);
                        s.sinceSync++;
                    } else if (frame.type() == FrameType.SYNC) {
                        long n = ((StreamFrames.Sync) Message.read(frame, Message.Context.BEFORE_SETUP)).sequence();
                        if (n != s.synced + 1) {
                            throw new WireException(Kind.UNEXPECTED, "SYNC " + n + " after SYNC " + s.synced);
                        }
                        s.sinceSync = 0;
                        s.synced = n;
                    } else if (frame.type() == FrameType.ABORT) {
                        throw context.aborted((ControlFrames.Abort) Message.read(frame, Message.Context.BEFORE_SETUP));
                    } else {
                        throw new WireException(Kind.UNEXPECTED, frame.type() + " frame on a data connection");
                    }
                } finally {
                    applying.readLock().unlock();
                }
                synchronized (progress) {
                    progress.notifyAll();
                }
            }
        } catch (WireException e) {
            failed(s, context.protocol(e.kind(), "on data connection " + (s.index + 1) + ": " + e.getMessage()));
        } catch (MigrationException | RuntimeException e) {
            failed(s, e instanceof MigrationException me ? me
                    : new MigrationException("data connection " + (s.index + 1) + " failed: " + e, context.phase(),
                    io.livemig.api.SourceVmState.UNKNOWN, e));
        }
    }

    private void failed(Stream s, MigrationException e) {
        if (closing) {
            return;
        }
        synchronized (progress) {
            if (failure == null) {
                failure = e;
            }
            progress.notifyAll();
        }
        LOG.debug("data connection {} failed: {}", s.index + 1, e.getMessage());
        if (context.state() != ReceiverState.POSTCOPY && !(e instanceof ChannelException)
                && !(e instanceof io.livemig.api.MigrationAbortedException)) {
            control.abort(e instanceof ProtocolException ? ControlFrames.AbortCode.PROTOCOL_ERROR
                    : ControlFrames.AbortCode.TARGET_ERROR, e.reason());
        }
        // Wakes the first channel's thread, blocked in a receive there; it reports this failure.
        control.closeChannel();
    }

    /** @return the failure of a data connection, or null while none failed */
    MigrationException failure() {
        return failure;
    }

    /**
     * The first channel's SYNC: waits until every data connection delivered SYNC {@code n}.
     *
     * @throws WireException      if {@code n} is not the next number
     * @throws MigrationException if a connection failed, or did not deliver it within the I/O timeout
     */
    void awaitSync(long n) throws WireException, MigrationException {
        if (n != sequence + 1) {
            throw new WireException(Kind.UNEXPECTED, "SYNC " + n + " after SYNC " + sequence);
        }
        long deadline = System.nanoTime() + ioTimeout.toNanos();
        synchronized (progress) {
            while (true) {
                if (failure != null) {
                    throw failure;
                }
                Stream behind = null;
                for (Stream s : streams) {
                    if (s.synced < n) {
                        behind = s;
                        break;
                    }
                }
                if (behind == null) {
                    break;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw context.channel("data connection " + (behind.index + 1) + " did not deliver SYNC " + n
                            + " within " + ioTimeout.toMillis() + " ms", null);
                }
                try {
                    progress.wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw context.channel("interrupted while waiting for the data connections", e);
                }
            }
        }
        sequence = n;
    }

    /**
     * Runs {@code work} while no data connection applies a page, once every connection is at the
     * first channel's last SYNC with nothing applied since.
     *
     * @param what the frame that needs it, for the refusal
     * @throws WireException if a connection is not at that SYNC
     */
    <T> T exclusive(String what, Exclusive<T> work) throws WireException, MigrationException {
        applying.writeLock().lock();
        try {
            if (failure != null) {
                throw failure;
            }
            for (Stream s : streams) {
                if (s.synced != sequence || s.sinceSync != 0) {
                    throw new WireException(Kind.UNEXPECTED, what + " while data connection " + (s.index + 1)
                            + " is not at SYNC " + sequence + " (it delivered SYNC " + s.synced + " and "
                            + s.sinceSync + " PAGES frames after it)");
                }
            }
            return work.run();
        } finally {
            applying.writeLock().unlock();
        }
    }

    /** From now on pages on the data connections are installed through {@code receiver}; inside {@link #exclusive}. */
    void postcopy(PostcopyReceiver receiver) {
        for (Stream s : streams) {
            s.applier.postcopy(receiver);
        }
    }

    /**
     * Nothing more is taken from the data connections: a frame that still comes is dropped unread
     * and a break is no failure. Inside {@link #exclusive}, at the non-post-copy COMMIT and at
     * POSTCOPY_END; {@link #close()} follows once the answer is sent.
     */
    void seal() {
        closing = true;
    }

    /** @return each connection's counters: frame bytes received and pages applied */
    List<MigrationCounters> counters() {
        List<MigrationCounters> all = new ArrayList<>();
        for (Stream s : streams) {
            all.add(s.counters);
        }
        return all;
    }

    /**
     * Stops receiving and closes every data connection; waits briefly for the threads, and gives
     * the receive buffer of each connection whose thread ended back for the next migration in this
     * JVM ({@link DestinationLink#release}). Idempotent.
     */
    @Override
    public void close() {
        closing = true;
        for (Stream s : streams) {
            s.greeted.channel().close();
        }
        for (Stream s : streams) {
            if (s.thread == Thread.currentThread()) {
                continue;
            }
            if (s.thread != null) {
                try {
                    s.thread.join(5_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            if (s.thread == null || !s.thread.isAlive()) {
                s.link.release(); // its thread received the last frame it will: none is in use
            }
        }
    }
}
