package io.livemig.examples.cli;

import io.livemig.channel.Channel;
import io.livemig.channel.ChannelListener;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import io.livemig.transport.TlsChannel;
import io.livemig.transport.TlsChannelListener;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Optional;
import javax.net.ssl.SSLContext;

/**
 * The command line's channels: mutual TLS when a context is given, plain TCP otherwise, with the
 * same timeouts everywhere.
 *
 * <p>Stateless and thread-safe.
 */
final class Transports {

    /** How long connecting, and then the TLS handshake, may take. */
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    /** How long a send or receive may make no progress (and the bound on an accepted TLS handshake). */
    static final Duration IO_TIMEOUT = Duration.ofSeconds(30);

    private Transports() {
    }

    /**
     * @param tls      the TLS context, or empty for plain TCP
     * @param peerName the name the destination's certificate must carry, or null (TLS only)
     * @return a connected channel; over TLS, authenticated both ways
     * @throws IOException if connecting or the TLS handshake fails; the message says why
     */
    static Channel connect(InetSocketAddress address, Optional<SSLContext> tls, String peerName) throws IOException {
        try {
            return tls.isPresent()
                    ? TlsChannel.connect(address, tls.get(), peerName, CONNECT_TIMEOUT, IO_TIMEOUT)
                    : TcpChannel.connect(address, CONNECT_TIMEOUT, IO_TIMEOUT);
        } catch (java.net.ConnectException e) {
            throw new java.net.ConnectException("cannot connect to " + address.getHostString() + ":" + address.getPort()
                    + ": " + e.getMessage());
        }
    }

    /**
     * @param tls      the TLS context, or empty for plain TCP
     * @param peerName the name each source's certificate must carry, or null (TLS only)
     * @return a bound listener, owned by the caller
     */
    static ChannelListener listen(InetSocketAddress address, Optional<SSLContext> tls, String peerName)
            throws IOException {
        return tls.isPresent()
                ? TlsChannelListener.bind(address, tls.get(), peerName, IO_TIMEOUT)
                : TcpChannelListener.bind(address, IO_TIMEOUT);
    }

    /** @return where a listener from {@link #listen} listens, with the real port */
    static InetSocketAddress boundAddress(ChannelListener listener) throws IOException {
        return switch (listener) {
            case TlsChannelListener tls -> tls.localAddress();
            case TcpChannelListener tcp -> tcp.localAddress();
            default -> throw new IllegalArgumentException("not a listener of this command line: " + listener);
        };
    }
}
