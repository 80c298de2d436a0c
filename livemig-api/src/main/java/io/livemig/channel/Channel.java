package io.livemig.channel;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A full-duplex, message-framed transport between a migration's source and destination. Each
 * endpoint sends and receives whole messages, in order, without loss or duplication; the
 * forward stream carries the migration, the return path carries the destination's answers
 * (acknowledgements, post-copy page requests).
 *
 * <p>A channel carries bytes, not meaning: the wire protocol (frame types, CRC32C) lives in the
 * engines and is documented in {@code docs/protocol.md}.
 *
 * <p><b>Threading.</b> One thread may send while another receives. Two threads must not send
 * at once, nor receive at once. {@link #close()} may be called from any thread at any time; it
 * makes blocked {@code send} and {@code receive} calls fail with an {@link IOException}.
 *
 * <p><b>Ownership.</b> Whoever creates the channel closes it. {@code close()} is idempotent.
 */
public interface Channel extends AutoCloseable {

    /**
     * Sends one message: the bytes from {@code message}'s position to its limit. Blocks until
     * the transport has taken them (not until the peer has read them). On return the buffer's
     * position equals its limit and the caller may reuse it.
     *
     * @param message the message; at most {@link #maxMessageBytes()} bytes remaining
     * @throws MessageTooLargeException if the message is longer than {@link #maxMessageBytes()}
     * @throws IOException              if the channel is closed or broken, or the send timed out
     */
    void send(ByteBuffer message) throws IOException;

    /**
     * Receives the next message into {@code destination}, from its position; on return the
     * message lies between the old position and the new one.
     *
     * @param destination a buffer with at least {@link #maxMessageBytes()} bytes remaining, or at
     *                    least as many as the next message holds
     * @return the message length in bytes, or -1 if the peer closed the channel in an orderly way
     *         at a message boundary
     * @throws MessageTooLargeException if the next message does not fit (the channel is then
     *                                  unusable: the peer is broken or hostile)
     * @throws java.io.EOFException     if the channel ended in the middle of a message
     * @throws IOException              if the channel is closed or broken, or nothing arrived
     *                                  within the receive timeout
     */
    int receive(ByteBuffer destination) throws IOException;

    /** {@return the largest message, in bytes, this channel sends or accepts} */
    int maxMessageBytes();

    /** {@return a short description of the peer for logs and errors, e.g. {@code "tcp:127.0.0.1:4444"}} */
    String peer();

    /** Closes both directions. Idempotent; never throws. */
    @Override
    void close();
}
