package io.livemig.engine.internal.destination;

import io.livemig.api.ChannelException;
import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.ProtocolException;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.Verification;
import io.livemig.api.TimeSource;
import io.livemig.engine.TargetFactory;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.FrameWarmup;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.PageBitmap;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.ExecutionReplayer;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import io.livemig.spi.VmDescriptor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.Optional;

/**
 * The target and what the destination agreed to around it: creates the target from SETUP and builds the parts that work on it (the {@link PageApplier}, the
 * {@link StateLoader}, the {@link DestinationVerifier}), and at COMMIT loads the state and resumes
 * the VM, arming post-copy first when pages are still to come. Until the resume it owns the
 * target and discards it on failure; afterwards the caller of the migration owns it.
 *
 * <p>The receiving thread only.
 */
final class TargetSetup {

    private static final Logger LOG = LoggerFactory.getLogger(TargetSetup.class);

    private final TargetFactory factory;
    private final DestinationLink link;
    private final DestinationContext context;
    private final MigrationCounters counters;
    private final MigrationOptions options;
    private final TimeSource time;
    private final long agreedEncodings;
    private HandshakeFrames.Setup announced;
    /** Demand paging was prepared at SWITCHOVER: COMMIT must be post-copy, and no page comes before it. */
    private boolean postcopyPrepared;
    private Message.Context messageContext = Message.Context.BEFORE_SETUP;
    private MigrationTarget target;
    private PageApplier applier;
    private StateLoader stateLoader;
    private DestinationVerifier verifier;
    private PageSet announcedMissing;
    /** The disks' receiver, or null for a VM without disks. */
    private DiskReceiver disks;
    /** Trace and replay's receiver, or null for the other strategies. */
    private ReplayReceiver replay;

    /**
     * @param agreedEncodings the page encodings agreed at the handshake
     */
    TargetSetup(TargetFactory factory, DestinationLink link, DestinationContext context, MigrationCounters counters,
                MigrationOptions options, long agreedEncodings) {
        this.factory = factory;
        this.link = link;
        this.context = context;
        this.counters = counters;
        this.options = options;
        this.time = options.timeSource();
        this.agreedEncodings = agreedEncodings;
    }

    /**
     * Checks SETUP against this destination's limits and expectation, creates the target it
     * describes, checks that the target is that VM and can take this migration, and answers READY.
     *
     * @throws WireException      if SETUP exceeds a limit or is not what was expected (no target was
     *                            created then), or the target is not the VM SETUP announced
     * @throws MigrationException if the target cannot be created
     */
    void setup(HandshakeFrames.Setup setup) throws WireException, MigrationException {
        SetupChecks.withinLimits(setup, options.receiveLimits(), link.maxFrameBytes());
        SetupChecks.asExpected(setup, options.expectation());
        if (setup.mayPostcopy() && options.keepPausedAtDestination()) {
            throw new ProtocolException(Kind.INCOMPATIBLE, "the source may switch to post-copy, but this destination "
                    + "keeps the VM paused (keepPausedAtDestination), and post-copy needs it running",
                    context.phase(), SourceVmState.UNKNOWN);
        }
        announced = setup;
        VmDescriptor descriptor = setup.descriptor();
        MemoryLayout layout = descriptor.memoryLayout();
        long createStart = time.nanoTime();
        try {
            target = factory.create(descriptor);
            LOG.debug("target created in {} ms", (time.nanoTime() - createStart) / 1_000_000);
        } catch (IOException | RuntimeException e) {
            throw new MigrationException("cannot create the target VM: " + e.getMessage(), context.phase(),
                    SourceVmState.UNKNOWN, e);
        }
        if (setup.mayPostcopy() && target.demandPaging().isEmpty()) {
            throw new ProtocolException(Kind.INCOMPATIBLE, "the source may switch to post-copy, but this target cannot "
                    + "run before all of its memory arrived (no demand paging)", context.phase(), SourceVmState.UNKNOWN);
        }
        if (!target.descriptor().memoryLayout().equals(layout)) {
            throw new MigrationException("the target's layout " + target.descriptor().memoryLayout()
                    + " differs from the announced " + layout, context.phase(), SourceVmState.UNKNOWN, null);
        }
        SetupChecks.targetMatches(setup, target);
        messageContext = new Message.Context(layout, descriptor.vcpuCount(), descriptor.disks());
        if (!descriptor.disks().isEmpty()) {
            disks = new DiskReceiver(descriptor.disks(), target.disks(), setup.verify());
        }
        verifier = setup.verify() ? new DestinationVerifier(layout, time) : null;
        if (setup.strategy() == Strategy.TRACE_REPLAY) {
            replay = replayReceiver(setup, descriptor);
        }
        applier = applierFor(counters);
        stateLoader = new StateLoader(descriptor, target, options.receiveLimits().maxStateBytes(), context);
        stateLoader.prepareDevices();
        FrameWarmup.run();
        if (disks != null) {
            try {
                disks.plan(setup.diskOffers(), link);
            } catch (RuntimeException e) {
                throw new MigrationException("cannot prepare the target's disks: " + e.getMessage(), context.phase(),
                        SourceVmState.UNKNOWN, e);
            }
        }
        link.send(new HandshakeFrames.Ready());
    }

