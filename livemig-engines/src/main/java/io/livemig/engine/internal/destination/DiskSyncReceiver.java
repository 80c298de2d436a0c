package io.livemig.engine.internal.destination;

import io.livemig.api.DiskStats;
import io.livemig.api.DiskSyncReport;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.SourceVmState;
import io.livemig.api.TimeSource;
import io.livemig.api.Verification;
import io.livemig.channel.Channel;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.DiskFrames;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.VerifyFrames;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.DiskSink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * The destination of a disk sync without a VM (docs/protocol.md, section 7.3): admits only a
 * DISK_SYNC greeting, takes DISK_SETUP (the one disk must have this sink's id, size and block
 * size), plans with the {@link DiskReceiver}, then takes DISK_BLOCKS, DISK_FLUSH and DISK_VERIFY
 * until DIGESTS_END, which it answers with VERIFY_RESULT. Every frame is checked whole before any
 * of its bytes reach the disk. The caller's thread only.
 */
public final class DiskSyncReceiver {

    private static final Logger LOG = LoggerFactory.getLogger(DiskSyncReceiver.class);
    private static final Set<FrameType> DURING_SYNC = EnumSet.of(FrameType.DISK_BLOCKS, FrameType.DISK_FLUSH,
            FrameType.DISK_VERIFY, FrameType.DIGESTS_END, FrameType.ABORT);

    private final Function<DiskDescriptor, ? extends DiskSink> disks;
    private final Channel channel;
    private final MigrationOptions options;
    private final TimeSource time;
    private final DestinationContext context;
    private final MigrationCounters counters = new MigrationCounters();

    /**
     * @param disks   gives the disk to bring up to date, once the source announced it (its id, size
     *                and block size); called at most once, by this thread
     * @param channel a connected channel (owned by the caller)
     * @param options the options
     */
    public DiskSyncReceiver(Function<DiskDescriptor, ? extends DiskSink> disks, Channel channel,
                            MigrationOptions options) {
        this.disks = disks;
        this.channel = channel;
        this.options = options;
        this.time = options.timeSource();
        this.context = new DestinationContext(time);
    }

    /**
     * @return the report
     * @throws MigrationException if the sync failed; blocks written before are the source's
     */
    public DiskSyncReport run() throws MigrationException {
        long start = time.nanoTime();
        Greeter.Greeted greeted;
        try {
            greeted = Greeter.greet(channel, options, (purpose, id) -> purpose == HandshakeFrames.Purpose.DISK_SYNC
                    ? null : "this destination takes a disk sync, not a " + purpose + " connection",
                    options.receiveLimits().handshakeTimeout());
        } catch (Greeter.Refused e) {
            throw context.protocol(e.kind(), e.getMessage());
        } catch (IOException e) {
            throw context.channel("no disk sync was admitted: " + e.getMessage(), e);
        }
        context.moveTo(ReceiverState.AWAIT_SETUP);
        DestinationLink link = new DestinationLink(greeted.channel(), options.ioTimeout(), context, counters);
        link.agreeFrameLimit(greeted.maxFrameBytes());
        try {
            DiskFrames.DiskSetup setup = expect(link.receive(), FrameType.DISK_SETUP, Message.Context.BEFORE_SETUP,
                    DiskFrames.DiskSetup.class);
            if (setup.disks().size() != 1) {
                throw new WireException(Kind.INCOMPATIBLE, "a disk sync takes one disk, the source announces "
                        + setup.disks().size());
            }
            Message.Context frames = new Message.Context(null, 0, setup.disks());
            DiskDescriptor announced = setup.disks().get(0);
            if (announced.blockCount() > options.receiveLimits().maxDiskBlocks()) {
                throw new WireException(Kind.INCOMPATIBLE, "DISK_SETUP announces " + announced.blockCount()
                        + " blocks, more than this destination's limit of " + options.receiveLimits().maxDiskBlocks()
                        + ": raise ReceiveLimits.maxDiskBlocks");
            }
            DiskSink disk = disks.apply(announced);
            DiskReceiver receiver = new DiskReceiver(setup.disks(), List.of(disk), setup.verify());
            receiver.plan(setup.offers(), link);
            link.send(new HandshakeFrames.Ready());
            context.moveTo(ReceiverState.RECEIVING);
            while (true) {
                Frame frame = link.receive();
                if (!DURING_SYNC.contains(frame.type())) {
                    throw new WireException(Kind.UNEXPECTED, frame.type() + " frame in a disk sync");
                }
                Message m = Message.read(frame, frames);
                if (m instanceof DiskFrames.DiskBlocks blocks) {
                    receiver.apply(blocks);
                } else if (m instanceof DiskFrames.DiskFlush flush) {
                    receiver.flush();
                    link.send(new DiskFrames.DiskFlushed(flush.count()));
                } else if (m instanceof DiskFrames.BlockDigests digests) {
                    receiver.verify(digests);
                } else if (m instanceof ControlFrames.Abort abort) {
                    throw context.aborted(abort);
                } else if (m instanceof VerifyFrames.DigestsEnd end) {
                    if (end.count() != 0 || receiver.checkedBlocks() != (setup.verify()
                            ? receiver.verifiableBlocks() : 0)) {
                        throw new WireException(Kind.INCONSISTENT_LENGTH, "DIGESTS_END after "
                                + receiver.checkedBlocks() + " of the disk's block digests");
                    }
                    receiver.flush();
                    link.send(new VerifyFrames.VerifyResult(0, 0, -1, receiver.checkedBlocks(),
                            receiver.mismatchedBlocks()));
                    return report(setup, receiver, start);
                }
            }
        } catch (WireException e) {
            MigrationException error = context.protocol(e.kind(), e.getMessage());
            link.abort(ControlFrames.AbortCode.PROTOCOL_ERROR, error.reason());
            throw error;
        } catch (RuntimeException e) {
            MigrationException error = new MigrationException("disk sync failed at the destination: " + e,
                    context.phase(), SourceVmState.UNKNOWN, e);
            link.abort(ControlFrames.AbortCode.TARGET_ERROR, error.reason());
            throw error;
        }
    }

    private static <T extends Message> T expect(Frame frame, FrameType type, Message.Context context, Class<T> as)
            throws WireException {
        if (frame.type() == FrameType.ABORT) {
            throw new WireException(Kind.UNEXPECTED, "the source aborted: "
                    + ((ControlFrames.Abort) Message.read(frame, context)).reason());
        }
        if (frame.type() != type) {
            throw new WireException(Kind.UNEXPECTED, "expected " + type + ", got " + frame.type());
        }
        return as.cast(Message.read(frame, context));
    }

    private DiskSyncReport report(DiskFrames.DiskSetup setup, DiskReceiver receiver, long start) {
        boolean verified = setup.verify();
        MigrationReport.Check check = verified
                ? new MigrationReport.Check(receiver.mismatchedBlocks() == 0 ? Verification.VERIFIED
                : Verification.MISMATCH, 0, Duration.ZERO, receiver.checkedBlocks(), receiver.mismatchedBlocks())
                : MigrationReport.Check.NOT_CHECKED;
        DiskStats stats = receiver.stats().get(0);
        LOG.info("disk {} received: {} blocks written, {} bytes on the wire, {}", stats.diskId(),
                stats.blocksSent() + stats.zeroBlocksSent(), counters.wireBytes(), check.outcome());
        return new DiskSyncReport(stats, Duration.ofNanos(time.nanoTime() - start), counters.wireBytes(), check);
    }
}
