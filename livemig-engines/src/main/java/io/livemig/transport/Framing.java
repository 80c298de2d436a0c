package io.livemig.transport;

import io.livemig.channel.MessageTooLargeException;

import java.nio.ByteBuffer;

/**
 * The length-prefix framing the stream transports share (docs/protocol.md, section 1): each
 * message is a 4-byte big-endian length, 1 to the limit, followed by that many bytes. The checks
 * both sides of a stream make, in one place.
 */
final class Framing {

    private Framing() {
    }

    /**
     * Checks a message about to be sent.
     *
     * @throws MessageTooLargeException if it is longer than {@code maxMessageBytes}
     * @throws IllegalArgumentException if it is empty
     */
    static int checkOutgoing(ByteBuffer message, int maxMessageBytes) throws MessageTooLargeException {
        int length = message.remaining();
        if (length > maxMessageBytes) {
            throw new MessageTooLargeException(length, maxMessageBytes);
        }
        if (length == 0) {
            throw new IllegalArgumentException("messages must not be empty");
        }
        return length;
    }

    /**
     * @param length the announced length, as read (a negative int is a length above 2^31)
     * @return whether a message of that length may be received into {@code destination}
     */
    static boolean acceptable(int length, int maxMessageBytes, ByteBuffer destination) {
        return length > 0 && length <= maxMessageBytes && length <= destination.remaining();
    }

    /** @return the refusal of a message whose announced {@code length} is not {@link #acceptable} */
    static MessageTooLargeException tooLarge(int length, int maxMessageBytes, ByteBuffer destination) {
        return new MessageTooLargeException(length & 0xFFFF_FFFFL, Math.min(maxMessageBytes, destination.remaining()));
    }
}
