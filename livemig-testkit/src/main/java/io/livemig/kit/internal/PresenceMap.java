package io.livemig.kit.internal;

import io.livemig.api.TimeSource;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.PageSet;

import java.nio.ByteBuffer;

/**
 * The in-memory kit's demand paging: which pages are missing on a post-copy target, and the
 * blocking of guest writes to them. A guest vCPU calls {@link #awaitPresent} before each write;
 * while armed, a write to a missing page reports a fault and waits until the engine installs
 * the page. Time spent waiting is accounted per vCPU.
 *
 * <p>Thread-safe: guarded by {@code this}; the armed flag is volatile so that unarmed VMs pay
 * one volatile read per write.
 */
public final class PresenceMap {

    private final PagedMemory memory;
    private final TimeSource time;
    private final long[] blockedNanos;
    private volatile boolean armed;
    private PageSet missing;
    private long missingCount;
    private DemandPaging.FaultListener listener;
    private boolean closed;

    /**
     * @param memory    the guest RAM pages are installed into
     * @param time      the clock for blocked-time accounting
     * @param vcpuCount vCPUs
     */
    public PresenceMap(PagedMemory memory, TimeSource time, int vcpuCount) {
        this.memory = memory;
        this.time = time;
        this.blockedNanos = new long[vcpuCount];
    }

    /** See {@link DemandPaging#arm}. */
    public synchronized void arm(PageSet pages, DemandPaging.FaultListener faults) {
        if (missing != null) {
            throw new IllegalStateException("demand paging is already armed");
        }
        if (pages.pageSpan() != memory.layout().pageSpan()) {
            throw new IllegalArgumentException("missing-page set span " + pages.pageSpan() + " != layout span "
                    + memory.layout().pageSpan());
        }
        missing = pages.copy();
        missingCount = missing.cardinality();
        listener = faults;
        armed = missingCount > 0;
    }

    /**
     * Called by a vCPU before it writes {@code page}: returns at once if the page is present,
     * otherwise reports the fault and blocks until it is installed. While blocked the vCPU is out
     * of its {@link RunGate} slice, so the VM can be paused meanwhile; it goes back in (waiting
     * for a resume if paused) before it returns.
     *
     * @return false if the VM closed while waiting (the vCPU should stop)
     */
    public boolean awaitPresent(long page, int vcpu, RunGate gate) throws InterruptedException {
        if (!armed) {
            return true;
        }
        synchronized (this) {
            if (missing == null || !missing.contains(page)) {
                return true;
            }
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
        DemandPaging.FaultListener toTell;
        synchronized (this) {
            if (!missing.contains(page)) {
                return true;
            }
            toTell = listener;
        }
        long start = time.nanoTime();
        toTell.onFault(page, vcpu);
        synchronized (this) {
            while (missing.contains(page) && !closed) {
                wait();
            }
            blockedNanos[vcpu] += time.nanoTime() - start;
            return !closed;
        }
    }

    /** See {@link DemandPaging#install}; {@code content} null means a zero page. */
    public synchronized boolean install(long page, ByteBuffer content) {
        if (missing == null || !missing.contains(page)) {
            if (!memory.layout().contains(page)) {
                throw new IndexOutOfBoundsException("page " + page + " is not RAM");
            }
            return false;
        }
        if (content == null) {
            memory.zero(page, 1);
        } else {
            memory.write(page, 1, content.duplicate());
        }
        missing.remove(page);
        if (--missingCount == 0) {
            armed = false;
        }
        notifyAll();
        return true;
    }

    /** @return pages still missing */
    public synchronized long missingPages() {
        return missing == null ? 0 : missingCount;
    }

    /** Stops interception; blocked vCPUs stay blocked unless {@link #close()} releases them. */
    public synchronized void disarm() {
        armed = false;
    }

    /** Releases every blocked vCPU for good (the VM is closing). */
    public synchronized void close() {
        closed = true;
        armed = false;
        notifyAll();
    }

    /** @return blocked time per vCPU in nanoseconds (a copy) */
    public synchronized long[] blockedNanos() {
        return blockedNanos.clone();
    }
}
