package io.livemig.examples.cli;

import com.fasterxml.jackson.jr.ob.JSON;
import io.livemig.api.MigrationReport;
import io.livemig.api.RoundStats;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Turns reports into the JSON the command line prints: times in ms, sizes in bytes, rates in bytes/s. */
final class ReportJson {

    private ReportJson() {
    }

    static Map<String, Object> toMap(MigrationReport r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("strategy", r.strategy().name().toLowerCase(Locale.ROOT));
        m.put("status", r.status().name().toLowerCase(Locale.ROOT));
        m.put("verified", r.verified());
        m.put("verification", r.verification().name().toLowerCase(Locale.ROOT));
        m.put("mismatchedPages", r.mismatchedPages());
        m.put("memoryBytes", r.memoryBytes());
        m.put("totalTimeMs", r.totalTime().toNanos() / 1e6);
        m.put("verificationTimeMs", r.verificationTime().toNanos() / 1e6);
        m.put("downtimeMs", r.downtime().toNanos() / 1e6);
        m.put("expectedDowntimeMs", r.expectedDowntime().toNanos() / 1e6);
        m.put("bytesOnWire", r.bytesOnWire());
        m.put("rounds", r.rounds());
        m.put("pagesByEncoding", new LinkedHashMap<>(r.pagesByEncoding()));
        m.put("bytesByEncoding", new LinkedHashMap<>(r.bytesByEncoding()));
        m.put("bytesSaved", r.bytesSaved());
        List<Map<String, Object>> rounds = new ArrayList<>();
        for (RoundStats s : r.roundsDetail()) {
            Map<String, Object> round = new LinkedHashMap<>();
            round.put("round", s.round());
            round.put("pagesSent", s.pagesSent());
            round.put("bytesOnWire", s.bytesOnWire());
            round.put("dirtyPages", s.dirtyPages());
            round.put("dirtyRateBytesPerSecond", s.dirtyRateBytesPerSecond());
            round.put("bandwidthBytesPerSecond", s.bandwidthBytesPerSecond());
            round.put("remainingBytes", s.remainingBytes());
            round.put("expectedDowntimeMs", s.expectedDowntime().toNanos() / 1e6);
            round.put("throttlePercent", s.throttlePercent());
            round.put("durationMs", s.duration().toNanos() / 1e6);
            rounds.add(round);
        }
        m.put("roundsDetail", rounds);
        r.postcopyStats().ifPresent(p -> {
            m.put("demandFaults", p.demandFaults());
            m.put("pagesPulled", p.pagesPulled());
            m.put("pagesPushed", p.pagesPushed());
            m.put("requestRaces", p.requestRaces());
            m.put("faultLatencyP50Ms", p.faultLatencyP50().toNanos() / 1e6);
            m.put("faultLatencyP99Ms", p.faultLatencyP99().toNanos() / 1e6);
            m.put("vcpuBlockedMs", p.vcpuBlocked().stream().map(d -> d.toNanos() / 1e6).toList());
            m.put("recovered", p.recovered());
        });
        m.put("forced", r.forced());
        m.put("policyActions", r.policyActions());
        if (r.failure() != null) {
            m.put("failure", r.failure());
        }
        return m;
    }

    static String write(Map<String, Object> map) {
        try {
            return JSON.std.with(JSON.Feature.PRETTY_PRINT_OUTPUT).asString(map);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
