package io.livemig.kit.contract;

import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The promises of {@link MigratableDevice}: a target made for a descriptor has the same devices,
 * a paused VM's device saves the same state each time, and that state loads into the target's
 * device of the same id. Skipped for a VM without devices.
 */
public interface DeviceContract extends ContractTest {

    /**
     * Each device's state saved on the paused source is stable and loads into the target's device with its id.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void deviceStateSavedOnASourceLoadsIntoTheTargetsDevice() throws Exception {
        try (MigratableVm vm = fixture().openSource();
             MigrationTarget target = fixture().createTarget(vm.descriptor())) {
            Assumptions.assumeFalse(vm.devices().isEmpty(), "the VM has no MigratableVm.devices()");
            List<String> ids = target.devices().stream().map(MigratableDevice::id).toList();
            assertEquals(vm.descriptor().deviceIds(), ids,
                    "a target must have the devices of the descriptor it was made for, in that order");
            fixture().letGuestRun(vm, java.time.Duration.ofMillis(20));
            vm.vcpus().pause();
            for (int i = 0; i < ids.size(); i++) {
                MigratableDevice from = vm.devices().get(i);
                MigratableDevice to = target.devices().get(i);
                byte[] state = from.saveState();
                assertArrayEquals(state, from.saveState(), "device '" + from.id() + "': saveState() twice on a paused"
                        + " VM must give the same bytes");
                try {
                    to.loadState(state);
                } catch (RuntimeException e) {
                    throw new AssertionError("device '" + from.id() + "': loadState() on the target must take the state"
                            + " its source device saved, but threw " + e, e);
                }
            }
        }
    }
}
