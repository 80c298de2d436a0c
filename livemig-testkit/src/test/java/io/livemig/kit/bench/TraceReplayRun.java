package io.livemig.kit.bench;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.api.TraceReplayStats;
import io.livemig.kit.LinkShape;
import io.livemig.kit.RecordReplaySpec;
import io.livemig.kit.SimulatedVm;
import io.livemig.kit.Simulation;
import io.livemig.kit.VirtualTime;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;

import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * One cell of bench/virtual-tables.py's trace-and-replay table, in virtual time: a 1 GiB
 * replayable simulated guest (half of its pages non-zero, random whole-page writes, seed 1) on a
 * 100 MiB/s link with 1 ms latency, migrated by trace and replay or by pre-copy with
 * auto-converge then a forced switchover, 300 ms downtime limit. Prints one JSON line.
 *
 * <p>Usage: {@code TraceReplayRun traceReplay|precopy <write MiB/s> <input bytes/s>}
 */
public final class TraceReplayRun {

    private TraceReplayRun() {
    }

    /**
     * Runs one migration and prints its figures.
     *
     * @param args the strategy, the write rate in MiB/s, the input device's rate in bytes/s
     * @throws Exception if the simulation cannot run
     */
    public static void main(String[] args) throws Exception {
        boolean trace = args[0].equals("traceReplay");
        long writeBytesPerSecond = Long.parseLong(args[1]) << 20;
        long inputBytesPerSecond = Long.parseLong(args[2]);
        VirtualTime clock = new VirtualTime();
        SimulatedVm vm = SimulatedVm.builder(clock).memoryBytes(1L << 30).prefill(0.5)
                .workload(new Workload(WorkloadPattern.RANDOM, 0, writeBytesPerSecond, 0, 1))
                .replayable(RecordReplaySpec.DEFAULT.withInputDevice(inputBytesPerSecond)
                        .withRecordingCost(Duration.ofNanos(10_000)))
                .build();
        vm.start();
        clock.sleepNanos(1_000_000_000L);
        MigrationOptions options = MigrationOptions.builder()
                .strategy(trace ? Strategy.TRACE_REPLAY : Strategy.PRECOPY)
                .downtimeLimit(Duration.ofMillis(300))
                .escalation(List.of(EscalationStep.AutoConverge.QEMU_DEFAULTS, new EscalationStep.Force()))
                .build();
        long writesBefore = vm.writesDone();
        long start = clock.nanoTime();
        Simulation.Result r = Simulation.migrate(vm, LinkShape.of(100L << 20, Duration.ofMillis(1)), options);
        MigrationReport s = r.source();
        StringBuilder json = new StringBuilder("{");
        if (s == null) {
            json.append("\"failure\":\"").append(String.valueOf(r.failure().getMessage()).replace('"', '\'')).append('"');
        } else {
            json.append(String.format(Locale.ROOT, "\"totalMs\":%.1f,\"downtimeMs\":%.2f,\"bytesOnWire\":%d,"
                            + "\"verified\":%b,\"forced\":%b,\"rounds\":%d,\"escalations\":%d,\"guestWrites\":%d",
                    s.totals().totalTime().toNanos() / 1e6, s.switchover().downtime().toNanos() / 1e6,
                    s.totals().bytesOnWire(), s.verified(), s.switchover().forced(), s.totals().roundCount(),
                    s.escalations().size(), vm.writesDone() - writesBefore));
            if (s.traceReplay().isPresent()) {
                TraceReplayStats t = s.traceReplay().get();
                json.append(String.format(Locale.ROOT, ",\"logBytes\":%d,\"logBytesPerSecond\":%d,\"replaySpeed\":%.2f,"
                                + "\"checkpointBytes\":%d,\"segments\":%d", t.logBytes(), t.logBytesPerSecond(),
                        t.replaySpeed(), t.checkpointBytes(), t.segmentLogBytes().size()));
            }
        }
        json.append(String.format(Locale.ROOT, ",\"virtualSeconds\":%.3f}", (clock.nanoTime() - start) / 1e9));
        System.out.println(json);
        if (r.target() != null) {
            r.target().close();
        }
        vm.close();
    }
}
