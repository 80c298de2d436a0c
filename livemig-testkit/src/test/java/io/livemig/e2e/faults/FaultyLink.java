package io.livemig.e2e.faults;

import io.livemig.channel.Channel;
import io.livemig.e2e.ForwardingChannel;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.kit.InMemoryChannel;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * An in-memory link that fails once, at the moment the destination receives the first frame of a
 * {@link Phase}: the frames say exactly where the destination is, so the fault lands at the same
 * point of the protocol on every run, whatever the timing. The source is held at that point too:
 * once it has sent the phase's frame, its next send waits until the fault has struck, so it can
 * never be further along (COMMIT already sent, say) than the row of the table says.
 *
 * <p>Thread-safe as the inner channels are.
 */
final class FaultyLink {

    /** Where the fault strikes: at the first forward frame that shows the destination got there. */
    enum Phase {
        /** HELLO: nothing agreed yet. */
        HANDSHAKE,
        /** SETUP: the destination makes its target, then answers READY. */
        SETUP,
        /** The first PAGES of round 0, while the source VM runs. */
        ROUND_0,
        /** The first PAGES of a later round, before the switchover. */
        LATER_ROUND,
        /** SWITCHOVER: the source VM is paused. */
        SWITCHOVER,
        /** COMMIT: the destination loads the state and resumes, then answers RESUMED. */
        COMMIT,
        /** The first PAGES after a post-copy COMMIT: the VM runs at the destination, pages are missing. */
        POSTCOPY
    }

    /** What happens there. */
    enum Fault {
        /** The link is cut just after the frame arrived: the destination acts on it, then finds the link dead. */
        CUT,
        /** The link is cut as the frame arrives: the destination never sees it. */
        LOST,
        /** The destination host dies as the frame arrives: its end closes, as a killed process's socket does. */
        DIES
    }

    private static final int HELLO = FrameType.HELLO.code();
    private static final int SETUP_FRAME = FrameType.SETUP.code();
    private static final int PAGES = FrameType.PAGES.code();
    private static final int SWITCHOVER = FrameType.SWITCHOVER.code();
    private static final int COMMIT = FrameType.COMMIT.code();
    /** Longest a source waits for a fault due: far longer than any row takes to get there. */
    private static final long HOLD_SECONDS = 10;

    private final InMemoryChannel.Pair pair;
    private final Phase phase;
    private final Fault fault;
    private final CountDownLatch struck = new CountDownLatch(1);
    private final Channel source;
    private final Channel destination;

    /**
     * @param pair  the first pair of the link
     * @param phase where the fault strikes
     * @param fault what it does
     */
    FaultyLink(InMemoryChannel.Pair pair, Phase phase, Fault fault) {
        this.pair = pair;
        this.phase = phase;
        this.fault = fault;
        this.source = new SourceEnd();
        this.destination = new DestinationEnd();
    }

    /** @return whether the fault struck: the migration got as far as its phase */
    boolean struck() {
        return struck.getCount() == 0;
    }

    /** @return the source's end */
    Channel source() {
        return source;
    }

    /** @return the destination's end */
    Channel destination() {
        return destination;
    }

    /** Follows one direction's frames to tell the phase's first frame. */
    private final class Watch {
        private boolean switchedOver;
        private boolean postcopyCommitted;
        private boolean seen;

        /** @return whether this frame is the phase's first */
        boolean firstOfPhase(ByteBuffer frame, int start, int length) {
            int type = length >= 8 ? Byte.toUnsignedInt(frame.get(start)) : -1;
            boolean pages = type == PAGES && length >= 12;
            int round = pages ? frame.getInt(start + 4) : -1;
            boolean reached = switch (phase) {
                case HANDSHAKE -> type == HELLO;
                case SETUP -> type == SETUP_FRAME;
                case ROUND_0 -> pages && !switchedOver && round == 0;
                case LATER_ROUND -> pages && !switchedOver && round > 0;
                case SWITCHOVER -> type == SWITCHOVER;
                case COMMIT -> type == COMMIT;
                case POSTCOPY -> pages && postcopyCommitted;
            };
            if (type == SWITCHOVER) {
                switchedOver = true;
            }
            if (type == COMMIT && length >= 20 && (frame.getInt(start + 12) & Wire.COMMIT_FLAG_POSTCOPY) != 0) {
                postcopyCommitted = true;
            }
            boolean first = reached && !seen;
            seen |= reached;
            return first;
        }

        boolean seen() {
            return seen;
        }
    }

    /** The destination's end: the fault strikes in the receive of the phase's first frame. */
    private final class DestinationEnd extends ForwardingChannel {
        private final Watch watch = new Watch();

        DestinationEnd() {
            super(pair.destination());
        }

        @Override
        public int receive(ByteBuffer destination) throws IOException {
            int start = destination.position();
            int length = super.receive(destination);
            if (length < 0 || !watch.firstOfPhase(destination, start, length)) {
                return length;
            }
            try {
                switch (fault) {
                    case CUT -> pair.destination().breakLink();
                    case LOST -> {
                        pair.destination().breakLink();
                        destination.position(start);
                        throw new IOException("the link was cut as " + phase + " arrived");
                    }
                    case DIES -> {
                        pair.destination().close();
                        destination.position(start);
                        throw new IOException("the destination host died as " + phase + " arrived");
                    }
                }
                return length;
            } finally {
                struck.countDown();
            }
        }
    }

    /** The source's end: past the phase's first frame, it sends nothing more until the fault struck. */
    private final class SourceEnd extends ForwardingChannel {
        private final Watch watch = new Watch();

        SourceEnd() {
            super(pair.source());
        }

        @Override
        public void send(ByteBuffer message) throws IOException {
            if (watch.seen()) {
                try {
                    struck.await(HOLD_SECONDS, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while the fault was due");
                }
            }
            watch.firstOfPhase(message, message.position(), message.remaining());
            super.send(message);
        }
    }
}
