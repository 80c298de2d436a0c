package io.livemig.examples.cli;

import com.fasterxml.jackson.jr.ob.JSON;
import io.livemig.api.MigrationSecret;
import io.livemig.kvm.GuestBuilder;
import io.livemig.kvm.Kvm;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code livemig kvm receive} and {@code kvm run} over mutual TLS, two JVMs on loopback, with PEM
 * certificates this test makes: a guest migrates, each side authenticated to the other; sources
 * with no TLS or a certificate from another CA are turned away before any VM state crosses, and
 * the receiver keeps waiting for the real one (or, with nobody else, gives up cleanly). The
 * receiver refuses to listen in the clear unless told {@code --insecure}.
 */
class KvmTlsTest {

    private static final Pattern LISTENING = Pattern.compile("listening on ([0-9.]+):(\\d+)");
    private static final Pattern CHECK = Pattern.compile("check ok (\\d+)");

    private static void requireKvmAndGuest() {
        Kvm.unavailableReason().ifPresent(r -> Assumptions.abort("skipped: " + r));
        GuestBuilder.unavailableReason().ifPresent(r -> Assumptions.abort("skipped: " + r));
    }

    @Test
    void theReceiverRefusesToListenInTheClearWithoutInsecure() throws Exception {
        DemoCommandTest.assertRefused("refusing to listen without TLS", "kvm", "receive", "--listen", "127.0.0.1:0",
                "--mem", "64M", "--json");
        assertEquals(2, Livemig.run("kvm", "receive", "--listen", "127.0.0.1:0", "--mem", "64M"));
        DemoCommandTest.assertRefused("give --tls-cert, --tls-key and --tls-ca together", "kvm", "receive",
                "--listen", "127.0.0.1:0", "--mem", "64M", "--tls-cert", "x.pem", "--json");
    }

