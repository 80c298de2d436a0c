package io.livemig.engine.internal.destination;

import io.livemig.api.ChannelException;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationReport;
import io.livemig.api.PassThroughStats;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.SourceVmState;
import io.livemig.channel.Channel;
import io.livemig.channel.ChannelListener;
import io.livemig.channel.Reconnector;
import io.livemig.engine.TargetFactory;
import io.livemig.engine.internal.HostClock;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.DiskFrames;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.DeviceFrames;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.PageBitmap;
import io.livemig.engine.internal.wire.PostcopyFrames;
import io.livemig.engine.internal.wire.ReplayFrames;
import io.livemig.engine.internal.wire.StreamFrames;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.VerifyFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.MigrationTarget;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;
import io.livemig.engine.internal.MigrationIds;
import io.livemig.engine.internal.EngineThreads;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.EnumSet;

/**
 * The destination side of one migration: the receive state machine over the frames of protocol
 * v2 ({@link ReceiverState}; docs/protocol.md, section 5). Each frame is checked completely (CRC,
 * type allowed in the current state, every field) before it is acted on; the
 * {@link TargetSetup handshake and target}, the {@link PageApplier page applier}, the
 * {@link StateLoader state loader}, the {@link DestinationVerifier verifier} and the
 * {@link PostcopyReceiver post-copy receiver} do the work. The target VM is created only after a
 * valid SETUP, and resumed only after COMMIT with every vCPU and device state present and loaded;
 * any failure before that closes (discards) the target, so no half-migrated VM ever runs.
 *
 * <p>Single-threaded: {@link #run()} runs on the caller's thread.
 */
public final class DestinationMigration {

    private static final Logger LOG = LoggerFactory.getLogger(DestinationMigration.class);
    private static final int MAX_RECOVERIES = 16;

    /**
     * The outcome: the running target, owned by the caller from now on, and the destination's report.
     *
     * @param target the running VM
     * @param report the destination's view
     */
    public record Outcome(MigrationTarget target, MigrationReport report) {
    }

    private final MigrationOptions options;
    private final Arrivals arrivals;
    private final TargetFactory factory;
    private final DestinationContext context;
    private final MigrationCounters counters = new MigrationCounters();
    /** Made once the first connection is admitted; replaced channels go through it. */
    private DestinationLink link;
    private TargetSetup setup;
    /** The migration's public id, once the source's HELLO named the session; empty before. */
    private String migrationId = "";
    private byte[] sessionId;
    /** This host's clock token for the migration (RESUMED carries it), made before any downtime. */
    private byte[] hostToken;
    private PostcopyReceiver postcopy;
    /** The data connections after STREAMS; null without (or once dropped by a post-copy recovery). */
    private DataStreams streams;
    /** Counters of every data connection ever admitted, for the report. */
    private final java.util.List<MigrationCounters> streamCounters = new java.util.ArrayList<>();
    private int recoveries;
    private boolean verificationLost;

    /**
     * @param channel     the channel from the source
     * @param reconnector gives a new channel if the link breaks during post-copy or at the switchover
     * @param factory     creates the target VM from the announced descriptor
     * @param options     options (secret, limits, expectation, I/O timeout, clock)
     */
    public DestinationMigration(Channel channel, Reconnector reconnector, TargetFactory factory,
                                MigrationOptions options) {
        this(new Arrivals.OneChannel(channel, reconnector, options), factory, options);
    }

    /**
     * @param listener      where sources connect: watched for the whole migration, so that other
     *                      connections are turned away and the source's recovery connection is taken
     * @param acceptTimeout how long to wait for the source of the migration
     * @param factory       creates the target VM from the announced descriptor
     * @param options       options (secret, limits, expectation, I/O timeout, clock)
     */
    public DestinationMigration(ChannelListener listener, Duration acceptTimeout, TargetFactory factory,
                                MigrationOptions options) {
        this(Arrivals.Listening.on(listener, acceptTimeout, options), factory, options);
    }

    DestinationMigration(Arrivals arrivals, TargetFactory factory, MigrationOptions options) {
        this.options = options;
        this.arrivals = arrivals;
        this.factory = factory;
        this.context = new DestinationContext(options.timeSource());
    }

