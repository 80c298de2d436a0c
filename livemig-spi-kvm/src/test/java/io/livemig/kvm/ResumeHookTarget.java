package io.livemig.kvm;

import io.livemig.spi.DemandPaging;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VcpuThrottle;
import io.livemig.spi.VmDescriptor;

import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/** A KVM target that runs a hook just before its vCPUs first run (to snapshot or watch memory). */
record ResumeHookTarget(KvmGuest guest, Consumer<KvmGuest> beforeFirstResume) implements MigrationTarget {

    @Override
    public VmDescriptor descriptor() {
        return guest.descriptor();
    }

    @Override
    public MemorySink memory() {
        return guest.memory();
    }

    @Override
    public Optional<DemandPaging> demandPaging() {
        return guest.demandPaging();
    }

    @Override
    public VcpuControl vcpus() {
        VcpuControl inner = guest.vcpus();
        return new VcpuControl() {
            private boolean resumed;

            @Override
            public int vcpuCount() {
                return inner.vcpuCount();
            }

            @Override
            public void pause() {
                inner.pause();
            }

            @Override
            public synchronized void resume() {
                if (!resumed) {
                    resumed = true;
                    beforeFirstResume.accept(guest);
                }
                inner.resume();
            }

            @Override
            public boolean isPaused() {
                return inner.isPaused();
            }

            @Override
            public List<VcpuState> saveState() {
                return inner.saveState();
            }

            @Override
            public void loadState(List<VcpuState> states) {
                inner.loadState(states);
            }

            @Override
            public Optional<VcpuThrottle> throttle() {
                return inner.throttle();
            }
        };
    }

    @Override
    public List<MigratableDevice> devices() {
        return guest.devices();
    }

    @Override
    public void close() {
        guest.close();
    }
}
