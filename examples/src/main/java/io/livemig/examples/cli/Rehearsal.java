package io.livemig.examples.cli;

import io.livemig.api.MigrationListener;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.engine.LiveMigration;
import io.livemig.kit.InMemoryProvider;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.kvm.DirtierParams;
import io.livemig.kvm.GuestBuilder;
import io.livemig.kvm.KvmGuest;
import io.livemig.kvm.MicroVmm;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * Rehearses migrations in this process while the command's own VM is made, boots or waits
 * ({@link LiveMigration#rehearse}): small VMs of the provider the command uses (KVM dirtier
 * guests, or the demo's in-memory VMs), migrated into fresh targets and thrown away, so that the
 * real migration runs compiled code rather than the JVM's interpreter: its switchover, and the
 * page copy that is the whole of a cold migration. One thread; the command waits for it before
 * its own migration starts, so the two never share the CPU. The thread ends with a garbage
 * collection, outside any migration.
 */
final class Rehearsal {

    private static final Logger LOG = LoggerFactory.getLogger(Rehearsal.class);
    /** The data connections of a destination's post-copy rehearsals: QEMU's default multifd channel count. */
    static final int DESTINATION_STREAMS = 2;

    /** Guest RAM of a KVM rehearsal VM, and the least of an in-memory one. */
    private static final long MEMORY_BYTES = 64L << 20;
    /** The most guest RAM of an in-memory rehearsal VM. */
    private static final long MAX_IN_MEMORY_BYTES = 256L << 20;
    /** Its guest's working set: 4 096 pages, rewritten at {@link #DIRTY_BYTES_PER_SECOND}. */
    private static final long WORKING_SET_BYTES = 16L << 20;
    private static final long DIRTY_BYTES_PER_SECOND = 32L << 20;
    /** Share of an in-memory rehearsal VM's pages that hold data, so that its round 0 copies pages. */
    private static final double IN_MEMORY_PREFILL = 0.5;
    /** How long the source guest runs before its rehearsal: long enough to write its working set once. */
    private static final long RUN_BEFORE_MILLIS = 100;

    /** One rehearsal: makes a throwaway source, migrates it ({@link LiveMigration#rehearse}), closes it. */
    @FunctionalInterface
    private interface Once {
        MigrationReport rehearse(MigrationOptions options) throws Exception;
    }

    private final Thread thread;
    /** How many rehearsals were asked for. */
    private final int planned;
    /** The memory of each in-memory rehearsal VM; 0 for KVM rehearsals. */
    private final long inMemoryBytes;
    private volatile long elapsedNanos = -1;
    /** Rehearsals that completed; written by the rehearsal thread only. */
    private volatile int completed;

    /** Makes the thread that rehearses {@code plan} with {@code once} (none for an empty plan); not started. */
    private Rehearsal(List<MigrationOptions> plan, Once once, long inMemoryBytes) {
        this.planned = plan.size();
        this.inMemoryBytes = inMemoryBytes;
        this.thread = plan.isEmpty() ? null
                : Thread.ofPlatform().daemon().name("livemig-rehearsal").unstarted(() -> run(plan, once));
    }

    /**
     * Starts {@code count} rehearsals of a KVM source's migration, one after the other, on a daemon thread.
     *
     * @param count      how many; 0 starts nothing
     * @param options    the options the real migration uses (its listener and caps are left out)
     * @param replayable whether the rehearsal guests are replayable (trace and replay needs one)
     * @return the running rehearsals
     */
    static Rehearsal start(int count, MigrationOptions options, boolean replayable) {
        return start(Collections.nCopies(Math.max(0, count), options), o -> kvmOnce(o, replayable), 0);
    }

    /**
     * Starts {@code count} rehearsals for a KVM destination, which does not know the source's
     * strategy nor its data connections: pre-copy on one connection and post-copy on
     * {@value #DESTINATION_STREAMS} data connections in turn, since post-copy's switchover on this
     * side (arming demand paging, installing pages) is code of its own, and so is receiving on
     * data connections, whose receive buffers (16 MiB each) the destination then keeps for the
     * real migration's.
     *
     * @param count how many; 0 starts nothing
     * @return the running rehearsals
     */
    static Rehearsal forDestination(int count) {
        List<MigrationOptions> plan = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            plan.add(i % 2 == 0 ? MigrationOptions.builder().strategy(Strategy.PRECOPY).build()
                    : MigrationOptions.builder().strategy(Strategy.POSTCOPY).streams(DESTINATION_STREAMS).build());
        }
        return start(plan, o -> kvmOnce(o, false), 0);
    }

    /**
     * Starts {@code count} rehearsals of an in-memory VM's migration (the demo's), both ends in
     * this process, one after the other, on a daemon thread. Their VMs have
     * {@link #inMemoryBytes a quarter} of the real VM's memory: a round of a few thousand pages
     * leaves the page copy's loops to be compiled during the real migration's first round, where
     * the compiler takes a core from it (measured on a 1 GiB VM over loopback: 64 MiB rehearsals
     * took its total time from 560-880 ms to 470-550, 256 MiB ones to 425-510).
     *
     * @param count       how many; 0 starts nothing
     * @param options     the options the real migration uses (its listener and caps are left out)
     * @param memoryBytes the real VM's memory
     * @return the running rehearsals
     */
    static Rehearsal inMemory(int count, MigrationOptions options, long memoryBytes) {
        long bytes = inMemoryBytes(memoryBytes);
        return start(Collections.nCopies(Math.max(0, count), options), o -> inMemoryOnce(o, bytes), bytes);
    }

    /** @return the memory of the in-memory rehearsal VMs for a VM of {@code memoryBytes}: a quarter, 64 to 256 MiB */
    static long inMemoryBytes(long memoryBytes) {
        return Math.clamp((memoryBytes / 4) & -(1L << 20), MEMORY_BYTES, MAX_IN_MEMORY_BYTES);
    }

    private static Rehearsal start(List<MigrationOptions> plan, Once once, long inMemoryBytes) {
        // The rehearsal VMs hold at most 256 MiB: a larger XBZRLE cache would only cost its
        // allocation.
        List<MigrationOptions> quiet = plan.stream().map(o -> o.toBuilder().listener(MigrationListener.NONE)
                .progressInterval(Duration.ZERO).bandwidthLimitBytesPerSecond(0).postcopyBandwidthLimitBytesPerSecond(0)
                .xbzrleCacheBytes(Math.min(o.xbzrleCacheBytes(), MAX_IN_MEMORY_BYTES)).build()).toList();
        Rehearsal rehearsal = new Rehearsal(quiet, once, inMemoryBytes);
        if (rehearsal.thread != null) {
            rehearsal.thread.start();
        }
        return rehearsal;
    }

    private void run(List<MigrationOptions> plan, Once once) {
        long start = System.nanoTime();
        for (MigrationOptions options : plan) {
            if (!rehearseOnce(once, options)) {
                break;
            }
            completed++;
        }
        // The rehearsals' garbage, collected now rather than in a collection the real
        // migration's allocations happen to trigger: one that fell inside its switchover
        // cost 9-18 ms of blackout, measured. Then the real migration starts with its young
        // generation empty, and its data path allocates too little to fill it on the way.
        System.gc();
        elapsedNanos = System.nanoTime() - start;
    }

    /** Waits until the rehearsals ended (they give up on their own after a failure, which is only logged). */
    void await() throws InterruptedException {
        if (thread != null) {
            thread.join();
        }
    }

    /** @return how many rehearsals completed, once {@link #await()} returned */
    int completed() {
        return completed;
    }

    /** @return how long the rehearsals took, once {@link #await()} returned; zero if none ran */
    Duration elapsed() {
        return Duration.ofNanos(Math.max(0, elapsedNanos));
    }

    /**
     * Says what the in-memory rehearsals did, once {@link #await()} returned, for the demo's first line.
     *
     * @return e.g. " (after 2 rehearsals of a 256M VM, 1800 ms, while the VM was made)"; "" if none was asked for
     */
    String inMemorySummary() {
        if (planned == 0) {
            return "";
        }
        int done = completed;
        return String.format(Locale.ROOT, " (after %s rehearsal%s of a %s VM, %d ms, while the VM was made)",
                done == planned ? String.valueOf(done) : done + " of " + planned, planned == 1 ? "" : "s",
                new SizeArg(inMemoryBytes), elapsed().toMillis());
    }

    private static boolean rehearseOnce(Once once, MigrationOptions options) {
        long start = System.nanoTime();
        try {
            MigrationReport report = once.rehearse(options);
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

    private static MigrationReport kvmOnce(MigrationOptions options, boolean replayable) throws Exception {
        try (MicroVmm source = MicroVmm.builder().memoryBytes(MEMORY_BYTES).replayable(replayable).build()) {
            source.loadMultiboot(GuestBuilder.dirtierImage());
            new DirtierParams(4L << 20, WORKING_SET_BYTES, 4096, true, DIRTY_BYTES_PER_SECOND, 500, 2000, 7)
                    .withReplayable(replayable).writeTo(source.vm(), source.vcpus().get(0).tscKhz());
            source.start();
            source.resume();
            Thread.sleep(RUN_BEFORE_MILLIS);
            return LiveMigration.rehearse(new KvmGuest(source), descriptor -> new KvmGuest(
                    MicroVmm.builder().memoryBytes(descriptor.memoryLayout().memoryBytes())
                            .vcpus(descriptor.vcpuCount()).build()), options);
        }
    }

    /** Into a target made as the demo makes its own, so that the same classes run. */
    private static MigrationReport inMemoryOnce(MigrationOptions options, long memoryBytes) throws Exception {
        Workload guest = new Workload(WorkloadPattern.RANDOM, WORKING_SET_BYTES, DIRTY_BYTES_PER_SECOND, 0, 7);
        try (InMemoryVm source = InMemoryVm.builder().memoryBytes(memoryBytes).workload(guest)
                .prefill(IN_MEMORY_PREFILL).build()) {
            source.start();
            Thread.sleep(RUN_BEFORE_MILLIS);
            InMemoryProvider provider = new InMemoryProvider();
            URI uri = URI.create(InMemoryProvider.SCHEME + ":rehearsal");
            return LiveMigration.rehearse(source, descriptor -> provider.createTarget(uri, descriptor), options);
        }
    }
}
