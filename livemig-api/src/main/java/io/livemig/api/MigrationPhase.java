package io.livemig.api;

/** The phases of a migration, in order; exceptions say in which one they happened. */
public enum MigrationPhase {
    /** Connecting and agreeing on version, layout and capabilities. */
    HANDSHAKE,
    /** Copying memory while the VM runs at the source (pre-copy rounds). */
    LIVE_COPY,
    /** The VM is paused at the source; the last pages and the state are moving. */
    STOP_COPY,
    /** The VM runs at the destination while pages still arrive (post-copy). */
    POST_COPY,
    /** The VM runs at the destination; digests are being compared. */
    VERIFY,
    /** Done. */
    DONE
}
