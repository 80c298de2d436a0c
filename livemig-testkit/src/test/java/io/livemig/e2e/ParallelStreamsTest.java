package io.livemig.e2e;

import io.livemig.api.Codec;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.ProtocolException;
import io.livemig.api.ReceiveLimits;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.channel.Reconnector;
import io.livemig.compress.PageEncoding;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.RedialableLink;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Parallel streams (docs/protocol.md, section 6): pages over several data connections beside the
 * first channel, over TCP on loopback and over the in-memory kit, for each strategy; the guest
 * keeps writing while it is copied, and what lands is checked page for page.
 */
class ParallelStreamsTest {

    private static final int PAGES = 4096;
    private static final Duration PATIENCE = MigrationOptions.DEFAULT_IO_TIMEOUT;
    /** Rewrites 2 MiB spread over the whole VM: every connection's pages are dirtied and sent again. */
    private static final Workload SPREAD = new Workload(WorkloadPattern.RANDOM, 0, 8L << 20, 64, 21);
    /** Writes a few bytes of a page at a time: re-sent pages travel as XBZRLE deltas. */
    private static final Workload SMALL_WRITES = new Workload(WorkloadPattern.HOTCOLD, 4L << 20, 8L << 20, 8, 5);

    private record Run(MigrationReport report, MigrationException error, MemorySnapshot atPause,
                       Targets targets, ReceivedMigration received, int dials, Throwable destinationError) {
        ObservedTarget target() {
            return targets.observed.get();
        }
    }

    /**
     * Makes the destination's target: an {@link ObservedTarget} (which records post-copy's installs)
     * or, with {@code snapshotAtResume}, a plain in-memory VM whose memory is copied the moment it
     * resumes, before its guest writes again.
     */
    private static final class Targets {
        final boolean snapshotAtResume;
        final AtomicReference<ObservedTarget> observed = new AtomicReference<>();
        final AtomicReference<InMemoryVm> plain = new AtomicReference<>();
        final AtomicReference<MemorySnapshot> atResume = new AtomicReference<>();

        Targets(boolean snapshotAtResume) {
            this.snapshotAtResume = snapshotAtResume;
        }

        io.livemig.engine.TargetFactory factory() {
            return d -> {
                if (snapshotAtResume) {
                    InMemoryVm vm = InMemoryVm.builder().layout(d.memoryLayout()).vcpus(d.vcpuCount())
                            .onResume(resumed -> atResume.compareAndSet(null, MemorySnapshot.of(resumed.memory())))
                            .build();
                    plain.set(vm);
                    return vm;
                }
                ObservedTarget made = ObservedTarget.of(d);
                observed.set(made);
                return made;
            };
        }
    }

    private static InMemoryVm source(Workload workload) {
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(PAGES * 4096L).prefill(0.6).workload(workload).build();
        vm.start();
        return vm;
    }

    /** A source reconnector that dials {@code address} and counts and closes what it made. */
    private static final class Dialler implements Reconnector, AutoCloseable {
        private final InetSocketAddress address;
        private final List<TcpChannel> made = new CopyOnWriteArrayList<>();

        Dialler(InetSocketAddress address) {
            this.address = address;
        }

        @Override
        public Channel reconnect() throws IOException {
            TcpChannel channel = TcpChannel.connect(address, Duration.ofSeconds(5), PATIENCE);
            made.add(channel);
            return channel;
        }

        @Override
        public void close() {
            made.forEach(TcpChannel::close);
        }
    }