    @Test
    void aGuestMigratesOverMutualTlsAfterUntrustedAndPlainSourcesWereTurnedAway(@TempDir Path dir) throws Exception {
        requireKvmAndGuest();
        Path pem = Files.createDirectories(dir.resolve("pki"));
        ThrowawayPki.create("livemig test CA").writePem(pem, false);
        Path strangers = Files.createDirectories(dir.resolve("other-pki"));
        ThrowawayPki.create("some other CA").writePem(strangers, true);
        Path secret = Files.writeString(dir.resolve("secret.hex"), MigrationSecret.random().toHex());
        Path dstConsole = dir.resolve("destination-console.txt");
        Path srcConsole = dir.resolve("source-console.txt");
        Receiver receiver = Receiver.start(dir, "--listen", "127.0.0.1:0", "--mem", "64M", "--console",
                dstConsole.toString(), "--run-after", "2500ms", "--accept-timeout", "60s", "--json",
                "--tls-cert", pem.resolve("destination.pem").toString(),
                "--tls-key", pem.resolve("destination.key").toString(),
                "--tls-ca", pem.resolve("ca.pem").toString(),
                "--tls-peer-name", ThrowawayPki.SOURCE_NAME, "--secret-file", secret.toString());
        List<Process> senders = new ArrayList<>();
        try {
            String target = "127.0.0.1:" + receiver.port;
            // A source whose certificate another CA signed: refused during the TLS handshake.
            Map<String, Object> untrusted = runSource(dir, "untrusted", senders, null, "--migrate-to", target,
                    "--tls-cert", strangers.resolve("source.pem").toString(),
                    "--tls-key", strangers.resolve("source.key").toString(),
                    "--tls-ca", pem.resolve("ca.pem").toString());
            assertEquals("failed", untrusted.get("status"), untrusted.toString());
            assertTrue(String.valueOf(untrusted.get("failure")).contains("TLS handshake"), untrusted.toString());
            assertEquals("running", untrusted.get("guestStateHere"), untrusted.toString());
            // A source without TLS: its first frame is not a TLS record; the receiver's answer is.
            Map<String, Object> plain = runSource(dir, "plain", senders, null, "--migrate-to", target);
            assertEquals("failed", plain.get("status"), plain.toString());
            assertTrue(String.valueOf(plain.get("failure")).contains("speaks TLS"), plain.toString());
            assertEquals("running", plain.get("guestStateHere"), plain.toString());

            // The real source: its own certificate, the destination's name, the secret from the environment.
            Process sender = livemig(dir.resolve("run.out"), false, Map.of(SecurityOptions.SECRET_VARIABLE,
                    Files.readString(secret)), "kvm", "run", "--mem", "64M", "--dirty-rate", "20M", "--console",
                    srcConsole.toString(), "--migrate-to", target, "--after", "1500ms", "--strategy", "precopy",
                    "--downtime", "50ms", "--json",
                    "--tls-cert", pem.resolve("source.pem").toString(),
                    "--tls-key", pem.resolve("source.key").toString(),
                    "--tls-ca", pem.resolve("ca.pem").toString(),
                    "--tls-peer-name", ThrowawayPki.DESTINATION_NAME);
            senders.add(sender);
            assertTrue(sender.waitFor(60, TimeUnit.SECONDS), "the source did not finish");
            assertTrue(receiver.process.waitFor(60, TimeUnit.SECONDS), "the destination did not finish");
            Map<String, Object> source = JSON.std.mapFrom(Files.readString(dir.resolve("run.out")));
            Map<String, Object> destination = JSON.std.mapFrom(Files.readString(receiver.stdout));
            assertEquals(0, sender.exitValue(), "source: " + source);
            assertEquals(0, receiver.process.exitValue(), "destination: " + destination + "\n" + receiver.stderr);
            assertEquals(true, source.get("verified"), source.toString());
            assertEquals(true, destination.get("verified"), destination.toString());
            assertEquals(true, destination.get("guestProgressAfterResume"), destination.toString());
            assertEquals(false, destination.get("selfCheckFailed"), destination.toString());
            // The receiver said, for each source it turned away, why.
            assertTrue(receiver.stderr.stream().anyMatch(l -> l.contains("turned away") && (l.contains("not trusted")
                    || l.contains("presented no certificate"))), String.join("\n", receiver.stderr));
            assertTrue(receiver.stderr.stream().anyMatch(l -> l.contains("turned away")
                    && l.contains("does not speak TLS")), String.join("\n", receiver.stderr));
            String before = Files.readString(srcConsole);
            String after = Files.readString(dstConsole);
            assertFalse(before.contains("FAILED") || after.contains("FAILED"), before + "\n---\n" + after);
            List<Integer> checksAfter = checks(after);
            assertFalse(checksAfter.isEmpty(), "no self-check ran on the destination: " + after);
            // On a busy machine the guest may be moved before its first check (every second): then
            // the first check after the move is number 1, as in KvmTwoProcessTest.
            List<Integer> checksBefore = checks(before);
            int lastBefore = checksBefore.isEmpty() ? 0 : checksBefore.get(checksBefore.size() - 1);
            assertEquals(lastBefore + 1, checksAfter.get(0), "the guest's check counter did not continue");
        } finally {
            receiver.process.destroyForcibly();
            senders.forEach(Process::destroyForcibly);
        }
    }

