package io.livemig.kvm;

import io.livemig.kit.contract.ProviderContract;
import io.livemig.kit.contract.ProviderFixture;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.BeforeEach;

import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.util.Optional;

/**
 * The provider contract suite against {@code kvm:}: sources are the built-in dirtier guest in a
 * 64 MiB VM (32 MiB working set, 4 MB/s of whole-page writes), targets come from
 * {@link KvmProvider#createTarget}. The guest writer stores into guest RAM as the VMM does for a
 * device's DMA and records the write with {@link KvmVm#vmmWrote}; the running guest's own writes,
 * which KVM's dirty log records, are checked by the suite's running-guest check. Skipped, with one
 * line, where /dev/kvm or binutils is missing.
 */
class KvmProviderContractTest extends ProviderContract {

    @BeforeEach
    void needsKvmAndGuests() {
        KvmTestSupport.assumeGuests();
    }

    @Override
    public ProviderFixture fixture() {
        return new ProviderFixture() {
            @Override
            public MigratableVm openSource() throws Exception {
                return new KvmGuest(KvmTestSupport.runningDirtier(4L << 20));
            }

            @Override
            public MigrationTarget createTarget(VmDescriptor descriptor) throws Exception {
                return new KvmProvider().createTarget(URI.create("kvm:?"), descriptor);
            }

            @Override
            public Optional<GuestWriter> guestWriter(MigratableVm vm) {
                KvmVm kvm = ((KvmGuest) vm).vmm().vm();
                return Optional.of((page, offset, bytes) -> {
                    long address = page * KvmVm.PAGE_BYTES + offset;
                    kvm.memory().asSlice(address, bytes.length).copyFrom(MemorySegment.ofArray(bytes));
                    kvm.vmmWrote(address, bytes.length);
                });
            }
        };
    }
}
