package io.livemig.compress;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Random;

/** Realistic page contents for codec tests and benchmarks. */
public final class PageSets {
    public static final int PAGE = 4096;

    private PageSets() {
    }

    public static ByteBuffer direct(byte[] bytes) {
        ByteBuffer b = ByteBuffer.allocateDirect(bytes.length).order(ByteOrder.nativeOrder());
        b.put(0, bytes);
        return b;
    }

    public static byte[] text(long seed) {
        String[] words = {"migration", "page", "dirty", "the", "of", "kernel", "buffer", "memory", "round", "vcpu",
                "state", "and", "a", "to", "switchover", "destination", "source", "log", "INFO", "2026-11-25"};
        Random r = new Random(seed);
        StringBuilder sb = new StringBuilder();
        while (sb.length() < PAGE) {
            sb.append(words[r.nextInt(words.length)]).append(r.nextInt(10) == 0 ? "\n" : " ");
        }
        return sb.substring(0, PAGE).getBytes(StandardCharsets.US_ASCII);
    }

    public static byte[] zeroHeavy(long seed) {
        byte[] p = new byte[PAGE];
        Random r = new Random(seed);
        for (int i = 0; i < 40; i++) {
            p[r.nextInt(PAGE)] = (byte) (1 + r.nextInt(255));
        }
        return p;
    }

    public static byte[] random(long seed) {
        byte[] p = new byte[PAGE];
        new Random(seed).nextBytes(p);
        return p;
    }

    /** {@code base} with {@code count} bytes changed at random places. */
    public static byte[] changed(byte[] base, int count, long seed) {
        byte[] p = base.clone();
        Random r = new Random(seed);
        for (int i = 0; i < count; i++) {
            int at = r.nextInt(PAGE);
            p[at] = (byte) (p[at] + 1 + r.nextInt(254));
        }
        return p;
    }
}
