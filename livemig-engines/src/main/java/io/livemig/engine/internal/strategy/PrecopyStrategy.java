package io.livemig.engine.internal.strategy;

import io.livemig.api.MigrationException;

/**
 * Iterative pre-copy (Clark et al., NSDI'05; QEMU's default): send while the VM runs, re-send
 * dirtied pages in rounds, switch over when the rest fits the downtime limit; see
 * {@link PrecopyRounds}. For post-copy only when pre-copy does not converge, put
 * {@code SwitchToPostcopy} in the escalation ladder.
 */
final class PrecopyStrategy implements SourceStrategy {

    @Override
    public Outcome run(CopyContext context) throws MigrationException {
        return new PrecopyRounds(context, PrecopyRounds.Mode.PRECOPY).run();
    }
}
