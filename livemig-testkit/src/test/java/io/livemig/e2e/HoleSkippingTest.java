package io.livemig.e2e;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.ForwardingVcpus;
import io.livemig.kit.ForwardingVm;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemorySource;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuControl;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A provider that says which pages hold data (as the KVM provider does with its memfd's holes)
 * gets a migration that never reads the others, in every strategy, and still verifies page for
 * page: the unread pages are zero at the destination as at the source, and a page the guest
 * first writes after the provider answered (just before the pause) travels.
 */
class HoleSkippingTest {

    private static final long MEMORY_BYTES = 16L << 20;
    /** The guest writes only its first 1 MiB; the other 15 MiB are holes. */
    private static final long WORKING_SET_BYTES = 1L << 20;

    /**
     * The in-memory VM, with a memory that reports its holes and counts every read of one. Its
     * guest writes one never-written page ({@link #LATE_PAGE}) just before its vCPUs stop, as a
     * real guest may between the provider's answer and the pause.
     */
    private static final class SparseVm extends ForwardingVm {
        static final long LATE_PAGE = WORKING_SET_BYTES / 4096 + 100;
        static final byte[] LATE_BYTES = {1, 2, 3, 4, 5, 6, 7, 8};
        final PageSet populated;
        final AtomicLong holeReads = new AtomicLong();
        private final MemorySource memory;
        private final VcpuControl vcpus;

        SparseVm(InMemoryVm vm) {
            super(vm);
            MemoryLayout layout = vm.memory().layout();
            this.populated = new PageSet(layout.pageSpan());
            populated.addRange(0, WORKING_SET_BYTES / layout.pageSizeBytes());
            this.memory = new MemorySource() {
                @Override
                public MemoryLayout layout() {
                    return layout;
                }

                @Override
                public void readPages(long firstPage, int pageCount, ByteBuffer destination) {
                    for (long p = firstPage; p < firstPage + pageCount; p++) {
                        if (!populated.contains(p)) {
                            holeReads.incrementAndGet();
                        }
                    }
                    vm.memory().readPages(firstPage, pageCount, destination);
                }

                @Override
                public Optional<PageSet> populatedPages() {
                    synchronized (populated) {
                        return Optional.of(populated.copy());
                    }
                }
            };
            this.vcpus = new ForwardingVcpus(vm.vcpus()) {
                @Override
                public void pause() {
                    vm.memory().poke(LATE_PAGE, 0, LATE_BYTES);
                    synchronized (populated) {
                        populated.add(LATE_PAGE);
                    }
                    super.pause();
                }
            };
        }

        @Override
        public VcpuControl vcpus() {
            return vcpus;
        }

        @Override
        public MemorySource memory() {
            return memory;
        }
    }

    @ParameterizedTest
    @EnumSource(value = Strategy.class, names = {"COLD", "PRECOPY", "POSTCOPY", "HYBRID"})
    void pagesTheProviderKnowsToBeZeroAreNeverReadAndStillVerify(Strategy strategy) throws Exception {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(64L << 20, java.time.Duration.ZERO),
                TimeSource.system());
        InMemoryVm inner = InMemoryVm.builder().memoryBytes(MEMORY_BYTES).vcpus(1)
                .workload(new Workload(WorkloadPattern.RANDOM, WORKING_SET_BYTES, 4L << 20, 64, 7)).build();
        try (SparseVm source = new SparseVm(inner)) {
            inner.start();
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(pair.destination(), d -> InMemoryVm.builder()
                            .layout(d.memoryLayout()).vcpus(d.vcpuCount()).build(), MigrationOptions.defaults());
                } catch (MigrationException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            MigrationReport report = LiveMigration.migrate(source, pair.source(),
                    MigrationOptions.builder().strategy(strategy).hybridRounds(2).build());
            try (var target = received.get(30, TimeUnit.SECONDS).target()) {
                assertTrue(report.verified(), report.toString());
                byte[] late = ((InMemoryVm) target).memory().page(SparseVm.LATE_PAGE);
                assertArrayEquals(SparseVm.LATE_BYTES, java.util.Arrays.copyOf(late, SparseVm.LATE_BYTES.length),
                        "a page first written just before the pause did not travel");
                assertEquals(0, source.holeReads.get(), "pages the provider reported as holes were read");
                assertTrue(report.totals().bytesOnWire() < MEMORY_BYTES / 4, report.toString());
            }
        }
    }
}
