package io.livemig.examples.cli;

import com.fasterxml.jackson.jr.ob.JSON;
import io.livemig.api.DiskCopyMode;
import io.livemig.api.EscalationStep;
import io.livemig.api.Strategy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad input gets one line (and one hint) on stderr and exit code 2, never a stack trace or the usage text. */
class CommandLineErrorsTest {

    /** What {@code livemig ARGS} printed, as a user's terminal shows it. */
    private record Run(int exit, String out, String err) {

        List<String> errLines() {
            return err.strip().lines().toList();
        }

        /** Exit 2, the error on the first line mentioning {@code expected}, then at most the hint; no stack trace. */
        Run refused(String expected) {
            assertEquals(2, exit, this::toString);
            List<String> lines = errLines();
            assertTrue(lines.size() == 1 || lines.size() == 2 && lines.get(1).startsWith("see: "), this::toString);
            assertTrue(lines.get(0).contains(expected), this::toString);
            assertFalse(err.contains("\tat ") || err.contains("Exception"), this::toString);
            return this;
        }
    }

    private static Run run(String... args) {
        InProcessCli.Captured c = InProcessCli.run(args);
        return new Run(c.exit(), c.out(), c.err());
    }

    @Test
    void anUnknownStrategyIsOneLineListingTheValidOnesAndAHint() {
        Run r = run("demo", "--strategy", "foo").refused("--strategy");
        assertTrue(r.errLines().get(0).contains("'foo' is not one of cold, precopy, postcopy, hybrid"), r.err());
        assertTrue(r.errLines().get(0).startsWith("livemig demo: "), r.err());
        assertEquals("see: livemig demo --help", r.errLines().get(1));
        assertEquals("", r.out());
    }

    @Test
    void aNegativeDowntimeIsOneLineNamingTheOption() {
        run("demo", "--downtime", "-5ms").refused("--downtime");
        run("demo", "--downtime", "0ms").refused("--downtime must be more than 0");
        run("demo", "--downtime", "soon").refused("--downtime");
    }

    @Test
    void picocliParseErrorsAreShortNotTheUsageText() {
        run("demo", "--frobnicate").refused("Unknown option");
        run("demo", "--mem").refused("--mem");
        run("demo", "--max-rounds", "many").refused("--max-rounds");
        run("demo", "--mem", "lots").refused("--mem");
        Run typo = run("demp").refused("demp");
        assertTrue(typo.errLines().get(1).contains("did you mean: demo"), typo.err());
        run("kvm", "receive", "--insecure").refused("--listen");
    }

    @Test
    void everyEnumOptionOfEveryCommandRefusesUnknownValuesInOneLine() {
        run("demo", "--workload", "busy").refused("idle, sequential, random, hotcold");
        run("demo", "--prepaging", "random").refused("linear, bubbling");
        run("demo", "--transport", "udp").refused("tcp, tls, memory");
        run("kvm", "run", "--pattern", "zigzag").refused("random, sequential");
        run("kvm", "run", "--strategy", "warp").refused("cold, precopy, postcopy, hybrid");
        run("kvm", "run", "--prepaging", "x").refused("linear, bubbling");
        run("kvm", "run", "--disk-copy-mode", "lazy").refused("background, write-blocking");
    }

    @Test
    void outOfRangeValuesAreBadInputNotAStackTrace() {
        run("demo", "--mem", "0").refused("--mem must be more than 0");
        run("demo", "--streams", "0").refused("streams");
        run("demo", "--max-rounds", "0").refused("maxRounds");
        run("demo", "--encoder-threads", "100").refused("encoderThreads");
        run("demo", "--on-stall", "panic").refused("--on-stall");
        run("demo", "--on-stall", "autoconverge:5").refused("autoconverge");
        run("demo", "--codecs", "gzip").refused("codec");
        run("demo", "--prefill", "2").refused("--prefill");
        run("demo", "--bandwidth", "-1M").refused("--bandwidth");
        // kvm run checks its options before it needs /dev/kvm.
        run("kvm", "run", "--streams", "0").refused("streams");
        run("kvm", "run", "--mem", "0").refused("--mem");
        run("kvm", "run", "--migrate-to", "nowhere").refused("--migrate-to");
        run("kvm", "receive", "--insecure", "--listen", "127.0.0.1:0", "--mem", "0").refused("--mem");
        run("kvm", "receive", "--insecure", "--listen", "here", "--mem", "64Mi").refused("--listen");
    }