    /**
     * Receives the migration, resumes the target and verifies.
     *
     * @return the running target and the report
     * @throws MigrationException if the migration fails before the target resumed (the target has
     *                            then been discarded), or post-copy failed without recovery
     */
    public Outcome run() throws MigrationException {
        String previousId = MDC.get(MigrationIds.MDC_KEY);
        try (EngineThreads.Binding threads = EngineThreads.bind(options.threadFactory())) {
            return runAdmitted();
        } finally {
            if (previousId == null) {
                MDC.remove(MigrationIds.MDC_KEY);
            } else {
                MDC.put(MigrationIds.MDC_KEY, previousId);
            }
        }
    }

    private Outcome runAdmitted() throws MigrationException {
        try (arrivals) {
            admit();
            Outcome outcome = receive();
            emit(new MigrationEvent.Completed(outcome.report()));
            return outcome;
        } catch (MigrationException e) {
            MigrationReport report = DestinationRecorder.failed(setup, context, counters, e, migrationId);
            e.attachReport(report);
            LOG.warn("migration not received: {}", e.getMessage());
            emit(new MigrationEvent.Failed(e, report));
            throw e;
        }
    }

    /** Tells the options' listener; a listener that throws is logged and otherwise ignored. */
    private void emit(MigrationEvent event) {
        try {
            options.listener().onEvent(event);
        } catch (RuntimeException e) {
            LOG.warn("migration listener threw on {}", event.getClass().getSimpleName(), e);
        }
    }

    private void admit() throws MigrationException {
        Greeter.Greeted greeted;
        try {
            greeted = arrivals.first();
        } catch (Greeter.Refused e) {
            throw context.protocol(e.kind(), e.getMessage());
        } catch (IOException e) {
            throw context.channel("no source was admitted: " + e.getMessage(), e);
        }
        sessionId = greeted.hello().sessionId();
        migrationId = MigrationIds.of(sessionId);
        MDC.put(MigrationIds.MDC_KEY, migrationId);
        hostToken = HostClock.token(sessionId, options.timeSource().isWallClock());
        link = new DestinationLink(greeted.channel(), options.ioTimeout(), context, counters);
        link.agreeFrameLimit(greeted.maxFrameBytes());
        setup = new TargetSetup(factory, link, context, counters, options, greeted.agreedEncodings());
        context.moveTo(ReceiverState.AWAIT_SETUP);
    }

    private Outcome receive() throws MigrationException {
        try {
            while (context.state() != ReceiverState.DONE) {
                try {
                    handle(link.receive());
                    if (context.state() == ReceiverState.REPLAYING) {
                        // A replay that failed ends the migration at the next frame.
                        setup.replayOrNull().rethrow();
                    }
                    if (context.state().needsKeepAlive() && options.timeSource().isWallClock()) {
                        link.keepAlive();
                    }
                } catch (ChannelException broken) {
                    // In post-copy a break is recoverable wherever it shows first: in a receive,
                    // or in a send on this thread (an acknowledgement, a RESUMED).
                    if (context.state() != ReceiverState.POSTCOPY) {
                        // A data connection that failed closed this channel to wake this thread.
                        throw streams != null && streams.failure() != null ? streams.failure() : broken;
                    }
                    recover(broken);
                }
            }
        } catch (MigrationException | RuntimeException | Error e) {
            if (!context.hasResumed()) {
                MigrationException error = setup.discard(e);
                if (e instanceof ChannelException && context.state() == ReceiverState.STOPPED) {
                    arrivals.settle(sessionId, ControlFrames.Outcome.DISCARDED);
                }
                if (e instanceof Error fatal) {
                    throw fatal;
                }
                throw error;
            }
            if (context.state() == ReceiverState.POSTCOPY) {
                throw splitFailure(e);
            }
            LOG.warn("after the VM resumed here: {}; it keeps running, verification is incomplete", e.getMessage());
            verificationLost = true;
            if (e instanceof ChannelException) {
                arrivals.settle(sessionId, ControlFrames.Outcome.RESUMED);
            }
        } finally {
            closeStreams();
            if (setup != null && setup.replayOrNull() != null) {
                setup.replayOrNull().close();
            }
            if (postcopy != null) {
                postcopy.close();
            }
            if (setup != null && setup.disksOrNull() != null) {
                setup.disksOrNull().close();
            }
            link.release(); // every frame was handled: the next destination here reuses the buffer
        }
        MigrationCounters all = counters;
        if (!streamCounters.isEmpty()) {
            all = new MigrationCounters();
            all.add(counters);
            streamCounters.forEach(all::add);
        }
        List<PassThroughStats> replugged = Replug.failoverDevices(setup.target(), options.passThroughPolicy(),
                context.resumedNanos(), options.timeSource());
        MigrationReport report = DestinationRecorder.report(setup, context, all, replugged,
                postcopy == null ? null : postcopy.stats(recoveries), verificationLost, migrationId);
        LOG.info("migration received: {} bytes, downtime {} ms, {}", report.memoryBytes(),
                report.switchover().downtime().toMillis(), report.verification().outcome());
        return new Outcome(setup.target(), report);
    }

