/**
 * The entry point: {@link io.livemig.engine.LiveMigration} runs a migration on the source
 * ({@code migrate}, {@code start}) and receives one on the destination ({@code receive}), and
 * finds hypervisor providers by URI scheme.
 */
package io.livemig.engine;