    /**
     * @return the disks' receiver
     * @throws WireException if SETUP announced no disk
     */
    DiskReceiver disks() throws WireException {
        if (disks == null) {
            throw new WireException(Kind.UNEXPECTED, "a disk frame, but SETUP announced no disk");
        }
        return disks;
    }

    /** @return the disks' receiver, or null for a VM without disks */
    DiskReceiver disksOrNull() {
        return disks;
    }

    /**
     * Adds a MISSING_PAGES chunk to the pages announced for post-copy.
     *
     * @throws WireException if SETUP did not announce that the migration may switch to post-copy:
     *                       the set, one bit per page of the span, is made only for one that may
     */
    void announceMissing(PageBitmap chunk) throws WireException {
        if (!announced.mayPostcopy()) {
            throw new WireException(Kind.UNEXPECTED, "MISSING_PAGES, but SETUP did not announce post-copy");
        }
        if (announcedMissing == null) {
            announcedMissing = new PageSet(announced.descriptor().memoryLayout().pageSpan());
        }
        chunk.addTo(announcedMissing);
    }

    /**
     * At SWITCHOVER: a post-copy or hybrid migration's switchover always hands over to post-copy,
     * so the target's demand paging does ahead what it can ({@link DemandPaging#prepare}), while
     * the source still collects its dirty log and saves its state. Not with data connections,
     * whose threads may still be writing pages of the last round.
     *
     * @param dataConnections whether the migration has data connections
     */
    void switchoverStarted(boolean dataConnections) {
        Strategy strategy = announced.strategy(); // SWITCHOVER is accepted only after SETUP
        if (dataConnections || (strategy != Strategy.POSTCOPY && strategy != Strategy.HYBRID)) {
            return;
        }
        Optional<DemandPaging> paging = target.demandPaging();
        if (paging.isPresent()) {
            paging.get().prepare();
            postcopyPrepared = true;
        }
    }

    /** @return whether demand paging was prepared at SWITCHOVER (then no page may arrive before COMMIT) */
    boolean postcopyPrepared() {
        return postcopyPrepared;
    }

    /**
     * Loads the state COMMIT closes, arms post-copy if it says pages are still to come, and
     * resumes the target.
     *
     * @return the post-copy receiver, or null if every page is here
     * @throws WireException if the state is incomplete or post-copy was not announced consistently
     */
    PostcopyReceiver commit(SwitchoverFrames.Commit commit) throws WireException, MigrationException {
        if (replay != null && (!replay.finalArrived() || verifier.result().outcome() != Verification.VERIFIED)) {
            throw new WireException(Kind.UNEXPECTED, "COMMIT of a trace-and-replay migration before its memory was "
                    + "replayed and verified (" + verifier.result().outcome() + ")");
        }
        if (postcopyPrepared && !commit.postcopy()) {
            throw new WireException(Kind.UNEXPECTED, "a pre-copy COMMIT in a " + announced.strategy()
                    + " migration, whose switchover hands over to post-copy");
        }
        context.commitArrived();
        stateLoader.load(commit, target);
        PostcopyReceiver postcopy = null;
        if (commit.postcopy()) {
            if (announcedMissing == null) {
                throw new WireException(Kind.UNEXPECTED, "post-copy COMMIT without MISSING_PAGES");
            }
            if (!announced.mayPostcopy()) {
                throw new WireException(Kind.UNEXPECTED, "post-copy COMMIT, but SETUP did not announce post-copy");
            }
            postcopy = new PostcopyReceiver(target.demandPaging().orElseThrow(), announcedMissing, time, link,
                    announced.descriptor().vcpuCount());
            applier.postcopy(postcopy);
            if (disks != null) {
                disks.armDemand(link);
            }
        } else if (announcedMissing != null) {
            throw new WireException(Kind.UNEXPECTED, "MISSING_PAGES announced, but COMMIT is not post-copy");
        } else if (disks != null && disks.anyMissing()) {
            throw new WireException(Kind.UNEXPECTED, "DISK_MISSING announced, but COMMIT is not post-copy");
        }
        stateLoader.startDevices();
        context.stateLoaded();
        if (!options.keepPausedAtDestination()) {
            target.vcpus().resume();
        }
        context.resumed();
        return postcopy;
    }

