package io.livemig.examples.cli;

import io.livemig.api.MigrationListener;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.engine.LiveMigration;
import io.livemig.kvm.DirtierParams;
import io.livemig.kvm.GuestBuilder;
import io.livemig.kvm.KvmGuest;
import io.livemig.kvm.MicroVmm;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Rehearses KVM migrations in this process while the command's own guest boots or its receiver
 * waits ({@link LiveMigration#rehearse}): small dirtier guests, migrated into fresh targets and
 * thrown away, so that the real migration's switchover runs compiled code rather than the JVM's
 * interpreter. One thread; the command waits for it before its own migration starts, so the two
 * never share the CPU. The thread ends with a garbage collection, outside any migration.
 */
final class Rehearsal {

    private static final Logger LOG = LoggerFactory.getLogger(Rehearsal.class);

    /** Guest RAM of a rehearsal VM. */
    private static final long MEMORY_BYTES = 64L << 20;
    /** Its dirtier's working set: 4 096 pages, rewritten at {@link #DIRTY_BYTES_PER_SECOND}. */
    private static final long WORKING_SET_BYTES = 16L << 20;
    private static final long DIRTY_BYTES_PER_SECOND = 32L << 20;
    /** How long the source guest runs before its rehearsal: long enough to write its working set once. */
    private static final long RUN_BEFORE_MILLIS = 100;

    private final Thread thread;

    private Rehearsal(Thread thread) {
        this.thread = thread;
    }

    /**
     * Starts {@code count} rehearsals of a source's migration, one after the other, on a daemon thread.
     *
     * @param count      how many; 0 starts nothing
     * @param options    the options the real migration uses (its listener and caps are left out)
     * @param replayable whether the rehearsal guests are replayable (trace and replay needs one)
     * @return the running rehearsals
     */
    static Rehearsal start(int count, MigrationOptions options, boolean replayable) {
        return start(Collections.nCopies(Math.max(0, count), options), replayable);
    }

    /**
     * Starts {@code count} rehearsals for a destination, which does not know the source's
     * strategy: pre-copy and post-copy in turn, since post-copy's switchover on this side (arming
     * demand paging, installing pages) is code of its own.
     *
     * @param count how many; 0 starts nothing
     * @return the running rehearsals
     */
    static Rehearsal forDestination(int count) {
        List<MigrationOptions> plan = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            plan.add(MigrationOptions.builder().strategy(i % 2 == 0 ? Strategy.PRECOPY : Strategy.POSTCOPY).build());
        }
        return start(plan, false);
    }

    private static Rehearsal start(List<MigrationOptions> plan, boolean replayable) {
        if (plan.isEmpty()) {
            return new Rehearsal(null);
        }
        List<MigrationOptions> quiet = plan.stream().map(o -> o.toBuilder().listener(MigrationListener.NONE)
                .progressInterval(Duration.ZERO).bandwidthLimitBytesPerSecond(0).postcopyBandwidthLimitBytesPerSecond(0)
                .build()).toList();
        return new Rehearsal(Thread.ofPlatform().daemon().name("livemig-rehearsal").start(() -> {
            for (MigrationOptions options : quiet) {
                if (!rehearseOnce(options, replayable)) {
                    break;
                }
            }
            // The rehearsals' garbage, collected now rather than in a collection the real
            // migration's allocations happen to trigger: one that fell inside its switchover
            // cost 9-18 ms of blackout, measured. Then the real migration starts with its young
            // generation empty, and its data path allocates too little to fill it on the way.
            System.gc();
        }));
    }

    /** Waits until the rehearsals ended (they give up on their own after a failure, which is only logged). */
    void await() throws InterruptedException {
        if (thread != null) {
            thread.join();
        }
    }

    private static boolean rehearseOnce(MigrationOptions options, boolean replayable) {
        long start = System.nanoTime();
        try (MicroVmm source = MicroVmm.builder().memoryBytes(MEMORY_BYTES).replayable(replayable).build()) {
            source.loadMultiboot(GuestBuilder.dirtierImage());
            new DirtierParams(4L << 20, WORKING_SET_BYTES, 4096, true, DIRTY_BYTES_PER_SECOND, 500, 2000, 7)
                    .withReplayable(replayable).writeTo(source.vm(), source.vcpus().get(0).tscKhz());
            source.start();
            source.resume();
            Thread.sleep(RUN_BEFORE_MILLIS);
            MigrationReport report = LiveMigration.rehearse(new KvmGuest(source), descriptor -> new KvmGuest(
                    MicroVmm.builder().memoryBytes(descriptor.memoryLayout().memoryBytes())
                            .vcpus(descriptor.vcpuCount()).build()), options);
            LOG.debug("rehearsal: {} in {} ms, downtime {} µs", report.status(), (System.nanoTime() - start) / 1_000_000,
                    report.switchover().downtime().toNanos() / 1000);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (Exception e) {
            // Only the first migration's speed is at stake: say so, and let the real one go on.
            LOG.warn("a rehearsal migration failed ({}); the first migration may run slower", e.toString());
            return false;
        }
    }
}
