package io.livemig.e2e;

import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.LiveMigration;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.PostcopyStats;
import io.livemig.api.Prepaging;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.channel.Reconnector;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.RedialableLink;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Post-copy and hybrid with the in-memory kit, over shaped in-memory links. */
class PostcopyMigrationTest {

    private static final int PAGES = 2048;
    /** The guest writes only its first 256 pages (1 MiB), so every other page stays as it was at pause. */
    private static final Workload GUEST = new Workload(WorkloadPattern.HOTCOLD, 1L << 20, 8L << 20, 64, 11);

    /** How a migration ended; {@code target} is the one the destination made, which records the order of installs. */
    private record Run(MigrationReport report, MigrationException error, MemorySnapshot atPause, ObservedTarget target,
                       ReceivedMigration received, List<MigrationEvent> events) {
    }

    private static InMemoryVm source(Workload workload, boolean hints) {
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(PAGES * 4096L).prefill(0.7).workload(workload)
                .freePageHints(hints).build();
        vm.start();
        return vm;
    }

    private static Run migrate(InMemoryVm source, InMemoryChannel.Pair pair, Reconnector sourceReconnect,
                               Reconnector destReconnect, MigrationOptions options) throws Exception {
        return migrate(source, pair.source(), pair.destination(), sourceReconnect, destReconnect, options);
    }

