package io.livemig.examples.cli;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The {@code livemig} command line in a JVM of its own, for the tests that need a real process (kill it, two of them). */
final class CliProcess {

    private static final Pattern LISTENING = Pattern.compile("listening on ([0-9.]+):(\\d+)");

    private CliProcess() {
    }

    /**
     * Starts {@code livemig args...} with this JVM's java and class path, native access enabled.
     *
     * @param stdout where its standard output goes
     * @return the process; its stderr is left to the caller (see {@link #awaitPort})
     */
    static Process start(Path stdout, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Livemig.class.getName()));
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectOutput(stdout.toFile()).start();
    }

    /** Reads a receiver's stderr until it says where it listens; leaves a thread draining the rest. */
    static int awaitPort(Process receiver) throws Exception {
        BufferedReader err = new BufferedReader(new InputStreamReader(receiver.getErrorStream(), StandardCharsets.UTF_8));
        StringBuilder seen = new StringBuilder();
        for (String line; (line = err.readLine()) != null; ) {
            seen.append(line).append('\n');
            Matcher m = LISTENING.matcher(line);
            if (m.find()) {
                Thread.ofPlatform().daemon().start(() -> err.lines().forEach(l -> { }));
                return Integer.parseInt(m.group(2));
            }
        }
        throw new AssertionError("the receiver never listened: " + seen);
    }
}
