package io.livemig.examples.cli;

import com.fasterxml.jackson.jr.ob.JSON;
import io.livemig.api.DiskStats;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.PostcopyStats;
import io.livemig.api.RoundStats;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The one place that turns reports into the JSON the command line prints: times in ms (as
 * fractions), sizes in bytes, rates in bytes/s, enum values in lower case. The commands add only
 * what a report does not hold (the transport, which side printed, the guest's health).
 *
 * <p>The top-level keys are a contract: {@code bench/*.py} and {@code bench/*.sh} parse them. They
 * keep the names they had before the report was built from named parts: {@code rounds} is the
 * round count ({@code totals().roundCount()}), {@code roundsDetail} the per-round list
 * ({@code rounds()}), {@code policyActions} the escalation ladder's actions ({@code escalations()}).
 * {@code pagesByEncoding} holds pages sent only; the pages XBZRLE found unchanged are
 * {@code unchangedPages}. {@code switchoverStepsMs} maps each switchover step that happened, in
 * order, to its duration (e.g. {@code "stop_copy": 1.5}). {@code blackoutMs}, present only when
 * the source could measure it (both sides on one host), is the pause to the destination's resume.
 * Maps keyed by encoding are sorted by name.
 *
 * <p>Stateless; every method returns a new mutable map the caller may add to.
 */
final class ReportJson {

    private ReportJson() {
    }

    /**
     * @param r a report, of either side
     * @return every part of {@code r}; the post-copy keys only if it had a post-copy phase,
     *         {@code failure} only if it has one, {@code throughputBytesPerSecond} only if it completed
     */
    static Map<String, Object> toMap(MigrationReport r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("strategy", lower(r.strategy()));
        m.put("status", lower(r.status()));
        m.put("verified", r.verified());
        m.put("verification", lower(r.verification().outcome()));
        m.put("mismatchedPages", r.verification().mismatchedPages());
        if (!r.disks().isEmpty()) {
            m.put("checkedBlocks", r.verification().checkedBlocks());
            m.put("mismatchedBlocks", r.verification().mismatchedBlocks());
            m.put("disks", r.disks().stream().map(ReportJson::disk).toList());
        }
        m.put("memoryBytes", r.memoryBytes());
        m.put("totalTimeMs", millis(r.totals().totalTime()));
        m.put("verificationTimeMs", millis(r.verification().time()));
        m.put("downtimeMs", millis(r.switchover().downtime()));
        r.switchover().blackout().ifPresent(b -> m.put("blackoutMs", millis(b)));
        m.put("expectedDowntimeMs", millis(r.switchover().expectedDowntime()));
        m.put("switchoverStepsMs", steps(r.switchover()));
        m.put("bytesOnWire", r.totals().bytesOnWire());
        m.put("rounds", r.totals().roundCount());
        m.put("pagesByEncoding", new TreeMap<>(r.encodings().pagesByEncoding()));
        m.put("bytesByEncoding", new TreeMap<>(r.encodings().bytesByEncoding()));
        m.put("unchangedPages", r.encodings().unchangedPages());
        m.put("bytesSaved", r.encodings().bytesSaved());
        m.put("roundsDetail", rounds(r.rounds()));
        r.postcopy().ifPresent(p -> putPostcopy(m, p));
        r.traceReplay().ifPresent(t -> m.put("traceReplay", traceReplay(t)));
        m.put("forced", r.switchover().forced());
        m.put("policyActions", r.escalations());
        r.failure().ifPresent(f -> m.put("failure", f));
        if (r.status() == MigrationStatus.COMPLETED) {
            Duration total = r.totals().totalTime();
            m.put("throughputBytesPerSecond", total.isZero() ? 0L : (long) (r.memoryBytes() / (total.toNanos() / 1e9)));
        }
        return m;
    }

    /**
     * A migration that threw: the report its {@code Failed} event carried, if there was one, with
     * {@code status} "failed", {@code verified} false, the exception's message as {@code failure}
     * and where the source VM is now as {@code sourceState}.
     *
     * @param error  what the migration threw
     * @param report the report of its {@code Failed} event, or null if there was none (e.g. the
     *               destination side, or a failure before the migration started)
     * @return the map
     */
    static Map<String, Object> failed(MigrationException error, MigrationReport report) {
        Map<String, Object> m = report != null ? toMap(report) : new LinkedHashMap<>();
        m.put("status", "failed");
        m.put("verified", false);
        m.put("failure", error.getMessage());
        m.put("sourceState", lower(error.sourceState()));
        return m;
    }

    /**
     * For a command that stopped before any migration began (a usage error, a refused or failed
     * connection): no report exists, so only what happened.
     *
     * @param status  {@code "refused"} (the command would not start) or {@code "failed"}
     * @param failure why, in one line
     * @return the map, to which the command adds its side
     */
    static Map<String, Object> notStarted(String status, String failure) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("status", status);
        m.put("verified", false);
        m.put("failure", failure);
        return m;
    }

    /**
     * The destination's side in brief, for a command that prints it beside the source's report.
     *
     * @param d the destination's report
     * @return its verification, downtime, switchover steps, bytes received and pages by encoding
     */
    static Map<String, Object> destination(MigrationReport d) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("verification", lower(d.verification().outcome()));
        m.put("downtimeMs", millis(d.switchover().downtime()));
        m.put("switchoverStepsMs", steps(d.switchover()));
        m.put("bytesReceived", d.totals().bytesOnWire());
        m.put("pagesByEncoding", new TreeMap<>(d.encodings().pagesByEncoding()));
        if (!d.disks().isEmpty()) {
            m.put("disks", d.disks().stream().map(ReportJson::disk).toList());
        }
        return m;
    }

    /**
     * @param map what to print
     * @return {@code map} as pretty-printed JSON
     */
    static String write(Map<String, Object> map) {
        try {
            return JSON.std.with(JSON.Feature.PRETTY_PRINT_OUTPUT).asString(map);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * @param s one disk's statistics
     * @return its id, sync mode, block size, blocks sent (with content, as zeros, unchanged), bytes on
     *         the wire and blocks per round
     */
    static Map<String, Object> disk(DiskStats s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", s.diskId());
        m.put("sync", lower(s.sync()));
        m.put("blockSizeBytes", s.blockSizeBytes());
        m.put("blocksSent", s.blocksSent());
        m.put("zeroBlocksSent", s.zeroBlocksSent());
        m.put("blocksUnchanged", s.blocksUnchanged());
        m.put("bytesOnWire", s.bytesOnWire());
        m.put("blocksPerRound", s.blocksPerRound());
        return m;
    }

    private static Map<String, Object> steps(MigrationReport.Switchover switchover) {
        Map<String, Object> steps = new LinkedHashMap<>();
        for (MigrationReport.SwitchoverStep step : switchover.steps()) {
            steps.put(lower(step.kind()), millis(step.duration()));
        }
        return steps;
    }

    private static List<Map<String, Object>> rounds(List<RoundStats> detail) {
        List<Map<String, Object>> rounds = new ArrayList<>();
        for (RoundStats s : detail) {
            Map<String, Object> round = new LinkedHashMap<>();
            round.put("round", s.round());
            round.put("pagesSent", s.pagesSent());
            round.put("bytesOnWire", s.bytesOnWire());
            round.put("dirtyPages", s.dirtyPages());
            round.put("dirtyRateBytesPerSecond", s.dirtyRateBytesPerSecond());
            round.put("bandwidthBytesPerSecond", s.bandwidthBytesPerSecond());
            round.put("remainingBytes", s.remainingBytes());
            round.put("expectedDowntimeMs", millis(s.expectedDowntime()));
            round.put("throttlePercent", s.throttlePercent());
            round.put("durationMs", millis(s.duration()));
            rounds.add(round);
        }
        return rounds;
    }

    private static Map<String, Object> traceReplay(io.livemig.api.TraceReplayStats t) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("checkpointBytes", t.checkpointBytes());
        m.put("checkpointPauseMs", millis(t.checkpointPause()));
        m.put("startPosition", t.startPosition());
        m.put("finalPosition", t.finalPosition());
        m.put("segments", t.segmentLogBytes().size());
        m.put("segmentLogBytes", t.segmentLogBytes());
        m.put("logBytes", t.logBytes());
        m.put("recordingMs", millis(t.recordingTime()));
        m.put("logBytesPerSecond", t.logBytesPerSecond());
        m.put("replayMs", millis(t.replayTime()));
        m.put("replaySpeed", t.replaySpeed());
        return m;
    }

    private static void putPostcopy(Map<String, Object> m, PostcopyStats p) {
        m.put("demandFaults", p.demandFaults());
        m.put("pagesPulled", p.pagesPulled());
        m.put("pagesPushed", p.pagesPushed());
        m.put("requestRaces", p.requestRaces());
        m.put("faultLatencyP50Ms", millis(p.faultLatencyP50()));
        m.put("faultLatencyP99Ms", millis(p.faultLatencyP99()));
        m.put("vcpuBlockedMs", p.vcpuBlocked().stream().map(ReportJson::millis).toList());
        m.put("recovered", p.recovered());
    }

    private static double millis(Duration d) {
        return d.toNanos() / 1e6;
    }

    private static String lower(Enum<?> value) {
        return value.name().toLowerCase(Locale.ROOT);
    }
}
