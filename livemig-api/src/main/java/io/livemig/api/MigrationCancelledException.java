package io.livemig.api;

/**
 * The migration was cancelled by the caller before switchover: the source VM keeps running,
 * unchanged and unpaused, and the destination discarded everything it received.
 */
public class MigrationCancelledException extends MigrationException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates a {@code MigrationCancelledException}.
     *
     * @param message     why, if known
     * @param phase       the phase in which the cancellation took effect
     * @param sourceState where the VM is now (RUNNING on the source side, UNKNOWN on the destination)
     */
    public MigrationCancelledException(String message, MigrationPhase phase, SourceVmState sourceState) {
        super(message, phase, sourceState, null);
    }

    @Override
    public MigrationCancelledException withSourceState(SourceVmState state) {
        MigrationCancelledException copy = new MigrationCancelledException(reason(), phase(), state);
        copy.setStackTrace(getStackTrace());
        return copy;
    }
}
