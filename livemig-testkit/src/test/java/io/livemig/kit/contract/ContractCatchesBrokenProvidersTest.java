package io.livemig.kit.contract;

import io.livemig.kit.InMemoryProvider;
import io.livemig.kit.InMemoryVm;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MemorySource;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

import java.net.URI;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The contract suite fails, naming the broken promise, when run against a provider that breaks
 * one: a dirty tracker whose collect does not clear, and one that drops the writes made while it
 * collects. The broken providers are the {@code mem:} VM with its tracker replaced; the suite runs
 * on them through the JUnit Platform launcher, as a vendor's build would run it.
 */
class ContractCatchesBrokenProvidersTest {

    @Test
    void aTrackerThatDoesNotClearFailsNamingCollectAndClear() {
        TestExecutionSummary summary = run(NotClearingContract.class, "collectReportsAWriteOnceAndThenClearsIt");
        assertEquals(1, summary.getTestsFailedCount(), "the broken tracker must fail the check");
        String message = summary.getFailures().get(0).getException().getMessage();
        assertTrue(message.startsWith("collect() must clear: page ") && message.contains(
                "written once was reported again by the second collect"), message);
    }

    @Test
    void aTrackerThatDropsWritesDuringCollectFailsNamingTheLostWrites() {
        TestExecutionSummary summary = run(DropsWritesDuringCollectContract.class, "noWriteRacingACollectIsLost");
        assertEquals(1, summary.getTestsFailedCount(), "the broken tracker must fail the check");
        String message = summary.getFailures().get(0).getException().getMessage();
        assertTrue(message.startsWith("a write made while collect() runs must not be lost: "), message);
    }

    @Test
    void theSameChecksPassOnTheUnbrokenProvider() {
        TestExecutionSummary summary = run(InMemoryProviderContractTest.class, "collectReportsAWriteOnceAndThenClearsIt",
                "noWriteRacingACollectIsLost");
        assertEquals(2, summary.getTestsSucceededCount(), String.valueOf(summary.getFailures()));
    }

    private static TestExecutionSummary run(Class<?> contract, String... methods) {
        LauncherDiscoveryRequestBuilder request = LauncherDiscoveryRequestBuilder.request();
        for (String method : methods) {
            request.selectors(selectMethod(contract, method));
        }
        LauncherDiscoveryRequest built = request.build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        launcher.execute(built, listener);
        TestExecutionSummary summary = listener.getSummary();
        assertEquals(methods.length, summary.getTestsFoundCount(), "the launcher must find the selected checks");
        return summary;
    }

    /** The contract against {@code mem:} VMs whose tracker is replaced by {@code broken}. */
    abstract static class BrokenTrackerContract extends ProviderContract {
        abstract DirtyTracker broken(DirtyTracker real);

        @Override
        public ProviderFixture fixture() {
            return new ProviderFixture() {
                @Override
                public MigratableVm openSource() {
                    return new WithTracker(new InMemoryProvider().open(InMemoryProviderContractTest.SOURCE),
                            BrokenTrackerContract.this::broken);
                }

                @Override
                public MigrationTarget createTarget(VmDescriptor descriptor) {
                    return new InMemoryProvider().createTarget(URI.create("mem:target"), descriptor);
                }

                @Override
                public Optional<GuestWriter> guestWriter(MigratableVm vm) {
                    return Optional.of(((WithTracker) vm).vm.memory()::poke);
                }
            };
        }
    }

    /** Broken: collect() returns every page written since start, never clearing. */
    static final class NotClearingContract extends BrokenTrackerContract {
        @Override
        DirtyTracker broken(DirtyTracker real) {
            return new Forwarding(real) {
                private PageSet ever;

                @Override
                public PageSet collect() {
                    PageSet now = real.collect();
                    if (ever == null) {
                        ever = now.copy();
                    }
                    ever.addAll(now);
                    return ever.copy();
                }
            };
        }
    }

    /** Broken: collect() clears the log a second time after reading it, dropping what was written in between. */
    static final class DropsWritesDuringCollectContract extends BrokenTrackerContract {
        @Override
        DirtyTracker broken(DirtyTracker real) {
            return new Forwarding(real) {
                @Override
                public PageSet collect() {
                    PageSet read = real.collect();
                    try {
                        Thread.sleep(5);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    real.collect();
                    return read;
                }
            };
        }
    }

    /** A tracker that forwards to another. */
    private static class Forwarding implements DirtyTracker {
        final DirtyTracker real;

        Forwarding(DirtyTracker real) {
            this.real = real;
        }

        @Override
        public void start() {
            real.start();
        }

        @Override
        public PageSet collect() {
            return real.collect();
        }

        @Override
        public void redirty(PageSet pages) {
            real.redirty(pages);
        }

        @Override
        public void stop() {
            real.stop();
        }
    }

    /** An in-memory VM with another dirty tracker. */
    private static final class WithTracker implements MigratableVm {
        final InMemoryVm vm;
        private final DirtyTracker tracker;

        WithTracker(InMemoryVm vm, Function<DirtyTracker, DirtyTracker> replace) {
            this.vm = vm;
            this.tracker = replace.apply(vm.dirtyTracker().orElseThrow());
        }

        @Override
        public VmDescriptor descriptor() {
            return vm.descriptor();
        }

        @Override
        public MemorySource memory() {
            return vm.memory();
        }

        @Override
        public Optional<DirtyTracker> dirtyTracker() {
            return Optional.of(tracker);
        }

        @Override
        public VcpuControl vcpus() {
            return vm.vcpus();
        }

        @Override
        public List<MigratableDevice> devices() {
            return vm.devices();
        }

        @Override
        public boolean isOpen() {
            return vm.isOpen();
        }

        @Override
        public void close() {
            vm.close();
        }
    }
}
