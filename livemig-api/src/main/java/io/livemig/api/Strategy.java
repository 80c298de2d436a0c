package io.livemig.api;

/** Which pages move when. See {@code docs/} and the engines' javadoc for each strategy's details. */
public enum Strategy {
    /** Stop-and-copy: pause, send every page and the state, resume at the destination. */
    COLD,
    /** Iterative pre-copy (Clark et al., NSDI'05): send while running, re-send dirtied pages in rounds. */
    PRECOPY,
    /** Post-copy (Hines et al., VEE'09): move the vCPUs first, then pull and push the pages. */
    POSTCOPY,
    /**
     * Pre-copy for {@link MigrationOptions#hybridRounds()} rounds (fewer if it stalls), then
     * post-copy for what is still dirty (QEMU's postcopy-after-precopy).
     */
    HYBRID
}
