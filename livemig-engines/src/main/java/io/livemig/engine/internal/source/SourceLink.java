package io.livemig.engine.internal.source;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.ProtocolException;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.engine.internal.LiveControl;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.TokenBucket;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.MemoryLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The source's end of the channel: sends frames on the forward stream (paced to the bandwidth
 * limit where asked, counted in the {@link MigrationCounters}), and reads the return path through
 * a {@link ReturnPath}. Turns every channel or peer failure into a {@link MigrationException}
 * with the phase and VM state of the {@link SourceContext}; notices cancellation and a
 * destination's ABORT between frames. During post-copy recovery the channel is replaced.
 *
 * <p>The migration's thread sends and waits; {@link #cancel()} may be called from any thread.
 * The channels belong to the caller; the link owns the return path's reader thread.
 */
public final class SourceLink {

    private static final Logger LOG = LoggerFactory.getLogger(SourceLink.class);
    /** Room for HELLO and ABORT, before a frame limit is agreed. */
    private static final int HANDSHAKE_FRAME_BYTES = 4096;

    private final SourceContext context;
    private final MigrationOptions options;
    private final TimeSource time;
    /** What return-path frames are checked against: the layout and the disks. */
    private final Message.Context returnContext;
    /**
     * Serializes sends: a channel takes one sender at a time, and the disk mirror's thread sends
     * beside the migration's. Guards the channel's send side, the bandwidth bucket and the counters.
     */
    private final java.util.concurrent.locks.ReentrantLock sendLock = new java.util.concurrent.locks.ReentrantLock();
    private final MigrationCounters counters;
    private final TokenBucket bandwidth;
    /** The caps in force, which the caller may change while the migration runs. */
    private final LiveControl liveControl;
    /** Counts what is sent for the progress snapshot, or null where nobody watches (disk sync). */
    private final ProgressMeter meter;
    /** Builds control frames; as large as the agreed frame limit once the handshake agreed one. */
    private FrameWriter control = new FrameWriter(HANDSHAKE_FRAME_BYTES);
    /** The current channel; replaced when a post-copy link is recovered. Migration thread only. */
    private Channel channel;
    private ReturnPath returnPath;
    private volatile boolean cancelRequested;

    /**
     * @param channel  the channel to the destination
     * @param options  the options (I/O timeout, bandwidth limit, clock)
     * @param layout   the VM's layout, against which page requests are checked
     * @param context  the migration's state, for the failures this link raises
     * @param counters where sent frame bytes are counted
     */
    public SourceLink(Channel channel, MigrationOptions options, MemoryLayout layout, SourceContext context,
                      MigrationCounters counters) {
        this(channel, options, layout, java.util.List.of(), context, counters);
    }

    /**
     * As above, for a VM with disks.
     *
     * @param disks the VM's disks, against which the destination's disk frames are checked
     */
    public SourceLink(Channel channel, MigrationOptions options, MemoryLayout layout,
                      java.util.List<io.livemig.spi.DiskDescriptor> disks, SourceContext context,
                      MigrationCounters counters) {
        this(channel, options, layout, disks, context, counters, new LiveControl(options), null);
    }

    /**
     * As above, paced to the caps {@code control} holds, counting for {@code meter}.
     *
     * @param control the bandwidth caps in force
     * @param meter   counts sent bytes for the progress snapshot and emits progress events
     *                between paced frames; null for none
     */
    public SourceLink(Channel channel, MigrationOptions options, MemoryLayout layout,
                      java.util.List<io.livemig.spi.DiskDescriptor> disks, SourceContext context,
                      MigrationCounters counters, LiveControl control, ProgressMeter meter) {
        this.channel = channel;
        this.options = options;
        this.time = options.timeSource();
        this.returnContext = new Message.Context(layout, 0, disks);
        this.context = context;
        this.counters = counters;
        this.liveControl = control;
        this.meter = meter;
        this.bandwidth = new TokenBucket(time, control::bandwidthBytesPerSecond);
        this.returnPath = new ReturnPath(channel, time, returnContext);
    }

    /** From now on paces paced frames to the post-copy phase's cap (the VM runs at the destination). */
    public void usePostcopyBandwidth() {
        liveControl.enterPostcopy();
    }

    /** @return the caps in force, shared by the data connections' links */
    LiveControl control() {
        return liveControl;
    }

    /** @return what counts for the progress snapshot, or null */
    ProgressMeter meter() {
        return meter;
    }

    /** Counts {@code entries} page entries sent (for the progress snapshot). Any thread. */
    void countPages(int entries) {
        if (meter != null) {
            meter.pagesSent(entries);
        }
    }

    /** Emits a progress event if one is due; only on the migration's thread. */
    void tick() {
        if (meter != null) {
            meter.tick();
        }
    }

    /** Starts reading the return path. */
    public void start() {
        returnPath.start();
    }

