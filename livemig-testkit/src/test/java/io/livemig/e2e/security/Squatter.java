package io.livemig.e2e.security;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A connection that takes a destination's port and never completes a handshake: an idle one
 * sends nothing, a slow one sends a byte now and then, so that no per-read timeout ever fires.
 * It notes when the destination closes it.
 *
 * <p>Thread-safe. Owns its socket and its threads; {@link #close()} is idempotent.
 */
final class Squatter implements AutoCloseable {

    private final Socket socket;
    private final long connectedNanos;
    private final CountDownLatch closedByPeer = new CountDownLatch(1);
    private volatile long closedNanos;
    private volatile long bytesSent;
    private volatile boolean closing;

    private Squatter(InetSocketAddress address) throws IOException {
        // Before the connection exists, so that its lifetime is never under-counted.
        this.connectedNanos = System.nanoTime();
        this.socket = new Socket();
        try {
            socket.connect(address, 5_000);
        } catch (IOException e) {
            socket.close();
            throw e;
        }
        Thread.ofPlatform().daemon().name("squatter-reader").start(this::watch);
    }

    /** Connects and sends nothing. */
    static Squatter idle(InetSocketAddress address) throws IOException {
        return new Squatter(address);
    }

    /**
     * Connects and sends {@code bytes} one at a time, one every {@code every}, then zeros, until
     * the destination closes the connection.
     */
    static Squatter trickling(InetSocketAddress address, byte[] bytes, Duration every) throws IOException {
        Squatter squatter = new Squatter(address);
        Thread.ofPlatform().daemon().name("squatter-trickle").start(() -> squatter.trickle(bytes, every));
        return squatter;
    }

    private void watch() {
        try (InputStream in = socket.getInputStream()) {
            while (in.read() >= 0) {
                // a refusal, if any; the close is what counts
            }
        } catch (IOException e) {
            // reset or closed: either way the connection ended
        }
        if (!closing) {
            closedNanos = System.nanoTime();
            closedByPeer.countDown();
        }
    }

    private void trickle(byte[] bytes, Duration every) {
        try {
            OutputStream out = socket.getOutputStream();
            for (long i = 0; closedByPeer.getCount() > 0 && !closing; i++) {
                out.write(i < bytes.length ? bytes[(int) i] : 0);
                out.flush();
                bytesSent = i + 1;
                Thread.sleep(every);
            }
        } catch (IOException | InterruptedException e) {
            // the destination closed it, or the test did
        }
    }

    /**
     * @param timeout how long to wait
     * @return whether the destination closed the connection within {@code timeout}
     */
    boolean awaitClosedByPeer(Duration timeout) throws InterruptedException {
        return closedByPeer.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** @return whether the destination has closed the connection */
    boolean closedByPeer() {
        return closedByPeer.getCount() == 0;
    }

    /** @return how long the connection lasted until the destination closed it */
    Duration lifetime() {
        if (!closedByPeer()) {
            throw new IllegalStateException("the destination has not closed the connection");
        }
        return Duration.ofNanos(closedNanos - connectedNanos);
    }

    /** @return when ({@link System#nanoTime()}) the destination closed the connection */
    long closedNanos() {
        if (!closedByPeer()) {
            throw new IllegalStateException("the destination has not closed the connection");
        }
        return closedNanos;
    }

    /** @return how many bytes the slow squatter has sent */
    long bytesSent() {
        return bytesSent;
    }

    @Override
    public void close() {
        closing = closedByPeer.getCount() > 0;
        try {
            socket.close();
        } catch (IOException ignored) {
            // best effort
        }
    }
}