    /** Migrates {@code vm} over TCP on loopback; the destination receives from its listener. */
    private static Run overTcp(InMemoryVm vm, MigrationOptions options, MigrationOptions destinationOptions,
                               Targets targets) throws Exception {
        try (TcpChannelListener listener = TcpChannelListener.bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), PATIENCE);
             Dialler dialler = new Dialler(listener.localAddress())) {
            CompletableFuture<ReceivedMigration> received = onThread(() -> LiveMigration.receive(listener, PATIENCE,
                    targets.factory(), destinationOptions));
            try (TcpChannel first = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), PATIENCE)) {
                return migrate(vm, first, dialler, options, received, targets, dialler.made::size);
            }
        }
    }

    @FunctionalInterface
    private interface Receive {
        ReceivedMigration run() throws MigrationException;
    }

    private static CompletableFuture<ReceivedMigration> onThread(Receive receive) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return receive.run();
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        }, task -> Thread.ofPlatform().name("test-destination").start(task));
    }

    private static Run migrate(InMemoryVm vm, Channel first, Reconnector reconnector, MigrationOptions options,
                               CompletableFuture<ReceivedMigration> received, Targets targets,
                               java.util.function.IntSupplier dials) throws Exception {
        AtomicReference<MemorySnapshot> atPause = new AtomicReference<>();
        MigrationOptions observed = options.toBuilder().listener(e -> {
            options.listener().onEvent(e);
            if (e instanceof MigrationEvent.SwitchoverStarted) {
                atPause.set(MemorySnapshot.of(vm.memory()));
            }
        }).build();
        MigrationReport report = null;
        MigrationException error = null;
        try {
            report = LiveMigration.migrate(vm, first, reconnector, observed);
        } catch (MigrationException e) {
            error = e;
        }
        ReceivedMigration r = null;
        Throwable destinationError = null;
        try {
            r = received.get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            destinationError = e.getCause();
            if (error == null) {
                throw e;
            }
        }
        return new Run(report, error, atPause.get(), targets, r, dials.getAsInt(), destinationError);
    }

    /**
     * The destination's digest of every page as it landed equals the source's at the pause, and,
     * before post-copy, the target's memory at its resume is byte for byte the source's at the pause
     * (the target's guest runs on afterwards).
     */
    private static void assertLandedPageForPage(Run run) {
        assertNull(run.error(), () -> "migration failed: " + run.error());
        assertTrue(run.report().verified(), "the destination's digests of every page equal the source's");
        assertTrue(run.received().report().verified(), "and the destination says so too");
        if (run.targets().snapshotAtResume) {
            run.targets().atResume.get().assertSameAs(run.atPause());
            assertFalse(run.targets().plain.get().vcpus().isPaused());
        } else {
            assertTrue(run.target().running());
        }
    }

    @Test
    void precopyOverFourConnectionsLandsPageForPage() throws Exception {
        try (InMemoryVm vm = source(SPREAD)) {
            MigrationOptions options = MigrationOptions.builder().strategy(Strategy.PRECOPY).streams(4)
                    .downtimeLimit(Duration.ofMillis(5)).maxRounds(6).build();
            Run run = overTcp(vm, options, options, new Targets(true));
            assertLandedPageForPage(run);
            assertEquals(4, run.dials(), "one connection dialled per stream");
            assertTrue(run.report().totals().roundCount() > 1, "rounds: " + run.report().totals().roundCount());
            run.received().target().close();
        }
    }

    @Test
    void coldOverTwoConnectionsLandsPageForPage() throws Exception {
        try (InMemoryVm vm = source(SPREAD)) {
            MigrationOptions options = MigrationOptions.builder().strategy(Strategy.COLD).streams(2).build();
            Run run = overTcp(vm, options, options, new Targets(true));
            assertLandedPageForPage(run);
            assertEquals(2, run.dials());
            run.received().target().close();
        }
    }

    @Test
    void xbzrleDeltasOverThreeConnectionsApplyInOrder() throws Exception {
        try (InMemoryVm vm = source(SMALL_WRITES)) {
            // A cap (far above what loopback needs here): with one, XBZRLE caches from the first
            // pass on, so the second round's re-sent pages already travel as deltas.
            MigrationOptions options = MigrationOptions.builder().strategy(Strategy.PRECOPY).streams(3)
                    .codecs(java.util.Set.of(Codec.XBZRLE)).downtimeLimit(Duration.ofMillis(50)).maxRounds(8)
                    .bandwidthLimitBytesPerSecond(10_000_000_000L).build();
            Run run = overTcp(vm, options, options, new Targets(true));
            assertLandedPageForPage(run);
            long deltas = run.report().encodings().pagesByEncoding().getOrDefault(PageEncoding.XBZRLE.reportName(), 0L);
            assertTrue(deltas > 0, "re-sent pages travelled as deltas: " + run.report().encodings());
            run.received().target().close();
        }
    }

    @Test
    void postcopyPushesOnTheConnectionsAndInstallsEveryMissingPageOnce() throws Exception {
        try (InMemoryVm vm = source(SPREAD)) {
            AtomicReference<Long> missing = new AtomicReference<>();
            MigrationOptions options = MigrationOptions.builder().strategy(Strategy.POSTCOPY).streams(2)
                    .listener(e -> {
                        if (e instanceof MigrationEvent.PostcopyStarted started) {
                            missing.set(started.missingPages());
                        }
                    }).build();
            Run run = overTcp(vm, options, options, new Targets(false));
            assertLandedPageForPage(run);
            assertEquals(missing.get(), run.target().pagesInstalled(), "every missing page was installed");
            assertEquals(1, run.target().mostInstallsOfOnePage(), "and each once");
            assertEquals(0, run.report().postcopy().orElseThrow().recoveries());
            run.received().target().close();
        }
    }

    @Test
    void hybridOverTwoConnectionsLandsPageForPage() throws Exception {
        try (InMemoryVm vm = source(SPREAD)) {
            MigrationOptions options = MigrationOptions.builder().strategy(Strategy.HYBRID).hybridRounds(2)
                    .streams(2).build();
            Run run = overTcp(vm, options, options, new Targets(false));
            assertLandedPageForPage(run);
            assertTrue(run.report().postcopy().isPresent());
            run.received().target().close();
        }
    }

    @Test
    void inMemoryLinksCarryStreamsThroughTheReconnectors() throws Exception {
        try (InMemoryVm vm = source(SPREAD)) {
            RedialableLink link = new RedialableLink(LinkShape.of(256L << 20, Duration.ZERO), TimeSource.system());
            MigrationOptions options = MigrationOptions.builder().strategy(Strategy.PRECOPY).streams(3)
                    .downtimeLimit(Duration.ofMillis(5)).build();
            Targets targets = new Targets(true);
            InMemoryChannel.Pair pair = link.first();
            CompletableFuture<ReceivedMigration> received = onThread(() -> LiveMigration.receive(pair.destination(),
                    link.destinationSide(PATIENCE), targets.factory(), options));
            Run run = migrate(vm, pair.source(), link.sourceSide(), options, received, targets, () -> 3);
            assertLandedPageForPage(run);
            run.received().target().close();
        }
    }

    @Test
    void streamsWithoutAReconnectorAreRefusedBeforeAnythingIsSent() throws Exception {
        try (InMemoryVm vm = source(SPREAD)) {
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
            MigrationOptions options = MigrationOptions.builder().streams(2).build();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LiveMigration.migrate(vm, pair.source(), options));
            assertTrue(e.getMessage().contains("Reconnector"), e.getMessage());
            assertFalse(vm.vcpus().isPaused());
        }
    }

    @Test
    void aDestinationThatTakesFewerConnectionsRefusesAndTheSourceRunsOn() throws Exception {
        try (InMemoryVm vm = source(SPREAD)) {
            MigrationOptions options = MigrationOptions.builder().streams(4).build();
            MigrationOptions destination = options.toBuilder()
                    .receiveLimits(ReceiveLimits.DEFAULTS.withMaxStreams(2)).build();
            Run run = overTcp(vm, options, destination, new Targets(false));
            assertNotNull(run.error());
            assertEquals(SourceVmState.RUNNING, run.error().sourceState());
            assertTrue(run.error().getMessage().contains("at most 2"), run.error().getMessage());
            assertInstanceOf(ProtocolException.class, run.destinationError());
            assertTrue(run.target().discarded(), "the destination discarded its target");
            assertFalse(vm.vcpus().isPaused(), "the source VM runs on");
        }
    }

    @Test
    void aDestinationGivenOneChannelRefusesStreamsAndTheSourceRunsOn() throws Exception {
        try (InMemoryVm vm = source(SPREAD)) {
            RedialableLink link = new RedialableLink(LinkShape.UNLIMITED, TimeSource.system());
            MigrationOptions options = MigrationOptions.builder().streams(2)
                    .receiveLimits(ReceiveLimits.DEFAULTS.withHandshakeTimeout(Duration.ofSeconds(1))).build();
            InMemoryChannel.Pair pair = link.first();
            Targets targets = new Targets(false);
            CompletableFuture<ReceivedMigration> received = onThread(() -> LiveMigration.receive(pair.destination(),
                    targets.factory(), options));
            Run run = migrate(vm, pair.source(), link.sourceSide(), options, received, targets, () -> 0);
            assertNotNull(run.error());
            assertEquals(SourceVmState.RUNNING, run.error().sourceState());
            assertTrue(run.error().getMessage().contains("no reconnector"), run.error().getMessage());
            assertFalse(vm.vcpus().isPaused());
        }
    }
}
