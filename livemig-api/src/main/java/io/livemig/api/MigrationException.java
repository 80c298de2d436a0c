package io.livemig.api;

import java.util.Objects;

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

    private final MigrationPhase phase;
    private final SourceVmState sourceState;

    /**
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

    /** @return the phase in which the migration failed */
    public MigrationPhase phase() {
        return phase;
    }

    /** @return where the VM is now */
    public SourceVmState sourceState() {
        return sourceState;
    }

    /** @return whether the VM still runs at the source, unchanged */
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
        MigrationException copy = new MigrationException(getMessage(), phase, state, getCause());
        copy.setStackTrace(getStackTrace());
        return copy;
    }

    @Override
    public String getMessage() {
        return super.getMessage() + " [phase " + phase + ", source VM " + sourceState + "]";
    }

    /** @return the message without the phase and state suffix */
    public String reason() {
        return super.getMessage();
    }
}
