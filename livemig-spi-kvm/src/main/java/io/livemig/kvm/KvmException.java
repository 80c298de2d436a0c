package io.livemig.kvm;

/**
 * A system call of the KVM binding failed: which call (usually the ioctl's name), the errno and
 * its text. Unchecked: most of these mean the host cannot run the VM (no /dev/kvm access, a
 * missing capability, no memory), which callers report rather than handle.
 */
public final class KvmException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** The call that failed. */
    private final String call;
    /** The errno it left. */
    private final int errno;

    /**
     * Creates a {@code KvmException}.
     *
     * @param call  the failing call, for example {@code KVM_GET_DIRTY_LOG}
     * @param errno the errno it left
     * @param text  errno's text
     */
    public KvmException(String call, int errno, String text) {
        super(call + " failed: " + text + " (errno " + errno + ")");
        this.call = call;
        this.errno = errno;
    }

    /** {@return the call that failed} */
    public String call() {
        return call;
    }

    /** {@return the errno it left} */
    public int errno() {
        return errno;
    }
}
