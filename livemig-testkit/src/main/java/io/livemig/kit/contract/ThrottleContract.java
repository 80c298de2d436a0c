package io.livemig.kit.contract;

import io.livemig.spi.MigratableVm;
import io.livemig.spi.VcpuThrottle;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The promises of {@link VcpuThrottle}, for a VM that offers {@link io.livemig.spi.VcpuControl#throttle()}:
 * it takes 0 to 99 percent and reports what it was given, refuses anything else, and a throttled
 * VM still runs. Skipped, by name, where the capability is missing.
 */
public interface ThrottleContract extends ContractTest {

    /**
     * The throttle reports each percentage it was set to, and the VM keeps running at 99 percent.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void throttleTakesZeroToNinetyNinePercent() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            VcpuThrottle throttle = Require.throttle(vm);
            for (int percent : new int[] {30, 99, 0}) {
                throttle.setThrottlePercent(percent);
                assertEquals(percent, throttle.throttlePercent(),
                        "throttlePercent() must report the " + percent + " percent just set");
                assertFalse(vm.vcpus().isPaused(), "throttling must not pause the VM (at " + percent + " percent)");
            }
        }
    }

    /**
     * Percentages outside 0 to 99 are refused with IllegalArgumentException and change nothing.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void throttleRefusesPercentagesOutsideTheRange() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            VcpuThrottle throttle = Require.throttle(vm);
            throttle.setThrottlePercent(20);
            for (int percent : new int[] {-1, 100}) {
                assertThrows(IllegalArgumentException.class, () -> throttle.setThrottlePercent(percent),
                        "setThrottlePercent(" + percent + ") must throw IllegalArgumentException");
                assertEquals(20, throttle.throttlePercent(), "a refused setThrottlePercent(" + percent
                        + ") must leave the throttle as it was");
            }
            throttle.setThrottlePercent(0);
        }
    }
}
