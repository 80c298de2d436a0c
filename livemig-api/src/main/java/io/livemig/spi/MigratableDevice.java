package io.livemig.spi;

/**
 * A device whose state moves with the VM: an emulated device's registers, a guest workload's
 * bookkeeping, or a pass-through device that supports state saving.
 *
 * <p>A small state is saved once, while the VM is paused at switchover ({@link #saveState()}),
 * and loaded on the target device with the same {@link #id()} before the target resumes
 * ({@link #loadState}). A device with a large state, or one that keeps changing it while it runs,
 * offers {@link #migration()} instead: VFIO migration v2's states and data stream, read
 * iteratively during the live copy. A device that writes guest memory itself (DMA, or a VMM
 * filling buffers outside the vCPUs' dirty log) offers {@link #dmaTracker()}, whose pages the
 * engine adds to every collect of the VM's dirty log.
 *
 * <p><b>Threading.</b> Called by the engine thread; {@link #saveState()} while the VM is paused.
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

    /**
     * Optional capability: the device migrates through VFIO migration v2's state machine and data
     * stream instead of {@link #saveState()} and {@link #loadState}. Default: empty.
     *
     * @return the device's migration, or empty when its state is saved whole at the switchover
     */
    default java.util.Optional<DeviceMigration> migration() {
        return java.util.Optional.empty();
    }

    /**
     * Optional capability: the pages the device writes into guest memory itself, which the vCPUs'
     * dirty log does not see (VFIO's DMA logging, a VMM's own writes). Same contract as the VM's
     * {@link DirtyTracker}: no written page is ever missed between start and stop. Default: empty
     * (the device writes no guest memory, or the VM's own tracker sees its writes).
     *
     * @return the device's dirty tracker, or empty
     */
    default java.util.Optional<DirtyTracker> dmaTracker() {
        return java.util.Optional.empty();
    }
}
