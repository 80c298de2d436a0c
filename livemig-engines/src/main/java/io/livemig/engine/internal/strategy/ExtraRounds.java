package io.livemig.engine.internal.strategy;

/**
 * Pre-copy's rule for rounds after the rest first fits the downtime limit, which the limit is a
 * ceiling for, not a target: one more round is still worth its time while rounds shrink the
 * dirty set fast, since each such round cuts the downtime by a third or more for the cost of one
 * short round. So the rounds go on while the last one left at most two thirds as many dirty
 * pages as it sent, there are more than {@value #SMALL_REST_PAGES} of them, and at most
 * {@value #MAX_ADDED} rounds were added so. Since each added round sends at most two thirds of
 * the one before, all of them together take at most about three times as long as the first one.
 * (A guest that dirties pages as fast as the rounds send them settles where each round leaves
 * about half of what it sent: halving as the bar stopped such guests at thousands of pages,
 * 20-40 ms of downtime on KVM.) {@link PrecopyRounds} applies it, and
 * {@link io.livemig.engine.MigrationAdvisor} predicts with it.
 *
 * <p>Stateless and thread-safe.
 */
public final class ExtraRounds {

    /** Dirty pages at or below which another round is not worth it: a stop-copy of them is ~1 ms. */
    public static final long SMALL_REST_PAGES = 256;
    /**
     * The most rounds added after the rest first fit the limit. Each must have cut the dirty set
     * by a third, so they end by themselves after a logarithm of it; this only bounds a guest
     * whose set keeps shrinking for longer.
     */
    public static final int MAX_ADDED = 16;

    private ExtraRounds() {
    }

    /**
     * @param restPages the pages dirty after the last round
     * @param sentPages the pages the last round sent
     * @param added     the rounds added so far under this rule
     * @return whether one more round is worth it (the caller also bounds rounds by its own limit)
     */
    public static boolean worthAnother(double restPages, double sentPages, int added) {
        return restPages > SMALL_REST_PAGES && restPages * 3 <= sentPages * 2 && added < MAX_ADDED;
    }
}
