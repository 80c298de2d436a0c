/**
 * The engines' internals, not exported: what both sides share ({@link
 * io.livemig.engine.internal.MigrationCounters}, page digests, the codec choice, pacing, provider
 * discovery). The source side is in {@code source}, the destination side in {@code destination},
 * the strategies in {@code strategy} and the wire protocol in {@code wire}; docs/architecture.md
 * shows how they fit.
 */
package io.livemig.engine.internal;
