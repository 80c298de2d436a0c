/**
 * The source side of a migration: {@link io.livemig.engine.internal.source.SourceMigration} runs
 * it and owns the parts (the state and timestamps, the link to the destination, the page sender
 * and its encoder threads, the switchover, post-copy's push, verification, the recorder that
 * yields the report). Not exported.
 */
package io.livemig.engine.internal.source;
