package io.livemig.api;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Where the engines read the time and how they wait: the real clock by default, a virtual clock
 * in the in-memory kit's deterministic mode. Everything that measures or paces (bandwidth,
 * downtime, round durations, rate limits) goes through the time source given in
 * {@link MigrationOptions}.
 *
 * <p>Implementations are thread-safe.
 */
public interface TimeSource {

    /** {@return a monotonic time in nanoseconds, with an arbitrary origin} */
    long nanoTime();

    /**
     * Waits for {@code nanos} nanoseconds of this source's time.
     *
     * @param nanos how long to wait; nothing happens if {@code <= 0}
     * @throws InterruptedException if the thread is interrupted while waiting
     */
    void sleepNanos(long nanos) throws InterruptedException;

    /**
     * Waits for {@code duration} of this source's time.
     *
     * @param duration how long to wait, on this source's clock
     * @throws InterruptedException if the thread is interrupted while waiting
     */
    default void sleep(Duration duration) throws InterruptedException {
        sleepNanos(duration.toNanos());
    }

    /**
     * Whether this source is the real clock. Only then do the engines run what exists for real
     * time alone: keep-alive frames on a quiet return path, and round-trip probes whose timing
     * would otherwise make virtual-time runs differ.
     *
     * @return true for wall time, false for a virtual (simulated) clock
     */
    boolean isWallClock();

    /** {@return the real monotonic clock ({@link System#nanoTime()}) and real sleeping} */
    static TimeSource system() {
        return SystemTimeSource.INSTANCE;
    }
}

/** The real clock. */
enum SystemTimeSource implements TimeSource {
    INSTANCE;

    @Override
    public long nanoTime() {
        return System.nanoTime();
    }

    @Override
    public boolean isWallClock() {
        return true;
    }

    @Override
    public void sleepNanos(long nanos) throws InterruptedException {
        if (nanos > 0) {
            TimeUnit.NANOSECONDS.sleep(nanos);
        }
    }
}
