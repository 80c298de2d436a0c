package io.livemig.spi;

import java.nio.ByteBuffer;

/**
 * The destination VM's guest-physical memory, as the receiving engine writes it.
 *
 * <p><b>Contract.</b> A new target's memory is all zero: pages that the source never sends
 * (zero pages skipped by pre-copy) stay zero. Writes happen while the target's vCPUs are
 * paused (cold and pre-copy), so no guest access races them.
 *
 * <p><b>Threading.</b> Calls for disjoint runs may come from several threads at once; calls
 * for the same page come from one thread at a time, in the order the source sent them.
 *
 * <p><b>Ownership.</b> The sink belongs to its {@link MigrationTarget}; it is valid until the
 * target is closed.
 */
public interface MemorySink {

    /** {@return the memory layout the target was created with} */
    MemoryLayout layout();

    /**
     * Copies {@code pageCount} whole pages from {@code source} (from its position, which
     * advances) into guest memory at {@code firstPage}.
     *
     * @param firstPage the first page frame number; the whole run must lie in one region
     * @param pageCount the number of pages, at least 1
     * @param source    a buffer with at least {@code pageCount * pageSizeBytes} bytes remaining
     * @throws IndexOutOfBoundsException if the run is not inside one region of {@link #layout()}
     * @throws java.nio.BufferUnderflowException if {@code source} holds too few bytes
     */
    void writePages(long firstPage, int pageCount, ByteBuffer source);

    /**
     * Sets the pages {@code [firstPage, firstPage + pageCount)} to zero. A provider whose memory
     * is known to be zero there may skip the write, but must not return before a later
     * {@link #readPages} would see zeros.
     *
     * @param firstPage the run's first page
     * @param pageCount the run's length in pages
     * @throws IndexOutOfBoundsException if the run is not inside one region of {@link #layout()}
     */
    void zeroPages(long firstPage, int pageCount);

    /**
     * Reads pages back, with the semantics of {@link MemorySource#readPages}. The engine uses
     * it to digest what actually landed in guest memory, for verification.
     *
     * @param firstPage the run's first page
     * @param pageCount the run's length in pages
     * @param destination receives the pages' bytes from its position, which advances
     * @throws IndexOutOfBoundsException if the run is not inside one region of {@link #layout()}
     */
    void readPages(long firstPage, int pageCount, ByteBuffer destination);
}