    private void handle(Frame frame) throws MigrationException {
        try {
            if (!context.state().accepts(frame.type())) {
                throw new WireException(Kind.UNEXPECTED, frame.type() + " frame is not allowed in receiver state "
                        + context.state());
            }
            if (frame.type() == FrameType.PAGES) {
                onPages(frame);
                return;
            }
            switch (Message.read(frame, setup.messageContext())) {
                case ControlFrames.Abort abort -> {
                    if (setup != null && setup.replayOrNull() != null) {
                        // The source's answer to the ABORT a failed replay sent: that failure is the cause.
                        setup.replayOrNull().rethrow();
                    }
                    throw context.aborted(abort);
                }
                case HandshakeFrames.Setup s -> {
                    setup.setup(s);
                    context.moveTo(ReceiverState.RECEIVING);
                    emit(new MigrationEvent.Started(s.strategy(), s.descriptor().memoryLayout().memoryBytes(),
                            link.peer()));
                }
                case ControlFrames.Ping ping -> link.send(new ControlFrames.Pong(ping.token()));
                case StreamFrames.Streams s -> openStreams(s.count());
                case StreamFrames.Sync sync -> {
                    if (streams == null) {
                        throw new WireException(Kind.UNEXPECTED, "SYNC without data connections");
                    }
                    streams.awaitSync(sync.sequence());
                }
                case SwitchoverFrames.Switchover s ->
                    {
                        context.moveTo(ReceiverState.STOPPED);
                        setup.switchoverStarted(streams != null);
                        // What is left and how long it takes is the source's to know.
                        emit(new MigrationEvent.SwitchoverStarted(0, Duration.ZERO));
                    }
                case SwitchoverFrames.VcpuStateFrame s -> {
                    if (context.state() == ReceiverState.RECEIVING) {
                        replay().checkpointState(s);
                    } else {
                        setup.vcpuState(s);
                    }
                }
                case ReplayFrames.Checkpoint checkpoint -> {
                    replay().checkpoint(checkpoint);
                    context.moveTo(ReceiverState.REPLAYING);
                }
                case ReplayFrames.LogChunk chunk -> replay().chunk(chunk);
                case SwitchoverFrames.DeviceStateFrame s ->
                        setup.stateLoader().device(s);
                case DeviceFrames.DeviceData data -> setup.stateLoader().deviceData(data);
                case PageBitmap chunk -> setup.announceMissing(chunk);
                case SwitchoverFrames.Commit commit -> onCommit(commit);
                case PostcopyFrames.PostcopyEnd end -> onPostcopyEnd();
                case VerifyFrames.Digests digests -> {
                    if (context.state() == ReceiverState.STOPPED) {
                        awaitReplayed();
                    }
                    setup.verifier().compare(digests);
                }
                case VerifyFrames.DigestsEnd end -> {
                    if (context.state() == ReceiverState.STOPPED) {
                        // Trace and replay: the check before the commit; the source commits or aborts.
                        awaitReplayed();
                        link.send(setup.verifier().end(end, 0, 0));
                        return;
                    }
                    DiskReceiver disks = setup.disksOrNull();
                    if (disks != null && disks.checkedBlocks() != disks.verifiableBlocks()) {
                        throw new WireException(Kind.INCONSISTENT_LENGTH, "DIGESTS_END after " + disks.checkedBlocks()
                                + " disk block digests, " + disks.verifiableBlocks() + " were due");
                    }
                    link.send(setup.verifier().end(end, disks == null ? 0 : disks.checkedBlocks(),
                            disks == null ? 0 : disks.mismatchedBlocks()));
                    context.moveTo(ReceiverState.DONE);
                }
                case DiskFrames.DiskBlocks blocks -> {
                    if (postcopy != null && !setup.disks().fetching(blocks.disk())) {
                        // The guest runs on this disk: only blocks it still lacks may arrive now.
                        throw new WireException(Kind.UNEXPECTED, "DISK_BLOCKS in post-copy for a disk with no "
                                + "block announced missing");
                    }
                    setup.disks().apply(blocks);
                    // Post-copy flow control counts disk frames as page frames.
                    acknowledgePostcopy(frame);
                }
                case DiskFrames.DiskMissing chunk -> setup.disks().announceMissing(chunk);
                case DiskFrames.DiskFlush flush -> {
                    setup.disks().flush();
                    link.send(new DiskFrames.DiskFlushed(flush.count()));
                }
                case DiskFrames.BlockDigests digests -> {
                    if (digests.type() != FrameType.DISK_VERIFY) {
                        throw new WireException(Kind.UNEXPECTED, digests.type() + " on the forward stream");
                    }
                    setup.disks().verify(digests);
                }
                default -> throw new WireException(Kind.UNEXPECTED, frame.type() + " frame on the forward stream");
            }
        } catch (WireException e) {
            throw context.protocol(e.kind(), e.getMessage());
        }
    }

