package io.livemig.engine.internal.strategy;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationPhase;
import io.livemig.api.RoundStats;
import io.livemig.api.SourceVmState;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuThrottle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Optional;

/**
 * The rounds of iterative pre-copy (Clark et al., NSDI'05; QEMU's default), shared by
 * {@link PrecopyStrategy} and {@link HybridStrategy}. Round 0 sends every non-zero page while the
 * VM runs (the destination starts zeroed); each later round sends the pages the dirty tracker
 * collected during the previous one, so a page written while a round is in flight travels once,
 * in the next round. After each round the expected downtime is the longer of the bytes still
 * dirty over the smoothed transfer rate and the pages still dirty over the smoothed page rate
 * (reading, encoding and decoding cost per page, whatever the bytes: with deltas the page rate,
 * not the link, is what limits a round), plus the switchover's fixed part (one more collect of
 * the dirty log and the shortest probe round trip).
 *
 * <p>When the rounds stop making progress the {@link ConvergenceMonitor} says so, and the
 * options' {@link EscalationLadder} acts (raise the limit, throttle the vCPUs, force, abort,
 * switch to post-copy). The throttle is always restored when the migration ends without handing
 * the VM over. One instance per migration; the migration's thread only.
 */
final class PrecopyRounds {

    private static final Logger LOG = LoggerFactory.getLogger(PrecopyRounds.class);

    /** What the rounds end in. */
    enum Mode {
        /** Switch over once the rest fits the downtime limit. */
        PRECOPY,
        /** Always hand the dirty pages to post-copy after the options' hybrid rounds (fewer on a stall). */
        HYBRID
    }

    private final CopyContext context;
    private final Mode mode;
    private final MigrationOptions options;
    private final DirtyTracker tracker;
    /**
     * Stops dirty tracking after the switchover. Made here, before the rounds: the first method
     * reference of a call site spins a class, milliseconds that must not land in the downtime.
     */
    private final Runnable stopTracking;
    private final Optional<VcpuThrottle> throttle;
    private final int pageSize;
    private final EscalationLadder ladder;
    private final ConvergenceMonitor monitor;
    private final BandwidthEstimator bandwidth = new BandwidthEstimator();
    private final BandwidthEstimator pageRate = new BandwidthEstimator(16);
    /** Rounds added after the rest first fit the limit ({@link ExtraRounds}). */
    private int extraRounds;

    PrecopyRounds(CopyContext context, Mode mode) {
        this.context = context;
        this.mode = mode;
        this.options = context.options();
        this.tracker = context.dirtyTracker().orElseThrow(() -> new IllegalArgumentException(
                "this VM cannot track dirty pages, so it cannot be pre-copied; use COLD or POSTCOPY"));
        this.stopTracking = tracker::stop;
        this.throttle = context.throttle();
        this.pageSize = context.layout().pageSizeBytes();
        this.ladder = new EscalationLadder(options, throttle);
        this.monitor = new ConvergenceMonitor(options.stallRounds());
    }

