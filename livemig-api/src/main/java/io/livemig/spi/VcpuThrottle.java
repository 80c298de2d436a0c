package io.livemig.spi;

/**
 * Slows a running VM's vCPUs down, so that a workload that dirties memory faster than the link
 * carries it converges (QEMU's auto-converge). Thread-safe.
 */
public interface VcpuThrottle {

    /**
     * Sets the share of time the vCPUs are kept from running.
     *
     * @param percent 0 (full speed) to 99
     * @throws IllegalArgumentException if {@code percent} is outside {@code [0, 99]}
     */
    void setThrottlePercent(int percent);

    /** {@return the current throttle in percent, 0 to 99} */
    int throttlePercent();
}
