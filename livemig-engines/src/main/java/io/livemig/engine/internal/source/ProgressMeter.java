package io.livemig.engine.internal.source;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationListener;
import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationProgress;
import io.livemig.api.RoundStats;
import io.livemig.api.TimeSource;
import io.livemig.engine.internal.LiveControl;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * Keeps the figures of {@link MigrationProgress} up to date as the migration runs, and emits
 * {@link MigrationEvent.Progress} at the options' interval. Sending threads count frames and
 * pages ({@link #bytesSent}, {@link #pagesSent}: adders, cheap under contention); the migration's
 * thread notes rounds and calls {@link #tick()} between frames, which emits only on that thread,
 * so the listener hears every event of a migration on one thread. {@link #snapshot()} may be
 * called from any thread.
 */
public final class ProgressMeter {

    private static final Logger LOG = LoggerFactory.getLogger(ProgressMeter.class);

    private final TimeSource time;
    private final MigrationListener listener;
    private final long intervalNanos;
    private final long memoryBytes;
    private final int pageSize;
    private final Supplier<MigrationPhase> phase;
    private final LiveControl control;
    private final String migrationId;
    private final long startNanos;
    private final LongAdder wireBytes = new LongAdder();
    private final LongAdder pages = new LongAdder();
    /** The thread that emits events: the migration's. */
    private volatile Thread owner;
    private long nextEmitNanos;

    // Round-level figures: written by the migration's thread under this object's lock.
    private int round = -1;
    private long roundPages;
    private long roundFirstPage;
    private boolean roundOpen;
    private long leftDirtyBytes;
    private long dirtyBytesPerSecond;
    private int throttlePercent;
    private Duration expectedDowntime = Duration.ZERO;
    private Duration downtimeLimit;
    private long postcopyMissingPages = -1;
    private long postcopyFirstPage;
    // The send rate over the last window: written by the migration's thread under the lock.
    private long windowStartNanos;
    private long windowStartBytes;
    private long windowRate = -1;

    /**
     * @param time          the migration's clock
     * @param listener      told of progress
     * @param interval      how often; zero for no events (snapshots still work)
     * @param memoryBytes   the VM's RAM
     * @param pageSize      the page size in bytes
     * @param downtimeLimit the limit to start from
     * @param phase         where the migration is
     * @param control       the caps in force and the switchover hold
     * @param migrationId   the migration's id
     */
    public ProgressMeter(TimeSource time, MigrationListener listener, Duration interval, long memoryBytes,
                         int pageSize, Duration downtimeLimit, Supplier<MigrationPhase> phase, LiveControl control,
                         String migrationId) {
        this.time = time;
        this.listener = listener;
        this.intervalNanos = interval.toNanos();
        this.memoryBytes = memoryBytes;
        this.pageSize = pageSize;
        this.downtimeLimit = downtimeLimit;
        this.phase = phase;
        this.control = control;
        this.migrationId = migrationId;
        this.startNanos = time.nanoTime();
        this.windowStartNanos = startNanos;
        this.nextEmitNanos = startNanos + intervalNanos;
    }

    /** From now on the calling thread (the migration's) emits the events. */
    public void startEmitting() {
        owner = Thread.currentThread();
        synchronized (this) {
            nextEmitNanos = time.nanoTime() + intervalNanos;
        }
    }

    /** Stops emitting: the migration ends (or the switchover's last steps must not wait on a listener). */
    public void stopEmitting() {
        owner = null;
    }

    /** Counts a forward frame of {@code bytes}. Any thread. */
    public void bytesSent(long bytes) {
        wireBytes.add(bytes);
    }

    /** Counts {@code n} page entries sent. Any thread. */
    public void pagesSent(long n) {
        pages.add(n);
    }

    /** A round of {@code pageCount} pages starts. The migration's thread. */
    public synchronized void roundStarted(int round, long pageCount) {
        this.round = round;
        this.roundPages = pageCount;
        this.roundFirstPage = pages.sum();
        this.roundOpen = true;
    }

    /** A round ended with these figures, under {@code limit}. The migration's thread. */
    public synchronized void roundDone(RoundStats stats, Duration limit) {
        roundOpen = false;
        leftDirtyBytes = stats.remainingBytes();
        dirtyBytesPerSecond = stats.dirtyRateBytesPerSecond();
        throttlePercent = stats.throttlePercent();
        expectedDowntime = stats.expectedDowntime();
        downtimeLimit = limit;
    }

    /** Post-copy began with {@code missingPages} pages at the source only. */
    public synchronized void postcopyStarted(long missingPages) {
        postcopyMissingPages = missingPages;
        postcopyFirstPage = pages.sum();
    }

    /** Emits a progress event if the interval passed. The migration's thread; elsewhere nothing. */
    public void tick() {
        if (intervalNanos == 0 || Thread.currentThread() != owner) {
            return;
        }
        long now = time.nanoTime();
        // Never inside the downtime: a slow listener would lengthen it.
        if (now < nextEmitNanos || phase.get() == MigrationPhase.STOP_COPY) {
            return;
        }
        MigrationProgress progress;
        synchronized (this) {
            long bytes = wireBytes.sum();
            windowRate = now > windowStartNanos ? (long) ((bytes - windowStartBytes) * 1e9 / (now - windowStartNanos)) : 0;
            windowStartNanos = now;
            windowStartBytes = bytes;
            nextEmitNanos = now + intervalNanos;
            progress = snapshot(now);
        }
        try {
            listener.onEvent(new MigrationEvent.Progress(progress));
        } catch (RuntimeException e) {
            LOG.warn("migration listener threw on Progress", e);
        }
    }

    /** @return the migration's figures now. Any thread. */
    public MigrationProgress snapshot() {
        synchronized (this) {
            return snapshot(time.nanoTime());
        }
    }

    private MigrationProgress snapshot(long now) {
        long bytes = wireBytes.sum();
        long sent = pages.sum();
        long rate = windowRate >= 0 ? windowRate
                : now > startNanos ? (long) (bytes * 1e9 / (now - startNanos)) : 0;
        long remaining = roundOpen ? Math.max(0, roundPages - (sent - roundFirstPage)) * pageSize : leftDirtyBytes;
        MigrationPhase now0 = phase.get();
        long missing = now0 == MigrationPhase.POST_COPY && postcopyMissingPages >= 0
                ? Math.max(0, postcopyMissingPages - (sent - postcopyFirstPage)) : 0;
        return new MigrationProgress(migrationId, now0, Duration.ofNanos(Math.max(0, now - startNanos)), round,
                memoryBytes, bytes, sent, now0 == MigrationPhase.LIVE_COPY || now0 == MigrationPhase.STOP_COPY
                        ? remaining : now0 == MigrationPhase.POST_COPY ? missing * pageSize : 0,
                dirtyBytesPerSecond, rate, throttlePercent, expectedDowntime, downtimeLimit,
                control.bandwidthBytesPerSecond(), missing, control.isHeld());
    }
}
