package io.livemig.engine.internal.source;

import io.livemig.engine.internal.EngineThreads;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.channel.Channel;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.DiskFrames;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.PostcopyFrames;
import io.livemig.engine.internal.wire.WireException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * The source's reader of the return path: a platform thread that receives the destination's
 * frames, checks them, and queues them for the engine thread, stamped with their arrival time.
 * A failure (broken channel, malformed frame) is queued too, so the engine sees it at its next
 * wait, and {@link #failure()} lets the send loop notice it between batches.
 *
 * <p>Thread-safe. Closing the channel ends the thread.
 */
final class ReturnPath {

    /** A frame from the destination, parsed, with its arrival time on the migration's clock. */
    record Incoming(Message message, long arrivalNanos) {
    }

    /** Queued when the reader stops on an error. */
    record Failure(Exception error) {
    }

    private static final int BUFFER_BYTES = 64 << 10;

    private final Channel channel;
    private final io.livemig.api.TimeSource time;
    private final Message.Context context;
    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private final java.util.concurrent.ConcurrentLinkedQueue<DiskFrames.BlockRequest> blockRequests =
            new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final java.util.concurrent.ConcurrentLinkedQueue<long[]> pageRequests =
            new java.util.concurrent.ConcurrentLinkedQueue<>();
    /** Signalled on every PAGE_REQUEST, POSTCOPY_ACK (post-copy's flow control), PONG and failure. */
    private final Object postcopySignal = new Object();
    private volatile long ackedBytes;
    /** The last PING's token (its send time on {@link #time}); a PONG must echo one not later. */
    private volatile long lastPingToken = Long.MIN_VALUE;
    private volatile long minRoundTripNanos = -1;
    /** The token of the latest PONG (signalled on {@link #postcopySignal}). */
    private volatile long lastPongToken = Long.MIN_VALUE;
    private final Thread thread;
    private volatile Object failure;

    ReturnPath(Channel channel, io.livemig.api.TimeSource time, Message.Context context) {
        this.channel = channel;
        this.time = time;
        this.context = context;
        // A platform thread, not a virtual one: post-copy's push waits on every acknowledgement it
        // reads, and waking a parked virtual thread from the selector cost a quarter of the
        // push's throughput on loopback (256 MiB: 405-466 ms against 534-627 ms).
        this.thread = EngineThreads.unstarted("livemig-return-path", this::run);
    }

    void start() {
        thread.start();
    }

    private void run() {
        ByteBuffer buffer = ByteBuffer.allocateDirect(Math.min(BUFFER_BYTES, channel.maxMessageBytes()))
                .order(ByteOrder.BIG_ENDIAN);
        CRC32C crc = new CRC32C();
        try {
            while (true) {
                buffer.clear();
                int length = channel.receive(buffer);
                if (length < 0) {
                    fail(new IOException("the destination closed the return path"));
                    return;
                }
                long arrival = time.nanoTime();
                buffer.flip();
                Frame frame = Frame.open(buffer, crc);
                if (!frame.type().returning()) {
                    throw new WireException(Kind.UNEXPECTED, frame.type() + " frame on the return path");
                }
                Message message = Message.read(frame, context);
                switch (message) {
                    case PostcopyFrames.PageRequest request -> {
                        pageRequests.add(request.pages());
                        signal();
                    }
                    case DiskFrames.BlockRequest request -> {
                        blockRequests.add(request);
                        signal();
                    }
                    case ControlFrames.Pong pong -> {
                        if (pong.token() > lastPingToken || pong.token() > arrival) {
                            throw new WireException(Kind.UNEXPECTED, "PONG echoes " + pong.token()
                                    + ", which no PING carried");
                        }
                        long rtt = arrival - pong.token();
                        if (minRoundTripNanos < 0 || rtt < minRoundTripNanos) {
                            minRoundTripNanos = rtt;
                        }
                        if (pong.token() > lastPongToken) {
                            lastPongToken = pong.token();
                            signal();
                        }
                    }
                    case ControlFrames.Keepalive keepalive -> {
                        // Alive; nothing to do.
                    }
                    case PostcopyFrames.PostcopyAck ack -> {
                        if (ack.count() < ackedBytes) {
                            throw new WireException(Kind.INCONSISTENT_LENGTH, "POSTCOPY_ACK went backwards: "
                                    + ack.count() + " after " + ackedBytes);
                        }
                        ackedBytes = ack.count();
                        signal();
                    }
                    default -> queue.add(new Incoming(message, arrival));
                }
            }
        } catch (IOException | WireException | RuntimeException e) {
            fail(e);
        }
    }

    private void fail(Exception e) {
        Failure f = new Failure(e);
        failure = f;
        queue.add(f);
        signal();
    }

    private void signal() {
        synchronized (postcopySignal) {
            postcopySignal.notifyAll();
        }
    }

    /**
     * Notes that a PING with {@code token} (its send time) is about to go out.
     */
    void pingSent(long token) {
        lastPingToken = token;
    }

    /**
     * Waits until the PONG of the PING with {@code token} (or of a later one) arrived, the return
     * path failed, or {@code timeoutNanos} passed, whichever comes first.
     *
     * @return whether the PONG arrived
     */
    boolean awaitPong(long token, long timeoutNanos) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutNanos;
        synchronized (postcopySignal) {
            while (lastPongToken < token && failure == null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                postcopySignal.wait(Math.max(1, left / 1_000_000L));
            }
        }
        return lastPongToken >= token;
    }

    /**
     * @return the shortest PING-to-PONG time seen so far, in nanoseconds: how long the
     *         destination takes to take in what was sent and answer; -1 before the first PONG
     */
    long minRoundTripNanos() {
        return minRoundTripNanos;
    }

    /** @return the forward bytes the destination acknowledged in post-copy on this channel */
    long ackedBytes() {
        return ackedBytes;
    }

    /**
     * Waits until an acknowledgement or a page request arrives, the reader fails, or the
     * timeout passes (real time). Callers re-check their condition after it returns.
     */
    void awaitPostcopySignal(long timeoutNanos) throws InterruptedException {
        synchronized (postcopySignal) {
            if (pageRequests.isEmpty() && blockRequests.isEmpty() && failure == null) {
                postcopySignal.wait(Math.max(1, timeoutNanos / 1_000_000));
            }
        }
    }

    /** @return whether a page or block request is queued */
    boolean hasPageRequest() {
        return !pageRequests.isEmpty() || !blockRequests.isEmpty();
    }

    /** @return the next disk block request from the destination, or null if none is queued */
    DiskFrames.BlockRequest pollBlockRequest() {
        return blockRequests.poll();
    }

    /** @return the next batch of pages the destination asked for, or null if none is queued */
    long[] pollPageRequest() {
        return pageRequests.poll();
    }

    /** @return the reader's failure, if it stopped on one, else null */
    Exception failure() {
        Object f = failure;
        return f == null ? null : ((Failure) f).error();
    }

    /** @return an ABORT frame the destination sent, if one is queued, without removing other frames */
    ControlFrames.Abort pendingAbort() {
        for (Object o : queue) {
            if (o instanceof Incoming in && in.message() instanceof ControlFrames.Abort abort) {
                return abort;
            }
        }
        return null;
    }

    /**
     * Waits for the next frame or failure.
     *
     * @param timeoutNanos real-time timeout in nanoseconds
     * @return an {@link Incoming} or a {@link Failure}, or null on timeout
     */
    Object next(long timeoutNanos) throws InterruptedException {
        return queue.poll(timeoutNanos, TimeUnit.NANOSECONDS);
    }
}