    @Test
    void diskCommandsRefuseBadSizesInOneLine(@TempDir Path dir) {
        String image = dir.resolve("x.img").toString();
        run("disk", "send", "--image", image, "--to", "127.0.0.1:9", "--bandwidth", "-5M").refused("--bandwidth");
        run("disk", "receive", "--insecure", "--listen", "127.0.0.1:0", "--image", image, "--size", "0")
                .refused("--size must be more than 0");
        run("disk", "receive", "--insecure", "--listen", "127.0.0.1:0", "--image", image, "--accept-timeout", "1x")
                .refused("--accept-timeout");
    }

    @Test
    void withJsonBadInputAlsoPrintsOneRefusedObject() throws Exception {
        Run r = run("demo", "--strategy", "foo", "--json").refused("--strategy");
        Map<String, Object> m = JSON.std.mapFrom(r.out());
        assertEquals("refused", m.get("status"));
        assertTrue(String.valueOf(m.get("failure")).contains("'foo'"), m.toString());
        Map<String, Object> range = JSON.std.mapFrom(run("demo", "--streams", "0", "--json").refused("streams").out());
        assertEquals("refused", range.get("status"));
    }

    @Test
    void anUnexpectedFailureIsOneLineAndExitCodeOne() {
        CommandLine cli = Livemig.commandLine();
        StringWriter err = new StringWriter();
        cli.setErr(new PrintWriter(err, true));
        int exit = new BadInput().handleExecutionException(new IllegalStateException("KVM is not available"), cli, null);
        assertEquals(1, exit);
        assertEquals("livemig: failed: java.lang.IllegalStateException: KVM is not available", err.toString().strip());
    }

    @Test
    void enumValuesAreTakenInAnyCaseWithDashesForUnderscores() throws Exception {
        assertEquals(DiskCopyMode.WRITE_BLOCKING, BadInput.lowerCase(DiskCopyMode.class).convert("write-blocking"));
        assertEquals(DiskCopyMode.WRITE_BLOCKING, BadInput.lowerCase(DiskCopyMode.class).convert("WRITE_BLOCKING"));
        assertEquals(Strategy.POSTCOPY, BadInput.lowerCase(Strategy.class).convert("PostCopy"));
        assertThrows(CommandLine.TypeConversionException.class, () -> BadInput.lowerCase(Strategy.class).convert("x"));
    }

    @Test
    void theSummaryShowsTheDowntimeLimitTheLadderRaised() {
        Duration limit = Duration.ofMillis(300);
        EscalationStep raise = new EscalationStep.RaiseDowntime(Duration.ofMillis(150), Duration.ofMillis(500));
        limit = Escalations.downtimeAfter(limit, raise);
        assertEquals(Duration.ofMillis(450), limit);
        limit = Escalations.downtimeAfter(limit, raise);
        assertEquals(Duration.ofMillis(500), limit, "capped at the ceiling");
        assertEquals(limit, Escalations.downtimeAfter(limit, new EscalationStep.Force()));
        assertEquals("500 ms, raised from 300 ms", Escalations.describeLimit(Duration.ofMillis(300), limit));
        assertEquals("300 ms", Escalations.describeLimit(Duration.ofMillis(300), Duration.ofMillis(300)));
    }

    @Test
    void goodValuesWithTheNewSuffixesRunADemo() {
        Run r = run("demo", "--strategy", "COLD", "--mem", "16Mi", "--downtime", "1m30s", "--transport", "memory");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("limit 90000 ms"), r.out());
    }
}
