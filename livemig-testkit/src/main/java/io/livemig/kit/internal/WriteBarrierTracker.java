package io.livemig.kit.internal;

import io.livemig.spi.DirtyTracker;
import io.livemig.spi.PageSet;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The in-memory kit's dirty tracker: every guest write calls {@link #markDirty(long)} after it
 * stores its bytes (the "write barrier"), which sets a bit in an atomic bitmap while tracking is
 * on. {@link #collect()} swaps each word with zero, so a write that lands during a collect is
 * either in this result or in the next one, never lost.
 *
 * <p>Thread-safe: the workload thread marks while the engine collects.
 */
public final class WriteBarrierTracker implements DirtyTracker {

    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);

    private final long pageSpan;
    /** The bitmap; every access goes through {@link #WORDS} (atomic or volatile). */
    private final long[] bits;
    private volatile boolean tracking;

    /** @param pageSpan the exclusive upper bound of page numbers */
    public WriteBarrierTracker(long pageSpan) {
        this.pageSpan = pageSpan;
        this.bits = new long[(int) ((pageSpan + 63) >>> 6)];
    }

    /**
     * Records a write to {@code page}; a no-op while tracking is off. Call after the write.
     *
     * @param page the page written
     */
    public void markDirty(long page) {
        if (tracking) {
            // Always a volatile read-modify-write, even when the bit looks set: it orders the
            // guest's data store before the bit, so the collector that swaps this word sees the
            // data. Skipping it for "already set" bits could lose a write racing a collect.
            WORDS.getAndBitwiseOr(bits, (int) (page >>> 6), 1L << page);
        }
    }

    @Override
    public void start() {
        for (int i = 0; i < bits.length; i++) {
            WORDS.setVolatile(bits, i, 0L);
        }
        tracking = true;
    }

    @Override
    public PageSet collect() {
        if (!tracking) {
            throw new IllegalStateException("dirty tracking is not started");
        }
        PageSet set = new PageSet(pageSpan);
        for (int i = 0; i < bits.length; i++) {
            // A plain read may be stale, but a word that looks clear and is not will be seen by
            // the next collect: nothing is lost, and clean words cost no atomic operation.
            if ((long) WORDS.getOpaque(bits, i) != 0) {
                set.orWord(i, (long) WORDS.getAndSet(bits, i, 0L));
            }
        }
        return set;
    }

    @Override
    public void redirty(PageSet pages) {
        if (!tracking) {
            throw new IllegalStateException("dirty tracking is not started");
        }
        if (pages.pageSpan() != pageSpan) {
            throw new IllegalArgumentException("page span " + pages.pageSpan() + " differs from " + pageSpan);
        }
        for (int i = 0; i < pages.wordCount(); i++) {
            long word = pages.word(i);
            if (word != 0) {
                WORDS.getAndBitwiseOr(bits, i, word);
            }
        }
    }

    @Override
    public void stop() {
        tracking = false;
    }

    /** @return whether tracking is on */
    public boolean isTracking() {
        return tracking;
    }
}
