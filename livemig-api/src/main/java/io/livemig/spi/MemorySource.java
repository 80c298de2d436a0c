package io.livemig.spi;

import java.nio.ByteBuffer;
import java.util.Optional;

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

    /** {@return the memory layout: page size and RAM regions; constant for the VM's lifetime} */
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

    /**
     * Optional capability: the pages that may hold data, found without reading or allocating
     * any page. Every page <em>not</em> in the returned set reads as zero at the time of the call
     * (the guest never wrote it, or it was discarded), and the provider knows that without
     * touching it: the holes of a sparse memory file ({@code SEEK_DATA}/{@code SEEK_HOLE}), pages
     * never faulted in. Engines neither read nor send such pages and count them as zero pages in
     * verification, so a VM's migration costs what its guest touched, not its size.
     *
     * <p>The answer is a snapshot: a page the guest writes afterwards is populated from then on,
     * and the dirty tracker reports the write as for any other page. A provider may include
     * pages that are in fact zero (the answer may be coarse), never exclude one that is not.
     *
     * <p>The default is empty: the provider cannot tell, and every page is read. Thread-safe.
     *
     * @return a new set over the layout's {@linkplain MemoryLayout#pageSpan() page span} of the
     *         pages that may hold data (the caller owns it), or empty if the provider cannot tell
     */
    default Optional<PageSet> populatedPages() {
        return Optional.empty();
    }
}
