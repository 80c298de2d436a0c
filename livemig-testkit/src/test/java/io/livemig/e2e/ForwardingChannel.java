package io.livemig.e2e;

import io.livemig.channel.Channel;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * A {@link Channel} that hands every call to another one. A test channel that watches or breaks
 * one direction (records what the source sends, cuts the link at a given frame) overrides
 * {@link #send} or {@link #receive} and inherits the rest.
 *
 * <p><b>Ownership.</b> {@link #close()} closes the inner channel. <b>Threading.</b> As the inner
 * channel: one sender and one receiver at a time, {@code close()} from any thread.
 */
public class ForwardingChannel implements Channel {

    private final Channel inner;

    /** @param inner the channel every call goes to */
    public ForwardingChannel(Channel inner) {
        this.inner = Objects.requireNonNull(inner, "inner");
    }

    @Override
    public void send(ByteBuffer message) throws IOException {
        inner.send(message);
    }

    @Override
    public int receive(ByteBuffer destination) throws IOException {
        return inner.receive(destination);
    }

    @Override
    public int maxMessageBytes() {
        return inner.maxMessageBytes();
    }

    @Override
    public String peer() {
        return inner.peer();
    }

    @Override
    public void close() {
        inner.close();
    }
}
