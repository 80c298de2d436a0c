package io.livemig.engine.internal.destination;

import io.livemig.engine.internal.wire.Wire;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.BlockingDeque;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Receive buffers of the default frame limit, made ahead of need: a destination's link takes a
 * spare when a source is admitted instead of allocating 16 MiB of direct memory then (9-80 ms on
 * a virtualised host, where zeroing touches every page), between the source's HELLO and its
 * SETUP, or for each data connection. {@link #prepareInBackground()} makes one on a daemon thread
 * while a destination waits for a source, and a migration's links give theirs back when it ends
 * ({@link #giveBack}): the next migration in this JVM with as many connections (after a
 * rehearsal, the real one) allocates none.
 *
 * <p>At most {@value #MAX_SPARES} spares are kept (80 MiB of direct memory), enough for a
 * migration with four data connections; the JVM keeps them for its life, as it keeps one from its
 * first destination on.
 *
 * <p>Thread-safe.
 */
final class ReceiveBuffers {

    /** The spares kept at most: the main link's and four data connections'. */
    static final int MAX_SPARES = 5;

    /** The spares, the last given back first; one more than the bound is dropped. */
    private static final BlockingDeque<ByteBuffer> SPARES = new LinkedBlockingDeque<>(MAX_SPARES);
    private static final AtomicReference<Thread> MAKING = new AtomicReference<>();

    private ReceiveBuffers() {
    }

    /** Makes a spare buffer on a daemon thread, unless one is there or being made. Returns at once. */
    static void prepareInBackground() {
        if (!SPARES.isEmpty()) {
            return;
        }
        Thread maker = Thread.ofPlatform().daemon().name("livemig-receive-buffer").unstarted(() -> {
            SPARES.offerFirst(allocate(Wire.DEFAULT_MAX_FRAME_BYTES));
            MAKING.set(null);
        });
        if (MAKING.compareAndSet(null, maker)) {
            maker.start();
        }
    }

    /**
     * Takes a spare buffer, waiting for the one being made if it will hold {@code bytes}: the
     * rest of that allocation is never slower than a second one beside it, which on two CPUs took
     * 8-54 ms where a source connected right after its destination began to wait (the demo).
     *
     * @param bytes the capacity needed
     * @return a spare buffer if one holds {@code bytes} (cleared), else a new one
     */
    static ByteBuffer take(int bytes) {
        Thread maker = MAKING.get();
        if (maker != null && bytes <= Wire.DEFAULT_MAX_FRAME_BYTES) {
            try {
                maker.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt(); // the caller sees it at its next wait
            }
        }
        ByteBuffer spare = SPARES.pollFirst();
        if (spare == null) {
            return allocate(bytes);
        }
        if (spare.capacity() < bytes) {
            SPARES.offerFirst(spare);
            return allocate(bytes);
        }
        return spare.clear();
    }

    /**
     * Keeps a receive buffer its link no longer uses as a spare, unless it is smaller than the
     * default frame limit or {@value #MAX_SPARES} are kept already. Frames read into it before are
     * views nobody holds any more; the next link overwrites what they held.
     *
     * @param buffer a buffer from {@link #take}, never used again by its link
     */
    static void giveBack(ByteBuffer buffer) {
        if (buffer.capacity() >= Wire.DEFAULT_MAX_FRAME_BYTES) {
            SPARES.offerFirst(buffer);
        }
    }

    /** @return the spares kept now */
    static int spares() {
        return SPARES.size();
    }

    private static ByteBuffer allocate(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.BIG_ENDIAN);
    }
}
