package io.livemig.api;

/**
 * The migration was aborted on purpose: by the peer (it sent an abort with a reason) or by the
 * escalation ladder's {@code ABORT} step. The source keeps running.
 */
public class MigrationAbortedException extends MigrationException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates a {@code MigrationAbortedException}.
     *
     * @param message     the reason, as the aborting side gave it
     * @param phase       the phase in which it happened
     * @param sourceState where the VM is now
     */
    public MigrationAbortedException(String message, MigrationPhase phase, SourceVmState sourceState) {
        super(message, phase, sourceState, null);
    }

    @Override
    public MigrationAbortedException withSourceState(SourceVmState state) {
        MigrationAbortedException copy = new MigrationAbortedException(reason(), phase(), state);
        copy.setStackTrace(getStackTrace());
        return copy;
    }
}
