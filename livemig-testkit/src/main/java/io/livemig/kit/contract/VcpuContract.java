package io.livemig.kit.contract;

import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VcpuState;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The promises of {@link VcpuControl}: pause and resume are idempotent and reported by
 * {@code isPaused()}, state is saved only while paused, one state per vCPU in the descriptor's
 * format, what a source saved loads into a target of its shape, and a wrong number of states is
 * refused.
 */
public interface VcpuContract extends ContractTest {

    /**
     * pause() and resume() may be called twice, and isPaused() follows them.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void pauseAndResumeAreIdempotentAndReported() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            VcpuControl vcpus = vm.vcpus();
            assertFalse(vcpus.isPaused(), "ProviderFixture.openSource() must return a running VM: isPaused() is true");
            vcpus.pause();
            vcpus.pause();
            assertTrue(vcpus.isPaused(), "isPaused() must be true after pause() (called twice)");
            vcpus.resume();
            vcpus.resume();
            assertFalse(vcpus.isPaused(), "isPaused() must be false after resume() (called twice)");
            vcpus.pause();
            assertTrue(vcpus.isPaused(), "isPaused() must be true after pause() following resume()");
        }
    }

    /**
     * saveState() refuses a running VM with IllegalStateException.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void saveStateNeedsAPausedVm() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            assertThrows(IllegalStateException.class, () -> vm.vcpus().saveState(),
                    "saveState() on a running VM must throw IllegalStateException: the state would be torn");
        }
    }

    /**
     * A paused VM saves one state per vCPU, by index, in the descriptor's format.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void savedStateHasOneEntryPerVcpuInTheDescriptorsFormat() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            vm.vcpus().pause();
            List<VcpuState> states = vm.vcpus().saveState();
            assertEquals(vm.vcpus().vcpuCount(), states.size(), "saveState() must return one state per vCPU");
            for (int i = 0; i < states.size(); i++) {
                assertEquals(i, states.get(i).index(), "saveState() must order the states by vCPU index");
                assertEquals(vm.descriptor().vcpuStateFormat(), states.get(i).format(), "saveState() must use"
                        + " descriptor().vcpuStateFormat() as each state's format: vCPU " + i + " has another");
            }
        }
    }

    /**
     * A source's saved state loads into a target of its shape, and what that target then saves
     * loads into a second one: the state is opaque, so its bytes may differ after a load (a
     * time-stamp counter moves on), but never its shape.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void stateSavedOnASourceLoadsIntoATarget() throws Exception {
        try (MigratableVm vm = fixture().openSource();
             MigrationTarget target = fixture().createTarget(vm.descriptor());
             MigrationTarget second = fixture().createTarget(vm.descriptor())) {
            fixture().letGuestRun(vm, java.time.Duration.ofMillis(20));
            vm.vcpus().pause();
            List<VcpuState> states = vm.vcpus().saveState();
            assertEquals(vm.vcpus().vcpuCount(), target.vcpus().vcpuCount(),
                    "a target made for a descriptor must have its vcpuCount()");
            target.vcpus().loadState(states);
            List<VcpuState> back = target.vcpus().saveState();
            assertEquals(states.size(), back.size(), "a target that loaded " + states.size()
                    + " vCPU states must save as many");
            for (int i = 0; i < states.size(); i++) {
                assertEquals(i, back.get(i).index(), "the target's saveState() must order the states by vCPU index");
                assertEquals(states.get(i).format(), back.get(i).format(),
                        "the target must save vCPU " + i + " in the format it loaded");
            }
            try {
                second.vcpus().loadState(back);
            } catch (RuntimeException e) {
                throw new AssertionError("the state a target saved after loadState() must load into another target"
                        + " of the same shape, but loadState() threw " + e, e);
            }
        }
    }

    /**
     * loadState() refuses a wrong number of states with IllegalArgumentException.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void loadStateRefusesAWrongNumberOfStates() throws Exception {
        try (MigratableVm vm = fixture().openSource();
             MigrationTarget target = fixture().createTarget(vm.descriptor())) {
            vm.vcpus().pause();
            List<VcpuState> states = vm.vcpus().saveState();
            List<VcpuState> tooMany = new java.util.ArrayList<>(states);
            tooMany.add(new VcpuState(states.size(), states.get(0).format(), states.get(0).data()));
            assertThrows(IllegalArgumentException.class, () -> target.vcpus().loadState(tooMany),
                    "loadState() of " + tooMany.size() + " states into " + states.size()
                            + " vCPUs must throw IllegalArgumentException");
            assertThrows(IllegalArgumentException.class, () -> target.vcpus().loadState(List.of()),
                    "loadState() of no state must throw IllegalArgumentException");
        }
    }
}
