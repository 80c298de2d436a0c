package io.livemig.api;

/**
 * The result of comparing the destination's memory at resume with the source's memory at
 * pause, page for page, by digest (CRC32C of every page; a differing page escapes detection
 * with probability 2^-32).
 */
public enum Verification {
    /** Verification was off in the options, or the migration did not complete. */
    NOT_CHECKED,
    /** Every page matched. */
    VERIFIED,
    /** At least one page differed; see {@link MigrationReport.Check#mismatchedPages()}. */
    MISMATCH
}
