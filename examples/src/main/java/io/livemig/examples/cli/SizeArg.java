package io.livemig.examples.cli;

import io.livemig.api.ByteSize;

import java.util.Locale;

/**
 * A size or rate argument with binary suffixes: {@code 4096}, {@code 512K} or {@code 512Ki},
 * {@code 64M} or {@code 64Mi}, {@code 1G} or {@code 1Gi}, {@code 2T}; also {@code 64MiB} and, for
 * rates, {@code 50M/s}. Every suffix is a power of 1024.
 *
 * @param bytes the value in bytes (or bytes per second), at least 0
 */
record SizeArg(long bytes) {

    /**
     * @param text the argument
     * @return its size
     * @throws IllegalArgumentException if it is not a size, is negative or overflows a long
     */
    static SizeArg parse(String text) {
        String t = text.trim();
        if (t.startsWith("-")) {
            throw new IllegalArgumentException("a size must not be negative: '" + text + "'");
        }
        String upper = t.toUpperCase(Locale.ROOT);
        if (upper.endsWith("/S")) {
            t = t.substring(0, t.length() - 2);
            upper = upper.substring(0, upper.length() - 2);
        }
        // Kubernetes' quantities: Ki, Mi, Gi, Ti; ByteSize already takes KiB and K.
        if (upper.length() >= 2 && upper.endsWith("I") && "KMGT".indexOf(upper.charAt(upper.length() - 2)) >= 0) {
            t = t.substring(0, t.length() - 1);
        }
        try {
            return new SizeArg(ByteSize.parse(t).bytes());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not a size: '" + text + "' (use e.g. 4096, 512Ki, 64M, 64Mi, 1Gi)", e);
        }
    }

    @Override
    public String toString() {
        return new ByteSize(bytes).toString();
    }
}
