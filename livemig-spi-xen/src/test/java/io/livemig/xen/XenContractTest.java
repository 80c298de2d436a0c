package io.livemig.xen;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.Verification;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import io.livemig.xen.internal.XenAbi;
import io.livemig.kit.ResumeHookTarget;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole migrations between two Xen domains through the provider's real FFM bindings on both
 * sides, with the simulated Xen of {@link XenShim} in place of the system's libraries: the
 * provider is found by its scheme through ServiceLoader and pointed at the shim with the
 * {@code livemig.xen.lib*} system properties, exactly as a deployment would point it elsewhere.
 * No real Xen host runs here; docs/xen.md says what one would add.
 */
class XenContractTest {

    private static final Logger LOG = LoggerFactory.getLogger(XenContractTest.class);
    private static final int EIO = 5;
    private static final int EFAULT = 14;

    @BeforeAll
    static void pointTheProviderAtTheShim() throws Exception {
        XenLibraries shim = XenShim.libraries();
        System.setProperty(XenLibraries.XENCTRL_PROPERTY, shim.xenctrl());
        System.setProperty(XenLibraries.FOREIGN_MEMORY_PROPERTY, shim.foreignMemory());
        System.setProperty(XenLibraries.XENSTORE_PROPERTY, shim.xenstore());
        System.setProperty(XenLibraries.TOOLLOG_PROPERTY, shim.toolLog());
    }

    @AfterAll
    static void restoreTheSystemLibraries() {
        System.clearProperty(XenLibraries.XENCTRL_PROPERTY);
        System.clearProperty(XenLibraries.FOREIGN_MEMORY_PROPERTY);
        System.clearProperty(XenLibraries.XENSTORE_PROPERTY);
        System.clearProperty(XenLibraries.TOOLLOG_PROPERTY);
    }

    @AfterEach
    void destroyTheDomains() {
        XenShim.reset();
    }

    /** A destination that receives into a new domain (xen:new) and runs {@code beforeResume} just before it is unpaused. */
    private record Destination(TcpChannelListener listener, CompletableFuture<ReceivedMigration> received) {

