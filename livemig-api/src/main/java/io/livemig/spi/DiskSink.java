package io.livemig.spi;

import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * One disk of a migration target, which the receiving engine writes block by block: a new image,
 * or an existing one (a replica left by an earlier migration or a nightly copy) of which only the
 * blocks that differ are rewritten.
 *
 * <p><b>Replicas.</b> A sink may hold an older copy of the source's disk. If it was left by a sync
 * with livemig, it knows the generation of that sync ({@link #replicaGeneration()}); the engine
 * then sends only the blocks the source's change log has recorded since that generation. If not,
 * the engine compares a digest of every block and sends the blocks that differ. Before it writes
 * the first block of a sync, the engine calls {@link #beginReplicaOf} with the generation the
 * source now pairs with this copy; the sink records it durably first, so that a sync cut short
 * (the receiver killed, the link lost) is resumed from where it stopped.
 *
 * <p><b>Threading.</b> Called by one engine thread at a time, while the target VM is not yet
 * running on the disk.
 */
public interface DiskSink {

    /** {@return the disk's id, size and block size; the same as the source disk's} */
    DiskDescriptor descriptor();

    /**
     * Reads {@code blockCount} contiguous blocks into {@code destination}, as
     * {@link DiskSource#readBlocks}: the engine digests a replica's blocks with it, and verifies.
     *
     * @param firstBlock the first block to read
     * @param blockCount how many contiguous blocks to read
     * @param destination receives the blocks from its position, which advances
     * @throws IndexOutOfBoundsException if the blocks are not all on the disk
     * @throws VmOperationException if the backend fails to read
     */
    void readBlocks(long firstBlock, int blockCount, ByteBuffer destination);

    /**
     * Writes {@code blockCount} contiguous blocks from {@code source}'s position to its limit,
     * which must be exactly {@code blockCount * blockSizeBytes} bytes; the position advances.
     * The engine has checked the blocks' range and digest before the call.
     *
     * @param firstBlock the first block to write
     * @param blockCount how many contiguous blocks to write
     * @param source the blocks' bytes, from its position to its limit
     * @throws IndexOutOfBoundsException if the blocks are not all on the disk
     * @throws IllegalArgumentException  if {@code source} does not hold exactly the blocks
     * @throws VmOperationException      if the backend fails to write
     */
    void writeBlocks(long firstBlock, int blockCount, ByteBuffer source);

    /**
     * Makes every block written so far durable (fdatasync for a file). The engine confirms blocks
     * to the source only after this returns, and the source clears them from its change log only
     * then.
     *
     * @throws VmOperationException if the backend fails to flush
     */
    void flush();

    /**
     * Whether every block of this disk is known to read as zero without reading it: a disk created
     * for this migration. The engine then neither digests it nor sends zero blocks. The default,
     * false, is correct for every disk, only slower for a new one (its blocks are digested and
     * compared).
     *
     * @return true only if no block was ever written
     */
    default boolean startsEmpty() {
        return false;
    }

    /**
     * Optional capability: empty when this disk cannot serve the guest before every block arrived;
     * post-copy then sends the disk's last blocks in the downtime instead of after the resume. The
     * default is empty.
     *
     * @return demand fetching of blocks, or empty
     */
    default Optional<BlockDemand> demand() {
        return Optional.empty();
    }

    /**
     * {@return the generation of the source change log this disk is a replica of, if it is one; a
     * new or unknown disk has none}
     */
    Optional<String> replicaGeneration();

    /**
     * Records, durably, that from now on this disk is the replica of the source change log of
     * {@code generation}: the blocks the source's log has clear are (or are about to be) equal
     * here. Called before the first block of a sync is written.
     *
     * @param generation the source log's generation, 1 to 64 printable ASCII characters
     * @throws IllegalArgumentException if the generation is malformed
     * @throws VmOperationException     if it cannot be recorded
     */
    void beginReplicaOf(String generation);
}
