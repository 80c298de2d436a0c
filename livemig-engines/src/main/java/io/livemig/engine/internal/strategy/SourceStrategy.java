package io.livemig.engine.internal.strategy;

import io.livemig.api.MigrationException;
import io.livemig.spi.PageSet;

import java.util.Objects;

/**
 * Decides which pages go when, through a {@link CopyContext}. It returns with the VM paused and
 * the destination told so, and either every page the destination lacks sent (the source then
 * commits the switchover) or the set of pages still to send, which the post-copy phase takes.
 * A strategy that fails cleans up after itself (stops dirty tracking, restores the throttle).
 */
public interface SourceStrategy {

    /**
     * Runs the memory phase of the migration.
     *
     * @return how the switchover goes on
     * @throws MigrationException if cancelled, aborted by the escalation ladder, or the link failed
     */
    Outcome run(CopyContext context) throws MigrationException;

    /** How the memory phase ended. */
    sealed interface Outcome {
        /**
         * Clean-up for after the destination resumed (or the migration ended without a
         * switchover): work that should not lengthen the downtime, such as stopping dirty
         * logging.
         */
        Runnable afterSwitchover();
    }

    /**
     * Every page is at the destination: commit the switchover.
     *
     * @param forced          whether the switchover was forced past the downtime limit
     * @param afterSwitchover clean-up once the destination resumed
     */
    record Commit(boolean forced, Runnable afterSwitchover) implements Outcome {
        /** @throws NullPointerException if afterSwitchover is null */
        public Commit {
            Objects.requireNonNull(afterSwitchover, "afterSwitchover");
        }
    }

    /**
     * The destination resumes first; these pages follow in post-copy.
     *
     * @param missing         the pages the destination lacks
     * @param afterSwitchover clean-up once the destination resumed
     */
    record Postcopy(PageSet missing, Runnable afterSwitchover) implements Outcome {
        /** @throws NullPointerException for null fields */
        public Postcopy {
            Objects.requireNonNull(missing, "missing");
            Objects.requireNonNull(afterSwitchover, "afterSwitchover");
        }
    }

    /** Nothing to clean up. */
    Runnable NOTHING = () -> { };
}
