package io.livemig.examples.cli;

import io.livemig.kvm.GuestBuilder;
import io.livemig.kvm.Kvm;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code livemig aot-training} (hidden): makes the JDK's AOT cache (JEP 483, 514, 515) that
 * {@code ./livemig} starts with. The build runs it once after packaging. It starts a second JVM,
 * with the launcher's flags and {@code -XX:AOTCacheOutput}, that runs the training workload
 * ({@code --workload}): real migrations over TCP loopback, both sides in that process, so that
 * the cache holds the classes they load and link and the profiles of the methods they run. That
 * is {@code demo} cold and pre-copy on a small VM and, where {@code /dev/kvm} and the guest's
 * assembler work, a small KVM guest from {@code kvm run --migrate-to} to {@code kvm receive};
 * without them that part is skipped.
 *
 * <p>Once the JVM has written the cache, it is moved to {@code --cache} and then {@code --stamp}
 * is written: the jar's size and modification time and the JDK's runtime version, as
 * {@code ./livemig} describes them before it uses the cache. The JVM's own check of a cache
 * against its jar is not enough: a rebuilt jar of the same size was seen to load stale classes
 * from the cache. The stamp is deleted first and written last, so it never pairs a jar with a
 * cache made for another, nor with one still being written.
 */
@Command(name = "aot-training", hidden = true,
        description = "Make the JDK's AOT cache for this jar from a training run (run by the build).")
final class AotTraining implements Callable<Integer> {

    /** The JVM flags of {@code ./livemig}: a cache is made for, and used with, the same flags. */
    static final List<String> LAUNCHER_FLAGS = List.of("-XX:+UseParallelGC", "-XX:MaxDirectMemorySize=64g");
    /** The guest RAM of every training migration: small, so that the build stays fast. */
    private static final String TRAINING_MEMORY = "64M";

    @Option(names = "--cache", description = "where to put the AOT cache")
    Path cache;

    @Option(names = "--stamp", description = "where to write what the cache was made for")
    Path stamp;

    @Option(names = "--workload", description = "run the training workload in this JVM (what the cache is made from)")
    boolean workload;

    @Option(names = "--no-kvm", description = "leave the KVM migration out even where /dev/kvm works")
    boolean noKvm;

    @Override
    public Integer call() throws Exception {
        if (workload) {
            return trainingWorkload();
        }
        if (cache == null || stamp == null) {
            System.err.println("livemig aot-training: give --cache and --stamp (or --workload)");
            return 2;
        }
        Files.deleteIfExists(stamp);
        Path jar = runningJar();
        String before = describe(jar);
        Path dir = cache.toAbsolutePath().getParent();
        Path made = Files.createTempFile(dir, "livemig-", ".aot.tmp");
        try {
            Files.delete(made); // the JVM writes it
            List<String> command = new ArrayList<>();
            command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            command.addAll(LAUNCHER_FLAGS);
            command.add("-XX:AOTCacheOutput=" + made);
            command.addAll(List.of("-jar", jar.toString(), "aot-training", "--workload"));
            if (noKvm) {
                command.add("--no-kvm");
            }
            int code = new ProcessBuilder(command).inheritIO().start().waitFor();
            if (code != 0 || !Files.isRegularFile(made) || Files.size(made) == 0) {
                System.err.println("livemig aot-training: the training JVM exited with " + code
                        + (Files.isRegularFile(made) ? "" : " and wrote no cache"));
                return 1;
            }
            if (!describe(jar).equals(before)) {
                System.err.println("livemig aot-training: " + jar + " changed during the training; no cache");
                return 1;
            }
            Files.move(made, cache, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            Path stampMade = dir.resolve(stamp.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
            Files.writeString(stampMade, before + "\n");
            Files.move(stampMade, stamp, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return 0;
        } finally {
            Files.deleteIfExists(made);
        }
    }

    /** Runs the migrations the cache is trained on, in this JVM. */
    private int trainingWorkload() throws IOException, InterruptedException {
        for (String strategy : new String[] {"cold", "precopy"}) {
            int code = Livemig.run("demo", "--strategy", strategy, "--mem", TRAINING_MEMORY, "--workload", "random",
                    "--dirty-rate", "cold".equals(strategy) ? "0" : "20M", "--json");
            if (code != 0) {
                System.err.println("livemig aot-training: demo --strategy " + strategy + " failed (exit " + code + ")");
                return 1;
            }
        }
        Optional<String> noKvmReason = noKvm ? Optional.of("--no-kvm") : Kvm.unavailableReason()
                .or(GuestBuilder::unavailableReason);
        if (noKvmReason.isPresent()) {
            System.err.println("livemig aot-training: no KVM migration in the training: " + noKvmReason.get());
        } else if (!kvmMigration()) {
            // The cache is still good for everything the demo runs; KVM classes load as they would without it.
            System.err.println("livemig aot-training: the KVM migration did not complete; the cache covers the demo");
        }
        return 0;
    }

    /** {@code kvm receive} on a thread, {@code kvm run --migrate-to} it here, as two hosts would run them. */
    private static boolean kvmMigration() throws IOException, InterruptedException {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        String address = "127.0.0.1:" + port;
        AtomicInteger received = new AtomicInteger(-1);
        Thread receiver = Thread.ofPlatform().name("livemig-training-receive").start(() -> received.set(
                Livemig.run("kvm", "receive", "--insecure", "--listen", address, "--mem", TRAINING_MEMORY,
                        "--run-after", "200ms", "--accept-timeout", "30s", "--json")));
        int sent = Livemig.run("kvm", "run", "--mem", TRAINING_MEMORY, "--dirty-rate", "1M", "--working-set", "4M",
                "--migrate-to", address, "--after", "300ms", "--strategy", "precopy", "--json");
        receiver.join(60_000);
        // The receiver's exit code also says whether the guest made progress in its 200 ms there,
        // which a guest that reports every half second need not: the migration is what trains.
        return sent == 0 && received.get() >= 0;
    }

    private static Path runningJar() throws URISyntaxException {
        Path jar = Path.of(AotTraining.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("aot-training runs from the livemig jar, not from " + jar);
        }
        return jar;
    }

    /**
     * @return the jar's size in bytes, its modification time as seconds since the epoch with nine
     *         decimals, and this JDK's runtime version: the text {@code ./livemig} builds with
     *         {@code stat -c '%s %.9Y'} and the JDK's {@code release} file
     */
    static String describe(Path jar) throws IOException {
        Instant modified = Files.getLastModifiedTime(jar).toInstant();
        return String.format(Locale.ROOT, "%d %d.%09d %s", Files.size(jar), modified.getEpochSecond(),
                modified.getNano(), System.getProperty("java.runtime.version"));
    }
}
