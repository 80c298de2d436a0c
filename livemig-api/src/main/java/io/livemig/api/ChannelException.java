package io.livemig.api;

/**
 * The transport failed: the connection broke, timed out, or the peer closed it before the
 * migration ended. Before switchover this leaves the source running; the destination discards
 * what it received.
 */
public class ChannelException extends MigrationException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates a {@code ChannelException}.
     *
     * @param message     what failed, with the peer
     * @param phase       the phase in which it happened
     * @param sourceState where the VM is now
     * @param cause       the I/O failure
     */
    public ChannelException(String message, MigrationPhase phase, SourceVmState sourceState, Throwable cause) {
        super(message, phase, sourceState, cause);
    }

    @Override
    public ChannelException withSourceState(SourceVmState state) {
        ChannelException copy = new ChannelException(reason(), phase(), state, getCause());
        copy.setStackTrace(getStackTrace());
        return copy;
    }
}