    /**
     * Sizes control frames (state, bitmaps, digests) to the frame limit the handshake agreed.
     *
     * @param maxFrameBytes the agreed limit
     */
    public void agreeFrameLimit(int maxFrameBytes) {
        control = FrameWriter.growable(maxFrameBytes);
    }

    /** @return the largest control frame this link builds, in bytes */
    public int frameLimitBytes() {
        return control.capacity();
    }

    /** @return the peer's description */
    public String peer() {
        return channel.peer();
    }

    /** @return the largest message the current channel carries */
    public int maxMessageBytes() {
        return channel.maxMessageBytes();
    }

    /** Asks the migration to stop at the next frame boundary. Any thread. */
    public void cancel() {
        cancelRequested = true;
    }

    /** @throws MigrationException if cancelled, or the destination aborted or failed */
    public void checkCancelled() throws MigrationException {
        if (cancelRequested) {
            throw context.cancelled("cancelled by the caller");
        }
        ControlFrames.Abort abort = returnPath.pendingAbort();
        if (abort != null) {
            throw context.aborted("the destination aborted: " + abort.reason());
        }
        Exception failure = returnPath.failure();
        if (failure != null) {
            throw fromReturnPath(failure);
        }
    }

    /** @return a protocol violation by the destination, in the migration's current phase and VM state */
    public MigrationException protocol(ProtocolException.Kind kind, String message) {
        return context.protocol(kind, message);
    }

    /** @return forward frame bytes sent so far on every channel of this migration */
    public long bytesSent() {
        return counters.wireBytes();
    }

    /**
     * @return the cancellation an interrupt turns into; the caller restores the thread's
     *         interrupt flag when it is done waiting
     */
    public MigrationException interrupted() {
        return context.cancelled("interrupted");
    }

    /** Sends a control message. */
    public void send(Message message) throws MigrationException {
        send(control.write(message));
    }

    /**
     * Sends a frame, after waiting as long as the bandwidth limit requires. Any thread: frames of
     * two threads go out whole, one after the other.
     */
    public void sendPaced(ByteBuffer frame) throws MigrationException {
        sendLock.lock();
        try {
            bandwidth.acquire(frame.remaining());
            send(frame);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw context.cancelled("interrupted");
        } finally {
            sendLock.unlock();
        }
        tick();
    }

    /** Sends a frame at once. Any thread, as {@link #sendPaced}. */
    public void send(ByteBuffer frame) throws MigrationException {
        int length = frame.remaining();
        sendLock.lock();
        try {
            channel.send(frame);
            counters.frame(length);
            if (meter != null) {
                meter.bytesSent(length);
            }
        } catch (IOException e) {
            Exception rp = returnPath.failure();
            ControlFrames.Abort abort = returnPath.pendingAbort();
            if (abort != null) {
                throw context.aborted("the destination aborted: " + abort.reason());
            }
            throw context.channel("sending to " + channel.peer() + " failed: " + e.getMessage()
                    + (rp != null ? " (return path: " + rp.getMessage() + ")" : ""), e);
        } finally {
            sendLock.unlock();
        }
    }

    /**
     * Waits for the next return-path message, which must be a {@code type}.
     *
     * @return the message and its arrival time
     * @throws MigrationException on another message, an ABORT, a failure or the I/O timeout
     */
    public <T extends Message> Arrival<T> await(Class<T> type) throws MigrationException {
        ReturnPath.Incoming in = awaitIncoming();
        if (!type.isInstance(in.message())) {
            throw context.protocol(ProtocolException.Kind.UNEXPECTED, "expected " + type.getSimpleName()
                    + " on the return path, got " + in.message().type());
        }
        return new Arrival<>(type.cast(in.message()), in.arrivalNanos());
    }

    /**
     * As {@link #await}, but gives up after {@code timeoutNanos} of real time instead of the I/O
     * timeout, without failing.
     *
     * @return the message and its arrival time, or null if nothing came in time
     * @throws MigrationException on another message, an ABORT or a failure
     */
    public <T extends Message> Arrival<T> awaitWithin(Class<T> type, long timeoutNanos) throws MigrationException {
        Object next;
        try {
            next = returnPath.next(timeoutNanos);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw context.cancelled("interrupted while waiting for the destination");
        }
        if (next == null) {
            return null;
        }
        if (next instanceof ReturnPath.Failure f) {
            throw fromReturnPath(f.error());
        }
        ReturnPath.Incoming in = (ReturnPath.Incoming) next;
        if (in.message() instanceof ControlFrames.Abort abort) {
            throw context.aborted("the destination aborted: " + abort.reason());
        }
        if (!type.isInstance(in.message())) {
            throw context.protocol(ProtocolException.Kind.UNEXPECTED, "expected " + type.getSimpleName()
                    + " on the return path, got " + in.message().type());
        }
        return new Arrival<>(type.cast(in.message()), in.arrivalNanos());
    }

