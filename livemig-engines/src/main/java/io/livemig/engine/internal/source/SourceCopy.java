package io.livemig.engine.internal.source;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.RoundStats;
import io.livemig.api.TimeSource;
import io.livemig.engine.internal.LiveControl;
import io.livemig.engine.internal.strategy.CopyContext;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuThrottle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Optional;

/**
 * The source side's {@link CopyContext}: what a strategy may do, each operation handed to the
 * part that owns it (pages to the {@link PageSender}, the pause to the {@link SwitchoverSender},
 * rounds and escalations to the {@link SourceRecorder}, probes to the {@link SourceLink}).
 *
 * <p>The migration's thread only.
 */
final class SourceCopy implements CopyContext {

    private static final Logger LOG = LoggerFactory.getLogger(SourceCopy.class);

    private final MigratableVm vm;
    private final MigrationOptions options;
    private final MemoryLayout layout;
    private final SourceContext context;
    private final SourceLink link;
    private final PageSender sender;
    private final SwitchoverSender switchover;
    private final SourceRecorder recorder;
    private final DiskCopy disks;
    private final DeviceCopy devices;
    /** The VM's dirty tracker with its devices' DMA trackers folded in. */
    private final Optional<DirtyTracker> dirtyTracker;
    /** Set by {@link #handOverDisks} when the disks' last blocks follow the resume. */
    private DiskPostcopy diskPostcopy;
    /** The caller's live changes: caps, downtime limit, post-copy request, switchover hold. */
    private final LiveControl control;
    private final ProgressMeter meter;
    /** When the switchover hold began, on the migration's clock, or -1. */
    private long holdStartNanos = -1;
    /** How long a held switchover waits for the release between two rounds. */
    private static final long HOLD_POLL_NANOS = 50_000_000L;
    private Duration downtimeLimit;
    /** Trace and replay's recording, or null for the other strategies. */
    private final TraceRecording trace;

    SourceCopy(MigratableVm vm, MigrationOptions options, SourceContext context, SourceLink link, PageSender sender,
               SwitchoverSender switchover, SourceRecorder recorder, DiskCopy disks, DeviceCopy devices,
               Optional<DirtyTracker> dirtyTracker, TraceRecording trace) {
        this.trace = trace;
        this.devices = devices;
        this.dirtyTracker = dirtyTracker;
        this.vm = vm;
        this.options = options;
        this.layout = vm.descriptor().memoryLayout();
        this.context = context;
        this.link = link;
        this.sender = sender;
        this.switchover = switchover;
        this.recorder = recorder;
        this.disks = disks;
        this.control = link.control();
        this.meter = link.meter();
        this.downtimeLimit = options.downtimeLimit();
    }

    @Override
    public MigrationOptions options() {
        return options;
    }

    @Override
    public MemoryLayout layout() {
        return layout;
    }

    @Override
    public TimeSource time() {
        return options.timeSource();
    }

    @Override
    public Optional<DirtyTracker> dirtyTracker() {
        return dirtyTracker;
    }

    @Override
    public Optional<VcpuThrottle> throttle() {
        return vm.vcpus().throttle();
    }

    @Override
    public PageSet initialPages() {
        PageSet all = PageSet.allOf(layout);
        // Pages the provider knows to be zero without reading them (never written) are left out:
        // the destination starts zeroed, and a later write to one is collected as dirty.
        vm.memory().populatedPages().ifPresent(populated -> {
            all.retainAll(populated);
            LOG.debug("populated pages: {} of {}", all.cardinality(), layout.pageCount());
        });
        if (options.useFreePageHints()) {
            vm.freePageHints().ifPresent(hints -> {
                all.removeAll(hints.freePages());
                PageSet freeRam = PageSet.allOf(layout);
                freeRam.removeAll(all);
                sender.skipFreePages(freeRam);
                LOG.debug("free-page hints: skipping {} pages", freeRam.cardinality());
            });
        }
        return all;
    }

    @Override
    public RoundResult sendRound(PageSet pages, int round, boolean skipZeroPages) throws MigrationException {
        context.finalSendStarted();
        if (meter != null) {
            meter.roundStarted(round, pages.cardinality());
        }
        boolean live = context.state() == SourceState.LIVE_COPY;
        if (!live) {
            // The destination loads them while the last pages travel.
            switchover.sendVcpuStates();
        }
        return sender.sendRound(pages, round, skipZeroPages, live);
    }

    @Override
    public void probeRoundTrip() throws MigrationException {
        if (!options.timeSource().isWallClock() || context.state() != SourceState.LIVE_COPY) {
            return;
        }
        sender.flush();
        link.pingAndWait();
    }

