package io.livemig.xen;

/**
 * A call into Xen's libraries failed: which function, for which domain, the errno it left and
 * errno's text. Unchecked: most of these mean the host cannot do what was asked (not dom0, not
 * root, a domain that went away, a hypervisor that refused), which callers report rather than
 * handle. The provider wraps it where the SPI names an exception type
 * ({@link io.livemig.spi.VmOperationException}, {@link io.livemig.spi.DirtyTracker.TrackingException}),
 * keeping this message, so that a failed migration names the function and the errno.
 */
public final class XenException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** The library function that failed. */
    private final String function;
    /** The errno it left, 0 if none. */
    private final int errno;

    /**
     * Creates a {@code XenException}.
     *
     * @param function the library function that failed, for example {@code xc_domain_pause}
     * @param subject  what it was called for, for example {@code "domain 7"}, or null
     * @param errno    the errno it left (0 if it left none)
     * @param text     errno's text
     */
    public XenException(String function, String subject, int errno, String text) {
        super(function + " failed" + (subject == null ? "" : " for " + subject) + ": " + text + " (errno " + errno + ")");
        this.function = function;
        this.errno = errno;
    }

    /** {@return the library function that failed} */
    public String function() {
        return function;
    }

    /** {@return the errno it left, 0 if none} */
    public int errno() {
        return errno;
    }
}
