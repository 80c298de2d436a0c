package io.livemig.spi;

/**
 * Tracks which guest pages are written: KVM's dirty log, Xen's log-dirty mode and the in-memory
 * kit's write barrier all fit this interface.
 *
 * <p>A VM whose provider cannot track writes returns no tracker at all
 * ({@link MigratableVm#dirtyTracker()} is empty); engines then use strategies that need none
 * (cold, post-copy) rather than pretend.
 *
 * <p><b>Contract.</b> Between {@link #start()} and {@link #stop()}, every page written by the
 * guest, or by the VMM on the guest's behalf (device emulation, DMA), appears in the result of
 * some later {@link #collect()}. A page may be reported when it was not written (false
 * positives cost bandwidth); a written page must never be missed.
 *
 * <p><b>Threading.</b> Called by one engine thread at a time; the guest keeps running.
 */
public interface DirtyTracker {

    /**
     * Starts tracking with every page clean. Idempotent only in the sense that calling it
     * while tracking restarts it.
     *
     * @throws TrackingException if the hypervisor refuses
     */
    void start();

    /**
     * Fetch-and-clear: returns the pages written since {@link #start()} or the previous
     * {@code collect()}, and re-arms tracking for them.
     *
     * @return a new set with span {@code layout().pageSpan()}, owned by the caller
     * @throws IllegalStateException if tracking is not started
     * @throws TrackingException if the hypervisor fails
     */
    PageSet collect();

    /**
     * Puts pages back into the dirty set, as if the guest had written them again: the engine
     * calls this when pages it collected could not be sent (a failed or cancelled round), so
     * that no dirty page is ever lost.
     *
     * @param pages the pages to mark dirty again
     * @throws IllegalStateException if tracking is not started
     */
    void redirty(PageSet pages);

    /** Stops tracking and releases what {@link #start()} set up. Safe to call twice. */
    void stop();

    /** Thrown when the hypervisor's dirty log cannot be started, read or cleared. */
    final class TrackingException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        /**
         * Creates a {@code TrackingException}.
         *
         * @param message what failed, including the native error where there is one
         * @param cause   the underlying failure, or null
         */
        public TrackingException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