    /** @return trace and replay's receiver; @throws WireException if the migration is not trace and replay */
    private ReplayReceiver replay() throws WireException {
        ReplayReceiver replay = setup.replayOrNull();
        if (replay == null) {
            throw new WireException(Kind.UNEXPECTED, "a trace-and-replay frame in a migration that is not one");
        }
        return replay;
    }

    /** Before the pre-commit check's digests: the final segment must have arrived and been replayed. */
    private void awaitReplayed() throws WireException, MigrationException {
        ReplayReceiver replay = replay();
        if (!replay.finalArrived()) {
            throw new WireException(Kind.UNEXPECTED, "DIGESTS before the final log segment");
        }
        // Returns at once once the replay ended (for every DIGESTS frame after the first).
        replay.awaitFinal(options.ioTimeout());
    }

    private void onPages(Frame frame) throws WireException, MigrationException {
        if (postcopy == null && setup.postcopyPrepared()) {
            throw new WireException(Kind.UNEXPECTED, "PAGES after the SWITCHOVER of a post-copy handover, before COMMIT");
        }
        setup.applier().apply(frame);
        acknowledgePostcopy(frame);
    }

    /** In post-copy, counts a received frame and acknowledges every 256 KiB (see the source's push window). */
    private void acknowledgePostcopy(Frame frame) throws MigrationException {
        if (postcopy != null) {
            long ack = postcopy.received(frame.payload().limit() + (long) Wire.MIN_FRAME_BYTES);
            if (ack >= 0) {
                link.send(new PostcopyFrames.PostcopyAck(ack));
            }
        }
    }

    /** STREAMS: admits the data connections (docs/protocol.md, section 6), then answers READY. */
    private void openStreams(long count) throws WireException, MigrationException {
        int limit = options.receiveLimits().maxStreams();
        if (!streamCounters.isEmpty()) {
            throw new WireException(Kind.UNEXPECTED, "a second STREAMS");
        }
        if (count > limit) {
            throw new WireException(Kind.INCOMPATIBLE, "the source asks for " + count + " data connections, this "
                    + "destination takes at most " + limit + " (ReceiveLimits.maxStreams)");
        }
        streams = DataStreams.accept((int) count, arrivals, sessionId, setup, link, context, options.ioTimeout(),
                options.receiveLimits().handshakeTimeout());
        streamCounters.addAll(streams.counters());
        link.send(new HandshakeFrames.Ready());
    }

    private void closeStreams() {
        if (streams != null) {
            streams.close();
            streams = null;
        }
    }

