package io.livemig.bench;

import java.nio.ByteBuffer;

import static io.livemig.compress.PageSets.PAGE;

/** The pages of a set as one codec encoded them in setup: where each lies, and how long it is. */
final class Encoded {

    /** Encodes page {@code i} at {@code out}'s position; returns the length, or a negative for none. */
    interface Encoder {
        int encode(int i, ByteBuffer out);
    }

    final ByteBuffer data = ByteBuffer.allocateDirect(Pages.COUNT * (PAGE + 64));
    final int[] offset = new int[Pages.COUNT];
    final int[] length = new int[Pages.COUNT];
    long totalBytes;

    static Encoded of(Pages pages, Encoder encoder) {
        Encoded e = new Encoded();
        int at = 0;
        for (int i = 0; i < Pages.COUNT; i++) {
            ByteBuffer out = e.data.duplicate().position(at).limit(at + PAGE + 64);
            int n = encoder.encode(i, out);
            e.offset[i] = at;
            e.length[i] = Math.max(n, 0);
            e.totalBytes += n < 0 ? PAGE : n;
            at += Math.max(n, 0);
        }
        return e;
    }

    /** @return input bytes over encoded bytes (a page the codec gave up on counts whole) */
    double ratio() {
        return (double) Pages.COUNT * PAGE / totalBytes;
    }
}
