package io.livemig.engine.internal.strategy;

import io.livemig.api.MigrationException;

/**
 * Hybrid (QEMU's postcopy-after-precopy): pre-copy rounds ({@link PrecopyRounds}) for
 * {@code hybridRounds} rounds, fewer if they stall or nothing is left dirty, then always hand the
 * dirty pages to post-copy, so that the downtime is only the state transfer.
 */
final class HybridStrategy implements SourceStrategy {

    @Override
    public Outcome run(CopyContext context) throws MigrationException {
        return new PrecopyRounds(context, PrecopyRounds.Mode.HYBRID).run();
    }
}
