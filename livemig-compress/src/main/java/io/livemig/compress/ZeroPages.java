package io.livemig.compress;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Detects all-zero pages. Pages of free or untouched guest memory are zero, and a migration
 * sends them as a one-byte entry without payload, so this runs on every page and must run at
 * memory speed.
 *
 * <p>Thread-safe and allocation-free.
 */
public final class ZeroPages {

    private ZeroPages() {
    }

    /**
     * {@return whether every byte of {@code buffer[offset, offset + length)} is zero}
     *
     * @param buffer    the bytes; neither its position nor its limit is used or changed
     * @param offset    the absolute offset of the page in {@code buffer}
     * @param length    the page length in bytes, a multiple of 8
     * @throws IndexOutOfBoundsException if the range leaves the buffer
     */
    public static boolean isZero(ByteBuffer buffer, int offset, int length) {
        java.util.Objects.checkFromIndexSize(offset, length, buffer.capacity());
        // Word-wise with four independent accumulators: the loads pipeline and the JIT
        // unrolls and vectorises the OR chain. An early exit every 256 bytes keeps non-zero
        // pages (the common case in a busy guest) cheap: most have a non-zero byte early.
        ByteBuffer b = buffer.order() == ByteOrder.nativeOrder() ? buffer : buffer.duplicate().order(ByteOrder.nativeOrder());
        int end = offset + (length & ~7);
        int i = offset;
        while (i + 256 <= end) {
            long acc0 = 0;
            long acc1 = 0;
            long acc2 = 0;
            long acc3 = 0;
            for (int j = i; j < i + 256; j += 32) {
                acc0 |= b.getLong(j);
                acc1 |= b.getLong(j + 8);
                acc2 |= b.getLong(j + 16);
                acc3 |= b.getLong(j + 24);
            }
            if ((acc0 | acc1 | acc2 | acc3) != 0) {
                return false;
            }
            i += 256;
        }
        for (; i < end; i += 8) {
            if (b.getLong(i) != 0) {
                return false;
            }
        }
        for (i = end; i < offset + length; i++) {
            if (b.get(i) != 0) {
                return false;
            }
        }
        return true;
    }
}
