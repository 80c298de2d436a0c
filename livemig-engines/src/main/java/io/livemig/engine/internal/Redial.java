package io.livemig.engine.internal;

import io.livemig.channel.Channel;
import io.livemig.channel.Reconnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;

/**
 * Gets a new, greeted channel after a break, on either side: asks the {@link Reconnector} and
 * greets on what it gives, again and again with a growing pause (100 ms, doubling up to 2 s, never
 * past the window), until one works or the recovery window has passed. A link that flaps for a few
 * seconds therefore does not lose a migration that recovery exists to save. With
 * {@link Reconnector#NONE} it fails at once.
 */
public final class Redial {

    private static final Logger LOG = LoggerFactory.getLogger(Redial.class);
    private static final long FIRST_PAUSE_NANOS = 100_000_000L;
    private static final long MAX_PAUSE_NANOS = 2_000_000_000L;

    /**
     * Greets on a new channel.
     *
     * @param <T> what a greeting yields
     */
    @FunctionalInterface
    public interface Greeting<T> {
        /**
         * @return what the greeting established
         * @throws Exception if the peer refused or the channel failed during the greeting: the
         *                   channel is closed and the next attempt made
         */
        T greet(Channel channel) throws Exception;
    }

    private Redial() {
    }

    /**
     * @param window how long to keep trying (real time)
     * @return what the first successful greeting yielded; its channel is owned by the caller
     * @throws IOException describing the last attempt's failure, once the window has passed
     */
    public static <T> T within(Duration window, Reconnector reconnector, Greeting<T> greeting) throws IOException {
        if (reconnector == Reconnector.NONE) {
            // Asking again would only repeat its refusal.
            Reconnector.NONE.reconnect();
            throw new IllegalStateException("Reconnector.NONE made a channel");
        }
        long deadline = System.nanoTime() + window.toNanos();
        long pause = FIRST_PAUSE_NANOS;
        int attempts = 0;
        Exception last;
        while (true) {
            attempts++;
            Channel channel = null;
            try {
                channel = reconnector.reconnect();
                return greeting.greet(channel);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (channel != null) {
                    channel.close();
                }
                throw new IOException("interrupted while reconnecting", e);
            } catch (Exception e) {
                last = e;
                if (channel != null) {
                    channel.close();
                }
                LOG.debug("new channel, attempt {}: {}", attempts, e.getMessage());
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IOException("no new channel within " + window.toMillis() + " ms (" + attempts
                        + " attempts; last: " + last.getMessage() + ")", last);
            }
            try {
                Thread.sleep(Duration.ofNanos(Math.min(pause, left)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting to reconnect", e);
            }
            pause = Math.min(MAX_PAUSE_NANOS, pause * 2);
        }
    }
}
