/**
 * The consumer API: {@link io.livemig.api.MigrationOptions} to configure a migration,
 * {@link io.livemig.api.MigrationEvent} to follow it, {@link io.livemig.api.MigrationReport}
 * for its outcome and {@link io.livemig.api.MigrationException} for what went wrong,
 * including whether the source VM is still running.
 *
 * <p>The entry point that runs a migration lives in the engines module
 * ({@code io.livemig.engine.LiveMigration}).
 */
package io.livemig.api;
