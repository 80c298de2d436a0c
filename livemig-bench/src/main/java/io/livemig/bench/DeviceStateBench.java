package io.livemig.bench;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.PassThroughPolicy;
import io.livemig.api.PassThroughStats;
import io.livemig.api.RoundStats;
import io.livemig.api.TimeSource;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.FailoverPair;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.SimulatedVm;
import io.livemig.kit.Simulation;
import io.livemig.kit.StatefulDeviceSpec;
import io.livemig.kit.VirtualTime;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.spi.HotPlug;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Issue 15's device benchmark, for bench/devices.sh and docs/benchmarks.md; prints Markdown tables.
 *
 * <ul>
 *   <li>{@code devices}: a 256 MiB VM (half its pages written, a light random guest workload) with a
 *       device holding 256 MiB of state, rewritten at 0, 16, 64 and 128 MiB/s, migrated by pre-copy in
 *       virtual time ({@link Simulation}) over a simulated 1 Gbit/s link with 1 ms latency, with
 *       the default 300 ms downtime limit and the escalation ladder {@code force} alone. The device
 *       supports PRE_COPY (its state is copied iteratively beside the pages) or only the mandatory
 *       states (its whole state goes in the downtime, STOP_COPY). Deterministic: the same figures
 *       on every run, whatever the machine's load.</li>
 *   <li>{@code failover}: a pass-through device failed over with the kit's {@link FailoverPair}
 *       under {@link PassThroughPolicy.Action#FAILOVER}, guest acknowledgement delays 10, 50 and
 *       200 ms; real time, a 32 MiB in-memory VM over an in-memory channel shaped as 1 Gbit/s with
 *       1 ms latency; each delay run {@value #FAILOVER_RUNS} times, medians and ranges.</li>
 * </ul>
 *
 * <p>Usage: {@code DeviceStateBench [devices|failover|all]}.
 */
public final class DeviceStateBench {

    private static final long MiB = 1L << 20;
    private static final long LINK_BYTES_PER_SECOND = 125_000_000L;
    private static final Duration LINK_LATENCY = Duration.ofMillis(1);
    private static final long VM_BYTES = 256 * MiB;
    private static final long DEVICE_BYTES = 256 * MiB;
    /** The guest's own writes: random whole pages at 4 MiB/s. */
    private static final Workload GUEST = new Workload(WorkloadPattern.RANDOM, 0, 4 * MiB, 0, 1);
    private static final int FAILOVER_RUNS = 5;
    /** The device's write rates: the three, and one above what the link carries. */
    private static final long[] RATES = {0, 16 * MiB, 64 * MiB, 128 * MiB};

    private DeviceStateBench() {
    }

    /**
     * @param args {@code devices}, {@code failover} or {@code all} (the default)
     * @throws Exception if a migration fails
     */
    public static void main(String[] args) throws Exception {
        String what = args.length == 0 ? "all" : args[0];
        if (!List.of("devices", "failover", "all").contains(what)) {
            System.err.println("usage: DeviceStateBench [devices|failover|all]");
            System.exit(2);
        }
        if (!what.equals("failover")) {
            deviceTable();
        }
        if (!what.equals("devices")) {
            if (what.equals("all")) {
                System.out.println();
            }
            failoverTable();
        }
    }

    // ---- a. iterative device state against stop-and-copy, virtual time ----

    /** What one simulated migration gave. */
    private record DeviceRun(MigrationReport report, long bytesAfterRounds, Duration expectedAtSwitchover,
                             long wallMillis) {
    }

    private static DeviceRun simulate(StatefulDeviceSpec device) throws Exception {
        VirtualTime clock = new VirtualTime();
        SimulatedVm.Builder b = SimulatedVm.builder(clock).memoryBytes(VM_BYTES).prefill(0.5).workload(GUEST);
        if (device != null) {
            b.statefulDevice(device);
        }
        SimulatedVm vm = b.build();
        vm.start();
        AtomicLong expectedNanos = new AtomicLong(-1);
        MigrationOptions options = MigrationOptions.builder()
                .escalation(List.of(new EscalationStep.Force()))
                .listener(e -> {
                    if (e instanceof MigrationEvent.SwitchoverStarted s) {
                        expectedNanos.set(s.expectedDowntime().toNanos());
                    }
                }).build();
        long start = System.nanoTime();
        Simulation.Result r;
        try (vm) {
            r = Simulation.migrate(vm, LinkShape.of(LINK_BYTES_PER_SECOND, LINK_LATENCY), options);
        }
        long wallMillis = (System.nanoTime() - start) / 1_000_000;
        if (r.target() != null) {
            r.target().close();
        }
        if (r.source() == null) {
            throw new IllegalStateException("the simulated migration failed", r.failure());
        }
        MigrationReport report = r.source();
        long inRounds = report.rounds().stream().mapToLong(RoundStats::bytesOnWire).sum();
        return new DeviceRun(report, report.totals().bytesOnWire() - inRounds,
                Duration.ofNanos(expectedNanos.get()), wallMillis);
    }

    private static void deviceTable() throws Exception {
        // The same VM without the device: what goes on the wire outside the page rounds besides a
        // device's data (handshake, vCPU state, commit), subtracted from the device rows.
        DeviceRun baseline = simulate(null);
        long overhead = baseline.bytesAfterRounds();
        System.out.println("| device writes | mode | rounds | total (s) | downtime (ms) | expected at switchover (ms) "
                + "| on the wire (MB) | device data in the downtime (MB) | converged |");
        System.out.println("|---|---|---:|---:|---:|---:|---:|---:|---|");
        row("no device", "—", baseline, 0);
        long wall = baseline.wallMillis();
        for (long rate : RATES) {
            for (boolean preCopy : new boolean[] {true, false}) {
                StatefulDeviceSpec device = StatefulDeviceSpec.of("gpu0", DEVICE_BYTES).withWrites(rate, 7)
                        .withStates(true, preCopy);
                DeviceRun run = simulate(device);
                wall += run.wallMillis();
                row(rate == 0 ? "idle" : rate / MiB + " MiB/s", preCopy ? "iterative (PRE_COPY)" : "stop-and-copy",
                        run, run.bytesAfterRounds() - overhead);
            }
        }
        System.out.printf(Locale.ROOT, "%nVirtual time (Simulation); deterministic. %d bytes outside the page rounds "
                + "without a device (handshake, vCPU state, commit) subtracted from each device row. "
                + "%.1f s of wall time for the %d runs.%n", overhead, wall / 1000.0, 1 + 2 * RATES.length);
    }

    private static void row(String rate, String mode, DeviceRun run, long deviceBytesInDowntime) {
        MigrationReport r = run.report();
        System.out.printf(Locale.ROOT, "| %s | %s | %d | %.2f | %.1f | %.1f | %,.0f | %,.2f | %s |%n", rate, mode,
                r.totals().roundCount(), r.totals().totalTime().toNanos() / 1e9,
                r.switchover().downtime().toNanos() / 1e6, run.expectedAtSwitchover().toNanos() / 1e6,
                r.totals().bytesOnWire() / 1e6, deviceBytesInDowntime / 1e6,
                r.switchover().forced() ? "no (forced)" : "yes");
    }

    // ---- b. the failover window of the fake pair, real time ----

    /** What one failover migration gave, in milliseconds and packets. */
    private record FailoverRun(double unplugMs, double sourceAbsentMs, double destinationAbsentMs,
                               double migrationMs, double downtimeMs, long standbyPackets, long lostPackets,
                               PassThroughStats.Outcome sourceOutcome, PassThroughStats.Outcome destinationOutcome) {
    }

    private static FailoverRun failover(Duration ackDelay, int seed) throws Exception {
        StatefulDeviceSpec vf = StatefulDeviceSpec.of("vf0", 64 << 10);
        FailoverPair here = new FailoverPair(vf.id(), ackDelay, true);
        FailoverPair there = new FailoverPair(vf.id(), ackDelay, false);
        AtomicLong unplugNanos = new AtomicLong();
        HotPlug sourcePlug = timed(here.hotPlug(), unplugNanos);
        MigrationOptions options = MigrationOptions.builder().passThrough(PassThroughPolicy.NONE
                .with(vf.id(), PassThroughPolicy.Action.FAILOVER)
                .withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5))).build();
        InMemoryVm vm = InMemoryVm.builder().memoryBytes(32 * MiB).prefill(0.5)
                .workload(new Workload(WorkloadPattern.RANDOM, 0, MiB, 0, seed))
                .statefulDevice(vf).hotPlug(sourcePlug).build();
        vm.start();
        try (vm) {
            InMemoryChannel.Pair link = InMemoryChannel.pair(LinkShape.of(LINK_BYTES_PER_SECOND, LINK_LATENCY),
                    TimeSource.system());
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try {
                    return LiveMigration.receive(link.destination(), d -> {
                        // The guest is one guest: from here on (the handshake, after the unplug) its
                        // packets are counted by the destination's pair, on the standby until the plug.
                        there.continueFrom(here);
                        return InMemoryVm.builder().hotPlug(there.hotPlug()).buildTarget(d);
                    }, options);
                } catch (MigrationException e) {
                    throw new CompletionException(e);
                }
            }, task -> Thread.ofPlatform().name("bench-destination").start(task));
            long start = System.nanoTime();
            MigrationReport out = LiveMigration.migrate(vm, link.source(), options);
            double migrationMs = (System.nanoTime() - start) / 1e6;
            ReceivedMigration got = received.get(60, TimeUnit.SECONDS);
            try (var target = got.target()) {
                PassThroughStats src = out.passThrough().get(0);
                PassThroughStats dst = got.report().passThrough().get(0);
                FailoverPair.PacketCounts counts = there.counts();
                return new FailoverRun(unplugNanos.get() / 1e6, src.absent().toNanos() / 1e6,
                        dst.absent().toNanos() / 1e6, migrationMs, out.switchover().downtime().toNanos() / 1e6,
                        counts.onStandby(), counts.lost(), src.outcome(), dst.outcome());
            }
        }
    }

    /** The source's hot-plug, timing its unplug (the request until the guest's acknowledgement). */
    private static HotPlug timed(HotPlug plug, AtomicLong unplugNanos) {
        return new HotPlug() {
            @Override
            public void unplug(String deviceId, Duration timeout) throws TimeoutException {
                long start = System.nanoTime();
                plug.unplug(deviceId, timeout);
                unplugNanos.set(System.nanoTime() - start);
            }

            @Override
            public void plug(String deviceId, Duration timeout) throws TimeoutException {
                plug.plug(deviceId, timeout);
            }
        };
    }

    private static void failoverTable() throws Exception {
        failover(Duration.ofMillis(10), 99); // warm-up: class loading and JIT, not reported
        System.out.println("| guest ack delay | unplug (ms) | source absence (ms) | destination absence (ms) "
                + "| device absent (ms) | range absent (ms) | migration (ms) | downtime (ms) | packets on standby "
                + "| packets lost | outcomes |");
        System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for (long ackMs : new long[] {10, 50, 200}) {
            List<FailoverRun> runs = new ArrayList<>();
            for (int i = 0; i < FAILOVER_RUNS; i++) {
                runs.add(failover(Duration.ofMillis(ackMs), i + 1));
            }
            double[] absent = runs.stream().mapToDouble(r -> r.sourceAbsentMs() + r.destinationAbsentMs()).toArray();
            Arrays.sort(absent);
            long lost = runs.stream().mapToLong(FailoverRun::lostPackets).sum();
            String outcomes = runs.stream().map(r -> r.sourceOutcome() + "/" + r.destinationOutcome()).distinct()
                    .reduce((a, b) -> a + ", " + b).orElse("");
            System.out.printf(Locale.ROOT, "| %d ms | %.1f | %.1f | %.2f | %.1f | %.1f–%.1f | %.0f | %.1f | %d | %d | %s |%n",
                    ackMs, median(runs, FailoverRun::unplugMs), median(runs, FailoverRun::sourceAbsentMs),
                    median(runs, FailoverRun::destinationAbsentMs), median(absent), absent[0],
                    absent[absent.length - 1], median(runs, FailoverRun::migrationMs),
                    median(runs, FailoverRun::downtimeMs), (long) median(runs, r -> r.standbyPackets()), lost,
                    outcomes);
        }
        System.out.printf(Locale.ROOT, "%nReal time, medians of %d runs per row (range: of the device's absence); "
                + "packets lost summed over the runs.%n", FAILOVER_RUNS);
    }

    private static double median(List<FailoverRun> runs, java.util.function.ToDoubleFunction<FailoverRun> f) {
        double[] v = runs.stream().mapToDouble(f).toArray();
        Arrays.sort(v);
        return median(v);
    }

    private static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
