package io.livemig.e2e;

import io.livemig.kit.InMemoryDisk;
import io.livemig.kit.InMemoryVm;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The destination's target in end-to-end tests: a new {@link InMemoryVm}, paused, as a
 * {@link MigrationTarget}, with what the engine does to it recorded, so that a test can say what
 * reached the guest and what became of the VM:
 * <ul>
 *   <li>every write to guest memory ({@link #writes()}), so a refused input can be shown to have
 *       written nothing, and the pages as they landed ({@link #page});
 *   <li>every post-copy install, in the order the engine asked for them ({@link #installOrder()}),
 *       and which pages an install actually placed ({@link #pagesInstalled()},
 *       {@link #mostInstallsOfOnePage()});
 *   <li>every resume of the VM ({@link #resumes()}, {@link #running()}) and whether the target was
 *       discarded ({@link #discarded()}).
 * </ul>
 *
 * <p>The factories make the targets the tests need: {@link #of} as the {@code mem:} provider makes
 * one, {@link #asAnnounced} as a provider that takes whatever devices SETUP announces,
 * {@link #withoutDemandPaging} for one that cannot run post-copy. A test that needs another shape
 * subclasses this class and overrides {@link #descriptor()}, {@link #devices()},
 * {@link #demandPaging()} or {@link #guestMemory()}, making what it returns once, in its
 * constructor; the recording stays in {@link #memory()} and {@link #close()}, which are final.
 *
 * <p><b>Ownership.</b> The target owns its VM: {@link #close()} closes it. <b>Threading.</b>
 * Thread-safe.
 */
public class ObservedTarget extends ForwardingTarget {

    private final InMemoryVm vm;
    /** Counted by the VM's resume hook: each time its vCPUs go from paused to running. */
    private final AtomicInteger resumes;
    private final MemorySink memory = new ObservedMemory();
    private final Optional<DemandPaging> demandPaging;
    private final AtomicInteger writes = new AtomicInteger();
    /** Every page handed to an install, in call order. Guarded by itself. */
    private final List<Long> installOrder = new ArrayList<>();
    /** Calls to install, installZero and installRun: fewer than pages when runs were installed at once. */
    private final AtomicInteger installCalls = new AtomicInteger();
    /** Per page, the installs that placed it. */
    private final Map<Long, AtomicInteger> installsByPage = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /**
     * Makes a target over a new, paused in-memory VM, with the VM's own descriptor, memory,
     * devices and demand paging.
     *
     * @param layout    the VM's memory layout
     * @param vcpuCount the VM's vCPUs
     */
    protected ObservedTarget(MemoryLayout layout, int vcpuCount) {
        this(layout, vcpuCount, new AtomicInteger());
    }

    private ObservedTarget(MemoryLayout layout, int vcpuCount, AtomicInteger resumes) {
        this(InMemoryVm.builder().layout(layout).vcpus(vcpuCount).onResume(resumed -> resumes.incrementAndGet())
                .build(), resumes);
    }

    private ObservedTarget(InMemoryVm vm, AtomicInteger resumes) {
        super(vm);
        this.vm = vm;
        this.resumes = resumes;
        this.demandPaging = vm.demandPaging().map(ObservedPaging::new);
    }

    /**
     * @return a target as the {@code mem:} provider makes one: the announced layout and vCPUs, but
     *         the VM's own devices (the workload device) and vCPU state format whatever SETUP said,
     *         as the KVM provider's targets have theirs; with demand paging
     */
    public static ObservedTarget of(VmDescriptor announced) {
        return new ObservedTarget(announced.memoryLayout(), announced.vcpuCount());
    }

    /**
     * @return a target as {@link #of} makes one, with {@code disks} as its disks (each a replica
     *         the migration brings up to date; the announced disks must be exactly these)
     */
    public static ObservedTarget withDisks(VmDescriptor announced, InMemoryDisk... disks) {
        InMemoryVm.Builder b = InMemoryVm.builder().layout(announced.memoryLayout()).vcpus(announced.vcpuCount());
        for (InMemoryDisk d : disks) {
            b.disk(d);
        }
        return new ObservedTarget(b.build(), new AtomicInteger());
    }

    /**
     * @return the kit's own target for what the source announced ({@code InMemoryVm.Builder.buildTarget}):
     *         its devices, stateful ones included, made from the announced ids
     */
    public static ObservedTarget built(VmDescriptor announced) {
        return new ObservedTarget(InMemoryVm.builder().buildTarget(announced), new AtomicInteger());
    }

    /** @return a target as {@link #of} makes one, but without demand paging: post-copy into it is refused */
    public static ObservedTarget withoutDemandPaging(VmDescriptor announced) {
        return new ObservedTarget(announced.memoryLayout(), announced.vcpuCount()) {
            @Override
            public Optional<DemandPaging> demandPaging() {
                return Optional.empty();
            }
        };
    }

    /**
     * @return a target as a faithful provider makes one: the announced layout and vCPUs, and a
     *         device for every announced id (the VM's workload device for its id, one that keeps
     *         the last state loaded for any other), in the VM's vCPU state format
     */
    public static ObservedTarget asAnnounced(VmDescriptor announced) {
        return new ObservedTarget(announced.memoryLayout(), announced.vcpuCount()) {
            private final VmDescriptor descriptor = new VmDescriptor(announced.memoryLayout(),
                    announced.vcpuCount(), announced.deviceIds(), vm().descriptor().vcpuStateFormat());
            private final List<MigratableDevice> devices = announced.deviceIds().stream()
                    .map(id -> id.equals(InMemoryVm.WORKLOAD_DEVICE_ID) ? vm().devices().getFirst()
                            : new StateDevice(id))
                    .toList();

            @Override
            public VmDescriptor descriptor() {
                return descriptor;
            }

            @Override
            public List<MigratableDevice> devices() {
                return devices;
            }
        };
    }

    /** @return the in-memory VM behind this target */
    public final InMemoryVm vm() {
        return vm;
    }

    /** @return a copy of {@code page} as guest memory ({@link #guestMemory()}) holds it */
    public final byte[] page(long page) {
        ByteBuffer copy = ByteBuffer.allocate(guestMemory().layout().pageSizeBytes());
        guestMemory().readPages(page, 1, copy);
        return copy.array();
    }

    /** @return writes to guest memory so far: calls that wrote or zeroed pages, whatever their page count */
    public final int writes() {
        return writes.get();
    }

    /**
     * @return every page the engine handed to a post-copy install so far, in the order it did,
     *         including installs that found the page present already; a copy
     */
    public final List<Long> installOrder() {
        synchronized (installOrder) {
            return List.copyOf(installOrder);
        }
    }

    /** @return how many install calls (single pages, zero pages and runs) the engine made */
    public final int installCalls() {
        return installCalls.get();
    }

    /** @return pages an install placed (an install that found the page present does not count) */
    public final long pagesInstalled() {
        return installsByPage.size();
    }

    /** @return the largest number of installs that placed one page: 1 if each page arrived once */
    public final int mostInstallsOfOnePage() {
        return installsByPage.values().stream().mapToInt(AtomicInteger::get).max().orElse(0);
    }

    /** @return how many times the VM went from paused to running here */
    public final int resumes() {
        return resumes.get();
    }

    /** @return whether the VM runs here now: resumed, not paused, not discarded */
    public final boolean running() {
        return !closed && resumes.get() > 0 && !vm.vcpus().isPaused();
    }

    /** @return whether the target was closed: discarded by the destination, or stopped by its owner */
    public final boolean discarded() {
        return closed;
    }

    /**
     * @return the guest memory that {@link #memory()} writes through to: the VM's; a subclass may
     *         give other memory of the descriptor's layout
     */
    protected MemorySink guestMemory() {
        return vm.memory();
    }

    /** @return the guest memory, every write to it counted */
    @Override
    public final MemorySink memory() {
        return memory;
    }

    /** @return the VM's demand paging, every install recorded */
    @Override
    public Optional<DemandPaging> demandPaging() {
        return demandPaging;
    }

    /** Discards the target: closes the VM. Idempotent. */
    @Override
    public final void close() {
        closed = true;
        super.close();
    }

    /** {@link #guestMemory()}, with every write counted. */
    private final class ObservedMemory implements MemorySink {
        @Override
        public MemoryLayout layout() {
            return guestMemory().layout();
        }

        @Override
        public void writePages(long firstPage, int pageCount, ByteBuffer source) {
            writes.incrementAndGet();
            guestMemory().writePages(firstPage, pageCount, source);
        }

        @Override
        public void zeroPages(long firstPage, int pageCount) {
            writes.incrementAndGet();
            guestMemory().zeroPages(firstPage, pageCount);
        }

        @Override
        public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
            guestMemory().readPages(firstPage, pageCount, destination);
        }
    }

    /** The VM's demand paging, with every install recorded: the page before, whether it was placed after. */
    private final class ObservedPaging implements DemandPaging {
        private final DemandPaging inner;

        ObservedPaging(DemandPaging inner) {
            this.inner = inner;
        }

        @Override
        public void arm(PageSet missing, FaultListener listener) {
            inner.arm(missing, listener);
        }

        @Override
        public boolean install(long page, ByteBuffer content) {
            installCalls.incrementAndGet();
            asked(page);
            return placed(page, inner.install(page, content));
        }

        @Override
        public boolean installZero(long page) {
            installCalls.incrementAndGet();
            asked(page);
            return placed(page, inner.installZero(page));
        }

        @Override
        public long installRun(long firstPage, int pageCount, ByteBuffer content) {
            installCalls.incrementAndGet();
            for (int i = 0; i < pageCount; i++) {
                asked(firstPage + i);
            }
            long installed = inner.installRun(firstPage, pageCount, content);
            for (int i = 0; i < pageCount; i++) {
                placed(firstPage + i, (installed & 1L << i) != 0);
            }
            return installed;
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

        private void asked(long page) {
            synchronized (installOrder) {
                installOrder.add(page);
            }
        }

        private boolean placed(long page, boolean installed) {
            if (installed) {
                installsByPage.computeIfAbsent(page, p -> new AtomicInteger()).incrementAndGet();
            }
            return installed;
        }
    }

    /** A device with no behaviour: it keeps the last state loaded. */
    private static final class StateDevice implements MigratableDevice {
        private final String id;
        private volatile byte[] state = new byte[0];

        StateDevice(String id) {
            this.id = id;
        }

        @Override
        public String id() {
            return id;
        }

        @Override
        public byte[] saveState() {
            return state.clone();
        }

        @Override
        public void loadState(byte[] loaded) {
            state = loaded.clone();
        }
    }
}
