package io.livemig.e2e;

import io.livemig.spi.DirtyTracker;
import io.livemig.spi.FreePageHints;
import io.livemig.spi.MemorySource;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VmDescriptor;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A {@link MigratableVm} that hands every call to another one. A test double that changes one part
 * of a source VM (its memory fails, or reports holes) overrides that method and inherits the rest.
 *
 * <p>An override must keep the VM's contract: its accessors return the same object every time, so
 * an overriding class makes what it returns once, when it is constructed.
 *
 * <p><b>Ownership.</b> {@link #close()} closes the inner VM. <b>Threading.</b> Thread-safe as the
 * inner VM is.
 */
public class ForwardingVm implements MigratableVm {

    private final MigratableVm inner;

    /** @param inner the VM every call goes to; owned by this one from now on */
    public ForwardingVm(MigratableVm inner) {
        this.inner = Objects.requireNonNull(inner, "inner");
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
    public Optional<FreePageHints> freePageHints() {
        return inner.freePageHints();
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
