package io.livemig.transport;

import io.livemig.channel.Channel;

import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Objects;

/**
 * A {@link Channel} over one TCP connection. Each message travels as a 4-byte big-endian length
 * followed by the message bytes (docs/protocol.md, "TCP framing"). The socket is non-blocking
 * underneath, with one selector per direction, so that every send and receive honours the I/O
 * timeout: an operation that makes no progress for that long fails with a
 * {@link SocketTimeoutException}. Direct buffers go to the kernel without an extra copy.
 *
 * <p>Threading as {@link Channel} says: one sender and one receiver at a time; {@link #close()}
 * from anywhere. Owns its socket; {@code close()} is idempotent.
 */
public final class TcpChannel implements Channel {

    /** Default and maximum message size, in bytes: 16 MiB plus room for a frame header. */
    public static final int DEFAULT_MAX_MESSAGE_BYTES = (16 << 20) + 4096;

    private final SocketChannel socket;
    private final Selector readSelector;
    private final Selector writeSelector;
    private final long ioTimeoutMillis;
    private final int maxMessageBytes;
    private final String peer;
    private final ByteBuffer readHeader = ByteBuffer.allocateDirect(4).order(ByteOrder.BIG_ENDIAN);
    private final ByteBuffer writeHeader = ByteBuffer.allocateDirect(4).order(ByteOrder.BIG_ENDIAN);
    private final ByteBuffer[] gather = new ByteBuffer[2];
    private volatile boolean closed;

    TcpChannel(SocketChannel socket, Duration ioTimeout, int maxMessageBytes) throws IOException {
        this.socket = socket;
        this.ioTimeoutMillis = Math.max(1, ioTimeout.toMillis());
        this.maxMessageBytes = maxMessageBytes;
        try {
            socket.configureBlocking(false);
            socket.setOption(StandardSocketOptions.TCP_NODELAY, true);
            socket.setOption(StandardSocketOptions.SO_SNDBUF, 4 << 20);
            socket.setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20);
            this.peer = "tcp:" + socket.getRemoteAddress();
            this.readSelector = Selector.open();
            this.writeSelector = Selector.open();
            socket.register(readSelector, SelectionKey.OP_READ);
            socket.register(writeSelector, SelectionKey.OP_WRITE);
        } catch (IOException e) {
            socket.close();
            throw e;
        }
    }

    /**
     * Connects to a listening destination.
     *
     * @param address        host and port
     * @param connectTimeout how long the connection may take
     * @param ioTimeout      how long a send or receive may make no progress
     * @return the connected channel, owned by the caller
     * @throws SocketTimeoutException if the connection is not established in time
     * @throws IOException            if it fails
     */
    public static TcpChannel connect(InetSocketAddress address, Duration connectTimeout, Duration ioTimeout)
            throws IOException {
        Objects.requireNonNull(address, "address");
        SocketChannel socket = SocketChannel.open();
        try (Selector selector = Selector.open()) {
            socket.configureBlocking(false);
            if (!socket.connect(address)) {
                socket.register(selector, SelectionKey.OP_CONNECT);
                long deadline = System.nanoTime() + connectTimeout.toNanos();
                while (!socket.finishConnect()) {
                    long left = (deadline - System.nanoTime()) / 1_000_000;
                    if (left <= 0 || selector.select(left) == 0 && System.nanoTime() >= deadline) {
                        throw new SocketTimeoutException("connecting to " + address + " timed out after "
                                + connectTimeout.toMillis() + " ms");
                    }
                    selector.selectedKeys().clear();
                }
            }
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
        // The connect selector is closed; its key is cancelled, so the channel can be re-registered.
        return new TcpChannel(socket, ioTimeout, DEFAULT_MAX_MESSAGE_BYTES);
    }

    @Override
    public void send(ByteBuffer message) throws IOException {
        int length = Framing.checkOutgoing(message, maxMessageBytes);
        writeHeader.clear();
        writeHeader.putInt(length).flip();
        gather[0] = writeHeader;
        gather[1] = message;
        while (message.hasRemaining()) {
            long written = socket.write(gather);
            if (written == 0) {
                awaitReady(writeSelector, "send");
            }
        }
    }

    @Override
    public int receive(ByteBuffer destination) throws IOException {
        readHeader.clear();
        if (!readFully(readHeader, true)) {
            return -1;
        }
        int length = readHeader.getInt(0);
        if (!Framing.acceptable(length, maxMessageBytes, destination)) {
            close();
            if (looksLikeTls(readHeader)) {
                throw new IOException("the peer at " + peer + " speaks TLS (it sent a TLS record where a message "
                        + "length belongs): both ends must use TLS");
            }
            throw Framing.tooLarge(length, maxMessageBytes, destination);
        }
        int oldLimit = destination.limit();
        destination.limit(destination.position() + length);
        try {
            readFully(destination, false);
        } finally {
            destination.limit(oldLimit);
        }
        return length;
    }

    /**
     * @return true if a length prefix is the start of a TLS record (content type 20 to 23, version
     *         3.x): a TLS endpoint's alert or handshake, which as a length would be over 300 MiB
     */
    private static boolean looksLikeTls(ByteBuffer header) {
        int type = header.get(0) & 0xFF;
        return type >= 20 && type <= 23 && header.get(1) == 3 && (header.get(2) & 0xFF) <= 4;
    }

    /** @return false if EOF came before the first byte and {@code eofAllowed}; throws on EOF otherwise */
    private boolean readFully(ByteBuffer buffer, boolean eofAllowed) throws IOException {
        boolean first = true;
        while (buffer.hasRemaining()) {
            int read = socket.read(buffer);
            if (read < 0) {
                if (eofAllowed && first) {
                    return false;
                }
                throw new EOFException("connection to " + peer + " ended inside a message");
            }
            if (read == 0) {
                awaitReady(readSelector, "receive");
            } else {
                first = false;
            }
        }
        return true;
    }

    private void awaitReady(Selector selector, String what) throws IOException {
        if (closed) {
            throw new IOException("channel to " + peer + " is closed");
        }
        if (Thread.currentThread().isInterrupted()) {
            throw new InterruptedIOException(what + " interrupted");
        }
        long start = System.nanoTime();
        int ready = selector.select(ioTimeoutMillis);
        selector.selectedKeys().clear();
        if (closed) {
            throw new IOException("channel to " + peer + " is closed");
        }
        if (ready == 0 && System.nanoTime() - start >= ioTimeoutMillis * 1_000_000L) {
            throw new SocketTimeoutException(what + " on " + peer + " made no progress for " + ioTimeoutMillis + " ms");
        }
    }

    @Override
    public int maxMessageBytes() {
        return maxMessageBytes;
    }

    @Override
    public String peer() {
        return peer;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        closeQuietly(socket);
        closeQuietly(readSelector);
        closeQuietly(writeSelector);
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // closing is best effort; the channel is unusable either way
        }
    }

    @Override
    public String toString() {
        return "TcpChannel[" + peer + "]";
    }
}
