package io.livemig.kit;

import io.livemig.spi.DemandPaging;
import io.livemig.spi.DiskSink;
import io.livemig.spi.MemorySink;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VmDescriptor;

import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Any provider's {@link MigrationTarget}, with a hook that runs once, just before its vCPUs first
 * resume: the moment the receiving engine has loaded everything and the guest has not run yet.
 * Tests use it to snapshot or watch the destination's memory at the switchover, or to start
 * dirty logging there, whatever the provider.
 *
 * <p>Everything else is the wrapped target's. Thread-safe as the wrapped target is; the hook
 * runs on the thread that resumes the vCPUs, once. Closing closes the wrapped target.
 *
 * @param <T> the wrapped target's type
 */
public final class ResumeHookTarget<T extends MigrationTarget> implements MigrationTarget {

    private final T target;
    private final Consumer<? super T> beforeFirstResume;
    private final VcpuControl vcpus;

    /**
     * Creates a {@code ResumeHookTarget}.
     *
     * @param target            the provider's target; owned from now on
     * @param beforeFirstResume runs with {@code target} just before its vCPUs first resume
     */
    public ResumeHookTarget(T target, Consumer<? super T> beforeFirstResume) {
        this.target = Objects.requireNonNull(target, "target");
        this.beforeFirstResume = Objects.requireNonNull(beforeFirstResume, "beforeFirstResume");
        this.vcpus = new HookedVcpus(target.vcpus());
    }

    /** {@return the wrapped target} */
    public T target() {
        return target;
    }

    @Override
    public VmDescriptor descriptor() {
        return target.descriptor();
    }

    @Override
    public MemorySink memory() {
        return target.memory();
    }

    @Override
    public List<? extends DiskSink> disks() {
        return target.disks();
    }

    @Override
    public Optional<DemandPaging> demandPaging() {
        return target.demandPaging();
    }

    @Override
    public VcpuControl vcpus() {
        return vcpus;
    }

    @Override
    public List<MigratableDevice> devices() {
        return target.devices();
    }

    @Override
    public void close() {
        target.close();
    }

    private final class HookedVcpus extends ForwardingVcpus {
        private boolean resumed;

        HookedVcpus(VcpuControl inner) {
            super(inner);
        }

        @Override
        public synchronized void resume() {
            if (!resumed) {
                resumed = true;
                beforeFirstResume.accept(target);
            }
            super.resume();
        }
    }
}
