package io.livemig.e2e.fuzz;

import io.livemig.kit.InMemoryVm;
import io.livemig.spi.VcpuState;

import java.util.List;

/**
 * vCPU and device states that the in-memory VM loads, saved once from fresh VMs of one and two
 * vCPUs: what the fuzzer's state frames start from, so that COMMIT can succeed and the target
 * resume.
 */
final class Templates {

    private static final List<List<VcpuState>> VCPU_STATES = List.of(saved(1), saved(2));
    private static final String FORMAT = VCPU_STATES.getFirst().getFirst().format();
    private static final byte[] DEVICE_STATE;

    static {
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(64 * 4096L).build()) {
            DEVICE_STATE = vm.devices().getFirst().saveState();
        }
    }

    private Templates() {
    }

    private static List<VcpuState> saved(int vcpus) {
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(64 * 4096L).vcpus(vcpus).build()) {
            return vm.vcpus().saveState();
        }
    }

    /** @return the in-memory VM's vCPU state format */
    static String vcpuFormat() {
        return FORMAT;
    }

    /** @return a copy of the state of vCPU {@code index} of a fresh VM of {@code vcpus} (1 or 2; more read as 2) */
    static byte[] vcpuState(int vcpus, int index) {
        List<VcpuState> states = VCPU_STATES.get(Math.min(vcpus, 2) - 1);
        return states.get(Math.min(index, states.size() - 1)).data();
    }

    /** @return a copy of the workload device's state of a fresh, idle VM */
    static byte[] deviceState() {
        return DEVICE_STATE.clone();
    }
}
