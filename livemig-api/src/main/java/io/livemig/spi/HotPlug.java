package io.livemig.spi;

import java.time.Duration;
import java.util.concurrent.TimeoutException;

/**
 * Optional capability of a VM and of a migration target: hot-unplug and hot-plug of a device with
 * the guest's cooperation (ACPI or PCIe hot-plug, or a VMM's own mechanism). It is how a
 * pass-through device that cannot save its state moves (Zhai et al., OLS'08; Linux's
 * net_failover today): the guest bonds it with a virtual device, the source unplugs it and the
 * guest fails over to the virtual one, the VM migrates, and the destination plugs an equivalent
 * device that the guest enslaves again.
 *
 * <p><b>Threading.</b> Called by the engine's thread while the VM runs; each call blocks until the
 * guest answered or the timeout passed.
 */
public interface HotPlug {

    /**
     * Asks the guest to release device {@code deviceId} and waits until it acknowledged: the
     * device is then gone from the guest.
     *
     * @param deviceId the device's id, as {@link MigratableDevice#id()}
     * @param timeout  how long to wait for the guest's acknowledgement
     * @throws TimeoutException     if the guest did not acknowledge in time (the device may still be
     *                              plugged; the provider withdrew the request where it can)
     * @throws VmOperationException if the guest refused, or the unplug failed
     */
    void unplug(String deviceId, Duration timeout) throws TimeoutException;

    /**
     * Plugs device {@code deviceId} (or its equivalent on this host) into the guest and waits until
     * the guest took it.
     *
     * @param deviceId the device's id
     * @param timeout  how long to wait for the guest
     * @throws TimeoutException     if the guest did not take it in time
     * @throws VmOperationException if the device cannot be plugged here
     */
    void plug(String deviceId, Duration timeout) throws TimeoutException;
}
