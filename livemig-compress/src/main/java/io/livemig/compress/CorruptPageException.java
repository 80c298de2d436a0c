package io.livemig.compress;

/**
 * An encoded page cannot be decoded: a run past the page's end, a truncated or over-long
 * length, a decompressed size other than one page, a reference that is not allowed. Thrown
 * before the destination page is modified where the format allows checking up front, and in any
 * case without ever writing outside the page.
 */
public final class CorruptPageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The page being decoded. */
    private final long page;
    /** Its encoding. */
    private final PageEncoding encoding;

    /**
     * Creates a {@code CorruptPageException}.
     *
     * @param page     the page being decoded
     * @param encoding its encoding
     * @param message  what exactly is wrong
     */
    public CorruptPageException(long page, PageEncoding encoding, String message) {
        super(encoding.reportName() + " page " + page + ": " + message);
        this.page = page;
        this.encoding = encoding;
    }

    /** {@return the page being decoded} */
    public long page() {
        return page;
    }

    /** {@return its encoding} */
    public PageEncoding encoding() {
        return encoding;
    }
}
