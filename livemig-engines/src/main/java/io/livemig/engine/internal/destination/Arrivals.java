package io.livemig.engine.internal.destination;

import io.livemig.api.MigrationOptions;
import io.livemig.channel.Channel;
import io.livemig.channel.ChannelListener;
import io.livemig.channel.Reconnector;
import io.livemig.engine.internal.Redial;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import io.livemig.engine.internal.wire.Wire;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Set;

/**
 * Where the destination's connections come from, greeted and admitted: the first one that
 * starts the migration, and the source's later ones that recover it (post-copy) or settle it
 * (after a break at the switchover). Either one channel and a {@link Reconnector} the caller
 * provides, or a {@link ChannelListener} watched by a {@link Doorman}.
 */
sealed interface Arrivals extends AutoCloseable permits Arrivals.OneChannel, Arrivals.Watched {

    /**
     * @return the admitted connection of the new migration
     * @throws Greeter.Refused if the only candidate was refused
     * @throws IOException     if it failed, or none came in time
     */
    Greeter.Greeted first() throws Greeter.Refused, IOException;

    /**
     * @param purposes  what the connection may come for: RECOVER, SETTLE or both
     * @param sessionId the migration's session id, which the connection must name
     * @return the source's admitted connection
     * @throws IOException if none came within the options' recovery window
     */
    Greeter.Greeted comeback(Set<Purpose> purposes, byte[] sessionId) throws IOException;

    /**
     * @param sessionId the migration's session id, which the connection must name
     * @param timeout   how long to wait for it
     * @return one of the migration's data connections (purpose STREAM), greeted and admitted
     * @throws IOException if none came in time, or this destination cannot take more connections
     */
    Greeter.Greeted stream(byte[] sessionId, Duration timeout) throws IOException;

    /**
     * After the channel broke at or after the switchover: the source, if it sent COMMIT without
     * seeing RESUMED, comes back to ask how it ended. Answers it, if it comes within the recovery
     * window; never throws.
     */
    default void settle(byte[] sessionId, ControlFrames.Outcome outcome) {
        try {
            answer(comeback(EnumSet.of(Purpose.SETTLE), sessionId), outcome);
        } catch (IOException | RuntimeException e) {
            LoggerFactory.getLogger(Arrivals.class).debug("no source came back to settle the switchover: {}",
                    e.getMessage());
        }
    }

    /**
     * Tells a source that came back to settle how the switchover ended, and closes its connection.
     *
     * @throws IOException if the answer could not be sent
     */
    static void answer(Greeter.Greeted asking, ControlFrames.Outcome outcome) throws IOException {
        try (Channel channel = asking.channel()) {
            channel.send(new FrameWriter(Wire.MIN_FRAME_BYTES + 8).write(new ControlFrames.Settled(outcome)));
        }
        LoggerFactory.getLogger(Arrivals.class).info("told the source, which came back to settle, that the VM was {}",
                outcome);
    }

    /** Stops waiting for connections. */
    @Override
    void close();

    /** One channel, greeted in place; later connections from the reconnector, greeted each. */
    record OneChannel(Channel channel, Reconnector reconnector, MigrationOptions options) implements Arrivals {
        @Override
        public Greeter.Greeted first() throws Greeter.Refused, IOException {
            return Greeter.greet(channel, options, (purpose, id) -> purpose == Purpose.NEW ? null
                    : "the first connection must start a new migration", options.receiveLimits().handshakeTimeout());
        }

        @Override
        public Greeter.Greeted comeback(Set<Purpose> purposes, byte[] sessionId) throws IOException {
            return Redial.within(options.recoveryWindow(), reconnector, fresh -> Greeter.greet(fresh, options,
                    Greeter.session(sessionId, purposes.toArray(Purpose[]::new)),
                    options.receiveLimits().handshakeTimeout()));
        }

        @Override
        public Greeter.Greeted stream(byte[] sessionId, Duration timeout) throws IOException {
            if (reconnector == Reconnector.NONE) {
                throw new IOException("this destination was given one channel and no reconnector, so it cannot "
                        + "take data connections (receive from a listener instead)");
            }
            return Redial.within(timeout, reconnector, fresh -> Greeter.greet(fresh, options,
                    Greeter.session(sessionId, Purpose.STREAM), options.receiveLimits().handshakeTimeout()));
        }

        @Override
        public void close() {
            // the channels belong to the caller
        }
    }

    /** Connections that a {@link Doorman} admits and keeps for the migration by its session id. */
    sealed interface Watched extends Arrivals permits Listening, Served {
        /** @return the doorman watching the listener */
        Doorman doorman();

        /** @return the destination's options (the recovery window) */
        MigrationOptions options();

        @Override
        default Greeter.Greeted comeback(Set<Purpose> purposes, byte[] sessionId) throws IOException {
            return doorman().awaitReturn(sessionId, options().recoveryWindow(), purposes);
        }

        @Override
        default Greeter.Greeted stream(byte[] sessionId, Duration timeout) throws IOException {
            return doorman().awaitReturn(sessionId, timeout, EnumSet.of(Purpose.STREAM));
        }
    }

    /** A listener, watched by a doorman from the start to the end of the migration. */
    record Listening(Doorman doorman, Duration acceptTimeout, MigrationOptions options) implements Watched {
        /** Starts watching {@code listener}. */
        static Listening on(ChannelListener listener, Duration acceptTimeout, MigrationOptions options) {
            Doorman doorman = new Doorman(listener, options);
            doorman.start();
            return new Listening(doorman, acceptTimeout, options);
        }

        @Override
        public Greeter.Greeted first() throws IOException {
            return doorman.awaitNew(acceptTimeout);
        }

        @Override
        public void close() {
            doorman.close();
        }
    }

    /**
     * One of the migrations a shared doorman admitted (a {@link io.livemig.engine.MigrationServer}'s):
     * its first connection was taken already, its later ones are kept for it by session id, and
     * closing forgets it (the doorman goes on for the others).
     */
    record Served(Doorman doorman, Greeter.Greeted admitted, MigrationOptions options) implements Watched {
        @Override
        public Greeter.Greeted first() {
            return admitted;
        }

        @Override
        public void close() {
            doorman.forget(admitted.hello().sessionId());
        }
    }
}
