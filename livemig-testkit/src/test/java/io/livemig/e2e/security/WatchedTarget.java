package io.livemig.e2e.security;

import io.livemig.kit.InMemoryVm;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A destination's target for the attack tests: an {@link InMemoryVm} of the announced shape whose
 * guest runs once resumed, with every page written into guest memory and every post-copy install
 * recorded, so that a test can say what reached the guest, that no page was installed twice, and
 * whether the VM resumed here and was discarded.
 *
 * <p>Thread-safe.
 */
final class WatchedTarget implements MigrationTarget {

    private final InMemoryVm vm;
    private final MemorySink memory;
    private final AtomicLong pagesWritten = new AtomicLong();
    private final Map<Long, AtomicInteger> installsByPage = new ConcurrentHashMap<>();
    private final AtomicInteger resumes;
    private volatile boolean closed;

    private WatchedTarget(InMemoryVm vm, AtomicInteger resumes) {
        this.vm = vm;
        this.resumes = resumes;
        this.memory = new CountingSink(vm.memory());
    }

    /** @return a target of the announced layout and vCPUs, as the {@code mem:} provider makes one */
    static WatchedTarget of(VmDescriptor announced) {
        AtomicInteger resumes = new AtomicInteger();
        InMemoryVm vm = InMemoryVm.builder().layout(announced.memoryLayout()).vcpus(announced.vcpuCount())
                .onResume(resumed -> resumes.incrementAndGet()).build();
        return new WatchedTarget(vm, resumes);
    }

    /** @return the VM behind the target */
    InMemoryVm vm() {
        return vm;
    }

    /** @return pages written into guest memory through the memory sink (pre-copy and stop-copy pages) */
    long pagesWritten() {
        return pagesWritten.get();
    }

    /** @return pages installed by post-copy (an install that found the page present does not count) */
    long pagesInstalled() {
        return installsByPage.size();
    }

    /** @return the largest number of times one page was installed: 1 if each page arrived once */
    int mostInstallsOfOnePage() {
        return installsByPage.values().stream().mapToInt(AtomicInteger::get).max().orElse(0);
    }

    /** @return how many times the VM went from paused to running here */
    int resumes() {
        return resumes.get();
    }

    /** @return whether the VM runs here now: resumed, not paused, not discarded */
    boolean running() {
        return !closed && resumes.get() > 0 && !vm.vcpus().isPaused();
    }

    /** @return whether the destination discarded (closed) the target */
    boolean discarded() {
        return closed;
    }

    @Override
    public VmDescriptor descriptor() {
        return vm.descriptor();
    }

    @Override
    public MemorySink memory() {
        return memory;
    }

    @Override
    public VcpuControl vcpus() {
        return vm.vcpus();
    }

    @Override
    public List<MigratableDevice> devices() {
        return vm.devices();
    }

    @Override
    public Optional<DemandPaging> demandPaging() {
        DemandPaging inner = vm.demandPaging().orElseThrow();
        return Optional.of(new DemandPaging() {
            @Override
            public void arm(PageSet missing, FaultListener listener) {
                inner.arm(missing, listener);
            }

            @Override
            public boolean install(long page, ByteBuffer content) {
                return counted(page, inner.install(page, content));
            }

            @Override
            public boolean installZero(long page) {
                return counted(page, inner.installZero(page));
            }

            @Override
            public long missingPages() {
                return inner.missingPages();
            }

            @Override
            public void disarm() {
                inner.disarm();
            }

            @Override
            public long[] blockedNanosPerVcpu() {
                return inner.blockedNanosPerVcpu();
            }
        });
    }

    private boolean counted(long page, boolean installed) {
        if (installed) {
            installsByPage.computeIfAbsent(page, p -> new AtomicInteger()).incrementAndGet();
        }
        return installed;
    }

    @Override
    public void close() {
        closed = true;
        vm.close();
    }

    /** Counts the pages written into guest memory. */
    private final class CountingSink implements MemorySink {
        private final MemorySink inner;

        CountingSink(MemorySink inner) {
            this.inner = inner;
        }

        @Override
        public MemoryLayout layout() {
            return inner.layout();
        }

        @Override
        public void writePages(long firstPage, int pageCount, ByteBuffer source) {
            pagesWritten.addAndGet(pageCount);
            inner.writePages(firstPage, pageCount, source);
        }

        @Override
        public void zeroPages(long firstPage, int pageCount) {
            pagesWritten.addAndGet(pageCount);
            inner.zeroPages(firstPage, pageCount);
        }

        @Override
        public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
            inner.readPages(firstPage, pageCount, destination);
        }
    }
}
