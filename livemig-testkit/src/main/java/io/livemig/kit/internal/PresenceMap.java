package io.livemig.kit.internal;

import io.livemig.api.TimeSource;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.MemorySink;
import io.livemig.spi.PageSet;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * The demand paging of both kit VMs: which pages are missing on a post-copy target, their
 * installation into guest memory, and the faults of guest writes to them. The in-memory VM's
 * vCPU threads call {@link #awaitPresent} before each write: a write to a missing page reports a
 * fault and blocks the thread until the engine installs the page. The simulated VM's vCPU,
 * which is not a thread, calls {@link #reportFault} and blocks itself in virtual time; the
 * {@link Guest} it gives is told of every install and adds its current block to the blocked
 * time.
 *
 * <p>Thread-safe: guarded by the lock given at construction (the simulated VM gives itself, so
 * that an install and its guest's reaction are one step); the armed flag is volatile so that
 * unarmed VMs pay one volatile read per write. {@link #install} and {@link #installRun} write
 * into the memory and call the guest while holding the lock.
 */
public final class PresenceMap implements DemandPaging {

    /** What the map asks of the VM it serves. */
    public interface Guest {
        /** @return whether the VM is paused: demand paging is armed only then */
        boolean isPaused();

        /**
         * Called with the lock held after {@code page} was installed.
         *
         * @param page the page
         */
        void installed(long page);

        /**
         * @param vcpu a vCPU
         * @return how long it has been blocked on a page that is not installed yet, if it blocks
         *         itself (the threads of {@link #awaitPresent} account their blocks when they end)
         */
        long blockedNanosSoFar(int vcpu);
    }

    private final MemorySink memory;
    private final TimeSource time;
    private final Guest guest;
    private final Object lock;
    private final long[] blockedNanos;
    private volatile boolean armed;
    private PageSet missing;
    private long missingCount;
    private DemandPaging.FaultListener listener;
    private boolean closed;

    /**
     * @param memory    the guest RAM pages are installed into
     * @param time      the clock for the blocked time of {@link #awaitPresent}
     * @param vcpuCount vCPUs
     * @param guest     the VM's side
     * @param lock      the monitor that guards the map
     */
    public PresenceMap(MemorySink memory, TimeSource time, int vcpuCount, Guest guest, Object lock) {
        this.memory = memory;
        this.time = time;
        this.guest = guest;
        this.lock = lock;
        this.blockedNanos = new long[vcpuCount];
    }

    /**
     * A guest whose vCPUs are threads that block in {@link #awaitPresent}.
     *
     * @param gate the VM's pause gate
     * @return the guest
     */
    public static Guest threads(RunGate gate) {
        return new Guest() {
            @Override
            public boolean isPaused() {
                return gate.isPaused();
            }

            @Override
            public void installed(long page) {
            }

            @Override
            public long blockedNanosSoFar(int vcpu) {
                return 0;
            }
        };
    }

    @Override
    public void arm(PageSet pages, DemandPaging.FaultListener faults) {
        synchronized (lock) {
            if (!guest.isPaused()) {
                throw new IllegalStateException("arm demand paging before the target resumes");
            }
            if (missing != null) {
                throw new IllegalStateException("demand paging is already armed");
            }
            if (pages.pageSpan() != memory.layout().pageSpan()) {
                throw new IllegalArgumentException("missing-page set span " + pages.pageSpan() + " != layout span "
                        + memory.layout().pageSpan());
            }
            missing = pages.copy();
            missingCount = missing.cardinality();
            listener = Objects.requireNonNull(faults, "listener");
            armed = missingCount > 0;
        }
    }

    /**
     * Called by a vCPU thread before it writes {@code page}: returns at once if the page is
     * present, otherwise reports the fault and blocks until it is installed. While blocked the
     * vCPU is out of its {@link RunGate} slice, so the VM can be paused meanwhile; it goes back in
     * (waiting for a resume if paused) before it returns.
     *
     * @return false if the VM closed while waiting (the vCPU should stop)
     */
    public boolean awaitPresent(long page, int vcpu, RunGate gate) throws InterruptedException {
        if (!armed || listenerIfMissing(page) == null) {
            return true;
        }
        gate.suspendSlice();
        boolean present;
        try {
            present = awaitMissing(page, vcpu);
        } finally {
            if (!gate.resumeSlice()) {
                present = false;
            }
        }
        return present;
    }

    private boolean awaitMissing(long page, int vcpu) throws InterruptedException {
        DemandPaging.FaultListener toTell = listenerIfMissing(page);
        if (toTell == null) {
            return true;
        }
        long start = time.nanoTime();
        toTell.onFault(page, vcpu);
        synchronized (lock) {
            while (missing.contains(page) && !closed) {
                lock.wait();
            }
            blockedNanos[vcpu] += time.nanoTime() - start;
            return !closed;
        }
    }

    /**
     * For a vCPU that blocks itself: if {@code page} is missing, tells the fault listener and
     * returns true. Never blocks.
     *
     * @param page the page a vCPU is about to write
     * @param vcpu the vCPU
     * @return whether the page is missing: the vCPU must not write it before it is installed
     */
    public boolean reportFault(long page, int vcpu) {
        if (!armed) {
            return false;
        }
        DemandPaging.FaultListener toTell = listenerIfMissing(page);
        if (toTell == null) {
            return false;
        }
        toTell.onFault(page, vcpu);
        return true;
    }

    private DemandPaging.FaultListener listenerIfMissing(long page) {
        synchronized (lock) {
            return missing != null && missing.contains(page) ? listener : null;
        }
    }

    /** @throws IllegalArgumentException if {@code content} is not exactly one page */
    @Override
    public boolean install(long page, ByteBuffer content) {
        return install(page, Objects.requireNonNull(content, "content"), false);
    }

    @Override
    public boolean installZero(long page) {
        return install(page, null, true);
    }

    /**
     * Writes each stretch of the run's missing pages with one {@link MemorySink#writePages} call,
     * under one hold of the lock, so that waiting vCPUs see the whole run at once.
     */
    @Override
    public long installRun(long firstPage, int pageCount, ByteBuffer content) {
        int pageSize = memory.layout().pageSizeBytes();
        if (pageCount < 1 || pageCount > MAX_RUN_PAGES || content.remaining() != (long) pageCount * pageSize) {
            throw new IllegalArgumentException("a run of 1 to " + MAX_RUN_PAGES + " pages of " + pageSize
                    + " bytes, got " + pageCount + " pages in " + content.remaining() + " bytes");
        }
        synchronized (lock) {
            for (long page = firstPage; page < firstPage + pageCount; page++) {
                if (!memory.layout().contains(page)) {
                    throw new IndexOutOfBoundsException("page " + page + " is not RAM");
                }
            }
            long installed = 0;
            int i = 0;
            while (i < pageCount) {
                if (missing == null || !missing.contains(firstPage + i)) {
                    i++;
                    continue;
                }
                int end = i + 1;
                while (end < pageCount && missing.contains(firstPage + end)) {
                    end++;
                }
                memory.writePages(firstPage + i, end - i,
                        content.slice(content.position() + i * pageSize, (end - i) * pageSize));
                for (int k = i; k < end; k++) {
                    missing.remove(firstPage + k);
                    installed |= 1L << k;
                }
                missingCount -= end - i;
                i = end;
            }
            if (installed != 0) {
                if (missingCount == 0) {
                    armed = false;
                }
                lock.notifyAll();
                for (int k = 0; k < pageCount; k++) {
                    if ((installed & 1L << k) != 0) {
                        guest.installed(firstPage + k);
                    }
                }
            }
            return installed;
        }
    }

    private boolean install(long page, ByteBuffer content, boolean zero) {
        synchronized (lock) {
            int pageSize = memory.layout().pageSizeBytes();
            if (!zero && content.remaining() != pageSize) {
                throw new IllegalArgumentException("a page is " + pageSize + " bytes, got " + content.remaining());
            }
            if (missing == null || !missing.contains(page)) {
                if (!memory.layout().contains(page)) {
                    throw new IndexOutOfBoundsException("page " + page + " is not RAM");
                }
                return false;
            }
            if (zero) {
                memory.zeroPages(page, 1);
            } else {
                memory.writePages(page, 1, content.duplicate());
            }
            missing.remove(page);
            if (--missingCount == 0) {
                armed = false;
            }
            lock.notifyAll();
            guest.installed(page);
            return true;
        }
    }

    @Override
    public long missingPages() {
        synchronized (lock) {
            return missing == null ? 0 : missingCount;
        }
    }

    /** Stops interception; blocked vCPU threads stay blocked unless {@link #close()} releases them. */
    @Override
    public void disarm() {
        synchronized (lock) {
            armed = false;
        }
    }

    /** Releases every blocked vCPU thread for good (the VM is closing). */
    public void close() {
        synchronized (lock) {
            closed = true;
            armed = false;
            lock.notifyAll();
        }
    }

    /**
     * Accounts time a vCPU that blocks itself spent on a page, once the page is installed.
     *
     * @param vcpu  the vCPU
     * @param nanos the time it was blocked
     */
    public void addBlockedNanos(int vcpu, long nanos) {
        synchronized (lock) {
            blockedNanos[vcpu] += nanos;
        }
    }

    /** @return blocked time per vCPU in nanoseconds, blocks in progress included where the guest counts them */
    @Override
    public long[] blockedNanosPerVcpu() {
        synchronized (lock) {
            long[] blocked = blockedNanos.clone();
            for (int vcpu = 0; vcpu < blocked.length; vcpu++) {
                blocked[vcpu] += guest.blockedNanosSoFar(vcpu);
            }
            return blocked;
        }
    }
}
