package io.livemig.examples.cli;

import io.livemig.api.DiskStats;
import io.livemig.api.DiskSyncReport;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationSecret;
import io.livemig.api.Verification;
import io.livemig.channel.Channel;
import io.livemig.channel.ChannelListener;
import io.livemig.disk.RawImage;
import io.livemig.engine.DiskSync;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.SSLContext;

/**
 * {@code livemig disk}: dsync as a tool (Knauth and Fetzer, LISA'13). {@code disk send} brings an
 * image file at another host up to date with a local one through {@link DiskSync}, sending only
 * what the other copy lacks: the blocks the local change log recorded since the other copy's
 * generation (a bitmap sync), else the blocks whose digest differs (a digest sync, for a copy of
 * unknown age), else, to a new file, every block that is not zero.
 *
 * <p><b>Files.</b> Both images are {@link RawImage}s of 4 KiB blocks, each with its change log in
 * a sidecar {@code FILE.dsync} beside it (created on first use; the directory must be writable).
 * The disk id is fixed, {@value #DISK_ID}, on both sides, so the two files may have any names:
 * which file is which is the user's choice of paths, not a name in the image. The sender's log
 * only records writes made through livemig ({@link RawImage#write}); a source image written by
 * anything else must be synced without its sidecar (delete it), which makes the next sync compare
 * digests.
 *
 * <p><b>Output and exit codes.</b> A one- or two-line summary, or with {@code --json} one JSON object
 * ({@link #toMap}); 0 when the sync completed (and, if verified, every block matched), 1 when it
 * failed or a block differed, 2 for a usage error. Errors are one line on stderr.
 */
@Command(name = "disk", mixinStandardHelpOptions = true,
        description = "Sync a raw disk image to another host, sending only the blocks that changed (dsync).",
        subcommands = {DiskCommand.Send.class, DiskCommand.Receive.class})
final class DiskCommand {

    /** The disk id both sides use. */
    static final String DISK_ID = "disk0";

    private DiskCommand() {
    }

    /**
     * A sync's report as the command line prints it: {@code side}, {@code status}, {@code verified},
     * {@code image}, {@code diskId}, {@code sizeBytes}, {@code blockSizeBytes}, {@code mode}
     * ({@code new_disk}, {@code change_log} or {@code digests}), {@code blocksSent},
     * {@code zeroBlocksSent}, {@code blocksUnchanged}, {@code contentBytes}, {@code bytesOnWire},
     * {@code totalMs}, {@code verification} ({@code verified}, {@code mismatch} or
     * {@code not_checked}), {@code checkedBlocks}, {@code mismatchedBlocks},
     * {@code verificationMs}. On the destination, {@code blocksSent} and {@code zeroBlocksSent}
     * count the blocks it wrote and {@code bytesOnWire} the bytes it received.
     *
     * @param side   {@code source} or {@code destination}
     * @param image  the local image
     * @param sizeBytes the image's size
     * @param report the sync's report
     * @return a new mutable map; bench/disk-sync.py parses its keys
     */
    static Map<String, Object> toMap(String side, Path image, long sizeBytes, DiskSyncReport report) {
        DiskStats d = report.disk();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("side", side);
        m.put("status", "completed");
        m.put("verified", report.verification().outcome() == Verification.VERIFIED);
        m.put("image", image.toString());
        m.put("diskId", d.diskId());
        m.put("sizeBytes", sizeBytes);
        m.put("blockSizeBytes", d.blockSizeBytes());
        m.put("mode", lower(d.sync()));
        m.put("blocksSent", d.blocksSent());
        m.put("zeroBlocksSent", d.zeroBlocksSent());
        m.put("blocksUnchanged", d.blocksUnchanged());
        m.put("contentBytes", d.contentBytes());
        m.put("bytesOnWire", report.bytesOnWire());
        m.put("totalMs", report.totalTime().toNanos() / 1e6);
        m.put("verification", lower(report.verification().outcome()));
        m.put("checkedBlocks", report.verification().checkedBlocks());
        m.put("mismatchedBlocks", report.verification().mismatchedBlocks());
        m.put("verificationMs", report.verification().time().toNanos() / 1e6);
        return m;
    }

