package io.livemig.kit;

import io.livemig.spi.VcpuControl;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VcpuThrottle;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A {@link VcpuControl} that hands every call to another one. A test double that changes one
 * operation of a VM's vCPUs (a hook before the first resume, a guest write just before the pause)
 * overrides that method and inherits the rest. Thread-safe as the inner control is.
 */
public class ForwardingVcpus implements VcpuControl {

    private final VcpuControl inner;

    /**
     * Creates a {@code ForwardingVcpus}.
     *
     * @param inner the vCPU control every call goes to
     */
    public ForwardingVcpus(VcpuControl inner) {
        this.inner = Objects.requireNonNull(inner, "inner");
    }

    @Override
    public int vcpuCount() {
        return inner.vcpuCount();
    }

    @Override
    public void pause() {
        inner.pause();
    }

    @Override
    public void resume() {
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
}
