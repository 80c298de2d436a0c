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
         * @param ticket what {@link #written} returned for the write
         * @throws InterruptedException if the waiting thread is interrupted
         */
        void awaitSent(long ticket) throws InterruptedException;
    }

    /**
     * Starts mirroring to {@code listener}: from now on every write is handed to it.
     *
     * @param listener receives every write from now on
     * @throws IllegalStateException if mirroring already runs
     */
    void start(Listener listener);

    /** Stops mirroring; writes go to the live set again. Idempotent. */
    void stop();

    /**
     * The mirror a backend hands out, holding the engine's listener: the backend's write path asks
     * {@link #listener()} inside its write ordering (null: not mirrored, record the write in the live
     * set), hands the write to it, and once it released its locks calls {@link #awaitSent}. A write
     * that read null before {@link #start} returned sets its live bit, which the engine collects
     * after starting, so no write falls between the two. Thread-safe.
     */
    final class Slot implements WriteMirror {
        private final String what;
        private volatile Listener listener;

        /**
         * Creates a {@code Slot}.
         *
         * @param what the backend, for the error message of a second start
         */
        public Slot(String what) {
            this.what = what;
        }

        @Override
        public synchronized void start(Listener listener) {
            if (listener == null) {
                throw new NullPointerException("listener");
            }
            if (this.listener != null) {
                throw new IllegalStateException(what + " is mirrored already");
            }
            this.listener = listener;
        }

        @Override
        public synchronized void stop() {
            listener = null;
        }

        /** {@return the listener while mirroring runs, else null} */
        public Listener listener() {
            return listener;
        }

        /**
         * Waits until {@code listener} sent the write of {@code ticket}: the write-blocking. An
         * interrupt ends the wait and stays set on the thread (the write has taken effect anyway).
         *
         * @param ticket what the listener's {@link Listener#written} returned
         * @param listener the listener {@link #listener()} returned for the write
         */
        public static void awaitSent(Listener listener, long ticket) {
            try {
                listener.awaitSent(ticket);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
