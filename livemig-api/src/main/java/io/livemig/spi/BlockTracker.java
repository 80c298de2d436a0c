package io.livemig.spi;

import java.util.Optional;

/**
 * Block-wise change tracking of one disk, as dsync does it (Knauth and Fetzer, LISA'13): one bit
 * per block, set on every write. It keeps two sets.
 *
 * <ul>
 *   <li>The <b>live set</b>: blocks written since {@link #start()} or the last {@link #collect()},
 *       which takes and clears it in one step, like {@link DirtyTracker#collect()} for pages.</li>
 *   <li>The <b>change log</b>, persistent where the backend can keep it (a sidecar file next to an
 *       image): the blocks that may differ from the replica this log is paired with, named by a
 *       generation. A write sets its bit; only {@link #confirm} clears one, once the destination
 *       has the block durably. A sync cut short therefore loses nothing: the next sync with the
 *       same replica sends every block not confirmed.</li>
 * </ul>
 *
 * <p>Writes made through the backend by anyone (the guest, the VMM) are tracked; a write made to
 * the image behind the backend's back is not, which is why a replica must not be written by
 * anything but a sync.
 *
 * <p><b>Threading.</b> The guest's writes set bits from any thread; the methods here are called by
 * one engine thread at a time.
 */
public interface BlockTracker {

    /**
     * Starts live tracking with the live set empty (restarts it if it runs). The change log is not
     * touched.
     *
     * @throws DirtyTracker.TrackingException if tracking cannot start
     */
    void start();

    /**
     * Fetch-and-clear of the live set: the blocks written since {@link #start()} or the previous
     * collect. Their bits stay set in the change log until confirmed.
     *
     * @return a new set of block numbers with span {@link DiskDescriptor#blockCount()}, owned by
     *         the caller
     * @throws IllegalStateException if tracking is not started
     */
    PageSet collect();

    /**
     * Puts blocks back into the live set, as if written again: for blocks collected but not sent.
     *
     * @param blocks the blocks to mark written again; not changed by the call
     * @throws IllegalStateException if tracking is not started
     */
    void redirty(PageSet blocks);

    /** Stops live tracking; the change log keeps recording writes. Safe to call twice. */
    void stop();

    /**
     * {@return the generation the change log is paired with, or empty if it has none (a new disk,
     * or a backend that keeps no log)}
     */
    Optional<String> generation();

    /**
     * {@return a copy of the change log (the blocks that may differ from that replica) if the log
     * is paired with {@code generation}; empty otherwise, and then every block must be
     * compared or sent}
     *
     * @param generation the generation a destination's replica holds
     */
    Optional<PageSet> changedSince(String generation);

    /**
     * Pairs the change log with a new replica: the log becomes {@code generation} with every block
     * set (any block may differ from a replica that has not been compared yet), recorded durably
     * before this returns. The engine then clears blocks by {@link #confirm} as it finds them
     * equal or sends them.
     *
     * @param generation a fresh generation, 1 to 64 printable ASCII characters
     * @throws IllegalArgumentException if the generation is malformed
     * @throws VmOperationException     if the log cannot be written
     */
    void pair(String generation);

    /**
     * The destination durably holds {@code blocks} as they were read after the most recent
     * {@link #collect()}, {@link #changedSince} or {@link #pair} that reported them: their bits
     * are cleared from the change log, except for blocks written (live set) since. The caller
     * never confirms a block it has collected again since it read it.
     *
     * @param blocks block numbers, span {@link DiskDescriptor#blockCount()}
     * @throws VmOperationException if the log cannot be written
     */
    void confirm(PageSet blocks);
}
