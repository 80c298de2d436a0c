package io.livemig.examples.cli;

import com.fasterxml.jackson.jr.ob.JSON;
import io.livemig.kvm.GuestBuilder;
import io.livemig.kvm.Kvm;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two JVMs on loopback: {@code livemig kvm receive} in one, {@code livemig kvm run --migrate-to}
 * in the other. A running KVM guest moves between them (cold, pre-copy, post-copy through
 * userfaultfd, hybrid), every page verified, and on the destination its own self-check keeps
 * passing with counters that continue the source's.
 */
class KvmTwoProcessTest {

    private static final Pattern CHECK = Pattern.compile("check ok (\\d+)");

    @ParameterizedTest
    @ValueSource(strings = {"cold", "precopy", "postcopy", "hybrid"})
    void aKvmGuestMigratesBetweenTwoProcessesAndKeepsCheckingOk(String strategy, @TempDir Path dir) throws Exception {
        Kvm.unavailableReason().ifPresent(r -> Assumptions.abort("skipped: " + r));
        GuestBuilder.unavailableReason().ifPresent(r -> Assumptions.abort("skipped: " + r));
        Path srcConsole = dir.resolve("source-console.txt");
        Path dstConsole = dir.resolve("destination-console.txt");
        // Plain TCP on loopback (--insecure): KvmTlsTest runs the same over mutual TLS.
        Process receiver = CliProcess.start(dir.resolve("receive.out"), "kvm", "receive", "--insecure", "--listen", "127.0.0.1:0",
                "--mem", "64M",
                "--console", dstConsole.toString(), "--run-after", "2500ms", "--json");
        Process sender = null;
        try {
            int port = CliProcess.awaitPort(receiver);
            sender = CliProcess.start(dir.resolve("run.out"), "kvm", "run", "--mem", "64M", "--dirty-rate", "20M",
                    "--console", srcConsole.toString(), "--migrate-to", "127.0.0.1:" + port, "--after", "1500ms",
                    "--strategy", strategy, "--downtime", "50ms", "--json");
            assertTrue(sender.waitFor(60, TimeUnit.SECONDS), "the source did not finish");
            assertTrue(receiver.waitFor(60, TimeUnit.SECONDS), "the destination did not finish");
            Map<String, Object> source = JSON.std.mapFrom(Files.readString(dir.resolve("run.out")));
            Map<String, Object> destination = JSON.std.mapFrom(Files.readString(dir.resolve("receive.out")));
            assertEquals(0, sender.exitValue(), "source: " + source);
            assertEquals(0, receiver.exitValue(), "destination: " + destination);
            assertEquals(true, source.get("verified"), source.toString());
            assertEquals(true, destination.get("verified"), destination.toString());
            if (strategy.equals("precopy") || strategy.equals("hybrid")) {
                assertTrue(((Number) source.get("rounds")).intValue() > 1, source.toString());
            }
            if (strategy.equals("postcopy")) {
                assertTrue(((Number) source.get("pagesPushed")).longValue() > 0, source.toString());
            }
            assertEquals(true, destination.get("guestProgressAfterResume"), destination.toString());
            assertEquals(false, destination.get("selfCheckFailed"), destination.toString());
            String before = Files.readString(srcConsole);
            String after = Files.readString(dstConsole);
            assertFalse(before.contains("FAILED") || after.contains("FAILED"), before + "\n---\n" + after);
            int lastBefore = lastCheck(before);
            List<Integer> checksAfter = checks(after);
            assertFalse(checksAfter.isEmpty(), "no self-check ran on the destination: " + after);
            assertEquals(lastBefore + 1, checksAfter.get(0), "the guest's check counter did not continue");
        } finally {
            receiver.destroyForcibly();
            if (sender != null) {
                sender.destroyForcibly();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"precopy", "postcopy"})
    void aKvmGuestWritingItsDiskMigratesBetweenTwoProcessesWithTheDiskVerifiedAndItsDiskCheckPassing(String strategy,
            @TempDir Path dir) throws Exception {
        Kvm.unavailableReason().ifPresent(r -> Assumptions.abort("skipped: " + r));
        GuestBuilder.unavailableReason().ifPresent(r -> Assumptions.abort("skipped: " + r));
        Path dstConsole = dir.resolve("destination-console.txt");
        // The guest reads its whole disk every 2 s of its time. Its first check after the resume
        // shares the two CPUs with both sides' verification (a digest of every block) and took
        // more than 2 s in one run of three here: 7 s leave room for the next check too.
        Process receiver = CliProcess.start(dir.resolve("receive.out"), "kvm", "receive", "--insecure", "--listen",
                "127.0.0.1:0", "--mem", "64M", "--disk", dir.resolve("dest.img").toString(),
                "--console", dstConsole.toString(), "--run-after", "7s", "--json");
        Process sender = null;
        try {
            int port = CliProcess.awaitPort(receiver);
            // A 1 GiB disk, written at 20 MB/s in random 4 KiB blocks and read back whole at each check.
            sender = CliProcess.start(dir.resolve("run.out"), "kvm", "run", "--mem", "64M", "--dirty-rate", "1M",
                    "--disk", dir.resolve("src.img").toString(), "--disk-size", "1G", "--disk-rate", "20M",
                    "--migrate-to", "127.0.0.1:" + port, "--after", "1500ms", "--strategy", strategy, "--json");
            assertTrue(sender.waitFor(90, TimeUnit.SECONDS), "the source did not finish");
            assertTrue(receiver.waitFor(90, TimeUnit.SECONDS), "the destination did not finish");
            Map<String, Object> source = JSON.std.mapFrom(Files.readString(dir.resolve("run.out")));
            Map<String, Object> destination = JSON.std.mapFrom(Files.readString(dir.resolve("receive.out")));
            assertEquals(0, sender.exitValue(), "source: " + source);
            assertEquals(0, receiver.exitValue(), "destination: " + destination);
            // Verified: every page, and a digest of every one of the disk's 262 144 blocks, equal at the resume.
            assertEquals(true, source.get("verified"), source.toString());
            assertEquals(262_144, ((Number) source.get("checkedBlocks")).intValue(), source.toString());
            assertEquals(0, ((Number) source.get("mismatchedBlocks")).intValue(), source.toString());
            @SuppressWarnings("unchecked")
            Map<String, Object> disk = ((List<Map<String, Object>>) source.get("disks")).get(0);
            assertTrue(((Number) disk.get("blocksSent")).longValue() > 0, disk.toString());
            assertEquals(false, destination.get("selfCheckFailed"), destination.toString());
            String after = Files.readString(dstConsole);
            assertFalse(after.contains("FAILED"), after);
            assertTrue(String.valueOf(destination.get("lastDiskCheck")).startsWith("disk ok"),
                    "the guest's whole-disk check passed at the destination: " + destination);
        } finally {
            receiver.destroyForcibly();
            if (sender != null) {
                sender.destroyForcibly();
            }
        }
    }

    private static List<Integer> checks(String console) {
        List<Integer> n = new ArrayList<>();
        Matcher m = CHECK.matcher(console);
        while (m.find()) {
            n.add(Integer.parseInt(m.group(1)));
        }
        return n;
    }

    private static int lastCheck(String console) {
        List<Integer> n = checks(console);
        return n.isEmpty() ? 0 : n.get(n.size() - 1);
    }
}
