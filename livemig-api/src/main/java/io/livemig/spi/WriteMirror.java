package io.livemig.spi;

import java.nio.ByteBuffer;

/**
 * Synchronous mirroring of a disk's writes, for the write-blocking copy mode (QEMU's "active"
 * mirror): once {@linkplain #start started}, every write that reaches the backend is handed to the
 * engine with the blocks it touched, whole, and the write completes to the guest only once the
 * engine let it go ({@link Listener#awaitSent}). A disk written faster than the link then slows to
 * the link's pace instead of never converging.
 *
 * <p>Mirrored writes still set their bits in the change log (a sync cut short resends them); they
 * are no longer put into the tracker's live set, since they travel as they happen.
 *
 * <p>A backend offers it through {@link DiskSource#writeMirror()}; one that cannot returns empty,
 * and the engine then copies that disk in the background mode only.
 */
public interface WriteMirror {

    /** Where mirrored writes go. Implemented by the engine. */
    interface Listener {
        /**
         * A write took effect. Called in the order the writes took effect (inside the backend's
         * write ordering, so it must not block).
         *
         * @param firstBlock the first block the write touched
         * @param blockCount how many blocks it touched
         * @param blocks     their content after the write, {@code blockCount} whole blocks
         *                   (position..limit); read during the call only
         * @return a ticket for {@link #awaitSent}
         */
        long written(long firstBlock, int blockCount, ByteBuffer blocks);

        /**
         * Waits until the write of {@code ticket} was sent. Called by the backend after
         * {@link #written}, outside its locks, before the write completes to the guest.
         *
         * @throws InterruptedException if the waiting thread is interrupted
         */
        void awaitSent(long ticket) throws InterruptedException;
    }

    /**
     * Starts mirroring to {@code listener}: from now on every write is handed to it.
     *
     * @throws IllegalStateException if mirroring already runs
     */
    void start(Listener listener);

    /** Stops mirroring; writes go to the live set again. Idempotent. */
    void stop();
}
