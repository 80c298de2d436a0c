package io.livemig.xen;

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

/** A xen: target that runs a hook just before the domain is first unpaused (to compare memories). */
record ResumeHookTarget(XenDomain domain, Consumer<XenDomain> beforeFirstResume) implements MigrationTarget {

    @Override
    public VmDescriptor descriptor() {
        return domain.descriptor();
    }

    @Override
    public MemorySink memory() {
        return domain.memory();
    }

    @Override
    public VcpuControl vcpus() {
        VcpuControl inner = domain.vcpus();
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
                    beforeFirstResume.accept(domain);
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
        return domain.devices();
    }

    @Override
    public void close() {
        domain.close();
    }
}
