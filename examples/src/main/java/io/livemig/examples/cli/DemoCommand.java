package io.livemig.examples.cli;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationListener;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Prepaging;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.channel.Reconnector;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryProvider;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import io.livemig.kit.RedialableLink;
import io.livemig.kit.SimulatedVm;
import io.livemig.kit.Simulation;
import io.livemig.kit.VirtualTime;
import io.livemig.kit.Workload;
import io.livemig.kit.WorkloadPattern;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import io.livemig.transport.TlsChannel;
import io.livemig.transport.TlsChannelListener;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import javax.net.ssl.SSLContext;

/**
 * {@code livemig demo}: builds an in-memory VM whose guest writes into its memory, migrates it
 * to a second in-memory VM in this process over TCP loopback, mutual TLS over loopback (with
 * throwaway certificates made at start, or the {@code --tls-*} files for both ends) or an
 * in-memory shaped link, and prints the report. Progress goes to stderr, the report to stdout.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Migrate a running in-memory VM over TCP or TLS loopback and print the report.")
final class DemoCommand implements Callable<Integer> {

    enum TransportKind { tcp, tls, memory }

    @Option(names = "--strategy", defaultValue = "precopy", description = "cold, precopy (default), postcopy, hybrid")
    Strategy strategy;

    @Option(names = "--on-stall", defaultValue = "autoconverge,abort", split = ",",
            description = "escalation ladder when pre-copy does not converge, in order: raise-downtime:STEP:CEILING, "
                    + "autoconverge[:INITIAL:INCREMENT:MAX], force, abort, postcopy (default ${DEFAULT-VALUE})")
    java.util.List<String> onStall;

    @Option(names = "--max-rounds", defaultValue = "30", description = "most pre-copy rounds (default ${DEFAULT-VALUE})")
    int maxRounds;

    @Option(names = "--max-time", description = "longest total time before the ladder's terminal step, e.g. 60s")
    Duration maxTime;

    @Option(names = "--prepaging", defaultValue = "bubbling",
            description = "post-copy push order: linear or bubbling (default ${DEFAULT-VALUE})")
    Prepaging prepaging;

    @Option(names = "--free-page-hints", description = "the guest reports pages outside its working set as free; "
            + "they are skipped (self-ballooning)")
    boolean freePageHints;

    @Option(names = "--working-set", defaultValue = "0", description = "bytes the guest writes to; 0 = all RAM")
    SizeArg workingSet;

    @Option(names = "--hybrid-rounds", defaultValue = "3", description = "pre-copy rounds before post-copy in hybrid")
    int hybridRounds;

    @Option(names = "--stall-rounds", defaultValue = "3",
            description = "rounds without progress that count as a stall (default ${DEFAULT-VALUE})")
    int stallRounds;

    @Option(names = "--mem", defaultValue = "256M", description = "guest RAM, e.g. 1G (default ${DEFAULT-VALUE})")
    SizeArg memory;

    @Option(names = "--workload", defaultValue = "random",
            description = "idle, sequential, random, hotcold (default ${DEFAULT-VALUE})")
    WorkloadPattern workload;

    @Option(names = "--dirty-rate", defaultValue = "0",
            description = "guest write rate in bytes per second, e.g. 50M (default ${DEFAULT-VALUE})")
    SizeArg dirtyRate;

    @Option(names = "--bytes-per-write", defaultValue = "0",
            description = "bytes changed per guest write; 0 = whole pages (default)")
    int bytesPerWrite;

    @Option(names = "--prefill", defaultValue = "0.5",
            description = "share of pages holding random data at start, the rest zero (default ${DEFAULT-VALUE})")
    double prefill;

    @Option(names = "--downtime", defaultValue = "300ms", description = "downtime limit (default ${DEFAULT-VALUE})")
    Duration downtime;

    @Option(names = "--bandwidth", defaultValue = "0",
            description = "migration bandwidth cap in bytes per second; 0 = none (default)")
    SizeArg bandwidth;

    @Option(names = "--transport", defaultValue = "tcp",
            description = "tcp (loopback, default), tls (mutual TLS 1.3 over loopback; throwaway certificates unless "
                    + "--tls-cert/--tls-key/--tls-ca, which both ends then use) or memory")
    TransportKind transport;

    @Mixin
    SecurityOptions security;

    @Option(names = "--secret-random", description = "give both ends a fresh random migration secret")
    boolean secretRandom;

    @Option(names = "--link-bandwidth", defaultValue = "0",
            description = "simulated link rate for --transport memory, bytes per second; 0 = unlimited")
    SizeArg linkBandwidth;

    @Option(names = "--link-latency", defaultValue = "0ms", description = "simulated one-way latency for --transport memory")
    Duration linkLatency;

    @Option(names = "--codecs", defaultValue = "zero", split = ",",
            description = "page codecs: zero (always on), xbzrle, lz4, zstd, dedup (default ${DEFAULT-VALUE})")
    java.util.List<String> codecs;

    @Option(names = "--xbzrle-cache",
            description = "XBZRLE cache size (default: the guest's memory, at most 1G; the library's default is 64M)")
    SizeArg xbzrleCache;

    @Option(names = "--encoder-threads", defaultValue = "1",
            description = "threads that read and encode pages in parallel in pre-copy rounds (default ${DEFAULT-VALUE})")
    int encoderThreads;

    @Option(names = "--streams", defaultValue = "1",
            description = "connections pages travel on, 1 to 16: above 1, that many data connections beside the "
                    + "first, each with its own encoder thread (QEMU's multifd; default ${DEFAULT-VALUE})")
    int streams;

    @Option(names = "--rehearsals", defaultValue = "2", description = "small throwaway migrations inside this "
            + "process while the VM is made, before the real one, so that it runs compiled code as in a long-lived "
            + "host (0: none; not with --virtual-time; default ${DEFAULT-VALUE})")
    int rehearsals;

    @Option(names = "--warmup", defaultValue = "0ms",
            description = "let the guest run this long before migrating (virtual time with --virtual-time)")
    Duration warmup;

    @Option(names = "--virtual-time", description = "simulate: synthesized memory, a virtual clock per side and the "
            + "--link-bandwidth/--link-latency link; GiB-sized VMs on slow links run in seconds and repeat exactly")
    boolean virtualTime;

    @Option(names = "--seed", defaultValue = "1", description = "workload seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--no-verify", description = "skip the page-by-page digest comparison")
    boolean noVerify;

    @Option(names = "--json", description = "print the report as one JSON object on stdout")
    boolean json;

    @Mixin
    ProgressOptions progress;

    @Spec
    CommandSpec spec;

    /** The report of a failed migration, from its Failed event, so that --json can print it. */
    private volatile MigrationReport failedReport;

    /** The downtime limit in force: --downtime, raised by the ladder's raise-downtime steps. */
    private volatile Duration effectiveDowntime;

    /** The rehearsals before the migration ({@code --rehearsals}), set when they start; null with virtual time. */
    private Rehearsal rehearsal;

    /** The live progress on stderr (a bar on a terminal), set before the migration starts. */
    private LiveProgress display;

    @Override
    public Integer call() throws Exception {
        PrintStream out = System.out;
        PrintStream err = System.err;
        Optional<SSLContext> tlsFiles;
        Optional<io.livemig.api.MigrationSecret> secret;
        try {
            if (security.tlsRequested() && transport != TransportKind.tls) {
                throw new SecurityOptions.Invalid("the --tls-* flags need --transport tls");
            }
            tlsFiles = security.tls();
            if (secretRandom && security.secretFile != null) {
                throw new SecurityOptions.Invalid("--secret-random and --secret-file exclude each other");
            }
            secret = secretRandom ? Optional.of(io.livemig.api.MigrationSecret.random())
                    : security.secret(System.getenv());
        } catch (SecurityOptions.Invalid e) {
            return KvmCommand.usageError("livemig demo", e.getMessage(), json);
        }
        Strategy chosen = strategy;
        WorkloadPattern pattern = workload;
        BadInput.check(spec, memory.bytes() > 0, "--mem must be more than 0");
        BadInput.check(spec, downtime.isPositive(), "--downtime must be more than 0");
        BadInput.check(spec, prefill >= 0 && prefill <= 1, "--prefill must be from 0 to 1, was " + prefill);
        BadInput.check(spec, rehearsals >= 0, "--rehearsals must not be negative");
        progress.check(spec);
        effectiveDowntime = downtime;
        display = progress.display(err);
        Workload guest;
        MigrationOptions options;
        try {
            guest = new Workload(pattern, workingSet.bytes(), dirtyRate.bytes(), bytesPerWrite, seed);
            options = options(chosen, secret, err);
        } catch (IllegalArgumentException e) {
            throw BadInput.invalid(spec, "invalid options", e);
        }
        if (chosen == Strategy.TRACE_REPLAY && !virtualTime) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "the demo's in-memory VM cannot be "
                    + "recorded for trace and replay: add --virtual-time (a replayable simulated VM), or migrate a "
                    + "KVM guest with `livemig kvm run --replayable --strategy trace-replay`");
        }
        try (LiveProgress shown = display) {
            return virtualTime ? simulate(out, err, guest, options) : run(out, err, guest, options, tlsFiles);
        }
    }

    private int run(PrintStream out, PrintStream err, Workload guest, MigrationOptions options,
                    Optional<SSLContext> tlsFiles) throws Exception {
        Strategy chosen = options.strategy();
        WorkloadPattern pattern = guest.pattern();
        TlsEnds tlsEnds = null;
        CompletableFuture<Void> tlsWarmup = CompletableFuture.completedFuture(null);
        if (transport == TransportKind.tls) {
            tlsEnds = TlsEnds.of(tlsFiles, security.tlsPeerName);
            tlsWarmup = TlsChannel.warmUp(tlsEnds.destination()); // while the VM is made
        }
        // On another core while this thread fills the VM's memory: the JIT's compilation of the
        // migration's code, like TLS's, is a once-per-process cost that a long-lived host pays once.
        rehearsal = Rehearsal.inMemory(rehearsals, options, memory.bytes());
        try (InMemoryVm source = InMemoryVm.builder().memoryBytes(memory.bytes()).workload(guest).prefill(prefill)
                .freePageHints(freePageHints).build()) {
            // Without these waits they would share the two cores with the migration.
            rehearsal.await();
            tlsWarmup.join();
            source.start();
            Thread.sleep(warmup.toMillis());
            err.printf("livemig demo: %s VM, %s workload at %s/s, %s migration over %s%s%n", memory, pattern, dirtyRate,
                    chosen.name().toLowerCase(Locale.ROOT), transport,
                    rehearsal.inMemorySummary());
            Result result;
            try {
                result = switch (transport) {
                    case tcp -> overTcp(source, options);
                    case tls -> overTls(source, options, tlsEnds);
                    case memory -> overMemory(source, options);
                };
            } catch (java.io.IOException e) {
                Map<String, Object> m = ReportJson.notStarted("failed", e.getMessage());
                m.put("transport", transport.name());
                m.put("sourceState", "running");
                if (json) {
                    out.println(ReportJson.write(m));
                } else {
                    err.println("migration failed: " + e.getMessage());
                }
                return 1;
            }
            try (var target = result.received == null ? null : result.received.target()) {
                return print(out, result, options);
            }
        }
    }

    /**
     * @return the migration's options from the flags
     * @throws IllegalArgumentException if a flag's value is out of range (MigrationOptions says which)
     */
    private MigrationOptions options(Strategy chosen, Optional<io.livemig.api.MigrationSecret> secret,
                                     PrintStream err) {
        return MigrationOptions.builder()
                .strategy(chosen)
                .downtimeLimit(downtime)
                .bandwidthLimitBytesPerSecond(bandwidth.bytes())
                .verify(!noVerify)
                .maxRounds(maxRounds)
                .maxTotalTime(maxTime)
                .stallRounds(stallRounds)
                .escalation(Escalations.parse(onStall))
                .prepaging(prepaging)
                .hybridRounds(hybridRounds)
                .codecs(parseCodecs(codecs))
                .encoderThreads(encoderThreads)
                .streams(streams)
                .secret(secret.orElse(null))
                .xbzrleCacheBytes(xbzrleCache != null ? xbzrleCache.bytes()
                        : Math.max(64L << 20, Math.min(memory.bytes(), 1L << 30)))
                .progressInterval(ProgressOptions.INTERVAL)
                .listener(event -> {
                    if (event instanceof MigrationEvent.Failed f) {
                        failedReport = f.report();
                    }
                    if (event instanceof MigrationEvent.EscalationApplied applied) {
                        effectiveDowntime = Escalations.downtimeAfter(effectiveDowntime, applied.step());
                    }
                    display.onEvent(event); // first: it ends a bar before the event's line
                    if (!json && progress.eventLines()) {
                        // On a terminal the round's bar, left at its end, is the round's line.
                        boolean barShowsIt = event instanceof MigrationEvent.RoundCompleted && display.roundShown();
                        if (!barShowsIt) {
                            progress(err).onEvent(event);
                        }
                    }
                })
                .build();
    }

    private int simulate(PrintStream out, PrintStream err, Workload guest, MigrationOptions options) throws Exception {
        VirtualTime clock = new VirtualTime();
        SimulatedVm.Builder builder = SimulatedVm.builder(clock).memoryBytes(memory.bytes()).prefill(prefill)
                .workload(guest).freePageHints(freePageHints);
        if (options.strategy() == Strategy.TRACE_REPLAY) {
            builder.replayable(io.livemig.kit.RecordReplaySpec.DEFAULT);
        }
        SimulatedVm source = builder.build();
        source.start();
        clock.sleep(warmup);
        err.printf("livemig demo (virtual time): %s VM, %s workload at %s/s, %s over a %s/s link with %d ms latency%n",
                memory, guest.pattern(), dirtyRate, options.strategy().name().toLowerCase(Locale.ROOT),
                linkBandwidth.bytes() == 0 ? "unlimited" : linkBandwidth.toString(), linkLatency.toMillis());
        Simulation.Result r = Simulation.migrate(source, LinkShape.of(linkBandwidth.bytes(), linkLatency), options);
        try (SimulatedVm ignored = r.target()) {
            return print(out, new Result(r.source(), r.failure(), null, null), options);
        }
    }

    static java.util.Set<io.livemig.api.Codec> parseCodecs(java.util.List<String> names) {
        java.util.Set<io.livemig.api.Codec> set = java.util.EnumSet.noneOf(io.livemig.api.Codec.class);
        for (String name : names) {
            String n = name.trim().toLowerCase(Locale.ROOT);
            if (n.equals("zero") || n.equals("raw") || n.isEmpty()) {
                continue;
            }
            try {
                set.add(io.livemig.api.Codec.valueOf(n.toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown codec '" + name + "': use zero, xbzrle, lz4, zstd, dedup");
            }
        }
        return set;
    }

    private record Result(MigrationReport report, MigrationException error, ReceivedMigration received,
                          Exception destinationError) {
    }

    private Result overTcp(InMemoryVm source, MigrationOptions options) throws Exception {
        try (TcpChannelListener listener = TcpChannelListener.bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(30))) {
            ChannelSource accept = () -> listener.accept(Duration.ofSeconds(30));
            CompletableFuture<ReceivedMigration> destination = receiveAsync(accept, accept::open, source, options);
            ChannelSource dial = () -> TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(10),
                    Duration.ofSeconds(30));
            try (Channel channel = dial.open()) {
                return migrate(source, channel, dial::open, options, destination);
            }
        }
    }

    /**
     * The two ends' TLS: each presents its own throwaway certificate and requires the other's
     * name, or both present the {@code --tls-*} files' certificate and require
     * {@code --tls-peer-name}, if given.
     */
    private record TlsEnds(SSLContext source, String sourceExpects, SSLContext destination,
                           String destinationExpects) {

        static TlsEnds of(Optional<SSLContext> files, String peerName) throws java.io.IOException {
            if (files.isPresent()) {
                return new TlsEnds(files.get(), peerName, files.get(), peerName);
            }
            ThrowawayPki pki = ThrowawayPki.create("livemig demo CA");
            return new TlsEnds(pki.context(pki.source()), ThrowawayPki.DESTINATION_NAME,
                    pki.context(pki.destination()), ThrowawayPki.SOURCE_NAME);
        }
    }

    private Result overTls(InMemoryVm source, MigrationOptions options, TlsEnds ends) throws Exception {
        try (TlsChannelListener listener = TlsChannelListener.bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), ends.destination(),
                ends.destinationExpects(), Duration.ofSeconds(30))) {
            ChannelSource accept = () -> listener.accept(Duration.ofSeconds(30));
            CompletableFuture<ReceivedMigration> destination = receiveAsync(accept, accept::open, source, options);
            ChannelSource dial = () -> TlsChannel.connect(listener.localAddress(), ends.source(),
                    ends.sourceExpects(), Duration.ofSeconds(10), Duration.ofSeconds(30));
            try (Channel channel = dial.open()) {
                return migrate(source, channel, dial::open, options, destination);
            }
        }
    }

    private Result overMemory(InMemoryVm source, MigrationOptions options) throws Exception {
        RedialableLink link = new RedialableLink(LinkShape.of(linkBandwidth.bytes(), linkLatency),
                TimeSource.system());
        InMemoryChannel.Pair pair = link.first();
        CompletableFuture<ReceivedMigration> destination = receiveAsync(pair::destination,
                link.destinationSide(Duration.ofSeconds(30)), source, options);
        try (Channel channel = pair.source()) {
            return migrate(source, channel, link.sourceSide(), options, destination);
        }
    }

    /** Something that yields the destination's channel (accepting a connection, or an in-memory end). */
    @FunctionalInterface
    private interface ChannelSource {
        Channel open() throws java.io.IOException;
    }

    /**
     * Receives into an in-memory VM on a thread of its own, taking the source's further connections
     * ({@code --streams}, post-copy recovery) from {@code more}. The VM is made before the source
     * connects, with the source's layout, as a destination host prepares one (QEMU's
     * {@code -incoming}): allocating guest RAM is not part of the migration's time. A source that
     * announces something else gets a VM made for it.
     */
    private static CompletableFuture<ReceivedMigration> receiveAsync(ChannelSource channels, Reconnector more,
                                                                    InMemoryVm source, MigrationOptions options) {
        InMemoryProvider provider = new InMemoryProvider();
        URI uri = URI.create(InMemoryProvider.SCHEME + ":target");
        InMemoryVm prepared = provider.createTarget(uri, source.descriptor());
        return CompletableFuture.supplyAsync(() -> {
            boolean[] used = new boolean[1];
            try (Channel channel = channels.open()) {
                return LiveMigration.receive(channel, more, d -> {
                    if (d.equals(prepared.descriptor())) {
                        used[0] = true;
                        return prepared;
                    }
                    return provider.createTarget(uri, d);
                }, quiet(options));
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            } finally {
                if (!used[0]) {
                    prepared.close();
                }
            }
        }, runnable -> Thread.ofPlatform().name("livemig-demo-destination").start(runnable));
    }

    private static MigrationOptions quiet(MigrationOptions options) {
        return options.toBuilder().listener(MigrationListener.NONE).build();
    }

    /**
     * Migrates over {@code channel}; {@code more} makes the data connections of {@code --streams}
     * (and a new channel if post-copy's link breaks).
     */
    private static Result migrate(InMemoryVm source, Channel channel, Reconnector more, MigrationOptions options,
                                  CompletableFuture<ReceivedMigration> destination) throws InterruptedException {
        MigrationReport report = null;
        MigrationException error = null;
        try {
            report = LiveMigration.migrate(source, channel, more, options);
        } catch (MigrationException e) {
            error = e;
        }
        channel.close();
        try {
            return new Result(report, error, destination.get(), null);
        } catch (ExecutionException e) {
            return new Result(report, error, null, (Exception) e.getCause());
        }
    }

    /** @return the exit code, after the summary (or JSON) and the plot, if asked; a plot not written is 1 */
    private int print(PrintStream out, Result result, MigrationOptions options) {
        display.close();
        int exit = summary(out, result, options);
        MigrationReport plotted = result.error != null ? failedReport : result.report;
        if (progress.plot != null && plotted != null && !TimelinePlot.writeMigration(plotted, effectiveDowntime,
                options.bandwidthLimitBytesPerSecond(), progress.plot, "livemig demo", System.err)) {
            return 1;
        }
        return exit;
    }

    private int summary(PrintStream out, Result result, MigrationOptions options) {
        if (result.error != null) {
            if (json) {
                Map<String, Object> m = ReportJson.failed(result.error, failedReport);
                if (result.destinationError != null) {
                    m.put("destinationFailure", result.destinationError.getMessage());
                }
                out.println(ReportJson.write(m));
            } else {
                System.err.println("migration failed: " + result.error.getMessage());
            }
            if (result.destinationError != null) {
                System.err.println("destination: " + result.destinationError);
            }
            return 1;
        }
        MigrationReport r = result.report;
        if (json) {
            Map<String, Object> m = ReportJson.toMap(r);
            m.put("transport", virtualTime ? "virtual" : transport.name());
            m.put("rehearsals", rehearsal == null ? 0 : rehearsal.completed());
            if (result.received != null) {
                m.put("destination", ReportJson.destination(result.received.report()));
            }
            out.println(ReportJson.write(m));
        } else {
            out.printf("%s migration of %s: %s, %s%n", r.strategy().name().toLowerCase(Locale.ROOT),
                    new io.livemig.api.ByteSize(r.memoryBytes()), r.status().name().toLowerCase(Locale.ROOT),
                    r.verified() ? "verified page for page" : "verification: " + r.verification().outcome());
            out.printf("  migration id %s%n", r.migrationId());
            out.printf("  total time   %10.1f ms (then %.1f ms of verification)%n",
                    r.totals().totalTime().toNanos() / 1e6, r.verification().time().toNanos() / 1e6);
            out.printf("  downtime     %10.1f ms (limit %s)%s%n", r.switchover().downtime().toNanos() / 1e6,
                    Escalations.describeLimit(options.downtimeLimit(), effectiveDowntime), steps(r.switchover()));
            out.printf("  on the wire  %,14d bytes in %d round(s)%n", r.totals().bytesOnWire(),
                    r.totals().roundCount());
            out.printf("  pages        %s%s%n", r.encodings().pagesByEncoding(), r.encodings().unchangedPages() == 0
                    ? "" : String.format(", %,d dirtied but unchanged (not sent)", r.encodings().unchangedPages()));
            r.postcopy().ifPresent(p -> out.printf(
                    "  post-copy    %,d demand faults, %,d pages pulled, %,d pushed, %d races, fault latency p50 %.2f ms"
                            + " p99 %.2f ms%s%n", p.demandFaults(), p.pagesPulled(), p.pagesPushed(), p.requestRaces(),
                    p.faultLatencyP50().toNanos() / 1e6, p.faultLatencyP99().toNanos() / 1e6,
                    p.recovered() ? ", recovered " + p.recoveries() + "x" : ""));
            r.traceReplay().ifPresent(t -> out.printf(
                    "  trace/replay checkpoint %,d bytes (VM paused %.1f ms to take it), log %,d bytes in %d segments"
                            + " (%,d bytes/s), replayed at %.1fx real time%n", t.checkpointBytes(),
                    t.checkpointPause().toNanos() / 1e6, t.logBytes(), t.segmentLogBytes().size(),
                    t.logBytesPerSecond(), t.replaySpeed()));
            if (!r.escalations().isEmpty()) {
                out.printf("  policy       %s%s%n", r.escalations(), r.switchover().forced() ? " (forced)" : "");
            }
            out.printf("  throughput   %10.2f GB/s of guest memory%n",
                    r.memoryBytes() / (r.totals().totalTime().toNanos() / 1e9) / 1e9);
        }
        if (result.destinationError != null) {
            System.err.println("destination: " + result.destinationError.getMessage());
            return 1;
        }
        return !options.verify() || r.verified() ? 0 : 1;
    }

    /** @return the switchover's steps for the text report, e.g. ": stop_copy 1.2 ms, state_save 0.1 ms"; "" if none */
    private static String steps(MigrationReport.Switchover switchover) {
        if (switchover.steps().isEmpty()) {
            return "";
        }
        java.util.StringJoiner joined = new java.util.StringJoiner(", ", ": ", "");
        for (MigrationReport.SwitchoverStep step : switchover.steps()) {
            joined.add(String.format(Locale.ROOT, "%s %.1f ms", step.kind().name().toLowerCase(Locale.ROOT),
                    step.duration().toNanos() / 1e6));
        }
        return joined.toString();
    }

    private static MigrationListener progress(PrintStream err) {
        return event -> {
            switch (event) {
                case MigrationEvent.Started s -> err.printf("  handshake done with %s%n", s.peer());
                case MigrationEvent.RoundCompleted r -> err.printf(
                        "  round %d: %,d pages, %,d bytes, %d ms, %,d dirty, expected downtime %.1f ms, throttle %d%%%n",
                        r.stats().round(), r.stats().pagesSent(), r.stats().bytesOnWire(),
                        r.stats().duration().toMillis(), r.stats().dirtyPages(),
                        r.stats().expectedDowntime().toNanos() / 1e6, r.stats().throttlePercent());
                case MigrationEvent.EscalationApplied p -> err.printf("  not converging after round %d: %s%n", p.round(),
                        p.action());
                case MigrationEvent.Progress p -> { } // LiveProgress shows these
                case MigrationEvent.SwitchoverHeld h -> err.printf(
                        "  switchover held after round %d (expected downtime %.1f ms), for at most %d s%n", h.round(),
                        h.expectedDowntime().toNanos() / 1e6, h.timeout().toSeconds());
                case MigrationEvent.SwitchoverStarted s -> err.printf("  switchover: VM paused, %,d bytes to go%n",
                        s.remainingBytes());
                case MigrationEvent.PostcopyStarted p -> err.printf(
                        "  post-copy: VM runs at the destination, %,d pages to follow%n", p.missingPages());
                case MigrationEvent.LinkRecovered l -> err.printf("  link recovered (#%d): %s%n", l.recoveries(),
                        l.reason());
                case MigrationEvent.Completed c -> err.printf("  completed%n");
                case MigrationEvent.Failed f -> err.printf("  failed: %s%n", f.error().getMessage());
            }
        };
    }
}
