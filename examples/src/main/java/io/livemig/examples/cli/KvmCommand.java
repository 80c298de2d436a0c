package io.livemig.examples.cli;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationSecret;
import io.livemig.api.Strategy;
import io.livemig.channel.Channel;
import io.livemig.channel.ChannelListener;
import io.livemig.disk.RawImage;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kvm.DirtierParams;
import io.livemig.kvm.GuestBuilder;
import io.livemig.kvm.Kvm;
import io.livemig.kvm.KvmGuest;
import io.livemig.kvm.KvmProvider;
import io.livemig.kvm.MicroVmm;
import io.livemig.kvm.VirtioBlk;
import io.livemig.spi.VmDescriptor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import javax.net.ssl.SSLContext;

/** {@code livemig kvm}: real KVM guests in livemig's micro-VMM, migrated between two processes. */
@Command(name = "kvm", mixinStandardHelpOptions = true,
        description = "Run a KVM guest in livemig's micro-VMM, and migrate it to another livemig process.",
        subcommands = {KvmCommand.Run.class, KvmCommand.Receive.class, KvmCommand.Guest.class})
final class KvmCommand {

    /** The dirtier guest's write order ({@code --pattern}). */
    enum DirtierPattern { random, sequential }

    private KvmCommand() {
    }

    /** @throws IllegalArgumentException if {@code hostPort} is not HOST:PORT with a port 0 to 65535 */
    static InetSocketAddress address(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        int port = -1;
        try {
            port = colon < 0 ? -1 : Integer.parseInt(hostPort.substring(colon + 1));
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("expected HOST:PORT, got '" + hostPort + "'");
        }
        return new InetSocketAddress(hostPort.substring(0, colon), port);
    }

