package io.livemig.spi;

/**
 * Thrown by a provider when the hypervisor fails an operation on a VM: pausing, resuming,
 * saving or loading state. The message names the operation and, for native calls, the errno.
 */
public class VmOperationException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates a {@code VmOperationException}.
     *
     * @param message what failed
     * @param cause   the underlying failure, or null
     */
    public VmOperationException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * Creates a {@code VmOperationException}.
     *
     * @param message what failed
     */
    public VmOperationException(String message) {
        super(message);
    }
}
