package io.livemig.kvm;

import io.livemig.kvm.internal.VcpuStateFormat;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VcpuThrottle;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@link VcpuControl} over a {@link MicroVmm}: pause and resume, the full KVM state of each
 * vCPU in format {@value VcpuStateFormat#FORMAT}, and the throttle auto-converge uses. A VM
 * that was never started (a migration target) starts on its first resume.
 */
final class KvmVcpus implements VcpuControl, VcpuThrottle {

    private final MicroVmm vmm;

    KvmVcpus(MicroVmm vmm) {
        this.vmm = vmm;
    }

    @Override
    public int vcpuCount() {
        return vmm.vcpus().size();
    }

    @Override
    public void pause() {
        vmm.pause();
    }

    @Override
    public void resume() {
        if (vmm.state() == MicroVmm.RunState.CREATED) {
            vmm.start();
        }
        vmm.resume();
    }

    @Override
    public boolean isPaused() {
        return vmm.isPaused();
    }

    @Override
    public List<VcpuState> saveState() {
        requirePaused();
        List<VcpuState> states = new ArrayList<>();
        for (KvmVcpu v : vmm.vcpus()) {
            states.add(new VcpuState(v.index(), VcpuStateFormat.FORMAT, v.saveState()));
        }
        return states;
    }

    @Override
    public void loadState(List<VcpuState> states) {
        requirePaused();
        List<KvmVcpu> vcpus = vmm.vcpus();
        if (states.size() != vcpus.size()) {
            throw new IllegalArgumentException(states.size() + " vCPU states for " + vcpus.size() + " vCPUs");
        }
        for (VcpuState s : states) {
            if (!s.format().equals(VcpuStateFormat.FORMAT)) {
                throw new IllegalArgumentException("vCPU state format " + s.format() + ", KVM needs "
                        + VcpuStateFormat.FORMAT);
            }
            if (s.index() >= vcpus.size()) {
                throw new IllegalArgumentException("state for vCPU " + s.index() + " of " + vcpus.size());
            }
        }
        for (VcpuState s : states) {
            vcpus.get(s.index()).loadState(s.data());
        }
    }

    private void requirePaused() {
        if (!vmm.isPaused()) {
            throw new IllegalStateException("the vCPUs must be paused");
        }
    }

    @Override
    public Optional<VcpuThrottle> throttle() {
        return Optional.of(this);
    }

    @Override
    public void setThrottlePercent(int percent) {
        vmm.setThrottlePercent(percent);
    }

    @Override
    public int throttlePercent() {
        return vmm.throttlePercent();
    }
}