        static Destination start(MigrationOptions options, java.util.function.Consumer<XenDomain> beforeResume)
                throws Exception {
            TcpChannelListener listener = TcpChannelListener.bind(
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(10));
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = listener.accept(Duration.ofSeconds(30))) {
                    URI uri = URI.create("xen:new");
                    return LiveMigration.receive(ch, d -> new ResumeHookTarget<>(
                            (XenDomain) LiveMigration.provider(uri).createTarget(uri, d), beforeResume), options);
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }, task -> Thread.ofPlatform().start(task));
            return new Destination(listener, received);
        }

        MigrationReport migrate(MigratableVm source, MigrationOptions options) throws Exception {
            try (listener; Channel ch = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5),
                    Duration.ofSeconds(30))) {
                return LiveMigration.migrate(source, ch, options);
            } catch (MigrationException | RuntimeException e) {
                try {
                    received.get(10, java.util.concurrent.TimeUnit.SECONDS);
                } catch (ExecutionException destinationFailure) {
                    e.addSuppressed(destinationFailure.getCause());
                }
                throw e;
            }
        }
    }

    @Test
    void aWritingDomainOf256MiBMovesWithPrecopyAndArrivesPageForPage() throws Exception {
        // 256 MiB of RAM around the VGA hole; the guest writes 20 000 values a second into 64 MiB.
        int source = XenShim.createDomain("web1", 256L << 20, 2, 20, 0x1000, 0x4000);
        XenShim.awaitWrites(source, 1000);
        MigrationOptions options = MigrationOptions.builder().strategy(Strategy.PRECOPY)
                .downtimeLimit(Duration.ofMillis(100)).build();
        AtomicLong mismatchedPages = new AtomicLong(-1);
        AtomicLong writesAtSwitchover = new AtomicLong();
        AtomicReference<List<MemoryRegion>> targetRegions = new AtomicReference<>();
        Destination destination = Destination.start(options, target -> {
            // The source is paused and the target not yet running: both memories are final.
            writesAtSwitchover.set(XenShim.guestWrites(source));
            targetRegions.set(target.descriptor().memoryLayout().regions());
            mismatchedPages.set(mismatchedPages(source, target.domid(), target.descriptor().memoryLayout().regions()));
        });
        MigrationReport report;
        try (MigratableVm vm = LiveMigration.open(URI.create("xen:web1"))) {
            assertEquals(List.of(new MemoryRegion(0, 0xa0), new MemoryRegion(0xc0, (256L << 8) - 0xa0)),
                    vm.descriptor().memoryLayout().regions(), "the layout Xen's mappings revealed, hole included");
            assertEquals(2, vm.descriptor().vcpuCount());
            report = destination.migrate(vm, options);
        }
        LOG.info("xen: 256 MiB simulated domain: {} in {} ms, downtime {} ms, {} MiB on the wire, {} rounds",
                report.verification().outcome(), report.totals().totalTime().toMillis(),
                report.switchover().downtime().toMillis(), report.totals().bytesOnWire() >> 20,
                report.totals().roundCount());
        try (MigrationTarget target = destination.received().get().target()) {
            int targetId = ((XenDomain) ((ResumeHookTarget<?>) target).target()).domid();
            assertEquals(Verification.VERIFIED, report.verification().outcome(), report.toString());
            assertTrue(report.totals().roundCount() > 1, "pre-copy made rounds: " + report);
            assertEquals(0, mismatchedPages.get(), "pages that differ between the domains at switchover");
            assertEquals(List.of(new MemoryRegion(0, 0xa0), new MemoryRegion(0xc0, (256L << 8) - 0xa0)),
                    targetRegions.get());
            assertEquals(1, XenShim.pauseCount(source), "the source stays paused after the handover");
            assertEquals(0, XenShim.pauseCount(targetId), "the target runs");
            assertEquals(0xfeffcL, XenShim.param(targetId, XenAbi.HVM_PARAM_STORE_PFN), "HVM parameters moved");
            long resumedAt = writesAtSwitchover.get();
            XenShim.awaitWrites(targetId, resumedAt + 1000);
            assertEquals(resumedAt, XenShim.guestWrites(source), "the source wrote nothing after the switchover");
        }
    }

    @Test
    void aFailingLogDirtyReadEndsTheMigrationNamingTheFunctionAndErrnoAndTheSourceRunsOn() throws Exception {
        int source = XenShim.createDomain("db1", 32L << 20, 1, 20, 0x100, 0x1000);
        XenShim.fail("xc_logdirty_control", EIO, 1);
        MigrationOptions options = MigrationOptions.builder().strategy(Strategy.PRECOPY)
                .downtimeLimit(Duration.ofMillis(100)).build();
        Destination destination = Destination.start(options, target -> { });
        MigrationException failure;
        try (MigratableVm vm = LiveMigration.open(URI.create("xen:" + source))) {
            failure = assertThrows(MigrationException.class, () -> destination.migrate(vm, options));
        }
        assertSourceRunsOnAfter(failure, source, "xc_logdirty_control", EIO);
        ExecutionException received = assertThrows(ExecutionException.class, () -> destination.received().get());
        assertInstanceOf(MigrationException.class, received.getCause(), "the destination failed too");
        assertEquals(1, XenShim.domainCount(), "the half-made target domain was destroyed");
    }

    @Test
    void aFailingContextSaveAtTheSwitchoverUnpausesTheSource() throws Exception {
        int source = XenShim.createDomain("cache1", 32L << 20, 1, 20, 0x100, 0x1000);
        XenShim.fail("xc_domain_hvm_getcontext", EFAULT, 0);
        MigrationOptions options = MigrationOptions.builder().strategy(Strategy.PRECOPY)
                .downtimeLimit(Duration.ofMillis(100)).build();
        Destination destination = Destination.start(options, target -> { });
        MigrationException failure;
        try (MigratableVm vm = LiveMigration.open(URI.create("xen:" + source))) {
            failure = assertThrows(MigrationException.class, () -> destination.migrate(vm, options));
        }
        assertSourceRunsOnAfter(failure, source, "xc_domain_hvm_getcontext", EFAULT);
        assertThrows(ExecutionException.class, () -> destination.received().get());
        assertEquals(1, XenShim.domainCount(), "the half-made target domain was destroyed");
    }

    private static void assertSourceRunsOnAfter(MigrationException failure, int source, String function, int errno)
            throws InterruptedException {
        LOG.info("the failed migration says: {}", failure.getMessage());
        assertTrue(failure.getMessage().contains(function + " failed for domain " + source),
                "names the function and the domain: " + failure.getMessage());
        assertTrue(failure.getMessage().contains("(errno " + errno + ")"), "names errno: " + failure.getMessage());
        assertEquals(SourceVmState.RUNNING, failure.sourceState());
        assertEquals(0, XenShim.pauseCount(source), "the source domain is unpaused");
        long before = XenShim.guestWrites(source);
        XenShim.awaitWrites(source, before + 100);
    }

    /** Compares two domains' frames in 4 MiB pieces; returns how many pages differ. */
    private static long mismatchedPages(int a, int b, List<MemoryRegion> regions) {
        long mismatched = 0;
        try (Arena arena = Arena.ofConfined()) {
            int chunk = 1024;
            MemorySegment left = arena.allocate((long) chunk * XenAbi.PAGE_BYTES);
            MemorySegment right = arena.allocate((long) chunk * XenAbi.PAGE_BYTES);
            for (MemoryRegion r : regions) {
                for (long first = r.firstPage(); first < r.endPage(); first += chunk) {
                    long n = Math.min(chunk, r.endPage() - first);
                    XenShim.readFrames(a, first, n, left);
                    XenShim.readFrames(b, first, n, right);
                    for (long i = 0; i < n; i++) {
                        long off = i * XenAbi.PAGE_BYTES;
                        if (MemorySegment.mismatch(left, off, off + XenAbi.PAGE_BYTES, right, off,
                                off + XenAbi.PAGE_BYTES) >= 0) {
                            mismatched++;
                        }
                    }
                }
            }
        }
        return mismatched;
    }
}
