package io.livemig.engine.internal.source;

import io.livemig.api.Prepaging;
import io.livemig.spi.PageSet;

/**
 * The order of post-copy's background push. {@link #next()} returns the next page to push that
 * is still in the to-send set (the caller removes pages from that set as they go, pushed or
 * pulled); {@link #onFault(long)} tells the order where the guest is touching memory now.
 * Not thread-safe: the engine thread owns it.
 */
abstract sealed class PushOrder permits PushOrder.Linear, PushOrder.Bubbling {

    /** The pages not sent yet; shared with the engine, which removes what it sends. */
    protected final PageSet unsent;

    PushOrder(PageSet unsent) {
        this.unsent = unsent;
    }

    static PushOrder of(Prepaging prepaging, PageSet unsent) {
        return switch (prepaging) {
            case LINEAR -> new Linear(unsent);
            case BUBBLING -> new Bubbling(unsent);
        };
    }

    /** @return the next page to push, or -1 when every page has been sent */
    abstract long next();

    /** A demand fault at {@code page}. */
    abstract void onFault(long page);

    /** From the lowest page up. Faults do not change the order (QEMU's plain push continues in place). */
    static final class Linear extends PushOrder {
        private long cursor;

        Linear(PageSet unsent) {
            super(unsent);
        }

        @Override
        long next() {
            long page = unsent.nextSetBit(cursor);
            if (page < 0) {
                page = unsent.nextSetBit(0);
            }
            cursor = page < 0 ? 0 : page + 1;
            return page;
        }

        @Override
        void onFault(long page) {
        }
    }

    /**
     * Hines et al.'s bubbling with multiple pivots: each pivot grows a bubble one page left and
     * one page right per step; an edge that meets a sent page jumps to the next unsent page in its
     * direction only within a short reach, else it stops. Pivots sit at the most recent faults
     * (at most {@link #MAX_PIVOTS}, oldest replaced first) plus a sticky pivot at page 0 that keeps
     * the push going when the guest does not fault. Pivots take turns, newest first.
     */
    static final class Bubbling extends PushOrder {
        /** Hines et al. found 7 recent pivots worked best. */
        static final int MAX_PIVOTS = 7;
        /** How far an edge skips over sent pages before it stops. */
        private static final long REACH = 64;

        private final long[] left = new long[MAX_PIVOTS + 1];
        private final long[] right = new long[MAX_PIVOTS + 1];
        private final boolean[] alive = new boolean[MAX_PIVOTS + 1];
        private int newest = -1;
        private int turn;
        private boolean leftTurn;
        private long stickyCursor;

        Bubbling(PageSet unsent) {
            super(unsent);
        }

        @Override
        void onFault(long page) {
            newest = (newest + 1) % MAX_PIVOTS;
            left[newest] = page - 1;
            right[newest] = page + 1;
            alive[newest] = true;
            turn = 0;
        }

        @Override
        long next() {
            // Fault pivots, newest first, alternating left and right edges.
            for (int tried = 0; tried < 2 * MAX_PIVOTS; tried++) {
                int slot = newest < 0 ? -1 : Math.floorMod(newest - turn / 2, MAX_PIVOTS);
                boolean goLeft = (turn & 1) == 1;
                turn = (turn + 1) % (2 * MAX_PIVOTS);
                if (slot < 0 || !alive[slot]) {
                    continue;
                }
                long page = goLeft ? stepLeft(slot) : stepRight(slot);
                if (page >= 0) {
                    return page;
                }
                if (left[slot] < 0 && right[slot] < 0) {
                    alive[slot] = false;
                }
            }
            // The sticky pivot at page 0: a forward sweep that never stalls.
            long page = unsent.nextSetBit(stickyCursor);
            if (page < 0) {
                page = unsent.nextSetBit(0);
            }
            stickyCursor = page < 0 ? 0 : page + 1;
            return page;
        }

        private long stepLeft(int slot) {
            long from = left[slot];
            for (long p = from; p >= 0 && p > from - REACH; p--) {
                if (unsent.contains(p)) {
                    left[slot] = p - 1;
                    return p;
                }
            }
            left[slot] = -1;
            return -1;
        }

        private long stepRight(int slot) {
            long from = right[slot];
            if (from < 0) {
                return -1;
            }
            long p = unsent.nextSetBit(from);
            if (p >= 0 && p < from + REACH) {
                right[slot] = p + 1;
                return p;
            }
            right[slot] = -1;
            return -1;
        }
    }
}