    private static String lower(Enum<?> value) {
        return value.name().toLowerCase(Locale.ROOT);
    }

    /** @throws IllegalArgumentException if {@code hostPort} is not HOST:PORT with a port 0 to 65535 */
    static InetSocketAddress address(String option, String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        int port = -1;
        if (colon > 0) {
            try {
                port = Integer.parseInt(hostPort.substring(colon + 1));
            } catch (NumberFormatException e) {
                port = -1;
            }
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException(option + ": expected HOST:PORT, got '" + hostPort + "'");
        }
        return new InetSocketAddress(hostPort.substring(0, colon), port);
    }

    /** One line, whatever the exception's message holds. */
    static String oneLine(Throwable e) {
        String message = e.getMessage() != null ? e.getMessage() : e.toString();
        if (e instanceof java.nio.file.NoSuchFileException || e instanceof java.nio.file.AccessDeniedException) {
            message = e.getClass().getSimpleName() + ": " + message;
        }
        return message.replaceAll("\\s*\\R\\s*", " ").strip();
    }

    /**
     * What a command prints, once, at its end: the JSON object or the summary on stdout, a
     * failure's one line on stderr.
     */
    private record Printer(CommandSpec spec, String command, String side, boolean json) {

        PrintWriter err() {
            return spec.commandLine().getErr();
        }

        /** @return 2, after printing why the command would not start */
        int refuse(String message) {
            return print("refused", message, null, 2);
        }

        /** @return 1, after printing why the sync failed */
        int fail(String message, Path image) {
            return print("failed", message, image, 1);
        }

        private int print(String status, String message, Path image, int exit) {
            err().println(command + ": " + message);
            err().flush();
            if (json) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("side", side);
                m.put("status", status);
                m.put("verified", false);
                if (image != null) {
                    m.put("image", image.toString());
                }
                m.put("failure", message);
                PrintWriter out = spec.commandLine().getOut();
                out.println(ReportJson.write(m));
                out.flush();
            }
            return exit;
        }

