package io.livemig.engine.internal;

import io.livemig.api.MigrationException;

/**
 * Decides which pages go when, using the primitives of {@link SourceSession}. It returns with
 * the VM paused and every page whose final content the destination lacks sent; the runner then
 * commits the switchover and verifies.
 */
interface SourceStrategy {

    /** Runs the memory phase of the migration. */
    void run(SourceSession session) throws MigrationException;
}
