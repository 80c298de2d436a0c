package io.livemig.spi;

/**
 * A device whose state moves with the VM: an emulated device's registers, a guest workload's
 * bookkeeping, or a pass-through device that supports state saving.
 *
 * <p>The state is saved once, while the VM is paused at switchover, and loaded on the target
 * device with the same {@link #id()} before the target resumes.
 *
 * <p><b>Threading.</b> Called by the engine thread while the VM is paused.
 */
public interface MigratableDevice {

    /** {@return a stable identifier, unique within the VM, matched between source and target} */
    String id();

    /**
     * {@return the device state; the VM is paused}
     *
     * @throws VmOperationException if the device cannot save its state
     */
    byte[] saveState();

    /**
     * Loads the state the source's device saved, at the destination before the VM resumes.
     *
     * @param state bytes that {@link #saveState()} returned on the source device with this id
     * @throws IllegalArgumentException if the state is malformed; the device is left unchanged
     * @throws VmOperationException     if the device cannot load it
     */
    void loadState(byte[] state);
}
