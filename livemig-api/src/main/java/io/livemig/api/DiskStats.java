package io.livemig.api;

import java.util.List;
import java.util.Objects;

/**
 * What a migration did with one disk, from the source's point of view (the destination's report
 * counts the blocks it wrote).
 *
 * @param diskId         the disk's id
 * @param sync           how the destination's copy was brought up to date
 * @param blockSizeBytes the disk's block size in bytes
 * @param blocksSent     blocks sent with their content (zero runs excluded)
 * @param zeroBlocksSent blocks sent as zero runs, without content
 * @param blocksUnchanged blocks not sent because the destination already held them (a digest
 *                       matched, or a new disk's block was zero)
 * @param bytesOnWire    bytes of the disk's frames, headers included
 * @param blocksPerRound blocks sent (with content or as zeros) in each round, in order: the
 *                       bulk pass first, the last one during the pause
 */
public record DiskStats(String diskId, Sync sync, int blockSizeBytes, long blocksSent, long zeroBlocksSent,
                        long blocksUnchanged, long bytesOnWire, List<Long> blocksPerRound) {

    /** How a disk's copy at the destination was brought up to date. */
    public enum Sync {
        /** A new, empty disk: every non-zero block was sent. */
        NEW_DISK,
        /**
         * A replica of the source's change log: only the blocks logged since the replica's
         * generation were sent (dsync).
         */
        CHANGE_LOG,
        /** An existing copy of unknown age: every block was compared by digest, those that differ were sent. */
        DIGESTS
    }

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for negative counts; the round list is copied
     */
    public DiskStats {
        Objects.requireNonNull(diskId, "diskId");
        Objects.requireNonNull(sync, "sync");
        blocksPerRound = List.copyOf(blocksPerRound);
        if (blockSizeBytes <= 0 || blocksSent < 0 || zeroBlocksSent < 0 || blocksUnchanged < 0 || bytesOnWire < 0) {
            throw new IllegalArgumentException("disk statistics must not be negative");
        }
    }

    /** {@return bytes of block content sent, {@code blocksSent * blockSizeBytes}} */
    public long contentBytes() {
        return blocksSent * blockSizeBytes;
    }
}
