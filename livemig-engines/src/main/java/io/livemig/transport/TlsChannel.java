package io.livemig.transport;

import io.livemig.channel.Channel;
import io.livemig.channel.MessageTooLargeException;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.locks.ReentrantLock;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;

/**
 * A {@link Channel} over one mutually authenticated TLS 1.3 connection, with the JDK's own TLS.
 * Messages are framed as on {@link TcpChannel} (a 4-byte big-endian length, then the bytes; the
 * same limit), inside the TLS stream. Both sides present a certificate and verify the other's
 * chain against the trust managers of the {@link SSLContext} they were given; each may also
 * require the other's certificate to carry an expected name (a DNS or IP subject alternative name,
 * or the CN of a certificate without those). After the TLS handshake each side sends one
 * confirmation byte and reads the other's (see {@link TlsHandshake}), so that a refusal surfaces
 * on both sides with its reason. A failed handshake is an {@link javax.net.ssl.SSLHandshakeException}
 * whose message says why: no certificate, an untrusted one, a wrong name, a peer that does not
 * speak TLS, a timeout.
 *
 * <p><b>When the handshake runs.</b> {@link #connect} runs it before it returns. A channel from
 * {@link TlsChannelListener#accept} runs it on its first {@link #send} or {@link #receive}, so that
 * {@code accept} returns at once and a destination can handshake each connection on its own thread
 * with its own deadline; it must finish within the I/O timeout in total.
 *
 * <p><b>Why {@link SSLSocket} and not {@code SSLEngine}.</b> {@code SSLSocket} handles every TLS
 * 1.3 record itself, including the post-handshake ones that arrive while another thread sends
 * (session tickets, and the key updates that the JDK makes every 2<sup>37</sup> bytes under
 * AES-GCM, which a large migration reaches); an {@code SSLEngine} over NIO would make the receiving
 * thread answer those with writes that race the sending thread's, a second state machine beside
 * the engines' own. What a blocking socket lacks is made up here: reads time out with
 * {@code SO_TIMEOUT}; a shared watchdog ({@link StallWatchdog}) closes a channel whose send makes
 * no progress, or whose handshake does not finish, in time, since blocking writes have no timeout;
 * and {@link #close()} closes the underlying TCP socket, which makes any read, write or handshake
 * blocked on another thread fail at once. The socket is layered over a plain {@link Socket} that
 * this class owns, so that this close never waits for a lock inside the TLS implementation.
 *
 * <p><b>Threading</b> as {@link Channel} says: one sender and one receiver at a time;
 * {@link #close()} from anywhere. Owns its socket; {@code close()} is idempotent. A send or receive
 * that fails for any reason other than a receive timeout before a message's first byte closes the
 * channel (a TLS stream cannot be resumed in the middle of a record).
 */
public final class TlsChannel implements Channel {

    /** Bytes handed to TLS per write: a message is sent in pieces of this size, each one progress. */
    private static final int CHUNK_BYTES = 256 << 10;
    /** Longest wait, after a refused handshake, for the peer to read the refusal and close. */
    private static final long REFUSAL_LINGER_MILLIS = 250;

    private final Socket raw;
    private final SSLSocket ssl;
    private final InputStream in;
    private final OutputStream out;
    private final String expectedPeerName;
    private final String address;
    private final long ioTimeoutNanos;
    private final int maxMessageBytes;
    private final byte[] sendBuffer = new byte[CHUNK_BYTES];
    private final byte[] receiveBuffer = new byte[CHUNK_BYTES];
    private final byte[] header = new byte[4];
    private final ReentrantLock sendLock = new ReentrantLock();
    private final ReentrantLock handshakeLock = new ReentrantLock();
    private final ScheduledFuture<?> watch;

    /** Set when the handshake succeeded; read without the lock on every send and receive. */
    private volatile boolean handshakeDone;
    /** Why the handshake failed, to repeat on later calls. Guarded by {@code handshakeLock}. */
    private IOException handshakeFailure;
    /** When the running handshake must be over, in {@link System#nanoTime()}; 0 when none runs. */
    private volatile long handshakeDeadlineNanos;
    /** When the running send last made progress; 0 when none runs. */
    private volatile long sendProgressNanos;
    /** Why the watchdog closed the channel; null if it did not. */
    private volatile String stalled;
    private volatile String peer;
    private volatile boolean closed;

