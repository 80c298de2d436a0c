package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.MemoryLayout;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * One frame of wire protocol v2 (docs/protocol.md) as a value: every frame type but PAGES (whose
 * entries are written in place by {@link PageBatchWriter} and checked by {@link PageBatchReader},
 * for speed) is a record that writes itself with {@link #write} and is parsed, every field
 * checked, by {@link #read}.
 *
 * <p>The records are grouped by the protocol's phases: {@link HandshakeFrames},
 * {@link SwitchoverFrames}, {@link PostcopyFrames} with {@link PageBitmap}, {@link VerifyFrames}
 * and {@link ControlFrames}.
 */
public sealed interface Message permits Message.Empty, Message.Token, Message.Count, HandshakeFrames.Hello, HandshakeFrames.HelloAck,
        HandshakeFrames.Auth, HandshakeFrames.Setup, SwitchoverFrames.VcpuStateFrame, SwitchoverFrames.DeviceStateFrame,
        SwitchoverFrames.Commit, SwitchoverFrames.Resumed, PageBitmap, PostcopyFrames.PageRequest, PostcopyFrames.PostcopyDone,
        VerifyFrames.Digests, VerifyFrames.VerifyResult, ControlFrames.Abort, ControlFrames.Settled,
        DiskFrames.DiskPlan, DiskFrames.BlockDigests, DiskFrames.DiskBlocks, DiskFrames.DiskSetup,
        DiskFrames.DiskMissing, DiskFrames.BlockRequest, DeviceFrames.DeviceData, ReplayFrames.Checkpoint,
        ReplayFrames.LogChunk, ReplayFrames.Replayed {

    /** @return the frame type this message travels as */
    FrameType type();

    /**
     * Writes this message as one frame.
     *
     * @param writer the writer to build it in (its previous frame is overwritten)
     * @return the writer's buffer, flipped: the whole frame, ready to send
     * @throws IllegalArgumentException         if a state blob does not fit in the writer's frame limit
     * @throws java.nio.BufferOverflowException if the message does not fit otherwise; use
     *                                          {@link FrameWriter#write(Message)}, which turns it into an
     *                                          IllegalArgumentException
     */
    ByteBuffer write(FrameWriter writer);

    /**
     * A frame with an empty payload: READY, SWITCHOVER, POSTCOPY_END, RECOVER_ACK,
     * KEEPALIVE. Its type is all it says.
     */
    sealed interface Empty extends Message permits HandshakeFrames.Ready, SwitchoverFrames.Switchover,
            PostcopyFrames.PostcopyEnd, PostcopyFrames.RecoverAck, ControlFrames.Keepalive {
        @Override
        default ByteBuffer write(FrameWriter writer) {
            return writer.empty(type());
        }

        /**
         * @return {@code message}, once the frame's payload was found empty
         * @throws WireException if the payload is not empty
         */
        private static <T extends Empty> T read(Frame frame, T message) throws WireException {
            frame.expectEnd();
            return message;
        }
    }

    /** A frame whose payload is one opaque u64 token: PING and PONG. */
    sealed interface Token extends Message permits ControlFrames.Ping, ControlFrames.Pong {
        /** @return the token */
        long token();

        @Override
        default ByteBuffer write(FrameWriter writer) {
            return writer.single(type(), token());
        }

        /**
         * @return the frame's token
         * @throws WireException unless the payload is exactly one u64
         */
        private static long read(Frame frame) throws WireException {
            long token = frame.u64("token");
            frame.expectEnd();
            return token;
        }
    }

    /**
     * A frame whose payload is one count, a u64 that must not be negative: POSTCOPY_ACK (bytes
     * received), RECOVER (pages missing), DIGESTS_END (digests sent), STREAMS (data connections),
     * SYNC (a sequence number).
     */
    sealed interface Count extends Message permits PostcopyFrames.PostcopyAck, PostcopyFrames.Recover,
            VerifyFrames.DigestsEnd, StreamFrames.Streams, StreamFrames.Sync, DiskFrames.DiskFlush,
            DiskFrames.DiskFlushed {
        /** @return the count */
        long count();

        @Override
        default ByteBuffer write(FrameWriter writer) {
            return writer.single(type(), count());
        }
    }

    /**
     * What a receiver knows that some frames are checked against.
     *
     * @param layout    the layout announced in SETUP, or null before SETUP
     * @param vcpuCount the vCPUs announced in SETUP, or 0 before SETUP
     * @param disks     the disks announced in SETUP (none before SETUP)
     */
    record Context(MemoryLayout layout, int vcpuCount, List<DiskDescriptor> disks) {
        /** Before SETUP: frames that refer to pages, vCPUs or disks are refused. */
        public static final Context BEFORE_SETUP = new Context(null, 0);

        /** Copies the disk list. */
        public Context {
            disks = List.copyOf(disks);
        }

        /** A VM without disks. */
        public Context(MemoryLayout layout, int vcpuCount) {
            this(layout, vcpuCount, List.of());
        }

        MemoryLayout requireLayout(FrameType type) throws WireException {
            if (layout == null) {
                throw new WireException(Kind.UNEXPECTED, type + " frame before SETUP");
            }
            return layout;
        }
    }

    /**
     * Parses a checked frame into its message.
     *
     * @param frame   a frame whose CRC and type were checked by {@link Frame#open}, positioned at its payload
     * @param context what the frame's fields are checked against
     * @return the message
     * @throws WireException            if any field is malformed, out of range, or the payload's length is wrong
     * @throws IllegalArgumentException for a PAGES frame: read those with {@link PageBatchReader}
     */
    static Message read(Frame frame, Context context) throws WireException {
        return switch (frame.type()) {
            case HELLO -> HandshakeFrames.Hello.read(frame);
            case HELLO_ACK -> HandshakeFrames.HelloAck.read(frame);
            case AUTH -> HandshakeFrames.Auth.read(frame);
            case SETUP -> HandshakeFrames.Setup.read(frame);
            case READY -> Empty.read(frame, new HandshakeFrames.Ready());
            case PAGES -> throw new IllegalArgumentException("PAGES frames are read by PageBatchReader");
            case SWITCHOVER -> Empty.read(frame, new SwitchoverFrames.Switchover());
            case VCPU_STATE -> SwitchoverFrames.VcpuStateFrame.read(frame, context.vcpuCount());
            case DEVICE_STATE -> SwitchoverFrames.DeviceStateFrame.read(frame);
            case COMMIT -> SwitchoverFrames.Commit.read(frame);
            case RESUMED -> SwitchoverFrames.Resumed.read(frame);
            case MISSING_PAGES, RECOVER_MISSING -> PageBitmap.read(frame, context.requireLayout(frame.type()));
            case PAGE_REQUEST -> PostcopyFrames.PageRequest.read(frame, context.requireLayout(frame.type()));
            case POSTCOPY_ACK -> new PostcopyFrames.PostcopyAck(frame.soleCount("bytesReceived"));
            case POSTCOPY_END -> Empty.read(frame, new PostcopyFrames.PostcopyEnd());
            case POSTCOPY_DONE -> PostcopyFrames.PostcopyDone.read(frame);
            case RECOVER -> new PostcopyFrames.Recover(frame.soleCount("missingPages"));
            case RECOVER_ACK -> Empty.read(frame, new PostcopyFrames.RecoverAck());
            case DIGESTS -> VerifyFrames.Digests.read(frame, context.requireLayout(frame.type()));
            case DIGESTS_END -> new VerifyFrames.DigestsEnd(frame.soleCount("totalPages"));
            case VERIFY_RESULT -> VerifyFrames.VerifyResult.read(frame);
            case PING -> new ControlFrames.Ping(Token.read(frame));
            case PONG -> new ControlFrames.Pong(Token.read(frame));
            case KEEPALIVE -> Empty.read(frame, new ControlFrames.Keepalive());
            case ABORT -> ControlFrames.Abort.read(frame);
            case SETTLED -> ControlFrames.Settled.read(frame);
            case STREAMS -> new StreamFrames.Streams(StreamFrames.positive(frame, "count"));
            case SYNC -> new StreamFrames.Sync(StreamFrames.positive(frame, "sequence"));
            case DISK_BLOCKS -> DiskFrames.DiskBlocks.read(frame, context);
            case DISK_FLUSH -> new DiskFrames.DiskFlush(frame.soleCount("sequence"));
            case DISK_FLUSHED -> new DiskFrames.DiskFlushed(frame.soleCount("sequence"));
            case DISK_DIGESTS, DISK_VERIFY -> DiskFrames.BlockDigests.read(frame, context);
            case DISK_PLAN -> DiskFrames.DiskPlan.read(frame, context);
            case DISK_SETUP -> DiskFrames.DiskSetup.read(frame);
            case DISK_MISSING -> DiskFrames.DiskMissing.read(frame, context);
            case BLOCK_REQUEST -> DiskFrames.BlockRequest.read(frame, context);
            case DEVICE_DATA -> DeviceFrames.DeviceData.read(frame);
            case CHECKPOINT -> ReplayFrames.Checkpoint.read(frame);
            case LOG_SEGMENT -> ReplayFrames.LogChunk.read(frame);
            case REPLAYED -> ReplayFrames.Replayed.read(frame);
        };
    }
}
