package io.livemig.channel;

import java.io.IOException;

/**
 * Makes a new channel to the same peer after the current one broke, so that a post-copy
 * migration, whose VM state is split across the two hosts, can be recovered (as QEMU's
 * postcopy-recover). The source typically reconnects ({@code TcpChannel.connect}), the
 * destination accepts again ({@code TcpChannelListener.accept}).
 */
@FunctionalInterface
public interface Reconnector {

    /** A reconnector for migrations that cannot be recovered: it always fails. */
    Reconnector NONE = () -> {
        throw new IOException("no reconnector was given, so the migration cannot be recovered");
    };

    /**
     * {@return a new connected channel, owned by the caller}
     *
     * @throws IOException if no channel can be made (the migration then fails, saying which side
     *                     holds what)
     */
    Channel reconnect() throws IOException;
}
