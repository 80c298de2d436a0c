package io.livemig.kit.internal;

import io.livemig.spi.BlockTracker;
import io.livemig.spi.PageSet;

import java.util.Objects;
import java.util.Optional;

/**
 * The bits behind an in-memory disk's {@link BlockTracker}, kept in memory: the live set, the
 * change log with its generation, and one more set the SPI does not show, the blocks written
 * since they were last reported.
 *
 * <ul>
 *   <li><b>live</b>: set by a write while tracking runs; {@link #collect()} takes and clears it,
 *       {@link #start()} clears it.</li>
 *   <li><b>log</b>: set by every write; {@link #pair} sets every bit; only {@link #confirm}
 *       clears bits; {@link #beginReplicaOf} clears it when the disk becomes the replica of
 *       another generation.</li>
 *   <li><b>unreported</b>: set by every write, cleared for the blocks a {@link #collect()},
 *       {@link #changedSince} or {@link #pair} reports. {@link #confirm} leaves the log bit of a
 *       block in it (or in the live set): that block was written after the read the
 *       confirmation is about, whether or not live tracking ran.</li>
 * </ul>
 * Every write sets both the log and the unreported bit, so the unreported set stays inside the log.
 *
 * <p>Thread-safe: every method is guarded by {@code this}. The disk holds the same lock while it
 * stores a block and records it, so that a copy of the disk sees its blocks and bits as one.
 */
public final class BlockChangeLog {

    /** Longest generation the SPI allows. */
    public static final int MAX_GENERATION_LENGTH = 64;

    private final long blockCount;
    private final PageSet live;
    private final PageSet log;
    private final PageSet unreported;
    private boolean tracking;
    private String generation;

    /** @param blockCount the disk's blocks: the span of every set */
    public BlockChangeLog(long blockCount) {
        this(blockCount, new PageSet(blockCount), null);
    }

    private BlockChangeLog(long blockCount, PageSet log, String generation) {
        this.blockCount = blockCount;
        this.live = new PageSet(blockCount);
        this.log = log;
        this.unreported = new PageSet(blockCount);
        this.generation = generation;
    }

    /**
     * @return a new log with this one's generation and change log (its blocks not yet reported
     *         to anyone), no live set and not tracking
     */
    public synchronized BlockChangeLog copy() {
        BlockChangeLog copy = new BlockChangeLog(blockCount, log.copy(), generation);
        copy.unreported.addAll(log);
        return copy;
    }

    /**
     * Records a guest's (or a user's) write of {@code block}, after its bytes are stored.
     *
     * @param block a block of the disk
     */
    public synchronized void recordWrite(long block) {
        log.add(block);
        unreported.add(block);
        if (tracking) {
            live.add(block);
        }
    }

    /**
     * Records a write that the disk mirrored (the write-blocking copy mode): in the change log only,
     * since it travels as it happens; it leaves the log when the engine confirms it.
     */
    public synchronized void recordMirroredWrite(long block) {
        log.add(block);
    }

    /** @see BlockTracker#start() */
    public synchronized void start() {
        live.clear();
        tracking = true;
    }

    /** @see BlockTracker#collect() */
    public synchronized PageSet collect() {
        requireTracking();
        PageSet written = live.copy();
        live.clear();
        unreported.removeAll(written);
        return written;
    }

    /** @see BlockTracker#redirty(PageSet) */
    public synchronized void redirty(PageSet blocks) {
        requireTracking();
        checkSpan(blocks);
        live.addAll(blocks);
        unreported.addAll(blocks);
    }

    /** @see BlockTracker#stop() */
    public synchronized void stop() {
        tracking = false;
    }

    /** @return whether live tracking runs */
    public synchronized boolean isTracking() {
        return tracking;
    }

    /** @see BlockTracker#generation() */
    public synchronized Optional<String> generation() {
        return Optional.ofNullable(generation);
    }

    /** @see BlockTracker#changedSince(String) */
    public synchronized Optional<PageSet> changedSince(String replicaGeneration) {
        Objects.requireNonNull(replicaGeneration, "generation");
        if (!replicaGeneration.equals(generation)) {
            return Optional.empty();
        }
        unreported.clear();
        return Optional.of(log.copy());
    }

    /** @see BlockTracker#pair(String) */
    public synchronized void pair(String newGeneration) {
        checkGeneration(newGeneration);
        generation = newGeneration;
        log.addRange(0, blockCount);
        unreported.clear();
    }

    /**
     * A completed sync in one step, as if {@link #pair} and then a {@link #confirm} of every
     * block with no write between: the log is paired with {@code newGeneration} and empty.
     *
     * @param newGeneration the generation
     * @throws IllegalArgumentException if malformed
     */
    public synchronized void markSynced(String newGeneration) {
        checkGeneration(newGeneration);
        generation = newGeneration;
        log.clear();
        unreported.clear();
    }

    /** @see BlockTracker#confirm(PageSet) */
    public synchronized void confirm(PageSet blocks) {
        checkSpan(blocks);
        PageSet clean = blocks.copy();
        clean.removeAll(unreported);
        if (tracking) {
            clean.removeAll(live);
        }
        log.removeAll(clean);
    }

    /**
     * The sink's side of {@link io.livemig.spi.DiskSink#beginReplicaOf}: from now on the disk is
     * the replica of {@code replicaGeneration}. Under another generation than before, the log is
     * cleared (nothing this disk recorded relates to the new pairing); under the same one, a sync
     * cut short is being resumed and the log is kept.
     *
     * @param replicaGeneration the source log's generation
     * @throws IllegalArgumentException if malformed
     */
    public synchronized void beginReplicaOf(String replicaGeneration) {
        checkGeneration(replicaGeneration);
        if (!replicaGeneration.equals(generation)) {
            generation = replicaGeneration;
            log.clear();
            unreported.clear();
        }
    }

    /** @return a copy of the change log (for tests), whatever its generation */
    public synchronized PageSet changeLog() {
        return log.copy();
    }

    private void requireTracking() {
        if (!tracking) {
            throw new IllegalStateException("block tracking is not started");
        }
    }

    private void checkSpan(PageSet blocks) {
        if (blocks.pageSpan() != blockCount) {
            throw new IllegalArgumentException("a set of span " + blocks.pageSpan() + " for a disk of "
                    + blockCount + " blocks");
        }
    }

    /**
     * @param generation a generation to check
     * @throws IllegalArgumentException unless it is 1 to 64 printable ASCII characters (0x20 to 0x7E)
     */
    public static void checkGeneration(String generation) {
        Objects.requireNonNull(generation, "generation");
        boolean printable = !generation.isEmpty() && generation.length() <= MAX_GENERATION_LENGTH;
        for (int i = 0; printable && i < generation.length(); i++) {
            char c = generation.charAt(i);
            printable = c >= 0x20 && c <= 0x7E;
        }
        if (!printable) {
            throw new IllegalArgumentException("a generation must be 1 to " + MAX_GENERATION_LENGTH
                    + " printable ASCII characters, was '" + generation + "' (" + generation.length() + " chars)");
        }
    }
}