    SourceStrategy.Outcome run() throws MigrationException {
        int throttleBefore = throttle.map(VcpuThrottle::throttlePercent).orElse(0);
        long startNanos = context.time().nanoTime();
        Duration expected = Duration.ofDays(1);
        boolean handedOver = false;
        tracker.start();
        try {
            PageSet toSend = context.initialPages();
            int round = 0;
            boolean forced = false;
            while (true) {
                CopyContext.RoundResult r = context.sendRound(toSend, round, round == 0);
                if (r.cut()) {
                    // The caller asked for post-copy mid-round: the round's pages all go to post-copy
                    // (those sent already are simply sent again). Disks get their first pass first.
                    if (round == 0 && context.hasDisks()) {
                        context.sendDiskRound(false);
                    }
                    context.escalated(round, new EscalationStep.SwitchToPostcopy(),
                            "switch to post-copy (asked by the caller)");
                    handedOver = true;
                    return handOver(toSend);
                }
                CopyContext.DeviceRound device = context.sendDeviceRound();
                CopyContext.DiskRound disk = context.sendDiskRound(false);
                // Until the destination has applied the round: a round's time is then the whole
                // trip's, and no backlog waits at the destination when the VM pauses.
                long probeStart = context.time().nanoTime();
                context.probeRoundTrip();
                long collectStart = context.time().nanoTime();
                long drainNanos = collectStart - probeStart;
                PageSet dirty = tracker.collect();
                long collectNanos = context.time().nanoTime() - collectStart;
                bandwidth.add(r.bytesOnWire() + disk.bytesOnWire() + device.bytesOnWire(),
                        r.nanos() + disk.nanos() + device.nanos() + drainNanos);
                pageRate.add(r.pagesSent(), r.nanos() + drainNanos);
                long dirtyPages = dirty.cardinality();
                // What a dirty page costs on the wire, as the last round measured it (deltas and
                // compressed pages are far smaller than raw ones); a raw page and its entry if unknown.
                double bytesPerPage = r.pagesSent() > 0 ? (double) r.bytesOnWire() / r.pagesSent() : pageSize + 13.0;
                // The disks' dirty blocks go in the same downtime, as raw blocks, and the devices' state.
                long remainingBytes = (long) (dirtyPages * bytesPerPage) + disk.dirtyBytesLeft()
                        + context.devicePendingBytes();
                long roundNanos = Math.max(1, r.nanos() + disk.nanos() + device.nanos());
                long dirtyRate = (long) (dirtyPages * (double) pageSize * 1e9 / roundNanos);
                // Besides sending the rest, the downtime holds one more collect of the dirty log
                // and the state's trip there and RESUMED's back: at least one round trip.
                expected = max(bandwidth.timeFor(remainingBytes), pageRate.timeFor(dirtyPages))
                        .plusNanos(collectNanos + context.minRoundTripNanos());
                Optional<Duration> asked = context.takeDowntimeLimit();
                if (asked.isPresent()) {
                    ladder.setDowntimeLimit(asked.get());
                    LOG.info("round {}: downtime limit set to {} ms by the caller", round, asked.get().toMillis());
                }
                context.downtimeLimitInForce(ladder.downtimeLimit());
                context.roundDone(new RoundStats(round, r.pagesSent(),
                        r.bytesOnWire() + disk.bytesOnWire() + device.bytesOnWire(), dirtyPages, dirtyRate,
                        bandwidth.bytesPerSecond(), remainingBytes, expected, ladder.throttlePercent(),
                        Duration.ofNanos(r.nanos() + disk.nanos() + device.nanos())));
                toSend = dirty;
                round++;
                if (context.postcopyRequested()) {
                    context.escalated(round - 1, new EscalationStep.SwitchToPostcopy(),
                            "switch to post-copy (asked by the caller)");
                    handedOver = true;
                    return handOver(toSend);
                }
                if (mode == Mode.PRECOPY && expected.compareTo(ladder.downtimeLimit()) <= 0
                        && !worthAnotherRound(dirtyPages, r.pagesSent(), round)) {
                    if (context.switchoverReleased(round - 1, expected)) {
                        break;
                    }
                    // Held by the caller: keep copying what the guest dirties, no escalation meanwhile.
                    continue;
                }
                boolean limitReached = round >= options.maxRounds() || options.maxTotalTime()
                        .map(max -> context.time().nanoTime() - startNanos >= max.toNanos()).orElse(false);
                boolean stalled = monitor.stalled(remainingBytes, dirtyPages, r.pagesSent());
                if (!stalled && !limitReached && monitor.dirtyingFast(dirtyPages, r.pagesSent())) {
                    Optional<EscalationLadder.Action> stepUp = ladder.stepUpThrottle();
                    if (stepUp.isPresent()) {
                        record(round - 1, stepUp.get());
                        monitor.reset();
                    }
                }
                // Hybrid always hands over to post-copy, its limits reached too: the destination
                // counts on that from the pause on (it prepares its demand paging then).
                if (mode == Mode.HYBRID && (round >= options.hybridRounds() || stalled || dirtyPages == 0
                        || limitReached)) {
                    context.escalated(round - 1, new EscalationStep.SwitchToPostcopy(), "switch to post-copy");
                    handedOver = true;
                    return handOver(toSend);
                }
                if (limitReached || stalled) {
                    EscalationLadder.Action action = ladder.act(limitReached);
                    record(round - 1, action);
                    if (action.outcome() == EscalationLadder.Outcome.POSTCOPY) {
                        handedOver = true;
                        return handOver(toSend);
                    }
                    if (action.outcome() == EscalationLadder.Outcome.FORCE) {
                        forced = true;
                        break;
                    }
                    if (action.outcome() == EscalationLadder.Outcome.ABORT) {
                        throw new MigrationAbortedException("pre-copy did not converge after " + round
                                + " rounds (" + remainingBytes + " bytes dirty, expected downtime "
                                + expected.toMillis() + " ms > limit " + ladder.downtimeLimit().toMillis()
                                + " ms); the escalation ladder ended in ABORT", MigrationPhase.LIVE_COPY,
                                SourceVmState.RUNNING);
                    }
                    monitor.reset();
                }
            }
            context.pause(expected, toSend.cardinality() * (long) pageSize);
            PageSet last = tracker.collect();
            last.addAll(toSend);
            CopyContext.RoundResult r = context.sendRound(last, round, false);
            CopyContext.DiskRound disk = context.sendDiskRound(true);
            context.roundDone(new RoundStats(round, r.pagesSent(), r.bytesOnWire() + disk.bytesOnWire(),
                    last.cardinality(), 0, bandwidth.bytesPerSecond(), 0, Duration.ZERO, ladder.throttlePercent(),
                    Duration.ofNanos(r.nanos() + disk.nanos())));
            handedOver = true;
            // Not in the downtime: stopping dirty logging can cost milliseconds (KVM rewrites the
            // memory slot), and nothing needs it stopped before the destination resumes.
            return new SourceStrategy.Commit(forced, stopTracking);
        } finally {
            if (!handedOver) {
                tracker.stop();
                restoreThrottle(throttleBefore);
            }
        }
    }

    /** {@link ExtraRounds}' rule, within the options' round limit; counts the round it allows. */
    private boolean worthAnotherRound(long dirtyPages, long pagesSent, int round) {
        if (round >= options.maxRounds() || !ExtraRounds.worthAnother(dirtyPages, pagesSent, extraRounds)) {
            return false;
        }
        extraRounds++;
        return true;
    }

    private void record(int round, EscalationLadder.Action action) {
        context.escalated(round, action.step(), action.description());
    }

    private void restoreThrottle(int throttleBefore) {
        if (throttle.isPresent() && ladder.throttlePercent() != throttleBefore) {
            try {
                throttle.get().setThrottlePercent(throttleBefore);
            } catch (RuntimeException e) {
                LOG.warn("could not restore the vCPU throttle to {}%", throttleBefore, e);
            }
        }
    }

    private static Duration max(Duration a, Duration b) {
        return a.compareTo(b) >= 0 ? a : b;
    }

    /** Pauses and returns what post-copy must still send: the last dirty set and what the pause collected. */
    private SourceStrategy.Postcopy handOver(PageSet toSend) throws MigrationException {
        context.pause(bandwidth.timeFor(0), toSend.cardinality() * (long) pageSize);
        PageSet last = tracker.collect();
        last.addAll(toSend);
        context.handOverDisks();
        return new SourceStrategy.Postcopy(last, stopTracking);
    }
}
