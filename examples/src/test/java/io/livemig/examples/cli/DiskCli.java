package io.livemig.examples.cli;

import com.fasterxml.jackson.jr.ob.JSON;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code livemig disk} run in this JVM with its output captured, and the image files its tests
 * make and compare. Both ends of a sync run here on loopback: the receiver on a thread of its own.
 */
final class DiskCli {

    static final int BLOCK = 4096;
    private static final Pattern LISTENING = Pattern.compile("listening on ([0-9.]+):(\\d+)");

    private DiskCli() {
    }

    /** What one command printed, and its exit code. */
    record Result(int exit, String out, String err) {

        /** @return stdout as the one JSON object the command printed with --json */
        Map<String, Object> json() throws IOException {
            return JSON.std.mapFrom(out);
        }

        long number(String key) throws IOException {
            return ((Number) json().get(key)).longValue();
        }
    }

    /** Runs {@code livemig ARGS} here, as {@link Livemig#run} does, with stdout and stderr captured. */
    static Result run(String... args) {
        return run(new StringWriter(), args);
    }

    private static Result run(Writer err, String... args) {
        StringWriter out = new StringWriter();
        CommandLine cli = Livemig.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int exit = cli.execute(args);
        return new Result(exit, out.toString(), err.toString());
    }

    /** The outcome of one sync: both sides' results. */
    record Sync(Result source, Result destination) {
    }

    /**
     * Runs {@code disk receive --json} into {@code destination} (with {@code receiveArgs} added, and
     * {@code --insecure} unless they hold {@code --tls-cert}) on a thread, then
     * {@code disk send --json} of {@code source} to it here.
     */
    static Sync sync(Path source, Path destination, List<String> receiveArgs, String... sendArgs) throws Exception {
        List<String> receive = new ArrayList<>(List.of("disk", "receive", "--listen", "127.0.0.1:0",
                "--image", destination.toString(), "--accept-timeout", "30s", "--json"));
        if (!receiveArgs.contains("--tls-cert")) {
            receive.add("--insecure");
        }
        receive.addAll(receiveArgs);
        PortWatcher err = new PortWatcher();
        CompletableFuture<Result> receiver = new CompletableFuture<>();
        Thread.ofPlatform().name("disk-receive").start(() -> {
            try {
                receiver.complete(run(err, receive.toArray(String[]::new)));
            } catch (Throwable t) {
                receiver.completeExceptionally(t);
            }
        });
        int port = CompletableFuture.anyOf(err.port, receiver).thenApply(x -> {
            if (x instanceof Result r) {
                throw new AssertionError("the receiver exited before listening: " + r);
            }
            return (Integer) x;
        }).get(30, TimeUnit.SECONDS);
        List<String> send = new ArrayList<>(List.of("disk", "send", "--image", source.toString(), "--to",
                "127.0.0.1:" + port, "--json"));
        send.addAll(List.of(sendArgs));
        Result sent = run(send.toArray(String[]::new));
        return new Sync(sent, receiver.get(30, TimeUnit.SECONDS));
    }

    /** As {@link #sync}, and both sides must have exited with 0. */
    static Sync syncOk(Path source, Path destination, List<String> receiveArgs, String... sendArgs) throws Exception {
        Sync s = sync(source, destination, receiveArgs, sendArgs);
        assertEquals(0, s.source().exit(), "source: " + s.source());
        assertEquals(0, s.destination().exit(), "destination: " + s.destination());
        return s;
    }

    /** Collects stderr and completes {@link #port} with the port of the "listening on" line. */
    static final class PortWatcher extends Writer {
        final CompletableFuture<Integer> port = new CompletableFuture<>();
        private final StringBuilder text = new StringBuilder();

        @Override
        public synchronized void write(char[] buffer, int offset, int length) {
            text.append(buffer, offset, length);
            Matcher m = LISTENING.matcher(text);
            if (!port.isDone() && m.find()) {
                port.complete(Integer.parseInt(m.group(2)));
            }
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }

        @Override
        public synchronized String toString() {
            return text.toString();
        }
    }

    /**
     * Writes an image of {@code blocks} blocks of seeded random bytes; every block whose number
     * is a multiple of {@code zeroEvery} (if positive) is left zero.
     */
    static void writeRandomImage(Path file, long blocks, long seed, int zeroEvery) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        ByteBuffer chunk = ByteBuffer.allocateDirect(256 * BLOCK);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (long first = 0; first < blocks; first += 256) {
                int n = (int) Math.min(256, blocks - first);
                chunk.clear().limit(n * BLOCK);
                for (int k = 0; k < n; k++) {
                    boolean zero = zeroEvery > 0 && (first + k) % zeroEvery == 0;
                    for (int i = 0; i < BLOCK; i += 8) {
                        chunk.putLong(zero ? 0 : random.nextLong());
                    }
                }
                chunk.flip();
                while (chunk.hasRemaining()) {
                    channel.write(chunk, first * BLOCK + chunk.position());
                }
            }
        }
    }

    /** @return a block of seeded random bytes, never all zero */
    static ByteBuffer randomBlock(SplittableRandom random) {
        ByteBuffer b = ByteBuffer.allocate(BLOCK);
        while (b.hasRemaining()) {
            b.putLong(random.nextLong() | 1);
        }
        return b.flip();
    }

    /** @return the numbers of the blocks whose content differs between two files of the same size */
    static List<Long> differingBlocks(Path a, Path b) throws IOException {
        List<Long> differ = new ArrayList<>();
        ByteBuffer x = ByteBuffer.allocateDirect(256 * BLOCK);
        ByteBuffer y = ByteBuffer.allocateDirect(256 * BLOCK);
        try (FileChannel ca = FileChannel.open(a); FileChannel cb = FileChannel.open(b)) {
            assertEquals(ca.size(), cb.size(), "sizes of " + a + " and " + b);
            long blocks = ca.size() / BLOCK;
            for (long first = 0; first < blocks; first += 256) {
                int n = (int) Math.min(256, blocks - first);
                readFully(ca, x.clear().limit(n * BLOCK), first * BLOCK);
                readFully(cb, y.clear().limit(n * BLOCK), first * BLOCK);
                for (int k = 0; k < n; k++) {
                    x.limit((k + 1) * BLOCK).position(k * BLOCK);
                    y.limit((k + 1) * BLOCK).position(k * BLOCK);
                    if (!x.equals(y)) {
                        differ.add(first + k);
                    }
                }
            }
        }
        return differ;
    }

    /** @return block {@code block} of {@code file} as it is now */
    static ByteBuffer readBlock(Path file, long block) throws IOException {
        try (FileChannel channel = FileChannel.open(file)) {
            ByteBuffer b = ByteBuffer.allocate(BLOCK);
            readFully(channel, b, block * BLOCK);
            return b;
        }
    }

    /** Fills {@code into} from {@code position} and flips it. */
    private static void readFully(FileChannel channel, ByteBuffer into, long position) throws IOException {
        long at = position;
        while (into.hasRemaining()) {
            int n = channel.read(into, at);
            if (n < 0) {
                throw new IOException("short file at byte " + at);
            }
            at += n;
        }
        into.flip();
    }
}
