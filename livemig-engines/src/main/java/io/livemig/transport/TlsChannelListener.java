package io.livemig.transport;

import io.livemig.channel.ChannelListener;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.Objects;
import javax.net.ssl.SSLContext;

/**
 * Listens for migration sources' mutually authenticated TLS 1.3 connections on the destination
 * host (see {@link TlsChannel}). {@link #accept} returns as soon as a TCP connection arrives; the
 * TLS handshake runs on the channel's first send or receive, bounded by the I/O timeout, so that
 * the caller can handshake each connection on a thread of its own and close it from another
 * thread if it takes too long. A peer that fails the handshake (no certificate, an untrusted one,
 * a wrong name, no TLS at all) never yields a message.
 *
 * <p>{@link #accept} is called by one thread at a time; {@link #close()} from any thread, which
 * makes a pending {@code accept} fail; idempotent. Owns its server socket; the channels it accepts
 * are owned by the caller.
 */
public final class TlsChannelListener implements ChannelListener {

    private final ServerSocket server;
    private final SSLContext context;
    private final String expectedPeerName;
    private final Duration ioTimeout;
    private volatile boolean closed;

    private TlsChannelListener(ServerSocket server, SSLContext context, String expectedPeerName,
                               Duration ioTimeout) {
        this.server = server;
        this.context = context;
        this.expectedPeerName = expectedPeerName;
        this.ioTimeout = ioTimeout;
    }

    /**
     * Binds a listener.
     *
     * @param address          where to listen; port 0 picks a free port (see {@link #localAddress()})
     * @param context          the TLS context: its key manager presents this side's certificate,
     *                         its trust manager verifies each client's chain (a client without a
     *                         certificate is refused)
     * @param expectedPeerName the name each client's certificate must carry (a DNS name or an IP
     *                         address), or null to accept any certificate the trust manager accepts
     * @param ioTimeout        the I/O timeout given to accepted channels, which also bounds their
     *                         handshake
     * @return the listener, owned by the caller
     * @throws IOException if the address cannot be bound
     */
    public static TlsChannelListener bind(InetSocketAddress address, SSLContext context, String expectedPeerName,
                                          Duration ioTimeout) throws IOException {
        Objects.requireNonNull(address, "address");
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(ioTimeout, "ioTimeout");
        TlsWarmup.start(context);
        ServerSocket server = new ServerSocket();
        try {
            server.setReuseAddress(true);
            server.bind(address);
            return new TlsChannelListener(server, context, expectedPeerName, ioTimeout);
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
    }

    /** {@return the bound address, with the real port when bound to port 0} */
    public InetSocketAddress localAddress() {
        return (InetSocketAddress) server.getLocalSocketAddress();
    }

    @Override
    public String localDescription() {
        InetSocketAddress bound = localAddress();
        return closed || bound == null ? "tls (closed)" : "tls://" + bound.getHostString() + ":" + bound.getPort();
    }

    /**
     * Waits for one TCP connection and wraps it; does not run the TLS handshake (see the class
     * comment).
     *
     * @param timeout how long to wait
     * @return the channel, owned by the caller
     * @throws SocketTimeoutException if nobody connects in time
     * @throws IOException            if the listener is closed or fails
     */
    @Override
    public TlsChannel accept(Duration timeout) throws IOException {
        Socket raw;
        try {
            server.setSoTimeout(Math.clamp(timeout.toMillis(), 1, Integer.MAX_VALUE));
            raw = server.accept();
        } catch (SocketTimeoutException e) {
            throw new SocketTimeoutException("no connection on " + localDescription() + " within "
                    + timeout.toMillis() + " ms");
        } catch (SocketException e) {
            throw closed ? new IOException("listener closed", e) : e;
        }
        return TlsChannel.accepted(raw, context, expectedPeerName, ioTimeout);
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // best effort
        }
    }

    @Override
    public String toString() {
        return "TlsChannelListener[" + localDescription() + "]";
    }
}
