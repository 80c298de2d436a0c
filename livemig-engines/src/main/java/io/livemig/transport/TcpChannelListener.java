package io.livemig.transport;

import io.livemig.channel.ChannelListener;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;

/**
 * Listens for a migration source's TCP connection on the destination host.
 *
 * <p>Thread-safe for one accepting thread; {@link #close()} from anywhere, idempotent. Owns its
 * server socket; the channels it accepts are owned by the caller.
 */
public final class TcpChannelListener implements ChannelListener {

    private final ServerSocketChannel server;
    private final Selector selector;
    private final Duration ioTimeout;

    private TcpChannelListener(ServerSocketChannel server, Selector selector, Duration ioTimeout) {
        this.server = server;
        this.selector = selector;
        this.ioTimeout = ioTimeout;
    }

    /**
     * Binds a listener.
     *
     * @param address   where to listen; port 0 picks a free port (see {@link #localAddress()})
     * @param ioTimeout the I/O timeout given to accepted channels
     * @return the listener
     * @throws IOException if the address cannot be bound
     */
    public static TcpChannelListener bind(InetSocketAddress address, Duration ioTimeout) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open();
        try {
            server.bind(address);
            server.configureBlocking(false);
            Selector selector = Selector.open();
            server.register(selector, SelectionKey.OP_ACCEPT);
            return new TcpChannelListener(server, selector, ioTimeout);
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
    }

    /**
     * {@return the bound address, with the real port when bound to port 0}
     *
     * @throws IOException if the socket is closed or its address cannot be read
     */
    public InetSocketAddress localAddress() throws IOException {
        return (InetSocketAddress) server.getLocalAddress();
    }

    @Override
    public String localDescription() {
        try {
            return "tcp://" + localAddress();
        } catch (IOException e) {
            return "tcp (closed)";
        }
    }

    /**
     * Waits for one connection.
     *
     * @param timeout how long to wait
     * @return the connected channel, owned by the caller
     * @throws SocketTimeoutException if nobody connects in time
     * @throws IOException            if the listener is closed or fails
     */
    @Override
    public TcpChannel accept(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            SocketChannel socket = server.accept();
            if (socket != null) {
                return new TcpChannel(socket, ioTimeout, TcpChannel.DEFAULT_MAX_MESSAGE_BYTES);
            }
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) {
                throw new SocketTimeoutException("no connection within " + timeout.toMillis() + " ms");
            }
            try {
                selector.select(left);
                selector.selectedKeys().clear();
            } catch (java.nio.channels.ClosedSelectorException e) {
                // Closed by another thread while this one waited: say so as the contract does.
                throw new IOException("listener closed");
            }
            if (!selector.isOpen()) {
                throw new IOException("listener closed");
            }
        }
    }

    @Override
    public void close() {
        try {
            selector.close();
        } catch (IOException ignored) {
            // best effort
        }
        try {
            server.close();
        } catch (IOException ignored) {
            // best effort
        }
    }
}
