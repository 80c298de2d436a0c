package io.livemig.kvm;

import io.livemig.kvm.internal.Sys;
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
 * Post-copy on a KVM target through userfaultfd. {@link #arm} drops the pages still to come
 * from the memfd (so that pre-copied versions of them cannot be read), registers guest RAM in
 * missing mode and starts a fault thread. A vCPU that touches a missing page blocks inside
 * KVM_RUN; the fault thread tells the engine (which asks the source), and {@link #install}
 * places the page atomically with {@code UFFDIO_COPY}, which wakes the vCPU. A page that is
 * neither missing nor present is one that was never sent because it is zero: the fault thread
 * installs a zero page itself. A page pushed after the guest already got it (the demand raced
 * the push) is refused by the kernel ({@code EEXIST}) and left as the guest has it.
 *
 * <p>Thread-safe. {@link #disarm()} stops the fault thread, unregisters and closes the fd.
 */
final class KvmDemandPaging implements DemandPaging {

    private static final Logger LOG = LoggerFactory.getLogger(KvmDemandPaging.class);

    private final MicroVmm vmm;
    private final MemorySegment ram;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment staging = arena.allocate(KvmVm.PAGE_BYTES, KvmVm.PAGE_BYTES);
    private final long[] blockedNanos;
    /** Faulted missing pages: the vCPUs waiting and since when. */
    private final Map<Long, List<long[]>> waiting = new HashMap<>();
    private PageSet missing;
    private long missingCount;
    private FaultListener listener;
    private Userfaultfd uffd;
    private Thread faultThread;
    private volatile boolean running;
    private boolean armed;
    private boolean disarmed;

    KvmDemandPaging(MicroVmm vmm) {
        this.vmm = vmm;
        this.ram = vmm.vm().memory();
        this.blockedNanos = new long[vmm.vcpus().size()];
    }

    @Override
    public synchronized void arm(PageSet pages, FaultListener onFault) {
        if (armed) {
            throw new IllegalStateException("demand paging is armed already");
        }
        if (!vmm.isPaused()) {
            throw new IllegalStateException("arm demand paging before the target runs");
        }
        armed = true;
        missing = pages.copy();
        missingCount = missing.cardinality();
        listener = onFault;
        // A page still to come may hold an older version from pre-copy: drop it, so that the
        // guest's first touch faults and waits for the current one.
        int memfd = vmm.vm().memoryFd();
        for (long p = missing.nextSetBit(0); p >= 0; ) {
            long end = missing.nextClearBit(p);
            if (end < 0 || end > vmm.vm().pageCount()) {
                end = vmm.vm().pageCount();
            }
            Sys.punchHole(memfd, p * KvmVm.PAGE_BYTES, (end - p) * KvmVm.PAGE_BYTES);
            p = end >= vmm.vm().pageCount() ? -1 : missing.nextSetBit(end);
        }
        uffd = Userfaultfd.open();
        uffd.register(ram);
        running = true;
        faultThread = Thread.ofPlatform().name("livemig-uffd").daemon().start(this::handleFaults);
    }

    private void handleFaults() {
        try {
            while (running) {
                for (Userfaultfd.Fault f : uffd.awaitFaults(50)) {
                    onFault(f);
                }
            }
        } catch (RuntimeException e) {
            LOG.error("the userfaultfd thread failed; vCPUs touching missing pages will wait", e);
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
            if (!missing.contains(page)) {
                // Never sent because it is zero (or installed a moment ago: then EEXIST, and a wake).
                uffd.zeroPage(ram.address() + page * KvmVm.PAGE_BYTES, KvmVm.PAGE_BYTES);
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
        checkPage(page);
        if (content.remaining() != KvmVm.PAGE_BYTES) {
            throw new IllegalArgumentException("a page is " + KvmVm.PAGE_BYTES + " bytes, got " + content.remaining());
        }
        synchronized (this) {
            if (!armed || disarmed || !missing.contains(page)) {
                return false;
            }
            staging.copyFrom(MemorySegment.ofBuffer(content));
            boolean installed = uffd.copy(ram.address() + page * KvmVm.PAGE_BYTES, staging, KvmVm.PAGE_BYTES);
            arrived(page);
            return installed;
        }
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
        if (page < 0 || page >= vmm.vm().pageCount()) {
            throw new IndexOutOfBoundsException("page " + page + " is not guest RAM");
        }
    }

    /** Called with the lock held: the page is present now; account the waits it ended. */
    private void arrived(long page) {
        missing.remove(page);
        missingCount--;
        List<long[]> w = waiting.remove(page);
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

    @Override
    public void disarm() {
        Thread t;
        synchronized (this) {
            if (!armed || disarmed) {
                return;
            }
            disarmed = true;
            running = false;
            t = faultThread;
        }
        try {
            t.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            uffd.unregister(ram);
            uffd.close();
            if (missingCount > 0) {
                LOG.warn("demand paging ended with {} pages missing", missingCount);
            }
        }
        arena.close();
    }

    @Override
    public synchronized long[] blockedNanosPerVcpu() {
        return blockedNanos.clone();
    }
}
