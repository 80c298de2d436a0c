package io.livemig.engine.internal;

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
 * Iterative pre-copy (Clark et al., NSDI'05; QEMU's default). Round 0 sends every non-zero page
 * while the VM runs (the destination starts zeroed); each later round sends the pages the
 * dirty tracker collected during the previous one, so a page written while a round is in flight
 * travels once, in the next round. After each round the expected downtime is the longer of the
 * bytes still dirty over the smoothed transfer rate and the pages still dirty over the smoothed
 * page rate (reading, encoding and decoding cost per page, whatever the bytes: with deltas the
 * page rate, not the link, is what limits a round); at or under the downtime limit the VM is paused, the
 * final dirty set and the state are sent, and the destination resumes.
 *
 * <p>When the rounds stop making progress the {@link ConvergenceMonitor} says so, and the
 * options' escalation ladder acts (raise the limit, throttle the vCPUs, force, abort). The
 * throttle is always restored when the migration ends without handing the VM over.
 */
final class PreCopyStrategy implements SourceStrategy {

    private static final Logger LOG = LoggerFactory.getLogger(PreCopyStrategy.class);

    private final boolean hybrid;

    /**
     * @param hybrid true for HYBRID: after {@link MigrationOptions#hybridRounds()} rounds (fewer on a
     *               stall), always hand the dirty pages to post-copy, so that the downtime is only
     *               the state transfer. (For post-copy only when pre-copy fails, use PRECOPY with
     *               {@code SwitchToPostcopy} in the escalation ladder.)
     */
    PreCopyStrategy(boolean hybrid) {
        this.hybrid = hybrid;
    }