    @Override
    public long minRoundTripNanos() {
        return link.minRoundTripNanos();
    }

    @Override
    public void roundDone(RoundStats stats) {
        if (meter != null) {
            meter.roundDone(stats, downtimeLimit);
        }
        recorder.roundDone(stats);
    }

    @Override
    public void escalated(int round, EscalationStep step, String action) {
        recorder.escalated(round, step, action);
    }

    @Override
    public void pause(Duration expectedDowntime, long remainingBytes) throws MigrationException {
        // Cold, post-copy and hybrid hold here, with nothing to copy meanwhile; pre-copy held already.
        while (!switchoverReleased(recorder.roundCount() - 1, expectedDowntime)) {
            // waits a little per call
        }
        switchover.pause(expectedDowntime, remainingBytes);
        // Before the last collects: a request completing now may still write guest memory and the disk.
        disks.drain();
    }

    @Override
    public DeviceRound sendDeviceRound() throws MigrationException {
        if (context.state() != SourceState.LIVE_COPY) {
            return DeviceRound.NONE;
        }
        // The devices' pre-copy data of this round travels after its pages.
        long start = options.timeSource().nanoTime();
        sender.flush();
        long bytes = devices.sendLive();
        return bytes == 0 ? DeviceRound.NONE : new DeviceRound(bytes, options.timeSource().nanoTime() - start);
    }

    @Override
    public long devicePendingBytes() {
        return devices.pendingBytes();
    }

    @Override
    public Optional<Duration> takeDowntimeLimit() {
        return control.takeDowntimeLimit();
    }

    @Override
    public void downtimeLimitInForce(Duration limit) {
        downtimeLimit = limit;
    }

    @Override
    public boolean postcopyRequested() {
        return control.postcopyRequested();
    }

    @Override
    public boolean switchoverReleased(int round, Duration expected) throws MigrationException {
        if (control.released()) {
            control.held(false);
            return true;
        }
        Duration timeout = control.holdTimeout().orElseThrow();
        TimeSource time = options.timeSource();
        long now = time.nanoTime();
        if (holdStartNanos < 0) {
            holdStartNanos = now;
            control.held(true);
            recorder.switchoverHeld(Math.max(0, round), expected, timeout);
        }
        long left = holdStartNanos + timeout.toNanos() - now;
        if (left <= 0) {
            control.held(false);
            throw context.aborted("the switchover was held for " + timeout.toMillis()
                    + " ms and not released; the VM keeps running at the source");
        }
        link.checkCancelled();
        boolean released;
        try {
            if (time.isWallClock()) {
                released = control.awaitRelease(Math.min(left, HOLD_POLL_NANOS));
            } else {
                time.sleepNanos(Math.min(left, HOLD_POLL_NANOS));
                released = control.released();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw link.interrupted();
        }
        link.tick();
        link.checkCancelled();
        if (released) {
            control.held(false);
        }
        return released;
    }

    @Override
    public void handOverDisks() throws MigrationException {
        if (!disks.any()) {
            return;
        }
        if (disks.canDemand()) {
            diskPostcopy = disks.handOverPostcopy();
        } else {
            sender.flush();
            disks.sendRound(true);
        }
    }

    /** @return the disks' post-copy phase, if the switchover left blocks for after the resume, else null */
    DiskPostcopy diskPostcopy() {
        return diskPostcopy;
    }

    @Override
    public boolean hasDisks() {
        return disks.any();
    }

    @Override
    public DiskRound sendDiskRound(boolean paused) throws MigrationException {
        if (!disks.any()) {
            return DiskRound.NONE;
        }
        // Disk frames travel on the control link, after the pages sent so far.
        sender.flush();
        return disks.sendRound(paused);
    }

    @Override
    public Checkpoint takeCheckpoint() throws MigrationException {
        return trace().take(this::initialPages);
    }

    @Override
    public RoundResult sendCheckpoint() throws MigrationException {
        if (meter != null) {
            meter.roundStarted(0, layout.pageCount());
        }
        return trace().send(sender);
    }

    @Override
    public LogShipment sendLog(boolean last) throws MigrationException {
        if (last) {
            context.finalSendStarted();
        }
        return trace().ship(last);
    }

    @Override
    public Replayed awaitReplayed(LogShipment shipment, Duration patience) throws MigrationException {
        return trace().awaitReplayed(shipment, patience.toNanos());
    }

    private TraceRecording trace() {
        if (trace == null) {
            throw new IllegalStateException("not a trace-and-replay migration");
        }
        return trace;
    }
}
