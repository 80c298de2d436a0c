package io.livemig.kit;

import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.channel.MessageTooLargeException;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One end of an in-memory {@link Channel} pair with bandwidth and latency shaping, for tests and
 * simulations. A message occupies the link for {@code size / bandwidth} (the sender waits that
 * long, as a NIC serialises bytes) and arrives {@code latency} after it left. Up to
 * {@link LinkShape#bufferBytes()} may be queued per direction; beyond that the sender blocks.
 * Time and waiting go through the given {@link TimeSource}.
 *
 * <p>{@link #close()} on one end is an orderly close: the other end reads what was sent, then
 * -1. {@link #breakLink()} simulates a cable cut: both ends fail at once with an
 * {@link IOException}. Thread-safe per the {@link Channel} contract.
 */
public final class InMemoryChannel implements Channel {

    private final Direction outgoing;
    private final Direction incoming;
    private final String name;
    private final int maxMessageBytes;
    private final long ioTimeoutNanos;

    private InMemoryChannel(Direction outgoing, Direction incoming, String name, int maxMessageBytes, Duration ioTimeout) {
        this.outgoing = outgoing;
        this.incoming = incoming;
        this.name = name;
        this.maxMessageBytes = maxMessageBytes;
        this.ioTimeoutNanos = ioTimeout.toNanos();
    }

    /**
     * The two ends of a channel. Both are owned by the caller; close each.
     *
     * @param source the source's end
     * @param destination the destination's end
     */
    public record Pair(InMemoryChannel source, InMemoryChannel destination) {
    }

    /**
     * {@return a connected pair, messages of up to 16 MiB + 4 KiB, I/O timeout 30 s}
     *
     * @param shape the link's shape, the same in both directions
     * @param time  the clock for shaping (real or virtual)
     */
    public static Pair pair(LinkShape shape, TimeSource time) {
        return pair(shape, time, (16 << 20) + 4096, Duration.ofSeconds(30));
    }

    /**
     * {@return a connected pair}
     *
     * @param shape           the link's shape, the same in both directions
     * @param time            the clock for shaping
     * @param maxMessageBytes the largest message either end sends or accepts
     * @param ioTimeout       how long a send or receive may wait without progress (real time)
     */
    public static Pair pair(LinkShape shape, TimeSource time, int maxMessageBytes, Duration ioTimeout) {
        return pair(shape, time, time, maxMessageBytes, ioTimeout);
    }

    /**
     * A pair whose ends keep their own clocks (virtual time, see {@link VirtualTime}): a message
     * leaves on its sender's clock and moves its receiver's clock to its arrival.
     *
     * @param shape            the link's shape, the same in both directions
     * @param sourceClock      the source side's clock
     * @param destinationClock the destination side's clock
     * @return a connected pair, messages of up to 16 MiB + 4 KiB, I/O timeout 30 s (real time)
     */
    public static Pair pair(LinkShape shape, TimeSource sourceClock, TimeSource destinationClock) {
        return pair(shape, sourceClock, destinationClock, (16 << 20) + 4096, Duration.ofSeconds(30));
    }

    private static Pair pair(LinkShape shape, TimeSource sourceClock, TimeSource destinationClock,
                             int maxMessageBytes, Duration ioTimeout) {
        Objects.requireNonNull(shape, "shape");
        Objects.requireNonNull(sourceClock, "sourceClock");
        Objects.requireNonNull(destinationClock, "destinationClock");
        Direction forward = new Direction(shape, sourceClock, destinationClock, false);
        // The source side reads the return path on a thread of its own while its engine sends:
        // arrivals there wait for the side's clock instead of pushing it ahead (VirtualTime).
        Direction back = new Direction(shape, destinationClock, sourceClock, true);
        return new Pair(new InMemoryChannel(forward, back, "mem:destination", maxMessageBytes, ioTimeout),
                new InMemoryChannel(back, forward, "mem:source", maxMessageBytes, ioTimeout));
    }

    @Override
    public void send(ByteBuffer message) throws IOException {
        int length = message.remaining();
        if (length > maxMessageBytes) {
            throw new MessageTooLargeException(length, maxMessageBytes);
        }
        byte[] copy = new byte[length];
        message.get(copy);
        outgoing.put(copy, ioTimeoutNanos);
    }

    @Override
    public int receive(ByteBuffer destination) throws IOException {
        return incoming.take(destination, Math.min(maxMessageBytes, destination.remaining()), ioTimeoutNanos);
    }

    @Override
    public int maxMessageBytes() {
        return maxMessageBytes;
    }

    @Override
    public String peer() {
        return name;
    }

    /** Orderly close of both directions from this end. Idempotent. */
    @Override
    public void close() {
        outgoing.closeBySender();
        incoming.closeByReceiver();
    }

    /** Cuts the link: every pending and future operation on both ends fails with an IOException. */
    public void breakLink() {
        outgoing.breakDown();
        incoming.breakDown();
    }

    /** One direction: a queue of messages with arrival times, and the link's busy-until time. */
    private static final class Direction {
        private final LinkShape shape;
        /** The sender's clock: departure, link occupancy. */
        private final TimeSource time;
        /** The receiver's clock: arrival. */
        private final TimeSource receiverTime;
        /** Whether arrivals wait for the receiver's virtual clock to get there (see VirtualTime#awaitOrAdvance). */
        private final boolean awaitArrival;
        private final ReentrantLock lock = new ReentrantLock();
        private final Condition changed = lock.newCondition();
        private final ArrayDeque<byte[]> messages = new ArrayDeque<>();
        private final ArrayDeque<Long> arrivals = new ArrayDeque<>();
        private long queuedBytes;
        private long linkFreeAtNanos = Long.MIN_VALUE;
        private boolean senderClosed;
        private boolean receiverClosed;
        private boolean broken;

        Direction(LinkShape shape, TimeSource senderTime, TimeSource receiverTime, boolean awaitArrival) {
            this.shape = shape;
            this.time = senderTime;
            this.receiverTime = receiverTime;
            this.awaitArrival = awaitArrival && receiverTime instanceof VirtualTime && senderTime != receiverTime;
        }

        void put(byte[] message, long timeoutNanos) throws IOException {
            long wireNanos = shape.bandwidthBytesPerSecond() == 0 ? 0
                    : (long) (message.length * 1e9 / shape.bandwidthBytesPerSecond());
            long doneAt;
            lock.lock();
            try {
                long deadline = System.nanoTime() + timeoutNanos;
                while (!broken && !receiverClosed && !senderClosed && queuedBytes > 0
                        && queuedBytes + message.length > shape.bufferBytes()) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        throw new SocketTimeoutException("in-memory send made no progress for "
                                + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms");
                    }
                    awaitNanos(left);
                }
                check(true);
                long now = time.nanoTime();
                long start = Math.max(now, linkFreeAtNanos);
                doneAt = start + wireNanos;
                linkFreeAtNanos = doneAt;
                messages.add(message);
                arrivals.add(doneAt + shape.latency().toNanos());
                queuedBytes += message.length;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
            sleepUntil(time, doneAt);
        }

        int take(ByteBuffer destination, int limit, long timeoutNanos) throws IOException {
            while (true) {
                long arrival;
                lock.lock();
                try {
                    long deadline = System.nanoTime() + timeoutNanos;
                    while (messages.isEmpty() && !broken && !senderClosed && !receiverClosed) {
                        long left = deadline - System.nanoTime();
                        if (left <= 0) {
                            throw new SocketTimeoutException("in-memory receive got nothing for "
                                    + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms");
                        }
                        awaitNanos(left);
                    }
                    if (broken || receiverClosed) {
                        check(false);
                    }
                    if (messages.isEmpty()) {
                        return -1;
                    }
                    arrival = arrivals.peekFirst();
                    if (arrival <= receiverTime.nanoTime()) {
                        byte[] message = messages.pollFirst();
                        arrivals.pollFirst();
                        queuedBytes -= message.length;
                        changed.signalAll();
                        if (message.length > limit) {
                            broken = true;
                            throw new MessageTooLargeException(message.length, limit);
                        }
                        destination.put(message);
                        return message.length;
                    }
                } finally {
                    lock.unlock();
                }
                if (awaitArrival) {
                    try {
                        ((VirtualTime) receiverTime).awaitOrAdvance(arrival, ARRIVAL_GRACE_NANOS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new java.io.InterruptedIOException("interrupted");
                    }
                } else {
                    sleepUntil(receiverTime, arrival);
                }
            }
        }

        /** Real time a return-path arrival waits for the source's clock to move before moving it. */
        private static final long ARRIVAL_GRACE_NANOS = 1_000_000;

        private void awaitNanos(long nanos) throws IOException {
            try {
                changed.awaitNanos(nanos);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted");
            }
        }

        private static void sleepUntil(TimeSource clock, long nanos) throws IOException {
            long wait = nanos - clock.nanoTime();
            if (wait > 0) {
                try {
                    clock.sleepNanos(wait);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted");
                }
            }
        }

        private void check(boolean sending) throws IOException {
            if (broken) {
                throw new IOException("in-memory link broken");
            }
            if (sending && receiverClosed) {
                throw new IOException("the peer closed the channel");
            }
            if (sending && senderClosed) {
                throw new IOException("channel is closed");
            }
            if (!sending && receiverClosed) {
                throw new IOException("channel is closed");
            }
        }

        void closeBySender() {
            changeAndSignal(() -> senderClosed = true);
        }

        void closeByReceiver() {
            changeAndSignal(() -> receiverClosed = true);
        }

        void breakDown() {
            changeAndSignal(() -> {
                broken = true;
                messages.clear();
                arrivals.clear();
                queuedBytes = 0;
            });
        }

        /** Makes a change under the lock and wakes every waiting sender and receiver. */
        private void changeAndSignal(Runnable change) {
            lock.lock();
            try {
                change.run();
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }
}
