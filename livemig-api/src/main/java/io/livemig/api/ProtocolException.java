package io.livemig.api;

/**
 * The peer sent something the wire protocol does not allow: a frame with a bad CRC, a frame too
 * large or cut short, a page outside the announced layout, a length that disagrees with its
 * content, an unexpected frame type, an incompatible version. The receiver checks every field
 * before it acts, so when this is thrown nothing of the offending frame has been applied, and a
 * destination discards its half-received VM.
 */
public class ProtocolException extends MigrationException {
    private static final long serialVersionUID = 1L;

    /** What kind of violation it is; every kind has a test that provokes it. */
    public enum Kind {
        /** The frame's CRC32C does not match its content. */
        CORRUPT_FRAME,
        /** A frame is longer than the negotiated limit. */
        FRAME_TOO_LARGE,
        /** A frame or field ends before its announced length, or the stream ends mid-migration. */
        TRUNCATED,
        /** A page number or run lies outside the announced memory layout. */
        PAGE_OUT_OF_RANGE,
        /** Lengths or counts inside a frame disagree with each other or with the frame size. */
        INCONSISTENT_LENGTH,
        /** A frame type, encoding or enum value that is unknown or invalid here. */
        UNEXPECTED,
        /** Version, page size, layout or capabilities cannot be agreed. */
        INCOMPATIBLE,
        /**
         * The peer did not prove knowledge of the migration's secret (a wrong or missing proof,
         * one side without a secret), or a recovery connection names another migration.
         */
        UNAUTHENTICATED
    }

    /** The kind of violation. */
    private final Kind kind;

    /**
     * Creates a {@code ProtocolException}.
     *
     * @param kind        the kind of violation
     * @param message     a specific description: the field, its value and the limit
     * @param phase       the phase in which it happened
     * @param sourceState where the VM is now
     */
    public ProtocolException(Kind kind, String message, MigrationPhase phase, SourceVmState sourceState) {
        this(kind, message, phase, sourceState, null);
    }

    /**
     * Creates a {@code ProtocolException}.
     *
     * @param kind        the kind of violation
     * @param message     a specific description: the field, its value and the limit
     * @param phase       the phase in which it happened
     * @param sourceState where the VM is now
     * @param cause       the underlying failure, or null
     */
    public ProtocolException(Kind kind, String message, MigrationPhase phase, SourceVmState sourceState,
                             Throwable cause) {
        super(kind + ": " + message, phase, sourceState, cause);
        this.kind = kind;
    }

    /** {@return the kind of violation} */
    public Kind kind() {
        return kind;
    }

    @Override
    public ProtocolException withSourceState(SourceVmState state) {
        ProtocolException copy = new ProtocolException(kind, reason().substring(kind.name().length() + 2),
                phase(), state, getCause());
        copy.setStackTrace(getStackTrace());
        return copy;
    }
}