        /** @return 0, or 1 if verification found a block that differs, after printing the report */
        int report(Path image, long sizeBytes, DiskSyncReport report, String transport) {
            Map<String, Object> m = toMap(side, image, sizeBytes, report);
            m.put("transport", transport);
            PrintWriter out = spec.commandLine().getOut();
            DiskStats d = report.disk();
            if (json) {
                out.println(ReportJson.write(m));
            } else {
                boolean source = side.equals("source");
                out.printf(Locale.ROOT, "%s: %s sync of %s (%d blocks of %d bytes): %d blocks %s (%d as zeros, %d "
                                + "unchanged), %d bytes %s in %.0f ms%n", d.diskId(), m.get("mode"), image,
                        sizeBytes / d.blockSizeBytes(), d.blockSizeBytes(), d.blocksSent() + d.zeroBlocksSent(),
                        source ? "sent" : "written", d.zeroBlocksSent(), d.blocksUnchanged(), report.bytesOnWire(),
                        source ? "on the wire" : "received", report.totalTime().toNanos() / 1e6);
                out.printf(Locale.ROOT, "verification: %s (%d blocks compared, %d differ)%n",
                        m.get("verification"), report.verification().checkedBlocks(),
                        report.verification().mismatchedBlocks());
            }
            out.flush();
            if (report.verification().outcome() == Verification.MISMATCH) {
                err().println(command + ": " + report.verification().mismatchedBlocks() + " blocks differ after the "
                        + "sync");
                err().flush();
                return 1;
            }
            return 0;
        }
    }

    /** {@code livemig disk send}: sends an image to a {@code livemig disk receive}. */
    @Command(name = "send", mixinStandardHelpOptions = true,
            description = "Send a raw image file to a 'livemig disk receive', which brings its copy up to date.")
    static final class Send implements Callable<Integer> {

        @Option(names = "--image", required = true, paramLabel = "FILE",
                description = "the image to send: a raw file of whole 4 KiB blocks; its change log is kept in "
                        + "FILE.dsync beside it (created if missing)")
        Path image;

        @Option(names = "--to", required = true, paramLabel = "HOST:PORT",
                description = "where the 'livemig disk receive' listens")
        String to;

        @Option(names = "--bandwidth", defaultValue = "0", paramLabel = "BYTES",
                description = "bandwidth cap in bytes/s, 0 = none (default ${DEFAULT-VALUE})")
        SizeArg bandwidth;

        @Option(names = "--no-verify", description = "do not compare every block's digest at the end (that reads "
                + "both images whole)")
        boolean noVerify;

        @Option(names = "--json", description = "print the report as JSON")
        boolean json;

        @Mixin
        SecurityOptions security;

        @Mixin
        ProgressOptions progress;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() {
            progress.check(spec);
            Printer printer = new Printer(spec, "livemig disk send", "source", json);
            Optional<SSLContext> tls;
            Optional<MigrationSecret> secret;
            InetSocketAddress address;
            MigrationOptions options;
            try {
                tls = security.tls();
                secret = security.secret(System.getenv());
                address = address("--to", to);
                options = MigrationOptions.builder().verify(!noVerify)
                        .bandwidthLimitBytesPerSecond(bandwidth.bytes()).secret(secret.orElse(null)).build();
            } catch (SecurityOptions.Invalid | IllegalArgumentException e) {
                return printer.refuse(e.getMessage());
            }
            if (!Files.isRegularFile(image)) {
                return printer.refuse("no such image file: " + image);
            }
            RawImage disk;
            try {
                disk = RawImage.open(image, DISK_ID, 0);
            } catch (IOException | RuntimeException e) {
                return printer.fail("cannot open " + image + ": " + oneLine(e), image);
            }
            if (tls.isEmpty()) {
                printer.err().println("livemig disk send: no --tls-* flags: sending over plain TCP, unencrypted"
                        + (secret.isEmpty() ? " and unauthenticated" : ""));
                printer.err().flush();
            }
            DiskSyncReport report = null;
            String failure = null;
            long sizeBytes = disk.descriptor().sizeBytes();
            DiskSendProgress watched = DiskSendProgress.watch(progress.display(System.err), sizeBytes);
            try (watched; Channel channel = watched.counting(Transports.connect(address, tls, security.tlsPeerName))) {
                report = DiskSync.send(disk, channel, options);
                watched.completed();
            } catch (MigrationException | IOException | RuntimeException e) {
                failure = oneLine(e);
            } finally {
                // Forced and marked clean: the log is trusted by the next sync, even after a reboot.
                try {
                    disk.close();
                } catch (RuntimeException e) {
                    failure = failure != null ? failure : "cannot close " + image + ": " + oneLine(e);
                }
            }
            if (failure != null) {
                return printer.fail(failure, image);
            }
            int exit = printer.report(image, sizeBytes, report, tls.isPresent() ? "tls" : "tcp");
            if (progress.plot != null) {
                try {
                    TimelinePlot.write(TimelinePlot.diskSync(image, sizeBytes, report, watched.samples()),
                            progress.plot);
                } catch (IOException | RuntimeException e) {
                    printer.err().println("livemig disk send: cannot write the plot " + progress.plot + ": "
                            + oneLine(e));
                    printer.err().flush();
                    return 1;
                }
            }
            return exit;
        }
    }

    /** {@code livemig disk receive}: takes one sync into an image, then exits. */
    @Command(name = "receive", mixinStandardHelpOptions = true,
            description = "Receive one 'livemig disk send' into a raw image file: an existing file is the copy "
                    + "brought up to date (never truncated); a missing one is created, sparse.")
    static final class Receive implements Callable<Integer> {

        @Option(names = "--listen", required = true, paramLabel = "HOST:PORT",
                description = "where to listen (port 0: any; the port is printed on stderr)")
        String listen;

        @Option(names = "--image", required = true, paramLabel = "FILE",
                description = "the copy to bring up to date; its change log is kept in FILE.dsync beside it")
        Path image;

        @Option(names = "--size", paramLabel = "BYTES",
                description = "create a missing FILE at this size before the source connects (it must be the source "
                        + "image's); without it a missing FILE is created at the size the source announces, and an "
                        + "existing FILE keeps its own size")
        SizeArg size;

        @Option(names = "--accept-timeout", defaultValue = "120s",
                description = "how long to wait for the source (default ${DEFAULT-VALUE})")
        Duration acceptTimeout;

        @Option(names = "--json", description = "print the report as JSON")
        boolean json;

        @Option(names = "--insecure", description = "listen on plain TCP, without TLS: anyone who reaches the port "
                + "can overwrite the image (tests and trusted networks only)")
        boolean insecure;

        @Mixin
        SecurityOptions security;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() {
            Printer printer = new Printer(spec, "livemig disk receive", "destination", json);
            Optional<SSLContext> tls;
            Optional<MigrationSecret> secret;
            InetSocketAddress address;
            try {
                tls = security.tls();
                secret = security.secret(System.getenv());
                address = address("--listen", listen);
            } catch (SecurityOptions.Invalid | IllegalArgumentException e) {
                return printer.refuse(e.getMessage());
            }
            if (tls.isEmpty() && !insecure) {
                return printer.refuse("refusing to listen without TLS: give --tls-cert, --tls-key and --tls-ca (or "
                        + "--insecure, on a network you trust)");
            }
            if (tls.isPresent() && insecure) {
                return printer.refuse("--insecure and the --tls-* flags exclude each other");
            }
            if (size != null && size.bytes() == 0) {
                return printer.refuse("--size must be more than 0");
            }
            boolean exists = Files.exists(image);
            if (!exists && size != null && size.bytes() % RawImage.DEFAULT_BLOCK_SIZE_BYTES != 0) {
                return printer.refuse("--size " + size.bytes() + " is not a multiple of the 4 KiB block size");
            }
            // An existing image (or one of --size) is opened now; a missing one once the source said its size.
            AtomicReference<RawImage> opened = new AtomicReference<>();
            if (exists || size != null) {
                try {
                    opened.set(RawImage.open(image, DISK_ID, size != null ? size.bytes() : 0));
                } catch (IOException | RuntimeException e) {
                    return printer.fail("cannot open " + image + ": " + oneLine(e), image);
                }
            }
            MigrationOptions options = MigrationOptions.builder().secret(secret.orElse(null)).build();
            DiskSyncReport report = null;
            String failure = null;
            try (ChannelListener listener = Transports.listen(address, tls, security.tlsPeerName)) {
                InetSocketAddress bound = Transports.boundAddress(listener);
                PrintWriter err = printer.err();
                err.printf("livemig disk receive: listening on %s:%d%s%n", bound.getHostString(), bound.getPort(),
                        tls.isPresent() ? " (mutual TLS)" : " (--insecure: plain TCP)");
                err.flush();
                try (Channel channel = listener.accept(acceptTimeout)) {
                    report = DiskSync.receive(announced -> opened.updateAndGet(d -> d != null ? d
                            : create(announced)), channel, options);
                }
            } catch (MigrationException | IOException | RuntimeException e) {
                failure = oneLine(e);
            } finally {
                RawImage disk = opened.get();
                try {
                    if (disk != null) {
                        disk.close();
                    }
                } catch (RuntimeException e) {
                    failure = failure != null ? failure : "cannot close " + image + ": " + oneLine(e);
                }
            }
            RawImage disk = opened.get();
            if (failure != null) {
                if (disk != null && disk.startsEmpty()) {
                    deleteCreated(printer);
                }
                return printer.fail(failure, image);
            }
            return printer.report(image, disk.descriptor().sizeBytes(), report, tls.isPresent() ? "tls" : "tcp");
        }

        /** @return a new sparse image of the disk the source announced */
        private RawImage create(io.livemig.spi.DiskDescriptor announced) {
            try {
                return RawImage.open(image, DISK_ID, announced.sizeBytes(), announced.blockSizeBytes());
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("cannot create " + image + ": " + e.getMessage(), e);
            }
        }

        /** A file created for a sync that wrote nothing into it holds nothing: remove it and its log. */
        private void deleteCreated(Printer printer) {
            try {
                Files.deleteIfExists(image);
                Files.deleteIfExists(image.resolveSibling(image.getFileName() + RawImage.SIDECAR_SUFFIX));
            } catch (IOException e) {
                printer.err().println("livemig disk receive: could not remove the unwritten " + image + ": "
                        + oneLine(e));
            }
        }
    }
}
