package io.livemig.spi;

import java.util.Optional;

/**
 * The optional hot-plug capability, shared by {@link MigratableVm} and {@link MigrationTarget} so
 * that a class that is both (a provider's VM handle used at either end) inherits one default.
 */
public interface HotPluggable {

    /**
     * Optional capability: hot-unplug and hot-plug of devices with the guest's cooperation, for
     * pass-through devices that fail over ({@code PassThroughPolicy.Action.FAILOVER}). Default: empty
     * (this VM cannot hot-plug).
     *
     * @return the VM's hot-plug, or empty
     */
    default Optional<HotPlug> hotPlug() {
        return Optional.empty();
    }
}
