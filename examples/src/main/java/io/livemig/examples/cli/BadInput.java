package io.livemig.examples.cli;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.UnmatchedArgumentException;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.StringJoiner;

/**
 * How the command line answers input it cannot use, and failures nobody caught: one line on
 * stderr, never a stack trace or the whole usage text.
 *
 * <p>Bad input (picocli's own parse and conversion errors, and the {@link ParameterException}s
 * the commands throw from {@link #check} or {@link #invalid} before they start anything) prints
 * {@code COMMAND: MESSAGE}, then one hint line {@code see: COMMAND --help}, and exits with
 * {@link CommandLine.ExitCode#USAGE} (2). With {@code --json} among the arguments of a command that
 * has that option, one JSON object ({@code status} {@code refused}) also goes to stdout, as the
 * commands' own refusals print.
 *
 * <p>An exception that escapes a command's {@code call()} is a failure, not bad input: one line
 * {@code COMMAND: failed: EXCEPTION}, exit 1; its stack trace only when the environment variable
 * {@value #STACK_TRACE_VARIABLE} is set.
 */
final class BadInput implements CommandLine.IParameterExceptionHandler, CommandLine.IExecutionExceptionHandler {

    /** The environment variable that, when set, makes an uncaught failure print its stack trace. */
    static final String STACK_TRACE_VARIABLE = "LIVEMIG_STACKTRACE";

    @Override
    public int handleParseException(ParameterException ex, String[] args) {
        CommandLine cli = ex.getCommandLine();
        CommandSpec spec = cli.getCommandSpec();
        String command = spec.qualifiedName();
        String message = oneLine(ex.getMessage());
        PrintWriter err = cli.getErr();
        err.println(command + ": " + message);
        err.println("see: " + command + " --help" + suggestion(ex));
        err.flush();
        if (spec.findOption("--json") != null && Arrays.asList(args).contains("--json")) {
            PrintWriter out = cli.getOut();
            out.println(ReportJson.write(ReportJson.notStarted("refused", message)));
            out.flush();
        }
        return spec.exitCodeOnInvalidInput();
    }

    @Override
    public int handleExecutionException(Exception ex, CommandLine cli, CommandLine.ParseResult parsed) {
        PrintWriter err = cli.getErr();
        err.println(cli.getCommandSpec().qualifiedName() + ": failed: " + oneLine(ex.toString()));
        if (System.getenv(STACK_TRACE_VARIABLE) != null) {
            ex.printStackTrace(err);
        }
        err.flush();
        return CommandLine.ExitCode.SOFTWARE;
    }

    /** @return " (did you mean: a, b?)" for a mistyped option or command, else "" */
    private static String suggestion(ParameterException ex) {
        if (ex instanceof UnmatchedArgumentException unmatched && !unmatched.getSuggestions().isEmpty()) {
            List<String> some = unmatched.getSuggestions().subList(0, Math.min(3, unmatched.getSuggestions().size()));
            return " (did you mean: " + String.join(", ", some) + "?)";
        }
        return "";
    }

    /**
     * Refuses bad input from a command's {@code call()}, before it starts anything.
     *
     * @param spec    the command's spec (picocli's {@code @Spec})
     * @param ok      the condition the input must meet
     * @param message what is wrong, naming the option, e.g. {@code "--mem must be more than 0"}
     * @throws ParameterException if {@code ok} is false; picocli reports it as bad input (exit 2)
     */
    static void check(CommandSpec spec, boolean ok, String message) {
        if (!ok) {
            throw new ParameterException(spec.commandLine(), message);
        }
    }

    /**
     * @param spec the command's spec
     * @param what what was refused, e.g. {@code "invalid options"} or {@code "--migrate-to"}
     * @param e    why, e.g. from {@code MigrationOptions.Builder}
     * @return the exception to throw from {@code call()}, which picocli reports as bad input (exit 2)
     */
    static ParameterException invalid(CommandSpec spec, String what, IllegalArgumentException e) {
        return new ParameterException(spec.commandLine(), what + ": " + oneLine(String.valueOf(e.getMessage())), e);
    }

    /**
     * A converter for an enum option that takes its values in lower case, {@code -} for
     * {@code _} ({@code write-blocking}), and names them all when given something else.
     *
     * @param type the enum
     * @param <E>  its type
     * @return the converter, for {@link CommandLine#registerConverter}
     */
    static <E extends Enum<E>> CommandLine.ITypeConverter<E> lowerCase(Class<E> type) {
        return text -> {
            String key = text.trim().replace('-', '_');
            for (E value : type.getEnumConstants()) {
                if (value.name().equalsIgnoreCase(key)) {
                    return value;
                }
            }
            throw new CommandLine.TypeConversionException("'" + text + "' is not one of " + names(type));
        };
    }

    /** @return the enum's values as the command line writes them, e.g. "cold, precopy, postcopy, hybrid" */
    static String names(Class<? extends Enum<?>> type) {
        StringJoiner joined = new StringJoiner(", ");
        for (Enum<?> value : type.getEnumConstants()) {
            joined.add(value.name().toLowerCase(Locale.ROOT).replace('_', '-'));
        }
        return joined.toString();
    }

    private static String oneLine(String message) {
        return message == null ? "" : message.replaceAll("\\s*\\R\\s*", " ").strip();
    }
}
