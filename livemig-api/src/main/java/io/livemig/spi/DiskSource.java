package io.livemig.spi;

import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * One disk of the source VM, as the migration reads it: a raw image file, a volume, a VMM's block
 * backend. The engine copies it in blocks of {@link DiskDescriptor#blockSizeBytes()} while the
 * guest keeps using it, and re-sends the blocks its {@link BlockTracker} reports written.
 *
 * <p>A VM without disks returns none from {@link MigratableVm#disks()}; a disk without a tracker
 * can be migrated only while the VM is paused (cold), and the engine refuses a live strategy for
 * it rather than copy a disk it cannot keep consistent.
 *
 * <p><b>Threading.</b> {@link #readBlocks} is called by one engine thread while the guest reads
 * and writes the disk; it must return the blocks as they were at some instant during the call,
 * each block whole (never half old, half new). The other methods are called by the engine
 * thread.
 */
public interface DiskSource {

    /** {@return the disk's id, size and block size, as sent to the destination; the same every time} */
    DiskDescriptor descriptor();

    /**
     * Reads {@code blockCount} contiguous blocks into {@code destination} from its position,
     * which advances by {@code blockCount * blockSizeBytes}.
     *
     * @param firstBlock  the first block
     * @param blockCount  how many blocks, at least 1
     * @param destination room for the blocks
     * @throws IndexOutOfBoundsException if the blocks are not all on the disk
     * @throws java.nio.BufferOverflowException if {@code destination} has too little room
     * @throws VmOperationException if the backend fails to read
     */
    void readBlocks(long firstBlock, int blockCount, ByteBuffer destination);

    /**
     * Optional capability: empty when this disk cannot track writes; then only a paused VM's disk
     * can be copied consistently, and the engine refuses a live strategy for it. The default is
     * empty.
     *
     * @return the disk's block-wise change tracking, or empty
     */
    default Optional<BlockTracker> tracker() {
        return Optional.empty();
    }

    /**
     * Optional capability: empty when this disk cannot mirror its writes synchronously; it is then
     * copied in the background mode only. The default is empty.
     *
     * @return synchronous mirroring of this disk's writes, for the write-blocking copy mode, or empty
     */
    default Optional<WriteMirror> writeMirror() {
        return Optional.empty();
    }

    /**
     * Waits until every request the guest submitted to this disk so far has completed, its data
     * in the backend. The engine calls it once the vCPUs are paused and before it collects the
     * last written blocks and saves device state, so that no write is in flight at the switchover.
     * A backend that completes requests synchronously returns at once.
     *
     * @throws VmOperationException if a request failed or did not complete
     */
    void drain();
}
