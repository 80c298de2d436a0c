package io.livemig.kvm;

import io.livemig.spi.DemandPaging;
import io.livemig.spi.PageSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Post-copy on a KVM target through userfaultfd. {@link #arm} makes the pages still to come
 * absent from guest RAM (so that pre-copied versions of them cannot be read: punched out of the
 * memfd, or left behind with the old memfd when most of guest RAM is stale, see
 * {@link #dropStalePages}), registers guest RAM in missing mode and starts a fault thread. A
 * vCPU that touches a missing page blocks inside
 * KVM_RUN; the fault thread tells the engine (which asks the source), and {@link #install}
 * places the page atomically with {@code UFFDIO_COPY}, which wakes the vCPU; {@link #installRun}
 * places a run of contiguous pages with one {@code UFFDIO_COPY}. A page that is neither missing
 * nor present is one that was never sent because it is zero (or was never written: a hole the
 * source skipped): the fault thread installs a zero page itself ({@code UFFDIO_ZEROPAGE}), with
 * no round trip to the source. A page pushed after the guest already got it (the demand raced
 * the push) is refused by the kernel ({@code EEXIST}) and left as the guest has it.
 *
 * <p><b>Ending.</b> {@link #disarm()} stops the fault thread; with every page present it also
 * closes the userfaultfd, which unregisters guest RAM. With pages still missing (post-copy
 * failed) the fd stays open, so that a vCPU touching a missing page stays blocked rather than
 * reading zeros where the guest's data should be, as {@link DemandPaging#disarm()} says; the
 * VM's close ({@link #close()}, called by {@link KvmGuest#close()} after the vCPUs were told to
 * stop and before guest RAM is unmapped) closes it, which wakes every vCPU still blocked. The fd
 * is closed, never unregistered range by range: closing it unregisters every range (the
 * kernel's release of a userfaultfd clears them and wakes their waiters), and unlike
 * {@code UFFDIO_UNREGISTER} it cannot fail when guest RAM is already unmapped. Neither call
 * throws, and both are idempotent.
 *
 * <p>Thread-safe: the page bookkeeping and the fd's use and release are guarded by {@code this};
 * the fd is closed only once the fault thread, which reads it without the lock, has ended.
 */
final class KvmDemandPaging implements DemandPaging {

    private static final Logger LOG = LoggerFactory.getLogger(KvmDemandPaging.class);
    /** How long a poll for faults lasts: the fault thread sees a stop request within this. */
    private static final int POLL_MILLIS = 50;
    /** How long {@link #disarm()} waits for the fault thread to end (it polls every 50 ms). */
    private static final long FAULT_THREAD_STOP_MILLIS = 2000;
    /**
     * {@link #dropStalePages} punches the missing pages out of the memfd when they are at most
     * this many (64 MiB: freeing them costs up to ~30 ms) ...
     */
    private static final long PUNCH_MAX_PAGES = 16384;
    /** ... in at most this many runs (a punch costs ~5 µs besides its pages); else it swaps the memfd. */
    private static final int PUNCH_MAX_RUNS = 1024;
    /** How long {@link #disarm()} waits for the pages that stay to be refilled after a memfd swap. */
    private static final long REFILL_WAIT_MILLIS = 10_000;

    private final MicroVmm vmm;
    private final MemorySegment ram;
    private final Arena arena = Arena.ofShared();
    /** Where a run given in a heap buffer is copied for {@code UFFDIO_COPY}, which reads native memory. */
    private final MemorySegment staging = arena.allocate((long) MAX_RUN_PAGES * KvmVm.PAGE_BYTES, KvmVm.PAGE_BYTES);
    private final long[] blockedNanos;
    /** Links the native calls of {@link #arm} and the installs ahead of them: {@link RamSwap#rehearse}. */
    private final Thread rehearsal;
    /** The direct buffer the last run came in, and its memory ({@link #memoryOf}); guarded by the lock. */
    private ByteBuffer lastContent;
    private MemorySegment lastContentMemory;
    /** Faulted missing pages: the vCPUs waiting and since when. */
    private final Map<Long, List<long[]>> waiting = new HashMap<>();
    private PageSet missing;
    private long missingCount;
    private FaultListener listener;
    private Userfaultfd uffd;
    /** The memfd swap {@link #dropStalePages} made, or null if it punched. */
    private RamSwap swap;
    /** Made unstarted with this object, started by {@link #arm}: making them there cost ~8 ms of the downtime. */
    private final Thread faultThread;
    private final Thread refillThread;
    private volatile boolean running;
    private boolean armed;
    /** The fault thread was told to stop; no page is installed from then on. */
    private boolean disarmed;
    /** The fd should be closed as soon as the fault thread has ended (by it, if it ends last). */
    private boolean releaseRequested;
    /** The fault thread has ended (or never started). */
    private boolean faultThreadDone = true;
    /** The fd and the staging buffer are released. */
    private boolean released;

    KvmDemandPaging(MicroVmm vmm) {
        this.vmm = vmm;
        this.ram = vmm.vm().memory();
        this.blockedNanos = new long[vmm.vcpus().size()];
        this.faultThread = Thread.ofPlatform().name("livemig-uffd").daemon().unstarted(this::handleFaults);
        this.refillThread = Thread.ofPlatform().name("livemig-ram-refill").daemon().unstarted(this::refillGuestRam);
        // Made when the target is (KvmGuest.demandPaging, asked when the source may switch to
        // post-copy): the native calls of arm and install are linked now, not in the downtime.
        this.rehearsal = Thread.ofPlatform().name("livemig-uffd-rehearsal").daemon().start(() -> {
            try {
                RamSwap.rehearse();
            } catch (RuntimeException e) {
                LOG.debug("rehearsing post-copy's system calls failed; arm will report it", e);
            }
        });
    }

    /** The refill thread's work, after a memfd swap: {@link RamSwap#refill}. */
    private void refillGuestRam() {
        RamSwap swapped;
        Userfaultfd fd;
        synchronized (this) {
            swapped = swap;
            fd = uffd;
        }
        swapped.refill(fd);
    }

    /** Waits (bounded) for the rehearsal: arm's native calls are linked, and it holds no fd any more. */
    private void awaitRehearsal() {
        try {
            rehearsal.join(FAULT_THREAD_STOP_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Swaps guest RAM's memfd for a fresh one now ({@link RamSwap}), when guest RAM is one slot,
     * so that {@link #arm} only registers it: the engine calls this as soon as the switchover to
     * post-copy begins, while the source still collects its dirty log and sends its state. From
     * here until the arming, nothing may write guest RAM (the engine refuses pages then).
     */
    @Override
    public synchronized void prepare() {
        if (armed || swap != null) {
            throw new IllegalStateException(released ? "demand paging is closed"
                    : armed ? "demand paging is armed already" : "demand paging is prepared already");
        }
        if (!vmm.isPaused()) {
            throw new IllegalStateException("prepare demand paging before the target runs");
        }
        KvmVm vm = vmm.vm();
        if (vm.slots().size() == 1) {
            swap = RamSwap.swap(vm, ram, this);
        }
    }

    @Override
    public synchronized void arm(PageSet pages, FaultListener onFault) {
        if (armed) {
            throw new IllegalStateException(released ? "demand paging is closed" : "demand paging is armed already");
        }
        if (vmm.state() == MicroVmm.RunState.CLOSED) {
            throw new IllegalStateException("the VM is closed");
        }
        if (!vmm.isPaused()) {
            throw new IllegalStateException("arm demand paging before the target runs");
        }
        awaitRehearsal();
        armed = true;
        missing = pages.copy();
        missingCount = missing.cardinality();
        listener = onFault;
        try {
            if (swap == null) {
                dropStalePages();
            }
            if (swap != null) {
                swap.missing(missing);
            }
            uffd = Userfaultfd.open();
            uffd.register(ram);
        } catch (RuntimeException e) {
            // Not armed after all: whatever was opened goes, and so does every later call's work.
            disarmed = true;
            release();
            throw e;
        }
        running = true;
        faultThreadDone = false;
        faultThread.start();
        if (swap != null) {
            swap.startRefill(refillThread);
        }
    }

    /**
     * Called with the lock held, in {@link #arm}: makes every missing page absent from guest RAM,
     * so that the guest's first touch of it faults and waits for the current version rather than
     * reading the one pre-copy left there (stale). Punches the missing runs out of the memfd when
     * they are few and short (the kernel frees each page, ~0.5 µs, plus ~5 µs a punch for the
     * mapping and KVM's MMU notifier: 100-350 ms for 1 GiB measured here); otherwise, with guest
     * RAM in one slot, swaps guest RAM's memfd for a fresh one in a few system calls and refills
     * the pages that stay after the resume ({@link RamSwap}). Touches no page and runs no loop per
     * page: this is inside the downtime, in code the JIT has not compiled.
     */
    private void dropStalePages() {
        KvmVm vm = vmm.vm();
        if (vm.slots().size() == 1 && !fewToPunch()) {
            swap = RamSwap.swap(vm, ram, this);
            return;
        }
        long span = vm.pageSpan();
        for (long p = missing.nextSetBit(0); p >= 0; ) {
            long end = missing.nextClearBit(p);
            if (end < 0 || end > span) {
                end = span;
            }
            vm.discardPages(p, end - p); // translated to memfd offsets slot by slot
            p = end >= span ? -1 : missing.nextSetBit(end);
        }
    }

    /** @return whether the missing pages are few and in few runs: punching them is cheap */
    private boolean fewToPunch() {
        if (missingCount > PUNCH_MAX_PAGES) {
            return false;
        }
        int runs = 0;
        for (long p = missing.nextSetBit(0); p >= 0 && p < missing.pageSpan(); ) {
            if (++runs > PUNCH_MAX_RUNS) {
                return false;
            }
            long end = missing.nextClearBit(p);
            p = end < 0 || end >= missing.pageSpan() ? -1 : missing.nextSetBit(end);
        }
        return true;
    }

    private void handleFaults() {
        try {
            while (running) {
                for (Userfaultfd.Fault f : uffd.awaitFaults(POLL_MILLIS)) {
                    onFault(f);
                }
            }
        } catch (RuntimeException e) {
            LOG.error("the userfaultfd thread failed; vCPUs touching missing pages wait until the VM closes", e);
        } finally {
            synchronized (this) {
                faultThreadDone = true;
                if (releaseRequested) {
                    // The owner gave up waiting for this thread (a fault listener that blocked):
                    // the fd is closed here, now that nothing reads it.
                    release();
                }
            }
        }
    }

    private void onFault(Userfaultfd.Fault f) {
        long offset = f.address() - ram.address();
        if (offset < 0 || offset >= ram.byteSize()) {
            return;
        }
        long page = offset / KvmVm.PAGE_BYTES;
        int vcpu = vcpuOf(f.threadId());
        boolean first;
        synchronized (this) {
            if (disarmed) {
                return; // nobody asks for pages any more; the vCPU waits for the VM's close
            }
            if (!missing.contains(page)) {
                // A page that stays, not refilled yet after a memfd swap: from the old memory.
                // Else never sent because it is zero or was never written (or installed a moment
                // ago: then EEXIST, and a wake).
                if (swap == null || !swap.serve(uffd, page)) {
                    uffd.zeroPage(ram.address() + page * KvmVm.PAGE_BYTES, KvmVm.PAGE_BYTES);
                }
                return;
            }
            List<long[]> w = waiting.computeIfAbsent(page, k -> new ArrayList<>());
            first = w.isEmpty();
            w.add(new long[] {vcpu, System.nanoTime()});
        }
        if (first) {
            listener.onFault(page, vcpu);
        }
    }

    private int vcpuOf(int threadId) {
        if (threadId != 0) {
            for (KvmVcpu v : vmm.vcpus()) {
                if (v.threadId() == threadId) {
                    return v.index();
                }
            }
        }
        return -1;
    }

    @Override
    public boolean install(long page, ByteBuffer content) {
        return installRun(page, 1, content) != 0;
    }

    /**
     * Installs the run's missing pages with one {@code UFFDIO_COPY} per stretch of contiguous
     * missing pages, straight from {@code content} if it is direct (else through a staging
     * buffer). A page the kernel finds present already (EEXIST: the fault thread gave it a zero
     * page a moment ago) ends its stretch's copy; the copy goes on after it.
     */
    @Override
    public long installRun(long firstPage, int pageCount, ByteBuffer content) {
        if (pageCount < 1 || pageCount > MAX_RUN_PAGES) {
            throw new IllegalArgumentException("a run of 1 to " + MAX_RUN_PAGES + " pages, got " + pageCount);
        }
        checkPage(firstPage);
        checkPage(firstPage + pageCount - 1);
        long runBytes = (long) pageCount * KvmVm.PAGE_BYTES;
        if (content.remaining() != runBytes) {
            throw new IllegalArgumentException(pageCount + " pages are " + runBytes + " bytes, got " + content.remaining());
        }
        synchronized (this) {
            if (!armed || disarmed) {
                return 0;
            }
            MemorySegment source = null;
            long sourceOffset = 0;
            long installed = 0;
            int i = 0;
            while (i < pageCount) {
                if (!missing.contains(firstPage + i)) {
                    i++;
                    continue;
                }
                int end = i + 1;
                while (end < pageCount && missing.contains(firstPage + end)) {
                    end++;
                }
                if (source == null) {
                    if (content.isDirect()) {
                        source = memoryOf(content);
                        sourceOffset = content.position();
                    } else {
                        staging.copyFrom(MemorySegment.ofBuffer(content));
                        source = staging;
                    }
                }
                while (i < end) {
                    long offset = sourceOffset + (long) i * KvmVm.PAGE_BYTES;
                    long copied = uffd.copyRun(ram.address() + (firstPage + i) * KvmVm.PAGE_BYTES,
                            source, offset, (long) (end - i) * KvmVm.PAGE_BYTES);
                    int pages = (int) (copied / KvmVm.PAGE_BYTES);
                    for (int k = i; k < i + pages; k++) {
                        arrived(firstPage + k);
                        installed |= 1L << k;
                    }
                    i += pages;
                    if (i < end) {
                        arrived(firstPage + i); // present already: the guest keeps what it has
                        i++;
                    }
                }
            }
            return installed;
        }
    }

    /**
     * Called with the lock held: the memory of the direct buffer {@code content} from its index 0
     * to its capacity (the caller keeps it alive during the call). The engine installs from one
     * buffer run after run, so the segment is made once per buffer, not once per run.
     */
    private MemorySegment memoryOf(ByteBuffer content) {
        if (content != lastContent) {
            lastContentMemory = MemorySegment.ofBuffer(content.duplicate().clear());
            lastContent = content;
        }
        return lastContentMemory;
    }

    @Override
    public boolean installZero(long page) {
        checkPage(page);
        synchronized (this) {
            if (!armed || disarmed || !missing.contains(page)) {
                return false;
            }
            boolean installed = uffd.zeroPage(ram.address() + page * KvmVm.PAGE_BYTES, KvmVm.PAGE_BYTES);
            arrived(page);
            return installed;
        }
    }

    private void checkPage(long page) {
        if (!vmm.vm().layout().contains(page)) {
            throw new IndexOutOfBoundsException("page " + page + " is not guest RAM");
        }
    }

    /** Called with the lock held: the page is present now; account the waits it ended. */
    private void arrived(long page) {
        missing.remove(page);
        missingCount--;
        List<long[]> w = waiting.isEmpty() ? null : waiting.remove(page);
        if (w != null) {
            long now = System.nanoTime();
            for (long[] waiter : w) {
                if (waiter[0] >= 0 && waiter[0] < blockedNanos.length) {
                    blockedNanos[(int) waiter[0]] += now - waiter[1];
                }
            }
        }
    }

    @Override
    public synchronized long missingPages() {
        return missingCount;
    }

    /**
     * Stops the fault thread. With every page present, closes the userfaultfd too (guest RAM is
     * ordinary memory again); with pages missing, leaves it open: vCPUs blocked on a missing page,
     * or touching one later, stay blocked until {@link #close()}. Idempotent; does not throw.
     */
    @Override
    public void disarm() {
        RamSwap swapped;
        synchronized (this) {
            if (!armed || disarmed) {
                return;
            }
            swapped = swap;
        }
        // After a memfd swap the fault thread serves the pages that stay until the refill has
        // copied them all: it must not stop, nor the fd close, before that.
        boolean refilled = swapped == null || swapped.awaitRefilled(REFILL_WAIT_MILLIS);
        long stillMissing;
        synchronized (this) {
            if (disarmed) {
                return;
            }
            disarmed = true;
            running = false;
            stillMissing = missingCount;
        }
        awaitFaultThread();
        if (stillMissing > 0) {
            LOG.warn("demand paging ended with {} pages missing; vCPUs touching them stay blocked until the VM closes",
                    stillMissing);
        } else if (!refilled) {
            LOG.warn("demand paging ended before guest RAM was refilled from its old memory; vCPUs touching a page "
                    + "not refilled stay blocked until the VM closes");
        } else {
            requestRelease();
        }
    }

    /**
     * Ends demand paging for good, whatever state it is in: disarms, then closes the userfaultfd,
     * which wakes every vCPU blocked on a missing page (its access is then served from the memfd,
     * a hole reading as zeros, so the caller must have told the vCPUs not to enter the guest
     * again, as {@link MicroVmm#beginClose()} does). Call before guest RAM is unmapped. Idempotent;
     * does not throw.
     */
    void close() {
        awaitRehearsal();
        synchronized (this) {
            if (!armed) {
                armed = true; // never armed: nothing to release, and arm() is refused from now on
                disarmed = true;
                released = true;
                if (swap != null) {
                    swap.close(); // prepared, not armed: frees the old memory (no refill started)
                }
                arena.close();
                return;
            }
        }
        RamSwap swapped;
        synchronized (this) {
            swapped = swap;
        }
        if (swapped != null) {
            swapped.close(); // stops the refill and frees the old memory
        }
        disarm();
        awaitFaultThread(); // again: a disarm on another thread may still be waiting for it
        requestRelease();
    }

    /** Waits (bounded) for the fault thread to see {@code running == false} and end. */
    private void awaitFaultThread() {
        Thread t = faultThread;
        if (t == null) {
            return;
        }
        try {
            t.join(FAULT_THREAD_STOP_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Closes the fd now if the fault thread has ended, or has it closed by that thread as it ends. */
    private synchronized void requestRelease() {
        releaseRequested = true;
        if (faultThreadDone) {
            release();
        } else {
            LOG.warn("the userfaultfd thread has not ended after {} ms; it closes the fd when it does",
                    FAULT_THREAD_STOP_MILLIS);
        }
    }

    /**
     * Called with the lock held, once nothing reads the fd: closes it (waking blocked vCPUs) and
     * frees the staging page.
     */
    private void release() {
        if (released) {
            return;
        }
        released = true;
        lastContent = null;
        lastContentMemory = null;
        if (swap != null) {
            swap.close(); // the refill has ended (or never started): frees the old memory
        }
        if (uffd != null) {
            try {
                uffd.close();
            } catch (RuntimeException e) {
                // Only EBADF, which would mean a bug here; nothing is left to undo.
                LOG.warn("closing the userfaultfd", e);
            }
        }
        arena.close();
    }

    @Override
    public synchronized long[] blockedNanosPerVcpu() {
        return blockedNanos.clone();
    }
}
