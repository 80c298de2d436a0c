package io.livemig.engine.internal.destination;

import io.livemig.api.MigrationOptions;
import io.livemig.channel.ChannelListener;
import io.livemig.engine.TargetFactory;

import java.io.IOException;
import java.time.Duration;

/**
 * The destination side of a {@code MigrationServer}: one doorman on the listener for every
 * migration it receives, handing out each new migration's source, keeping each migration's later
 * connections for it, and refusing sources beyond the limit with a reason they can read.
 *
 * <p>Thread-safe. {@link #close()} stops accepting and closes every connection accepted.
 */
public final class MigrationDispatcher implements AutoCloseable {

    private final Doorman doorman;
    private final MigrationOptions options;

    /**
     * Starts accepting on {@code listener}.
     *
     * @param listener      where sources connect; the caller's, closed by the caller
     * @param options       the destination's options (secret, limits, recovery window)
     * @param maxMigrations the most migrations received at once
     */
    public MigrationDispatcher(ChannelListener listener, MigrationOptions options, int maxMigrations) {
        this.options = options;
        this.doorman = new Doorman(listener, options, maxMigrations);
        doorman.start();
    }

    /**
     * Waits for the source of a new migration and prepares its receiving side.
     *
     * @param timeout how long to wait
     * @param factory creates the migration's target
     * @return the migration, to {@link DestinationMigration#run() run} on a thread of its own
     * @throws IOException if no source came within {@code timeout}
     */
    public DestinationMigration awaitMigration(Duration timeout, TargetFactory factory) throws IOException {
        Greeter.Greeted admitted = doorman.awaitNew(timeout);
        return new DestinationMigration(new Arrivals.Served(doorman, admitted, options), factory, options);
    }

    /** Admits no new migration from now on; the running ones go on. */
    public void stopAdmitting() {
        doorman.stopAdmitting();
    }

    /** @return how many migrations are being received */
    public int running() {
        return doorman.admittedCount();
    }

    /** Stops accepting and closes every connection accepted. Idempotent. */
    @Override
    public void close() {
        doorman.close();
    }
}
