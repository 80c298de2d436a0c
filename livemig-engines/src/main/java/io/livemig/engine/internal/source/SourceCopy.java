package io.livemig.engine.internal.source;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.RoundStats;
import io.livemig.api.TimeSource;
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
    /** Set by {@link #handOverDisks} when the disks' last blocks follow the resume. */
    private DiskPostcopy diskPostcopy;

    SourceCopy(MigratableVm vm, MigrationOptions options, SourceContext context, SourceLink link, PageSender sender,
               SwitchoverSender switchover, SourceRecorder recorder, DiskCopy disks) {
        this.vm = vm;
        this.options = options;
        this.layout = vm.descriptor().memoryLayout();
        this.context = context;
        this.link = link;
        this.sender = sender;
        this.switchover = switchover;
        this.recorder = recorder;
        this.disks = disks;
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
        return vm.dirtyTracker();
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
        return sender.sendRound(pages, round, skipZeroPages);
    }

    @Override
    public void probeRoundTrip() throws MigrationException {
        if (!options.timeSource().isWallClock() || context.state() != SourceState.LIVE_COPY) {
            return;
        }
        sender.flush();
        link.ping();
    }

    @Override
    public long minRoundTripNanos() {
        return link.minRoundTripNanos();
    }

    @Override
    public void roundDone(RoundStats stats) {
        recorder.roundDone(stats);
    }

    @Override
    public void escalated(int round, EscalationStep step, String action) {
        recorder.escalated(round, step, action);
    }

    @Override
    public void pause(Duration expectedDowntime, long remainingBytes) throws MigrationException {
        switchover.pause(expectedDowntime, remainingBytes);
        // Before the last collects: a request completing now may still write guest memory and the disk.
        disks.drain();
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
}
