package io.livemig.kit;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.engine.MigrationAdvisor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The advisor's predictions agree with real (virtual-time) pre-copy runs. */
class AdvisorPredictionTest {

    private static final long GBIT = 125_000_000L;
    private static final long MEMORY = 1L << 30;
    private static final Duration LIMIT = Duration.ofMillis(100);

    @ParameterizedTest(name = "dirty rate {0} MiB/s")
    @ValueSource(longs = {5, 20, 60, 200})
    void predictionMatchesTheVirtualRun(long dirtyMiBPerSecond) throws Exception {
        Workload workload = new Workload(WorkloadPattern.RANDOM, 0, dirtyMiBPerSecond << 20, 0, 13);
        VirtualTime clock = new VirtualTime();
        SimulatedVm vm = SimulatedVm.builder(clock).memoryBytes(MEMORY).prefill(1.0).workload(workload).build();
        vm.start();
        MigrationAdvisor.DirtyRateEstimate estimate = MigrationAdvisor.estimateDirtyRate(vm, Duration.ofSeconds(1), clock);
        // The on-wire rate for 4 KiB pages is the link rate less the 13-byte entry header.
        MigrationAdvisor.Advice advice = MigrationAdvisor.advise(estimate, MEMORY, GBIT * 4096 / 4109, LIMIT, 30);

        MigrationReport run = Simulation.migrate(vm, LinkShape.of(GBIT, Duration.ZERO), MigrationOptions.builder()
                .strategy(Strategy.PRECOPY).downtimeLimit(LIMIT).maxRounds(30)
                .escalation(List.of(new EscalationStep.Abort())).build()).source();
        boolean converged = run != null;
        assertEquals(advice.precopyConverges(), converged, advice.reason());
        if (converged) {
            assertNotNull(run);
            assertTrue(Math.abs(run.totals().roundCount() - advice.expectedRounds()) <= 1,
                    "rounds: predicted " + advice.expectedRounds() + ", ran " + run.totals().roundCount());
            double predicted = advice.expectedTotalTime().toNanos();
            double actual = run.totals().totalTime().toNanos();
            assertTrue(Math.abs(actual - predicted) / actual < 0.10,
                    "total time: predicted " + advice.expectedTotalTime() + ", ran " + run.totals().totalTime());
            assertTrue(run.switchover().downtime().compareTo(LIMIT) <= 0);
        } else {
            assertEquals(Strategy.POSTCOPY, advice.recommended());
        }
    }
}
