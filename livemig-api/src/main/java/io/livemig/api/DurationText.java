package io.livemig.api;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Durations written the way operators write them, as {@link ByteSize} is for sizes:
 * {@code 300ms}, {@code 2s}, {@code 1.5s}, {@code 1m30s}, {@code 1h}, {@code 500us} (or
 * {@code µs}), {@code 250ns}, a bare number of milliseconds ({@code 300}), or ISO-8601
 * ({@code PT1S}). Never negative. Used by the providers' URI queries and the command line alike.
 */
public final class DurationText {

    /** One number and its unit; units are tried longest first, so {@code ms} is not {@code m}. */
    private static final Pattern PART = Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|us|µs|ns|h|m|s)");
    private static final Pattern WHOLE = Pattern.compile("(?:\\d+(?:\\.\\d+)?(?:ms|us|µs|ns|h|m|s))+");

    private DurationText() {
    }

    /**
     * {@return the duration, at least zero, rounded to the nanosecond}
     *
     * @param text e.g. {@code "250ms"}, {@code "1m30s"}, {@code "300"}, {@code "PT1S"}
     * @throws IllegalArgumentException if it is not a duration, or negative
     */
    public static Duration parse(String text) {
        String t = text.replaceAll("\\s+", "").toLowerCase(Locale.ROOT);
        if (t.startsWith("-")) {
            throw new IllegalArgumentException("a duration must not be negative: '" + text + "'");
        }
        try {
            if (t.startsWith("p")) {
                Duration d = Duration.parse(text.trim());
                if (d.isNegative()) {
                    throw new IllegalArgumentException("negative");
                }
                return d;
            }
            if (t.matches("\\d+")) {
                return Duration.ofMillis(Long.parseLong(t));
            }
            if (!WHOLE.matcher(t).matches()) {
                throw new IllegalArgumentException("no unit");
            }
            BigDecimal nanos = BigDecimal.ZERO;
            Matcher m = PART.matcher(t);
            while (m.find()) {
                nanos = nanos.add(new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(nanosPer(m.group(2)))));
            }
            return Duration.ofNanos(nanos.setScale(0, RoundingMode.HALF_UP).longValueExact());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("not a duration: '" + text + "' (use e.g. 250ms, 2s, 1.5s, 1m30s, 1h)",
                    e);
        }
    }

    private static long nanosPer(String unit) {
        return switch (unit) {
            case "h" -> 3_600_000_000_000L;
            case "m" -> 60_000_000_000L;
            case "s" -> 1_000_000_000L;
            case "ms" -> 1_000_000L;
            case "us", "µs" -> 1_000L;
            default -> 1L; // ns
        };
    }
}