    private TlsChannel(Socket raw, SSLSocket ssl, String expectedPeerName, Duration ioTimeout) throws IOException {
        this.raw = raw;
        this.ssl = ssl;
        this.expectedPeerName = expectedPeerName;
        this.address = String.valueOf(raw.getRemoteSocketAddress());
        this.peer = "tls:" + address;
        this.ioTimeoutNanos = Math.max(1, ioTimeout.toMillis()) * 1_000_000L;
        this.maxMessageBytes = TcpChannel.DEFAULT_MAX_MESSAGE_BYTES;
        this.in = ssl.getInputStream();
        this.out = ssl.getOutputStream();
        this.watch = StallWatchdog.watch(ioTimeout, this::checkStall);
    }

    /**
     * Starts, once per JVM and in the background, a warm-up of the JDK's TLS: until the JIT has
     * compiled AES-GCM and the record layer, TLS moves the first few hundred MB of a migration
     * several times slower. It encrypts 40 MB on its own, then sends 20 MB of small records over a
     * loopback TLS connection to a server made with {@code context} (see {@code TlsWarmup}): about
     * a second of CPU, most of it the JIT compiling, and 0.6 s of wall time on a 2-vCPU machine.
     * {@link #connect} and {@link TlsChannelListener#bind} start it themselves; call it earlier
     * (when the TLS context is made, say) to have it done before the migration begins, and wait
     * for the result where the migration should not share the CPU with it. Only the first call in
     * a JVM starts anything. Thread-safe.
     *
     * @param context the TLS context the migration will use
     * @return completes when the warm-up has ended (a step that cannot run is skipped, never an error)
     */
    public static CompletableFuture<Void> warmUp(SSLContext context) {
        return TlsWarmup.start(Objects.requireNonNull(context, "context"));
    }

