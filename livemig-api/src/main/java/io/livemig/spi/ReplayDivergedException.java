package io.livemig.spi;

/**
 * A replayed VM left the recorded execution: it asked for an input the log does not hold next,
 * or the log was malformed or ended early. The target's state is then wrong, and the migration
 * must not resume it.
 */
public class ReplayDivergedException extends VmOperationException {
    private static final long serialVersionUID = 1L;

    /** The position replay had reached when it diverged. */
    private final long position;

    /**
     * Creates a {@code ReplayDivergedException}.
     *
     * @param message  what the guest asked for and what the log held, or what is wrong with the log
     * @param position the position replay had reached
     */
    public ReplayDivergedException(String message, long position) {
        super(message + " (at position " + position + ")");
        this.position = position;
    }

    /** {@return the position replay had reached when it diverged} */
    public long position() {
        return position;
    }
}
