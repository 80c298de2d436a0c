package io.livemig.channel;

import java.io.IOException;

/**
 * A message is longer than the channel's limit: a sender bug, or a broken or hostile peer that
 * announced a huge length. Nothing of the message is delivered.
 */
public final class MessageTooLargeException extends IOException {
    private static final long serialVersionUID = 1L;

    /** The size of the refused message, in bytes. */
    private final long messageBytes;
    /** The largest message accepted, in bytes. */
    private final long limitBytes;

    /**
     * Creates a {@code MessageTooLargeException}.
     *
     * @param messageBytes the announced or attempted message length in bytes
     * @param limitBytes   the limit in bytes
     */
    public MessageTooLargeException(long messageBytes, long limitBytes) {
        super("message of " + messageBytes + " bytes exceeds the limit of " + limitBytes + " bytes");
        this.messageBytes = messageBytes;
        this.limitBytes = limitBytes;
    }

    /** {@return the announced or attempted message length in bytes} */
    public long messageBytes() {
        return messageBytes;
    }

    /** {@return the limit in bytes} */
    public long limitBytes() {
        return limitBytes;
    }
}
