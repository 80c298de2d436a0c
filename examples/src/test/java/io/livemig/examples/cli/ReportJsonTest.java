package io.livemig.examples.cli;

import com.fasterxml.jackson.jr.ob.JSON;
import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationReport.SwitchoverStep;
import io.livemig.api.MigrationStatus;
import io.livemig.api.PostcopyStats;
import io.livemig.api.RoundStats;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.Verification;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Pins the JSON the command line prints: its keys (bench/*.py and bench/*.sh parse them) and
 * their units. Every map goes through {@link ReportJson#write} and back, as a script reads it.
 */
class ReportJsonTest {

    private static final long MEMORY_BYTES = 64L << 20;

    /** The keys of every report, in order, before the optional post-copy and failure keys. */
    private static final List<String> REPORT_KEYS = List.of("strategy", "status", "verified", "verification",
            "mismatchedPages", "memoryBytes", "totalTimeMs", "verificationTimeMs", "downtimeMs", "expectedDowntimeMs",
            "switchoverStepsMs", "bytesOnWire", "rounds", "pagesByEncoding", "bytesByEncoding", "unchangedPages",
            "bytesSaved", "roundsDetail");

    private static final List<String> POSTCOPY_KEYS = List.of("demandFaults", "pagesPulled", "pagesPushed",
            "requestRaces", "faultLatencyP50Ms", "faultLatencyP99Ms", "vcpuBlockedMs", "recovered");

    private static final List<String> ROUND_KEYS = List.of("round", "pagesSent", "bytesOnWire", "dirtyPages",
            "dirtyRateBytesPerSecond", "bandwidthBytesPerSecond", "remainingBytes", "expectedDowntimeMs",
            "throttlePercent", "durationMs");

    private static Duration ms(double millis) {
        return Duration.ofNanos(Math.round(millis * 1e6));
    }

    private static RoundStats round(int n) {
        return new RoundStats(n, 1000 + n, 4_100_000L + n, 200 - n, 50L << 20, 125_000_000L, (200L - n) * 4096,
                ms(6.5), 20 * n, ms(100.25 + n));
    }

    private static MigrationReport.Builder precopy() {
        return MigrationReport.builder(Strategy.PRECOPY)
                .memoryBytes(MEMORY_BYTES)
                .totals(new MigrationReport.Totals(ms(1500.25), 70_000_000L, 3))
                .rounds(List.of(round(0), round(1), round(2)))
                .switchover(new MigrationReport.Switchover(ms(12.5), ms(10), true, List.of(
                        new SwitchoverStep(SwitchoverStep.Kind.STOP_COPY, ms(8.25)),
                        new SwitchoverStep(SwitchoverStep.Kind.STATE_SAVE, ms(0.5)),
                        new SwitchoverStep(SwitchoverStep.Kind.STATE_SEND, ms(1)),
                        new SwitchoverStep(SwitchoverStep.Kind.RESUME_WAIT, ms(2.75)))))
                .encodings(new MigrationReport.Encodings(Map.of("raw", 16_000L, "zero", 400L, "xbzrle", 300L),
                        Map.of("raw", 65_536_000L, "xbzrle", 12_000L), 70, 1_600_000L))
                .verification(new MigrationReport.Check(Verification.VERIFIED, 0, ms(30.5)))
                .escalations(List.of("auto-converge 20%", "force switchover past the 10 ms limit"));
    }

    private static Map<String, Object> printed(Map<String, Object> map) throws Exception {
        return JSON.std.mapFrom(ReportJson.write(map));
    }

    private static List<String> keys(Map<String, Object> map) {
        return new ArrayList<>(map.keySet());
    }

    private static List<String> concat(List<String> first, List<String> second) {
        List<String> all = new ArrayList<>(first);
        all.addAll(second);
        return all;
    }

    private static double number(Object value) {
        return ((Number) value).doubleValue();
    }

    @Test
    @SuppressWarnings("unchecked")
    void aCompletedPrecopyReportPrintsEveryKeyTimesInMillisAndSizesInBytes() throws Exception {
        Map<String, Object> m = printed(ReportJson.toMap(precopy().build()));

        assertEquals(concat(REPORT_KEYS, List.of("forced", "policyActions", "throughputBytesPerSecond")), keys(m));
        assertEquals("precopy", m.get("strategy"));
        assertEquals("completed", m.get("status"));
        assertEquals(true, m.get("verified"));
        assertEquals("verified", m.get("verification"));
        assertEquals(0, number(m.get("mismatchedPages")));
        assertEquals(MEMORY_BYTES, number(m.get("memoryBytes")));
        assertEquals(1500.25, number(m.get("totalTimeMs")), 1e-9);
        assertEquals(30.5, number(m.get("verificationTimeMs")), 1e-9);
        assertEquals(12.5, number(m.get("downtimeMs")), 1e-9);
        assertEquals(10.0, number(m.get("expectedDowntimeMs")), 1e-9);
        assertEquals(Map.of("stop_copy", 8.25, "state_save", 0.5, "state_send", 1.0, "resume_wait", 2.75),
                m.get("switchoverStepsMs"));
        assertEquals(List.of("stop_copy", "state_save", "state_send", "resume_wait"),
                keys((Map<String, Object>) m.get("switchoverStepsMs")), "in the order they happened");
        assertEquals(70_000_000L, number(m.get("bytesOnWire")));
        assertEquals(3, number(m.get("rounds")), "the round count");
        assertEquals(Map.of("raw", 16_000, "zero", 400, "xbzrle", 300), m.get("pagesByEncoding"),
                "pages sent only: the unchanged ones are apart");
        assertEquals(Map.of("raw", 65_536_000, "xbzrle", 12_000), m.get("bytesByEncoding"));
        assertEquals(70, number(m.get("unchangedPages")));
        assertEquals(1_600_000, number(m.get("bytesSaved")));
        assertEquals(true, m.get("forced"));
        assertEquals(List.of("auto-converge 20%", "force switchover past the 10 ms limit"), m.get("policyActions"));
        assertEquals((long) (MEMORY_BYTES / 1.50025), number(m.get("throughputBytesPerSecond")), 1.0);

        List<Map<String, Object>> rounds = (List<Map<String, Object>>) m.get("roundsDetail");
        assertEquals(3, rounds.size());
        Map<String, Object> last = rounds.get(2);
        assertEquals(ROUND_KEYS, keys(last));
        assertEquals(2, number(last.get("round")));
        assertEquals(1002, number(last.get("pagesSent")));
        assertEquals(4_100_002L, number(last.get("bytesOnWire")));
        assertEquals(198, number(last.get("dirtyPages")));
        assertEquals(50L << 20, number(last.get("dirtyRateBytesPerSecond")));
        assertEquals(125_000_000L, number(last.get("bandwidthBytesPerSecond")));
        assertEquals(198L * 4096, number(last.get("remainingBytes")));
        assertEquals(6.5, number(last.get("expectedDowntimeMs")), 1e-9);
        assertEquals(40, number(last.get("throttlePercent")));
        assertEquals(102.25, number(last.get("durationMs")), 1e-9);
    }

    @Test
    void aBlackoutTheSourceMeasuredIsPrintedAfterTheDowntime() throws Exception {
        MigrationReport.Switchover s = precopy().build().switchover();
        Map<String, Object> m = printed(ReportJson.toMap(precopy().switchover(new MigrationReport.Switchover(
                s.downtime(), s.expectedDowntime(), s.forced(), s.steps(), java.util.Optional.of(ms(4.5)))).build()));
        assertEquals(4.5, number(m.get("blackoutMs")), 1e-9);
        List<String> keys = keys(m);
        assertEquals(keys.indexOf("downtimeMs") + 1, keys.indexOf("blackoutMs"));
    }

    @Test
    void aPostcopyReportAddsItsFaultsPagesAndBlockedTimeInMillis() throws Exception {
        MigrationReport report = MigrationReport.builder(Strategy.POSTCOPY)
                .memoryBytes(MEMORY_BYTES)
                .totals(new MigrationReport.Totals(ms(900), 67_200_000L, 0))
                .switchover(new MigrationReport.Switchover(ms(2.5), Duration.ZERO, false, List.of(
                        new SwitchoverStep(SwitchoverStep.Kind.STATE_SAVE, ms(0.25)),
                        new SwitchoverStep(SwitchoverStep.Kind.STATE_SEND, ms(0.5)),
                        new SwitchoverStep(SwitchoverStep.Kind.RESUME_WAIT, ms(1.75)))))
                .encodings(new MigrationReport.Encodings(Map.of("raw", 16_384L), Map.of("raw", 67_108_864L), 0, 0))
                .verification(new MigrationReport.Check(Verification.VERIFIED, 0, ms(20)))
                .postcopy(new PostcopyStats(120, 118, 16_266, 2, ms(0.125), ms(1.5), List.of(ms(40.5), ms(3)), 1))
                .build();

        Map<String, Object> m = printed(ReportJson.toMap(report));

        assertEquals(concat(concat(REPORT_KEYS, POSTCOPY_KEYS), List.of("forced", "policyActions",
                "throughputBytesPerSecond")), keys(m));
        assertEquals("postcopy", m.get("strategy"));
        assertEquals(0, number(m.get("rounds")));
        assertEquals(List.of(), m.get("roundsDetail"));
        assertEquals(2.5, number(m.get("downtimeMs")), 1e-9);
        assertEquals(Map.of("state_save", 0.25, "state_send", 0.5, "resume_wait", 1.75), m.get("switchoverStepsMs"));
        assertEquals(120, number(m.get("demandFaults")));
        assertEquals(118, number(m.get("pagesPulled")));
        assertEquals(16_266, number(m.get("pagesPushed")));
        assertEquals(2, number(m.get("requestRaces")));
        assertEquals(0.125, number(m.get("faultLatencyP50Ms")), 1e-9);
        assertEquals(1.5, number(m.get("faultLatencyP99Ms")), 1e-9);
        assertEquals(List.of(40.5, 3.0), m.get("vcpuBlockedMs"), "per vCPU, in ms");
        assertEquals(true, m.get("recovered"));
        assertEquals(false, m.get("forced"));
        assertEquals(List.of(), m.get("policyActions"));
    }

    @Test
    void aFailedMigrationPrintsItsReportAsFailedWithTheErrorAndWhereTheSourceVmIs() throws Exception {
        MigrationAbortedException error = new MigrationAbortedException("pre-copy does not converge",
                MigrationPhase.LIVE_COPY, SourceVmState.RUNNING);
        MigrationReport report = precopy().status(MigrationStatus.FAILED).failure(error.getMessage())
                .verification(MigrationReport.Check.NOT_CHECKED).build();

        Map<String, Object> m = printed(ReportJson.failed(error, report));

        assertEquals(concat(REPORT_KEYS, List.of("forced", "policyActions", "failure", "sourceState")), keys(m),
                "no throughput for a migration that did not complete");
        assertEquals("failed", m.get("status"));
        assertEquals(false, m.get("verified"));
        assertEquals("not_checked", m.get("verification"));
        assertEquals(error.getMessage(), m.get("failure"));
        assertEquals("running", m.get("sourceState"));
        assertEquals(3, number(m.get("rounds")), "what it did before it failed is kept");
        assertEquals(1500.25, number(m.get("totalTimeMs")), 1e-9);
    }

    @Test
    void aFailureWithoutAReportPrintsTheErrorAlone() throws Exception {
        MigrationAbortedException error = new MigrationAbortedException("no route to host",
                MigrationPhase.HANDSHAKE, SourceVmState.RUNNING);

        Map<String, Object> m = printed(ReportJson.failed(error, null));

        assertEquals(List.of("status", "verified", "failure", "sourceState"), keys(m));
        assertEquals("failed", m.get("status"));
        assertEquals(false, m.get("verified"));
        assertEquals(error.getMessage(), m.get("failure"));
        assertEquals("running", m.get("sourceState"));
    }

    @Test
    void theDestinationsPartHoldsItsVerificationDowntimeStepsAndBytesReceived() throws Exception {
        MigrationReport destination = MigrationReport.builder(Strategy.PRECOPY)
                .memoryBytes(MEMORY_BYTES)
                .totals(new MigrationReport.Totals(ms(1490), 70_000_000L, 3))
                .switchover(new MigrationReport.Switchover(ms(9.5), Duration.ZERO, false, List.of(
                        new SwitchoverStep(SwitchoverStep.Kind.RECEIVE, ms(7)),
                        new SwitchoverStep(SwitchoverStep.Kind.STATE_LOAD, ms(2)),
                        new SwitchoverStep(SwitchoverStep.Kind.RESUME, ms(0.5)))))
                .encodings(new MigrationReport.Encodings(Map.of("raw", 16_000L, "zero", 400L), Map.of(), 0, 0))
                .verification(new MigrationReport.Check(Verification.VERIFIED, 0, ms(25)))
                .build();

        Map<String, Object> m = printed(ReportJson.destination(destination));

        assertEquals(List.of("verification", "downtimeMs", "switchoverStepsMs", "bytesReceived", "pagesByEncoding"),
                keys(m));
        assertEquals("verified", m.get("verification"));
        assertEquals(9.5, number(m.get("downtimeMs")), 1e-9);
        assertEquals(Map.of("receive", 7.0, "state_load", 2.0, "resume", 0.5), m.get("switchoverStepsMs"));
        assertEquals(70_000_000L, number(m.get("bytesReceived")));
        assertEquals(Map.of("raw", 16_000, "zero", 400), m.get("pagesByEncoding"));
    }
}
