package io.livemig.kit;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.e2e.Reports;
import io.livemig.api.RoundStats;
import io.livemig.api.Strategy;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Virtual time: the papers' setups (GiB-sized VMs on 1 Gbit/s) run in seconds, deterministically. */
class VirtualTimeMigrationTest {

    /** 1 Gbit/s. */
    private static final long GBIT = 125_000_000L;
    private static final LinkShape LINK = LinkShape.of(GBIT, Duration.ofMillis(1));

    private static SimulatedVm vm(long memoryBytes, Workload workload) {
        SimulatedVm vm = SimulatedVm.builder(new VirtualTime()).memoryBytes(memoryBytes).prefill(0.5)
                .workload(workload).build();
        vm.start();
        return vm;
    }

    @Test
    void coldMigrationTakesWhatTheLinkArithmeticSays() throws Exception {
        Simulation.Result r = Simulation.migrate(vm(256L << 20, Workload.idle()), LINK,
                MigrationOptions.builder().strategy(Strategy.COLD).build());
        MigrationReport s = r.source();
        assertNotNull(s, String.valueOf(r.failure()));
        assertTrue(s.verified());
        // Every byte on the wire at 1 Gbit/s, plus a few link latencies for the handshake and commit.
        double wireSeconds = s.totals().bytesOnWire() / (double) GBIT;
        double total = s.totals().totalTime().toNanos() / 1e9;
        assertTrue(total >= wireSeconds && total < wireSeconds + 0.02, total + " s vs " + wireSeconds + " s on the wire");
        assertEquals(s.switchover().downtime().toMillis(), s.rounds().get(0).duration().toMillis(), 3.0);
        r.target().close();
    }

    @Test
    void theSamePreCopyInputsGiveTheSameReportEveryRun() throws Exception {
        MigrationOptions options = MigrationOptions.builder().strategy(Strategy.PRECOPY)
                .downtimeLimit(Duration.ofMillis(30)).build();
        Workload workload = new Workload(WorkloadPattern.RANDOM, 64L << 20, 20L << 20, 0, 7);
        MigrationReport first = Simulation.migrate(vm(512L << 20, workload), LINK, options).source();
        MigrationReport second = Simulation.migrate(vm(512L << 20, workload), LINK, options).source();
        assertNotNull(first);
        assertTrue(first.totals().roundCount() > 2, "a few rounds: " + first.totals().roundCount());
        assertEquals(Reports.withoutId(first), Reports.withoutId(second), "byte for byte the same report, but the id");
    }

    @Test
    void aConvergentWorkloadMeetsItsDowntimeLimitInVirtualTime() throws Exception {
        Duration limit = Duration.ofMillis(50);
        Simulation.Result r = Simulation.migrate(vm(1L << 30, new Workload(WorkloadPattern.HOTCOLD, 0, 30L << 20, 0, 3)),
                LINK, MigrationOptions.builder().strategy(Strategy.PRECOPY).downtimeLimit(limit).build());
        MigrationReport s = r.source();
        assertTrue(s.verified());
        assertTrue(s.totals().roundCount() > 1);
        assertTrue(s.switchover().downtime().compareTo(limit) <= 0,
                "downtime " + s.switchover().downtime() + " within " + limit);
        assertTrue(s.switchover().expectedDowntime().compareTo(limit) <= 0);
        r.target().close();
    }

    @Test
    void aWorkloadDirtyingFasterThanTheLinkDoesNotConvergeAndTheLadderForcesIt() throws Exception {
        Simulation.Result r = Simulation.migrate(vm(256L << 20, new Workload(WorkloadPattern.RANDOM, 0, 200L << 20, 0, 5)),
                LINK, MigrationOptions.builder().strategy(Strategy.PRECOPY).downtimeLimit(Duration.ofMillis(30))
                        .escalation(List.of(new EscalationStep.Force())).build());
        MigrationReport s = r.source();
        assertTrue(s.switchover().forced());
        assertTrue(s.verified());
        assertEquals(List.of("force switchover past the 30 ms limit"), s.escalations());
        r.target().close();
    }

    @Test
    void postcopyInVirtualTimeLandsEveryPage() throws Exception {
        Simulation.Result r = Simulation.migrate(vm(128L << 20, new Workload(WorkloadPattern.HOTCOLD, 16L << 20, 40L << 20, 0, 9)),
                LINK, MigrationOptions.builder().strategy(Strategy.POSTCOPY).build());
        MigrationReport s = r.source();
        assertNotNull(s, String.valueOf(r.failure()));
        assertTrue(s.verified());
        assertTrue(s.postcopy().orElseThrow().demandFaults() > 0);
        assertTrue(s.switchover().downtime().toMillis() < 10,
                "post-copy downtime is the state transfer: " + s.switchover().downtime());
        r.target().close();
    }

    @Test
    void preCopyGoesOnWhileRoundsHalveTheDirtySetEvenOnceTheRestFitsTheLimit() throws Exception {
        // 1 s is far above what round 0's leftovers need: stopping there would spend ~0.1 s paused.
        MigrationOptions options = MigrationOptions.builder().strategy(Strategy.PRECOPY)
                .downtimeLimit(Duration.ofSeconds(1)).build();
        Workload workload = new Workload(WorkloadPattern.RANDOM, 64L << 20, 20L << 20, 0, 11);
        MigrationReport s = Simulation.migrate(vm(256L << 20, workload), LINK, options).source();
        assertNotNull(s);
        assertTrue(s.verified());
        Duration afterRoundZero = s.rounds().get(0).expectedDowntime();
        assertTrue(afterRoundZero.compareTo(options.downtimeLimit()) <= 0, "the rest fit after round 0: " + s);
        assertTrue(s.totals().roundCount() > 2, "more rounds while they shrank the dirty set: " + s.rounds());
        assertTrue(s.switchover().downtime().compareTo(afterRoundZero.dividedBy(2)) < 0,
                "the downtime fell well below what stopping after round 0 would have cost: " + s.switchover());
    }

