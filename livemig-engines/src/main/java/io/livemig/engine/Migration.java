package io.livemig.engine;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationProgress;
import io.livemig.api.MigrationReport;
import io.livemig.engine.internal.VmClaims;
import io.livemig.engine.internal.source.SourceMigration;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A migration running on its own thread, started by {@link LiveMigration#start}. Watch it
 * ({@link #progress()}), steer it while it runs ({@link #setBandwidthLimit},
 * {@link #setDowntimeLimit}, {@link #startPostcopy()}, {@link #releaseSwitchover()}), cancel it,
 * wait for it ({@link #await()}, {@link #future()}), read its report.
 *
 * <pre>{@code
 * Migration m = LiveMigration.start(vm, channel, MigrationOptions.builder()
 *         .holdSwitchover(Duration.ofMinutes(1)).build());
 * while (!m.progress().switchoverHeld() && !m.isDone()) {
 *     Thread.sleep(100);                       // or listen for MigrationEvent.SwitchoverHeld
 * }
 * m.setBandwidthLimit(1L << 30);              // 1 GiB/s from the next frame
 * moveTheNetwork();
 * m.releaseSwitchover();
 * MigrationReport report = m.await();
 * }</pre>
 *
 * <p>It holds the claim on its VM (one migration per VM, see {@link LiveMigration#migrate}) until
 * its thread ends, however it ends; by the time {@link #await()} returns or {@link #isDone()} is
 * true, a new migration of the VM may start.
 *
 * <p>Thread-safe. {@link #close()} cancels the migration if it is still before switchover and
 * waits for its thread to end; it is idempotent.
 */
public final class Migration implements AutoCloseable {

    private final SourceMigration migration;
    /** The migration's hold on its VM, released as its thread ends. */
    private final VmClaims.Claim claim;
    private final Thread thread;
    private final CountDownLatch done = new CountDownLatch(1);
    private volatile MigrationReport report;
    private volatile MigrationException error;
    /** Completed once the thread ended and the VM's claim was released. */
    private final CompletableFuture<MigrationReport> future = new CompletableFuture<>();

    Migration(SourceMigration migration, VmClaims.Claim claim, MigrationOptions options) {
        this.migration = migration;
        this.claim = claim;
        this.thread = options.threadFactory().map(f -> f.newThread(this::run))
                .orElseGet(() -> Thread.ofPlatform().name("livemig-migration").daemon().unstarted(this::run));
        if (thread == null) {
            throw new IllegalStateException("the options' thread factory made no thread for the migration");
        }
    }

    void startThread() {
        thread.start();
    }

    private void run() {
        try {
            report = migration.run();
        } catch (MigrationException e) {
            error = e;
        } finally {
            // Before done: once await() returns, the VM may be migrated again.
            claim.close();
            done.countDown();
            if (error != null) {
                future.completeExceptionally(error);
            } else if (report != null) {
                future.complete(report);
            } else {
                future.completeExceptionally(new IllegalStateException("the migration's thread ended without a result"));
            }
        }
    }

    /**
     * The migration's end as a future, for callers that compose rather than block: completed with
     * the report of a completed migration, or exceptionally with its {@link MigrationException}
     * (whose {@link MigrationException#report()} has the report up to the failure). It completes
     * once the migration's thread ended and its VM may be migrated again, as {@link #await()}
     * returns. Each call returns a new future: completing or cancelling it changes nothing here
     * (cancel the migration with {@link #cancel()}).
     *
     * @return a future of the report
     */
    public CompletableFuture<MigrationReport> future() {
        return future.copy();
    }

    /**
     * Asks the migration to stop. Before the switchover commit, it stops at the next frame
     * boundary: the source VM keeps running unchanged and the destination discards what it got,
     * and {@link #await()} throws {@link io.livemig.api.MigrationCancelledException}. Once the
     * destination has been told to resume, cancelling has no effect. Returns at once.
     */
    public void cancel() {
        migration.cancel();
    }

    /**
     * A snapshot of the migration now: phase, round, bytes sent and left, dirty rate, bandwidth,
     * throttle, expected downtime, the limits in force. Cheap (no I/O, a short lock), so it may be
     * polled every 100 ms; any thread. After the end it keeps giving the last figures.
     *
     * @return the snapshot
     */
    public MigrationProgress progress() {
        return migration.progress();
    }

    /**
     * {@return the migration's id, as in its report, its progress and its log lines' MDC ({@code livemig.migration})}
     */
    public String id() {
        return migration.migrationId();
    }

    /**
     * Changes the bandwidth cap, from the next frame on: the live copy's cap before the
     * switchover, the post-copy cap once the VM runs at the destination (before the switchover,
     * a post-copy cap that is the live one, as by default, changes with it). As libvirt's
     * {@code virDomainMigrateSetMaxSpeed}. Any thread.
     *
     * @param bytesPerSecond the new cap in bytes per second, 0 for none
     * @throws IllegalArgumentException if negative
     * @throws IllegalStateException    if the migration has ended
     */
    public void setBandwidthLimit(long bytesPerSecond) {
        migration.setBandwidthLimit(bytesPerSecond);
    }

    /**
     * Changes the downtime limit, taken after the round in progress (so at most one round late):
     * the switchover happens once the rest fits the new limit. The escalation ladder's later
     * {@code RaiseDowntime} steps start from it. As libvirt's {@code virDomainMigrateSetMaxDowntime}.
     * Any thread.
     *
     * @param limit the new limit, positive
     * @throws IllegalArgumentException if not positive
     * @throws IllegalStateException    if the VM was already paused, or the strategy is COLD
     */
    public void setDowntimeLimit(Duration limit) {
        migration.setDowntimeLimit(limit);
    }

    /**
     * Switches to post-copy at the next frame boundary: the VM pauses, its state goes, it resumes at
     * the destination and the pages not sent yet follow. As libvirt's
     * {@code virDomainMigrateStartPostCopy}. Allowed for HYBRID, and for PRECOPY when its
     * escalation ladder holds {@link io.livemig.api.EscalationStep.SwitchToPostcopy} (only then was
     * the destination told to page on demand). Any thread.
     *
     * @throws IllegalStateException if the migration cannot switch (the message says why), or the VM
     *                               was already paused
     */
    public void startPostcopy() {
        migration.startPostcopy();
    }

    /**
     * Releases the switchover the options hold ({@link MigrationOptions#switchoverHoldTimeout()}):
     * the migration pauses the VM as soon as the rest fits the limit again. Called before the hold
     * began, the hold is skipped. Idempotent. Any thread.
     *
     * @throws IllegalStateException if the options hold no switchover
     */
    public void releaseSwitchover() {
        migration.releaseSwitchover();
    }

    /** {@return whether the migration has ended, one way or another} */
    public boolean isDone() {
        return done.getCount() == 0;
    }

    /**
     * Waits for the end.
     *
     * @return the report of a completed migration
     * @throws MigrationException   if it failed or was cancelled
     * @throws InterruptedException if the waiting thread is interrupted (the migration goes on)
     */
    public MigrationReport await() throws MigrationException, InterruptedException {
        done.await();
        return result();
    }

    /**
     * Waits for the end, at most {@code timeout}.
     *
     * @param timeout the longest wait
     * @return the report, as {@link #await()}
     * @throws MigrationException   if the migration failed or was cancelled
     * @throws InterruptedException if the waiting thread is interrupted (the migration goes on)
     * @throws TimeoutException     if it has not ended by then (it goes on)
     */
    public MigrationReport await(Duration timeout) throws MigrationException, InterruptedException, TimeoutException {
        if (!done.await(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
            throw new TimeoutException("the migration is still running after " + timeout);
        }
        return result();
    }

    private MigrationReport result() throws MigrationException {
        if (error != null) {
            throw error;
        }
        return report;
    }

    /** Cancels (if still possible) and waits for the migration's thread. Idempotent. */
    @Override
    public void close() {
        cancel();
        boolean interrupted = false;
        while (true) {
            try {
                done.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