    private void onCommit(SwitchoverFrames.Commit commit)
            throws WireException, MigrationException {
        if (streams != null) {
            // Only once every page of the last round landed; no data connection writes meanwhile.
            DataStreams data = streams;
            postcopy = data.exclusive("COMMIT", () -> {
                PostcopyReceiver receiver = setup.commit(commit);
                if (receiver != null) {
                    data.postcopy(receiver);
                } else {
                    data.seal();
                }
                return receiver;
            });
        } else {
            postcopy = setup.commit(commit);
        }
        if (postcopy != null) {
            // From here a break is recoverable, even one that shows in sending RESUMED.
            context.moveTo(ReceiverState.POSTCOPY);
            emit(new MigrationEvent.PostcopyStarted(postcopy.missingPages()));
        } else {
            // Trace and replay was verified before the commit.
            context.moveTo(setup.verifies() && setup.replayOrNull() == null ? ReceiverState.VERIFYING
                    : ReceiverState.DONE);
        }
        link.send(new SwitchoverFrames.Resumed(context.resumedNanos(), hostToken));
        if (postcopy == null) {
            // After RESUMED: joining the data connections' threads is no part of the downtime.
            closeStreams();
        }
    }

    private void onPostcopyEnd() throws WireException, MigrationException {
        if (streams != null) {
            DataStreams data = streams;
            data.exclusive("POSTCOPY_END", () -> {
                data.seal();
                return null;
            });
        }
        long missing = postcopy.missingPages();
        if (missing != 0) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "POSTCOPY_END with " + missing
                    + " announced pages never sent");
        }
        if (setup.disksOrNull() != null) {
            setup.disksOrNull().postcopyEnd();
        }
        postcopy.close();
        link.send(postcopy.done());
        closeStreams();
        LOG.debug("post-copy complete: {}", postcopy.done());
        context.moveTo(setup.verifies() ? ReceiverState.VERIFYING : ReceiverState.DONE);
    }

    /**
     * Post-copy recovery: a new channel from the reconnector, then tell the source what is still
     * missing and wait for its acknowledgement; outstanding requests are asked again.
     */
    private void recover(ChannelException broken) throws MigrationException {
        if (++recoveries > MAX_RECOVERIES) {
            throw broken;
        }
        LOG.warn("post-copy link broke ({}); waiting up to {} s for the source to come back", broken.reason(),
                options.recoveryWindow().toSeconds());
        link.closeChannel();
        // The data connections are dropped: everything goes on the recovered channel from now on.
        closeStreams();
        Greeter.Greeted back;
        try {
            back = arrivals.comeback(EnumSet.of(Purpose.RECOVER, Purpose.SETTLE), sessionId);
            if (back.hello().purpose() == Purpose.SETTLE) {
                // The break came before RESUMED reached the source: it asks first how the switchover
                // ended, hears that the VM runs here, and comes back to recover.
                Arrivals.answer(back, ControlFrames.Outcome.RESUMED);
                back = arrivals.comeback(EnumSet.of(Purpose.RECOVER), sessionId);
            }
        } catch (IOException | RuntimeException e) {
            throw new ChannelException("no new channel for post-copy recovery: " + e.getMessage(), context.phase(),
                    SourceVmState.SPLIT, e);
        }
        link.replace(back.channel());
        try {
            long missing = postcopy.resumeOn(link, setup.messageContext());
            LOG.info("post-copy recovered: {} pages still missing", missing);
            emit(new MigrationEvent.LinkRecovered(recoveries, broken.reason()));
        } catch (WireException e) {
            throw context.protocol(e.kind(), e.getMessage());
        }
    }

    private MigrationException splitFailure(Throwable e) {
        long missing = postcopy == null ? -1 : postcopy.missingPages();
        MigrationException failure = new MigrationException("post-copy failed and was not recovered: this destination "
                + "ran the VM (its vCPU and device state and every page received, with " + missing + " pages still "
                + "missing) and has now stopped and discarded it; the source holds the VM's memory as of the pause. "
                + "Cause: " + e.getMessage(), MigrationPhase.POST_COPY, SourceVmState.SPLIT, e);
        if (postcopy != null) {
            postcopy.close();
        }
        setup.stopTarget(failure);
        return failure;
    }
}