    static OutputStream console(Path file) throws java.io.IOException {
        return file == null ? null : Files.newOutputStream(file, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
    }

    /**
     * Refuses to start: one line on stderr and, with {@code --json}, one JSON object on stdout.
     *
     * @return 2, the exit code of a usage error
     */
    static int usageError(String command, String message, boolean json) {
        System.err.println(command + ": " + message);
        if (json) {
            System.out.println(ReportJson.write(ReportJson.notStarted("refused", message)));
        }
        return 2;
    }

    static void requireKvm() {
        Kvm.unavailableReason().ifPresent(reason -> {
            throw new IllegalStateException(reason);
        });
    }

    /** The guest's view after resume: did it make progress, did its self-check hold. */
    static Map<String, Object> guestHealth(MicroVmm vmm, long consoleAtResume) {
        Map<String, Object> m = new LinkedHashMap<>();
        String tail = vmm.consoleTail();
        m.put("guestState", vmm.state().name().toLowerCase(Locale.ROOT));
        m.put("consoleBytesAfterResume", vmm.consoleBytes() - consoleAtResume);
        m.put("guestProgressAfterResume", vmm.consoleBytes() > consoleAtResume);
        m.put("selfCheckFailed", tail.contains("FAILED"));
        int ok = tail.lastIndexOf("check ok ");
        if (ok >= 0) {
            int end = tail.indexOf('\n', ok);
            m.put("lastSelfCheck", tail.substring(ok, end < 0 ? tail.length() : end));
        }
        int diskOk = tail.lastIndexOf("disk ok ");
        if (diskOk >= 0) {
            int end = tail.indexOf('\n', diskOk);
            m.put("lastDiskCheck", tail.substring(diskOk, end < 0 ? tail.length() : end));
        }
        if (vmm.stopReason() != null) {
            m.put("guestStopReason", vmm.stopReason());
        }
        return m;
    }

    /** {@code livemig kvm run}: boots a guest; optionally migrates it after a while. */
    @Command(name = "run", mixinStandardHelpOptions = true,
            description = "Boot a Multiboot guest under KVM; with --migrate-to, migrate it to a 'livemig kvm receive'.")
    static final class Run implements Callable<Integer> {

        @Option(names = "--guest", defaultValue = "dirtier",
                description = "a Multiboot kernel file, or 'dirtier' for the built-in self-checking guest "
                        + "(default ${DEFAULT-VALUE})")
        String guest;

        @Option(names = "--mem", defaultValue = "256M",
                description = "guest RAM, up to 3G below the MMIO hole and the rest from 4G; allocated as the guest "
                        + "writes it (default ${DEFAULT-VALUE})")
        SizeArg memory;

        @Option(names = "--console", description = "write the guest's console (port 0xE9) to this file")
        Path console;

        @Option(names = "--dirty-rate", defaultValue = "50M",
                description = "dirtier: bytes written per second, 0 for unpaced (default ${DEFAULT-VALUE})")
        SizeArg dirtyRate;

        @Option(names = "--bytes-per-write", defaultValue = "4096",
                description = "dirtier: bytes per write, 8 to 4096 (default ${DEFAULT-VALUE})")
        int bytesPerWrite;

        @Option(names = "--working-set", description = "dirtier: bytes of RAM it writes, from the base (default: the rest)")
        SizeArg workingSet;

        @Option(names = "--working-set-base",
                description = "dirtier: where the working set starts, counted in RAM without the hole (3G is 4G's "
                        + "address), from 4M (default: 4M; with --disk, just past the guest's disk bookkeeping)")
        SizeArg workingSetBase;

        @Option(names = "--disk", description = "give the guest a virtio disk: this raw image (its change log beside it, "
                + "FILE.dsync), created sparse with --disk-size; the dirtier, which checks every block against what it "
                + "wrote since boot, needs a new file")
        Path disk;

        @Option(names = "--disk-size", defaultValue = "1G",
                description = "with --disk, the size of a new image; an existing image keeps its own (default ${DEFAULT-VALUE})")
        SizeArg diskSize;

        @Option(names = "--disk-rate", defaultValue = "20M",
                description = "dirtier with --disk: bytes per second it writes to the disk in 4 KiB blocks, 0 for none; "
                        + "it reads the whole disk back at each self-check (default ${DEFAULT-VALUE})")
        SizeArg diskRate;

        @Option(names = "--disk-copy-mode", defaultValue = "background",
                description = "with --disk: background (rounds of the blocks written since, as for pages) or "
                        + "write-blocking (after the first pass each guest write is mirrored as it happens and "
                        + "completes once sent, so a disk written faster than the link converges) (default ${DEFAULT-VALUE})")
        io.livemig.api.DiskCopyMode diskCopyMode;

        @Option(names = "--pattern", defaultValue = "random",
                description = "dirtier: random or sequential (default ${DEFAULT-VALUE})")
        DirtierPattern pattern;

        @Option(names = "--replayable", description = "declare the guest replayable, for trace and replay: "
                + "the dirtier then runs its replayable mode (no RDTSC; its clock and its sleeps through "
                + "I/O ports 0xEC and 0xED, about two VM exits a ms); a kernel file must keep that promise itself")
        boolean replayable;

        @Option(names = "--migrate-to", description = "HOST:PORT of a 'livemig kvm receive'")
        String migrateTo;

        @Option(names = "--after", defaultValue = "2s", description = "run this long before migrating (default ${DEFAULT-VALUE})")
        Duration after;

        @Option(names = "--rehearsals", defaultValue = "2", description = "with --migrate-to: small throwaway "
                + "migrations inside this process while the guest runs, before the real one, so that its switchover "
                + "runs compiled code (0: none; default ${DEFAULT-VALUE})")
        int rehearsals;

        @Option(names = "--run-for", defaultValue = "5s",
                description = "without --migrate-to: run this long, then stop (default ${DEFAULT-VALUE})")
        Duration runFor;

        @Option(names = "--strategy", defaultValue = "precopy",
                description = "cold, precopy, postcopy or hybrid (default ${DEFAULT-VALUE})")
        Strategy strategy;

        @Option(names = "--hybrid-rounds", defaultValue = "3", description = "hybrid: pre-copy rounds first (default 3)")
        int hybridRounds;

        @Option(names = "--prepaging", defaultValue = "bubbling",
                description = "post-copy push order: linear or bubbling (default ${DEFAULT-VALUE})")
        io.livemig.api.Prepaging prepaging;

        @Option(names = "--downtime", defaultValue = "300ms", description = "downtime limit (default ${DEFAULT-VALUE})")
        Duration downtime;

        @Option(names = "--bandwidth", defaultValue = "0", description = "bandwidth cap in bytes/s, 0 = none")
        SizeArg bandwidth;

        @Option(names = "--postcopy-bandwidth", description = "bandwidth cap in bytes/s once the guest runs at the "
                + "destination (post-copy), 0 = none (default: --bandwidth)")
        SizeArg postcopyBandwidth;

        @Option(names = "--codecs", defaultValue = "zero", split = ",",
                description = "page codecs: zero (always on), xbzrle, lz4, zstd, dedup (default ${DEFAULT-VALUE})")
        List<String> codecs;

        @Option(names = "--encoder-threads", defaultValue = "1", description = "parallel page encoders (default 1)")
        int encoderThreads;

        @Option(names = "--streams", defaultValue = "1",
                description = "connections pages travel on, 1 to 16: above 1, that many data connections to the "
                        + "receiver beside the first, each with its own encoder thread (QEMU's multifd; default 1)")
        int streams;

        @Option(names = "--max-rounds", defaultValue = "30", description = "pre-copy round limit (default 30)")
        int maxRounds;

        @Option(names = "--on-stall", defaultValue = "autoconverge,abort", split = ",",
                description = "escalation ladder when pre-copy does not converge, in order: "
                        + "raise-downtime:STEP:CEILING, autoconverge[:INITIAL:INCREMENT:MAX], force, abort, postcopy "
                        + "(default ${DEFAULT-VALUE})")
        List<String> onStall;

        @Option(names = "--stall-rounds", defaultValue = "3",
                description = "rounds without progress before the ladder's next step (default ${DEFAULT-VALUE})")
        int stallRounds;

        @Option(names = "--json", description = "print the report as JSON")
        boolean json;

        @Mixin
        SecurityOptions security;

        @Mixin
        ProgressOptions progress;

        @Spec
        CommandSpec spec;

        /** The report of a failed migration, from its Failed event, so that --json can print it. */
        private volatile MigrationReport failedReport;

        /** The downtime limit in force: --downtime, raised by the ladder's raise-downtime steps. */
        private volatile Duration effectiveDowntime;

        /** The live progress on stderr (a bar on a terminal), set before the migration starts. */
        private LiveProgress display;

        @Override
        public Integer call() throws Exception {
            Optional<SSLContext> tls;
            Optional<MigrationSecret> secret;
            try {
                tls = security.tls();
                secret = security.secret(System.getenv());
            } catch (SecurityOptions.Invalid e) {
                return usageError("livemig kvm run", e.getMessage(), json);
            }
            PrintStream err = System.err;
            BadInput.check(spec, memory.bytes() > 0, "--mem must be more than 0");
            BadInput.check(spec, downtime.isPositive(), "--downtime must be more than 0");
            BadInput.check(spec, diskSize.bytes() > 0, "--disk-size must be more than 0");
            BadInput.check(spec, rehearsals >= 0, "--rehearsals must not be negative");
            BadInput.check(spec, bytesPerWrite >= 8 && bytesPerWrite <= 4096,
                    "--bytes-per-write must be from 8 to 4096, was " + bytesPerWrite);
            progress.check(spec);
            display = progress.display(err);
            MigrationOptions options;
            InetSocketAddress destination;
            try {
                options = options(secret.orElse(null), err);
            } catch (IllegalArgumentException e) {
                throw BadInput.invalid(spec, "invalid options", e);
            }
            try {
                destination = migrateTo == null ? null : address(migrateTo);
            } catch (IllegalArgumentException e) {
                throw BadInput.invalid(spec, "--migrate-to", e);
            }
            requireKvm();
            boolean dirtier = guest.equals("dirtier");
            if (dirtier && disk != null && Files.exists(disk)) {
                return usageError("livemig kvm run", "the dirtier checks its disk against what it wrote since boot, so "
                        + "--disk must name a new file; " + disk + " exists", json);
            }
            byte[] image = dirtier ? GuestBuilder.dirtierImage() : Files.readAllBytes(Path.of(guest));
            OutputStream consoleOut = console(console);
            RawImage diskImage;
            try {
                diskImage = disk == null ? null : RawImage.open(disk, "vda", Files.exists(disk) ? 0 : diskSize.bytes());
            } catch (java.io.IOException | RuntimeException e) {
                if (consoleOut != null) {
                    consoleOut.close();
                }
                throw e;
            }
            try (MicroVmm vmm = MicroVmm.builder().memoryBytes(memory.bytes()).console(consoleOut)
                    .disk(diskImage).replayable(replayable).build()) {
                vmm.loadMultiboot(image);
                if (dirtier) {
                    long diskBytes = diskImage == null ? 0 : diskImage.descriptor().sizeBytes();
                    long base = workingSetBase != null ? workingSetBase.bytes()
                            : diskImage == null ? 4L << 20 : DirtierParams.diskAreaEnd(diskBytes);
                    long ws = workingSet != null ? workingSet.bytes() : memory.bytes() - base;
                    DirtierParams params = new DirtierParams(base, ws, bytesPerWrite,
                            pattern == DirtierPattern.random, dirtyRate.bytes(), 500, 2000, 7)
                            .withReplayable(replayable);
                    if (diskImage != null) {
                        params = params.withDisk(new DirtierParams.Disk(VirtioBlk.MMIO_BASE, diskBytes, diskRate.bytes()));
                    }
                    params.writeTo(vmm.vm(), vmm.vcpus().get(0).tscKhz());
                }
                vmm.start();
                vmm.resume();
                Rehearsal rehearsal = Rehearsal.start(migrateTo == null ? 0 : rehearsals, options, replayable);
                err.printf("livemig kvm run: %s guest with %s of RAM%s is running%n", guest, memory,
                        diskImage == null ? "" : " and a " + new SizeArg(diskImage.descriptor().sizeBytes()) + " disk ("
                                + disk + ")");
                if (migrateTo == null) {
                    MicroVmm.RunState state = vmm.awaitStop(runFor);
                    vmm.pause();
                    Map<String, Object> m = guestHealth(vmm, 0);
                    m.put("ranMs", runFor.toMillis());
                    System.out.println(json ? ReportJson.write(m) : m.toString());
                    return state == MicroVmm.RunState.FAILED || state == MicroVmm.RunState.SHUTDOWN ? 1 : 0;
                }
                Thread.sleep(after.toMillis());
                rehearsal.await();
                if (vmm.isPaused()) {
                    throw new IllegalStateException("the guest stopped before the migration: " + vmm.stopReason());
                }
                return migrate(vmm, err, tls, destination, options);
            }
        }

        /**
         * @return the migration's options from the flags
         * @throws IllegalArgumentException if a flag's value is out of range (MigrationOptions says which)
         */
        private MigrationOptions options(MigrationSecret secret, PrintStream err) {
            effectiveDowntime = downtime;
            return MigrationOptions.builder().strategy(strategy).downtimeLimit(downtime)
                    .bandwidthLimitBytesPerSecond(bandwidth.bytes())
                    .postcopyBandwidthLimitBytesPerSecond(postcopyBandwidth != null ? postcopyBandwidth.bytes()
                            : bandwidth.bytes())
                    .codecs(DemoCommand.parseCodecs(codecs))
                    .encoderThreads(encoderThreads).streams(streams).maxRounds(maxRounds).hybridRounds(hybridRounds)
                    .escalation(Escalations.parse(onStall)).stallRounds(stallRounds)
                    .prepaging(prepaging)
                    .xbzrleCacheBytes(Math.max(64L << 20, Math.min(memory.bytes(), 1L << 30)))
                    .secret(secret)
                    .diskCopyMode(diskCopyMode)
                    .progressInterval(ProgressOptions.INTERVAL)
                    .listener(event -> {
                        if (event instanceof MigrationEvent.Failed f) {
                            failedReport = f.report();
                        }
                        if (event instanceof MigrationEvent.EscalationApplied applied) {
                            effectiveDowntime = Escalations.downtimeAfter(effectiveDowntime, applied.step());
                        }
                        display.onEvent(event); // first: it ends a bar before the event's line
                        if (!json && progress.eventLines() && event instanceof MigrationEvent.RoundCompleted r
                                && !display.roundShown()) {
                            err.printf("round %d: %d pages, %d dirty, expected downtime %d ms%n", r.stats().round(),
                                    r.stats().pagesSent(), r.stats().dirtyPages(),
                                    r.stats().expectedDowntime().toMillis());
                        }
                    }).build();
        }

        private int migrate(MicroVmm vmm, PrintStream err, Optional<SSLContext> tls, InetSocketAddress destination,
                            MigrationOptions options) throws Exception {
            KvmGuest source = new KvmGuest(vmm);
            MigrationReport report;
            if (tls.isEmpty()) {
                err.println("livemig kvm run: no --tls-* flags: migrating over plain TCP, unauthenticated and "
                        + "unencrypted");
            }
            // Post-copy recovery: connect again to the same receiver, which waits for us.
            io.livemig.channel.Reconnector reconnect = () -> Transports.connect(destination, tls,
                    security.tlsPeerName);
            Channel connected;
            try {
                connected = Transports.connect(destination, tls, security.tlsPeerName);
            } catch (java.io.IOException e) {
                Map<String, Object> m = ReportJson.notStarted("failed", e.getMessage());
                m.put("side", "source");
                m.put("sourceState", "running");
                m.put("guestStateHere", vmm.state().name().toLowerCase(Locale.ROOT));
                System.out.println(json ? ReportJson.write(m) : "migration failed: " + e.getMessage());
                return 1;
            }
            try (Channel channel = connected; LiveProgress shown = display) {
                report = LiveMigration.migrate(source, channel, reconnect, options);
            } catch (MigrationException e) {
                if (failedReport != null) {
                    plot(failedReport, options); // the failure's exit code and line come below either way
                }
                Map<String, Object> m = ReportJson.failed(e, failedReport);
                m.put("guestStateHere", vmm.state().name().toLowerCase(Locale.ROOT));
                System.out.println(json ? ReportJson.write(m) : "migration failed: " + e.getMessage());
                return 1;
            }
            if (!plot(report, options)) {
                return 1;
            }
            Map<String, Object> m = ReportJson.toMap(report);
            m.put("side", "source");
            System.out.println(json ? ReportJson.write(m) : String.format(Locale.ROOT,
                    "%s: %s, verified %s, downtime %.1f ms (limit %s), total %.0f ms, %d bytes on the wire, %d rounds, "
                            + "migration id %s",
                    report.strategy().name().toLowerCase(Locale.ROOT), report.status().name().toLowerCase(Locale.ROOT),
                    report.verified(), report.switchover().downtime().toNanos() / 1e6,
                    Escalations.describeLimit(options.downtimeLimit(), effectiveDowntime),
                    report.totals().totalTime().toNanos() / 1e6, report.totals().bytesOnWire(),
                    report.totals().roundCount(), report.migrationId()));
            return report.verified() ? 0 : 1;
        }

        /** @return whether the timeline was written to {@code --plot}'s file, if asked; if not, says why on stderr */
        private boolean plot(MigrationReport r, MigrationOptions options) {
            return progress.plot == null || TimelinePlot.writeMigration(r, effectiveDowntime,
                    options.bandwidthLimitBytesPerSecond(), progress.plot, "livemig kvm run", System.err);
        }
    }

    /** {@code livemig kvm receive}: waits for one migration, runs the guest, reports. */
    @Command(name = "receive", mixinStandardHelpOptions = true,
            description = "Receive one migrating KVM guest, resume it here and run it for a while.")
    static final class Receive implements Callable<Integer> {

        @Option(names = "--listen", required = true, description = "HOST:PORT to listen on (port 0: any; printed)")
        String listen;

        @Option(names = "--mem", required = true, description = "guest RAM expected (the source must announce the same)")
        SizeArg memory;

        @Option(names = "--console", description = "write the guest's console (port 0xE9) to this file")
        Path console;

        @Option(names = "--disk", description = "the image the source's disk is received into (needed if the source "
                + "has one): created sparse with the source disk's size; an existing file is a stale replica, never "
                + "truncated, brought up to date by sending only what differs, and must have the source disk's size")
        Path disk;

        @Option(names = "--run-after", defaultValue = "5s",
                description = "after the switchover, run the guest this long, then report (default ${DEFAULT-VALUE})")
        Duration runAfter;

        @Option(names = "--accept-timeout", defaultValue = "120s",
                description = "how long to wait for the source (default ${DEFAULT-VALUE})")
        Duration acceptTimeout;

        @Option(names = "--rehearsals", defaultValue = "2", description = "small throwaway migrations inside this "
                + "process, pre-copy and post-copy (on two data connections) in turn, before it accepts the source "
                + "(which waits meanwhile), so that the switchover runs compiled code (0: none; default "
                + "${DEFAULT-VALUE})")
        int rehearsals;

        /** The rehearsals started with this command, awaited before the source is accepted. */
        private Rehearsal rehearsal;

        @Option(names = "--json", description = "print the report as JSON")
        boolean json;

        @Option(names = "--insecure", description = "listen on plain TCP, without TLS: anyone who reaches the port "
                + "can send a guest (tests and trusted networks only)")
        boolean insecure;

        @Mixin
        SecurityOptions security;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            Optional<SSLContext> tls;
            Optional<MigrationSecret> secret;
            try {
                tls = security.tls();
                secret = security.secret(System.getenv());
            } catch (SecurityOptions.Invalid e) {
                return usageError("livemig kvm receive", e.getMessage(), json);
            }
            BadInput.check(spec, memory.bytes() > 0, "--mem must be more than 0");
            BadInput.check(spec, rehearsals >= 0, "--rehearsals must not be negative");
            InetSocketAddress listenAddress;
            try {
                listenAddress = address(listen);
            } catch (IllegalArgumentException e) {
                throw BadInput.invalid(spec, "--listen", e);
            }
            if (tls.isEmpty() && !insecure) {
                return usageError("livemig kvm receive", "refusing to listen without TLS: give --tls-cert, --tls-key "
                        + "and --tls-ca (or --insecure, on a network you trust)", json);
            }
            if (tls.isPresent() && insecure) {
                return usageError("livemig kvm receive", "--insecure and the --tls-* flags exclude each other", json);
            }
            requireKvm();
            PrintStream err = System.err;
            if (tls.isEmpty()) {
                err.println("livemig kvm receive: --insecure: plain TCP; anyone who reaches the port can send a guest");
            }
            MicroVmm[] created = new MicroVmm[1];
            // The VM exists before the source connects, as QEMU's does with -incoming: creating
            // it (memory, vCPU, their warm-up) is not part of the migration's time.
            MicroVmm prepared = MicroVmm.builder().memoryBytes(memory.bytes()).console(console(console)).build();
            rehearsal = Rehearsal.forDestination(rehearsals);
            try {
                return receive(prepared, created, err, listenAddress, tls, secret);
            } finally {
                if (created[0] != prepared) {
                    prepared.close(); // not taken: replaced, or the migration never reached SETUP
                }
            }
        }

        /** The VM for a source with a disk, which needs the disk's size: made when the source announces it. */
        private MicroVmm withDisk(VmDescriptor d) throws java.io.IOException {
            if (disk == null) {
                throw new IllegalArgumentException("the source VM has disk " + d.disks().get(0).id() + " ("
                        + d.disks().get(0).sizeBytes() + " bytes): start this side with --disk FILE");
            }
            if (d.disks().size() != 1) {
                throw new IllegalArgumentException("a KVM guest here holds one disk, the source has " + d.disks());
            }
            RawImage image = KvmProvider.openTargetImage(disk, d.disks().get(0));
            System.err.printf("livemig kvm receive: disk %s into %s (%s)%n", d.disks().get(0).id(), disk,
                    image.wasCreated() ? "new" : "existing: a stale replica");
            return MicroVmm.builder().memoryBytes(memory.bytes()).vcpus(d.vcpuCount()).console(console(console))
                    .disk(image).build();
        }

        private int receive(MicroVmm prepared, MicroVmm[] created, PrintStream err, InetSocketAddress listenAddress,
                            Optional<SSLContext> tls, Optional<MigrationSecret> secret) throws Exception {
            try (ChannelListener listener = Transports.listen(listenAddress, tls, security.tlsPeerName)) {
                InetSocketAddress bound = Transports.boundAddress(listener);
                err.printf("livemig kvm receive: listening on %s:%d%s%n", bound.getHostString(), bound.getPort(),
                        tls.isPresent() ? " (mutual TLS)" : "");
                err.flush();
                // A source that connects meanwhile waits in the listener's backlog.
                rehearsal.await();
                ReceivedMigration received;
                MigrationOptions options = MigrationOptions.builder().secret(secret.orElse(null)).build();
                // The engines watch the listener for the whole migration: connections that fail the TLS
                // or the livemig handshake are turned away (logged on stderr), and the source's own
                // recovery connection is taken if the link breaks during post-copy.
                try {
                    received = LiveMigration.receive(listener, acceptTimeout, d -> {
                        if (d.memoryLayout().memoryBytes() != memory.bytes()) {
                            throw new IllegalArgumentException("the source announces " + d.memoryLayout().memoryBytes()
                                    + " bytes of RAM; this side was started with --mem " + memory.bytes());
                        }
                        if (d.disks().isEmpty() && disk != null) {
                            throw new IllegalArgumentException("this side was started with --disk " + disk
                                    + ", but the source VM has no disk");
                        }
                        if (!d.disks().isEmpty()) {
                            created[0] = withDisk(d);
                        } else if (prepared.vcpus().size() == d.vcpuCount()) {
                            created[0] = prepared;
                        } else {
                            created[0] = MicroVmm.builder().memoryBytes(memory.bytes()).vcpus(d.vcpuCount())
                                    .console(console(console)).build();
                        }
                        return new KvmGuest(created[0]);
                    }, options);
                } catch (MigrationException e) {
                    Map<String, Object> m = ReportJson.failed(e, null);
                    m.put("side", "destination");
                    System.out.println(json ? ReportJson.write(m) : "migration failed: " + e.getMessage());
                    return 1;
                }
                try (var target = received.target()) {
                    MicroVmm vmm = created[0];
                    long atResume = vmm.consoleBytes();
                    err.printf("livemig kvm receive: guest resumed here; running it for %d ms%n", runAfter.toMillis());
                    vmm.awaitStop(runAfter);
                    Map<String, Object> m = ReportJson.toMap(received.report());
                    m.put("side", "destination");
                    m.putAll(guestHealth(vmm, atResume));
                    System.out.println(json ? ReportJson.write(m) : m.toString());
                    boolean healthy = Boolean.TRUE.equals(m.get("guestProgressAfterResume"))
                            && !Boolean.TRUE.equals(m.get("selfCheckFailed"));
                    return received.report().verified() && healthy ? 0 : 1;
                }
            }
        }
    }

    /** {@code livemig kvm guest}: builds the built-in guest for use elsewhere. */
    @Command(name = "guest", mixinStandardHelpOptions = true,
            description = "Build the built-in self-checking 'dirtier' guest (needs as, ld, objcopy).")
    static final class Guest implements Callable<Integer> {

        @Option(names = "--out", required = true, description = "where to write the flat Multiboot image")
        Path out;

        @Override
        public Integer call() throws Exception {
            Files.write(out, GuestBuilder.dirtierImage());
            System.err.println("livemig kvm guest: wrote " + out + " (" + Files.size(out) + " bytes)");
            return 0;
        }
    }
}