    @Test
    void aReceiverThatOnlyMeetsAnUntrustedSourceGivesUpCleanlyWithoutReceivingAnything(@TempDir Path dir)
            throws Exception {
        requireKvmAndGuest();
        Path pem = Files.createDirectories(dir.resolve("pki"));
        ThrowawayPki.create("livemig test CA").writePem(pem, false);
        Path strangers = Files.createDirectories(dir.resolve("other-pki"));
        ThrowawayPki.create("some other CA").writePem(strangers, false);
        Receiver receiver = Receiver.start(dir, "--listen", "127.0.0.1:0", "--mem", "64M", "--accept-timeout", "8s",
                "--json", "--tls-cert", pem.resolve("destination.pem").toString(),
                "--tls-key", pem.resolve("destination.key").toString(), "--tls-ca", pem.resolve("ca.pem").toString());
        List<Process> senders = new ArrayList<>();
        try {
            Map<String, Object> untrusted = runSource(dir, "untrusted", senders, null,
                    "--migrate-to", "127.0.0.1:" + receiver.port,
                    "--tls-cert", strangers.resolve("source.pem").toString(),
                    "--tls-key", strangers.resolve("source.key").toString(),
                    "--tls-ca", pem.resolve("ca.pem").toString());
            assertEquals("failed", untrusted.get("status"), untrusted.toString());
            assertTrue(receiver.process.waitFor(30, TimeUnit.SECONDS), "the destination did not give up");
            Map<String, Object> destination = JSON.std.mapFrom(Files.readString(receiver.stdout));
            assertEquals(1, receiver.process.exitValue(), destination.toString());
            assertEquals("failed", destination.get("status"), destination.toString());
            assertTrue(String.valueOf(destination.get("failure")).contains("no authenticated"), destination.toString());
            assertEquals(0, ((Number) destination.getOrDefault("bytesOnWire", 0)).longValue(),
                    "nothing was received: " + destination);
        } finally {
            receiver.process.destroyForcibly();
            senders.forEach(Process::destroyForcibly);
        }
    }

    /** Runs a source that should fail quickly, and returns its one JSON object. */
    private static Map<String, Object> runSource(Path dir, String name, List<Process> started,
                                                 Map<String, String> environment, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("kvm", "run", "--mem", "64M", "--dirty-rate", "5M",
                "--after", "200ms", "--json"));
        command.addAll(List.of(args));
        Path out = dir.resolve(name + ".out");
        Process p = livemig(out, false, environment == null ? Map.of() : environment, command.toArray(new String[0]));
        started.add(p);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), name + " source did not finish");
        Map<String, Object> report = JSON.std.mapFrom(Files.readString(out));
        assertEquals(1, p.exitValue(), name + ": " + report);
        return report;
    }

    /** A {@code kvm receive} process whose stderr is kept, line by line. */
    private record Receiver(Process process, Path stdout, int port, List<String> stderr) {

        static Receiver start(Path dir, String... args) throws Exception {
            List<String> command = new ArrayList<>(List.of("kvm", "receive"));
            command.addAll(List.of(args));
            Path stdout = dir.resolve("receive.out");
            Process process = livemig(stdout, true, Map.of(), command.toArray(new String[0]));
            List<String> lines = new CopyOnWriteArrayList<>();
            CompletableFuture<Integer> port = new CompletableFuture<>();
            Thread.ofPlatform().daemon().start(() -> {
                try (BufferedReader err = new BufferedReader(new InputStreamReader(process.getErrorStream(),
                        StandardCharsets.UTF_8))) {
                    for (String line; (line = err.readLine()) != null; ) {
                        lines.add(line);
                        Matcher m = LISTENING.matcher(line);
                        if (m.find()) {
                            port.complete(Integer.parseInt(m.group(2)));
                        }
                    }
                } catch (java.io.IOException ignored) {
                    // the process ended
                }
                port.completeExceptionally(new AssertionError("the receiver never listened: " + lines));
            });
            return new Receiver(process, stdout, port.get(60, TimeUnit.SECONDS), lines);
        }
    }

    /** Starts the command line in a JVM of its own; its stderr is discarded unless {@code keepStderr}. */
    private static Process livemig(Path stdout, boolean keepStderr, Map<String, String> environment, String... args)
            throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Livemig.class.getName()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(stdout.toFile());
        builder.environment().remove(SecurityOptions.SECRET_VARIABLE);
        builder.environment().putAll(environment);
        if (!keepStderr) {
            builder.redirectError(ProcessBuilder.Redirect.DISCARD);
        }
        return builder.start();
    }

    private static List<Integer> checks(String console) {
        List<Integer> n = new ArrayList<>();
        Matcher m = CHECK.matcher(console);
        while (m.find()) {
            n.add(Integer.parseInt(m.group(1)));
        }
        return n;
    }
}
