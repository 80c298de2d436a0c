package io.livemig.spi;

import java.nio.ByteBuffer;

/**
 * The source VM's guest-physical memory, as the engines read it.
 *
 * <p><b>Threading.</b> Implementations must allow concurrent {@link #readPages} calls from
 * several threads (parallel encoders). The guest may be running and writing while pages are
 * read: a page read while it changes may be torn, and that is fine, because the write also
 * marks the page dirty and the engine sends it again. A provider must therefore set the dirty
 * bit <em>after</em> (or atomically with) the write it records.
 *
 * <p><b>Ownership.</b> The source belongs to its {@link MigratableVm}; it is valid until the
 * VM is closed.
 */
public interface MemorySource {

    /** @return the memory layout: page size and RAM regions; constant for the VM's lifetime */
    MemoryLayout layout();

    /**
     * Copies the pages {@code [firstPage, firstPage + pageCount)} into {@code destination},
     * starting at its position, and advances the position by {@code pageCount * pageSizeBytes}.
     * This is the only copy on the send path: engines pass their wire buffer here.
     *
     * @param firstPage   the first page frame number; the whole run must lie in one region
     * @param pageCount   the number of pages, at least 1
     * @param destination a buffer with at least {@code pageCount * pageSizeBytes} bytes remaining
     * @throws IndexOutOfBoundsException if the run is not inside one region of {@link #layout()}
     * @throws java.nio.BufferOverflowException if {@code destination} has too little room
     */
    void readPages(long firstPage, int pageCount, ByteBuffer destination);
}
