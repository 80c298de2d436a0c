package io.livemig.engine.internal;

import io.livemig.api.MigrationException;

/**
 * Decides which pages go when, using the primitives of {@link SourceSession}. It returns with
 * the VM paused and SWITCHOVER sent, and either every page the destination lacks sent (the
 * runner then commits and verifies) or the set of pages still to send, which the runner hands to
 * the post-copy phase.
 */
interface SourceStrategy {

    /**
     * Runs the memory phase of the migration.
     *
     * @return null if the destination has every page, else the pages it lacks (post-copy follows)
     */
    io.livemig.spi.PageSet run(SourceSession session) throws MigrationException;
}
