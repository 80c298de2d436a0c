package io.livemig.engine.internal.destination;

import io.livemig.api.MigrationException;
import io.livemig.api.ProtocolException;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.channel.Channel;
import io.livemig.channel.MessageTooLargeException;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.engine.internal.wire.WireException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.zip.CRC32C;

/**
 * The destination's end of the channel: receives forward frames, each checked (length against the
 * agreed limit, CRC, direction) before anyone looks inside, and sends the return path's frames.
 * Sends from the receiving thread and from the post-copy page requester are serialised. Every
 * channel failure becomes a {@link MigrationException} built by the {@link DestinationContext}.
 *
 * <p>Sends are thread-safe; receives are for the receiving thread. The channels belong to the
 * caller; on post-copy recovery the link moves to a new one.
 */
final class DestinationLink {

    private static final Logger LOG = LoggerFactory.getLogger(DestinationLink.class);
    /** Longest quiet time on the return path before the switchover: see {@link #keepAlive}. */
    private static final Duration KEEPALIVE_INTERVAL = Duration.ofMillis(200);

    private final DestinationContext context;
    private final MigrationCounters counters;
    /** Where frames are received; null once {@link #release released}. */
    private ByteBuffer receiveBuffer;
    private final CRC32C crc = new CRC32C();
    private final Object sendLock = new Object();
    /** Builds return frames; guarded by {@link #sendLock}. */
    private FrameWriter writer = new FrameWriter(Wire.MIN_MAX_FRAME_BYTES);
    private final long keepAliveNanos;
    /** The current channel; replaced on post-copy recovery. Sends hold {@link #sendLock}. */
    private volatile Channel channel;
    private int maxFrameBytes;
    /** Real time of the last frame sent on the return path, for {@link #keepAlive}. Written under {@link #sendLock}. */
    private volatile long lastSendNanos = System.nanoTime();

    /**
     * @param channel   the channel from the source
     * @param ioTimeout the source's receive timeout, which keep-alives must beat
     * @param context   the receiver's state, for the failures this link raises
     * @param counters  where received frame bytes are counted
     */
    DestinationLink(Channel channel, Duration ioTimeout, DestinationContext context, MigrationCounters counters) {
        this.channel = channel;
        this.context = context;
        this.counters = counters;
        int limit = Math.min(Wire.DEFAULT_MAX_FRAME_BYTES, channel.maxMessageBytes());
        this.receiveBuffer = ReceiveBuffers.take(limit);
        this.maxFrameBytes = limit;
        this.keepAliveNanos = Math.min(KEEPALIVE_INTERVAL.toNanos(), ioTimeout.toNanos() / 4);
    }

    /** @return the frame limit this side proposes and accepts */
    int maxFrameBytes() {
        return maxFrameBytes;
    }

    /** Lowers the frame limit to what the handshake agreed; return frames may use all of it. */
    void agreeFrameLimit(int agreed) {
        maxFrameBytes = Math.min(maxFrameBytes, agreed);
        synchronized (sendLock) {
            writer = FrameWriter.growable(maxFrameBytes);
        }
    }

    /** @return the peer's description */
    String peer() {
        return channel.peer();
    }

    /**
     * Receives the next forward frame and checks its length, CRC and direction.
     *
     * @return the frame, a view valid until the next receive
     */
    Frame receive() throws MigrationException {
        if (receiveBuffer == null) {
            throw new IllegalStateException("the link was released");
        }
        receiveBuffer.clear();
        int length;
        try {
            length = channel.receive(receiveBuffer);
        } catch (MessageTooLargeException e) {
            throw protocol(Kind.FRAME_TOO_LARGE, e.getMessage());
        } catch (EOFException e) {
            // A connection that dies part-way through a frame is a broken channel, as one that dies
            // between frames is: in post-copy both are recovered, at the switchover both settled.
            throw context.channel("the stream from " + channel.peer() + " ended inside a frame: " + e.getMessage(), e);
        } catch (IOException e) {
            throw context.channel("receiving from " + channel.peer() + " failed: " + e.getMessage(), e);
        }
        if (length < 0) {
            throw context.channel("the source closed the channel in state " + context.state(), null);
        }
        if (length > maxFrameBytes) {
            throw protocol(Kind.FRAME_TOO_LARGE, "frame of " + length + " bytes exceeds the agreed " + maxFrameBytes);
        }
        counters.frame(length);
        receiveBuffer.flip();
        try {
            Frame frame = Frame.open(receiveBuffer, crc);
            if (!frame.type().forward()) {
                throw new WireException(Kind.UNEXPECTED, frame.type() + " frame on the forward stream");
            }
            return frame;
        } catch (WireException e) {
            throw protocol(e.kind(), e.getMessage());
        }
    }

    /**
     * Gives the receive buffer back for the next destination in this JVM
     * ({@link ReceiveBuffers#giveBack}), once no frame it received is used any more. Nothing is
     * received after it. The thread that receives, or one that joined it.
     */
    void release() {
        ByteBuffer buffer = receiveBuffer;
        receiveBuffer = null;
        if (buffer != null) {
            ReceiveBuffers.giveBack(buffer);
        }
    }

    /** Sends a return-path message. */
    void send(Message message) throws MigrationException {
        try {
            synchronized (sendLock) {
                channel.send(writer.write(message));
                lastSendNanos = System.nanoTime();
            }
        } catch (IOException e) {
            throw context.channel("return path to " + channel.peer() + " failed: " + e.getMessage(), e);
        }
    }

    /**
     * Sends a frame built elsewhere (the page requester's), for another thread.
     *
     * @return false if the link is down right now (the caller tries again after recovery)
     */
    boolean trySend(ByteBuffer frame) {
        synchronized (sendLock) {
            try {
                channel.send(frame);
                lastSendNanos = System.nanoTime();
                return true;
            } catch (IOException e) {
                LOG.debug("return frame not sent: {}", e.getMessage());
                return false;
            }
        }
    }

    /**
     * Sends a KEEPALIVE if the return path has been quiet for the keep-alive interval of real
     * time: before the switchover it is quiet for as long as rounds last, which can be longer
     * than the source's receive timeout.
     */
    void keepAlive() throws MigrationException {
        // Read without the lock: this runs after every frame received, and a late read only delays
        // a keep-alive by one frame.
        if (System.nanoTime() - lastSendNanos >= keepAliveNanos) {
            send(new ControlFrames.Keepalive());
        }
    }

    /** Tells the source this side gives up. Best effort: a failure to send is logged. */
    void abort(ControlFrames.AbortCode code, String reason) {
        try {
            synchronized (sendLock) {
                channel.send(writer.write(new ControlFrames.Abort(code, reason)));
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("could not send ABORT", e);
        }
    }

    /** Closes the current channel (post-copy recovery: before waiting for a new one). */
    void closeChannel() {
        channel.close();
    }

    /** Continues on {@code fresh} (post-copy recovery), already greeted. */
    void replace(Channel fresh) {
        synchronized (sendLock) {
            channel = fresh;
        }
    }

    /** @return the largest message the current channel carries, within the agreed frame limit */
    int frameLimitBytes() {
        return Math.min(maxFrameBytes, channel.maxMessageBytes());
    }

    private ProtocolException protocol(Kind kind, String message) {
        return context.protocol(kind, message);
    }
}
