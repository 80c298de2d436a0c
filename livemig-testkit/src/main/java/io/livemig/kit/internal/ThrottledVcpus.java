package io.livemig.kit.internal;

import io.livemig.spi.VcpuControl;
import io.livemig.spi.VcpuThrottle;

import java.util.Optional;

/**
 * The vCPU control of both kit VMs, as far as it is the same: a throttle of 0 to 99 percent
 * that scales the guest's write rate down, and the rule that vCPU state is saved and loaded only
 * while paused. How the VM pauses, and what its state is, is the VM's.
 *
 * <p>Thread-safety is the subclass's.
 */
public abstract class ThrottledVcpus implements VcpuControl, VcpuThrottle {

    /** For subclasses. */
    protected ThrottledVcpus() {
    }

    @Override
    public final Optional<VcpuThrottle> throttle() {
        return Optional.of(this);
    }

    /** @throws IllegalArgumentException if {@code percent} is not in [0, 99] */
    @Override
    public final void setThrottlePercent(int percent) {
        if (percent < 0 || percent > 99) {
            throw new IllegalArgumentException("throttle must be in [0, 99], was " + percent);
        }
        applyThrottle(percent);
    }

    /**
     * Sets the throttle; the writes due under the previous one are the VM's to account.
     *
     * @param percent a validated throttle, 0 to 99
     */
    protected abstract void applyThrottle(int percent);

    /**
     * @param paused whether the VM is paused
     * @throws IllegalStateException if it is not: vCPU state is only saved or loaded while paused
     */
    protected static void requirePaused(boolean paused) {
        if (!paused) {
            throw new IllegalStateException("the VM must be paused");
        }
    }
}
