package io.livemig.api;

/** The order in which post-copy pushes the pages nobody asked for yet. */
public enum Prepaging {
    /** From the lowest page to the highest, skipping pages already sent. */
    LINEAR,
    /**
     * Hines et al.'s bubbling: the push grows outward, one page left and one right per step, from
     * pivots at the most recent demand faults (up to 7) plus a sticky pivot at page 0, each edge
     * stopping when it meets pages already sent.
     */
    BUBBLING
}
