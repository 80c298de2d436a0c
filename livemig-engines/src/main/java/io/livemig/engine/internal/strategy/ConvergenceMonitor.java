package io.livemig.engine.internal.strategy;

/**
 * Decides when pre-copy has stopped converging: for {@code stallRounds} consecutive rounds
 * either the guest dirtied more pages than the round sent (by over 5 %), or the bytes still
 * dirty failed to reach a new low (by at least 5 %). (Xen stops when a round sends more than the previous one at
 * full rate; QEMU's auto-converge triggers when dirtied bytes exceed half the sent bytes; KubeVirt
 * watches for stalls at iteration boundaries. This combines the first and the last.)
 */
final class ConvergenceMonitor {

    private final int stallRounds;
    private long lowestRemaining = Long.MAX_VALUE;
    private int roundsWithoutProgress;
    private int fastDirtyingRounds;

    ConvergenceMonitor(int stallRounds) {
        this.stallRounds = stallRounds;
    }

    /**
     * Feeds one round's result.
     *
     * @return whether the migration has now stalled for {@code stallRounds} rounds in a row
     */
    boolean stalled(long remainingBytes, long dirtyPages, long pagesSent) {
        // A new low must beat the old one by 5 %: a remainder that creeps down by a few pages per
        // round (a guest dirtying about as fast as the link) is not progress.
        boolean newLow = remainingBytes < lowestRemaining - lowestRemaining / 20;
        if (newLow) {
            lowestRemaining = remainingBytes;
        }
        // Pages against pages, in the same round: with deltas or compression a page costs far
        // less on the wire than in the guest, so dirtied bytes against wire bytes would call a
        // converging migration stalled. More than 5 % over: round lengths adapt, so a guest
        // dirtying about as fast as pages go out re-dirties about what a round sent.
        boolean outpaced = dirtyPages > pagesSent + pagesSent / 20;
        if (newLow && !outpaced) {
            roundsWithoutProgress = 0;
        } else {
            roundsWithoutProgress++;
        }
        return roundsWithoutProgress >= stallRounds;
    }

    /**
     * QEMU's rule for stepping up a throttle already in force: the guest dirtied more than half
     * the pages the round sent ({@code throttle-trigger-threshold} 50 %), twice in a row. A
     * throttle that only creeps up when the remainder stops improving takes rounds to bite on a
     * guest that dirties several times faster than the link.
     *
     * @return whether this is the second such round in a row (the count then starts again)
     */
    boolean dirtyingFast(long dirtyPages, long pagesSent) {
        if (dirtyPages * 2 > pagesSent) {
            if (++fastDirtyingRounds >= 2) {
                fastDirtyingRounds = 0;
                return true;
            }
        } else {
            fastDirtyingRounds = 0;
        }
        return false;
    }

    /** Starts counting afresh, after the ladder acted (the lowest remainder is kept). */
    void reset() {
        roundsWithoutProgress = 0;
        fastDirtyingRounds = 0;
    }
}
