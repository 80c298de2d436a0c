package io.livemig.e2e;

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

/**
 * A {@link MigrationTarget} that hands every call to another one. A test double that changes one
 * part of a target (its devices refuse their state, its memory is watched) overrides that method
 * and inherits the rest, instead of spelling out every forwarding method again.
 *
 * <p>An override must keep the target's contract: its accessors return the same object every
 * time, so an overriding class makes what it returns once, when it is constructed.
 *
 * <p><b>Ownership.</b> {@link #close()} closes the inner target. <b>Threading.</b> Thread-safe as
 * the inner target is.
 */
public class ForwardingTarget implements MigrationTarget {

    private final MigrationTarget inner;

    /** @param inner the target every call goes to; owned by this one from now on */
    public ForwardingTarget(MigrationTarget inner) {
        this.inner = Objects.requireNonNull(inner, "inner");
    }

    @Override
    public VmDescriptor descriptor() {
        return inner.descriptor();
    }

    @Override
    public MemorySink memory() {
        return inner.memory();
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
    public List<? extends DiskSink> disks() {
        return inner.disks();
    }

    @Override
    public Optional<DemandPaging> demandPaging() {
        return inner.demandPaging();
    }

    @Override
    public void close() {
        inner.close();
    }
}
