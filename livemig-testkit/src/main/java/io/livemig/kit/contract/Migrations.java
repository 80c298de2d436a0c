package io.livemig.kit.contract;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.api.Verification;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.LinkShape;
import io.livemig.kit.ResumeHookTarget;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Runs one migration for {@link MigrationContract} and checks what landed. Static; thread-safe. */
final class Migrations {

    private Migrations() {
    }

    static void migrateAndVerify(ProviderFixture fixture, Strategy strategy) throws Exception {
        try (MigratableVm source = fixture.openSource()) {
            requireStrategy(fixture, source, strategy);
            boolean stopCopy = strategy == Strategy.COLD || strategy == Strategy.PRECOPY;
            MigrationOptions options = fixture.migrationOptions().strategy(strategy).verify(true).build();
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            AtomicReference<long[]> atResume = new AtomicReference<>();
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(pair.destination(), d -> new ResumeHookTarget<>(
                            createTarget(fixture, d), t -> {
                                if (stopCopy) {
                                    atResume.set(Pages.digests(t.memory().layout(), t.memory()::readPages,
                                            Optional.empty()));
                                }
                            }), options);
                } catch (MigrationException e) {
                    throw new CompletionException(e);
                }
            }, task -> Thread.ofPlatform().name("contract-destination").start(task));
            fixture.letGuestRun(source, Duration.ofMillis(50));
            MigrationReport report;
            try {
                report = LiveMigration.migrate(source, pair.source(), options);
            } catch (MigrationException e) {
                received.cancel(true);
                pair.source().close();
                pair.destination().close();
                throw new AssertionError("a " + strategy + " migration of this provider's VM must complete: it failed"
                        + " with " + e, e);
            }
            ReceivedMigration destination;
            try {
                destination = received.get(60, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw new AssertionError("the destination side of a " + strategy + " migration must complete: it failed"
                        + " with " + e.getCause(), e.getCause());
            }
            try (MigrationTarget target = destination.target()) {
                assertEquals(MigrationStatus.COMPLETED, report.status(), strategy + ": the migration must complete: "
                        + report.failure());
                assertEquals(Verification.VERIFIED, report.verification().outcome(), strategy + ": the destination's"
                        + " memory must equal the source's at pause, page for page, but "
                        + report.verification().mismatchedPages() + " pages differ (MemorySink.writePages, DemandPaging"
                        + " install or a dirty tracker that misses writes)");
                assertTrue(source.vcpus().isPaused(), strategy + ": a migrated source must stay paused");
                assertFalse(target.vcpus().isPaused(), strategy + ": the destination must run after the migration");
                if (stopCopy) {
                    comparePageForPage(strategy, source, atResume.get());
                }
            } finally {
                pair.source().close();
                pair.destination().close();
            }
        }
    }

    /** The fixture's target, its checked failures as the IOException a target factory may throw. */
    private static MigrationTarget createTarget(ProviderFixture fixture, VmDescriptor descriptor) throws IOException {
        try {
            return fixture.createTarget(descriptor);
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("ProviderFixture.createTarget failed: " + e, e);
        }
    }

    /** The destination's memory at its first resume equals the (still paused) source's, page by page. */
    private static void comparePageForPage(Strategy strategy, MigratableVm source, long[] destination) {
        assertTrue(destination != null, strategy + ": the destination never resumed its vCPUs");
        MemoryLayout layout = source.memory().layout();
        long[] expected = Pages.digests(layout, source.memory()::readPages, source.memory().populatedPages());
        List<Long> differ = new ArrayList<>();
        for (int page = 0; page < expected.length; page++) {
            if (expected[page] != destination[page]) {
                differ.add((long) page);
            }
        }
        if (!differ.isEmpty()) {
            fail(strategy + ": the destination's memory at resume must equal the paused source's page for page, but "
                    + differ.size() + " pages differ: " + Pages.describe(differ));
        }
    }

    /** Skips (or, for a claimed strategy, fails) when a capability the strategy needs is missing. */
    private static void requireStrategy(ProviderFixture fixture, MigratableVm source, Strategy strategy) throws Exception {
        List<String> missing = new ArrayList<>();
        if ((strategy == Strategy.PRECOPY || strategy == Strategy.HYBRID) && source.dirtyTracker().isEmpty()) {
            missing.add("MigratableVm.dirtyTracker()");
        }
        if (strategy == Strategy.POSTCOPY || strategy == Strategy.HYBRID) {
            try (MigrationTarget probe = fixture.createTarget(source.descriptor())) {
                if (probe.demandPaging().isEmpty()) {
                    missing.add("MigrationTarget.demandPaging()");
                }
            }
        }
        Optional<Set<Strategy>> claimed = fixture.claimedStrategies();
        if (claimed.isPresent()) {
            Assumptions.assumeTrue(claimed.get().contains(strategy),
                    "the fixture does not claim strategy " + strategy);
            assertTrue(missing.isEmpty(), "the fixture claims strategy " + strategy + ", which needs optional capability "
                    + String.join(" and ", missing) + ", and the provider does not offer it");
        } else {
            Assumptions.assumeTrue(missing.isEmpty(), "strategy " + strategy + " needs optional capability "
                    + String.join(" and ", missing) + ", which is not offered");
        }
    }
}
