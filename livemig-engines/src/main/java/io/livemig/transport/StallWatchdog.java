package io.livemig.transport;

import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * One daemon thread that runs every {@link TlsChannel}'s stall check periodically. A blocking
 * socket has a read timeout ({@code SO_TIMEOUT}) but no write timeout, and a TLS handshake is many
 * reads whose total has no bound: the check closes a channel whose send made no progress, or whose
 * handshake did not finish, within its time, which makes the blocked call fail.
 *
 * <p>Thread-safe. The thread lives as long as the JVM (it is a daemon, idle without channels).
 */
final class StallWatchdog {

    private static final ScheduledThreadPoolExecutor TIMER = newTimer();

    private StallWatchdog() {
    }

    private static ScheduledThreadPoolExecutor newTimer() {
        ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1,
                runnable -> Thread.ofPlatform().daemon().name("livemig-tls-watchdog").unstarted(runnable));
        timer.setRemoveOnCancelPolicy(true);
        return timer;
    }

    /**
     * Runs {@code check} every quarter of {@code timeout} (at least every 10 ms, at most every
     * second), until the returned future is cancelled. The check must be quick and never throw.
     *
     * @param timeout the stall time that the check enforces
     * @param check   what to run
     * @return the schedule, which the caller cancels when its channel closes
     */
    static ScheduledFuture<?> watch(Duration timeout, Runnable check) {
        long periodMillis = Math.clamp(timeout.toMillis() / 4, 10, 1000);
        return TIMER.scheduleWithFixedDelay(check, periodMillis, periodMillis, TimeUnit.MILLISECONDS);
    }
}