    @Override
    public PageSet run(SourceSession session) throws MigrationException {
        MigrationOptions options = session.options();
        DirtyTracker tracker = session.vm().dirtyTracker().orElseThrow(() -> new IllegalArgumentException(
                "this VM cannot track dirty pages, so it cannot be pre-copied; use COLD or POSTCOPY"));
        Optional<VcpuThrottle> throttle = session.vm().vcpus().throttle();
        int throttleBefore = throttle.map(VcpuThrottle::throttlePercent).orElse(0);
        int pageSize = session.layout().pageSizeBytes();
        long startNanos = session.time().nanoTime();
        Escalation ladder = new Escalation(options, throttle);
        ConvergenceMonitor monitor = new ConvergenceMonitor(options.stallRounds());
        BandwidthEstimator bandwidth = new BandwidthEstimator();
        BandwidthEstimator pageRate = new BandwidthEstimator(16);
        Duration expected = Duration.ofDays(1);
        boolean handedOver = false;
        tracker.start();
        try {
            PageSet toSend = session.initialPages();
            int round = 0;
            while (true) {
                SourceSession.RoundResult r = session.sendPages(toSend, round, round == 0);
                session.ping();
                long collectStart = session.time().nanoTime();
                PageSet dirty = tracker.collect();
                long collectNanos = session.time().nanoTime() - collectStart;
                bandwidth.add(r.bytesOnWire(), r.nanos());
                pageRate.add(r.pagesSent(), r.nanos());
                long dirtyPages = dirty.cardinality();
                // What a dirty page costs on the wire, as the last round measured it (deltas and
                // compressed pages are far smaller than raw ones); a raw page and its entry if unknown.
                double bytesPerPage = r.pagesSent() > 0 ? (double) r.bytesOnWire() / r.pagesSent() : pageSize + 13.0;
                long remainingBytes = (long) (dirtyPages * bytesPerPage);
                long roundNanos = Math.max(1, r.nanos());
                long dirtyRate = (long) (dirtyPages * (double) pageSize * 1e9 / roundNanos);
                // Besides sending the rest, the downtime holds one more collect of the dirty log
                // and the state's trip there and RESUMED's back: at least one round trip.
                expected = max(bandwidth.timeFor(remainingBytes), pageRate.timeFor(dirtyPages))
                        .plusNanos(collectNanos + session.minRoundTripNanos());
                session.roundDone(new RoundStats(round, r.pagesSent(), r.bytesOnWire(), dirtyPages, dirtyRate,
                        bandwidth.bytesPerSecond(), remainingBytes, expected, ladder.throttlePercent(),
                        Duration.ofNanos(r.nanos())));
                toSend = dirty;
                round++;
                if (!hybrid && expected.compareTo(ladder.downtimeLimit()) <= 0) {
                    break;
                }
                boolean limitReached = round >= options.maxRounds() || options.maxTotalTime()
                        .map(max -> session.time().nanoTime() - startNanos >= max.toNanos()).orElse(false);
                boolean stalled = monitor.stalled(remainingBytes, dirtyPages, r.pagesSent());
                if (!stalled && !limitReached && monitor.dirtyingFast(dirtyPages, r.pagesSent())
                        && ladder.stepUpThrottle(session, round - 1)) {
                    monitor.reset();
                }
                if (hybrid && (round >= options.hybridRounds() || stalled || dirtyPages == 0)) {
                    session.policyApplied(round - 1, new EscalationStep.SwitchToPostcopy(), "switch to post-copy");
                    handedOver = true;
                    return handOver(session, tracker, toSend, bandwidth, pageSize);
                }
                if (limitReached || stalled) {
                    Escalation.Outcome outcome = ladder.act(session, round - 1, limitReached);
                    if (outcome == Escalation.Outcome.POSTCOPY) {
                        handedOver = true;
                        return handOver(session, tracker, toSend, bandwidth, pageSize);
                    }
                    if (outcome == Escalation.Outcome.FORCE) {
                        session.markForced();
                        break;
                    }
                    if (outcome == Escalation.Outcome.ABORT) {
                        throw new MigrationAbortedException("pre-copy did not converge after " + round
                                + " rounds (" + remainingBytes + " bytes dirty, expected downtime "
                                + expected.toMillis() + " ms > limit " + ladder.downtimeLimit().toMillis()
                                + " ms); the escalation ladder ended in ABORT", MigrationPhase.LIVE_COPY,
                                SourceVmState.RUNNING);
                    }
                    monitor.reset();
                }
            }
            session.pause(expected, toSend.cardinality() * (long) pageSize);
            PageSet last = tracker.collect();
            last.addAll(toSend);
            SourceSession.RoundResult r = session.sendPages(last, round, false);
            session.roundDone(new RoundStats(round, r.pagesSent(), r.bytesOnWire(), last.cardinality(), 0,
                    bandwidth.bytesPerSecond(), 0, Duration.ZERO, ladder.throttlePercent(),
                    Duration.ofNanos(r.nanos())));
            handedOver = true;
            return null;
        } finally {
            if (handedOver) {
                // Not in the downtime: stopping dirty logging can cost milliseconds (KVM rewrites
                // the memory slot), and nothing needs it stopped before the destination resumes.
                session.afterSwitchover(tracker::stop);
            } else {
                tracker.stop();
            }
            if (!handedOver && throttle.isPresent() && ladder.throttlePercent() != throttleBefore) {
                try {
                    throttle.get().setThrottlePercent(throttleBefore);
                } catch (RuntimeException e) {
                    LOG.warn("could not restore the vCPU throttle to {}%", throttleBefore, e);
                }
            }
        }
    }

    private static Duration max(Duration a, Duration b) {
        return a.compareTo(b) >= 0 ? a : b;
    }

    /** Pauses and returns what post-copy must still send: the last dirty set and what the pause collected. */
    private static PageSet handOver(SourceSession session, DirtyTracker tracker, PageSet toSend,
                                    BandwidthEstimator bandwidth, int pageSize) throws MigrationException {
        session.pause(bandwidth.timeFor(0), toSend.cardinality() * (long) pageSize);
        PageSet last = tracker.collect();
        last.addAll(toSend);
        return last;
    }
}
