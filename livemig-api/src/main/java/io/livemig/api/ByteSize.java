package io.livemig.api;

import java.util.Locale;

/**
 * A size or a rate in bytes, written the way operators write them: {@code 4096}, {@code 512K},
 * {@code 100M}, {@code 1G}, {@code 2T}, optionally followed by {@code B}, {@code iB} or, for
 * rates, {@code /s}. Suffixes are binary (K = 1024), as in QEMU's size options.
 *
 * @param bytes the value in bytes (or bytes per second for a rate), at least 0
 */
public record ByteSize(long bytes) {

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException if negative
     */
    public ByteSize {
        if (bytes < 0) {
            throw new IllegalArgumentException("a size must be >= 0, was " + bytes);
        }
    }

    /**
     * {@return the size}
     *
     * @param text e.g. {@code "1G"}, {@code "100M"}, {@code "64KiB"}, {@code "50M/s"}, {@code "4096"}
     * @throws IllegalArgumentException if the text is not a size, or overflows 2^63 - 1
     */
    public static ByteSize parse(String text) {
        String t = text.trim().toUpperCase(Locale.ROOT);
        if (t.endsWith("/S")) {
            t = t.substring(0, t.length() - 2);
        }
        if (t.endsWith("IB")) {
            t = t.substring(0, t.length() - 2);
        } else if (t.endsWith("B")) {
            t = t.substring(0, t.length() - 1);
        }
        int shift = 0;
        if (!t.isEmpty()) {
            switch (t.charAt(t.length() - 1)) {
                case 'K' -> shift = 10;
                case 'M' -> shift = 20;
                case 'G' -> shift = 30;
                case 'T' -> shift = 40;
                default -> shift = -1;
            }
            if (shift >= 0) {
                t = t.substring(0, t.length() - 1);
            } else {
                shift = 0;
            }
        }
        try {
            long value = Long.parseLong(t.trim());
            if (value < 0 || (shift > 0 && value > (Long.MAX_VALUE >> shift))) {
                throw new IllegalArgumentException("size out of range: '" + text + "'");
            }
            return new ByteSize(value << shift);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a size: '" + text + "' (use e.g. 4096, 512K, 100M, 1G)", e);
        }
    }

    /** {@return the value with the largest binary suffix that divides it, e.g. {@code "1G"}} */
    @Override
    public String toString() {
        String[] suffixes = {"", "K", "M", "G", "T"};
        long v = bytes;
        int i = 0;
        while (i < suffixes.length - 1 && v != 0 && v % 1024 == 0) {
            v /= 1024;
            i++;
        }
        return v + suffixes[i];
    }
}
