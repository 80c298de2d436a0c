package io.livemig.engine;

import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.engine.internal.strategy.ExtraRounds;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.PageSet;

import java.time.Duration;
import java.util.Objects;

/**
 * Before a migration: how fast does the guest dirty memory, and which strategy will do?
 *
 * <p>{@link #estimateDirtyRate} samples the VM's dirty tracker for a while, as QEMU's
 * {@code calc-dirty-rate} does. {@link #advise} predicts pre-copy with the classic geometric
 * model (Clark et al.): round 0 sends the first-round bytes at the link rate; each later round
 * sends what the guest dirtied during the previous one: for writes spread uniformly over memory of
 * {@code M} bytes, {@code M × (1 − e^(−dirtyRate × duration / M))} distinct bytes (the linear
 * {@code dirtyRate × duration} while rounds are short, saturating at {@code M} when they are long); pre-copy switches over when a round's bytes fit the downtime limit at the link
 * rate (after more rounds while each cuts the rest by a third, as pre-copy does), and does not
 * converge when the guest dirties at least as fast as the link carries, or the rounds run out
 * first. It assumes a steady dirty rate, uniform writes and a dedicated link;
 * guests that rewrite a small hot set dirty fewer distinct pages than that, so for them the
 * predicted total time is an upper bound.
 *
 * <p>Thread-safe and stateless.
 */
public final class MigrationAdvisor {

    /** The page size the model counts pages in for {@link ExtraRounds}. */
    private static final double PAGE_BYTES = 4096;

    private MigrationAdvisor() {
    }

    /**
     * A measured dirty rate.
     *
     * @param sample              how long the tracker was sampled
     * @param dirtyPages          distinct pages written during the sample
     * @param pageSizeBytes       the page size
     * @param dirtyBytesPerSecond {@code dirtyPages × pageSizeBytes / sample}; distinct pages are
     *                            counted, so it saturates at the writable working set
     */
    public record DirtyRateEstimate(Duration sample, long dirtyPages, int pageSizeBytes, long dirtyBytesPerSecond) {
        /**
         * Checks the components.
         *
         * @throws IllegalArgumentException for negative values
         */
        public DirtyRateEstimate {
            Objects.requireNonNull(sample, "sample");
            if (dirtyPages < 0 || pageSizeBytes <= 0 || dirtyBytesPerSecond < 0) {
                throw new IllegalArgumentException("dirty-rate estimate values must not be negative");
            }
        }
    }

    /**
     * The advisor's prediction.
     *
     * @param recommended      the strategy to use
     * @param precopyConverges whether pre-copy would meet the downtime limit
     * @param expectedRounds   pre-copy's rounds including the stop-copy one (when it converges)
     * @param expectedTotalTime the recommended strategy's expected total time
     * @param expectedDowntime the recommended strategy's expected downtime
     * @param reason           one sentence on why
     */
    public record Advice(Strategy recommended, boolean precopyConverges, int expectedRounds, Duration expectedTotalTime,
                         Duration expectedDowntime, String reason) {
        /**
         * Checks the components.
         *
         * @throws NullPointerException for null fields
         */
        public Advice {
            Objects.requireNonNull(recommended, "recommended");
            Objects.requireNonNull(expectedTotalTime, "expectedTotalTime");
            Objects.requireNonNull(expectedDowntime, "expectedDowntime");
            Objects.requireNonNull(reason, "reason");
        }
    }