    /**
     * Before the resume: discards the target and tells the source, unless the failure came from
     * the source or the channel.
     *
     * @return the failure to report
     */
    MigrationException discard(Throwable e) {
        MigrationException error = e instanceof MigrationException me ? me
                : new MigrationException("destination failed: " + e, context.phase(), SourceVmState.UNKNOWN, e);
        discardTarget(error);
        boolean peerAborted = error instanceof MigrationAbortedException || error instanceof MigrationCancelledException;
        if (!peerAborted && !(error instanceof ChannelException)) {
            link.abort(error instanceof ProtocolException ? ControlFrames.AbortCode.PROTOCOL_ERROR
                    : ControlFrames.AbortCode.TARGET_ERROR, error.reason());
        }
        return error;
    }

    /** Before the resume: closes (discards) the target, if one was created. */
    void discardTarget(MigrationException error) {
        if (target == null) {
            return;
        }
        try {
            target.close();
        } catch (RuntimeException closeError) {
            error.addSuppressed(closeError);
        }
        LOG.info("destination discarded the partly received VM: {}", error.reason());
    }

    /** After a failed post-copy: pauses and discards the target; what fails on the way is added to {@code failure}. */
    void stopTarget(MigrationException failure) {
        try {
            target.vcpus().pause();
        } catch (RuntimeException pauseError) {
            LOG.warn("could not pause the target", pauseError);
            failure.addSuppressed(pauseError);
        }
        try {
            target.close();
        } catch (RuntimeException closeError) {
            LOG.warn("could not close the target", closeError);
            failure.addSuppressed(closeError);
        }
    }

    /**
     * @param counters where the applier counts, owned by the thread that applies
     * @return a page applier of its own (the control connection's, or a data connection's
     *         thread's), with this migration's layout, encodings and verifier, ready for post-copy
     *         if SETUP announced it may come
     */
    PageApplier applierFor(MigrationCounters counters) {
        PageApplier made = new PageApplier(target.memory(), announced.descriptor().memoryLayout(),
                agreedEncodings, announced.batchPages(), verifier, counters);
        if (announced.mayPostcopy()) {
            made.preparePostcopy();
        }
        return made;
    }

    /** @return what frames are checked against: the layout and vCPU count once SETUP arrived */
    Message.Context messageContext() {
        return messageContext;
    }

    /** @return the SETUP received, or null */
    HandshakeFrames.Setup announced() {
        return announced;
    }

    /** @return whether DIGESTS follow the switchover */
    /** @return trace and replay's receiver, or null for the other strategies */
    ReplayReceiver replayOrNull() {
        return replay;
    }

    /** @return the new trace-and-replay receiver, once the target and SETUP are checked for it */
    private ReplayReceiver replayReceiver(HandshakeFrames.Setup setup, VmDescriptor descriptor) throws WireException {
        ExecutionReplayer replayer = target.executionReplayer().orElseThrow(() -> new WireException(Kind.INCOMPATIBLE,
                "the source migrates by trace and replay, but this target cannot replay an execution log (its "
                        + "provider offers no ExecutionReplayer)"));
        if (!setup.verify()) {
            throw new WireException(Kind.INCOMPATIBLE, "a trace-and-replay migration is verified before it commits, "
                    + "but SETUP does not ask for verification");
        }
        if (setup.mayPostcopy() || !descriptor.disks().isEmpty()) {
            throw new WireException(Kind.INCOMPATIBLE, "a trace-and-replay migration takes neither post-copy nor disks");
        }
        return new ReplayReceiver(replayer, target.memory(), verifier, link, time, descriptor.vcpuCount(),
                options.receiveLimits().maxStateBytes());
    }

    boolean verifies() {
        return verifier != null;
    }

    /** @return the page size, 0 before SETUP */
    int pageSizeBytes() {
        return announced == null ? 0 : announced.descriptor().memoryLayout().pageSizeBytes();
    }

    MigrationTarget target() {
        return target;
    }

    PageApplier applier() {
        return applier;
    }

    StateLoader stateLoader() {
        return stateLoader;
    }

    /**
     * A vCPU's state in the switchover: kept, and once every vCPU's is here, loaded into the
     * target ahead of COMMIT (not for trace and replay, whose replayer still runs the vCPUs).
     */
    void vcpuState(SwitchoverFrames.VcpuStateFrame frame) throws WireException, MigrationException {
        stateLoader.vcpu(frame);
        if (replay == null) {
            stateLoader.loadVcpusWhenAllArrived(target);
        }
    }

    /** @return the verifier, or null without verification */
    DestinationVerifier verifier() {
        return verifier;
    }
}
