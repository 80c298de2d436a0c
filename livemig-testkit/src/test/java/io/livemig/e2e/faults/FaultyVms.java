package io.livemig.e2e.faults;

import io.livemig.e2e.ForwardingTarget;
import io.livemig.kit.ForwardingVm;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySource;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmOperationException;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** VMs whose hypervisor fails at one point, as a real one can: for the peer-failure rows of the fault matrix. */
final class FaultyVms {

    private FaultyVms() {
    }

    /** @return {@code target} with devices whose {@code loadState} fails: the destination cannot resume it */
    static MigrationTarget refusingDeviceState(MigrationTarget target) {
        List<MigratableDevice> devices = target.devices().stream().<MigratableDevice>map(d -> new MigratableDevice() {
            @Override
            public String id() {
                return d.id();
            }

            @Override
            public byte[] saveState() {
                return d.saveState();
            }

            @Override
            public void loadState(byte[] state) {
                throw new IllegalStateException("the device '" + d.id() + "' failed to load its state");
            }
        }).toList();
        return new ForwardingTarget(target) {
            @Override
            public List<MigratableDevice> devices() {
                return devices;
            }
        };
    }

    /**
     * @param readsBeforeFailing how many reads of guest memory succeed before every later one fails
     * @return {@code vm} whose guest memory becomes unreadable, as a VM whose memory mapping failed
     */
    static MigratableVm failingToRead(MigratableVm vm, int readsBeforeFailing) {
        AtomicInteger reads = new AtomicInteger();
        MemorySource memory = new MemorySource() {
            @Override
            public MemoryLayout layout() {
                return vm.memory().layout();
            }

            @Override
            public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
                if (reads.incrementAndGet() > readsBeforeFailing) {
                    throw new VmOperationException("reading guest memory failed: EFAULT");
                }
                vm.memory().readPages(firstPage, pageCount, destination);
            }
        };
        return new ForwardingVm(vm) {
            @Override
            public MemorySource memory() {
                return memory;
            }
        };
    }
}
