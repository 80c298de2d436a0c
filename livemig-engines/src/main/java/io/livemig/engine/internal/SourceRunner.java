package io.livemig.engine.internal;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationCancelledException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationStatus;
import io.livemig.api.Strategy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one source-side migration from handshake to report: the strategy's memory phase, the
 * switchover commit, verification, and on any failure the recovery that leaves the VM where
 * {@link SourceSession#fail} says.
 */
public final class SourceRunner {

    private static final Logger LOG = LoggerFactory.getLogger(SourceRunner.class);

    private SourceRunner() {
    }

    /**
     * @param session a new session
     * @return the report of a completed migration
     * @throws MigrationException if it failed or was cancelled; says where the VM is
     */
    public static MigrationReport run(SourceSession session) throws MigrationException {
        SourceStrategy strategy = strategyFor(session.options().strategy());
        if (session.options().escalation().stream().anyMatch(s -> s instanceof EscalationStep.SwitchToPostcopy)) {
            throw new IllegalArgumentException("the escalation step SWITCH_TO_POSTCOPY needs the post-copy engine, "
                    + "which this build does not have yet; use FORCE or ABORT");
        }
        try {
            session.handshake();
            strategy.run(session);
            session.commit();
        } catch (Throwable t) {
            MigrationException error = session.fail(t);
            MigrationReport report = session.report(error instanceof MigrationCancelledException
                    ? MigrationStatus.CANCELLED : MigrationStatus.FAILED, error);
            session.finished(report, error);
            if (t instanceof Error fatal && !(t instanceof StackOverflowError)) {
                throw fatal;
            }
            throw error;
        }
        try {
            session.verify();
        } catch (MigrationException | RuntimeException e) {
            // The VM runs at the destination: the migration succeeded, only its check did not.
            LOG.warn("the VM runs at the destination, but verification did not complete: {}", e.getMessage());
        }
        MigrationReport report = session.report(MigrationStatus.COMPLETED, null);
        session.finished(report, null);
        return report;
    }

    private static SourceStrategy strategyFor(Strategy strategy) {
        return switch (strategy) {
            case COLD -> new ColdStrategy();
            case PRECOPY -> new PreCopyStrategy();
            case POSTCOPY, HYBRID -> throw new IllegalArgumentException("strategy " + strategy
                    + " needs the post-copy engine, which this build does not have yet; use COLD or PRECOPY");
        };
    }
}
