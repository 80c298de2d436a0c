package io.livemig.examples.cli;

import org.junit.jupiter.api.Test;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoSummaryTest {

    @Test
    void theDowntimeLineShowsTheLimitTheLadderRaisedItTo() {
        // Virtual time: a guest dirtying as fast as the link sends stalls, and the ladder raises the limit.
        InProcessCli.Captured run = InProcessCli.run("demo", "--virtual-time", "--mem", "32Mi", "--dirty-rate", "20M",
                "--link-bandwidth", "20M", "--downtime", "10ms", "--stall-rounds", "1", "--on-stall",
                "raise-downtime:100ms:150ms,force");
        int exit = run.exit();
        String summary = run.out();
        assertEquals(0, exit, summary);
        Matcher policy = Pattern.compile("downtime limit (\\d+) ms\\]").matcher(summary);
        assertTrue(policy.find(), "the ladder raised nothing: " + summary);
        assertTrue(summary.contains("(limit " + policy.group(1) + " ms, raised from 10 ms)"), summary);
    }
}
