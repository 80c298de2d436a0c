package io.livemig.engine.internal.source;

import io.livemig.api.ChannelException;
import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationProgress;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.ProtocolException;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.channel.Reconnector;
import io.livemig.engine.internal.EngineThreads;
import io.livemig.engine.internal.DmaDirtyTracker;
import io.livemig.engine.internal.LiveControl;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.MigrationIds;
import io.livemig.engine.internal.strategy.SourceStrategy;
import io.livemig.engine.internal.strategy.Strategies;
import io.livemig.engine.internal.wire.ControlFrames.AbortCode;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.FrameWarmup;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.DiskSource;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MigratableVm;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;


import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Runs one source-side migration from handshake to report: the handshake, the strategy's memory
 * phase, the switchover commit (or post-copy), verification, and on any failure the clean-up
 * that leaves the VM in the safest state and says where it is: running at the source if the
 * destination was not told to resume, paused if it may have been, split in post-copy.
 *
 * <p>It owns the parts of the source side and wires them together; none of them calls back
 * into it. {@link #run()} runs on the caller's thread; {@link #cancel()} may be called from any.
 */
public final class SourceMigration {

    private static final Logger LOG = LoggerFactory.getLogger(SourceMigration.class);

    private final MigratableVm vm;
    private final MigrationOptions options;
    private final Reconnector reconnector;
    private final TimeSource time;
    private final SourceContext context;
    private final MigrationCounters linkCounters = new MigrationCounters();
    private final SourceLink link;
    private final SourceRecorder recorder;
    private final SwitchoverSender switchover;
    /** The devices' state: pre-copied where they can, the rest in the downtime. */
    private final DeviceCopy devices;
    /** The VM's dirty tracker with its devices' DMA trackers folded in, if it has one. */
    private final Optional<DirtyTracker> dirtyTracker;
    /** The pass-through policy's part here: refused devices, and those unplugged and plugged back. */
    private final FailoverDevices failover;
    /** This migration's id: its recovery and settle connections present it again. */
    private final byte[] sessionId = SourceHandshake.newSessionId();
    /** The id people see (report, logs, progress), derived from the session id. */
    private final String migrationId = MigrationIds.of(sessionId);
    private final LiveControl control;
    private final ProgressMeter meter;
    /** The disks' copy, made when the migration runs. */
    private DiskCopy disks;
    /** Trace and replay's recording, or null for the other strategies. */
    private TraceRecording trace;

    /**
     * @param vm          the source VM; the migration owns it while it runs
     * @param channel     a connected channel to the destination (owned by the caller)
     * @param reconnector replaces a broken link during post-copy
     * @param options     the options
     * @throws IllegalArgumentException if the options ask for data connections ({@code streams} above
     *                                  1) and {@code reconnector} is {@link Reconnector#NONE}: it is
     *                                  what makes them
     */
    public SourceMigration(MigratableVm vm, Channel channel, Reconnector reconnector, MigrationOptions options) {
        options = strategyFor(vm, options);
        if (options.streams() > 1 && reconnector == Reconnector.NONE) {
            throw new IllegalArgumentException("streams = " + options.streams() + " needs a Reconnector that "
                    + "opens more connections to the destination (LiveMigration.migrate with a reconnector); "
                    + "none was given");
        }
        this.failover = new FailoverDevices(vm, options.passThroughPolicy(), options.timeSource());
        // From here on the VM as the migration sees it: its failover devices left out.
        vm = failover.view();
        this.vm = vm;
        this.options = options;
        this.reconnector = reconnector;
        this.time = options.timeSource();
        this.context = new SourceContext(time);
        this.control = new LiveControl(options);
        this.meter = new ProgressMeter(time, options.listener(), options.progressInterval(),
                vm.descriptor().memoryLayout().memoryBytes(), vm.descriptor().memoryLayout().pageSizeBytes(),
                options.downtimeLimit(), context::phase, control, migrationId);
        try (EngineThreads.Binding threads = EngineThreads.bind(options.threadFactory())) {
            // The link makes its return-path reader now, on the caller's thread.
            this.link = new SourceLink(channel, options, vm.descriptor().memoryLayout(), vm.descriptor().disks(),
                    context, linkCounters, control, meter);
        }
        this.recorder = new SourceRecorder(options.strategy(), options.listener(),
                vm.descriptor().memoryLayout().memoryBytes(), vm.descriptor().memoryLayout().pageSizeBytes(), meter,
                migrationId);
        this.devices = new DeviceCopy(vm.devices(), link);
        this.dirtyTracker = DmaDirtyTracker.of(vm.dirtyTracker(), vm.devices());
        this.switchover = new SwitchoverSender(vm, link, context, recorder, devices, sessionId, time.isWallClock());
    }

    /**
     * The options as this VM can take them: a {@link Strategy#TRACE_REPLAY} migration of a VM that
     * cannot be recorded runs as pre-copy if the options allow it; trace and replay always verifies
     * (before the commit: that is what proves the replay exact) and takes no free-page hints.
     */
    private static MigrationOptions strategyFor(MigratableVm vm, MigrationOptions options) {
        if (options.strategy() != Strategy.TRACE_REPLAY) {
            return options;
        }
        if (vm.executionRecorder().isEmpty() && options.traceReplayFallback()) {
            LOG.warn("the VM cannot be recorded (its provider offers no ExecutionRecorder): migrating it by pre-copy "
                    + "instead of trace and replay (MigrationOptions.traceReplayFallback)");
            return options.toBuilder().strategy(Strategy.PRECOPY).build();
        }
        // Always verified; never free-page hints: a page left out as free would be missing from the
        // checkpoint that replay starts from.
        return options.verify() && !options.useFreePageHints() ? options
                : options.toBuilder().verify(true).useFreePageHints(false).build();
    }

    /** @throws MigrationException if this trace-and-replay migration cannot run; nothing was sent */
    private void checkTraceReplay() throws MigrationException {
        String refusal = vm.executionRecorder().isEmpty()
                ? "the VM cannot be recorded: its provider offers no ExecutionRecorder (see its documentation for "
                        + "which guests qualify), and MigrationOptions.traceReplayFallback is off"
                : options.streams() > 1 ? "trace and replay sends its checkpoint and log on one connection; streams = "
                        + options.streams()
                : !vm.descriptor().disks().isEmpty() ? "trace and replay does not migrate disks; the VM has "
                        + vm.descriptor().disks().size()
                : null;
        if (refusal != null) {
            throw new MigrationException("cannot migrate by TRACE_REPLAY: " + refusal, MigrationPhase.HANDSHAKE,
                    SourceVmState.RUNNING, null);
        }
    }

    /** Asks the migration to stop at the next frame boundary, if it has not committed yet. Any thread. */
    public void cancel() {
        link.cancel();
    }

    /** @return the migration's id, as in its report and its log lines' MDC */
    public String migrationId() {
        return migrationId;
    }

    /** @return the migration's figures now. Any thread. */
    public MigrationProgress progress() {
        return meter.snapshot();
    }

    /**
     * Sets the downtime limit for the rounds after the current one. Any thread.
     *
     * @throws IllegalArgumentException if {@code limit} is not positive
     * @throws IllegalStateException    if the VM was already paused (or the strategy never uses one)
     */
    public void setDowntimeLimit(Duration limit) {
        if (limit.isNegative() || limit.isZero()) {
            throw new IllegalArgumentException("the downtime limit must be positive, was " + limit);
        }
        if (options.strategy() == Strategy.COLD) {
            throw new IllegalStateException("a COLD migration has no downtime limit: its whole copy is downtime");
        }
        requireBeforePause("change the downtime limit");
        control.setDowntimeLimit(limit);
    }

    /**
     * Sets the bandwidth cap of the phase in force (the live copy, or post-copy once the VM runs at
     * the destination), effective from the next frame. Any thread.
     *
     * @throws IllegalArgumentException if negative
     * @throws IllegalStateException    if the migration has ended
     */
    public void setBandwidthLimit(long bytesPerSecond) {
        if (bytesPerSecond < 0) {
            throw new IllegalArgumentException("the bandwidth limit must be 0 (none) or positive, was "
                    + bytesPerSecond + " bytes/s");
        }
        if (context.phase() == MigrationPhase.DONE) {
            throw new IllegalStateException("the migration has ended; there is no bandwidth left to limit");
        }
        control.setBandwidth(bytesPerSecond);
    }

    /**
     * Switches to post-copy at the next frame boundary. Any thread.
     *
     * @throws IllegalStateException if the migration cannot switch: the options did not allow
     *                               post-copy (the destination was not told to page on demand),
     *                               it already runs post-copy, or the VM was already paused
     */
    public void startPostcopy() {
        switch (options.strategy()) {
            case COLD -> throw new IllegalStateException("a COLD migration cannot switch to post-copy");
            case POSTCOPY -> throw new IllegalStateException("a POSTCOPY migration is post-copy already");
            case TRACE_REPLAY -> throw new IllegalStateException("a TRACE_REPLAY migration cannot switch to post-copy: "
                    + "the destination replays, it does not page on demand");
            case PRECOPY -> {
                if (options.escalation().stream().noneMatch(s -> s instanceof EscalationStep.SwitchToPostcopy)) {
                    throw new IllegalStateException("this pre-copy migration did not allow post-copy, so the "
                            + "destination does not page on demand: use Strategy.HYBRID or put "
                            + "EscalationStep.SwitchToPostcopy in the escalation ladder");
                }
            }
            default -> { }
        }
        requireBeforePause("switch to post-copy");
        control.requestPostcopy();
    }

    /**
     * Releases a held switchover (see {@link MigrationOptions#switchoverHoldTimeout()}); before the
     * hold began, the hold is skipped. Idempotent. Any thread.
     *
     * @throws IllegalStateException if the options hold no switchover
     */
    public void releaseSwitchover() {
        if (options.switchoverHoldTimeout().isEmpty()) {
            throw new IllegalStateException("the options hold no switchover (MigrationOptions.Builder.holdSwitchover)");
        }
        control.release();
    }

    private void requireBeforePause(String what) {
        SourceState state = context.state();
        if (state != SourceState.HANDSHAKE && state != SourceState.LIVE_COPY) {
            throw new IllegalStateException("cannot " + what + ": the VM was already paused (the migration is in "
                    + context.phase() + ")");
        }
    }

    /**
     * @return the report of a completed migration
     * @throws MigrationException if it failed or was cancelled; says where the VM is
     */
    public MigrationReport run() throws MigrationException {
        String previousId = MDC.get(MigrationIds.MDC_KEY);
        MDC.put(MigrationIds.MDC_KEY, migrationId);
        meter.startEmitting();
        try (EngineThreads.Binding threads = EngineThreads.bind(options.threadFactory())) {
            return runWithId();
        } finally {
            meter.stopEmitting();
            if (previousId == null) {
                MDC.remove(MigrationIds.MDC_KEY);
            } else {
                MDC.put(MigrationIds.MDC_KEY, previousId);
            }
        }
    }

    private MigrationReport runWithId() throws MigrationException {
        SourceStrategy strategy = Strategies.forName(options.strategy());
        Runnable afterSwitchover = SourceStrategy.NOTHING;
        PageSender sender = null;
        ControlFrames.Outcome settled = null;
        try {
            if (options.strategy() == Strategy.TRACE_REPLAY) {
                checkTraceReplay();
            }
            // Before anything is sent: a refused device stops it here, a failover device leaves the guest.
            failover.unplug();
            disks = new DiskCopy(checkedDisks(vm), options.strategy(), options.diskCopyMode(), link, time);
            link.start();
            SourceHandshake.Agreement agreed = SourceHandshake.run(link, sessionId, vm.descriptor(), options, disks);
            FrameWarmup.run();
            devices.prepare();
            context.moveTo(SourceState.LIVE_COPY);
            if (options.strategy() == Strategy.PRECOPY || options.strategy() == Strategy.HYBRID) {
                devices.startLive();
            }
            recorder.started(link.peer());
            SourceStreams streams = options.streams() > 1 ? SourceStreams.open(link, reconnector, sessionId,
                    agreed.maxFrameBytes(), options, vm.descriptor().memoryLayout(), context) : null;
            io.livemig.spi.MemorySource pages = vm.memory();
            if (options.strategy() == Strategy.TRACE_REPLAY) {
                SnapshotMemory snapshot = new SnapshotMemory(vm.memory());
                trace = new TraceRecording(vm, vm.executionRecorder().orElseThrow(), snapshot, link, time);
                pages = snapshot;
            }
            sender = new PageSender(pages, options, agreed.batchPages(), agreed.maxFrameBytes(), link, streams);
            disks.start(agreed.maxFrameBytes());
            SourceCopy copy = new SourceCopy(vm, options, context, link, sender, switchover, recorder, disks, devices,
                    dirtyTracker, trace);
            SourceStrategy.Outcome outcome = strategy.run(copy);
            afterSwitchover = outcome.afterSwitchover();
            // instanceof rather than a pattern switch: a switch's first run bootstraps a call site
            // (milliseconds), and this one runs inside the downtime.
            if (outcome instanceof SourceStrategy.Postcopy postcopy) {
                ChannelException brokenAtResume = null;
                try {
                    switchover.commitPostcopy(postcopy.missing());
                } catch (ChannelException broken) {
                    // RESUMED never came: ask. If the VM runs there, post-copy goes on after a recovery.
                    settled = context.state() == SourceState.COMMITTED ? settle(broken) : null;
                    if (settled != ControlFrames.Outcome.RESUMED) {
                        throw broken;
                    }
                    switchover.resumedUnconfirmed(postcopy.missing());
                    brokenAtResume = broken;
                }
                afterSwitchover = runOnce(afterSwitchover);
                recorder.postcopyDone(new PostcopyPush(link, sender, recorder, vm.descriptor().memoryLayout(),
                        options, reconnector, sessionId, copy.diskPostcopy()).run(postcopy.missing(),
                        recorder.roundCount(), brokenAtResume));
                context.moveTo(SourceState.HANDED_OVER);
            } else {
                if (((SourceStrategy.Commit) outcome).forced()) {
                    recorder.forced();
                }
                if (trace != null) {
                    verifyReplay();
                }
                switchover.commit();
                if (trace != null) {
                    trace.stop();
                }
                afterSwitchover = runOnce(afterSwitchover);
            }
        } catch (Throwable t) {
            if (settled == null && t instanceof ChannelException broken && context.state() == SourceState.COMMITTED) {
                settled = settle(broken);
            }
            if (settled == ControlFrames.Outcome.RESUMED) {
                // The VM runs at the destination: the migration completed, unverified. RESUMED never
                // came; the answer bounds the resume from above, as RESUMED's arrival would have.
                context.resumedAt(time.nanoTime());
                context.moveTo(SourceState.HANDED_OVER);
                runOnce(afterSwitchover);
                context.moveTo(SourceState.DONE);
                MigrationReport report = report(MigrationStatus.COMPLETED, null, time.nanoTime(), sender);
                close(sender);
                recorder.finished(report, null);
                return report;
            }
            // A destination sends ABORT only before it resumes, and has discarded what it got
            // (protocol.md, section 5): an ABORT in place of RESUMED settles the switchover too.
            MigrationException error = fail(t, settled == ControlFrames.Outcome.DISCARDED
                    || t instanceof MigrationAbortedException);
            if (error.sourceState() == SourceVmState.RUNNING || error.sourceState() == SourceVmState.PAUSED) {
                // The VM stays here: its failover devices come back.
                failover.plugBack();
            }
            runOnce(afterSwitchover);
            MigrationReport report = report(error instanceof MigrationCancelledException
                    ? MigrationStatus.CANCELLED : MigrationStatus.FAILED, error, time.nanoTime(), sender);
            error.attachReport(report);
            close(sender);
            recorder.finished(report, error);
            if (t instanceof Error fatal && !(t instanceof StackOverflowError)) {
                throw fatal;
            }
            throw error;
        }
        long end = time.nanoTime();
        // Trace and replay was verified before the commit.
        if (options.verify() && trace == null) {
            try {
                recorder.verified(SourceVerifier.verify(vm.memory(), sender.skippedFreePages(), vm.disks(), link,
                        time));
            } catch (MigrationException | RuntimeException e) {
                // The VM runs at the destination: the migration succeeded, only its check did not.
                LOG.warn("the VM runs at the destination, but verification did not complete: {}", e.getMessage());
            }
        }
        context.moveTo(SourceState.DONE);
        MigrationReport report = report(MigrationStatus.COMPLETED, null, end, sender);
        close(sender);
        recorder.finished(report, null);
        return report;
    }

    /** @return the VM's disks, once checked against its descriptor */
    private static List<? extends DiskSource> checkedDisks(MigratableVm vm) {
        List<? extends DiskSource> disks = vm.disks();
        List<DiskDescriptor> described = disks.stream().map(DiskSource::descriptor).toList();
        if (!described.equals(vm.descriptor().disks())) {
            throw new IllegalArgumentException("the VM's disks " + described + " are not the ones its descriptor lists "
                    + vm.descriptor().disks());
        }
        return disks;
    }

    /**
     * Trace and replay, the VM paused and the last segment replayed: compares the destination's
     * memory as replay left it with this VM's, page for page, before anything commits.
     *
     * @throws MigrationException if a page differs: the replay diverged; the VM resumes here
     */
    private void verifyReplay() throws MigrationException {
        io.livemig.api.MigrationReport.Check check = SourceVerifier.verify(vm.memory(), null, List.of(), link, time);
        recorder.verified(check);
        if (check.outcome() != io.livemig.api.Verification.VERIFIED) {
            throw new MigrationException("the replay diverged: after the last log segment " + check.mismatchedPages()
                    + " pages of the destination's memory differ from the source's; the VM stays here",
                    MigrationPhase.STOP_COPY, SourceVmState.PAUSED, null);
        }
    }

    private MigrationReport report(MigrationStatus status, MigrationException error, long endNanos, PageSender sender) {
        if (trace != null) {
            recorder.traceReplay(trace.stats());
        }
        return recorder.report(status, error, context, endNanos, counters(sender),
                disks == null ? List.of() : disks.stats(), failover.stats(context.resumedNanos()));
    }

    private List<MigrationCounters> counters(PageSender sender) {
        List<MigrationCounters> all = new ArrayList<>();
        all.add(linkCounters);
        if (sender != null) {
            all.addAll(sender.counters());
        }
        return all;
    }

    private static void close(PageSender sender) {
        if (sender != null) {
            sender.close();
        }
    }

    /** Runs {@code task} (clean-up after the switchover) and returns what is left to run: nothing. */
    private static Runnable runOnce(Runnable task) {
        try {
            task.run();
        } catch (RuntimeException e) {
            LOG.warn("clean-up after the switchover failed", e);
        }
        return SourceStrategy.NOTHING;
    }

    /**
     * Puts the VM in the safest state, tells the destination (best effort), and returns the
     * exception to throw, with the VM's true state.
     */
    private MigrationException fail(Throwable error, boolean destinationDiscarded) {
        if (trace != null) {
            // Before any resume: the VM runs on unrecorded.
            trace.stop();
        }
        SourceVmState vmState = switch (context.state()) {
            case STOP_COPY -> resumeSource();
            // COMMIT went out but RESUMED never came back: the destination may be running the VM.
            // Resuming here could run it twice; leave it paused and say so, unless the destination
            // said, when asked, that it discarded what it received.
            case COMMITTED -> destinationDiscarded ? resumeSource() : SourceVmState.UNKNOWN;
            // The VM ran at the destination: resuming here would roll it back. Stay paused.
            case POST_COPY -> SourceVmState.SPLIT;
            default -> context.vmState();
        };
        if (vmState == SourceVmState.RUNNING && context.state() != SourceState.STOP_COPY
                && context.state() != SourceState.COMMITTED) {
            devices.abort();
        }
        dirtyTracker.ifPresent(t -> {
            try {
                t.stop();
            } catch (RuntimeException e) {
                LOG.warn("could not stop dirty tracking", e);
            }
        });
        if (disks != null) {
            disks.stop();
        }
        MigrationException result = toMigrationException(error, vmState);
        if (vmState != SourceVmState.HANDED_OVER) {
            AbortCode code = result instanceof MigrationCancelledException ? AbortCode.CANCELLED
                    : result instanceof ProtocolException ? AbortCode.PROTOCOL_ERROR : AbortCode.SOURCE_ERROR;
            link.abort(code, result.reason());
        }
        return result;
    }

    /**
     * The channel broke after COMMIT went out and before RESUMED came back: reconnects (within the
     * recovery window, greeting again with this migration's session id and the secret) and asks
     * the destination whether it resumed the VM.
     *
     * @return the destination's answer, or null if it could not be asked
     */
    private ControlFrames.Outcome settle(ChannelException broken) {
        if (reconnector == Reconnector.NONE) {
            return null;
        }
        LOG.warn("the link broke after COMMIT ({}); asking the destination how the switchover ended", broken.reason());
        try {
            SourceHandshake.regreet(link, reconnector, HandshakeFrames.Purpose.SETTLE, sessionId, options);
            ControlFrames.Outcome outcome = link.await(ControlFrames.Settled.class).message().outcome();
            LOG.warn("the destination says the VM was {}", outcome);
            return outcome;
        } catch (IOException | MigrationException | RuntimeException e) {
            LOG.warn("could not settle the switchover: {}", e.getMessage());
            broken.addSuppressed(e);
            return null;
        }
    }

    private SourceVmState resumeSource() {
        // The devices run again before the vCPUs that drive them.
        devices.abort();
        try {
            vm.vcpus().resume();
            return SourceVmState.RUNNING;
        } catch (RuntimeException e) {
            LOG.warn("could not resume the source VM after a failed migration", e);
            return SourceVmState.PAUSED;
        }
    }

    private MigrationException toMigrationException(Throwable error, SourceVmState state) {
        if (error instanceof MigrationException me) {
            return me.sourceState() == state ? me : me.withSourceState(state);
        }
        if (error instanceof InterruptedException) {
            Thread.currentThread().interrupt();
            return new MigrationCancelledException("interrupted", context.phase(), state);
        }
        return new MigrationException("migration failed: " + error, context.phase(), state, error);
    }
}
