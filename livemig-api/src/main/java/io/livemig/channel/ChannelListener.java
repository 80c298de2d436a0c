package io.livemig.channel;

import java.io.IOException;
import java.time.Duration;

/**
 * Where a destination waits for sources: hands out each connection as a {@link Channel}. The
 * engines accept from it while a migration runs, to turn away unauthenticated connections and to
 * take a source's recovery connection after a break; see {@code LiveMigration.receive}.
 *
 * <p>{@link #accept} is called by one thread at a time; {@link #close()} may be called from any
 * thread, is idempotent, and makes a pending {@link #accept} fail.
 */
public interface ChannelListener extends AutoCloseable {

    /**
     * Waits for the next connection. A transport with its own handshake (TLS) may run it here or
     * on the channel's first receive or send; either way a peer that fails it never yields a
     * usable channel.
     *
     * @param timeout how long to wait
     * @return the connected channel, owned by the caller
     * @throws java.net.SocketTimeoutException if nobody connects in time
     * @throws IOException                     if the listener is closed or fails
     */
    Channel accept(Duration timeout) throws IOException;

    /** {@return where this listener listens, for messages} */
    String localDescription();

    /** Stops listening. Idempotent. */
    @Override
    void close();
}
