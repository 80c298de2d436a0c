package io.livemig.engine;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationReport;
import io.livemig.engine.internal.VmClaims;
import io.livemig.engine.internal.source.SourceMigration;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A migration running on its own thread, started by {@link LiveMigration#start}. Cancel it,
 * wait for it, read its report.
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

    Migration(SourceMigration migration, VmClaims.Claim claim) {
        this.migration = migration;
        this.claim = claim;
        this.thread = Thread.ofPlatform().name("livemig-migration").daemon().unstarted(this::run);
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

    /** @return whether the migration has ended, one way or another */
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
     * @throws TimeoutException if it has not ended by then (it goes on)
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
