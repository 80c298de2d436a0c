package io.livemig.kit.contract;

import io.livemig.api.TimeSource;
import io.livemig.kit.SimulatedVm;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmDescriptor;

/**
 * The provider contract suite against the kit's {@link SimulatedVm}, on the wall clock: its guest
 * is a function of time, applied whenever the VM is observed, so the same checks see it write as
 * a threaded guest would. No guest writer: its memory is synthesized from versions, so the checks
 * that write chosen pages are skipped and the running guest's writes are watched instead.
 */
class SimulatedVmContractTest extends ProviderContract {

    @Override
    public ProviderFixture fixture() {
        return new ProviderFixture() {
            @Override
            public MigratableVm openSource() {
                SimulatedVm vm = SimulatedVm.builder(TimeSource.system()).memoryBytes(32L << 20).prefill(0.5)
                        .workload(new Workload(WorkloadPattern.HOTCOLD, 0, 8L << 20, 0, 5)).build();
                vm.start();
                return vm;
            }

            @Override
            public MigrationTarget createTarget(VmDescriptor descriptor) {
                return SimulatedVm.builder(TimeSource.system()).buildTarget(descriptor);
            }
        };
    }
}
