package io.livemig.api;

/** How a migration ended. */
public enum MigrationStatus {
    /** The VM runs at the destination. */
    COMPLETED,
    /** The migration was cancelled before switchover; the VM runs at the source. */
    CANCELLED,
    /** The migration failed; {@link MigrationException#sourceState()} says where the VM is. */
    FAILED
}