    @Test
    void thePostcopyPhaseRunsAtItsOwnCap() throws Exception {
        // 64 MiB half filled: ~32 MiB to push. At the live copy's 10 MB/s that is ~3.4 s; uncapped
        // after the switch, the 1 Gbit/s link takes ~0.27 s.
        MigrationOptions capped = MigrationOptions.builder().strategy(Strategy.POSTCOPY)
                .bandwidthLimitBytesPerSecond(10_000_000L).build();
        MigrationReport slow = Simulation.migrate(vm(64L << 20, Workload.idle()), LINK, capped).source();
        MigrationReport fast = Simulation.migrate(vm(64L << 20, Workload.idle()), LINK,
                capped.toBuilder().postcopyBandwidthLimitBytesPerSecond(0).build()).source();
        assertNotNull(slow);
        assertNotNull(fast);
        assertTrue(slow.verified() && fast.verified());
        double slowSeconds = slow.totals().totalTime().toNanos() / 1e9;
        double fastSeconds = fast.totals().totalTime().toNanos() / 1e9;
        double pushedBytes = fast.totals().bytesOnWire();
        assertEquals(pushedBytes / 10_000_000.0, slowSeconds, 0.3, "capped at 10 MB/s");
        assertTrue(fastSeconds < pushedBytes / GBIT + 0.1, fastSeconds + " s: uncapped after the switch");
    }

    @Test
    void aSimulatedTargetRecognisesSynthesizedPagesAndFlagsForeignOnes() {
        VirtualTime clock = new VirtualTime();
        SimulatedVm source = vm(1L << 20, Workload.idle());
        SimulatedVm target = SimulatedVm.builder(clock).buildTarget(source.descriptor());
        ByteBuffer page = ByteBuffer.allocate(4096);
        for (long p = 0; p < 256; p++) {
            page.clear();
            source.memory().readPages(p, 1, page);
            page.flip();
            target.memory().writePages(p, 1, page);
        }
        ByteBuffer a = ByteBuffer.allocate(4096);
        ByteBuffer b = ByteBuffer.allocate(4096);
        for (long p = 0; p < 256; p++) {
            a.clear();
            b.clear();
            source.memory().readPages(p, 1, a);
            target.memory().readPages(p, 1, b);
            assertEquals(a.flip(), b.flip(), "page " + p);
        }
        ByteBuffer bogus = ByteBuffer.allocate(4096);
        bogus.put(0, (byte) 1);
        target.memory().writePages(3, 1, bogus);
        b.clear();
        target.memory().readPages(3, 1, b);
        a.clear();
        source.memory().readPages(3, 1, a);
        assertTrue(!a.flip().equals(b.flip()), "foreign content never reads back as the source's");
    }

    @Test
    void theVirtualClockMovesOnlyWhenToldAndTheLinkIsExactArithmetic() throws Exception {
        VirtualTime sender = new VirtualTime();
        VirtualTime receiver = new VirtualTime();
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(1_000_000, Duration.ofMillis(10)), sender, receiver);
        pair.source().send(ByteBuffer.allocate(100_000));
        assertEquals(100_000_000L, sender.nanoTime());
        assertEquals(0, receiver.nanoTime());
        pair.destination().receive(ByteBuffer.allocate(200_000));
        assertEquals(110_000_000L, receiver.nanoTime());
    }

    @Test
    void onceEngagedAutoConvergeStepsUpEveryOtherRoundWhileTheGuestOutpacesTheLink() throws Exception {
        // 4x faster than the link: the throttle must reach about 75 % before pre-copy converges.
        // Each step after the first comes two rounds after the last (QEMU's rule: dirtied more than
        // half of what was sent, twice), not after a fresh stall of stallRounds rounds.
        Simulation.Result r = Simulation.migrate(vm(256L << 20, new Workload(WorkloadPattern.RANDOM, 0, 500L << 20, 0, 5)),
                LINK, MigrationOptions.builder().strategy(Strategy.PRECOPY).downtimeLimit(Duration.ofMillis(50))
                        .maxRounds(100).escalation(List.of(EscalationStep.AutoConverge.QEMU_DEFAULTS,
                                new EscalationStep.Abort())).build());
        MigrationReport s = r.source();
        assertNotNull(s, String.valueOf(r.failure()));
        assertTrue(s.verified());
        assertTrue(s.escalations().size() >= 6, s.escalations().toString());
        List<RoundStats> rounds = s.rounds();
        List<Integer> throttle = rounds.stream().map(RoundStats::throttlePercent).toList();
        int at20 = throttle.indexOf(20);
        int at70 = throttle.indexOf(70);
        assertTrue(at20 > 0 && at70 > at20, "throttle per round: " + throttle);
        // Five steps, two rounds each (a stall-based pace of stallRounds = 3 would need 15).
        assertEquals(10, at70 - at20, "throttle per round: " + throttle);
        r.target().close();
    }
}
