package io.livemig.kit;

import io.livemig.api.TimeSource;

/**
 * A clock that moves only when told to: {@link #sleepNanos} advances it at once instead of
 * waiting. With it, a migration over an {@link InMemoryChannel} of a {@link SimulatedVm} runs
 * as fast as the CPU allows while every time it reports (round durations, downtime, total
 * time, rates) is the time the simulated link and workload would have taken.
 *
 * <p><b>One clock per side.</b> Give the source side (its engine, its VM, its channel end) one
 * clock and the destination side another ({@link InMemoryChannel#pair(LinkShape, TimeSource,
 * TimeSource)}): a message sent at the sender's time {@code t} arrives at
 * {@code t + size / bandwidth + latency}, and receiving it moves the receiver's clock there. Each
 * clock is then advanced only by its own side's threads at points fixed by the messages, so a
 * pre-copy migration, in which the destination speaks only when the source waits for it, gives
 * the same report byte for byte on every run. (Post-copy is not deterministic this way: page
 * requests race the push in real time; its virtual figures are approximate.)
 *
 * <p>Thread-safe. Starts at 0.
 */
public final class VirtualTime implements TimeSource {

    private long now;

    /** Creates a clock at 0. */
    public VirtualTime() {
    }

    @Override
    public boolean isWallClock() {
        return false;
    }

    @Override
    public synchronized long nanoTime() {
        return now;
    }

    /** Advances the clock by {@code nanos} at once; never waits. */
    @Override
    public synchronized void sleepNanos(long nanos) {
        if (nanos > 0) {
            now += nanos;
            notifyAll();
        }
    }

    /**
     * Moves the clock to {@code nanos} if it is behind.
     *
     * @param nanos a time on this clock
     */
    public synchronized void advanceTo(long nanos) {
        if (nanos > now) {
            now = nanos;
            notifyAll();
        }
    }

    /**
     * Waits until the clock reaches {@code nanos}, letting other threads of this side move it
     * there by their own work; if it stands still for {@code graceNanos} of real time (nobody
     * else is working), moves it there itself. This is how a second thread of one side (the
     * source's return-path reader) receives a message that arrives in the side's future without
     * stealing time from the thread that is busy sending.
     *
     * @param nanos      the time to reach
     * @param graceNanos real time to wait for progress before advancing
     * @throws InterruptedException if interrupted while waiting
     */
    public synchronized void awaitOrAdvance(long nanos, long graceNanos) throws InterruptedException {
        while (now < nanos) {
            long seen = now;
            long millis = graceNanos / 1_000_000;
            wait(millis, (int) (graceNanos % 1_000_000));
            if (now == seen) {
                advanceTo(nanos);
            }
        }
    }

    @Override
    public String toString() {
        return "VirtualTime[" + nanoTime() + " ns]";
    }
}
