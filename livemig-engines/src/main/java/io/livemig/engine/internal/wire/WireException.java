package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException;

/**
 * A protocol violation found by the wire layer. The sessions turn it into a
 * {@link ProtocolException} with their phase and the source VM's state.
 */
public final class WireException extends Exception {
    private static final long serialVersionUID = 1L;

    private final ProtocolException.Kind kind;

    /**
     * @param kind    the kind of violation
     * @param message what exactly: field, value, limit
     */
    public WireException(ProtocolException.Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    /** @return the kind of violation */
    public ProtocolException.Kind kind() {
        return kind;
    }
}
