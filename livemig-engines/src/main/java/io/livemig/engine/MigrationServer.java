package io.livemig.engine;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.channel.ChannelListener;
import io.livemig.engine.internal.EngineThreads;
import io.livemig.engine.internal.destination.DestinationMigration;
import io.livemig.engine.internal.destination.MigrationDispatcher;
import io.livemig.spi.HypervisorProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A destination that receives migrations for as long as it runs: it accepts sources on a
 * {@link ChannelListener}, receives each migration on a thread of its own (at most
 * {@link Builder#maxConcurrentMigrations} at once; a source beyond that is refused during the
 * handshake with a reason it reports), and hands each VM that now runs here to the caller's
 * callback. Every migration is received as {@link LiveMigration#receive(ChannelListener, Duration,
 * TargetFactory, MigrationOptions)} receives one: unauthenticated connections are turned away
 * without disturbing anything, and each migration's recovery, settle and data connections are
 * routed to it by session id.
 *
 * <pre>{@code
 * try (TcpChannelListener listener = TcpChannelListener.bind(new InetSocketAddress(4444), Duration.ofSeconds(30));
 *      MigrationServer server = MigrationServer.builder(listener, URI.create("kvm:"))
 *              .options(options)
 *              .maxConcurrentMigrations(4)
 *              .onReceived(received -> inventory.adopt(received.target()))
 *              .onFailed(error -> alerts.send(error.getMessage()))
 *              .start()) {
 *     shutdownSignal.await();
 * }
 * }</pre>
 *
 * <p>Thread-safe. The callbacks run on the migration's thread, one migration at a time each but
 * several migrations at once. {@link #close()} stops admitting new migrations, waits for the
 * running ones to end, and stops accepting; the listener stays the caller's.
 */
public final class MigrationServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(MigrationServer.class);
    /** How often the accept loop checks whether it should stop. */
    private static final Duration POLL = Duration.ofMillis(250);

    private final MigrationDispatcher dispatcher;
    private final TargetFactory factory;
    private final MigrationOptions options;
    private final Consumer<ReceivedMigration> onReceived;
    private final Consumer<MigrationException> onFailed;
    private final Thread acceptLoop;
    private final Set<Thread> running = ConcurrentHashMap.newKeySet();
    private final AtomicLong received = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private volatile boolean closing;

    private MigrationServer(Builder b) {
        this.factory = b.factory;
        this.options = b.options;
        this.onReceived = b.onReceived;
        this.onFailed = b.onFailed;
        try (EngineThreads.Binding threads = EngineThreads.bind(options.threadFactory())) {
            this.dispatcher = new MigrationDispatcher(b.listener, options, b.maxConcurrent);
            this.acceptLoop = EngineThreads.unstarted("livemig-server", this::acceptLoop);
        }
        acceptLoop.start();
        LOG.info("receiving migrations on {}, at most {} at once", b.listener.localDescription(), b.maxConcurrent);
    }

    /**
     * Starts building a server that receives on {@code listener} into targets made by {@code factory}.
     *
     * @param listener where sources connect; owned by the caller, who closes it after the server
     * @param factory  creates each migration's target once its source announced the VM
     * @return a builder
     */
    public static Builder builder(ChannelListener listener, TargetFactory factory) {
        return new Builder(Objects.requireNonNull(listener, "listener"), Objects.requireNonNull(factory, "factory"));
    }

    /**
     * Starts building a server that receives on {@code listener} into targets created by the
     * provider of {@code targetUri}.
     *
     * @param listener  where sources connect; owned by the caller
     * @param targetUri the URI of the provider that creates each target (e.g. {@code kvm:})
     * @return a builder
     * @throws IllegalArgumentException if no provider serves the URI's scheme
     */
    public static Builder builder(ChannelListener listener, URI targetUri) {
        HypervisorProvider provider = LiveMigration.provider(targetUri);
        return builder(listener, descriptor -> provider.createTarget(targetUri, descriptor));
    }

    private void acceptLoop() {
        while (!closing) {
            DestinationMigration migration;
            try {
                migration = dispatcher.awaitMigration(POLL, factory);
            } catch (SocketTimeoutException idle) {
                continue;
            } catch (IOException e) {
                if (!closing) {
                    LOG.warn("stopped receiving migrations: {}", e.getMessage());
                }
                return;
            }
            Thread thread = EngineThreads.unstarted("livemig-received-migration", () -> receive(migration));
            running.add(thread);
            thread.start();
        }
    }

    private void receive(DestinationMigration migration) {
        try {
            DestinationMigration.Outcome outcome = migration.run();
            received.incrementAndGet();
            ReceivedMigration got = new ReceivedMigration(outcome.target(), outcome.report());
            try {
                onReceived.accept(got);
            } catch (RuntimeException e) {
                // The VM runs here with nobody holding it: stop it rather than leak it.
                LOG.error("the onReceived callback threw; the received VM is stopped", e);
                got.target().close();
            }
        } catch (MigrationException e) {
            failed.incrementAndGet();
            try {
                onFailed.accept(e);
            } catch (RuntimeException thrown) {
                LOG.warn("the onFailed callback threw", thrown);
            }
        } catch (RuntimeException e) {
            failed.incrementAndGet();
            LOG.error("receiving a migration failed unexpectedly", e);
        } finally {
            running.remove(Thread.currentThread());
        }
    }

    /** {@return how many migrations are being received now} */
    public int runningMigrations() {
        return dispatcher.running();
    }

    /** {@return how many migrations were received and handed to {@code onReceived} so far} */
    public long receivedCount() {
        return received.get();
    }

    /** {@return how many migrations failed (or were cancelled) so far} */
    public long failedCount() {
        return failed.get();
    }

    /**
     * Stops admitting new migrations (sources are refused with a reason), waits for the running
     * ones to end, then stops accepting and closes every connection it accepted. Idempotent.
     */
    @Override
    public void close() {
        if (closing) {
            joinQuietly(acceptLoop);
            return;
        }
        closing = true;
        dispatcher.stopAdmitting();
        joinQuietly(acceptLoop);
        for (Thread t : Set.copyOf(running)) {
            joinQuietly(t);
        }
        dispatcher.close();
        LOG.info("stopped receiving migrations: {} received, {} failed", received.get(), failed.get());
    }

    private static void joinQuietly(Thread thread) {
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Builds a {@link MigrationServer}. Not thread-safe. */
    public static final class Builder {
        private final ChannelListener listener;
        private final TargetFactory factory;
        private MigrationOptions options = MigrationOptions.defaults();
        private int maxConcurrent = 1;
        private Consumer<ReceivedMigration> onReceived;
        private Consumer<MigrationException> onFailed = error -> { };

        private Builder(ChannelListener listener, TargetFactory factory) {
            this.listener = listener;
            this.factory = factory;
        }

        /**
         * Sets the destination's options: secret, receive limits, expectation, recovery window,
         * verification, listener (which then hears every migration's events, from several threads
         * when several run), thread factory. Default {@link MigrationOptions#defaults()}.
         *
         * @param options the options
         * @return this builder
         */
        public Builder options(MigrationOptions options) {
            this.options = Objects.requireNonNull(options, "options");
            return this;
        }

        /**
         * Sets how many migrations may be received at once; a source beyond that is refused during
         * its handshake, its VM untouched. Default 1.
         *
         * @param migrations at least 1
         * @return this builder
         */
        public Builder maxConcurrentMigrations(int migrations) {
            if (migrations < 1) {
                throw new IllegalArgumentException("maxConcurrentMigrations must be at least 1, was " + migrations);
            }
            this.maxConcurrent = migrations;
            return this;
        }

        /**
         * Sets what to do with each VM now running here. The callback owns the target from then
         * on; if it throws, the target is closed. Required.
         *
         * @param callback the callback, run on the migration's thread
         * @return this builder
         */
        public Builder onReceived(Consumer<ReceivedMigration> callback) {
            this.onReceived = Objects.requireNonNull(callback, "callback");
            return this;
        }

        /**
         * Sets what to do with a migration that failed here (its target, if one was made, is
         * discarded already; the exception carries the destination's report). Default: nothing
         * (the failure is logged at WARN anyway).
         *
         * @param callback the callback, run on the migration's thread
         * @return this builder
         */
        public Builder onFailed(Consumer<MigrationException> callback) {
            this.onFailed = Objects.requireNonNull(callback, "callback");
            return this;
        }

        /**
         * Starts accepting.
         *
         * @return the running server
         * @throws IllegalStateException if no {@link #onReceived} callback was set
         */
        public MigrationServer start() {
            if (onReceived == null) {
                throw new IllegalStateException("a MigrationServer needs an onReceived callback: the received VMs "
                        + "must go somewhere");
            }
            return new MigrationServer(this);
        }
    }
}
