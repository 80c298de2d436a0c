package io.livemig.kit.contract;

import io.livemig.kit.InMemoryProvider;
import io.livemig.kit.InMemoryVm;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmDescriptor;

import java.net.URI;
import java.util.Optional;

/** The provider contract suite against {@code mem:}, opened through its URI like any provider. */
class InMemoryProviderContractTest extends ProviderContract {

    /** 16 MiB, two vCPUs writing 4 MiB/s at random over 8 MiB, a quarter prefilled. */
    static final URI SOURCE = URI.create("mem:contract?size=16M&vcpus=2&workload=random&rate=4M&ws=8M&prefill=0.25");

    @Override
    public ProviderFixture fixture() {
        return new ProviderFixture() {
            private final InMemoryProvider provider = new InMemoryProvider();

            @Override
            public MigratableVm openSource() {
                return provider.open(SOURCE);
            }

            @Override
            public MigrationTarget createTarget(VmDescriptor descriptor) {
                return provider.createTarget(URI.create("mem:target"), descriptor);
            }

            @Override
            public Optional<GuestWriter> guestWriter(MigratableVm vm) {
                InMemoryVm.KitMemory memory = ((InMemoryVm) vm).memory();
                return Optional.of(memory::poke);
            }
        };
    }
}
