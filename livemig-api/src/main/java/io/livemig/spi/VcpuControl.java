package io.livemig.spi;

import java.util.List;
import java.util.Optional;

/**
 * Runs and stops a VM's vCPUs and saves and loads their state.
 *
 * <p><b>Threading.</b> Thread-safe: the engine pauses from its own thread while the vCPUs run
 * on theirs. {@link #pause()} returns only once no vCPU executes guest code any more, so memory
 * read afterwards is the final memory.
 */
public interface VcpuControl {

    /** {@return the number of vCPUs, at least 1} */
    int vcpuCount();

    /**
     * Stops every vCPU and waits until none runs guest code. Idempotent.
     *
     * @throws VmOperationException if the hypervisor fails to stop a vCPU
     */
    void pause();

    /**
     * Lets every vCPU run again. Idempotent. On a migration target this is the moment the VM
     * starts running at the destination.
     *
     * @throws VmOperationException if the hypervisor fails to start a vCPU
     */
    void resume();

    /** {@return whether the vCPUs are paused (or were never started, on a new target)} */
    boolean isPaused();

    /**
     * Saves every vCPU's state. The VM must be paused.
     *
     * @return one state per vCPU, ordered by index
     * @throws IllegalStateException if the VM is running
     * @throws VmOperationException  if the hypervisor fails
     */
    List<VcpuState> saveState();

    /**
     * Loads every vCPU's state. The VM must be paused.
     *
     * @param states one state per vCPU, as {@link #saveState()} returned them on the source
     * @throws IllegalArgumentException if the count, an index or a format does not fit this VM
     * @throws IllegalStateException    if the VM is running
     * @throws VmOperationException     if the hypervisor fails
     */
    void loadState(List<VcpuState> states);

    /**
     * Optional capability: empty when this VM cannot slow its vCPUs down; the engines' auto-converge
     * escalation step is then skipped. The default is empty.
     *
     * @return the throttle, the same object every time, or empty
     */
    default Optional<VcpuThrottle> throttle() {
        return Optional.empty();
    }
}
