package io.livemig.examples.cli;

import com.fasterxml.jackson.jr.ob.JSON;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoCommandTest {

    private static String runCapturing(String... args) throws Exception {
        PrintStream original = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, Livemig.run(args));
        } finally {
            System.setOut(original);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void jsonModePrintsExactlyOneVerifiedReportOverTcp() throws Exception {
        String out = runCapturing("demo", "--strategy", "cold", "--mem", "32M", "--workload", "random",
                "--dirty-rate", "5M", "--json");
        Map<String, Object> report = JSON.std.mapFrom(out);
        assertEquals(true, report.get("verified"));
        assertEquals("completed", report.get("status"));
        assertEquals(32 << 20, ((Number) report.get("memoryBytes")).intValue());
        assertTrue(((Number) report.get("bytesOnWire")).longValue() > 0);
        assertEquals(1, ((Number) report.get("rounds")).intValue());
        assertTrue(report.containsKey("pagesByEncoding") && report.containsKey("downtimeMs")
                && report.containsKey("totalTimeMs"));
    }

    @Test
    void theDemoRehearsesItsMigrationBeforeTheRealOneAndCountsTheRehearsalsThatCompleted() throws Exception {
        // Two data connections: a rehearsal dials them to its own listener as the real one does.
        Map<String, Object> report = JSON.std.mapFrom(runCapturing("demo", "--strategy", "cold", "--mem", "32M",
                "--streams", "2", "--rehearsals", "2", "--json"));
        assertEquals(true, report.get("verified"));
        assertEquals(2, ((Number) report.get("rehearsals")).intValue(), report.toString());
        Map<String, Object> none = JSON.std.mapFrom(runCapturing("demo", "--strategy", "cold", "--mem", "16M",
                "--rehearsals", "0", "--json"));
        assertEquals(0, ((Number) none.get("rehearsals")).intValue(), none.toString());
        assertEquals(2, Livemig.run("demo", "--mem", "16M", "--rehearsals", "-1"));
    }

    @Test
    void theInMemoryTransportWorksToo() throws Exception {
        Map<String, Object> report = JSON.std.mapFrom(runCapturing("demo", "--mem", "16M", "--transport", "memory",
                "--link-bandwidth", "1G", "--json"));
        assertEquals(true, report.get("verified"));
    }

    @Test
    void theTlsTransportMigratesOverMutualTlsWithThrowawayCertificatesAndASecret() throws Exception {
        Map<String, Object> report = JSON.std.mapFrom(runCapturing("demo", "--strategy", "cold", "--mem", "32M",
                "--transport", "tls", "--secret-random", "--json"));
        assertEquals(true, report.get("verified"));
        assertEquals("tls", report.get("transport"));
    }

    @Test
    void tlsFlagsThatCannotBeUsedAreAUsageErrorWithOneJsonObject() throws Exception {
        assertRefused("the --tls-* flags need --transport tls", "demo", "--mem", "16M", "--tls-cert", "a.pem",
                "--tls-key", "a.key", "--tls-ca", "ca.pem", "--json");
        assertRefused("give --tls-cert, --tls-key and --tls-ca together", "demo", "--mem", "16M", "--transport", "tls",
                "--tls-ca", "ca.pem", "--json");
        assertRefused("exclude each other", "demo", "--mem", "16M", "--secret-random", "--secret-file", "s.hex",
                "--json");
    }

    /** Runs a command that must refuse to start: exit 2, and one JSON object that says why. */
    static void assertRefused(String why, String... args) throws Exception {
        PrintStream original = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        int exit;
        try {
            exit = Livemig.run(args);
        } finally {
            System.setOut(original);
        }
        assertEquals(2, exit, out.toString(StandardCharsets.UTF_8));
        Map<String, Object> refused = JSON.std.mapFrom(out.toString(StandardCharsets.UTF_8));
        assertEquals("refused", refused.get("status"));
        assertTrue(String.valueOf(refused.get("failure")).contains(why), refused.toString());
    }

    @Test
    void sizesAndDurationsTakeSuffixes() {
        assertEquals(1L << 30, SizeArg.parse("1G").bytes());
        assertEquals(30, Durations.parse("30ms").toMillis());
        assertEquals(2000, Durations.parse("2s").toMillis());
        assertEquals(2, Livemig.run("demo", "--mem", "lots"));
    }
}