    /**
     * Samples how fast the running guest dirties memory.
     *
     * @param vm     a running VM with a dirty tracker that no migration is using
     * @param sample how long to sample, positive
     * @param time   the clock to wait on (the VM's own clock in virtual time)
     * @return the estimate
     * @throws IllegalArgumentException if the VM cannot track dirty pages
     * @throws InterruptedException     if interrupted while sampling (tracking is stopped)
     */
    public static DirtyRateEstimate estimateDirtyRate(MigratableVm vm, Duration sample, TimeSource time)
            throws InterruptedException {
        if (sample.isNegative() || sample.isZero()) {
            throw new IllegalArgumentException("sample must be positive, was " + sample);
        }
        DirtyTracker tracker = vm.dirtyTracker().orElseThrow(() -> new IllegalArgumentException(
                "this VM cannot track dirty pages, so its dirty rate cannot be sampled"));
        int pageSize = vm.descriptor().memoryLayout().pageSizeBytes();
        tracker.start();
        PageSet dirty;
        try {
            long start = time.nanoTime();
            time.sleep(sample);
            dirty = tracker.collect();
            long elapsed = Math.max(1, time.nanoTime() - start);
            long pages = dirty.cardinality();
            return new DirtyRateEstimate(Duration.ofNanos(elapsed), pages, pageSize,
                    (long) (pages * (double) pageSize * 1e9 / elapsed));
        } finally {
            tracker.stop();
        }
    }

    /**
     * Predicts pre-copy and recommends a strategy.
     *
     * @param estimate           the guest's dirty rate
     * @param firstRoundBytes    what pre-copy's round 0 sends: the non-zero memory (all of RAM as an upper bound)
     * @param linkBytesPerSecond the transfer rate available, positive
     * @param downtimeLimit      the acceptable pause
     * @param maxRounds          pre-copy's round limit
     * @return the advice
     */
    public static Advice advise(DirtyRateEstimate estimate, long firstRoundBytes, long linkBytesPerSecond,
                                Duration downtimeLimit, int maxRounds) {
        if (linkBytesPerSecond <= 0 || firstRoundBytes < 0 || maxRounds < 1) {
            throw new IllegalArgumentException("need a positive link rate, non-negative bytes and at least one round");
        }
        double bw = linkBytesPerSecond;
        double dirtyRate = estimate.dirtyBytesPerSecond();
        double limit = downtimeLimit.toNanos() / 1e9;
        double coldSeconds = firstRoundBytes / bw;
        if (coldSeconds <= limit) {
            return new Advice(Strategy.COLD, true, 1, seconds(coldSeconds), seconds(coldSeconds),
                    "all of memory moves within the downtime limit, so stop-and-copy is simplest");
        }
        double roundSeconds = coldSeconds;
        double total = roundSeconds;
        double sent = firstRoundBytes;
        int rounds = 1;
        int extraRounds = 0;
        while (true) {
            double remaining = firstRoundBytes == 0 ? 0
                    : firstRoundBytes * -Math.expm1(-dirtyRate * roundSeconds / firstRoundBytes);
            double stopCopy = remaining / bw;
            // As pre-copy does: once the rest fits, more rounds while each cuts it by a third.
            boolean worthAnother = rounds < maxRounds
                    && ExtraRounds.worthAnother(remaining / PAGE_BYTES, sent / PAGE_BYTES, extraRounds);
            if (stopCopy <= limit && worthAnother) {
                extraRounds++;
            } else if (stopCopy <= limit) {
                return new Advice(Strategy.PRECOPY, true, rounds + 1, seconds(total + stopCopy), seconds(stopCopy),
                        String.format("the guest dirties %.0f MB/s against a %.0f MB/s link: pre-copy converges in %d rounds",
                                dirtyRate / 1e6, bw / 1e6, rounds + 1));
            }
            if (extraRounds == 0 && (dirtyRate >= bw || rounds >= maxRounds)) {
                break;
            }
            roundSeconds = stopCopy;
            total += roundSeconds;
            sent = remaining;
            rounds++;
        }
        return new Advice(Strategy.POSTCOPY, false, rounds + 1, seconds(coldSeconds), Duration.ZERO,
                String.format("the guest dirties %.0f MB/s against a %.0f MB/s link: pre-copy %s; post-copy moves "
                        + "each page once after a pause of only the vCPU and device state", dirtyRate / 1e6, bw / 1e6,
                        dirtyRate >= bw ? "cannot converge" : "does not converge within " + maxRounds + " rounds"));
    }

    private static Duration seconds(double s) {
        return Duration.ofNanos((long) (s * 1e9));
    }
}
