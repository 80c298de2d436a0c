package io.livemig.engine.internal;

import io.livemig.channel.Reconnector;
import io.livemig.spi.PageSet;
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
     * @param session     a new session
     * @param reconnector replaces a broken link during post-copy
     * @return the report of a completed migration
     * @throws MigrationException if it failed or was cancelled; says where the VM is
     */
    public static MigrationReport run(SourceSession session, Reconnector reconnector) throws MigrationException {
        SourceStrategy strategy = strategyFor(session.options().strategy());
        try {
            session.handshake();
            PageSet missing = strategy.run(session);
            if (missing == null) {
                session.commit();
            } else {
                PostCopyPhase.run(session, missing, reconnector, session.rounds().size());
            }
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
            case PRECOPY -> new PreCopyStrategy(false);
            case HYBRID -> new PreCopyStrategy(true);
            case POSTCOPY -> new PostCopyStrategy();
        };
    }
}
