package io.livemig.examples.cli;

import io.livemig.api.DiskCopyMode;
import io.livemig.api.Prepaging;
import io.livemig.api.Strategy;
import io.livemig.kit.WorkloadPattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code livemig} command line. Subcommands: {@code demo} (an in-memory VM migrated over
 * loopback), {@code kvm} (KVM guests between two processes), {@code disk} (an image file synced to
 * another host, dsync). Run {@code livemig help <command>} for options.
 */
@Command(name = "livemig", mixinStandardHelpOptions = true, versionProvider = Livemig.Version.class,
        description = "Live migration of virtual machines.",
        subcommands = {DemoCommand.class, KvmCommand.class, DiskCommand.class, AotTraining.class,
            CommandLine.HelpCommand.class})
public final class Livemig {

    private Livemig() {
    }

    /**
     * @param args the command line
     */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** @return the exit code: 0 success, 1 migration failed or unverified, 2 usage error */
    static int run(String... args) {
        // The logging backend before any migration thread sets its MDC: when a thread races the
        // first logger for it, slf4j prints two lines about a temporary MDC adapter on stderr.
        org.slf4j.LoggerFactory.getILoggerFactory();
        return commandLine().execute(args);
    }

    /**
     * The command line with its converters (sizes, durations, enums in lower case) and its
     * answers to bad input (one line and exit code 2, see {@link BadInput}).
     *
     * @return a new command line; its output goes to {@code System.out} and {@code System.err} unless set
     */
    static CommandLine commandLine() {
        BadInput handler = new BadInput();
        return new CommandLine(new Livemig())
                .registerConverter(SizeArg.class, text -> converted(() -> SizeArg.parse(text)))
                .registerConverter(java.time.Duration.class, text -> converted(() -> Durations.parse(text)))
                .registerConverter(Strategy.class, BadInput.lowerCase(Strategy.class))
                .registerConverter(Prepaging.class, BadInput.lowerCase(Prepaging.class))
                .registerConverter(DiskCopyMode.class, BadInput.lowerCase(DiskCopyMode.class))
                .registerConverter(WorkloadPattern.class, BadInput.lowerCase(WorkloadPattern.class))
                .registerConverter(DemoCommand.TransportKind.class, BadInput.lowerCase(DemoCommand.TransportKind.class))
                .registerConverter(KvmCommand.DirtierPattern.class, BadInput.lowerCase(KvmCommand.DirtierPattern.class))
                .setParameterExceptionHandler(handler)
                .setExecutionExceptionHandler(handler);
    }

    /** Turns a parser's IllegalArgumentException into picocli's conversion error, which names the option. */
    private static <T> T converted(java.util.function.Supplier<T> parse) {
        try {
            return parse.get();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }

    /** Reports the version from the jar manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Livemig.class.getPackage().getImplementationVersion();
            return new String[] {"livemig " + (v == null ? "(development build)" : v)};
        }
    }
}
