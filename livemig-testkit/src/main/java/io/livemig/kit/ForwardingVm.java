package io.livemig.kit;

import io.livemig.spi.DirtyTracker;
import io.livemig.spi.DiskSource;
import io.livemig.spi.ExecutionRecorder;
import io.livemig.spi.FreePageHints;
import io.livemig.spi.HotPlug;
import io.livemig.spi.MemorySource;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VmDescriptor;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A {@link MigratableVm} that hands every call to another one, optional capabilities included. A
 * test double that changes one part of a source VM (its memory fails, it reports holes, its
 * recorder alters the log) overrides that method and inherits the rest; it works over any
 * provider's VMs, the kit's or a real hypervisor's.
 *
 * <p>An override must keep the VM's contract: its accessors return the same object every time, so
 * an overriding class makes what it returns once, when it is constructed.
 *
 * <p><b>Ownership.</b> {@link #close()} closes the inner VM (override it to leave the inner VM to
 * its owner). <b>Threading.</b> Thread-safe as the inner VM is.
 */
public class ForwardingVm implements MigratableVm {

    private final MigratableVm inner;

    /**
     * Creates a {@code ForwardingVm}.
     *
     * @param inner the VM every call goes to; owned by this one from now on
     */
    public ForwardingVm(MigratableVm inner) {
        this.inner = Objects.requireNonNull(inner, "inner");
    }

    /** {@return the VM every call goes to} */
    protected MigratableVm inner() {
        return inner;
    }

    @Override
    public VmDescriptor descriptor() {
        return inner.descriptor();
    }

    @Override
    public MemorySource memory() {
        return inner.memory();
    }

    @Override
    public Optional<DirtyTracker> dirtyTracker() {
        return inner.dirtyTracker();
    }

    @Override
    public VcpuControl vcpus() {
        return inner.vcpus();
    }

    @Override
    public List<MigratableDevice> devices() {
        return inner.devices();
    }

    @Override
    public List<? extends DiskSource> disks() {
        return inner.disks();
    }

    @Override
    public Optional<FreePageHints> freePageHints() {
        return inner.freePageHints();
    }

    @Override
    public Optional<ExecutionRecorder> executionRecorder() {
        return inner.executionRecorder();
    }

    @Override
    public Optional<HotPlug> hotPlug() {
        return inner.hotPlug();
    }

    @Override
    public boolean isOpen() {
        return inner.isOpen();
    }

    @Override
    public void close() {
        inner.close();
    }
}