    private static Run migrate(InMemoryVm source, Channel sourceEnd, Channel destinationEnd,
                               Reconnector sourceReconnect, Reconnector destReconnect, MigrationOptions options)
            throws Exception {
        AtomicReference<ObservedTarget> target = new AtomicReference<>();
        CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
            try {
                return LiveMigration.receive(destinationEnd, destReconnect, d -> {
                    ObservedTarget made = ObservedTarget.of(d);
                    target.set(made);
                    return made;
                }, options);
            } catch (MigrationException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        }, task -> Thread.ofPlatform().name("test-destination").start(task));
        AtomicReference<MemorySnapshot> atPause = new AtomicReference<>();
        List<MigrationEvent> events = new CopyOnWriteArrayList<>();
        MigrationOptions observed = options.toBuilder().listener(e -> {
            options.listener().onEvent(e);
            events.add(e);
            if (e instanceof MigrationEvent.SwitchoverStarted) {
                atPause.set(MemorySnapshot.of(source.memory()));
            }
        }).build();
        MigrationReport report = null;
        MigrationException error = null;
        try {
            report = LiveMigration.migrate(source, sourceEnd, sourceReconnect, observed);
        } catch (MigrationException e) {
            error = e;
        }
        ReceivedMigration r = null;
        try {
            r = received.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (error == null) {
                throw e;
            }
        }
        return new Run(report, error, atPause.get(), target.get(), r, events);
    }

    /** Pages the guest never writes (outside its working set) must equal the source's at pause. */
    private static void assertColdPagesMatch(Run run) {
        for (long page = 256; page < PAGES; page++) {
            assertArrayEquals(pageOf(run.atPause(), page), run.target().vm().memory().page(page), "page " + page);
        }
    }

    private static byte[] pageOf(MemorySnapshot snapshot, long page) {
        return snapshot.page(page);
    }

    @Test
    void postcopyResumesFirstAndEveryPageArrivesOnceMatchingThePause() throws Exception {
        try (InMemoryVm vm = source(GUEST, false)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(32L << 20, Duration.ofMillis(1)),
                    TimeSource.system());
            Run run = migrate(vm, pair, Reconnector.NONE, Reconnector.NONE,
                    MigrationOptions.builder().strategy(Strategy.POSTCOPY).build());
            MigrationReport r = run.report();
            assertTrue(r.verified(), "every page as landed equals the source's at pause (digests)");
            PostcopyStats p = r.postcopy().orElseThrow();
            assertEquals(PAGES, p.pagesPulled() + p.pagesPushed(), "each page crossed exactly once");
            assertEquals(PAGES, r.encodings().pagesSent());
            assertTrue(p.demandFaults() > 0, "the running guest faulted on missing pages");
            assertEquals(0, r.totals().roundCount());
            assertTrue(run.events().stream().anyMatch(e -> e instanceof MigrationEvent.PostcopyStarted));
            assertEquals(PAGES, run.target().installOrder().size(), "the destination installed each page once");
            assertColdPagesMatch(run);
            assertTrue(run.target().vm().writesDone() > vm.writesDone(), "the guest runs on at the destination");
            run.received().target().close();
        }
    }

    @Test
    void contiguousPagesOfAFrameAreInstalledAsOneRunAndStillVerifyPageForPage() throws Exception {
        // Every page written before the pause (no zero pages), pushed in order from page 0: the
        // pushed frames hold contiguous pages, which the destination installs a run at a time.
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(PAGES * 4096L).prefill(1.0).workload(GUEST).build()) {
            vm.start();
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(64L << 20, Duration.ZERO),
                    TimeSource.system());
            Run run = migrate(vm, pair, Reconnector.NONE, Reconnector.NONE, MigrationOptions.builder()
                    .strategy(Strategy.POSTCOPY).prepaging(Prepaging.LINEAR).build());
            assertTrue(run.report().verified(), "every page as installed equals the source's at pause");
            assertEquals(PAGES, run.target().installOrder().size(), "each page handed to an install once");
            assertEquals(PAGES, run.target().pagesInstalled(), "and placed once");
            assertEquals(1, run.target().mostInstallsOfOnePage());
            assertTrue(run.target().installCalls() <= PAGES / 8, run.target().installCalls()
                    + " install calls for " + PAGES + " pages: contiguous pages were not installed together");
            assertColdPagesMatch(run);
            run.received().target().close();
        }
    }

    @Test
    void aDemandFaultIsServedAheadOfTheBackgroundPush() throws Exception {
        // The guest writes only pages 1792..2047; the linear push starts at page 0 on a slow link.
        Workload high = new Workload(WorkloadPattern.RANDOM, 0, 4L << 20, 64, 3);
        try (InMemoryVm vm = InMemoryVm.builder().memoryBytes(PAGES * 4096L).prefill(1.0).workload(high).build()) {
            vm.start();
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(4L << 20, Duration.ZERO), TimeSource.system());
            Run run = migrate(vm, pair, Reconnector.NONE, Reconnector.NONE, MigrationOptions.builder()
                    .strategy(Strategy.POSTCOPY).prepaging(Prepaging.LINEAR).build());
            assertTrue(run.report().verified());
            PostcopyStats p = run.report().postcopy().orElseThrow();
            assertTrue(p.pagesPulled() > 0);
            // The first pulled page arrived long before the linear push could have reached it.
            List<Long> order = run.target().installOrder();
            long firstHigh = order.stream().filter(page -> page >= PAGES / 2).findFirst().orElseThrow();
            int position = order.indexOf(firstHigh);
            assertTrue(position < firstHigh / 2, "page " + firstHigh + " installed " + position
                    + "th: the demand request overtook the push");
            run.received().target().close();
        }
    }

    @Test
    void aLinkCutMidPostcopyIsRecoveredOverANewChannelAndStaysByteExact() throws Exception {
        try (InMemoryVm vm = source(GUEST, false)) {
            LinkShape slow = LinkShape.of(8L << 20, Duration.ZERO);
            RedialableLink link = new RedialableLink(slow, TimeSource.system());
            InMemoryChannel.Pair first = link.first();
            Reconnector sourceSide = link.sourceSide();
            Reconnector destinationSide = link.destinationSide(Duration.ofSeconds(10));
            MigrationOptions options = MigrationOptions.builder().strategy(Strategy.POSTCOPY)
                    .listener(e -> {
                        if (e instanceof MigrationEvent.PostcopyStarted) {
                            Thread.ofPlatform().start(() -> {
                                sleep(150);
                                first.source().breakLink();
                            });
                        }
                    }).build();
            Run run = migrate(vm, first, sourceSide, destinationSide, options);
            MigrationReport r = run.report();
            assertNotNull(r, String.valueOf(run.error()));
            PostcopyStats p = r.postcopy().orElseThrow();
            assertEquals(1, p.recoveries());
            assertTrue(p.recovered());
            assertTrue(r.verified(), "nothing lost across the cut");
            assertTrue(run.events().stream().anyMatch(e -> e instanceof MigrationEvent.LinkRecovered));
            assertColdPagesMatch(run);
            run.received().target().close();
        }
    }

    /**
     * The destination's end of a link that is cut at the moment the destination sends its first
     * post-copy acknowledgement: the break shows first in a send on the destination's receiving
     * thread, not in a receive.
     */
    private static final class CutAtFirstAck extends ForwardingChannel {
        private static final int POSTCOPY_ACK = 0x49;
        private final InMemoryChannel inner;
        private final AtomicBoolean cut = new AtomicBoolean();

        CutAtFirstAck(InMemoryChannel inner) {
            super(inner);
            this.inner = inner;
        }

        @Override
        public void send(ByteBuffer message) throws java.io.IOException {
            if (message.remaining() > 0 && Byte.toUnsignedInt(message.get(message.position())) == POSTCOPY_ACK
                    && cut.compareAndSet(false, true)) {
                inner.breakLink();
            }
            super.send(message);
        }
    }

    @Test
    void aCutThatTheDestinationFirstSeesInASendIsRecoveredToo() throws Exception {
        try (InMemoryVm vm = source(GUEST, false)) {
            LinkShape slow = LinkShape.of(8L << 20, Duration.ZERO);
            RedialableLink link = new RedialableLink(slow, TimeSource.system());
            InMemoryChannel.Pair first = link.first();
            CutAtFirstAck destinationEnd = new CutAtFirstAck(first.destination());
            Reconnector sourceSide = link.sourceSide();
            Reconnector destinationSide = link.destinationSide(Duration.ofSeconds(10));
            Run run = migrate(vm, first.source(), destinationEnd, sourceSide, destinationSide,
                    MigrationOptions.builder().strategy(Strategy.POSTCOPY).build());
            MigrationReport r = run.report();
            assertNotNull(r, String.valueOf(run.error()));
            assertTrue(destinationEnd.cut.get(), "the link was cut at the first acknowledgement");
            assertEquals(1, r.postcopy().orElseThrow().recoveries());
            assertTrue(r.verified(), "nothing lost across the cut");
            assertColdPagesMatch(run);
            run.received().target().close();
        }
    }

    @Test
    void aLinkCutWithoutRecoverySaysWhichSideHoldsWhat() throws Exception {
        try (InMemoryVm vm = source(GUEST, false)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(4L << 20, Duration.ZERO), TimeSource.system());
            MigrationOptions options = MigrationOptions.builder().strategy(Strategy.POSTCOPY).listener(e -> {
                if (e instanceof MigrationEvent.PostcopyStarted) {
                    Thread.ofPlatform().start(() -> {
                        sleep(100);
                        pair.source().breakLink();
                    });
                }
            }).build();
            Run run = migrate(vm, pair, Reconnector.NONE, Reconnector.NONE, options);
            MigrationException e = assertInstanceOf(MigrationException.class, run.error());
            assertEquals(SourceVmState.SPLIT, e.sourceState());
            assertTrue(e.getMessage().contains("the source holds the VM's memory as of the pause"), e.getMessage());
            assertTrue(vm.vcpus().isPaused(), "the source must not resume: that would roll the VM back");
        }
    }

    @Test
    void hybridPrecopiesThenHandsTheDirtyPagesToPostcopy() throws Exception {
        try (InMemoryVm vm = source(GUEST, false)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(32L << 20, Duration.ZERO), TimeSource.system());
            Run run = migrate(vm, pair, Reconnector.NONE, Reconnector.NONE, MigrationOptions.builder()
                    .strategy(Strategy.HYBRID).hybridRounds(2).build());
            MigrationReport r = run.report();
            assertTrue(r.verified());
            assertEquals(2, r.totals().roundCount());
            PostcopyStats p = r.postcopy().orElseThrow();
            assertTrue(p.pagesPulled() + p.pagesPushed() < PAGES, "post-copy moves only what pre-copy left dirty");
            assertColdPagesMatch(run);
            run.received().target().close();
        }
    }

    @Test
    void freePageHintsSkipPagesTheGuestDoesNotUse() throws Exception {
        try (InMemoryVm vm = source(GUEST, true)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            Run run = migrate(vm, pair, Reconnector.NONE, Reconnector.NONE,
                    MigrationOptions.builder().strategy(Strategy.POSTCOPY).build());
            MigrationReport r = run.report();
            assertTrue(r.verified(), "free pages count as zero on both sides");
            assertEquals(256, r.encodings().pagesSent(), "only the 256-page working set travelled");
            assertEquals(0, run.target().vm().memory().page(1000)[0], "a free page is zero at the destination");
            run.received().target().close();
        }
    }

    @Test
    void postcopyIntoATargetWithoutDemandPagingIsRefusedBeforeTheSourcePauses() throws Exception {
        try (InMemoryVm vm = source(GUEST, false)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(pair.destination(), ObservedTarget::withoutDemandPaging,
                            MigrationOptions.defaults());
                } catch (MigrationException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            MigrationException e = assertThrows(MigrationException.class, () -> LiveMigration.migrate(vm, pair.source(),
                    MigrationOptions.builder().strategy(Strategy.POSTCOPY).build()));
            assertTrue(e.sourceRunning());
            assertTrue(e.getMessage().contains("demand paging"), e.getMessage());
            assertThrows(ExecutionException.class, received::get);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
