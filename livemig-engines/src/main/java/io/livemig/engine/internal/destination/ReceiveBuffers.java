package io.livemig.engine.internal.destination;

import io.livemig.engine.internal.wire.Wire;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One receive buffer of the default frame limit, made ahead of need: a destination's link takes
 * it when a source is admitted instead of allocating 16 MiB of direct memory then (9-80 ms on a
 * virtualised host, where zeroing touches every page), between the source's HELLO and its SETUP.
 * {@link #prepareInBackground()} makes the next one on a daemon thread while a destination
 * waits for a source, and a migration's main link gives its buffer back when it ends
 * ({@link #giveBack}).
 *
 * <p>Thread-safe.
 */
final class ReceiveBuffers {

    private static final AtomicReference<ByteBuffer> SPARE = new AtomicReference<>();
    private static final AtomicReference<Thread> MAKING = new AtomicReference<>();

    private ReceiveBuffers() {
    }

    /** Makes a spare buffer on a daemon thread, unless one is there or being made. Returns at once. */
    static void prepareInBackground() {
        if (SPARE.get() != null) {
            return;
        }
        Thread maker = Thread.ofPlatform().daemon().name("livemig-receive-buffer").unstarted(() -> {
            SPARE.compareAndSet(null, allocate(Wire.DEFAULT_MAX_FRAME_BYTES));
            MAKING.set(null);
        });
        if (MAKING.compareAndSet(null, maker)) {
            maker.start();
        }
    }

    /**
     * Takes the spare buffer, waiting for the one being made if it will hold {@code bytes}: the
     * rest of that allocation is never slower than a second one beside it, which on two CPUs took
     * 8-54 ms where a source connected right after its destination began to wait (the demo).
     *
     * @param bytes the capacity needed
     * @return the spare buffer if it holds {@code bytes} (cleared), else a new one
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
        ByteBuffer spare = SPARE.getAndSet(null);
        if (spare != null && spare.capacity() >= bytes) {
            return spare.clear();
        }
        return allocate(bytes);
    }

    /**
     * Keeps a receive buffer its link no longer uses as the spare, if none is there: the next
     * destination in this JVM (after a rehearsal, the real one) then allocates nothing. Frames read
     * into it before are views nobody holds any more; the next link overwrites what they held.
     *
     * @param buffer a buffer from {@link #take}, never used again by its link
     */
    static void giveBack(ByteBuffer buffer) {
        if (buffer.capacity() >= Wire.DEFAULT_MAX_FRAME_BYTES) {
            SPARE.compareAndSet(null, buffer);
        }
    }

    private static ByteBuffer allocate(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.BIG_ENDIAN);
    }
}