    /**
     * Connects to a {@link TlsChannelListener} and runs the TLS handshake before returning.
     *
     * @param address          host and port
     * @param context          the TLS context: its key manager presents this side's certificate,
     *                         its trust manager verifies the server's chain
     * @param expectedPeerName the name the server's certificate must carry (a DNS name or an IP
     *                         address), or null to accept any certificate that the trust manager
     *                         accepts
     * @param connectTimeout   how long the TCP connection may take, and then the TLS handshake
     * @param ioTimeout        how long a send or receive may make no progress
     * @return the connected, authenticated channel, owned by the caller
     * @throws SocketTimeoutException if the connection or the handshake does not finish in time
     * @throws javax.net.ssl.SSLHandshakeException if the handshake fails; the message says why
     * @throws IOException if the connection fails
     * @throws IllegalArgumentException if {@code context} cannot do TLS 1.3
     */
    public static TlsChannel connect(InetSocketAddress address, SSLContext context, String expectedPeerName,
                                     Duration connectTimeout, Duration ioTimeout) throws IOException {
        Objects.requireNonNull(address, "address");
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(ioTimeout, "ioTimeout");
        TlsWarmup.start(context);
        Socket raw = new Socket();
        try {
            raw.connect(address, Math.clamp(connectTimeout.toMillis(), 1, Integer.MAX_VALUE));
        } catch (SocketTimeoutException e) {
            raw.close();
            throw new SocketTimeoutException("connecting to " + address + " timed out after "
                    + connectTimeout.toMillis() + " ms");
        } catch (IOException | RuntimeException e) {
            raw.close();
            throw e;
        }
        TlsChannel channel = open(raw, context, true, expectedPeerName, ioTimeout);
        try {
            channel.handshake(connectTimeout);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        return channel;
    }

    /**
     * Wraps an accepted connection in server mode; the handshake waits for the first send or receive.
     */
    static TlsChannel accepted(Socket raw, SSLContext context, String expectedPeerName, Duration ioTimeout)
            throws IOException {
        return open(raw, context, false, expectedPeerName, ioTimeout);
    }

    private static TlsChannel open(Socket raw, SSLContext context, boolean client, String expectedPeerName,
                                   Duration ioTimeout) throws IOException {
        try {
            raw.setTcpNoDelay(true);
            raw.setSendBufferSize(4 << 20);
            raw.setReceiveBufferSize(4 << 20);
            raw.setSoTimeout(Math.clamp(ioTimeout.toMillis(), 1, Integer.MAX_VALUE));
            InetSocketAddress remote = (InetSocketAddress) raw.getRemoteSocketAddress();
            // Not autoClose: this class closes the TCP socket itself, after TLS's goodbye or a refusal.
            SSLSocket ssl = (SSLSocket) context.getSocketFactory().createSocket(raw, remote.getHostString(),
                    remote.getPort(), false);
            ssl.setUseClientMode(client);
            SSLParameters parameters = ssl.getSSLParameters();
            parameters.setProtocols(new String[] {"TLSv1.3"});
            if (!client) {
                parameters.setNeedClientAuth(true);
            }
            ssl.setSSLParameters(parameters);
            return new TlsChannel(raw, ssl, expectedPeerName, ioTimeout);
        } catch (IllegalArgumentException e) {
            raw.close();
            throw new IllegalArgumentException("the SSLContext (" + context.getProtocol() + ") cannot do TLS 1.3: "
                    + e.getMessage(), e);
        } catch (IOException | RuntimeException e) {
            raw.close();
            throw e;
        }
    }

    /**
     * Runs the TLS handshake now if it has not run yet, as the first send or receive would; returns
     * at once after a successful one. On a channel from {@link TlsChannelListener#accept} it must
     * finish within the I/O timeout; {@link #connect} has run it already.
     *
     * @throws SocketTimeoutException if it does not finish in time
     * @throws javax.net.ssl.SSLHandshakeException if it fails (now or before); the message says why
     * @throws IOException if the channel is closed or the connection fails
     */
    public void handshake() throws IOException {
        ensureHandshake();
    }

    /** Runs the handshake once; every later call returns at once, or repeats its failure. */
    private void ensureHandshake() throws IOException {
        if (!handshakeDone) {
            handshake(Duration.ofNanos(ioTimeoutNanos));
        }
    }

    private void handshake(Duration limit) throws IOException {
        handshakeLock.lock();
        try {
            if (handshakeDone) {
                return;
            }
            if (handshakeFailure != null) {
                SSLHandshakeException again = new SSLHandshakeException(handshakeFailure.getMessage());
                again.initCause(handshakeFailure);
                throw again;
            }
            checkOpen();
            handshakeDeadlineNanos = System.nanoTime() + Math.max(1, limit.toNanos());
            try {
                X509Certificate certificate = TlsHandshake.run(ssl, in, out, expectedPeerName, address);
                peer = "tls:" + address + " (" + certificate.getSubjectX500Principal().getName() + ")";
                handshakeDone = true;
            } catch (IOException e) {
                handshakeFailure = handshakeFailure(e, limit);
                if (!closed && stalled == null) {
                    letThePeerReadTheRefusal();
                }
                abort();
                throw handshakeFailure;
            } finally {
                handshakeDeadlineNanos = 0;
            }
        } finally {
            handshakeLock.unlock();
        }
    }

    private IOException handshakeFailure(IOException e, Duration limit) {
        String why = stalled;
        if (why != null || e instanceof SocketTimeoutException) {
            SocketTimeoutException timeout = new SocketTimeoutException("TLS handshake with " + address
                    + " did not finish within " + limit.toMillis() + " ms");
            timeout.initCause(e);
            return timeout;
        }
        if (closed) {
            return new IOException("channel to " + address + " was closed during the TLS handshake", e);
        }
        return TlsHandshake.describe(e, address);
    }

    @Override
    public void send(ByteBuffer message) throws IOException {
        int length = Framing.checkOutgoing(message, maxMessageBytes);
        checkInterrupt("send");
        ensureHandshake();
        sendLock.lock();
        try {
            checkOpen();
            sendProgressNanos = System.nanoTime();
            byte[] chunk = sendBuffer;
            chunk[0] = (byte) (length >>> 24);
            chunk[1] = (byte) (length >>> 16);
            chunk[2] = (byte) (length >>> 8);
            chunk[3] = (byte) length;
            int filled = 4;
            while (true) {
                int n = Math.min(chunk.length - filled, message.remaining());
                message.get(chunk, filled, n);
                out.write(chunk, 0, filled + n);
                sendProgressNanos = System.nanoTime();
                filled = 0;
                if (!message.hasRemaining()) {
                    break;
                }
            }
        } catch (IOException e) {
            IOException failure = ioFailure("send", e);
            abort();
            throw failure;
        } finally {
            sendProgressNanos = 0;
            sendLock.unlock();
        }
    }

    @Override
    public int receive(ByteBuffer destination) throws IOException {
        checkInterrupt("receive");
        ensureHandshake();
        boolean started = false;
        try {
            checkOpen();
            int first = in.read(header, 0, 4);
            if (first < 0) {
                return -1;
            }
            started = true;
            readFully(header, first, 4 - first);
            int length = ((header[0] & 0xFF) << 24) | ((header[1] & 0xFF) << 16) | ((header[2] & 0xFF) << 8)
                    | (header[3] & 0xFF);
            if (!Framing.acceptable(length, maxMessageBytes, destination)) {
                abort();
                throw Framing.tooLarge(length, maxMessageBytes, destination);
            }
            if (destination.hasArray()) {
                readFully(destination.array(), destination.arrayOffset() + destination.position(), length);
                destination.position(destination.position() + length);
            } else {
                for (int left = length; left > 0; ) {
                    int n = Math.min(left, receiveBuffer.length);
                    readFully(receiveBuffer, 0, n);
                    destination.put(receiveBuffer, 0, n);
                    left -= n;
                }
            }
            return length;
        } catch (MessageTooLargeException e) {
            throw e;
        } catch (IOException e) {
            IOException failure = ioFailure("receive", e);
            if (started || !(e instanceof SocketTimeoutException)) {
                abort();
            }
            throw failure;
        }
    }

    private void readFully(byte[] buffer, int offset, int length) throws IOException {
        while (length > 0) {
            int n = in.read(buffer, offset, length);
            if (n < 0) {
                throw new EOFException("connection to " + peer + " ended inside a message");
            }
            offset += n;
            length -= n;
        }
    }

    /** Says why an operation failed: closed here, stalled, timed out, or the peer's doing. */
    private IOException ioFailure(String what, IOException e) {
        String why = stalled;
        if (why != null) {
            SocketTimeoutException timeout = new SocketTimeoutException(why);
            timeout.initCause(e);
            return timeout;
        }
        if (closed) {
            return new IOException("channel to " + peer + " is closed", e);
        }
        if (e instanceof SocketTimeoutException) {
            SocketTimeoutException timeout = new SocketTimeoutException(what + " on " + peer + " made no progress for "
                    + ioTimeoutNanos / 1_000_000 + " ms");
            timeout.initCause(e);
            return timeout;
        }
        return e;
    }

    private void checkOpen() throws IOException {
        if (closed) {
            throw new IOException("channel to " + peer + " is closed");
        }
    }

    private static void checkInterrupt(String what) throws InterruptedIOException {
        if (Thread.currentThread().isInterrupted()) {
            throw new InterruptedIOException(what + " interrupted");
        }
    }

    /** The watchdog's check: a handshake past its deadline, or a send without progress, closes the channel. */
    private void checkStall() {
        long now = System.nanoTime();
        long deadline = handshakeDeadlineNanos;
        if (deadline != 0 && now - deadline >= 0) {
            stalled = "TLS handshake with " + address + " did not finish in time";
            abort();
            return;
        }
        long progress = sendProgressNanos;
        if (progress != 0 && now - progress >= ioTimeoutNanos) {
            stalled = "send on " + peer + " made no progress for " + ioTimeoutNanos / 1_000_000 + " ms";
            abort();
        }
    }

    @Override
    public int maxMessageBytes() {
        return maxMessageBytes;
    }

    /** @return {@code "tls:"}, the peer's address and, once the handshake is done, its certificate's subject */
    @Override
    public String peer() {
        return peer;
    }

    /**
     * Closes the channel. After a successful handshake, when no send is under way, it first sends
     * TLS's close_notify, so that the peer's receive returns -1 (an orderly close); otherwise it
     * only closes the TCP socket, which makes calls blocked on other threads fail at once.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (handshakeDone && stalled == null && sendLock.tryLock()) {
            try {
                if (!closed) {
                    shutdownQuietly();
                }
            } finally {
                sendLock.unlock();
            }
        }
        abort();
    }

    /** Sends close_notify, then FIN; does not wait for the peer. Only when no send is under way. */
    private void shutdownQuietly() {
        try {
            ssl.shutdownOutput();
        } catch (IOException | RuntimeException ignored) {
            // the peer sees the connection end without close_notify: a truncation, still an end
        }
        try {
            raw.shutdownOutput();
        } catch (IOException ignored) {
            // closing follows
        }
    }

    /**
     * After a failed handshake: ends this side's output after TLS's alert or the refusal byte, and
     * reads what the peer still sends until it closes too, for at most {@value #REFUSAL_LINGER_MILLIS}
     * ms. Closing a socket with unread input resets the connection, and a reset can overtake the
     * alert: the peer would see "connection reset" instead of why it was refused.
     */
    private void letThePeerReadTheRefusal() {
        shutdownQuietly();
        long deadline = System.nanoTime() + REFUSAL_LINGER_MILLIS * 1_000_000L;
        try {
            InputStream rawIn = raw.getInputStream();
            byte[] discard = new byte[4096];
            for (long left = REFUSAL_LINGER_MILLIS; left > 0; left = (deadline - System.nanoTime()) / 1_000_000) {
                raw.setSoTimeout((int) left);
                if (rawIn.read(discard) < 0) {
                    return;
                }
            }
        } catch (IOException ignored) {
            // timed out, reset or closed: the socket is closed next either way
        }
    }

    /** Closes the TCP socket without any TLS goodbye. Idempotent; never blocks on the TLS layer. */
    private void abort() {
        closed = true;
        watch.cancel(false);
        try {
            raw.close();
        } catch (IOException ignored) {
            // closing is best effort; the channel is unusable either way
        }
    }

    @Override
    public String toString() {
        return "TlsChannel[" + peer + "]";
    }
}