    /**
     * A message from the destination and when it arrived.
     *
     * @param message      the message
     * @param arrivalNanos its arrival on the migration's clock
     */
    public record Arrival<T extends Message>(T message, long arrivalNanos) {
    }

    /** Waits for the next return-path message of any type but ABORT (which fails). */
    public Message awaitAny() throws MigrationException {
        return awaitIncoming().message();
    }

    private ReturnPath.Incoming awaitIncoming() throws MigrationException {
        Object next;
        try {
            next = returnPath.next(options.ioTimeout().toNanos());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw context.cancelled("interrupted while waiting for the destination");
        }
        if (next == null) {
            throw context.channel("no answer from " + channel.peer() + " within "
                    + options.ioTimeout().toMillis() + " ms", null);
        }
        if (next instanceof ReturnPath.Failure f) {
            throw fromReturnPath(f.error());
        }
        ReturnPath.Incoming in = (ReturnPath.Incoming) next;
        if (in.message() instanceof ControlFrames.Abort abort) {
            throw context.aborted("the destination aborted: " + abort.reason());
        }
        return in;
    }

    private MigrationException fromReturnPath(Exception failure) {
        if (failure instanceof WireException we) {
            return context.protocol(we.kind(), "on the return path: " + we.getMessage());
        }
        return context.channel("return path from " + channel.peer() + " failed: " + failure.getMessage(), failure);
    }

    /**
     * In real time: sends a PING after what was sent so far; its PONG measures how long the
     * destination takes to take that in and answer. Nothing in virtual time, where the extra
     * frame's timing would make runs differ.
     */
    public void ping() throws MigrationException {
        if (time.isWallClock()) {
            sendPing();
        }
    }

    /** @return the PING's token, its send time */
    private long sendPing() throws MigrationException {
        long token = time.nanoTime();
        returnPath.pingSent(token);
        send(new ControlFrames.Ping(token));
        return token;
    }

    /**
     * Sends a PING and waits for its PONG: the destination answers a PING once it has applied
     * every frame that came before it on this channel, so on return nothing sent before waits
     * there any more. Waits at most the I/O timeout (a link that stays silent longer fails on its
     * own); does nothing on a virtual clock.
     *
     * @throws MigrationException if the migration was cancelled or the link failed meanwhile
     */
    public void pingAndWait() throws MigrationException {
        if (!time.isWallClock()) {
            return;
        }
        long token = sendPing();
        try {
            returnPath.awaitPong(token, options.ioTimeout().toNanos());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw interrupted();
        }
        checkCancelled();
    }

    /** @return the shortest PING round trip so far in nanoseconds, or 0 if none was measured */
    public long minRoundTripNanos() {
        return Math.max(0, returnPath.minRoundTripNanos());
    }

    /** @return whether a post-copy page or disk block request is waiting */
    public boolean hasPageRequest() {
        return returnPath.hasPageRequest();
    }

    /** @return the next post-copy disk block request, or null */
    public io.livemig.engine.internal.wire.DiskFrames.BlockRequest pollBlockRequest() {
        return returnPath.pollBlockRequest();
    }

    /** @return the next batch of demand requests from the destination, or null */
    public long[] pollPageRequest() {
        return returnPath.pollPageRequest();
    }

    /** @return forward bytes the destination acknowledged during post-copy on the current channel */
    public long postcopyAckedBytes() {
        return returnPath.ackedBytes();
    }

    /**
     * Waits for a post-copy acknowledgement beyond {@code ackedBefore} or a page request; fails
     * if the destination went away or nothing came within the I/O timeout.
     */
    public void awaitPostcopyProgress(long ackedBefore) throws MigrationException {
        long deadline = System.nanoTime() + options.ioTimeout().toNanos();
        try {
            while (returnPath.ackedBytes() == ackedBefore) {
                checkCancelled();
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw context.channel("no post-copy acknowledgement from " + channel.peer() + " within "
                            + options.ioTimeout().toMillis() + " ms", null);
                }
                returnPath.awaitPostcopySignal(Math.min(left, 10_000_000L));
                if (returnPath.hasPageRequest()) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw context.cancelled("interrupted in post-copy");
        }
    }

    /** Closes the current channel (a broken one, before reconnecting). */
    public void closeChannel() {
        channel.close();
    }

    /**
     * Continues on {@code fresh}, with a new return-path reader. The old channel must be closed
     * already ({@link #closeChannel()}).
     */
    public void replace(Channel fresh) {
        channel = fresh;
        returnPath = new ReturnPath(fresh, time, returnContext);
        returnPath.start();
    }

    /**
     * Tells the destination this side gives up, unless the return path already failed (then the
     * channel is gone). Best effort: a failure to send is logged.
     */
    public void abort(ControlFrames.AbortCode code, String reason) {
        if (returnPath.failure() != null) {
            return;
        }
        try {
            channel.send(control.write(new ControlFrames.Abort(code, reason)));
        } catch (IOException | RuntimeException e) {
            LOG.debug("could not send ABORT", e);
        }
    }
}
