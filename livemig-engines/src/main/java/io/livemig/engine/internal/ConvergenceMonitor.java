package io.livemig.engine.internal;

/**
 * Decides when pre-copy has stopped converging: for {@code stallRounds} consecutive rounds
 * either the guest dirtied memory at least as fast as the link carried it, or the bytes still
 * dirty failed to reach a new low (by at least 5 %). (Xen stops when a round sends more than the previous one at
 * full rate; QEMU's auto-converge triggers when dirtied bytes exceed half the sent bytes; KubeVirt
 * watches for stalls at iteration boundaries. This combines the first and the last.)
 */
final class ConvergenceMonitor {

    private final int stallRounds;
    private long lowestRemaining = Long.MAX_VALUE;
    private int roundsWithoutProgress;

    ConvergenceMonitor(int stallRounds) {
        this.stallRounds = stallRounds;
    }

    /**
     * Feeds one round's result.
     *
     * @return whether the migration has now stalled for {@code stallRounds} rounds in a row
     */
    boolean stalled(long remainingBytes, long dirtyBytesPerSecond, long transferBytesPerSecond) {
        // A new low must beat the old one by 5 %: a remainder that creeps down by a few pages per
        // round (a guest dirtying about as fast as the link) is not progress.
        boolean newLow = remainingBytes < lowestRemaining - lowestRemaining / 20;
        if (newLow) {
            lowestRemaining = remainingBytes;
        }
        boolean outpaced = transferBytesPerSecond > 0 && dirtyBytesPerSecond >= transferBytesPerSecond;
        if (newLow && !outpaced) {
            roundsWithoutProgress = 0;
        } else {
            roundsWithoutProgress++;
        }
        return roundsWithoutProgress >= stallRounds;
    }

    /** Starts counting afresh, after the ladder acted (the lowest remainder is kept). */
    void reset() {
        roundsWithoutProgress = 0;
    }
}
