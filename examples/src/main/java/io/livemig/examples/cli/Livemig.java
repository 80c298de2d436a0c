package io.livemig.examples.cli;

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
        return new CommandLine(new Livemig())
                .registerConverter(SizeArg.class, SizeArg::parse)
                .registerConverter(java.time.Duration.class, Durations::parse)
                .execute(args);
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
