package io.livemig.e2e.protocol;

import io.livemig.kit.InMemoryVm;
import io.livemig.kit.internal.PagedMemory;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VmDescriptor;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A target for hostile-source tests: the vCPUs, workload device and demand paging of an
 * {@link InMemoryVm}, with every write to guest memory and every post-copy install counted, so a
 * test can say that a refused input wrote nothing.
 */
final class CountingTarget implements MigrationTarget {

    private final InMemoryVm vm;
    private final VmDescriptor descriptor;
    private final MemorySink raw;
    private final List<MigratableDevice> devices;
    private final AtomicInteger writes = new AtomicInteger();
    private final AtomicInteger installs = new AtomicInteger();
    private final MemorySink memory = new CountingSink();
    private volatile boolean closed;

    private CountingTarget(InMemoryVm vm, VmDescriptor descriptor, MemorySink raw, List<MigratableDevice> devices) {
        this.vm = vm;
        this.descriptor = descriptor;
        this.raw = raw;
        this.devices = devices;
    }

    /**
     * What a faithful provider makes: the announced layout and vCPUs, and a device for every
     * announced id (the in-memory VM's workload device, and a {@link StateDevice} for any other).
     */
    static CountingTarget asAnnounced(VmDescriptor announced) {
        InMemoryVm vm = vmFor(announced.memoryLayout(), announced.vcpuCount());
        List<MigratableDevice> devices = new ArrayList<>();
        for (String id : announced.deviceIds()) {
            devices.add(id.equals(InMemoryVm.WORKLOAD_DEVICE_ID) ? vm.devices().get(0) : new StateDevice(id));
        }
        return new CountingTarget(vm, new VmDescriptor(announced.memoryLayout(), announced.vcpuCount(),
                announced.deviceIds(), vm.descriptor().vcpuStateFormat()), vm.memory(), devices);
    }

    /**
     * What the KVM provider makes: the announced layout and vCPUs, but its own devices and vCPU
     * state format whatever SETUP said (here the in-memory VM's workload device and format).
     */
    static CountingTarget ownShape(VmDescriptor announced) {
        InMemoryVm vm = vmFor(announced.memoryLayout(), announced.vcpuCount());
        return new CountingTarget(vm, vm.descriptor(), vm.memory(), vm.devices());
    }

    /**
     * A target for a sparse layout: guest memory only where the layout has RAM (no per-page
     * bookkeeping over the span), the vCPUs and workload device of a small in-memory VM. No
     * demand paging.
     */
    static CountingTarget sparse(VmDescriptor announced) {
        InMemoryVm vm = vmFor(MemoryLayout.contiguous(HostileSource.PAGE, 16L * HostileSource.PAGE),
                announced.vcpuCount());
        return new CountingTarget(vm, new VmDescriptor(announced.memoryLayout(), announced.vcpuCount(),
                vm.descriptor().deviceIds(), vm.descriptor().vcpuStateFormat()),
                new PagedMemory(announced.memoryLayout()), vm.devices());
    }

    private static InMemoryVm vmFor(MemoryLayout layout, int vcpus) {
        return InMemoryVm.builder().layout(layout).vcpus(vcpus).build();
    }

    /** @return the in-memory VM behind this target */
    InMemoryVm vm() {
        return vm;
    }

    /** @return a copy of {@code page} as guest memory holds it */
    byte[] page(long page) {
        ByteBuffer b = ByteBuffer.allocateDirect(HostileSource.PAGE);
        raw.readPages(page, 1, b);
        byte[] bytes = new byte[HostileSource.PAGE];
        b.flip().get(bytes);
        return bytes;
    }

    /** @return writes to guest memory so far (pages written or zeroed) */
    int writes() {
        return writes.get();
    }

    /** @return post-copy pages installed so far */
    int installs() {
        return installs.get();
    }

    boolean closed() {
        return closed;
    }

    @Override
    public VmDescriptor descriptor() {
        return descriptor;
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
        return devices;
    }

    @Override
    public Optional<DemandPaging> demandPaging() {
        if (raw != vm.memory()) {
            return Optional.empty();
        }
        return vm.demandPaging().map(CountingPaging::new);
    }

    @Override
    public void close() {
        closed = true;
        vm.close();
    }

    private final class CountingSink implements MemorySink {
        @Override
        public MemoryLayout layout() {
            return descriptor.memoryLayout();
        }

        @Override
        public void writePages(long firstPage, int pageCount, ByteBuffer source) {
            writes.incrementAndGet();
            raw.writePages(firstPage, pageCount, source);
        }

        @Override
        public void zeroPages(long firstPage, int pageCount) {
            writes.incrementAndGet();
            raw.zeroPages(firstPage, pageCount);
        }

        @Override
        public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
            raw.readPages(firstPage, pageCount, destination);
        }
    }

    private final class CountingPaging implements DemandPaging {
        private final DemandPaging inner;

        CountingPaging(DemandPaging inner) {
            this.inner = inner;
        }

        @Override
        public void arm(PageSet missing, FaultListener listener) {
            inner.arm(missing, listener);
        }

        @Override
        public boolean install(long page, ByteBuffer content) {
            installs.incrementAndGet();
            return inner.install(page, content);
        }

        @Override
        public boolean installZero(long page) {
            installs.incrementAndGet();
            return inner.installZero(page);
        }

        @Override
        public long missingPages() {
            return inner.missingPages();
        }

        @Override
        public long[] blockedNanosPerVcpu() {
            return inner.blockedNanosPerVcpu();
        }

        @Override
        public void disarm() {
            inner.disarm();
        }
    }

    /** A device with no behaviour: it keeps the last state loaded. */
    static final class StateDevice implements MigratableDevice {
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
