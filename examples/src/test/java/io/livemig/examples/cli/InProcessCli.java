package io.livemig.examples.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * Runs the command line in this JVM ({@link Livemig#run}) and captures what it printed, for tests
 * that need no separate process. Swaps {@code System.out} and {@code System.err} for the call, so
 * such tests must not run concurrently with others that print.
 */
final class InProcessCli {

    /**
     * What {@code livemig ARGS} did.
     *
     * @param exit its exit code
     * @param out  what it printed on standard output
     * @param err  what it printed on standard error
     */
    record Captured(int exit, String out, String err) {
    }

    private InProcessCli() {
    }

    /** @return what {@code livemig args} did */
    static Captured run(String... args) {
        PrintStream originalOut = System.out;
        PrintStream originalErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int exit;
        try {
            exit = Livemig.run(args);
        } finally {
            System.setOut(originalOut);
            System.setErr(originalErr);
        }
        return new Captured(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
