/**
 * The destination side of a migration: {@link
 * io.livemig.engine.internal.destination.DestinationMigration} is the receive state machine of
 * docs/protocol.md section 5; the target's setup, the page applier, the state loader, the
 * verifier and the post-copy receiver do the work. Not exported.
 */
package io.livemig.engine.internal.destination;
