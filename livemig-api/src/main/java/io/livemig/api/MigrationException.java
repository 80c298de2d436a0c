package io.livemig.api;

import java.util.Objects;
import java.util.Optional;

/**
 * The root of livemig's migration failures. Every instance says in which
 * {@link #phase() phase} the migration failed and {@link #sourceState() where the VM is now},
 * which is what an operator needs first.
 *
 * <p>Subclasses name the cause: {@link ProtocolException} for malformed or unexpected peer
 * input, {@link ChannelException} for a broken or timed-out transport,
 * {@link MigrationCancelledException} for a cancellation, {@link MigrationAbortedException}
 * when the peer or the escalation ladder aborted.
 */
public class MigrationException extends Exception {
    private static final long serialVersionUID = 1L;

    /** The phase in which the migration failed. */
    private final MigrationPhase phase;
    /** Where the VM was left. */
    private final SourceVmState sourceState;
    /** The report of the migration up to its failure; set once, by the engine that failed. */
    private transient volatile MigrationReport report;

    /**
     * Creates a {@code MigrationException}.
     *
     * @param message     what went wrong
     * @param phase       the phase in which it happened
     * @param sourceState where the VM is now
     * @param cause       the underlying failure, or null
     */
    public MigrationException(String message, MigrationPhase phase, SourceVmState sourceState, Throwable cause) {
        super(message, cause);
        this.phase = Objects.requireNonNull(phase, "phase");
        this.sourceState = Objects.requireNonNull(sourceState, "sourceState");
    }

    /** {@return the phase in which the migration failed} */
    public MigrationPhase phase() {
        return phase;
    }

    /** {@return where the VM is now} */
    public SourceVmState sourceState() {
        return sourceState;
    }

    /**
     * {@return the report of the migration as far as it went (rounds, bytes, the switchover's steps,
     * what failed), if the engine that failed made one: a source side's failure has one; a
     * failure before the migration started, or a destination's, may not}
     */
    public Optional<MigrationReport> report() {
        return Optional.ofNullable(report);
    }

    /**
     * Attaches the report of the failed migration. Called once by the engine that failed, before
     * it throws; later calls are ignored, so a report is never replaced.
     *
     * @param report the migration's report up to the failure
     * @return this exception
     * @throws NullPointerException if {@code report} is null
     */
    public MigrationException attachReport(MigrationReport report) {
        Objects.requireNonNull(report, "report");
        synchronized (this) {
            if (this.report == null) {
                this.report = report;
            }
        }
        return this;
    }

    /** {@return whether the VM still runs at the source, unchanged} */
    public boolean sourceRunning() {
        return sourceState == SourceVmState.RUNNING;
    }

    /**
     * Returns a copy of this exception with another source state: the side that catches a
     * failure often knows better where the VM is than the code that threw it.
     *
     * @param state the corrected source state
     * @return an exception of the same meaning; subclasses return their own type where they can
     */
    public MigrationException withSourceState(SourceVmState state) {
        MigrationException copy = new MigrationException(reason(), phase, state, getCause());
        copy.setStackTrace(getStackTrace());
        if (report != null) {
            copy.attachReport(report);
        }
        return copy;
    }

    @Override
    public String getMessage() {
        return super.getMessage() + " [phase " + phase + ", source VM " + sourceState + "]";
    }

    /** {@return the message without the phase and state suffix} */
    public String reason() {
        return super.getMessage();
    }
}
